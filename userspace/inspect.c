// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup info and map: read-only views of an image file. Both open the
 * file O_RDONLY, so they cannot change it.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "chain.h"
#include "image.h"
#include "util.h"
#include "vdisetup.h"

/*
 * The options both commands take: --json (or --output), --help, and for
 * info (with @chain) --parent. Returns -1 to go on with the image named
 * in *path, else the exit status.
 */
static int parse_args(int argc, char **argv, void (*usage)(FILE *),
		      bool *json, const char **path, struct chain_opts *chain)
{
	enum { OPT_PARENT = 256, OPT_OUTPUT };
	static const struct option opts[] = {
		{ "json",	no_argument,		NULL, 'J' },
		{ "output",	required_argument,	NULL, OPT_OUTPUT },
		{ "help",	no_argument,		NULL, 'h' },
		{ "parent",	required_argument,	NULL, OPT_PARENT },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option plain[] = {
		{ "json",	no_argument,		NULL, 'J' },
		{ "output",	required_argument,	NULL, OPT_OUTPUT },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "Jh", chain ? opts : plain,
				NULL)) != -1) {
		switch (c) {
		case OPT_PARENT:
			if (chain_add_parent(chain, optarg) < 0)
				return 1;
			break;
		case 'J':
			*json = true;
			break;
		case OPT_OUTPUT:
			if (parse_output(argv[0], optarg, json) < 0)
				return usage_hint(argv[0]);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return usage_hint(argv[0]);
		}
	}
	if (operands_wrong(argv[0], argc, argv, 1, "one FILE"))
		return 1;
	*path = argv[optind];
	return -1;
}

static void info_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup info [options] FILE\n"
		"\nShow every header field of a VDI image, its virtual size and its\n"
		"layout. UUIDs are printed as VirtualBox and qemu-img print them.\n"
		"The allocated, zero and free blocks are counted in the block map\n"
		"('blocks allocated' is the header's counter); the actual size is\n"
		"what the file takes on its filesystem.\n"
		"For a differencing image, the chain of images it is read through\n"
		"follows, one line per image from FILE down to its base image:\n"
		"the parents are found by UUID among the *.vdi files beside each\n"
		"child and one directory up, or given in order with --parent.\n"
		"Exits 1 if the header is not one the vdi driver accepts, or the\n"
		"chain is broken, after showing the fields when the file is a VDI\n"
		"image at all.\n"
		"\nOptions:\n"
		"     --parent PARENT  the parent of FILE (again for its parent...)\n"
		" -J, --json           JSON output\n"
		"     --output=FMT     json or human\n"
		" -h, --help           display this help\n");
}

static const char *type_name(u32 type)
{
	switch (type) {
	case VDI_TYPE_NORMAL:
		return "dynamic";
	case VDI_TYPE_FIXED:
		return "static";
	case VDI_TYPE_UNDO:
		return "undo";
	case VDI_TYPE_DIFF:
		return "differencing";
	default:
		return "unknown";
	}
}

/*
 * VirtualBox puts the map and the data at 1 MiB boundaries, QEMU (and
 * VirtualBox before 4.0) packs them at 512-byte ones from 0x200.
 */
static u32 layout_alignment(const struct vdi_header *h)
{
	u32 bits = h->offset_bmap | h->offset_data | MiB;

	return bits & -bits;
}

static const char *layout_name(const struct vdi_header *h)
{
	if (layout_alignment(h) == MiB)
		return "vbox";
	if (h->offset_bmap == VDI_HEADER_SECTOR_SIZE)
		return "qemu";
	return "other";
}

static void field_uuid(struct fields *f, const char *label,
		       const u8 disk[VDI_UUID_SIZE])
{
	char text[UUID_STR_LEN];

	disk_uuid_unparse(disk, text);
	field_str(f, label, text);
}

/* C/H/S as stored; the sector sizes are fields of their own. */
static void field_chs(struct fields *f, const char *label, __le32 c,
		      __le32 h, __le32 s)
{
	char text[48];

	snprintf(text, sizeof(text), "%u/%u/%u", le32_to_cpu(c),
		 le32_to_cpu(h), le32_to_cpu(s));
	field_str(f, label, text);
}

/* The banner is not NUL-terminated when it fills its 64 bytes. */
static void field_banner(struct fields *f, const struct vdi_disk_header *d)
{
	char text[sizeof(d->banner) + 1];
	size_t len = strnlen(d->banner, sizeof(d->banner));

	memcpy(text, d->banner, len);
	/* Every known banner ends in a newline, which says nothing. */
	if (len && text[len - 1] == '\n')
		len--;
	text[len] = '\0';
	field_str(f, "banner", text);
}

