// SPDX-License-Identifier: GPL-2.0
/*
 * vdi: the image behind a device - reading and checking it at attach, the
 * in-memory block map, allocation of data blocks on first write, and
 * writing the map and header back at flush and detach.
 *
 * Crash safety rests on two rules. The map on disk never names a data
 * block whose contents are not durable: entries are published in memory
 * only after their data write returned, and written to the file only at a
 * flush, after an fsync that made the data of every entry published so far
 * durable (vdi_image_flush). And the header's blocks_allocated is durable
 * no later than the map entries below it, because QEMU and VirtualBox take
 * it as the next index to allocate: a map ahead of the header would make
 * them hand out a referenced block again. A header ahead of the map only
 * leaks blocks. Our own attach also takes the next free index from the
 * highest entry (vdi_map_check), so it never reuses a block either way.
 *
 * A discarded block becomes VDI_BLOCK_ZERO (written at the next flush) and
 * its data block is punched out. The data block is handed out again only
 * when two things hold. The zero entry is durable: else a crash could
 * leave the old entry on disk beside the new owner's, a cross-link. And
 * no request that may have looked the old entry up is still in flight:
 * writes to allocated blocks take no lock, and a late one would land in
 * the new owner's data. Requests are counted in epochs for that
 * (vdi_io_enter); a freed block waits for the epoch it was freed in to
 * drain. Allocation takes such a block before it appends; only when
 * appending is impossible does it flush and wait for one. Freed blocks
 * not reused by unbind are given back then by vdi_image_pack(), which
 * moves the last data blocks into them; a crash before leaves leaks only,
 * which the next attach reuses (vdi_take_leaked) and "vdisetup compact"
 * and "vdisetup check --repair" take back.
 *
 * A failed metadata write is not forgotten: the map sectors stay dirty
 * until an fsync after their write succeeded, and from the failure on no
 * freed block is reused or moved, because the map on disk may still name
 * it for its old owner (vdi_meta_durable). The device goes on serving.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/uuid.h>

#include "vdi.h"
#include "vdi_compat.h"

/**
 * struct vdi_spare - a data block freed while bound, to be reused
 * @node: in img->spares
 * @slot: the data block
 * @epoch: the epoch it was freed in; requests of it may still use it
 * @flush_seq: flushes started before it was freed; a later one makes its
 *	zero entry durable
 */
struct vdi_spare {
	struct list_head	node;
	u32			slot;
	u32			epoch;
	u64			flush_seq;
};

/* Reads exactly @len bytes at @pos; an early end of file is -EIO. */
static int vdi_read_exact(struct file *file, void *buf, size_t len, loff_t pos)
{
	ssize_t ret;

	while (len) {
		ret = kernel_read(file, buf, len, &pos);
		if (ret < 0)
			return ret;
		if (!ret)
			return -EIO;
		buf += ret;
		len -= ret;
	}
	return 0;
}

static int vdi_write_exact(struct file *file, const void *buf, size_t len,
			   loff_t pos)
{
	ssize_t ret = kernel_write(file, buf, len, &pos);

	if (ret != len)
		return ret < 0 ? ret : -EIO;
	return 0;
}

/* The one dmesg line for a refused image: "vdi: <path>: <reason>". */
static void vdi_refuse_msg(struct file *file, enum vdi_error verr,
			   const struct vdi_header *h,
			   const struct vdi_map_stats *st)
{
	char *buf = kmalloc(PATH_MAX, GFP_KERNEL);
	char why[160];
	char *path;

	vdi_explain(why, sizeof(why), verr, h, st);
	path = buf ? file_path(file, buf, PATH_MAX) : ERR_PTR(-ENOMEM);
	pr_warn("%s: %s\n", IS_ERR(path) ? "(unknown path)" : path, why);
	kfree(buf);
}

/* Leaked blocks taken up for reuse at attach, at most: 2 MiB of spares. */
#define VDI_MAX_LEAKED_SPARES	65536

/*
 * The data blocks below next_free that no entry names (@seen, from the map
 * check): left by a crash after the header counted them and before the
 * map named them, or freed and never given back. No map on disk names
 * them and no request can use one, so they are ready at once: older than
 * the first flush (flush_seq 0; durable_seq starts at 1, as if the map as
 * read were a flush) and than the first epoch.
 * Without this a full image would fail allocations with free virtual
 * space until "vdisetup compact".
 */
static int vdi_take_leaked(struct vdi_image *img, const unsigned long *seen)
{
	/* Past blocks_in_image a block is never handed out (vdi_take_slot). */
	u32 end = min(img->next_free, img->h.blocks_in_image);
	struct vdi_spare *sp;
	u32 slot, n = 0;

	for_each_clear_bit(slot, seen, end) {
		if (n++ == VDI_MAX_LEAKED_SPARES)
			break;
		sp = kmalloc(sizeof(*sp), GFP_KERNEL);
		if (!sp)
			return -ENOMEM;
		sp->slot = slot;
		sp->flush_seq = 0;
		sp->epoch = img->epoch - 1;
		list_add_tail(&sp->node, &img->spares);
	}
	return 0;
}

