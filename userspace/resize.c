// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup resize: a new virtual size for an offline dynamic image.
 *
 * Growing adds free entries to the block map. Where the larger map no
 * longer fits before the data, it takes the place of the first data
 * blocks, which move to free blocks first. VirtualBox moves them too, but
 * renumbers every entry of the map in place, so a crash in between mixes
 * up blocks; here the new map is written to a place the old one does not
 * use, and the header that switches to it is the last write.
 *
 * Shrinking cuts off blocks that hold no data, and refuses otherwise.
 * Both keep the image valid at every step (blocks.h): interrupted, it
 * keeps its old size and reads as before.
 *
 * An attached image grows through its device (VDI_RESIZE), which shows the
 * new size at once, where the larger map fits before the data; all else
 * needs it detached.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <linux/vdi.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "blocks.h"
#include "image.h"
#include "util.h"
#include "vdisetup.h"

static void resize_usage(FILE *out)
{
	char max[32];

	format_size(max, sizeof(max), IMAGE_MAX_SIZE);
	fprintf(out,
		"Usage:\n"
		" vdisetup resize [options] FILE [+|-]SIZE\n"
		"\nGive a dynamic VDI image a new virtual size: SIZE bytes as for\n"
		"create (+SIZE and -SIZE: that much more or less), a multiple of\n"
		"512 from 1 MiB to %s. Growing keeps\n"
		"the content, and the new space reads as zeros. Shrinking only\n"
		"cuts off blocks that hold no data: it refuses otherwise, and names\n"
		"the first block in the way. Run again after an interruption, it\n"
		"finishes the job. An attached image grows online, its device\n"
		"with it, where the larger block map fits before the data; else\n"
		"it must be detached first.\n"
		"\nOptions:\n"
		" -p, --progress  show progress\n"
		" -h, --help      display this help\n", max);
}

/* A block's place on the virtual disk, exactly: blocks are whole KiB. */
static void format_offset(char *buf, size_t len, u64 off)
{
	if (off % MiB)
		snprintf(buf, len, "%llu KiB", (unsigned long long)(off / KiB));
	else
		snprintf(buf, len, "%llu MiB", (unsigned long long)(off / MiB));
}

/*
 * A last block the new end cuts through counts as cut off: what it holds
 * past the end would come back if the disk grew again. If blocks in use
 * lie past the new block count, the image is compacted first, which moves
 * them into holes and leaves none.
 */
static int resize_down(struct blocks *b, u64 size)
{
	struct vdi_header *h = &b->img->h;
	u32 i, blocks = div_round_up(size, h->block_size);
	char off[32];

	for (i = size / h->block_size; i < b->count; i++) {
		if (!vdi_entry_allocated(b->map[i]))
			continue;
		format_offset(off, sizeof(off), (u64)i * h->block_size);
		errmsg(b->img->path, "cannot shrink: block %u (offset %s) is allocated",
		       i, off);
		return -1;
	}
	if (b->top > blocks && blocks_pack(b) < 0)
		return -1;
	h->disk_size = size;
	h->blocks_in_image = blocks;
	return blocks_finish(b);
}

/*
 * Allocated blocks may reach past the end of the disk: the rest of a last
 * block the end cuts through, or blocks past it in a map larger than the
 * disk needs. What they hold there was never part of the disk and may be
 * anything, and growing would show it: it becomes zeros first. Nothing
 * reads it before the header says so.
 */
static int clear_past_end(struct blocks *b)
{
	struct image *img = b->img;
	const struct vdi_header *h = &img->h;
	u64 end = vdi_virtual_size(h), start;
	bool cleared = false;
	u32 i;

	memset(b->buf, 0, h->block_size);
	for (i = end / h->block_size; i < b->count; i++) {
		if (!vdi_entry_allocated(b->map[i]))
			continue;
		start = (u64)i * h->block_size;
		start = end > start ? end - start : 0;
		if (pwrite_full(img->fd, b->buf, h->block_size - start,
				vdi_block_offset(h, b->map[i]) + start) < 0) {
			errmsg_sys(img->path, "cannot clear a block past the end of the disk");
			return -1;
		}
		cleared = true;
	}
	return cleared ? image_sync(img, "cannot sync the cleared blocks") : 0;
}

