// SPDX-License-Identifier: GPL-2.0
/*
 * vdi: one /dev/vdiN - gendisk and tag set lifetime, open and release, the
 * per-device ioctls, binding an image and unbinding it, sysfs.
 *
 * Detach works as loop's does since Linux 6.11: VDI_DETACH only marks the
 * device (rundown), and the image is unbound in ->release when the last
 * opener goes. By then the block layer has written back and dropped the
 * device's page cache and no request is in flight, so there is never I/O
 * against a half-detached device. A device open by anyone besides the
 * caller (a mount, another process) refuses VDI_DETACH with -EBUSY, unless
 * it was attached with VDI_FLAG_AUTOCLEAR: then it goes at the last close.
 * Autoclear by itself also unbinds at the last close, but only once the
 * device was opened exclusively (mounted) or asked to detach: a device
 * attached through the control node has no opener, and the first shared
 * probe (udev's blkid) would otherwise detach it before it is used.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/file.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/uaccess.h>

#include "vdi.h"
#include "vdi_compat.h"

#define VDI_QUEUE_DEPTH	128

/* Bound images, to refuse binding one backing file twice. */
static LIST_HEAD(vdi_bound_list);
static DEFINE_MUTEX(vdi_bound_lock);

static const struct block_device_operations vdi_fops;

/* ---------------------------------------------------------------- sysfs */

static struct vdi_device *vdi_dev_of(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

/* Every attribute reads empty while the device is unbound. */
static ssize_t vdi_backing_file_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	struct vdi_device *vdev = vdi_dev_of(dev);
	ssize_t ret = 0;
	char *p;

	mutex_lock(&vdev->lock);
	if (vdev->img) {
		p = file_path(vdev->img->file, buf, PAGE_SIZE - 1);
		if (IS_ERR(p)) {
			ret = PTR_ERR(p);
		} else {
			ret = strlen(p);
			memmove(buf, p, ret);
			buf[ret++] = '\n';
			buf[ret] = '\0';
		}
	}
	mutex_unlock(&vdev->lock);
	return ret;
}

static ssize_t vdi_uuid_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct vdi_device *vdev = vdi_dev_of(dev);
	u8 uuid[VDI_UUID_SIZE];
	ssize_t ret = 0;

	mutex_lock(&vdev->lock);
	if (vdev->img) {
		vdi_uuid_swap(uuid, vdev->img->h.uuid_image);
		ret = sysfs_emit(buf, "%pUb\n", uuid);
	}
	mutex_unlock(&vdev->lock);
	return ret;
}

static ssize_t vdi_allocated_blocks_show(struct device *dev,
					 struct device_attribute *attr,
					 char *buf)
{
	struct vdi_device *vdev = vdi_dev_of(dev);
	ssize_t ret = 0;

	mutex_lock(&vdev->lock);
	if (vdev->img)
		ret = sysfs_emit(buf, "%u\n", READ_ONCE(vdev->img->allocated));
	mutex_unlock(&vdev->lock);
	return ret;
}

static ssize_t vdi_zero_blocks_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct vdi_device *vdev = vdi_dev_of(dev);
	ssize_t ret = 0;

	mutex_lock(&vdev->lock);
	if (vdev->img)
		ret = sysfs_emit(buf, "%u\n", READ_ONCE(vdev->img->zero));
	mutex_unlock(&vdev->lock);
	return ret;
}

static ssize_t vdi_block_size_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct vdi_device *vdev = vdi_dev_of(dev);
	ssize_t ret = 0;

	mutex_lock(&vdev->lock);
	if (vdev->img)
		ret = sysfs_emit(buf, "%u\n", vdev->img->h.block_size);
	mutex_unlock(&vdev->lock);
	return ret;
}

/*
 * The parents' paths, one a line, the nearest first: as many as fit in
 * the page.
 */
static ssize_t vdi_parents_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct vdi_device *vdev = vdi_dev_of(dev);
	char *tmp = kmalloc(PATH_MAX, GFP_KERNEL);
	ssize_t ret = 0;
	char *p;
	u32 i;

	if (!tmp)
		return -ENOMEM;
	mutex_lock(&vdev->lock);
	for (i = 0; vdev->img && i < vdev->img->nr_parents; i++) {
		p = file_path(vdev->img->parents[i]->file, tmp, PATH_MAX);
		if (IS_ERR(p) || ret + strlen(p) + 1 >= PAGE_SIZE)
			break;
		ret += sysfs_emit_at(buf, ret, "%s\n", p);
	}
	mutex_unlock(&vdev->lock);
	kfree(tmp);
	return ret;
}

