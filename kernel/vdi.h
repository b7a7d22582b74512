/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdi: VirtualBox VDI images as block devices - driver-private structures.
 *
 * Locking, outermost first:
 *   vdi_ctl_mutex	the idr of devices; control ioctls (vdi_main.c)
 *   disk->open_mutex	taken by the block layer around ->open/->release
 *   vdev->lock		device state, flags and the image pointer
 *   vdi_bound_lock	the list of bound images (exclusive backing files)
 * and, independent of all of them, img->map_lock, taken only by the I/O
 * worker (allocation, flush) and at unbind when no I/O can be in flight,
 * and inside it img->io_lock, which orders requests into epochs.
 * The I/O path never takes vdev->lock: bind and unbind publish and retract
 * the image while no request can be using it (see vdi_dev.c).
 */
#ifndef VDI_H
#define VDI_H

#include <linux/atomic.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include <linux/vdi.h>

#include "vdi_format.h"

/* The map is written in 512-byte sectors of 128 entries. */
#define VDI_MAP_SECTOR_SHIFT	7

/**
 * struct vdi_image - an open, validated image
 * @file: the backing file (our own reference)
 * @h: the header in CPU order; blocks_allocated is refreshed at flush
 * @raw: the header sector as read, the base of every header write
 * @map: blocks_in_image entries in CPU order. Read without a lock (the
 *	entry is published with a release store once its data is written);
 *	changed only under @map_lock.
 * @block_shift: log2 of the block size
 * @read_only: no write reaches the file
 * @dio_align: the file position, length and memory alignment direct I/O on
 *	the file needs, 0 when it cannot have direct I/O; found at open
 * @dio: direct I/O is in effect (set at bind): requests aligned for it
 *	use it, asynchronously where the block is allocated
 * @old_gfp_mask: the backing mapping's gfp mask before we restricted it
 * @map_lock: serializes allocations and metadata writes
 * @next_free: index the next allocated data block gets
 * @allocated: allocated entries, for sysfs and VDI_GET_INFO
 * @zero: VDI_BLOCK_ZERO entries, likewise
 * @meta_dirty: map sectors and header must be written at the next flush
 * @modified: the image has its new modification UUID (vdi_image_modify)
 * @dirty: bitmap of map sectors changed since the last flush
 * @buf: a page for converting map sectors to disk order
 * @bound_node: entry in the list of bound images (vdi_bound_lock)
 * @spares: data blocks freed while bound, oldest first (struct vdi_spare)
 * @flush_seq: flushes started, each numbered under @map_lock
 * @durable_seq: the highest flush whose map write is known durable
 * @no_reuse: a flush failed, so no freed data block is reused any more
 * @io_lock: protects @epoch and increments of @io_count
 * @epoch: requests entering now belong to this epoch (vdi_io_enter)
 * @drained: every request of an epoch before this one has ended
 * @io_count: requests in flight of the current and the previous epoch,
 *	indexed by the epoch's parity
 * @parents: the parents of a differencing image, the nearest first, each
 *	open read-only (vdi_chain.c); NULL for a base image
 * @nr_parents: how many
 * @level: per virtual block whose entry here is VDI_BLOCK_FREE, which
 *	parent has its data (1 the nearest), or 0 for zeros; computed at
 *	attach, valid as long as the entry stays free (parents never change)
 */
struct vdi_image {
	struct file		*file;
	struct vdi_header	h;
	struct vdi_disk_header	raw;
	u32			*map;
	unsigned int		block_shift;
	bool			read_only;
	u32			dio_align;
	bool			dio;
	gfp_t			old_gfp_mask;

	struct mutex		map_lock;	/* allocation, metadata */
	u32			next_free;
	u32			allocated;
	u32			zero;
	bool			meta_dirty;
	bool			modified;
	unsigned long		*dirty;
	void			*buf;
	struct list_head	bound_node;

	struct list_head	spares;
	u64			flush_seq;
	u64			durable_seq;
	bool			no_reuse;
	spinlock_t		io_lock;	/* epoch */
	u32			epoch;
	u32			drained;
	atomic_t		io_count[2];
	struct vdi_image	**parents;
	u32			nr_parents;
	u8			*level;
};

/**
 * struct vdi_device - one /dev/vdiN
 * @index: N
 * @disk: the gendisk; freeing it (vdi_free_disk) frees this structure
 * @tag_set: the blk-mq tag set, one hardware queue
 * @wq: the workqueue every request is handled on
 * @queue_lock: protects @queue
 * @queue: requests handed over by vdi_queue_rq(), oldest first
 * @work: drains @queue on @wq, one request after another
 * @lock: protects @state, @flags, @deleting and changes of @img
 * @state: VDI_STATE_*
 * @flags: effective VDI_FLAG_* while bound
 * @deleting: being removed; opens and binds are refused
 * @img: the image while bound; the I/O path reads it without @lock
 * @held: opened exclusively (a mount, mkfs) since bound, or asked to
 *	detach: only then does VDI_FLAG_AUTOCLEAR unbind at the last close,
 *	so that a probe opening it shared (udev's blkid) cannot detach a
 *	device attached through the control node before anyone used it
 * @visible: may be handed out by the control device (under vdi_ctl_mutex)
 */
struct vdi_device {
	int			index;
	struct gendisk		*disk;
	struct blk_mq_tag_set	tag_set;
	struct workqueue_struct	*wq;
	spinlock_t		queue_lock;	/* queue */
	struct list_head	queue;
	struct work_struct	work;

	struct mutex		lock;		/* state, flags, img */
	u32			state;
	u32			flags;
	bool			deleting;
	struct vdi_image	*img;
	bool			held;
	bool			visible;
};