/*
 * @count entries where the map is, the new ones free, synced before the
 * header that counts them is written.
 */
static int grow_map(struct blocks *b, u32 count)
{
	u32 n = b->count;

	if (count <= n)
		return 0;
	if (blocks_extend(b, count) < 0 ||
	    image_write_entries(b->img, b->map, n, count - n) < 0)
		return -1;
	b->img->h.blocks_in_image = count;
	return image_sync(b->img, "cannot sync the block map");
}

/*
 * Free data blocks 0 to @k - 1 for the larger map: each one in use moves
 * to the first free block from @k on. The old map must be able to point
 * there, so it first grows in place to used + @k entries if it has fewer,
 * which is enough (of those from @k on, as many are free as there are
 * blocks to move); and blocks_allocated covers them all before the first
 * entry points at one, or check would call the image corrupt meanwhile.
 */
static int relocate(struct blocks *b, u32 k)
{
	struct vdi_header *h = &b->img->h;
	u32 room = b->used + k, from, to = k;
	struct progress p;
	int ret = 0;

	if (grow_map(b, room) < 0)
		return -1;
	if (h->blocks_allocated < room)
		h->blocks_allocated = room;
	if (image_commit_header(b->img) < 0)
		return -1;
	progress_begin(&p, b->progress, "moving blocks", blocks_in_use(b, 0, k));
	for (from = 0; from < k && !ret; from++) {
		if (b->owner[from] == VDI_BLOCK_FREE)
			continue;
		to = blocks_next_free(b, to);
		ret = blocks_move(b, from, to);
		progress_add(&p, 1);
	}
	progress_end(&p);
	return ret;
}

/*
 * The header @want describes, for @size bytes: where the map grows past
 * the data, it moves to the data's place and the data starts @k blocks
 * later. 0, or -1 after saying why the image cannot grow.
 */
static int plan_growth(const struct blocks *b, u64 size,
		       struct vdi_header *want, u32 *k)
{
	const struct vdi_header *h = &b->img->h;
	u64 blocks = div_round_up(size, h->block_size), data;
	const char *path = b->img->path;
	enum vdi_error err;
	char why[160];

	if (blocks > VDI_MAX_BLOCKS) {
		errmsg(path, "cannot grow: too many blocks (%llu, at most %u)",
		       (unsigned long long)blocks, VDI_MAX_BLOCKS);
		return -1;
	}
	*want = *h;
	*k = 0;
	want->disk_size = size;
	want->blocks_in_image = blocks;
	if (h->offset_bmap + vdi_map_bytes(want) > h->offset_data) {
		*k = div_round_up(vdi_map_bytes(want), h->block_size);
		data = h->offset_data + (u64)*k * h->block_size;
		if (data > UINT32_MAX) {
			errmsg(path, "cannot grow: the data would start past 4 GiB");
			return -1;
		}
		want->offset_bmap = h->offset_data;
		want->offset_data = data;
	}
	/* The file grows as needed: only the new fields are in question. */
	err = vdi_header_check(want, UINT64_MAX);
	if (err) {
		vdi_explain(why, sizeof(why), err, want, NULL);
		errmsg(path, "cannot grow: %s", why);
		return -1;
	}
	if (b->used + (u64)*k > (h->offset_data - h->offset_bmap) / sizeof(u32)) {
		errmsg(path, "cannot grow: the larger map needs %u free block(s); %u of %u in use",
		       *k, b->used, h->blocks_in_image);
		return -1;
	}
	return 0;
}

/*
 * Space inside the file no header field points at any more. Giving it back
 * to the filesystem only saves space, so one that cannot punch holes just
 * keeps it.
 */
static void punch(const struct image *img, u64 from, u64 to)
{
	if (to > from)
		(void)fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				from, to - from);
}