/* The effective VDI_FLAG_* bits, as a hexadecimal number. */
static ssize_t vdi_flags_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct vdi_device *vdev = vdi_dev_of(dev);
	ssize_t ret = 0;

	mutex_lock(&vdev->lock);
	if (vdev->img)
		ret = sysfs_emit(buf, "0x%x\n", vdev->flags);
	mutex_unlock(&vdev->lock);
	return ret;
}

static struct device_attribute vdi_attr_backing_file =
	__ATTR(backing_file, 0444, vdi_backing_file_show, NULL);
static struct device_attribute vdi_attr_uuid =
	__ATTR(uuid, 0444, vdi_uuid_show, NULL);
static struct device_attribute vdi_attr_allocated_blocks =
	__ATTR(allocated_blocks, 0444, vdi_allocated_blocks_show, NULL);
static struct device_attribute vdi_attr_zero_blocks =
	__ATTR(zero_blocks, 0444, vdi_zero_blocks_show, NULL);
static struct device_attribute vdi_attr_block_size =
	__ATTR(block_size, 0444, vdi_block_size_show, NULL);
static struct device_attribute vdi_attr_flags =
	__ATTR(flags, 0444, vdi_flags_show, NULL);
static struct device_attribute vdi_attr_parents =
	__ATTR(parents, 0444, vdi_parents_show, NULL);

static struct attribute *vdi_attrs[] = {
	&vdi_attr_backing_file.attr,
	&vdi_attr_uuid.attr,
	&vdi_attr_allocated_blocks.attr,
	&vdi_attr_zero_blocks.attr,
	&vdi_attr_block_size.attr,
	&vdi_attr_flags.attr,
	&vdi_attr_parents.attr,
	NULL,
};

static const struct attribute_group vdi_attr_group = {
	.name	= "vdi",
	.attrs	= vdi_attrs,
};

/* Created with the disk, so udev never sees the disk without them. */
static const struct attribute_group *vdi_attr_groups[] = {
	&vdi_attr_group,
	NULL,
};

/* ------------------------------------------------------ device lifetime */

/**
 * vdi_dev_alloc() - a device with its tag set and disk, not yet added
 *
 * Return: the device or an ERR_PTR.
 */
struct vdi_device *vdi_dev_alloc(void)
{
	struct vdi_device *vdev;
	struct gendisk *disk;
	int err;

	vdev = kzalloc(sizeof(*vdev), GFP_KERNEL);
	if (!vdev)
		return ERR_PTR(-ENOMEM);
	mutex_init(&vdev->lock);
	spin_lock_init(&vdev->queue_lock);
	INIT_LIST_HEAD(&vdev->queue);
	INIT_WORK(&vdev->work, vdi_work);
	vdev->index = -1;

	/*
	 * STACKING: completions depend on the backing file's device, so
	 * blk-mq must not wait for them on CPU hotplug. No scheduler by
	 * default: the backing file's device has its own.
	 */
	vdev->tag_set.ops = &vdi_mq_ops;
	vdev->tag_set.nr_hw_queues = 1;
	vdev->tag_set.queue_depth = VDI_QUEUE_DEPTH;
	vdev->tag_set.numa_node = NUMA_NO_NODE;
	vdev->tag_set.cmd_size = sizeof(struct vdi_cmd);
	vdev->tag_set.flags = BLK_MQ_F_STACKING | BLK_MQ_F_NO_SCHED_BY_DEFAULT |
			      VDI_MQ_F_MERGE;
	vdev->tag_set.driver_data = vdev;
	err = blk_mq_alloc_tag_set(&vdev->tag_set);
	if (err)
		goto out_free;

	disk = vdi_alloc_disk(&vdev->tag_set, vdev);
	if (IS_ERR(disk)) {
		err = PTR_ERR(disk);
		goto out_tag_set;
	}
	/* major, first_minor and minors 0: dynamic numbers, partitions too. */
	disk->fops = &vdi_fops;
	disk->private_data = vdev;
	disk->events = DISK_EVENT_MEDIA_CHANGE;
	disk->event_flags = DISK_EVENT_FLAG_UEVENT;
	/* Partitions are scanned only for VDI_FLAG_PARTSCAN. */
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	vdev->disk = disk;
	return vdev;

out_tag_set:
	blk_mq_free_tag_set(&vdev->tag_set);
out_free:
	kfree(vdev);
	return ERR_PTR(err);
}

