// SPDX-License-Identifier: GPL-2.0
/*
 * vdi: VirtualBox VDI images as block devices.
 *
 * Module entry points, the idr of devices and the control node
 * /dev/vdi-control: add a device, remove an unbound one, and attach an
 * image to a free device (made if needed) in one call, so that no other
 * process can take the device between "find a free one" and "bind it".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "vdi.h"
#include "vdi_compat.h"

/*
 * Device numbers stay below this: every disk and partition takes one minor
 * of the extended dev_t major (no minors are reserved for partitions), 20
 * bits of them.
 */
#define VDI_MAX_INDEX	BIT(MINORBITS)

static unsigned int nr_devices;
module_param(nr_devices, uint, 0444);
MODULE_PARM_DESC(nr_devices, "Devices to create at load, /dev/vdi0 up (default 0)");

static unsigned int max_devices = 1024;
module_param(max_devices, uint, 0444);
MODULE_PARM_DESC(max_devices, "At most this many devices, numbered below it (1 to 1048576, default 1024)");

/* Protects vdi_idr and vdev->visible. */
static DEFINE_MUTEX(vdi_ctl_mutex);
static DEFINE_IDR(vdi_idr);

/**
 * vdi_add_locked() - add a device
 * @index: the device number, or -1 for the lowest free one
 *
 * An index whose name "vdiN" another driver already uses (a virtio
 * partition) is skipped for -1 and refused with -EEXIST otherwise.
 *
 * Return: the device, visible to the control node, or an ERR_PTR.
 */
static struct vdi_device *vdi_add_locked(int index)
{
	struct vdi_device *vdev;
	int id, start = 0;
	int err;

	lockdep_assert_held(&vdi_ctl_mutex);
	/* max_devices is unsigned: compare only a non-negative index. */
	if (index < -1 || (index >= 0 && index >= max_devices))
		return ERR_PTR(-EINVAL);
	vdev = vdi_dev_alloc();
	if (IS_ERR(vdev))
		return vdev;

	if (index >= 0) {
		id = idr_alloc(&vdi_idr, vdev, index, index + 1, GFP_KERNEL);
		if (id == -ENOSPC)
			id = -EEXIST;
		if (id >= 0 && vdi_dev_name_taken(vdev, id)) {
			idr_remove(&vdi_idr, id);
			id = -EEXIST;
		}
	} else {
		/* -ENOSPC once every number below max_devices is used. */
		for (;;) {
			id = -ENOSPC;
			if (start >= max_devices)
				break;
			id = idr_alloc(&vdi_idr, vdev, start, max_devices,
				       GFP_KERNEL);
			if (id < 0 || !vdi_dev_name_taken(vdev, id))
				break;
			idr_remove(&vdi_idr, id);
			start = id + 1;
		}
	}
	err = id;
	if (id < 0)
		goto out_free;
	err = vdi_dev_add(vdev, id);
	if (err) {
		idr_remove(&vdi_idr, id);
		goto out_free;
	}
	vdev->visible = true;
	return vdev;

out_free:
	vdi_dev_free(vdev);
	return ERR_PTR(err);
}

static int vdi_ctl_add(int index)
{
	struct vdi_device *vdev;

	mutex_lock(&vdi_ctl_mutex);
	vdev = vdi_add_locked(index);
	mutex_unlock(&vdi_ctl_mutex);
	return IS_ERR(vdev) ? PTR_ERR(vdev) : vdev->index;
}

/*
 * Remove an unbound device nobody has open. It is hidden first, so the
 * control node cannot hand it out, and leaves the idr only after
 * del_gendisk, so its index (and name) cannot be reused before the old
 * disk is gone.
 */
static int vdi_ctl_remove(int index)
{
	struct vdi_device *vdev;
	int err = 0;

	mutex_lock(&vdi_ctl_mutex);
	vdev = index >= 0 ? idr_find(&vdi_idr, index) : NULL;
	if (!vdev) {
		err = -ENODEV;
	} else if (!vdev->visible) {
		err = -EBUSY;		/* being removed already */
	} else {
		mutex_lock(&vdev->lock);
		if (vdev->state != VDI_STATE_UNBOUND ||
		    disk_openers(vdev->disk) > 0)
			err = -EBUSY;
		else
			vdev->deleting = true;
		mutex_unlock(&vdev->lock);
		if (!err)
			vdev->visible = false;
	}
	mutex_unlock(&vdi_ctl_mutex);
	if (err)
		return err;

	vdi_dev_del(vdev);
	mutex_lock(&vdi_ctl_mutex);
	idr_remove(&vdi_idr, index);
	mutex_unlock(&vdi_ctl_mutex);
	vdi_dev_put(vdev);
	return 0;
}

