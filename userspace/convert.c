// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup convert: a differencing image and its parents flattened into
 * one base image, dynamic or static, that QEMU and every other VDI reader
 * open on their own: the way out of a chain, and out of VirtualBox.
 *
 * The image is built as create builds one, under a temporary name and
 * renamed into place once complete and on disk, so that an interrupted
 * convert leaves no half image behind. The chain is only read.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chain.h"
#include "create.h"
#include "image.h"
#include "util.h"
#include "vdisetup.h"

struct convert {
	struct chain c;
	void *buf;		/* one block */
	u32 *map;		/* of the new dynamic image */
	bool progress;
};

static void convert_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup convert [options] FILE OUTPUT\n"
		"\nWrite the content of the VDI image FILE, read through its chain of\n"
		"parents when it is a differencing image, into a new base image\n"
		"OUTPUT of the same size, which any VDI reader opens on its own.\n"
		"The parents are found as info finds them. Blocks that read as\n"
		"zeros take no space in a dynamic OUTPUT. OUTPUT must not exist;\n"
		"it appears only once it is complete. FILE is only read.\n"
		"\nOptions:\n"
		"     --parent PARENT  the parent of FILE (again for its parent...)\n"
		" -s, --static         preallocate every block (a fixed image)\n"
		" -f, --force          accept parents changed since their child was made\n"
		" -p, --progress       show progress\n"
		" -h, --help           display this help\n");
}

/*
 * The content, block by block. A static image's blocks are in place
 * and already read as zeros; a dynamic one's go one after the other.
 */
static int fill(struct image *out, void *arg)
{
	struct convert *cv = arg;
	struct vdi_header *h = &out->h;
	bool fixed = h->image_type == VDI_TYPE_FIXED;
	struct progress p;
	u32 i, next = 0;
	int ret = 0;

	progress_begin(&p, cv->progress, "converting", h->blocks_in_image);
	for (i = 0; i < h->blocks_in_image && ret >= 0; i++) {
		progress_add(&p, 1);
		ret = chain_read_block(&cv->c, i, cv->buf);
		if (ret <= 0 || buf_is_zero(cv->buf, h->block_size))
			continue;
		if (!fixed)
			cv->map[i] = next++;
		ret = pwrite_full(out->fd, cv->buf, h->block_size,
				  vdi_block_offset(h, fixed ? i : cv->map[i]));
		if (ret < 0)
			errmsg_sys(out->path, "cannot write a data block");
	}
	progress_end(&p);
	if (ret < 0 || fixed)
		return ret < 0 ? -1 : 0;
	h->blocks_allocated = next;
	if (image_write_map(out, cv->map) < 0)
		return -1;
	return image_write_header(out);
}

/* Returns -1 to go on, else the exit status (--help, or a bad argument). */
static int parse_args(int argc, char **argv, struct create_opts *out,
		      struct chain_opts *o, bool *progress, const char **path)
{
	enum { OPT_PARENT = 256 };
	static const struct option opts[] = {
		{ "parent",	required_argument,	NULL, OPT_PARENT },
		{ "static",	no_argument,		NULL, 's' },
		{ "force",	no_argument,		NULL, 'f' },
		{ "progress",	no_argument,		NULL, 'p' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "sfph", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PARENT:
			if (chain_add_parent(o, optarg) < 0)
				return 1;
			break;
		case 's':
			out->fixed = true;
			break;
		case 'f':
			o->force = true;
			break;
		case 'p':
			*progress = true;
			break;
		case 'h':
			convert_usage(stdout);
			return 0;
		default:
			return usage_hint("convert");
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "vdisetup convert: FILE and OUTPUT are needed\n");
		return usage_hint("convert");
	}
	*path = argv[optind];
	out->path = argv[optind + 1];
	return -1;
}

static int convert(struct convert *cv, struct create_opts *out)
{
	const struct vdi_header *h = &cv->c.img[0].h;
	u32 i;

	if (chain_load_maps(&cv->c) < 0)
		return 1;
	cv->buf = malloc(h->block_size);
	cv->map = malloc((size_t)h->blocks_in_image * sizeof(u32));
	if (!cv->buf || !cv->map) {
		errmsg_sys(out->path, "cannot allocate memory");
		return 1;
	}
	for (i = 0; i < h->blocks_in_image; i++)
		cv->map[i] = VDI_BLOCK_FREE;
	out->size = h->disk_size;
	out->block_size = h->block_size;
	out->fill = fill;
	out->arg = cv;
	return create_image(out);
}

int cmd_convert(int argc, char **argv)
{
	struct chain_opts o = { .nparents = 0 };
	struct create_opts out = { .fixed = false };
	const char *path = NULL;
	struct convert *cv;
	bool progress = false;
	int ret;

	ret = parse_args(argc, argv, &out, &o, &progress, &path);
	if (ret >= 0)
		return ret;
	cv = calloc(1, sizeof(*cv));
	if (!cv) {
		errmsg_sys(path, "cannot allocate memory");
		return 1;
	}
	cv->progress = progress;
	ret = chain_open(&cv->c, path, &o);
	if (ret > 0)
		fprintf(stderr, "%s\n", cv->c.why);
	if (!ret)
		ret = convert(cv, &out);
	else
		ret = 1;
	chain_close(&cv->c);
	free(cv->buf);
	free(cv->map);
	free(cv);
	return ret;
}
