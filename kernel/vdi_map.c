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
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

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
				 u32 *reason)
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
	verr = vdi_header_check(&img->h, size);
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
 * Makes [@pos, @pos + @len) of the file read as zeros, keeping its size.
 * Only needed when stale bytes lie where a new block goes (a crash left an
 * unreferenced block behind, or the file has trailing bytes).
 */
static int vdi_file_zero(struct file *file, loff_t pos, loff_t len)
{
	int err;

	err = vfs_fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    pos, len);
	if (err != -EOPNOTSUPP)
		return err;
	err = vfs_fallocate(file, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			    pos, len);
	if (err != -EOPNOTSUPP)
		return err;
	return vdi_write_zeroes(file, pos, len);
}

/*
 * Grows a regular file to @size, leaving a hole: the new block reads as
 * zeros without a byte being written, and lies wholly inside the file as
 * vdi_map_check() requires. Runs with the opener's credentials, as a
 * write through the file would.
 */
static int vdi_file_extend(struct file *file, loff_t size)
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
		err = vdi_file_zero(img->file, start, min(size, end) - start);
	if (!err && size < end)
		err = vdi_file_extend(img->file, end);
	if (!err)
		err = vdi_file_rw(img, idx, off, iter);
	if (err)
		goto out;	/* idx stays free; it is zeroed again next time */

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
	ssize_t ret;
	loff_t pos;

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
		pos = img->h.offset_bmap + ((loff_t)s << SECTOR_SHIFT);
		ret = kernel_write(img->file, img->buf, bytes, &pos);
		if (ret != bytes)
			return ret < 0 ? ret : -EIO;
		bitmap_clear(img->dirty, s, n);
		s += n;
	}
	return 0;
}

static int vdi_write_header(struct vdi_image *img)
{
	loff_t pos = 0;
	ssize_t ret;

	img->h.blocks_allocated = img->next_free;
	vdi_header_encode(&img->raw, &img->h);
	ret = kernel_write(img->file, &img->raw, sizeof(img->raw), &pos);
	if (ret != sizeof(img->raw))
		return ret < 0 ? ret : -EIO;
	return 0;
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
	int err = 0;

	if (img->read_only)
		return 0;
	mutex_lock(&img->map_lock);
	if (img->meta_dirty) {
		err = vdi_write_header(img);
		if (!err)
			err = vfs_fsync(img->file, 0);
		if (!err)
			err = vdi_write_map(img);
		if (!err)
			img->meta_dirty = false;
	}
	mutex_unlock(&img->map_lock);
	if (!err)
		err = vfs_fsync(img->file, 0);
	return err;
}