/* What the image is, for people first: sizes, kind, identity. */
static void info_summary(struct fields *f, const struct image *img)
{
	const struct vdi_header *h = &img->h;

	field_str(f, "filename", img->path);
	field_str(f, "format", "vdi");
	field_size(f, "virtual size", vdi_virtual_size(h));
	field_size(f, "file size", img->file_size);
	field_str(f, "type", type_name(h->image_type));
	field_str(f, "layout", layout_name(h));
	field_size(f, "alignment", layout_alignment(h));
	field_u64(f, "block size", h->block_size);
	field_u64(f, "blocks", h->blocks_in_image);
	field_u64(f, "blocks allocated", h->blocks_allocated);
	field_uuid(f, "uuid", h->uuid_image);
	field_uuid(f, "modification uuid", h->uuid_modify);
	field_uuid(f, "link uuid", h->uuid_link);
	field_uuid(f, "parent uuid", h->uuid_parent);
	field_str(f, "comment", h->comment);
}

/*
 * What the block map holds and what the file takes on the host, which
 * compact and resize change. Without a map that can be read, nothing. A
 * map that attach would refuse is said in @why.
 */
static void info_space(struct fields *f, const struct image *img, char *why,
		       size_t len)
{
	u32 *map = image_read_map(img);
	u32 i, allocated = 0, zero = 0;
	struct stat st;

	if (!map)
		return;
	for (i = 0; i < img->h.blocks_in_image; i++) {
		allocated += vdi_entry_allocated(map[i]);
		zero += map[i] == VDI_BLOCK_ZERO;
	}
	image_check_map(img, map, true, why, len);
	free(map);
	field_u64(f, "allocated blocks", allocated);
	field_u64(f, "zero blocks", zero);
	field_u64(f, "free blocks", img->h.blocks_in_image - allocated - zero);
	if (!fstat(img->fd, &st))
		field_size(f, "actual size", (u64)st.st_blocks * 512);
}

/* Where the values start in the output for people, as in util.c. */
#define CHAIN_INDENT	20

/*
 * The images a differencing image is read through, one line each from
 * the top: as far as they were found when the chain is broken.
 */
static void info_chain(struct fields *f, const struct chain *c)
{
	char uuid[UUID_STR_LEN];
	const struct image *img;
	u32 i;

	field_key(f, "chain");
	if (f->json)
		fputc('[', f->out);
	for (i = 0; i < c->n; i++) {
		img = &c->img[i];
		disk_uuid_unparse(img->h.uuid_image, uuid);
		if (!f->json) {
			fprintf(f->out, "%s%*s%u: ", i ? "\n" : "",
				i ? CHAIN_INDENT : 0, "", i);
			print_escaped(f->out, img->path);
			fprintf(f->out, " (%s, %u blocks allocated, uuid %s)",
				type_name(img->h.image_type),
				img->h.blocks_allocated, uuid);
			continue;
		}
		fprintf(f->out, "%s\n        { \"filename\": ", i ? "," : "");
		json_string(f->out, img->path);
		fprintf(f->out, ", \"type\": \"%s\", \"blocks-allocated\": %u, \"uuid\": \"%s\", ",
			type_name(img->h.image_type), img->h.blocks_allocated,
			uuid);
		disk_uuid_unparse(img->h.uuid_modify, uuid);
		fprintf(f->out, "\"modification-uuid\": \"%s\" }", uuid);
	}
	if (f->json)
		fputs("\n    ]", f->out);
}

/* Then the remaining raw fields, in the order of the header. */
static void info_raw(struct fields *f, const struct image *img)
{
	const struct vdi_disk_header *d = &img->disk;
	const struct vdi_header *h = &img->h;
	char version[24];

	snprintf(version, sizeof(version), "%u.%u",
		 h->version >> 16, h->version & 0xffff);
	field_banner(f, d);
	field_hex(f, "signature", h->signature);
	field_str(f, "version", version);
	field_hex(f, "header size", h->header_size);
	field_u64(f, "image type", h->image_type);
	field_hex(f, "flags", h->image_flags);
	field_hex(f, "map offset", h->offset_bmap);
	field_hex(f, "data offset", h->offset_data);
	field_chs(f, "legacy geometry", d->legacy_cylinders,
		  d->legacy_heads, d->legacy_sectors);
	field_u64(f, "sector size", h->legacy_sector_size);
	field_u64(f, "disk size", h->disk_size);
	field_u64(f, "block extra", h->block_extra);
	/* The logical geometry exists only in the 0x190 "plus" header. */
	if (h->header_size < VDI_HEADER_SIZE_PLUS)
		return;
	field_chs(f, "lchs geometry", d->lchs_cylinders, d->lchs_heads,
		  d->lchs_sectors);
	field_u64(f, "lchs sector size", h->lchs_sector_size);
}

/*
 * The chain of a differencing image (or of any image given parents):
 * 0 none to show, 1 in @c (chain_close() it), -1 failed (printed).
 */
static int open_chain(struct chain *c, const struct image *img,
		      const struct chain_opts *o, char *why, size_t len)
{
	int ret;

	if (img->h.image_type != VDI_TYPE_DIFF && !o->nparents)
		return 0;
	ret = chain_open(c, img->path, o);
	if (ret < 0) {
		chain_close(c);
		return -1;
	}
	if (ret)
		snprintf(why, len, "%s", c->why);
	return 1;
}