/**
 * vdi_image_open() - read and validate the image in @file
 * @file: the backing file; the image takes its own reference
 * @read_only: no write will ever be issued to @file
 * @diff_ok: a differencing image is accepted (its parents are given)
 * @map_budget: bytes of block map the image may still take, lowered by
 *	its own: a chain of images shares VDI_MAX_CHAIN_MAP_BYTES
 *	(VDI_ERR_CHAIN_MEMORY when it would go over)
 * @reason: set to the enum vdi_error when the format code refuses the image
 *
 * Everything a bound device needs is allocated here, before any lock is
 * taken, so that binding itself cannot fail for lack of memory and the I/O
 * path never allocates for the map. The allocations are charged to the
 * caller's memory cgroup and fail without a warning: the sizes come from
 * the image.
 *
 * Return: the image, or an ERR_PTR: vdi_error_errno() for a refused image,
 * else the I/O or allocation error.
 */
struct vdi_image *vdi_image_open(struct file *file, bool read_only,
				 bool diff_ok, u64 *map_budget, u32 *reason)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_NOWARN;
	u64 size = i_size_read(file->f_mapping->host);
	struct vdi_map_stats st = { 0 };
	struct vdi_image *img;
	enum vdi_error verr;
	unsigned long *seen = NULL;
	u64 map_bytes;
	int err;

	img = kzalloc(sizeof(*img), GFP_KERNEL);
	if (!img)
		return ERR_PTR(-ENOMEM);
	mutex_init(&img->map_lock);
	INIT_LIST_HEAD(&img->bound_node);
	INIT_LIST_HEAD(&img->spares);
	spin_lock_init(&img->io_lock);
	img->read_only = read_only;
	/* The map as read is durable: flush 1, done. */
	img->flush_seq = 1;
	img->durable_seq = 1;

	/* A short file is left to vdi_header_check() to name. */
	err = vdi_read_exact(file, &img->raw,
			     min_t(u64, size, sizeof(img->raw)), 0);
	if (err)
		goto fail;
	vdi_header_decode(&img->h, &img->raw);
	verr = diff_ok ? vdi_chain_header_check(&img->h, size) :
			 vdi_header_check(&img->h, size);
	if (verr)
		goto refuse;

	/* Whole sectors, padding included: the unit it is written back in. */
	map_bytes = vdi_map_bytes(&img->h);
	if (map_bytes > *map_budget) {
		verr = VDI_ERR_CHAIN_MEMORY;
		goto refuse;
	}
	*map_budget -= map_bytes;
	err = -ENOMEM;
	img->map = kvmalloc(map_bytes, gfp);
	seen = kvzalloc(vdi_map_seen_bytes(&img->h, size), gfp);
	if (!img->map || !seen)
		goto fail;
	err = vdi_read_exact(file, img->map, map_bytes, img->h.offset_bmap);
	if (err)
		goto fail;
	vdi_map_to_cpu(img->map, img->h.blocks_in_image);
	verr = vdi_map_check(&img->h, img->map, size, seen, &st);
	if (verr)
		goto refuse;

	img->next_free = st.next_free;
	img->allocated = st.allocated;
	img->zero = st.zero;
	img->block_shift = ilog2(img->h.block_size);
	if (!read_only) {
		err = -ENOMEM;
		img->dirty = kvcalloc(BITS_TO_LONGS(map_bytes >> SECTOR_SHIFT),
				      sizeof(unsigned long), gfp);
		img->buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
		if (img->dirty && img->buf)
			err = img->h.image_type == VDI_TYPE_FIXED ? 0 :
			      vdi_take_leaked(img, seen);
		if (err)
			goto fail;
	}
	kvfree(seen);
	img->file = get_file(file);
	return img;

refuse:
	*reason = verr;
	vdi_refuse_msg(file, verr, &img->h, &st);
	err = vdi_error_errno(verr);
fail:
	kvfree(seen);
	vdi_image_free(img);
	return ERR_PTR(err);
}

/* Frees the list of freed blocks: a pack fills them or leaves them leaked. */
static void vdi_drop_spares(struct vdi_image *img)
{
	struct vdi_spare *sp, *next;

	list_for_each_entry_safe(sp, next, &img->spares, node) {
		list_del(&sp->node);
		kfree(sp);
	}
}

/**
 * vdi_image_free() - drop the image without writing anything
 * @img: the image; its metadata must have been flushed if it matters
 */
void vdi_image_free(struct vdi_image *img)
{
	vdi_drop_spares(img);
	vdi_chain_free(img);
	if (img->file)
		fput(img->file);
	kfree(img->buf);
	kvfree(img->dirty);
	kvfree(img->map);
	mutex_destroy(&img->map_lock);
	kfree(img);
}

/* Writes zeros the slow way, for files that can neither punch nor zero. */
static int vdi_write_zeroes(struct file *file, loff_t pos, loff_t len)
{
	struct bio_vec bv;
	struct iov_iter iter;
	size_t n;
	ssize_t ret;

	while (len) {
		n = min_t(loff_t, len, PAGE_SIZE);
		bvec_set_page(&bv, ZERO_PAGE(0), n, 0);
		iov_iter_bvec(&iter, ITER_SOURCE, &bv, 1, n);
		ret = vdi_iter_write(file, &iter, &pos);
		if (ret < 0)
			return ret;
		if (ret != n)
			return -EIO;
		len -= n;
	}
	return 0;
}