/**
 * vdi_dev_name_taken() - is "vdi<index>" already a block device name?
 * @vdev: an allocated device (its disk knows the block class)
 * @index: the candidate index
 *
 * A guest with nine or more virtio disks has "vdi" and its partitions
 * "vdi1", "vdi2", ...: adding a disk of the same name would fail with a
 * duplicate sysfs name and a kernel warning.
 *
 * Return: true when the name is in use.
 */
bool vdi_dev_name_taken(struct vdi_device *vdev, int index)
{
	char name[DISK_NAME_LEN];
	struct device *dev;

	snprintf(name, sizeof(name), "vdi%d", index);
	dev = class_find_device_by_name(disk_to_dev(vdev->disk)->class, name);
	if (!dev)
		return false;
	put_device(dev);
	return true;
}

/**
 * vdi_dev_add() - name the device @index and make it visible
 * @vdev: from vdi_dev_alloc()
 * @index: the device number
 *
 * On failure the caller frees the device with vdi_dev_free().
 *
 * Return: 0 or a negative errno.
 */
int vdi_dev_add(struct vdi_device *vdev, int index)
{
	struct gendisk *disk = vdev->disk;
	int err;

	vdev->index = index;
	/*
	 * One request at a time, as loop's worker: with direct I/O the
	 * worker only submits and moves on, and more workers only contend
	 * for the backing inode's lock on allocating writes (bench/profile;
	 * bench/ab_alloc.py measured 1.25x the first writes with one).
	 */
	vdev->wq = alloc_workqueue("vdi%d", WQ_UNBOUND | WQ_MEM_RECLAIM, 1,
				   index);
	if (!vdev->wq)
		return -ENOMEM;
	snprintf(disk->disk_name, DISK_NAME_LEN, "vdi%d", index);
	err = device_add_disk(NULL, disk, vdi_attr_groups);
	if (err) {
		destroy_workqueue(vdev->wq);
		vdev->wq = NULL;
	}
	return err;
}

/**
 * vdi_dev_free() - free a device that was never added
 * @vdev: the device
 *
 * The disk goes first: a disk that was never added tears its queue down
 * when released, which still needs the tag set.
 */
void vdi_dev_free(struct vdi_device *vdev)
{
	put_disk(vdev->disk);
	blk_mq_free_tag_set(&vdev->tag_set);
	mutex_destroy(&vdev->lock);
	kfree(vdev);
}

/**
 * vdi_dev_del() - take an added, unbound device out of the system
 * @vdev: the device; still allocated until vdi_dev_put()
 *
 * del_gendisk() exits the queue of an added disk, so the tag set can go
 * right after it.
 */
void vdi_dev_del(struct vdi_device *vdev)
{
	del_gendisk(vdev->disk);
	blk_mq_free_tag_set(&vdev->tag_set);
}

/**
 * vdi_dev_put() - drop the driver's reference to a deleted device
 * @vdev: the device; freed by vdi_free_disk() when the last reference to
 *	its disk goes, so a racing opener never sees freed memory
 */
void vdi_dev_put(struct vdi_device *vdev)
{
	put_disk(vdev->disk);
}

static void vdi_free_disk(struct gendisk *disk)
{
	struct vdi_device *vdev = disk->private_data;

	destroy_workqueue(vdev->wq);
	mutex_destroy(&vdev->lock);
	kfree(vdev);
}

/* ------------------------------------------------------ bind and unbind */

static int vdi_config_check(const struct vdi_config *cfg)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cfg->reserved); i++)
		if (cfg->reserved[i])
			return -EINVAL;
	if (!cfg->nr_parents != !cfg->parent_fds)
		return -EINVAL;
	if (cfg->flags & ~VDI_FLAGS_SETTABLE)
		return -EINVAL;
	if ((cfg->flags & VDI_FLAG_DIRECT_IO) &&
	    (cfg->flags & VDI_FLAG_DIRECT_IO_AUTO))
		return -EINVAL;
	return 0;
}

