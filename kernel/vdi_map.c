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
 * its data block is punched out of the file, but the data block is not
 * handed out again while the image is bound: writes to allocated blocks
 * take no lock, and one that looked the entry up before the discard may
 * still land in the old data block. So allocation only ever appends, and
 * the data blocks freed meanwhile are leaked slots below blocks_allocated
 * until unbind, when no I/O is in flight and vdi_image_pack() moves the
 * last data blocks into them. A crash before that leaves leaks only,
 * which "vdisetup compact" and "vdisetup check --repair" take back.
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

/**
 * vdi_image_open() - read and validate the image in @file
 * @file: the backing file; the image takes its own reference
 * @read_only: no write will ever be issued to @file
 * @diff_ok: a differencing image is accepted (its parents are given)
 * @reason: set to the enum vdi_error when the format code refuses the image
 *
 * Everything a bound device needs is allocated here, before any lock is
 * taken, so that binding itself cannot fail for lack of memory and the I/O
 * path never allocates for the map.
 *
 * Return: the image, or an ERR_PTR: vdi_error_errno() for a refused image,
 * else the I/O or allocation error.
 */
struct vdi_image *vdi_image_open(struct file *file, bool read_only,
				 bool diff_ok, u32 *reason)
{
	u64 size = i_size_read(file->f_mapping->host);
	struct vdi_map_stats st = { 0 };
	struct vdi_image *img;
	enum vdi_error verr;
	unsigned long *seen;
	u64 map_bytes;
	int err;

	img = kzalloc(sizeof(*img), GFP_KERNEL);
	if (!img)
		return ERR_PTR(-ENOMEM);
	mutex_init(&img->map_lock);
	INIT_LIST_HEAD(&img->bound_node);
	img->read_only = read_only;

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
	err = -ENOMEM;
	img->map = kvmalloc(map_bytes, GFP_KERNEL);
	seen = kvzalloc(vdi_map_seen_bytes(&img->h), GFP_KERNEL);
	if (!img->map || !seen) {
		kvfree(seen);
		goto fail;
	}
	err = vdi_read_exact(file, img->map, map_bytes, img->h.offset_bmap);
	if (err) {
		kvfree(seen);
		goto fail;
	}
	vdi_map_to_cpu(img->map, img->h.blocks_in_image);
	verr = vdi_map_check(&img->h, img->map, size, seen, &st);
	kvfree(seen);
	if (verr)
		goto refuse;

	img->next_free = st.next_free;
	img->allocated = st.allocated;
	img->zero = st.zero;
	img->block_shift = ilog2(img->h.block_size);
	if (!read_only) {
		err = -ENOMEM;
		img->dirty = kvcalloc(BITS_TO_LONGS(map_bytes >> SECTOR_SHIFT),
				      sizeof(unsigned long), GFP_KERNEL);
		img->buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
		if (!img->dirty || !img->buf)
			goto fail;
	}
	img->file = get_file(file);
	return img;

refuse:
	*reason = verr;
	vdi_refuse_msg(file, verr, &img->h, &st);
	err = vdi_error_errno(verr);
fail:
	vdi_image_free(img);
	return ERR_PTR(err);
}

/**
 * vdi_image_free() - drop the image without writing anything
 * @img: the image; its metadata must have been flushed if it matters
 */