/*
 * Makes [@pos, @pos + @len) of the file read as zeros, keeping its size:
 * punched out when @unmap allows, else zeroed in place, else written.
 */
static int vdi_file_zero(struct file *file, loff_t pos, loff_t len,
			 bool unmap)
{
	int err;

	if (unmap) {
		err = vfs_fallocate(file,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    pos, len);
		if (err != -EOPNOTSUPP)
			return err;
	}
	err = vfs_fallocate(file, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			    pos, len);
	if (err != -EOPNOTSUPP)
		return err;
	return vdi_write_zeroes(file, pos, len);
}

/*
 * Sets the size of a regular file: growing leaves a hole, so a new block
 * reads as zeros without a byte being written, and lies wholly inside the
 * file as vdi_map_check() requires. Runs with the opener's credentials,
 * as a write through the file would.
 */
static int vdi_file_truncate(struct file *file, loff_t size)
{
	const struct cred *old;
	int err;

	if (!S_ISREG(file_inode(file)->i_mode))
		return -ENOSPC;		/* a block device does not grow */
	old = override_creds(file->f_cred);
	err = vfs_truncate(&file->f_path, size);
	revert_creds(old);
	return err;
}

/*
 * Writes the dirty map sectors, a page of contiguous sectors at a time.
 * They stay dirty: only the fsync after this makes them durable, and a
 * sector whose writeback failed must be written again at the next flush
 * (the failure is reported once, and the page is clean again after it).
 * vdi_meta_durable() forgets them once that fsync succeeded.
 */
static int vdi_write_map(struct vdi_image *img)
{
	const u32 sectors = vdi_map_bytes(&img->h) >> SECTOR_SHIFT;
	const u32 per_buf = PAGE_SIZE >> SECTOR_SHIFT;
	u32 s = 0, n, first, count;
	size_t bytes;
	int err;

	lockdep_assert_held(&img->map_lock);
	while ((s = find_next_bit(img->dirty, sectors, s)) < sectors) {
		for (n = 1; n < per_buf && s + n < sectors; n++)
			if (!test_bit(s + n, img->dirty))
				break;
		/*
		 * Whole sectors: the padding after the last entry is still
		 * in img->map as read, and only real entries are converted.
		 */
		first = s << VDI_MAP_SECTOR_SHIFT;
		count = min(n << VDI_MAP_SECTOR_SHIFT,
			    img->h.blocks_in_image - first);
		bytes = (size_t)n << SECTOR_SHIFT;
		memcpy(img->buf, &img->map[first], bytes);
		vdi_map_to_disk(img->buf, count);
		err = vdi_write_exact(img->file, img->buf, bytes,
				      img->h.offset_bmap +
				      ((loff_t)s << SECTOR_SHIFT));
		if (err)
			return err;
		s += n;
	}
	return 0;
}

static int vdi_write_header(struct vdi_image *img)
{
	img->h.blocks_allocated = img->next_free;
	vdi_header_encode(&img->raw, &img->h);
	return vdi_write_exact(img->file, &img->raw, sizeof(img->raw), 0);
}

/*
 * The end of every metadata write, under map_lock: @err is the result of
 * the writes and of the fsync after them. Only success makes the dirty
 * map sectors clean. A failure may have lost a zero entry, so from then on
 * no freed block is reused and none is moved at unbind (no_reuse): the
 * map on disk may still name it for its old owner. The device goes on;
 * every later flush writes all the dirty sectors again.
 */
static int vdi_meta_durable(struct vdi_image *img, int err)
{
	const u32 sectors = vdi_map_bytes(&img->h) >> SECTOR_SHIFT;

	lockdep_assert_held(&img->map_lock);
	if (err) {
		if (!img->no_reuse)
			pr_warn("%pD: writing the block map failed (%d): freed blocks are no longer reused; the map is written again at every flush\n",
				img->file, err);
		img->no_reuse = true;
		return err;
	}
	bitmap_zero(img->dirty, sectors);
	img->meta_dirty = false;
	return 0;
}

/*
 * A whole metadata flush under map_lock: header, fsync (the data and the
 * header are durable before map entries that rely on them), dirty map
 * sectors, fsync. Nothing can be published meanwhile, so every sector
 * written is durable when it returns 0.
 */
static int vdi_sync_meta(struct vdi_image *img)
{
	int err;

	lockdep_assert_held(&img->map_lock);
	if (!img->meta_dirty)
		return vfs_fsync(img->file, 0);
	err = vdi_write_header(img);
	if (!err)
		err = vfs_fsync(img->file, 0);
	if (!err)
		err = vdi_write_map(img);
	if (!err)
		err = vfs_fsync(img->file, 0);
	return vdi_meta_durable(img, err);
}

/**
 * vdi_io_enter() - a request is about to look the map up
 * @img: the image
 *
 * Return: the parity of the request's epoch, for vdi_io_exit().
 */