/**
 * vdi_config_get() - the caller's struct vdi_config, checked
 * @cfg: filled in; reason and reason_level cleared
 * @argp: the caller's copy, which must be writable as well
 *
 * The result is copied back at the end (vdi_config_put()); that it can
 * be is made sure here, before anything is bound, by writing the copy
 * back unchanged: a call that fails with -EFAULT has changed nothing.
 *
 * Return: 0 or a negative errno.
 */
int vdi_config_get(struct vdi_config *cfg, struct vdi_config __user *argp)
{
	if (copy_from_user(cfg, argp, sizeof(*cfg)) ||
	    copy_to_user(argp, cfg, sizeof(*cfg)))
		return -EFAULT;
	cfg->reason = 0;
	cfg->reason_level = 0;
	return vdi_config_check(cfg);
}

/**
 * vdi_config_put() - copy the result of an attach back to the caller
 * @argp: the caller's struct vdi_config
 * @cfg: index and, on failure, reason and reason_level set
 * @err: the result of the attach
 *
 * Also on failure: cfg->reason says why an image was refused. An attach
 * that succeeded stays done; vdi_config_get() found @argp writable, so
 * only a racing munmap can make the copy fail.
 *
 * Return: @err.
 */
int vdi_config_put(struct vdi_config __user *argp,
		   const struct vdi_config *cfg, int err)
{
	if (copy_to_user(argp, cfg, sizeof(*cfg)))
		pr_warn_ratelimited("vdi%d: the result of an attach could not be copied out\n",
				    cfg->index);
	return err;
}

/*
 * Our own open of the file the caller passed, always: nobody else can then
 * set O_APPEND on it (every write would land at the end of the file) or
 * take its writeback errors with an fsync (a failed write would look
 * durable to us). Without O_DIRECT either: the I/O path chooses direct I/O
 * per request, and buffered I/O has no alignment rules.
 */
static struct file *vdi_reopen(struct file *file)
{
	return dentry_open(&file->f_path,
			   file->f_flags & ~(O_APPEND | O_DIRECT),
			   file->f_cred);
}

/*
 * The alignment direct I/O on @file needs, of file positions, lengths and
 * memory alike, or 0 when the file cannot have it. The file system says
 * (STATX_DIOALIGN); else, as loop assumes, the logical block size of the
 * device below, or 512 bytes without one (network file systems).
 */
static u32 vdi_dio_align(struct file *file)
{
	struct inode *inode = file->f_mapping->host;
	struct block_device *bdev = inode->i_sb->s_bdev;
	struct kstat st;
	u32 align;

	if (!(file->f_mode & FMODE_CAN_ODIRECT))
		return 0;
	if (S_ISBLK(inode->i_mode))
		bdev = I_BDEV(inode);
	if (!S_ISBLK(inode->i_mode) &&
	    !vfs_getattr(&file->f_path, &st, STATX_DIOALIGN,
			 AT_STATX_SYNC_AS_STAT) &&
	    (st.result_mask & STATX_DIOALIGN))
		align = max(st.dio_offset_align, st.dio_mem_align);
	else
		align = bdev ? bdev_logical_block_size(bdev) : SECTOR_SIZE;
	return align && vdi_dio_works(file, align) ? align : 0;
}

/*
 * Direct I/O as @flags ask (VDI_FLAG_DIRECT_IO*): possible when the file
 * can have it and the data area, so every block, is aligned for it. The
 * data must also start on a page of its own: the header and the map are
 * written through the page cache a page at a time, and the writeback of
 * a page shared with the first data block would put back what a direct
 * write had just replaced (a block device with 512-byte sectors and an
 * image made by QEMU, whose data follows the map at any 512 bytes).
 */
static int vdi_dio_select(struct vdi_image *img, u32 flags)
{
	u32 align = img->dio_align;
	bool page_ok = IS_ALIGNED(img->h.offset_data, PAGE_SIZE);

	img->dio = align && page_ok &&
		!((img->h.offset_data | img->h.block_size) & (align - 1));
	if (!(flags & (VDI_FLAG_DIRECT_IO | VDI_FLAG_DIRECT_IO_AUTO)))
		img->dio = false;
	if (img->dio || !(flags & VDI_FLAG_DIRECT_IO))
		return 0;
	if (!align)
		pr_warn("%pD: no direct I/O: the backing file does not support it\n",
			img->file);
	else if ((img->h.offset_data | img->h.block_size) & (align - 1))
		pr_warn("%pD: no direct I/O: data offset %u or block size %u is not a multiple of %u, the backing file's direct I/O alignment\n",
			img->file, img->h.offset_data, img->h.block_size,
			align);
	else
		pr_warn("%pD: no direct I/O: data offset %u is not a multiple of the page size %lu, so the block map's cached writes would share a page with the data\n",
			img->file, img->h.offset_data, PAGE_SIZE);
	return -EINVAL;
}