/* Segments of a request that fit the PDU: the queue's default max_segments. */
#define VDI_INLINE_BVECS	BLK_MAX_SEGMENTS

/* What vdi_run_quiet() runs on a device's worker; see there. */
typedef int (*vdi_quiet_fn)(struct vdi_image *img, void *arg);

/**
 * struct vdi_grow - what growing a bound image takes, allocated beforehand
 * @size: the new virtual size in bytes
 * @want: the header for it
 * @map: the larger map; after vdi_grow_apply() the old one
 * @dirty: likewise the bitmap of dirty map sectors
 */
struct vdi_grow {
	u64			size;
	struct vdi_header	want;
	u32			*map;
	unsigned long		*dirty;
};

/**
 * struct vdi_cmd - per-request data (the blk-mq PDU)
 * @node: in vdev->queue until the worker takes the request
 * @iocb: the asynchronous direct I/O of the request
 * @ref: held by the submitter and by @iocb; the last put completes
 * @err: the result of @iocb
 * @again: @iocb wrote less than asked (a full file system): the worker
 *	writes the request again, waiting, to learn why (vdi_file_sync())
 * @img: the image the request entered (vdi_io_enter), else NULL
 * @io_epoch: the parity of the epoch it entered in
 * @bvec: the request's segments gathered from several bios when more than
 *	@inline_bvec holds (allocated; physically contiguous segments of
 *	different bios count once in max_segments), else NULL
 * @inline_bvec: the request's segments gathered from several bios
 * @quiet_fn: for a driver request of vdi_run_quiet(), what the worker runs
 * @quiet_arg: its argument
 * @quiet_err: its result; -ENXIO when it did not run (no image)
 */
struct vdi_cmd {
	struct list_head	node;
	struct kiocb		iocb;
	atomic_t		ref;
	int			err;
	bool			again;
	struct vdi_image	*img;
	unsigned int		io_epoch;
	struct bio_vec		*bvec;
	struct bio_vec		inline_bvec[VDI_INLINE_BVECS];
	vdi_quiet_fn		quiet_fn;
	void			*quiet_arg;
	int			quiet_err;
};

/* vdi_dev.c */
struct vdi_device *vdi_dev_alloc(void);
int vdi_dev_add(struct vdi_device *vdev, int index);
void vdi_dev_free(struct vdi_device *vdev);
void vdi_dev_del(struct vdi_device *vdev);
void vdi_dev_put(struct vdi_device *vdev);
bool vdi_dev_name_taken(struct vdi_device *vdev, int index);
int vdi_config_get(struct vdi_config *cfg, struct vdi_config __user *argp);
int vdi_config_put(struct vdi_config __user *argp,
		   const struct vdi_config *cfg, int err);
struct file *vdi_backing_fget(int fd);
struct vdi_image *vdi_image_get(struct vdi_config *cfg, bool read_only);
int vdi_bind(struct vdi_device *vdev, struct vdi_image *img, u32 flags,
	     bool claim);

/* vdi_io.c */
extern const struct blk_mq_ops vdi_mq_ops;
void vdi_work(struct work_struct *work);
int vdi_run_quiet(struct vdi_device *vdev, vdi_quiet_fn fn, void *arg);
int vdi_file_rw(struct vdi_image *img, u32 entry, u32 off,
		struct iov_iter *iter);
bool vdi_dio_works(struct file *file, u32 align);

/* vdi_map.c */
struct vdi_image *vdi_image_open(struct file *file, bool read_only,
				 bool diff_ok, u64 *map_budget, u32 *reason);
void vdi_image_free(struct vdi_image *img);
int vdi_image_flush(struct vdi_image *img);
int vdi_image_modify(struct vdi_image *img);
int vdi_alloc_write(struct vdi_image *img, u32 blk, u32 off,
		    struct iov_iter *iter, u32 *entry, unsigned int *io_epoch);
unsigned int vdi_io_enter(struct vdi_image *img);
void vdi_io_exit(struct vdi_image *img, unsigned int io_epoch);
void vdi_io_drain(struct vdi_image *img);

int vdi_zero_range(struct vdi_image *img, u64 pos, u64 len, bool unmap,
		   unsigned int *io_epoch);
void vdi_image_pack(struct vdi_image *img);
int vdi_image_writeback(struct vdi_image *img);
int vdi_grow_prepare(struct vdi_image *img, u64 size, struct vdi_grow *g);
int vdi_grow_apply(struct vdi_image *img, void *grow);
void vdi_grow_release(struct vdi_grow *g);

/* vdi_chain.c */
int vdi_chain_open(struct vdi_image *img, struct vdi_config *cfg,
		   u64 *map_budget);
void vdi_chain_free(struct vdi_image *img);
int vdi_chain_read(struct vdi_image *img, u32 blk, u32 entry, u32 off,
		   struct iov_iter *iter);
int vdi_chain_fill(struct vdi_image *img, u32 blk, u32 idx, u32 off,
		   const struct iov_iter *iter);
int vdi_chain_zero(struct vdi_image *img, u32 blk, u32 entry, u32 off,
		   u32 len, bool unmap, unsigned int *io_epoch);
bool vdi_chain_conflict(const struct vdi_image *a,
			const struct vdi_image *b);

/* Entry of virtual block @blk; no lock needed. */
static inline u32 vdi_map_get(struct vdi_image *img, u32 blk)
{
	/* Pairs with vdi_alloc_write(): a new entry's data is written. */
	return smp_load_acquire(&img->map[blk]);
}

#endif /* VDI_H */
