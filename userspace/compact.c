// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup compact: give back the space of the blocks that no longer hold
 * data, offline, as VirtualBox's compact does. The last data blocks move
 * into the holes that zero and free entries left, so that the blocks in
 * use become a dense run from data block 0, and the file is cut after it.
 *
 * The order of the writes (blocks.h) keeps the image valid at every step:
 * killed at any point it attaches and reads as before, only larger than
 * it could be, and a second run finishes the job.
 */
#include <getopt.h>
#include <stdbool.h>

#include "blocks.h"
#include "image.h"
#include "util.h"
#include "vdisetup.h"

static void compact_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup compact [options] FILE\n"
		"\nMake a dynamic VDI image as small as the data it holds: move its\n"
		"last data blocks into the places that zero and free blocks left,\n"
		"then cut the file after the last block. The content stays the\n"
		"same, and the image stays valid if the command is interrupted.\n"
		"Never on an attached image.\n"
		"\nOptions:\n"
		" -z, --zero-blocks  first turn data blocks that hold only zeros\n"
		"                    into zero blocks, which take no space\n"
		" -p, --progress     show progress\n"
		" -h, --help         display this help\n");
}

static bool all_zero(const u8 *p, size_t len)
{
	return !p[0] && !memcmp(p, p + 1, len - 1);
}

/*
 * Entries of blocks that hold only zeros become VDI_BLOCK_ZERO, which
 * reads the same. They are all synced before any block moves into the
 * places they free: until then a crash may find either entry, and both
 * read as zeros.
 */
static int zero_blocks(struct blocks *b)
{
	struct image *img = b->img;
	struct progress p;
	u32 i, zeroed = 0;
	int ret = 0;

	progress_begin(&p, b->progress, "finding zero blocks", b->used);
	for (i = 0; i < b->count && !ret; i++) {
		if (!vdi_entry_allocated(b->map[i]))
			continue;
		ret = blocks_read(b, b->map[i]);
		if (!ret && all_zero(b->buf, img->h.block_size)) {
			ret = blocks_point(b, i, VDI_BLOCK_ZERO);
			zeroed++;
		}
		progress_add(&p, 1);
	}
	progress_end(&p);
	if (ret || !zeroed)
		return ret;
	return image_sync(img, "cannot sync the block map");
}

/* Returns -1 to go on, else the exit status (--help, or a bad argument). */
static int parse_args(int argc, char **argv, bool *zero, bool *progress,
		      const char **path)
{
	static const struct option opts[] = {
		{ "zero-blocks",	no_argument,	NULL, 'z' },
		{ "progress",		no_argument,	NULL, 'p' },
		{ "help",		no_argument,	NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "zph", opts, NULL)) != -1) {
		switch (c) {
		case 'z':
			*zero = true;
			break;
		case 'p':
			*progress = true;
			break;
		case 'h':
			compact_usage(stdout);
			return 0;
		default:
			return usage_hint("compact");
		}
	}
	if (operands_wrong("compact", argc, argv, 1, "one FILE"))
		return 1;
	*path = argv[optind];
	return -1;
}

int cmd_compact(int argc, char **argv)
{
	bool zero = false, progress = false;
	const char *path = NULL;
	struct image img;
	struct blocks b;
	int ret;

	ret = parse_args(argc, argv, &zero, &progress, &path);
	if (ret >= 0)
		return ret;
	if (blocks_open(&b, &img, path, "compact") < 0)
		return 1;
	b.progress = progress;
	ret = zero ? zero_blocks(&b) : 0;
	if (!ret)
		ret = blocks_pack(&b);
	if (!ret)
		ret = blocks_finish(&b);
	blocks_release(&b);
	image_close(&img);
	return ret ? 1 : 0;
}