unsigned int vdi_io_enter(struct vdi_image *img)
{
	unsigned int io_epoch;

	/*
	 * The lock orders this request's lookups after every free that
	 * read an older epoch (vdi_free_block()): they see its zero entry.
	 */
	spin_lock(&img->io_lock);
	io_epoch = img->epoch & 1;
	atomic_inc(&img->io_count[io_epoch]);
	spin_unlock(&img->io_lock);
	return io_epoch;
}

/**
 * vdi_io_exit() - a request has ended; it uses no data block any more
 * @img: the image
 * @io_epoch: what vdi_io_enter() returned
 */
void vdi_io_exit(struct vdi_image *img, unsigned int io_epoch)
{
	/* Its accesses come before the count that vdi_epoch_advance() reads. */
	smp_mb__before_atomic();
	atomic_dec(&img->io_count[io_epoch]);
}

/**
 * vdi_io_drain() - wait until no request is in flight
 * @img: the image
 *
 * Only on the worker, which starts none meanwhile: what is in flight is
 * asynchronous direct I/O, whose completions end it.
 */
void vdi_io_drain(struct vdi_image *img)
{
	while (atomic_read_acquire(&img->io_count[0]) ||
	       atomic_read_acquire(&img->io_count[1]))
		schedule_timeout_uninterruptible(1);
}

/*
 * Starts a new epoch when every request of the one before the current has
 * ended: then all before the current have, and the current and the new
 * one share no counter. Under map_lock, which keeps @drained.
 */
static void vdi_epoch_advance(struct vdi_image *img)
{
	lockdep_assert_held(&img->map_lock);
	spin_lock(&img->io_lock);
	if (!atomic_read_acquire(&img->io_count[(img->epoch + 1) & 1]))
		img->drained = img->epoch++;
	spin_unlock(&img->io_lock);
}

/* May the freed data block @sp be handed out again? Under map_lock. */
static bool vdi_spare_ready(struct vdi_image *img, struct vdi_spare *sp)
{
	int i;

	if (img->no_reuse || img->durable_seq <= sp->flush_seq)
		return false;
	/* Two advances drain the epoch just before the current one. */
	for (i = 0; i < 2 && (s32)(sp->epoch - img->drained) >= 0; i++)
		vdi_epoch_advance(img);
	return (s32)(sp->epoch - img->drained) < 0;
}

/*
 * A flush under map_lock: every zero entry set before it is durable when
 * it succeeds, which the freed blocks' flush_seq is compared against.
 */
static int vdi_flush_locked(struct vdi_image *img)
{
	u64 seq = ++img->flush_seq;
	int err;

	lockdep_assert_held(&img->map_lock);
	err = vdi_sync_meta(img);
	if (!err)
		img->durable_seq = seq;
	return err;
}

/*
 * A data block for a new allocation, under map_lock: a freed one that is
 * safe to reuse, else the next one at the end of the data area. With the
 * end reached, the freed blocks' zero entries are made durable here, and
 * the caller must wait (-EAGAIN) for requests that may use them.
 *
 * Return: 0 with *@slot, and *@spare when it is a freed block (to free or
 * give back); -EAGAIN; -ENOSPC when every block index is in use; or the
 * error of the flush that would have made freed blocks reusable.
 */
static int vdi_take_slot(struct vdi_image *img, u32 *slot,
			 struct vdi_spare **spare)
{
	struct vdi_spare *sp;
	int err;

	sp = list_first_entry_or_null(&img->spares, struct vdi_spare, node);
	if (sp && vdi_spare_ready(img, sp)) {
		list_del(&sp->node);
		*spare = sp;
		*slot = sp->slot;
		return 0;
	}
	*spare = NULL;
	*slot = img->next_free;
	/* Entries must stay below blocks_in_image, or the map is invalid. */
	if (*slot < img->h.blocks_in_image)
		return 0;
	if (!sp || img->no_reuse)
		return -ENOSPC;
	if (img->durable_seq <= sp->flush_seq) {
		err = vdi_flush_locked(img);
		if (err)
			return err;
	}
	return -EAGAIN;
}

/*
 * Takes map_lock for allocating @blk. Return: 1 with *@entry when @blk is
 * allocated meanwhile; 0 with a data block; or vdi_take_slot()'s error.
 * Either way map_lock is held.
 */
static int vdi_lock_slot(struct vdi_image *img, u32 blk, u32 *entry,
			 unsigned int *io_epoch, u32 *slot,
			 struct vdi_spare **spare)
{
	int err;

	for (;;) {
		mutex_lock(&img->map_lock);
		*entry = img->map[blk];
		if (vdi_entry_allocated(*entry))
			return 1;
		err = vdi_take_slot(img, slot, spare);
		if (err != -EAGAIN)
			return err;
		mutex_unlock(&img->map_lock);
		/*
		 * Older requests may still use the freed blocks. This one uses
		 * none yet: moved to the current epoch, it holds none back.
		 */
		vdi_io_exit(img, *io_epoch);
		*io_epoch = vdi_io_enter(img);
		schedule_timeout_uninterruptible(1);
	}
}

