// SPDX-License-Identifier: GPL-2.0
/*
 * vdi: VirtualBox VDI images as block devices.
 *
 * Module entry points and the control node /dev/vdi-control.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include <linux/vdi.h>

#include "vdi_compat.h"

static long vdi_control_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	return -ENOTTY;
}

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
	int err;

	err = misc_register(&vdi_control);
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", VDI_CONTROL_NAME, err);
		return err;
	}
	pr_info("version %s loaded\n", VDI_VERSION);
	return 0;
}

static void __exit vdi_exit(void)
{
	misc_deregister(&vdi_control);
	pr_info("unloaded\n");
}

module_init(vdi_init);
module_exit(vdi_exit);

MODULE_DESCRIPTION("VirtualBox VDI disk images as block devices");
MODULE_AUTHOR("The vdiblk developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(VDI_VERSION);
MODULE_ALIAS("devname:" VDI_CONTROL_NAME);
