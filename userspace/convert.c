// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup convert: a differencing image and its parents flattened into
 * one base image, dynamic or static, that QEMU and every other VDI reader
 * open on their own: the way out of a chain; or into a raw sparse file,
 * the way out of VirtualBox.
 *
 * The image is built as create builds one, unnamed and named once
 * complete and on disk, so that an interrupted convert leaves no half
 * image behind. The chain is only read.
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
	bool raw;		/* --format raw */
};

static void convert_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup convert [options] FILE OUTPUT\n"
		"\nWrite the content of the VDI image FILE, read through its chain of\n"
		"parents when it is a differencing image, into a new base image\n"
		"OUTPUT of the same size, which any VDI reader opens on its own,\n"
		"or into a raw disk image OUTPUT (--format raw).\n"
		"The parents are found as info finds them. Blocks that read as\n"
		"zeros take no space in a dynamic or raw OUTPUT (holes in a raw\n"
		"one). OUTPUT must not exist (but with --force); it appears only once\n"
		"it is complete. On a block device (--force) it is written in place.\n"
		"FILE is only read.\n"
		"\nOptions:\n"
		"     --parent PARENT  the parent of FILE (again for its parent...)\n"
		"     --format FORMAT  vdi (the default) or raw\n"
		" -s, --static         preallocate every block (a fixed image)\n"
		" -f, --force          replace OUTPUT if it exists, write onto it if it\n"
		"                      is a block device\n"
		"     --accept-changed-parent\n"
		"                      accept parents changed since their child was made\n"
		" -p, --progress       show progress\n"
		" -h, --help           display this help\n");
}

/*
 * Where block @i goes: in place in a static image and a raw file (that
 * one cut at the virtual size), one after the other in a dynamic image.
 * Returns the bytes to write.
 */
static u32 place_block(struct convert *cv, const struct vdi_header *h, u32 i,
		       u32 *next, u64 *off)
{
	u64 start = (u64)i * h->block_size;
	u64 left = vdi_virtual_size(h) - start;

	if (cv->raw) {
		*off = start;
		return left < h->block_size ? left : h->block_size;
	}
	if (h->image_type != VDI_TYPE_FIXED)
		cv->map[i] = (*next)++;
	*off = vdi_block_offset(h, h->image_type == VDI_TYPE_FIXED ?
				i : cv->map[i]);
	return h->block_size;
}

/*
 * The content, block by block. A static image's blocks are in place and
 * already read as zeros, as are a raw file's (a hole); a dynamic one's go
 * one after the other.
 */
static int fill(struct image *out, void *arg)
{
	struct convert *cv = arg;
	struct vdi_header *h = &out->h;
	struct progress p;
	u32 i, len, next = 0;
	int ret = 0;
	u64 off;

	if (cv->raw && image_set_size(out, vdi_virtual_size(h),
				      "cannot size the raw file") < 0)
		return -1;
	progress_begin(&p, cv->progress, "converting", h->blocks_in_image);
	for (i = 0; i < h->blocks_in_image && ret >= 0; i++) {
		progress_add(&p, 1);
		ret = chain_read_block(&cv->c, i, cv->buf);
		if (ret <= 0 || buf_is_zero(cv->buf, h->block_size))
			continue;
		len = place_block(cv, h, i, &next, &off);
		ret = pwrite_full(out->fd, cv->buf, len, off);
		if (ret < 0)
			errmsg_sys(out->path, "cannot write a data block");
	}
	progress_end(&p);
	if (ret < 0 || cv->raw || h->image_type == VDI_TYPE_FIXED)
		return ret < 0 ? -1 : 0;
	h->blocks_allocated = next;
	if (image_write_map(out, cv->map) < 0)
		return -1;
	return image_write_header(out);
}

static int parse_format(struct create_opts *out, const char *arg)
{
	if (!strcmp(arg, "raw"))
		out->raw = true;
	else if (!strcmp(arg, "vdi"))
		out->raw = false;
	else
		return -1;
	return 0;
}

/* Returns -1 to go on, else the exit status (--help, or a bad argument). */
static int parse_args(int argc, char **argv, struct create_opts *out,
		      struct chain_opts *o, bool *progress, const char **path)
{
	enum { OPT_PARENT = 256, OPT_FORMAT, OPT_CHANGED_PARENT };
	static const struct option opts[] = {
		{ "parent",	required_argument,	NULL, OPT_PARENT },
		{ "format",	required_argument,	NULL, OPT_FORMAT },
		{ "static",	no_argument,		NULL, 's' },
		{ "force",	no_argument,		NULL, 'f' },
		{ "accept-changed-parent", no_argument,	NULL, OPT_CHANGED_PARENT },
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
		case OPT_FORMAT:
			if (parse_format(out, optarg) < 0) {
				fprintf(stderr,
					"vdisetup convert: unknown format '%s' (vdi or raw)\n",
					optarg);
				return usage_hint("convert");
			}
			break;
		case 's':
			out->fixed = true;
			break;
		case 'f':
			out->force = true;
			break;
		case OPT_CHANGED_PARENT:
			o->changed_parent = true;
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
	if (operands_wrong("convert", argc, argv, 2, "FILE and OUTPUT"))
		return 1;
	if (out->raw && out->fixed) {
		fprintf(stderr, "vdisetup convert: --static is for VDI output\n");
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

	if (chain_load_maps(&cv->c, true) < 0)
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
	cv->raw = out.raw;
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