/**
 * vdi_alloc_write() - first write to a virtual block
 * @img: the image
 * @blk: the virtual block, free or zero in the map when last looked at
 * @off: byte offset of the write in the block
 * @iter: the data, inside the block
 * @entry: set to the block's entry when it was allocated meanwhile
 * @io_epoch: the request's epoch (vdi_io_enter()); may be moved on
 *
 * Under map_lock: re-check the entry (a concurrent writer may have
 * allocated it while we waited), take a data block (vdi_take_slot()),
 * make it read as zeros (a hole past the end of the file, or stale bytes
 * punched out), write only the bytes the request carries, and only then
 * publish the entry, so a concurrent reader sees either the old zeros or
 * the new data. Writers of the same block wait on the mutex and then
 * write in place. The map sector is written at the next flush.
 *
 * A zero block is allocated like a free one. A write that fails (the file
 * system is full) leaves the file as long as it was.
 *
 * Return: 0 when the data was written, 1 when the block was already
 * allocated (*@entry set; the caller writes in place), or a negative errno.
 */
int vdi_alloc_write(struct vdi_image *img, u32 blk, u32 off,
		    struct iov_iter *iter, u32 *entry, unsigned int *io_epoch)
{
	struct inode *inode = img->file->f_mapping->host;
	struct vdi_spare *spare = NULL;
	u64 start, end, size;
	u32 idx;
	int err;

	err = vdi_lock_slot(img, blk, entry, io_epoch, &idx, &spare);
	if (err)
		goto out;

	start = vdi_block_offset(&img->h, idx);
	end = start + img->h.block_size;
	size = i_size_read(inode);
	if (size > start)
		err = vdi_file_zero(img->file, start, min(size, end) - start,
				    true);
	if (!err && size < end)
		err = vdi_file_truncate(img->file, end);
	if (!err) {
		err = vdi_chain_fill(img, blk, idx, off, iter) ?:
		      vdi_file_rw(img, idx, off, iter);
		/* Best effort: no leaked block past the data after ENOSPC. */
		if (err && size < end)
			vdi_file_truncate(img->file, size);
	}
	if (err) {
		/* The block is zeroed again when it is taken next time. */
		if (spare)
			list_add(&spare->node, &img->spares);
		goto out;
	}

	if (*entry == VDI_BLOCK_ZERO)
		WRITE_ONCE(img->zero, img->zero - 1);
	/* Pairs with vdi_map_get(): the data is written before it is seen. */
	smp_store_release(&img->map[blk], idx);
	if (!spare)
		img->next_free = idx + 1;
	kfree(spare);
	WRITE_ONCE(img->allocated, img->allocated + 1);
	__set_bit(blk >> VDI_MAP_SECTOR_SHIFT, img->dirty);
	img->meta_dirty = true;
out:
	mutex_unlock(&img->map_lock);
	return err;
}

/**
 * vdi_image_flush() - make everything written so far durable
 * @img: the image
 *
 * With new allocations since the last flush: write the header, fsync (the
 * header and the data of every published entry reach stable storage),
 * write the changed map sectors, fsync again. So the data and the header
 * are durable before the map entries that rely on them, at the cost of two
 * fsyncs. map_lock is held throughout, so no entry can be published
 * between the first fsync and the map write - such an entry's data might
 * not be durable yet - and the sectors written are exactly those the last
 * fsync made durable. The one worker runs flushes and allocations in turn,
 * so holding it costs no concurrency. Without allocations a flush is a
 * single fsync.
 *
 * Return: 0 or a negative errno; on failure the metadata stays dirty and
 * the next flush writes it again (see vdi_meta_durable()).
 */
int vdi_image_flush(struct vdi_image *img)
{
	int err;

	if (img->read_only)
		return 0;
	mutex_lock(&img->map_lock);
	err = vdi_flush_locked(img);
	mutex_unlock(&img->map_lock);
	return err;
}

/**
 * vdi_image_modify() - give the image a new modification UUID, once
 * @img: the image, attached read-write
 *
 * Called before the first change after attach, as VirtualBox does: a
 * differencing image names its parent's modification UUID, so a child
 * whose parent was written to since it was made is caught at attach. The
 * new UUID is in the file before the change that needs it is done.
 *
 * Return: 0 or a negative errno (the change must then not be made).
 */
int vdi_image_modify(struct vdi_image *img)
{
	int err = 0;

	/* Pairs with the release below: later callers skip the lock. */
	if (smp_load_acquire(&img->modified))
		return 0;
	mutex_lock(&img->map_lock);
	if (!img->modified) {
		generate_random_guid(img->h.uuid_modify);
		err = vdi_write_header(img);
		if (!err)
			err = vfs_fsync(img->file, 1);
		/* Pairs with the acquire above: the header is in the file. */
		smp_store_release(&img->modified, !err);
	}
	mutex_unlock(&img->map_lock);
	return err;
}

/*
 * A whole allocated block discarded: the entry becomes VDI_BLOCK_ZERO and
 * the data block is punched out, for the space only - nothing reads it
 * any more, so a file that cannot punch keeps it until unbind. The data
 * block joins img->spares, to be reused when that is safe (see the top of
 * this file); without memory for that it stays unused until unbind.
 */
