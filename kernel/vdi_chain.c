// SPDX-License-Identifier: GPL-2.0
/*
 * vdi: differencing images - a child read through its parents.
 *
 * A differencing image (type 4) holds only the blocks written since it was
 * made; a VDI_BLOCK_FREE entry passes the block on to its parent, and so
 * on down the chain to a base image, while a VDI_BLOCK_ZERO entry reads
 * zeros whatever the parents hold. The caller of VDI_CTL_ATTACH or
 * VDI_CONFIGURE gives the parents' descriptors, the nearest first; each is
 * opened read-only here, checked as the top image is (header, map), and
 * every link with vdi_chain_check(). Only the top image is ever written.
 *
 * Parents never change while bound, so where each block's data lies is
 * resolved once at attach, into a byte per virtual block (img->level); it
 * is valid as long as the top's entry stays free. The first write to such
 * a block copies the rest of the block from its parent into the new data
 * block before the request's bytes (vdi_alloc_write() calls
 * vdi_chain_fill()), and the entry is published only then, so the map on
 * disk never names a block that lacks the parent's data. A discard of a
 * whole block whose data is in a parent makes the entry VDI_BLOCK_ZERO, so
 * that the parent's data does not show through; part of one is copied up
 * first and then zeroed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "vdi.h"

/* The copy-up buffer: 64 KiB when memory allows, else a page. */
#define VDI_COPY_ORDER	4

/* Image @i of @img's chain: 0 the top, i its i-th parent. */
static struct vdi_image *vdi_chain_img(struct vdi_image *img, u32 i)
{
	return i ? img->parents[i - 1] : img;
}

/*
 * The one dmesg line for a refused link: "vdi: <child>: parent <parent>:
 * <reason>", with the UUIDs that differ; or "vdi: <image>: <reason>" when
 * @parent is NULL.
 */
static void vdi_chain_msg(struct vdi_image *child, struct vdi_image *parent,
			  enum vdi_error verr)
{
	char *buf = kmalloc(2 * PATH_MAX, GFP_KERNEL);
	u8 a[VDI_UUID_SIZE], b[VDI_UUID_SIZE];
	char why[160], more[160] = "";
	char *cpath, *ppath;

	if (!parent)
		vdi_explain(why, sizeof(why), verr, &child->h, NULL);
	else
		vdi_link_explain(why, sizeof(why), verr, &child->h, &parent->h);
	if (parent && verr == VDI_ERR_LINK_UUID) {
		vdi_uuid_swap(a, parent->h.uuid_image);
		vdi_uuid_swap(b, child->h.uuid_link);
		snprintf(more, sizeof(more),
			 " (its UUID is %pUb, the child links to %pUb)", a, b);
	} else if (parent && verr == VDI_ERR_LINK_MODIFIED) {
		vdi_uuid_swap(a, parent->h.uuid_modify);
		vdi_uuid_swap(b, child->h.uuid_parent);
		snprintf(more, sizeof(more),
			 " (modification UUID %pUb, the child expects %pUb)",
			 a, b);
	}
	cpath = buf ? file_path(child->file, buf, PATH_MAX) : ERR_PTR(-ENOMEM);
	if (IS_ERR(cpath))
		cpath = "(unknown path)";
	if (!parent) {
		pr_warn("%s: %s%s\n", cpath, why, more);
	} else {
		ppath = buf ? file_path(parent->file, buf + PATH_MAX, PATH_MAX) :
			      ERR_PTR(-ENOMEM);
		pr_warn("%s: parent %s: %s%s\n", cpath,
			IS_ERR(ppath) ? "(unknown path)" : ppath, why, more);
	}
	kfree(buf);
}

/* A parent's descriptor, opened read-only of our own and checked. */
static struct vdi_image *vdi_parent_open(int fd, u64 *map_budget,
					 u32 *reason)
{
	struct vdi_image *p;
	struct file *file, *own;

	file = vdi_backing_fget(fd);
	if (IS_ERR(file))
		return ERR_CAST(file);
	own = dentry_open(&file->f_path, O_RDONLY | O_LARGEFILE, file->f_cred);
	fput(file);
	if (IS_ERR(own))
		return ERR_CAST(own);
	p = vdi_image_open(own, true, true, map_budget, reason);
	fput(own);
	return p;
}