static int resize_up(struct blocks *b, u64 size)
{
	struct image *img = b->img;
	struct vdi_header *h = &img->h, want;
	u32 old_bmap = h->offset_bmap, k;

	if (plan_growth(b, size, &want, &k) < 0 || clear_past_end(b) < 0)
		return -1;
	if (!k) {
		if (grow_map(b, want.blocks_in_image) < 0)
			return -1;
		h->disk_size = size;
		return image_commit_header(img);
	}
	if (relocate(b, k) < 0 || blocks_extend(b, want.blocks_in_image) < 0)
		return -1;
	blocks_shift(b, k);
	*h = want;
	/* Into blocks 0 to k - 1, which no entry of the old map uses now. */
	if (image_write_map(img, b->map) < 0 ||
	    image_sync(img, "cannot sync the block map") < 0 ||
	    blocks_finish(b) < 0)
		return -1;
	/* The old map, and what the new one leaves of the blocks it took. */
	punch(img, old_bmap, h->offset_bmap);
	punch(img, h->offset_bmap + vdi_map_bytes(h), h->offset_data);
	return 0;
}

/*
 * Grows the image at @path through the device it is attached to. Returns
 * -1 when it is not attached, else the exit status. The refusal for what
 * only the offline resize does is image_claim()'s.
 */
static int resize_attached(const char *path, u64 size)
{
	struct image img;
	char dev[64];
	int fd, ret = -1;

	if (image_open(&img, path, O_RDONLY) < 0)
		return 1;
	if (!image_attached_as(&img, dev, sizeof(dev)))
		goto out;
	ret = 0;
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, VDI_RESIZE, &size) < 0) {
		if (errno == ENOSPC || errno == EINVAL)
			errmsg(path, "cannot resize: attached as %s; detach it first",
			       dev);
		else
			errmsg(path, "cannot resize %s: %s", dev, strerror(errno));
		ret = 1;
	}
	if (fd >= 0)
		close(fd);
out:
	image_close(&img);
	return ret;
}

/*
 * Returns -1 to go on, else the exit status (--help, or a bad argument).
 * A last argument "-SIZE" is a size, not options: qemu-img resize takes it
 * off before getopt too.
 */
static int parse_args(int argc, char **argv, bool *progress,
		      const char **path, const char **size)
{
	static const struct option opts[] = {
		{ "progress",	no_argument,	NULL, 'p' },
		{ "help",	no_argument,	NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *shrink = NULL;
	int c;

	if (argc >= 3 && argv[argc - 1][0] == '-' &&
	    isdigit((unsigned char)argv[argc - 1][1]))
		shrink = argv[--argc];
	while ((c = getopt_long(argc, argv, "ph", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			*progress = true;
			break;
		case 'h':
			resize_usage(stdout);
			return 0;
		default:
			return usage_hint("resize");
		}
	}
	if (operands_wrong("resize", argc, argv, shrink ? 1 : 2, "FILE and SIZE"))
		return 1;
	*path = argv[optind];
	*size = shrink ? shrink : argv[optind + 1];
	return -1;
}

/* The new size @arg asks for: absolute, or relative to the disk's. */
static int new_size(const char *path, const char *arg, u64 *size)
{
	struct image img;
	int ret;

	if (arg[0] != '+' && arg[0] != '-')
		return image_parse_size(path, arg, size);
	if (image_open(&img, path, O_RDONLY) < 0)
		return -1;
	ret = image_parse_new_size(path, arg, img.h.disk_size, size);
	image_close(&img);
	return ret;
}

int cmd_resize(int argc, char **argv)
{
	const char *path = NULL, *arg = NULL;
	bool progress = false;
	struct image img;
	struct blocks b;
	u64 size = 0;
	int ret;

	ret = parse_args(argc, argv, &progress, &path, &arg);
	if (ret < 0 && new_size(path, arg, &size) < 0)
		ret = 1;
	if (ret < 0)
		ret = resize_attached(path, size);
	if (ret >= 0)
		return ret;
	if (blocks_open(&b, &img, path, "resize") < 0)
		return 1;
	b.progress = progress;
	if (size < vdi_virtual_size(&img.h))
		ret = resize_down(&b, size);
	else if (size > img.h.disk_size)
		ret = resize_up(&b, size);
	else	/* the same size: finish what an interrupted resize left */
		ret = blocks_finish(&b);
	blocks_release(&b);
	image_close(&img);
	return ret ? 1 : 0;
}
