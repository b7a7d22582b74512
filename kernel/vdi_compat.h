/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The differences between the supported kernels' block APIs (6.1 and 6.12),
 * kept here so that the driver body has no version checks.
 *
 * Boundaries (upstream release that changed the API): 6.5 block device
 * open/release/ioctl signatures and the holder ops of bd_prepare_to_claim;
 * 6.6 disk_force_media_change; 6.8 vfs_iter_write takes freeze protection
 * itself; 6.11 queue limits and features set through struct queue_limits;
 * 6.14 freeze returns memflags (a NOIO scope) and BLK_MQ_F_SHOULD_MERGE is
 * gone.
 *
 * VDI_KERNEL is the version of the kernel built against as one number,
 * major * 100 + minor (601, 612), set by Kbuild.
 */
#ifndef VDI_COMPAT_H
#define VDI_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>

/* 6.9 and 6.10 pass limits at allocation but still lack lim.features. */
#if VDI_KERNEL >= 602 && \
	VDI_KERNEL < 611
#error "vdi supports Linux 6.1 and 6.11 or later"
#endif

/* Implemented in vdi_dev.c with signatures that do not change. */
int vdi_open(struct gendisk *disk, bool excl);
void vdi_release(struct gendisk *disk);
int vdi_ioctl(struct block_device *bdev, bool excl, bool write,
	      unsigned int cmd, unsigned long arg);

#if VDI_KERNEL >= 605
static inline int vdi_fops_open(struct gendisk *disk, blk_mode_t mode)
{
	return vdi_open(disk, !!(mode & BLK_OPEN_EXCL));
}

static inline void vdi_fops_release(struct gendisk *disk)
{
	vdi_release(disk);
}

static inline int vdi_fops_ioctl(struct block_device *bdev, blk_mode_t mode,
				 unsigned int cmd, unsigned long arg)
{
	return vdi_ioctl(bdev, !!(mode & BLK_OPEN_EXCL),
			 !!(mode & BLK_OPEN_WRITE), cmd, arg);
}

static inline int vdi_prepare_to_claim(struct block_device *bdev, void *holder)
{
	return bd_prepare_to_claim(bdev, holder, NULL);
}
#else
static inline int vdi_fops_open(struct block_device *bdev, fmode_t mode)
{
	return vdi_open(bdev->bd_disk, !!(mode & FMODE_EXCL));
}

static inline void vdi_fops_release(struct gendisk *disk, fmode_t mode)
{
	vdi_release(disk);
}

static inline int vdi_fops_ioctl(struct block_device *bdev, fmode_t mode,
				 unsigned int cmd, unsigned long arg)
{
	return vdi_ioctl(bdev, !!(mode & FMODE_EXCL),
			 !!(mode & FMODE_WRITE), cmd, arg);
}

static inline int vdi_prepare_to_claim(struct block_device *bdev, void *holder)
{
	return bd_prepare_to_claim(bdev, holder);
}
#endif

#if VDI_KERNEL >= 606
static inline void vdi_media_changed(struct gendisk *disk)
{
	disk_force_media_change(disk);
}
#else
static inline void vdi_media_changed(struct gendisk *disk)
{
	disk_force_media_change(disk, DISK_EVENT_MEDIA_CHANGE);
}
#endif

/* A buffered write to the backing file, under freeze protection. */
#if VDI_KERNEL >= 608
static inline ssize_t vdi_iter_write(struct file *file, struct iov_iter *iter,
				     loff_t *pos)
{
	return vfs_iter_write(file, iter, pos, 0);
}
#else
static inline ssize_t vdi_iter_write(struct file *file, struct iov_iter *iter,
				     loff_t *pos)
{
	ssize_t ret;

	file_start_write(file);
	ret = vfs_iter_write(file, iter, pos, 0);
	file_end_write(file);
	return ret;
}
#endif

/* A disk with a volatile write cache (flushes reach us) and no FUA. */
#if VDI_KERNEL >= 611
static inline struct gendisk *vdi_alloc_disk(struct blk_mq_tag_set *set,
					     void *queuedata)
{
	struct queue_limits lim = { .features = BLK_FEAT_WRITE_CACHE };

	return blk_mq_alloc_disk(set, &lim, queuedata);
}

/*
 * Requests of up to @sectors, which may cross VDI blocks. Discard and
 * write-zeroes up to @zero_sectors (0: not supported), in units of
 * @granularity bytes.
 */
static inline int vdi_set_limits(struct request_queue *q,
				 unsigned int sectors, unsigned int granularity,
				 unsigned int zero_sectors)
{
	struct queue_limits lim = queue_limits_start_update(q);

	lim.max_hw_sectors = sectors;
	lim.discard_granularity = granularity;
	lim.max_hw_discard_sectors = zero_sectors;
	lim.max_write_zeroes_sectors = zero_sectors;
	return queue_limits_commit_update(q, &lim);
}
#else
static inline struct gendisk *vdi_alloc_disk(struct blk_mq_tag_set *set,
					     void *queuedata)
{
	struct gendisk *disk = blk_mq_alloc_disk(set, queuedata);

	if (!IS_ERR(disk))
		blk_queue_write_cache(disk->queue, true, false);
	return disk;
}

static inline int vdi_set_limits(struct request_queue *q,
				 unsigned int sectors, unsigned int granularity,
				 unsigned int zero_sectors)
{
	blk_queue_max_hw_sectors(q, sectors);
	q->limits.discard_granularity = granularity;
	blk_queue_max_discard_sectors(q, zero_sectors);
	blk_queue_max_write_zeroes_sectors(q, zero_sectors);
	return 0;
}
#endif

#if VDI_KERNEL >= 614
#define VDI_MQ_F_MERGE	0
static inline unsigned int vdi_freeze_queue(struct request_queue *q)
{
	return blk_mq_freeze_queue(q);
}

static inline void vdi_unfreeze_queue(struct request_queue *q,
				      unsigned int memflags)
{
	blk_mq_unfreeze_queue(q, memflags);
}
#else
#define VDI_MQ_F_MERGE	BLK_MQ_F_SHOULD_MERGE
/*
 * As 6.14 does: no allocation while frozen may recurse into I/O, which
 * would wait for the frozen queue.
 */
static inline unsigned int vdi_freeze_queue(struct request_queue *q)
{
	blk_mq_freeze_queue(q);
	return memalloc_noio_save();
}

static inline void vdi_unfreeze_queue(struct request_queue *q,
				      unsigned int memflags)
{
	blk_mq_unfreeze_queue(q);
	memalloc_noio_restore(memflags);
}
#endif

#endif /* VDI_COMPAT_H */