/**
 * vdi_backing_fget() - the file behind a descriptor, if it can back a device
 * @fd: the caller's descriptor
 *
 * Open for reading; a regular file or a block device, not one of our own
 * devices, whose I/O would be served by the workqueue waiting for it.
 *
 * Return: a reference to the file, or an ERR_PTR.
 */
struct file *vdi_backing_fget(int fd)
{
	struct inode *inode;
	struct file *file;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	inode = file->f_mapping->host;
	if (!(file->f_mode & FMODE_READ)) {
		fput(file);
		return ERR_PTR(-EBADF);
	}
	if (S_ISBLK(inode->i_mode) ?
	    I_BDEV(inode)->bd_disk->fops == &vdi_fops :
	    !S_ISREG(inode->i_mode)) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	return file;
}

/**
 * vdi_image_get() - open and validate the image behind a descriptor
 * @cfg: the caller's configuration: the descriptor, its parents'
 *	descriptors, VDI_FLAG_* as asked for (direct I/O is chosen here);
 *	cfg->reason and cfg->reason_level are set when the format code
 *	refuses the image or its chain
 * @read_only: attach read-only (also when the file is not open for writing)
 *
 * Return: the image or an ERR_PTR (-EINVAL also when direct I/O is
 * required and impossible).
 */
struct vdi_image *vdi_image_get(struct vdi_config *cfg, bool read_only)
{
	u64 map_budget = VDI_MAX_CHAIN_MAP_BYTES;
	struct vdi_image *img;
	struct file *file, *own;
	int err;

	file = vdi_backing_fget(cfg->fd);
	if (IS_ERR(file))
		return ERR_CAST(file);
	if (!(file->f_mode & FMODE_WRITE) || !file->f_op->write_iter)
		read_only = true;

	own = vdi_reopen(file);
	if (IS_ERR(own)) {
		img = ERR_CAST(own);
		goto out;
	}
	img = vdi_image_open(own, read_only, cfg->nr_parents != 0, &map_budget,
			     &cfg->reason);
	if (!IS_ERR(img)) {
		img->dio_align = vdi_dio_align(own);
		err = vdi_chain_open(img, cfg, &map_budget);
		if (!err)
			err = vdi_dio_select(img, cfg->flags);
		if (err) {
			vdi_image_free(img);
			img = ERR_PTR(err);
		}
	}
	fput(own);
out:
	fput(file);
	return img;
}

/* Claims @img's backing file; -EBUSY when a device has it already. */
static int vdi_bound_add(struct vdi_image *img)
{
	struct inode *inode = img->file->f_mapping->host;
	struct vdi_image *other;
	int err = 0;

	mutex_lock(&vdi_bound_lock);
	list_for_each_entry(other, &vdi_bound_list, bound_node) {
		if (other->file->f_mapping->host == inode ||
		    vdi_chain_conflict(img, other)) {
			err = -EBUSY;
			break;
		}
	}
	if (!err)
		list_add(&img->bound_node, &vdi_bound_list);
	mutex_unlock(&vdi_bound_lock);
	return err;
}

static void vdi_bound_del(struct vdi_image *img)
{
	mutex_lock(&vdi_bound_lock);
	list_del_init(&img->bound_node);
	mutex_unlock(&vdi_bound_lock);
}

static void vdi_rescan(struct vdi_device *vdev)
{
	struct gendisk *disk = vdev->disk;
	int err;

	mutex_lock(&disk->open_mutex);
	err = bdev_disk_changed(disk, false);
	mutex_unlock(&disk->open_mutex);
	if (err)
		pr_warn("%s: partition scan failed: %d\n", disk->disk_name, err);
}

/*
 * A read or write: as large as the block layer makes them by default
 * (BLK_DEF_MAX_SECTORS, 1.25 MiB), with room to raise max_sectors_kb. A
 * request may cross VDI blocks: one file range when they are contiguous.
 */
#define VDI_MAX_IO_SECTORS	(SZ_4M >> SECTOR_SHIFT)
/* A discard or write-zeroes request: many blocks at any block size. */
#define VDI_MAX_ZERO_SECTORS	(SZ_1G >> SECTOR_SHIFT)