static void vdi_free_block(struct vdi_image *img, u32 blk)
{
	struct vdi_spare *sp;
	u32 entry;

	sp = kmalloc(sizeof(*sp), GFP_NOIO);
	mutex_lock(&img->map_lock);
	entry = img->map[blk];
	if (vdi_entry_allocated(entry)) {
		WRITE_ONCE(img->map[blk], VDI_BLOCK_ZERO);
		WRITE_ONCE(img->allocated, img->allocated - 1);
		WRITE_ONCE(img->zero, img->zero + 1);
		__set_bit(blk >> VDI_MAP_SECTOR_SHIFT, img->dirty);
		img->meta_dirty = true;
		vfs_fallocate(img->file,
			      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      vdi_block_offset(&img->h, entry),
			      img->h.block_size);
		if (sp) {
			sp->slot = entry;
			sp->flush_seq = img->flush_seq;
			/* After the zero entry: see vdi_io_enter(). */
			spin_lock(&img->io_lock);
			sp->epoch = img->epoch;
			spin_unlock(&img->io_lock);
			list_add_tail(&sp->node, &img->spares);
			sp = NULL;
		}
	}
	mutex_unlock(&img->map_lock);
	kfree(sp);
}

/*
 * @len bytes at @off in virtual block @blk. Racing a discard of the whole
 * block, the entry may be freed meanwhile: its data block is not reused
 * while this request is in flight, so zeroing it is harmless.
 */
static int vdi_zero_block(struct vdi_image *img, u32 blk, u32 off, u32 len,
			  bool unmap, unsigned int *io_epoch)
{
	u32 entry = vdi_map_get(img, blk);

	/* Free and zero blocks read as zeros already, unless a parent has it. */
	if (!vdi_entry_allocated(entry))
		return vdi_chain_zero(img, blk, entry, off, len, unmap,
				      io_epoch);
	if (unmap && len == img->h.block_size) {
		vdi_free_block(img, blk);
		return 0;
	}
	return vdi_file_zero(img->file, vdi_block_offset(&img->h, entry) + off,
			     len, unmap);
}

/**
 * vdi_zero_range() - discard or write-zeroes
 * @img: the image, writable
 * @pos: byte offset on the virtual disk
 * @len: bytes
 * @unmap: the space may be given back (discard, and write-zeroes without
 *	REQ_NOUNMAP); else allocated blocks stay allocated
 * @io_epoch: the request's epoch, as for vdi_alloc_write()
 *
 * Per block: free and zero blocks stay as they are, nothing is allocated
 * for them. With @unmap a whole allocated block is freed and part of one
 * punched out of its data block; without, and in a static image always,
 * the range is zeroed in place.
 * Either way the range reads as zeros afterwards.
 *
 * Return: 0 or a negative errno.
 */
int vdi_zero_range(struct vdi_image *img, u64 pos, u64 len, bool unmap,
		   unsigned int *io_epoch)
{
	const u32 bmask = img->h.block_size - 1;
	int err = 0;
	u32 off, n;
	u64 blk;

	/*
	 * A static image keeps every block where it is: other readers take
	 * its data area as a plain array, and "vdisetup compact" refuses it.
	 */
	if (img->h.image_type == VDI_TYPE_FIXED)
		unmap = false;
	while (!err && len) {
		blk = pos >> img->block_shift;
		off = pos & bmask;
		if (blk >= img->h.blocks_in_image)
			return -EIO;
		n = min_t(u64, len, img->h.block_size - off);
		err = vdi_zero_block(img, blk, off, n, unmap, io_epoch);
		pos += n;
		len -= n;
	}
	return err;
}

/*
 * Copies data block @from into the unused data block @to, leaving holes
 * where it reads as zeros, through the page-sized img->buf.
 */
static int vdi_copy_block(struct vdi_image *img, u32 from, u32 to)
{
	const loff_t src = vdi_block_offset(&img->h, from);
	const loff_t dst = vdi_block_offset(&img->h, to);
	u32 done, n;
	int err;

	err = vdi_file_zero(img->file, dst, img->h.block_size, true);
	for (done = 0; !err && done < img->h.block_size; done += n) {
		n = min_t(u32, PAGE_SIZE, img->h.block_size - done);
		err = vdi_read_exact(img->file, img->buf, n, src + done);
		if (!err && memchr_inv(img->buf, 0, n))
			err = vdi_write_exact(img->file, img->buf, n,
					      dst + done);
	}
	return err;
}

/*
 * Moves the data blocks at the end into the unused ones below them, as
 * VirtualBox does, and returns the new count of data blocks. @owner maps
 * each data block to its virtual block or VDI_BLOCK_FREE, and is updated.
 */
static int vdi_pack_data(struct vdi_image *img, u32 *owner, u32 *count)
{
	u32 hole = 0, top = *count;
	int err;

	for (;;) {
		while (top && owner[top - 1] == VDI_BLOCK_FREE)
			top--;
		while (hole < top && owner[hole] != VDI_BLOCK_FREE)
			hole++;
		if (hole >= top)
			break;
		err = vdi_copy_block(img, top - 1, hole);
		if (err)
			return err;
		owner[hole] = owner[top - 1];
		owner[top - 1] = VDI_BLOCK_FREE;
	}
	*count = top;
	return 0;
}