void vdi_image_free(struct vdi_image *img)
{
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

/**
 * vdi_alloc_write() - first write to a virtual block
 * @img: the image
 * @blk: the virtual block, free or zero in the map when last looked at
 * @off: byte offset of the write in the block
 * @iter: the data, inside the block
 * @entry: set to the block's entry when it was allocated meanwhile
 *
 * Under map_lock: re-check the entry (a concurrent writer may have
 * allocated it while we waited), take the next data block at the end of
 * the data area, make it read as zeros (a hole past the end of the file,
 * or stale bytes punched out), write only the bytes the request carries,
 * and only then publish the entry, so a concurrent reader sees either the
 * old zeros or the new data. Writers of the same block wait on the mutex
 * and then write in place. The map sector is written at the next flush.
 *
 * A zero block is allocated like a free one. A write that fails (the file
 * system is full) leaves the file as long as it was.
 *
 * Return: 0 when the data was written, 1 when the block was already
 * allocated (*@entry set; the caller writes in place), or a negative errno.
 */
int vdi_alloc_write(struct vdi_image *img, u32 blk, u32 off,
		    struct iov_iter *iter, u32 *entry)
{
	struct inode *inode = img->file->f_mapping->host;
	u64 start, end, size;
	u32 idx;
	int err;

	mutex_lock(&img->map_lock);
	idx = img->map[blk];
	if (vdi_entry_allocated(idx)) {
		*entry = idx;
		err = 1;
		goto out;
	}
	idx = img->next_free;
	/* Entries must stay below blocks_in_image, or the map is invalid. */
	err = -ENOSPC;
	if (idx >= img->h.blocks_in_image)
		goto out;

	start = vdi_block_offset(&img->h, idx);
	end = start + img->h.block_size;
	size = i_size_read(inode);
	err = 0;
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
	if (err)
		goto out;	/* idx stays free; it is zeroed again next time */

	if (img->map[blk] == VDI_BLOCK_ZERO)
		WRITE_ONCE(img->zero, img->zero - 1);
	/* Pairs with vdi_map_get(): the data is written before it is seen. */
	smp_store_release(&img->map[blk], idx);
	img->next_free = idx + 1;
	WRITE_ONCE(img->allocated, img->allocated + 1);
	__set_bit(blk >> VDI_MAP_SECTOR_SHIFT, img->dirty);
	img->meta_dirty = true;
out:
	mutex_unlock(&img->map_lock);
	return err;
}

/* Writes the dirty map sectors, a page of contiguous sectors at a time. */
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
		bitmap_clear(img->dirty, s, n);
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

/* Header, fsync, dirty map sectors: the first part of a flush. */
static int vdi_write_meta(struct vdi_image *img)
{
	int err;

	lockdep_assert_held(&img->map_lock);
	if (!img->meta_dirty)
		return 0;
	err = vdi_write_header(img);
	if (!err)
		err = vfs_fsync(img->file, 0);
	if (!err)
		err = vdi_write_map(img);
	if (!err)
		img->meta_dirty = false;
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
 * fsyncs. map_lock is held up to the map write, so no entry can be
 * published between the first fsync and the map write - such an entry's
 * data might not be durable yet. Without allocations a flush is a single
 * fsync.
 *
 * Return: 0 or a negative errno; on failure the metadata stays dirty.
 */
int vdi_image_flush(struct vdi_image *img)
{
	int err;

	if (img->read_only)
		return 0;
	mutex_lock(&img->map_lock);
	err = vdi_write_meta(img);
	mutex_unlock(&img->map_lock);
	if (!err)
		err = vfs_fsync(img->file, 0);
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
 * any more, so a file that cannot punch keeps it until unbind.
 */
static void vdi_free_block(struct vdi_image *img, u32 blk)
{
	u32 entry;

	mutex_lock(&img->map_lock);
	entry = img->map[blk];
	if (vdi_entry_allocated(entry)) {
		/* Not reused while bound, see the top of this file. */
		WRITE_ONCE(img->map[blk], VDI_BLOCK_ZERO);
		WRITE_ONCE(img->allocated, img->allocated - 1);
		WRITE_ONCE(img->zero, img->zero + 1);
		__set_bit(blk >> VDI_MAP_SECTOR_SHIFT, img->dirty);
		img->meta_dirty = true;
		vfs_fallocate(img->file,
			      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      vdi_block_offset(&img->h, entry),
			      img->h.block_size);
	}
	mutex_unlock(&img->map_lock);
}

/*
 * @len bytes at @off in virtual block @blk. Racing a discard of the whole
 * block, the entry may be freed meanwhile: its data block is not reused
 * while bound, so zeroing it is harmless.
 */
static int vdi_zero_block(struct vdi_image *img, u32 blk, u32 off, u32 len,
			  bool unmap)
{
	u32 entry = vdi_map_get(img, blk);

	/* Free and zero blocks read as zeros already, unless a parent has it. */
	if (!vdi_entry_allocated(entry))
		return vdi_chain_zero(img, blk, entry, off, len, unmap);
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
 *
 * Per block: free and zero blocks stay as they are, nothing is allocated
 * for them. With @unmap a whole allocated block is freed and part of one
 * punched out of its data block; without, the range is zeroed in place.
 * Either way the range reads as zeros afterwards.
 *
 * Return: 0 or a negative errno.
 */
int vdi_zero_range(struct vdi_image *img, u64 pos, u64 len, bool unmap)
{
	const u32 bmask = img->h.block_size - 1;
	int err = 0;
	u32 off, n;
	u64 blk;

	while (!err && len) {
		blk = pos >> img->block_shift;
		off = pos & bmask;
		if (blk >= img->h.blocks_in_image)
			return -EIO;
		n = min_t(u64, len, img->h.block_size - off);
		err = vdi_zero_block(img, blk, off, n, unmap);
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
 * @img: a flushed image, with no I/O in flight (at unbind)
 *
 * QEMU's and our check want blocks_allocated equal to the number of
 * allocated entries. In an order that leaves at worst leaked blocks at
 * every step: copy the last data blocks into the unused ones and fsync;
 * point their entries at the copies and fsync; lower blocks_allocated in
 * the header and fsync; truncate the file. Errors are logged and leave
 * the leaks for "vdisetup compact".
 */
void vdi_image_pack(struct vdi_image *img)
{
	u32 count = img->next_free, blk, i, *owner;
	int err;

	if (img->read_only || img->allocated == count)
		return;
	owner = kvmalloc_array(count, sizeof(*owner), GFP_KERNEL);
	if (!owner) {
		err = -ENOMEM;
		goto out;
	}
	memset32(owner, VDI_BLOCK_FREE, count);
	for (blk = 0; blk < img->h.blocks_in_image; blk++)
		if (vdi_entry_allocated(img->map[blk]))
			owner[img->map[blk]] = blk;

	mutex_lock(&img->map_lock);
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
out:
	if (err)
		pr_warn("%pD: freed data blocks not given back: %d\n",
			img->file, err);
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
	verr = vdi_header_check(want, i_size_read(file_inode(img->file)));
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
 * With the queue frozen: pending metadata first (the map sectors written
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

	err = vdi_write_meta(img);
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
	return err;
}

/**
 * vdi_image_grow() - a larger virtual size for a bound image
 * @img: the image
 * @q: its device's queue, frozen while the map is replaced
 * @size: the new size in bytes, a multiple of 512
 *
 * Return: 0; -EINVAL for a smaller or unaligned size; -ENOSPC when the
 * map would have to move; -EROFS, -EOPNOTSUPP (static image), -EBUSY (a
 * concurrent resize), or another negative errno.
 */
int vdi_image_grow(struct vdi_image *img, struct request_queue *q, u64 size)
{
	struct vdi_header want, now;
	unsigned long *dirty = NULL;
	unsigned int memflags;
	u32 *map = NULL;
	int err;

	mutex_lock(&img->map_lock);
	err = vdi_grow_header(img, size, &want);
	mutex_unlock(&img->map_lock);
	if (err || size == vdi_virtual_size(&img->h))
		return err;

	/* Before the freeze and map_lock: reclaim may write to the device. */
	map = kvmalloc(vdi_map_bytes(&want), GFP_KERNEL);
	dirty = kvcalloc(BITS_TO_LONGS(vdi_map_bytes(&want) >> SECTOR_SHIFT),
			 sizeof(unsigned long), GFP_KERNEL);
	err = -ENOMEM;
	if (!map || !dirty)
		goto out;

	memflags = vdi_freeze_queue(q);
	mutex_lock(&img->map_lock);
	err = vdi_grow_header(img, size, &now);
	if (!err && now.blocks_in_image != want.blocks_in_image)
		err = -EBUSY;
	if (!err)
		err = vdi_grow_commit(img, &now, &map, &dirty);
	mutex_unlock(&img->map_lock);
	vdi_unfreeze_queue(q, memflags);
out:
	kvfree(dirty);
	kvfree(map);
	return err;
}