/*
 * Every link of the chain from the top down. On failure cfg->reason and
 * cfg->reason_level say what and where: for a link, the parent that does
 * not fit its child.
 */
static int vdi_chain_links(struct vdi_image *img, struct vdi_config *cfg)
{
	const struct vdi_header *h[VDI_MAX_CHAIN];
	const u32 n = img->nr_parents + 1;
	struct vdi_image *child;
	enum vdi_error verr;
	u32 i, bad;

	for (i = 0; i < n; i++)
		h[i] = &vdi_chain_img(img, i)->h;
	verr = vdi_chain_check(h, n, cfg->flags & VDI_FLAG_FORCE, &bad);
	if (verr) {
		cfg->reason = verr;
		switch (verr) {
		case VDI_ERR_CHAIN_CYCLE:	/* @bad came round again */
			bad--;
			fallthrough;
		case VDI_ERR_LINK_NOT_DIFF:
		case VDI_ERR_LINK_UUID:
		case VDI_ERR_LINK_DISK_SIZE:
		case VDI_ERR_LINK_BLOCK_SIZE:
		case VDI_ERR_LINK_MODIFIED:
			cfg->reason_level = bad + 1;
			vdi_chain_msg(vdi_chain_img(img, bad),
				      vdi_chain_img(img, bad + 1), verr);
			break;
		default:			/* the last one has a parent */
			cfg->reason_level = bad;
			vdi_chain_msg(vdi_chain_img(img, bad), NULL, verr);
		}
		return vdi_error_errno(verr);
	}
	/* Accepted with VDI_FLAG_FORCE: say so. */
	for (i = 0; i + 1 < n; i++) {
		child = vdi_chain_img(img, i);
		if (vdi_link_check(&child->h, h[i + 1]) == VDI_ERR_LINK_MODIFIED)
			pr_notice("%pD: parent %pD changed since the child was made; attached as forced\n",
				  child->file, vdi_chain_img(img, i + 1)->file);
	}
	return 0;
}

/* Where each block the top does not have lies: img->level. */
static int vdi_chain_resolve(struct vdi_image *img)
{
	struct vdi_image *p;
	u32 blk, i, e;

	img->level = kvzalloc(img->h.blocks_in_image,
			      GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!img->level)
		return -ENOMEM;
	for (blk = 0; blk < img->h.blocks_in_image; blk++) {
		if (!(blk & 0xfff))
			cond_resched();
		if (img->map[blk] != VDI_BLOCK_FREE)
			continue;
		for (i = 0; i < img->nr_parents; i++) {
			p = img->parents[i];
			e = blk < p->h.blocks_in_image ? p->map[blk] :
			    VDI_BLOCK_FREE;
			if (e == VDI_BLOCK_FREE)
				continue;
			if (vdi_entry_allocated(e))
				img->level[blk] = i + 1;
			break;
		}
	}
	return 0;
}

/**
 * vdi_chain_open() - open, check and resolve the parents of an image
 * @img: the top image, opened with its differencing header accepted when
 *	@cfg names parents
 * @cfg: the caller's configuration (parent_fds, nr_parents, the
 *	VDI_FLAG_FORCE flag); reason and reason_level set on refusal
 * @map_budget: bytes of block map the parents may take together
 *	(vdi_image_open())
 *
 * Return: 0 (also without parents), or a negative errno; the parents
 * opened so far go with @img (vdi_image_free()).
 */