/*
 * Discards in units of the backing file system's block: smaller ones
 * would only zero bytes in place, giving no space back.
 */
static unsigned int vdi_discard_granularity(struct vdi_image *img)
{
	return max_t(unsigned int, SECTOR_SIZE,
		     i_blocksize(file_inode(img->file)));
}

/**
 * vdi_bind() - attach an open image to an unbound device
 * @vdev: the device
 * @img: from vdi_image_get(); owned by the device on success
 * @flags: VDI_FLAG_* as asked for
 * @claim: claim the device for the bind, because the caller does not hold
 *	it open exclusively; whoever does hold it exclusively keeps it
 *
 * Nothing here reads the image or can run out of memory, so the control
 * device can call this under vdi_ctl_mutex to hand out a free device.
 *
 * Return: 0; -EAGAIN when the device is not free; -EBUSY when the backing
 * file is bound to another device; or another negative errno.
 */
int vdi_bind(struct vdi_device *vdev, struct vdi_image *img, u32 flags,
	     bool claim)
{
	struct address_space *mapping = img->file->f_mapping;
	struct gendisk *disk = vdev->disk;
	bool partscan;
	int err;

	if (claim && vdi_prepare_to_claim(disk->part0, vdi_bind))
		return -EAGAIN;

	mutex_lock(&vdev->lock);
	err = -EAGAIN;
	if (vdev->state != VDI_STATE_UNBOUND || vdev->deleting)
		goto out_unlock;
	err = vdi_bound_add(img);
	if (err)
		goto out_unlock;
	/* Unbound, capacity 0: no request to wait for, no freeze needed. */
	err = vdi_set_limits(disk->queue, VDI_MAX_IO_SECTORS,
			     vdi_discard_granularity(img),
			     img->read_only ? 0 : VDI_MAX_ZERO_SECTORS);
	if (err) {
		vdi_bound_del(img);
		goto out_unlock;
	}

	flags &= ~(VDI_FLAG_DIRECT_IO | VDI_FLAG_DIRECT_IO_AUTO);
	if (img->dio)
		flags |= VDI_FLAG_DIRECT_IO;
	if (img->read_only)
		flags |= VDI_FLAG_READ_ONLY;
	partscan = flags & VDI_FLAG_PARTSCAN;

	/* One change uevent for the whole reconfiguration, as loop does. */
	dev_set_uevent_suppress(disk_to_dev(disk), 1);
	vdi_media_changed(disk);	/* drops pages of an earlier image */
	set_disk_ro(disk, img->read_only);
	/* Page cache of the backing file must not recurse into fs or I/O. */
	img->old_gfp_mask = mapping_gfp_mask(mapping);
	mapping_set_gfp_mask(mapping,
			     img->old_gfp_mask & ~(__GFP_IO | __GFP_FS));
	vdev->flags = flags;
	vdev->held = false;
	/* Pairs with the acquire in vdi_handle_rq(): an image seen is whole. */
	smp_store_release(&vdev->img, img);
	vdev->state = VDI_STATE_BOUND;
	set_capacity_and_notify(disk, vdi_virtual_size(&img->h) >> SECTOR_SHIFT);
	if (partscan)
		clear_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	dev_set_uevent_suppress(disk_to_dev(disk), 0);
	kobject_uevent(&disk_to_dev(disk)->kobj, KOBJ_CHANGE);
	/* A bound device pins the module even when nobody has it open. */
	__module_get(THIS_MODULE);
	mutex_unlock(&vdev->lock);

	if (claim)
		bd_abort_claiming(disk->part0, vdi_bind);
	if (partscan)
		vdi_rescan(vdev);
	return 0;

out_unlock:
	mutex_unlock(&vdev->lock);
	if (claim)
		bd_abort_claiming(disk->part0, vdi_bind);
	return err;
}

/**
 * vdi_unbind() - detach the image at the last close
 * @vdev: a device in rundown with no opener; disk->open_mutex held
 *
 * The last close already wrote back and dropped the device's page cache,
 * so no request is in flight; the freeze only makes sure, and after it no
 * new request can see the image. Then the metadata is written back; a
 * failure can only be logged here (vdi_image_writeback), which is why
 * VDI_DETACH flushes first and returns its error.
 */
