// SPDX-License-Identifier: GPL-2.0
/* vdisetup: moving data blocks inside an image, see blocks.h. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "blocks.h"
#include "util.h"

int blocks_init(struct blocks *b, struct image *img, u32 *map)
{
	u32 i, n = img->h.blocks_in_image;

	memset(b, 0, sizeof(*b));
	b->img = img;
	b->map = map;
	b->count = n;
	b->owner = malloc((size_t)n * sizeof(u32));
	b->buf = malloc(img->h.block_size);
	if (!b->owner || !b->buf) {
		errmsg_sys(img->path, "cannot allocate memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		b->owner[i] = VDI_BLOCK_FREE;
	for (i = 0; i < n; i++) {
		if (!vdi_entry_allocated(map[i]))
			continue;
		b->owner[map[i]] = i;
		b->used++;
		if (map[i] >= b->top)
			b->top = map[i] + 1;
	}
	return 0;
}

void blocks_release(struct blocks *b)
{
	free(b->map);
	free(b->owner);
	free(b->buf);
	b->map = NULL;
	b->owner = NULL;
	b->buf = NULL;
}

int blocks_open(struct blocks *b, struct image *img, const char *path,
		const char *what)
{
	char why[160];
	u32 *map;
	int ret;

	memset(b, 0, sizeof(*b));
	if (image_open(img, path, O_RDWR) < 0)
		return -1;
	if (image_check_header(img))
		goto fail;
	/* VirtualBox keeps a fixed image's blocks in place, and so do we. */
	if (img->h.image_type == VDI_TYPE_FIXED) {
		errmsg(path, "cannot %s: static image (every block is preallocated)",
		       what);
		goto fail;
	}
	if (image_claim(img, what) < 0)
		goto fail;
	map = image_read_map(img);
	if (!map)
		goto fail;
	ret = image_check_map(img, map, false, why, sizeof(why));
	if (ret > 0)
		errmsg(path, "cannot %s: %s; run 'vdisetup check --repair'",
		       what, why);
	if (ret) {
		free(map);
		goto fail;
	}
	if (blocks_init(b, img, map) < 0) {
		blocks_release(b);
		goto fail;
	}
	return 0;
fail:
	image_close(img);
	return -1;
}

int blocks_extend(struct blocks *b, u32 count)
{
	size_t len = (size_t)count * sizeof(u32);
	u32 *p;

	p = realloc(b->map, len);
	if (!p)
		goto nomem;
	b->map = p;
	p = realloc(b->owner, len);
	if (!p)
		goto nomem;
	b->owner = p;
	for (; b->count < count; b->count++) {
		b->map[b->count] = VDI_BLOCK_FREE;
		b->owner[b->count] = VDI_BLOCK_FREE;
	}
	return 0;
nomem:
	errmsg_sys(b->img->path, "cannot allocate memory");
	return -1;
}

u32 blocks_next_free(const struct blocks *b, u32 from)
{
	while (b->owner[from] != VDI_BLOCK_FREE)
		from++;
	return from;
}

u32 blocks_in_use(const struct blocks *b, u32 first, u32 end)
{
	u32 n = 0;

	for (; first < end; first++)
		n += b->owner[first] != VDI_BLOCK_FREE;
	return n;
}

int blocks_read(struct blocks *b, u32 block)
{
	const struct vdi_header *h = &b->img->h;
	ssize_t n;

	n = pread_full(b->img->fd, b->buf, h->block_size,
		       vdi_block_offset(h, block));
	/* Blocks in use lie inside the file, unless it shrank meanwhile. */
	if (n >= 0 && n < h->block_size)
		errno = EIO;
	if (n < h->block_size) {
		errmsg_sys(b->img->path, "cannot read a data block");
		return -1;
	}
	return 0;
}

int blocks_point(struct blocks *b, u32 index, u32 entry)
{
	u32 old = b->map[index];

	if (vdi_entry_allocated(old)) {
		b->owner[old] = VDI_BLOCK_FREE;
		b->used--;
	}
	if (vdi_entry_allocated(entry)) {
		b->owner[entry] = index;
		b->used++;
		if (entry >= b->top)
			b->top = entry + 1;
	}
	b->map[index] = entry;
	while (b->top && b->owner[b->top - 1] == VDI_BLOCK_FREE)
		b->top--;
	return image_write_entries(b->img, b->map, index, 1);
}

int blocks_adopt(struct blocks *b, u32 index, u32 from, u32 to)
{
	struct image *img = b->img;

	if (blocks_read(b, from) < 0)
		return -1;
	if (pwrite_full(img->fd, b->buf, img->h.block_size,
			vdi_block_offset(&img->h, to)) < 0) {
		errmsg_sys(img->path, "cannot write a data block");
		return -1;
	}
	/* The copy is on disk before any entry points at it. */
	if (image_sync(img, "cannot sync a moved data block") < 0)
		return -1;
	/* And the entry is, before the place it left is reused or cut off. */
	if (blocks_point(b, index, to) < 0)
		return -1;
	return image_sync(img, "cannot sync the block map");
}

int blocks_move(struct blocks *b, u32 from, u32 to)
{
	return blocks_adopt(b, b->owner[from], from, to);
}

/*
 * VirtualBox's compact does the same: then blocks_allocated can equal the
 * number of blocks in use, as QEMU's check wants, and a new block still
 * goes after all of them. While the top is above b->used, a hole is below.
 */
int blocks_pack(struct blocks *b)
{
	struct progress p;
	u32 hole = 0;
	int ret = 0;

	progress_begin(&p, b->progress, "moving blocks",
		       blocks_in_use(b, b->used, b->top));
	while (b->top > b->used && !ret) {
		hole = blocks_next_free(b, hole);
		ret = blocks_move(b, b->top - 1, hole);
		progress_add(&p, 1);
	}
	progress_end(&p);
	return ret;
}

void blocks_shift(struct blocks *b, u32 k)
{
	u32 i;

	for (i = 0; i < b->count; i++)
		if (vdi_entry_allocated(b->map[i]))
			b->map[i] -= k;
	memmove(b->owner, b->owner + k, (size_t)(b->count - k) * sizeof(u32));
	for (i = b->count - k; i < b->count; i++)
		b->owner[i] = VDI_BLOCK_FREE;
	/* An image with no block in use may have its top below @k. */
	b->top = b->top > k ? b->top - k : 0;
}

/*
 * The header first: until it is on disk its old blocks_allocated covers
 * every block the file still holds. A new block past the last one in use
 * may then find old bytes there until the file is cut, as after a crash
 * between the two; the driver zeroes what it does not write.
 */
int blocks_finish(struct blocks *b)
{
	struct image *img = b->img;
	struct stat st;
	u64 end;

	img->h.blocks_allocated = b->top;
	if (image_commit_header(img) < 0)
		return -1;
	end = vdi_block_offset(&img->h, b->top);
	if (fstat(img->fd, &st) < 0) {
		errmsg_sys(img->path, "cannot get the file type");
		return -1;
	}
	/* A partition or a volume holding the image keeps its size. */
	if (!S_ISREG(st.st_mode) || (u64)st.st_size == end)
		return 0;
	if (image_set_size(img, end, "cannot set the file size") < 0)
		return -1;
	return image_sync(img, "cannot sync the file size");
}