int vdi_chain_open(struct vdi_image *img, struct vdi_config *cfg,
		   u64 *map_budget)
{
	const u32 n = cfg->nr_parents;
	struct vdi_image *p;
	s32 *fds;
	int err = 0;
	u32 i;

	if (!n)
		return 0;
	if (n >= VDI_MAX_CHAIN) {
		cfg->reason = VDI_ERR_CHAIN_DEPTH;
		vdi_chain_msg(img, NULL, VDI_ERR_CHAIN_DEPTH);
		return vdi_error_errno(VDI_ERR_CHAIN_DEPTH);
	}
	fds = memdup_user(u64_to_user_ptr(cfg->parent_fds),
			  n * sizeof(*fds));
	if (IS_ERR(fds))
		return PTR_ERR(fds);
	img->parents = kcalloc(n, sizeof(*img->parents), GFP_KERNEL);
	if (!img->parents) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		cfg->reason_level = i + 1;
		p = vdi_parent_open(fds[i], map_budget, &cfg->reason);
		if (IS_ERR(p)) {
			err = PTR_ERR(p);
			goto out;
		}
		img->parents[i] = p;
		img->nr_parents = i + 1;
	}
	cfg->reason_level = 0;
	err = vdi_chain_links(img, cfg);
	if (!err)
		err = vdi_chain_resolve(img);
out:
	kfree(fds);
	return err;
}

/**
 * vdi_chain_free() - drop the parents of an image
 * @img: the image, being freed
 */
void vdi_chain_free(struct vdi_image *img)
{
	u32 i;

	for (i = 0; i < img->nr_parents; i++)
		vdi_image_free(img->parents[i]);
	kfree(img->parents);
	kvfree(img->level);
	img->parents = NULL;
	img->nr_parents = 0;
	img->level = NULL;
}

/*
 * The parent that holds virtual block @blk, whose entry in the top is
 * @entry, or NULL when the block reads as zeros.
 */
static struct vdi_image *vdi_chain_owner(struct vdi_image *img, u32 blk,
					 u32 entry)
{
	if (entry != VDI_BLOCK_FREE || !img->nr_parents || !img->level[blk])
		return NULL;
	return img->parents[img->level[blk] - 1];
}

/**
 * vdi_chain_read() - read from a block the top image does not have
 * @img: the top image
 * @blk: the virtual block
 * @entry: its entry, VDI_BLOCK_FREE or VDI_BLOCK_ZERO
 * @off: byte offset in the block
 * @iter: where the data goes, inside the block
 *
 * Return: 0 or a negative errno.
 */
int vdi_chain_read(struct vdi_image *img, u32 blk, u32 entry, u32 off,
		   struct iov_iter *iter)
{
	struct vdi_image *p = vdi_chain_owner(img, blk, entry);
	size_t len = iov_iter_count(iter);

	if (p)
		return vdi_file_rw(p, p->map[blk], off, iter);
	return iov_iter_zero(len, iter) == len ? 0 : -EIO;
}

/*
 * Copies @len bytes at @off of the block from parent @p's data block @from
 * into the top's new data block @to, which reads as zeros: what is zero in
 * the parent is not written, so the new block stays sparse there.
 */
static int vdi_chain_copy(struct vdi_image *img, struct vdi_image *p,
			  u32 from, u32 to, u32 off, u32 len)
{
	unsigned int order = VDI_COPY_ORDER;
	struct iov_iter iter;
	struct bio_vec bv;
	struct page *page;
	u32 n, size;
	int err = 0;

	if (!len)
		return 0;
	page = alloc_pages(GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN, order);
	if (!page) {
		order = 0;
		page = alloc_page(GFP_NOIO);
		if (!page)
			return -ENOMEM;
	}
	size = PAGE_SIZE << order;
	for (; !err && len; off += n, len -= n) {
		n = min(len, size);
		bvec_set_page(&bv, page, n, 0);
		iov_iter_bvec(&iter, ITER_DEST, &bv, 1, n);
		err = vdi_file_rw(p, from, off, &iter);
		if (err || !memchr_inv(page_address(page), 0, n))
			continue;
		iov_iter_bvec(&iter, ITER_SOURCE, &bv, 1, n);
		err = vdi_file_rw(img, to, off, &iter);
	}
	__free_pages(page, order);
	return err;
}

/**
 * vdi_chain_fill() - copy up what a first write leaves of a parent's block
 * @img: the top image; map_lock held
 * @blk: the virtual block, not yet allocated in the top
 * @idx: the data block it gets, reading as zeros
 * @off: byte offset of the write in the block
 * @iter: the write's data (only its length is used)
 *
 * Called by vdi_alloc_write() before it writes the request's bytes and
 * publishes the entry. Nothing to do when the block reads as zeros (no
 * parent has it, or the top's entry is VDI_BLOCK_ZERO) or the write
 * covers it whole.
 *
 * Return: 0 or a negative errno.
 */