/**
 * vdi_image_pack() - give back the data blocks freed while bound
 * @img: a flushed image with no request in flight: on its device's worker
 *	(vdi_run_quiet(), VDI_DETACH), or the device unbound
 *
 * Moves the last data blocks into the unused ones below them, as
 * VirtualBox does, and brings blocks that other tools left past
 * blocks_in_image below it. QEMU's and our check want blocks_allocated
 * equal to the number of allocated entries. In an order that leaves at
 * worst leaked blocks at every step: copy the last data blocks into the
 * unused ones and fsync; point their entries at the copies and fsync;
 * lower blocks_allocated in the header and fsync; truncate the file.
 * Errors are logged and leave the leaks for "vdisetup compact". Either
 * way no freed block is handed out again: later allocations append.
 */
void vdi_image_pack(struct vdi_image *img)
{
	u32 count, blk, i, *owner = NULL;
	int err = 0;

	if (img->read_only || img->h.image_type == VDI_TYPE_FIXED)
		return;
	mutex_lock(&img->map_lock);
	vdi_drop_spares(img);
	if (img->allocated == img->next_free)
		goto unlock;
	if (img->no_reuse) {
		/* The map on disk may still name a freed block for its owner. */
		pr_warn("%pD: %u freed data blocks not given back after a failed metadata write; \"vdisetup compact\" takes them back\n",
			img->file, img->next_free - img->allocated);
		goto unlock;
	}
	/* Up to the last block in use: blocks_allocated may be far above. */
	for (count = 0, blk = 0; blk < img->h.blocks_in_image; blk++)
		if (vdi_entry_allocated(img->map[blk]))
			count = max(count, img->map[blk] + 1);
	owner = kvmalloc_array(count ?: 1, sizeof(*owner),
			       GFP_KERNEL | __GFP_NOWARN);
	if (!owner) {
		err = -ENOMEM;
		goto unlock;
	}
	memset32(owner, VDI_BLOCK_FREE, count);
	for (blk = 0; blk < img->h.blocks_in_image; blk++)
		if (vdi_entry_allocated(img->map[blk]))
			owner[img->map[blk]] = blk;

	err = vdi_pack_data(img, owner, &count);
	if (!err)
		err = vfs_fsync(img->file, 0);
	if (err)
		goto unlock;
	for (i = 0; i < count; i++) {
		blk = owner[i];
		if (img->map[blk] != i) {
			img->map[blk] = i;
			__set_bit(blk >> VDI_MAP_SECTOR_SHIFT, img->dirty);
		}
	}
	err = vdi_write_map(img);
	if (!err)
		err = vfs_fsync(img->file, 0);
	err = vdi_meta_durable(img, err);
	if (err)
		goto unlock;
	img->next_free = count;
	err = vdi_write_header(img);
	if (!err)
		err = vfs_fsync(img->file, 0);
	if (!err && S_ISREG(file_inode(img->file)->i_mode))
		err = vdi_file_truncate(img->file,
					vdi_block_offset(&img->h, count));
unlock:
	mutex_unlock(&img->map_lock);
	kvfree(owner);
	if (err)
		pr_warn("%pD: freed data blocks not given back: %d\n",
			img->file, err);
}

/**
 * vdi_image_writeback() - the last flush, at unbind
 * @img: the image, with no I/O in flight any more
 *
 * Flushes, once more after a failure (a fault may have passed: every
 * dirty sector is written again), then gives back the freed data blocks.
 * When both flushes fail, the kernel log names the image and how much of
 * the map is lost.
 *
 * Return: 0 or the error of the last flush.
 */
int vdi_image_writeback(struct vdi_image *img)
{
	u32 lost;
	int err;

	err = vdi_image_flush(img);
	if (err)
		err = vdi_image_flush(img);
	if (!err) {
		vdi_image_pack(img);
		return 0;
	}
	lost = bitmap_weight(img->dirty, vdi_map_bytes(&img->h) >> SECTOR_SHIFT);
	pr_err("%pD: writing back the metadata failed (%d): %u block map sectors are not saved; allocations and discards since the last flush are lost (\"vdisetup check\" the image)\n",
	       img->file, err, lost);
	return err;
}

/*
 * The header for @size bytes, in @want: only where the larger map fits
 * where the map is (else -ENOSPC), because moving data blocks out of its
 * way is the offline "vdisetup resize"'s job. Growing only.
 */
static int vdi_grow_header(const struct vdi_image *img, u64 size,
			   struct vdi_header *want)
{
	const struct vdi_header *h = &img->h;
	u64 blocks = DIV_ROUND_UP_ULL(size, h->block_size);
	enum vdi_error verr;

	if (img->read_only)
		return -EROFS;
	/* A static image has every block preallocated, in place. */
	if (h->image_type == VDI_TYPE_FIXED)
		return -EOPNOTSUPP;
	/* A differencing image has its parents' size. */
	if (img->nr_parents)
		return -EOPNOTSUPP;
	if (size % VDI_SECTOR_SIZE || size < vdi_virtual_size(h))
		return -EINVAL;
	if (blocks > VDI_MAX_BLOCKS)
		return -EFBIG;
	*want = *h;
	want->disk_size = size;
	want->blocks_in_image = max_t(u32, blocks, h->blocks_in_image);
	verr = vdi_header_check(want, i_size_read(img->file->f_mapping->host));
	if (verr == VDI_ERR_MAP_OVERLAP)
		return -ENOSPC;
	return verr ? vdi_error_errno(verr) : 0;
}