static void vdi_unbind(struct vdi_device *vdev)
{
	struct gendisk *disk = vdev->disk;
	struct vdi_image *img = vdev->img;
	unsigned int memflags;

	memflags = vdi_freeze_queue(disk->queue);
	mutex_lock(&vdev->lock);
	WRITE_ONCE(vdev->img, NULL);
	mutex_unlock(&vdev->lock);
	vdi_unfreeze_queue(disk->queue, memflags);

	vdi_image_writeback(img);
	mapping_set_gfp_mask(img->file->f_mapping, img->old_gfp_mask);
	vdi_bound_del(img);

	invalidate_disk(disk);		/* capacity 0 */
	set_disk_ro(disk, false);
	/* Drops partitions, whether scanned or added with BLKPG. */
	bdev_disk_changed(disk, false);
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);

	mutex_lock(&vdev->lock);
	vdev->flags = 0;
	vdev->state = VDI_STATE_UNBOUND;
	mutex_unlock(&vdev->lock);
	kobject_uevent(&disk_to_dev(disk)->kobj, KOBJ_CHANGE);

	vdi_image_free(img);
	module_put(THIS_MODULE);
}

/* ------------------------------------------------------------ open etc. */

int vdi_open(struct gendisk *disk, bool excl)
{
	struct vdi_device *vdev = disk->private_data;
	int err = 0;

	mutex_lock(&vdev->lock);
	if (vdev->state == VDI_STATE_RUNDOWN || vdev->deleting)
		err = -ENXIO;
	else if (excl && vdev->state == VDI_STATE_BOUND)
		vdev->held = true;
	mutex_unlock(&vdev->lock);
	return err;
}

void vdi_release(struct gendisk *disk)
{
	struct vdi_device *vdev = disk->private_data;
	bool unbind = false;

	if (disk_openers(disk) > 0)
		return;
	mutex_lock(&vdev->lock);
	if (vdev->state == VDI_STATE_RUNDOWN ||
	    (vdev->state == VDI_STATE_BOUND && vdev->held &&
	     (vdev->flags & VDI_FLAG_AUTOCLEAR))) {
		vdev->state = VDI_STATE_RUNDOWN;
		unbind = true;
	}
	mutex_unlock(&vdev->lock);
	if (unbind)
		vdi_unbind(vdev);
}

static int vdi_configure(struct vdi_device *vdev, bool excl, bool write,
			 struct vdi_config __user *argp)
{
	struct vdi_image *img;
	struct vdi_config cfg;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	err = vdi_config_get(&cfg, argp);
	if (err)
		return err;

	img = vdi_image_get(&cfg, (cfg.flags & VDI_FLAG_READ_ONLY) || !write);
	if (IS_ERR(img)) {
		err = PTR_ERR(img);
	} else {
		err = vdi_bind(vdev, img, cfg.flags, !excl);
		if (err)
			vdi_image_free(img);
		if (err == -EAGAIN)
			err = -EBUSY;
	}
	cfg.index = vdev->index;
	return vdi_config_put(argp, &cfg, err);
}

static int vdi_pack_quiet(struct vdi_image *img, void *unused)
{
	vdi_image_pack(img);
	return 0;
}

/*
 * Detach: with the caller the only opener the device goes into rundown
 * and is unbound when the caller closes it; with other openers it is
 * -EBUSY, or with autoclear it stays bound until the last of them closes.
 * open_mutex keeps disk_openers() still meanwhile.
 *
 * Everything written so far is flushed to the image first: a failure then
 * fails the detach and leaves the device bound, to be tried again, where
 * at the last close it could only be logged. Then the freed data blocks
 * are given back (vdi_image_pack) by the worker, before open_mutex is
 * taken: at the close that unbinds, the disk's other
 * openers would wait for as long as copying takes. The caller's open
 * keeps the image bound meanwhile.
 */