int vdi_chain_fill(struct vdi_image *img, u32 blk, u32 idx, u32 off,
		   const struct iov_iter *iter)
{
	struct vdi_image *p = vdi_chain_owner(img, blk, img->map[blk]);
	u32 end = off + iov_iter_count(iter);
	int err;

	lockdep_assert_held(&img->map_lock);
	if (!p)
		return 0;
	err = vdi_chain_copy(img, p, p->map[blk], idx, 0, off);
	if (!err)
		err = vdi_chain_copy(img, p, p->map[blk], idx, end,
				     img->h.block_size - end);
	return err;
}

/* A whole block of a parent hidden: the top's free entry becomes zero. */
static void vdi_chain_hide(struct vdi_image *img, u32 blk)
{
	mutex_lock(&img->map_lock);
	if (img->map[blk] == VDI_BLOCK_FREE) {
		WRITE_ONCE(img->map[blk], VDI_BLOCK_ZERO);
		WRITE_ONCE(img->zero, img->zero + 1);
		__set_bit(blk >> VDI_MAP_SECTOR_SHIFT, img->dirty);
		img->meta_dirty = true;
	}
	mutex_unlock(&img->map_lock);
}

/**
 * vdi_chain_zero() - discard or write-zeroes in a block the top lacks
 * @img: the top image, writable
 * @blk: the virtual block
 * @entry: its entry, VDI_BLOCK_FREE or VDI_BLOCK_ZERO
 * @off: byte offset in the block
 * @len: bytes
 * @unmap: as for vdi_zero_range()
 * @io_epoch: the request's epoch, as for vdi_alloc_write()
 *
 * Nothing to do when the block reads as zeros already. Else the whole
 * block becomes VDI_BLOCK_ZERO (written at the next flush), and part of
 * one is copied up from the parent by a first write of zeros, and the
 * rest of the range zeroed in the new data block.
 *
 * Return: 0 or a negative errno.
 */
int vdi_chain_zero(struct vdi_image *img, u32 blk, u32 entry, u32 off,
		   u32 len, bool unmap, unsigned int *io_epoch)
{
	u32 n = min_t(u32, len, PAGE_SIZE);
	struct iov_iter iter;
	struct bio_vec bv;
	int err;

	if (!vdi_chain_owner(img, blk, entry))
		return 0;
	if (len == img->h.block_size) {
		vdi_chain_hide(img, blk);
		return 0;
	}
	bvec_set_page(&bv, ZERO_PAGE(0), n, 0);
	iov_iter_bvec(&iter, ITER_SOURCE, &bv, 1, n);
	err = vdi_alloc_write(img, blk, off, &iter, &entry, io_epoch);
	if (err < 0)
		return err;
	/* Allocated meanwhile (err 1), or the first @n bytes written. */
	if (!err && n == len)
		return 0;
	return vdi_zero_range(img, ((u64)blk << img->block_shift) + off, len,
			      unmap, io_epoch);
}

/* Is @inode one of @img's parents? */
static bool vdi_chain_has(const struct vdi_image *img,
			  const struct inode *inode)
{
	u32 i;

	for (i = 0; i < img->nr_parents; i++)
		if (img->parents[i]->file->f_mapping->host == inode)
			return true;
	return false;
}

/**
 * vdi_chain_conflict() - may @a not be bound while @b is?
 * @a: an image being bound
 * @b: a bound image
 *
 * A parent must not change under its children: an image bound writable
 * may not be a parent of the other. Parents shared read-only are fine.
 *
 * Return: true when they conflict.
 */
bool vdi_chain_conflict(const struct vdi_image *a, const struct vdi_image *b)
{
	return (!a->read_only && vdi_chain_has(b, a->file->f_mapping->host)) ||
	       (!b->read_only && vdi_chain_has(a, b->file->f_mapping->host));
}