/*
 * What allocated blocks hold past the end of the disk (the rest of a last
 * block it cuts through, entries past the blocks it needs) was never part
 * of it and may be anything: zeros before the disk grows over it.
 */
static int vdi_clear_past_end(struct vdi_image *img)
{
	const u64 end = vdi_virtual_size(&img->h);
	u32 blk, entry, start;
	u64 pos;
	int err = 0;

	for (blk = end >> img->block_shift;
	     !err && blk < img->h.blocks_in_image; blk++) {
		entry = img->map[blk];
		if (!vdi_entry_allocated(entry))
			continue;
		pos = (u64)blk << img->block_shift;
		start = end > pos ? end - pos : 0;
		err = vdi_file_zero(img->file,
				    vdi_block_offset(&img->h, entry) + start,
				    img->h.block_size - start, true);
	}
	return err;
}

/*
 * With no request in flight: pending metadata first (the map sectors written
 * here must name only durable data); then the new entries, free, into the
 * room before the data, and fsync; then the header that counts them, and
 * fsync. A crash in between leaves the old size. @map and @dirty, sized
 * for @want, replace the image's own, which go back through them.
 */
static int vdi_grow_commit(struct vdi_image *img,
			   const struct vdi_header *want, u32 **map,
			   unsigned long **dirty)
{
	const u32 old = img->h.blocks_in_image;
	const u32 entries = vdi_map_bytes(want) / sizeof(u32);
	struct vdi_header prev = img->h;
	int err;

	err = vdi_sync_meta(img);
	if (!err)
		err = vdi_clear_past_end(img);
	if (err)
		return err;
	memcpy(*map, img->map, vdi_map_bytes(&img->h));
	memset32(*map + old, VDI_BLOCK_FREE, entries - old);
	swap(*map, img->map);
	swap(*dirty, img->dirty);
	bitmap_set(img->dirty, old >> VDI_MAP_SECTOR_SHIFT,
		   (entries >> VDI_MAP_SECTOR_SHIFT) -
		   (old >> VDI_MAP_SECTOR_SHIFT));
	img->h = *want;
	err = vdi_write_map(img);
	if (!err)
		err = vfs_fsync(img->file, 0);
	if (!err)
		err = vdi_write_header(img);
	if (!err)
		err = vfs_fsync(img->file, 0);
	if (err) {
		/* The free entries past its end are harmless. */
		img->h = prev;
		img->meta_dirty = true;
	}
	return vdi_meta_durable(img, err);
}

/**
 * vdi_grow_prepare() - check a larger virtual size and allocate for it
 * @img: the image
 * @size: the new size in bytes, a multiple of 512
 * @g: filled for vdi_grow_apply(); vdi_grow_release() frees it either way
 *
 * The allocations are made here, before the worker runs vdi_grow_apply():
 * reclaim may write to the device.
 *
 * Return: 0; 1 when @size is the size already; -EINVAL for a smaller or
 * unaligned size; -ENOSPC when the map would have to move; -EROFS,
 * -EOPNOTSUPP (static image), or another negative errno.
 */
int vdi_grow_prepare(struct vdi_image *img, u64 size, struct vdi_grow *g)
{
	int err;

	memset(g, 0, sizeof(*g));
	mutex_lock(&img->map_lock);
	err = vdi_grow_header(img, size, &g->want);
	mutex_unlock(&img->map_lock);
	if (err)
		return err;
	if (size == vdi_virtual_size(&img->h))
		return 1;
	g->size = size;
	g->map = kvmalloc(vdi_map_bytes(&g->want), GFP_KERNEL);
	g->dirty = kvcalloc(BITS_TO_LONGS(vdi_map_bytes(&g->want) >>
					  SECTOR_SHIFT),
			    sizeof(unsigned long), GFP_KERNEL);
	return g->map && g->dirty ? 0 : -ENOMEM;
}

/**
 * vdi_grow_apply() - grow the image as prepared (a vdi_quiet_fn)
 * @img: the image, with no request in flight or looking the map up
 * @grow: the struct vdi_grow from vdi_grow_prepare()
 *
 * Return: 0; -EBUSY when another resize came first; or the error of
 * writing the metadata.
 */
int vdi_grow_apply(struct vdi_image *img, void *grow)
{
	struct vdi_grow *g = grow;
	struct vdi_header now;
	int err;

	mutex_lock(&img->map_lock);
	err = vdi_grow_header(img, g->size, &now);
	if (!err && now.blocks_in_image != g->want.blocks_in_image)
		err = -EBUSY;
	if (!err)
		err = vdi_grow_commit(img, &now, &g->map, &g->dirty);
	mutex_unlock(&img->map_lock);
	return err;
}

/**
 * vdi_grow_release() - free what vdi_grow_prepare() allocated
 * @g: the grow; after vdi_grow_apply() it holds the old map
 */
void vdi_grow_release(struct vdi_grow *g)
{
	kvfree(g->dirty);
	kvfree(g->map);
}