static int vdi_detach(struct vdi_device *vdev, struct block_device *bdev)
{
	struct gendisk *disk = vdev->disk;
	struct vdi_image *img = NULL;
	int err = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	/* Without other openers to wait for: the unbind is the caller's close. */
	if (disk_openers(disk) == 1) {
		mutex_lock(&vdev->lock);
		if (vdev->state == VDI_STATE_BOUND)
			img = vdev->img;
		mutex_unlock(&vdev->lock);
	}
	if (img) {
		err = sync_blockdev(bdev);
		if (!err)
			err = vdi_image_flush(img);
		if (err)
			return err;
		/* Here, not at the close: copying must not hold open_mutex. */
		vdi_run_quiet(vdev, vdi_pack_quiet, NULL);
	}

	mutex_lock(&disk->open_mutex);
	mutex_lock(&vdev->lock);
	if (vdev->state != VDI_STATE_BOUND)
		err = -ENXIO;
	else if (disk_openers(disk) == 1)
		vdev->state = VDI_STATE_RUNDOWN;
	else if (!(vdev->flags & VDI_FLAG_AUTOCLEAR))
		err = -EBUSY;
	else
		vdev->held = true;	/* asked for: at the last close */
	mutex_unlock(&vdev->lock);
	mutex_unlock(&disk->open_mutex);
	return err;
}

static int vdi_get_info(struct vdi_device *vdev, struct vdi_info __user *argp)
{
	struct file *file = NULL;
	struct vdi_image *img;
	struct vdi_info *info;
	struct kstat stat;
	char *p;
	int err = 0;

	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	mutex_lock(&vdev->lock);
	info->index = vdev->index;
	info->state = vdev->state;
	img = vdev->img;
	if (img) {
		info->flags = vdev->flags;
		info->block_size = img->h.block_size;
		info->disk_size = vdi_virtual_size(&img->h);
		info->blocks_in_image = img->h.blocks_in_image;
		info->blocks_allocated = READ_ONCE(img->allocated);
		info->blocks_zero = READ_ONCE(img->zero);
		info->nr_parents = img->nr_parents;
		vdi_uuid_swap(info->uuid, img->h.uuid_image);
		p = file_path(img->file, info->backing_file,
			      sizeof(info->backing_file));
		if (!IS_ERR(p))
			memmove(info->backing_file, p, strlen(p) + 1);
		else
			info->backing_file[0] = '\0';
		file = get_file(img->file);
	}
	mutex_unlock(&vdev->lock);

	/* Never call into the filesystem under the device lock. */
	if (file) {
		if (!vfs_getattr(&file->f_path, &stat, STATX_INO,
				 AT_STATX_SYNC_AS_STAT)) {
			info->backing_dev = huge_encode_dev(stat.dev);
			info->backing_inode = stat.ino;
		}
		fput(file);
	}
	if (copy_to_user(argp, info, sizeof(*info)))
		err = -EFAULT;
	kfree(info);
	return err;
}

/*
 * VDI_RESIZE: grow the image and the disk with it. The caller's open keeps
 * the image bound (unbind comes at the last close).
 */
static int vdi_resize(struct vdi_device *vdev, const __u64 __user *argp)
{
	struct gendisk *disk = vdev->disk;
	struct vdi_grow grow;
	struct vdi_image *img;
	u64 size;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&size, argp, sizeof(size)))
		return -EFAULT;
	mutex_lock(&vdev->lock);
	img = vdev->state == VDI_STATE_BOUND ? vdev->img : NULL;
	mutex_unlock(&vdev->lock);
	if (!img)
		return -ENXIO;
	err = vdi_grow_prepare(img, size, &grow);
	if (!err)
		err = vdi_run_quiet(vdev, vdi_grow_apply, &grow);
	vdi_grow_release(&grow);
	if (err < 0)
		return err;
	set_capacity_and_notify(disk, vdi_virtual_size(&img->h) >> SECTOR_SHIFT);
	return 0;
}

int vdi_ioctl(struct block_device *bdev, bool excl, bool write,
	      unsigned int cmd, unsigned long arg)
{
	struct vdi_device *vdev = bdev->bd_disk->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case VDI_CONFIGURE:
		return vdi_configure(vdev, excl, write, argp);
	case VDI_DETACH:
		return vdi_detach(vdev, bdev);
	case VDI_GET_INFO:
		return vdi_get_info(vdev, argp);
	case VDI_RESIZE:
		return vdi_resize(vdev, argp);
	default:
		return -ENOTTY;
	}
}

/* All ioctl structures have one layout for 32- and 64-bit callers. */
static const struct block_device_operations vdi_fops = {
	.owner		= THIS_MODULE,
	.open		= vdi_fops_open,
	.release	= vdi_fops_release,
	.ioctl		= vdi_fops_ioctl,
	.compat_ioctl	= blkdev_compat_ptr_ioctl,
	.free_disk	= vdi_free_disk,
};