/**
 * vdi_ctl_attach() - bind an image to a free device, made if needed
 * @argp: struct vdi_config; fd and flags in, index and reason out
 *
 * The image is read and checked before any lock is taken; choosing the
 * device and binding it happen under vdi_ctl_mutex, and vdi_bind()
 * re-checks under the device lock against a concurrent VDI_CONFIGURE.
 *
 * Return: the device index, or a negative errno.
 */
static int vdi_ctl_attach(struct vdi_config __user *argp)
{
	struct vdi_device *vdev = NULL;
	struct vdi_image *img;
	struct vdi_config cfg;
	int id, err;

	err = vdi_config_get(&cfg, argp);
	if (err)
		return err;

	img = vdi_image_get(&cfg, cfg.flags & VDI_FLAG_READ_ONLY);
	if (IS_ERR(img)) {
		err = PTR_ERR(img);
		goto out;
	}

	mutex_lock(&vdi_ctl_mutex);
	err = -EAGAIN;
	idr_for_each_entry(&vdi_idr, vdev, id) {
		if (!vdev->visible ||
		    READ_ONCE(vdev->state) != VDI_STATE_UNBOUND)
			continue;
		err = vdi_bind(vdev, img, cfg.flags, true);
		if (err != -EAGAIN)
			break;
	}
	if (err == -EAGAIN) {
		vdev = vdi_add_locked(-1);
		if (IS_ERR(vdev))
			err = PTR_ERR(vdev);
		else
			err = vdi_bind(vdev, img, cfg.flags, true);
		if (err == -EAGAIN)
			err = -EBUSY;	/* opened exclusively already */
	}
	if (!err)
		cfg.index = vdev->index;
	mutex_unlock(&vdi_ctl_mutex);
	if (err)
		vdi_image_free(img);
out:
	err = vdi_config_put(argp, &cfg, err);
	return err ? err : cfg.index;
}

static long vdi_control_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case VDI_CTL_ADD:
		return vdi_ctl_add((int)arg);
	case VDI_CTL_REMOVE:
		return vdi_ctl_remove((int)arg);
	case VDI_CTL_ATTACH:
		return vdi_ctl_attach((struct vdi_config __user *)arg);
	default:
		return -ENOTTY;
	}
}

/* Integer arguments and a layout-identical structure: compat_ptr_ioctl. */
static const struct file_operations vdi_control_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= vdi_control_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice vdi_control = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= VDI_CONTROL_NAME,
	.fops	= &vdi_control_fops,
	.mode	= 0600,
};

static int __init vdi_init(void)
{
	struct vdi_device *vdev;
	unsigned int i;
	int err;

	if (!max_devices || max_devices > VDI_MAX_INDEX ||
	    nr_devices > max_devices) {
		pr_err("need 1 <= max_devices <= %lu and nr_devices <= max_devices (max_devices=%u nr_devices=%u)\n",
		       VDI_MAX_INDEX, max_devices, nr_devices);
		return -EINVAL;
	}
	err = misc_register(&vdi_control);
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", VDI_CONTROL_NAME, err);
		return err;
	}
	/*
	 * Like loop's pre-created devices, a failure here does not fail the
	 * load: a device made already may be in use (opened, even bound).
	 */
	mutex_lock(&vdi_ctl_mutex);
	for (i = 0; i < nr_devices; i++) {
		vdev = vdi_add_locked(-1);
		if (IS_ERR(vdev)) {
			pr_warn("created %u of %u devices: %ld\n", i,
				nr_devices, PTR_ERR(vdev));
			break;
		}
	}
	mutex_unlock(&vdi_ctl_mutex);
	pr_info("version %s loaded\n", VDI_VERSION);
	return 0;
}

/*
 * Every bound device holds a module reference and every opener one more,
 * so by now all devices are unbound and closed: remove them without locks.
 */
static void __exit vdi_exit(void)
{
	struct vdi_device *vdev;
	int id;

	misc_deregister(&vdi_control);
	idr_for_each_entry(&vdi_idr, vdev, id) {
		vdi_dev_del(vdev);
		vdi_dev_put(vdev);
	}
	idr_destroy(&vdi_idr);
	pr_info("unloaded\n");
}

module_init(vdi_init);
module_exit(vdi_exit);

MODULE_DESCRIPTION("VirtualBox VDI disk images as block devices");
MODULE_AUTHOR("The vdiblk developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(VDI_VERSION);
MODULE_ALIAS("devname:" VDI_CONTROL_NAME);