int cmd_info(int argc, char **argv)
{
	struct chain_opts o = { .nparents = 0 };
	struct chain *c = NULL;
	struct image img;
	struct fields f;
	enum vdi_error err;
	const char *path = NULL;
	bool json = false;
	char why[512] = "";
	int ret;

	ret = parse_args(argc, argv, info_usage, &json, &path, &o);
	if (ret >= 0)
		return ret;
	if (image_open(&img, path, O_RDONLY) < 0)
		return 1;
	err = image_check_chain_header(&img);
	/* Fields of a file that is no VDI image at all would be noise. */
	if (err == VDI_ERR_SHORT_FILE || err == VDI_ERR_SIGNATURE) {
		image_close(&img);
		return 1;
	}
	c = err ? NULL : malloc(sizeof(*c));
	ret = c ? open_chain(c, &img, &o, why, sizeof(why)) : 0;
	if (ret < 0) {
		free(c);
		image_close(&img);
		return 1;
	}
	fields_open(&f, stdout, json);
	info_summary(&f, &img);
	if (!err)
		info_space(&f, &img, why, sizeof(why));
	if (ret > 0)
		info_chain(&f, c);
	image_close(&img);
	info_raw(&f, &img);
	if (err)
		vdi_explain(why, sizeof(why), err, &img.h, NULL);
	field_bool(&f, "valid", !why[0]);
	if (why[0])
		field_str(&f, "error", why);
	fields_close(&f);
	if (ret > 0)
		chain_close(c);
	free(c);
	return why[0] ? 1 : 0;
}

static void map_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup map [options] FILE\n"
		"\nShow which ranges of the virtual disk have data in the image\n"
		"and where, and which read as zeros. Adjacent ranges are merged,\n"
		"data ranges when their file offsets are contiguous too, as\n"
		"'qemu-img map' does; --json prints the same extents as\n"
		"'qemu-img map --output=json' for dynamic images.\n"
		"\nOptions:\n"
		" -J, --json        JSON output\n"
		"     --output=FMT  json or human\n"
		" -h, --help        display this help\n");
}

struct extent {
	u64 start;
	u64 length;
	u64 offset;		/* in the file, for data */
	bool data;
};

static void print_extent(const struct extent *e, bool json, bool first)
{
	char mapped[24] = "-";

	if (!json) {
		if (e->data)
			snprintf(mapped, sizeof(mapped), "%#llx",
				 (unsigned long long)e->offset);
		printf("%#-16llx%#-16llx%-16s%s\n", (unsigned long long)e->start,
		       (unsigned long long)e->length, mapped,
		       e->data ? "data" : "zero");
		return;
	}
	printf("%s{ \"start\": %llu, \"length\": %llu, ", first ? "[" : ",\n",
	       (unsigned long long)e->start, (unsigned long long)e->length);
	printf("\"depth\": 0, \"present\": true, \"zero\": %s, \"data\": %s",
	       e->data ? "false" : "true", e->data ? "true" : "false");
	if (e->data)
		printf(", \"offset\": %llu", (unsigned long long)e->offset);
	putchar('}');
}

/* Block by block, merging each into the current extent where it can. */
static void print_map(const struct image *img, const u32 *map, bool json)
{
	const struct vdi_header *h = &img->h;
	u64 size = vdi_virtual_size(h), pos;
	struct extent cur = { 0 }, next;
	bool first = true;
	u32 i;

	if (!json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		       "Type");
	for (i = 0, pos = 0; pos < size; i++, pos += h->block_size) {
		next.start = pos;
		next.length = size - pos < h->block_size ?
			      size - pos : h->block_size;
		next.data = vdi_entry_allocated(map[i]);
		next.offset = next.data ? vdi_block_offset(h, map[i]) : 0;
		if (cur.length && cur.data == next.data &&
		    (!cur.data || cur.offset + cur.length == next.offset)) {
			cur.length += next.length;
			continue;
		}
		if (cur.length) {
			print_extent(&cur, json, first);
			first = false;
		}
		cur = next;
	}
	print_extent(&cur, json, first);
	if (json)
		puts("]");
}

/*
 * The map is shown as it is, as qemu-img shows it, but a map the driver
 * would refuse gets a warning: its data ranges are not to be trusted.
 */
static void warn_bad_map(const struct image *img, const u32 *map)
{
	char why[160];

	if (image_check_map(img, map, true, why, sizeof(why)) > 0)
		errmsg(img->path, "warning: %s; run 'vdisetup check'", why);
}

int cmd_map(int argc, char **argv)
{
	struct image img;
	const char *path = NULL;
	bool json = false;
	u32 *map = NULL;
	int ret;

	ret = parse_args(argc, argv, map_usage, &json, &path, NULL);
	if (ret >= 0)
		return ret;
	if (image_open(&img, path, O_RDONLY) < 0)
		return 1;
	if (!image_check_header(&img))
		map = image_read_map(&img);
	image_close(&img);
	if (!map)
		return 1;
	warn_bad_map(&img, map);
	print_map(&img, map, json);
	free(map);
	return 0;
}
