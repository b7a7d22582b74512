// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup check: every problem of an image rather than the first one the
 * driver stops at, with the exit codes of qemu-img check (0 clean, 1 not
 * checked, 2 corrupt, 3 leaks only). The rules are the format library's:
 * vdi_header_check() for the header, vdi_entry_check() for each entry.
 *
 * Corruptions can lose or mix up data: a bad header, map entries out of
 * range, past the end of the file or used twice, and a blocks_allocated
 * that lets the next new block overwrite one in use. Leaks only waste
 * space: data blocks no entry uses, inside the data area or past its end,
 * and a blocks_allocated larger than what the map uses.
 *
 * --repair never drops a block that holds data. Bad and duplicate entries
 * (the later one) are cleared, as VirtualBox's repair does; a block the
 * file ends inside is completed with zeros; unused blocks are squeezed out
 * by moving the last block into each hole; blocks_allocated is set and the
 * file truncated after the last block. Each step is synced before the next
 * one depends on it, so a crash at any point leaves at worst a leak.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "image.h"
#include "util.h"
#include "vdisetup.h"

enum {
	CHECK_CLEAN	= 0,
	CHECK_FAILED	= 1,	/* could not check */
	CHECK_CORRUPT	= 2,
	CHECK_LEAKS	= 3,
};

enum problem { CORRUPTION, LEAK };

struct check {
	struct image img;
	bool json;
	bool quiet;		/* count only: the JSON re-check after repair */
	bool header_ok;		/* so the map was checked */
	u32 *map;		/* bad entries cleared, good ones kept */
	u32 *owner;		/* data block -> its entry, below top */
	u32 corruptions;
	u32 leaks;
	u32 allocated;		/* good entries */
	u32 zero;		/* VDI_BLOCK_ZERO entries */
	u32 top;		/* highest data block of a good entry, + 1 */
	u32 cleared;		/* bad entries cleared in map */
	u32 moved;		/* blocks moved into holes */
	u64 need_size;		/* file size the good blocks need */
};

static void check_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup check [options] FILE\n"
		"\nCheck a VDI image for every problem the vdi driver, QEMU or\n"
		"VirtualBox could trip over. Exit status as qemu-img check:\n"
		"0 no problems, 1 not checked, 2 corruptions, 3 leaks only.\n"
		"\nOptions:\n"
		" -r, --repair  fix what was found without dropping any block\n"
		"               that holds data (never on an attached image)\n"
		" -J, --json    JSON output\n"
		" -h, --help    display this help\n");
}

static __attribute__((format(printf, 3, 4)))
void report(struct check *c, enum problem kind, const char *fmt, ...)
{
	bool first = !c->corruptions && !c->leaks;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (kind == CORRUPTION)
		c->corruptions++;
	else
		c->leaks++;
	if (c->quiet)
		return;
	if (!c->json) {
		printf("%s: %s\n", kind == CORRUPTION ? "ERROR" : "Leak", msg);
		return;
	}
	printf("%s\n        { \"type\": \"%s\", \"message\": ",
	       first ? "" : ",", kind == CORRUPTION ? "corruption" : "leak");
	json_string(stdout, msg);
	fputs(" }", stdout);
}

/* Not a VDI image at all, or a kind of VDI image the library refuses. */
static bool header_uncheckable(enum vdi_error err)
{
	return err == VDI_ERR_SHORT_FILE || err == VDI_ERR_SIGNATURE ||
	       vdi_error_errno(err) == -EOPNOTSUPP;
}

/*
 * vdi_header_check()'s verdict, except that a blocks_allocated too large
 * for the image is left to check_counts() when nothing else is wrong:
 * repair can fix that one.
 */
static enum vdi_error header_verdict(const struct image *img)
{
	struct vdi_header h = img->h;
	enum vdi_error err = vdi_header_check(&h, img->file_size);

	if (err != VDI_ERR_BLOCKS_ALLOCATED)
		return err;
	h.blocks_allocated = h.blocks_in_image;
	return vdi_header_check(&h, img->file_size);
}

/*
 * Open the image and make sure there is something to check: a VDI image
 * of a kind the library supports. Damage is for check_image() to report.
 */
static int open_image(struct check *c, const char *path, int flags)
{
	enum vdi_error err;
	char why[160];

	if (image_open(&c->img, path, flags) < 0)
		return -1;
	err = header_verdict(&c->img);
	if (!header_uncheckable(err))
		return 0;
	vdi_explain(why, sizeof(why), err, &c->img.h, NULL);
	errmsg(path, "%s", why);
	image_close(&c->img);
	return -1;
}

static void check_entry(struct check *c, u32 i, unsigned long *seen)
{
	struct vdi_map_stats st = { .bad_index = i, .bad_entry = c->map[i] };
	const struct vdi_header *h = &c->img.h;
	u64 start = vdi_block_offset(h, c->map[i]);
	enum vdi_error err;
	char why[160];

	if (c->map[i] == VDI_BLOCK_ZERO)
		c->zero++;
	if (!vdi_entry_allocated(c->map[i]))
		return;
	err = vdi_entry_check(h, c->map[i], c->img.file_size, seen);
	if (err)
		vdi_explain(why, sizeof(why), err, h, &st);
	if (err == VDI_ERR_ENTRY_PAST_EOF && start < c->img.file_size) {
		/* What the file holds of the block is data: keep it. */
		report(c, CORRUPTION, "%s; the file ends inside the block", why);
		if (start + h->block_size > c->need_size)
			c->need_size = start + h->block_size;
	} else if (err) {
		report(c, CORRUPTION, "%s", why);
		c->map[i] = VDI_BLOCK_FREE;
		c->cleared++;
		return;
	}
	c->allocated++;
	if (c->map[i] >= c->top)
		c->top = c->map[i] + 1;
}

/* Data blocks below the top that no good entry uses. */
static int find_holes(struct check *c)
{
	const struct vdi_header *h = &c->img.h;
	u32 i;

	/* One spare entry, so that an empty map is no failed malloc(0). */
	c->owner = malloc(((size_t)c->top + 1) * sizeof(u32));
	if (!c->owner) {
		errmsg_sys(c->img.path, "cannot allocate memory");
		return -1;
	}
	for (i = 0; i < c->top; i++)
		c->owner[i] = VDI_BLOCK_FREE;
	for (i = 0; i < h->blocks_in_image; i++)
		if (vdi_entry_allocated(c->map[i]))
			c->owner[c->map[i]] = i;
	for (i = 0; i < c->top; i++)
		if (c->owner[i] == VDI_BLOCK_FREE)
			report(c, LEAK, "data block %u at %#llx is not used by any map entry",
			       i, (unsigned long long)vdi_block_offset(h, i));
	return 0;
}

/*
 * blocks_allocated is where the next new block goes: below the top it
 * would overwrite a block in use. The file should end with the top block.
 */
static void check_counts(struct check *c)
{
	const struct vdi_header *h = &c->img.h;
	u64 end = vdi_block_offset(h, c->top);	/* of the top block */
	char why[160];

	if (h->blocks_allocated > h->blocks_in_image) {
		vdi_explain(why, sizeof(why), VDI_ERR_BLOCKS_ALLOCATED, h, NULL);
		report(c, CORRUPTION, "%s", why);
	} else if (h->blocks_allocated < c->top) {
		report(c, CORRUPTION, "blocks_allocated is %u but data block %u is in use",
		       h->blocks_allocated, c->top - 1);
	} else if (h->blocks_allocated > c->top) {
		report(c, LEAK, "blocks_allocated is %u but no entry uses data block %u or later",
		       h->blocks_allocated, c->top);
	}
	if (c->img.file_size > end)
		report(c, LEAK, "%llu bytes past the last data block in use (file size %llu)",
		       (unsigned long long)(c->img.file_size - end),
		       (unsigned long long)c->img.file_size);
}

static int check_map(struct check *c)
{
	unsigned long *seen;
	u32 i;

	c->map = image_read_map(&c->img);
	if (!c->map)
		return -1;
	seen = calloc(1, vdi_map_seen_bytes(&c->img.h));
	if (!seen) {
		errmsg_sys(c->img.path, "cannot allocate memory");
		return -1;
	}
	for (i = 0; i < c->img.h.blocks_in_image; i++)
		check_entry(c, i, seen);
	free(seen);
	if (find_holes(c) < 0)
		return -1;
	check_counts(c);
	return 0;
}

/* Report everything found in the image open_image() opened. */
static int check_image(struct check *c)
{
	enum vdi_error err = header_verdict(&c->img);
	char why[160];

	if (err) {
		vdi_explain(why, sizeof(why), err, &c->img.h, NULL);
		report(c, CORRUPTION, "%s", why);
		return 0;
	}
	c->header_ok = true;
	return check_map(c);
}

static void check_free(struct check *c)
{
	image_close(&c->img);
	free(c->map);
	free(c->owner);
}

/*
 * Another program with the image open for writing (QEMU takes such locks)
 * must not see blocks move under it.
 */
static int lock_image(const struct image *img)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(img->fd, F_OFD_SETLK, &fl) < 0) {
		errmsg_sys(img->path, "cannot lock the image for repair");
		return -1;
	}
	return 0;
}

static int resize_file(struct check *c, u64 size, const char *what)
{
	if (ftruncate(c->img.fd, size) < 0) {
		errmsg_sys(c->img.path, what);
		return -1;
	}
	c->img.file_size = size;
	return 0;
}

static int move_block(struct check *c, u32 from, u32 to, void *buf)
{
	const struct vdi_header *h = &c->img.h;
	ssize_t n;

	n = pread_full(c->img.fd, buf, h->block_size,
		       vdi_block_offset(h, from));
	/* Blocks in use lie inside the file, unless it shrank meanwhile. */
	if (n >= 0 && n < h->block_size)
		errno = EIO;
	if (n < h->block_size) {
		errmsg_sys(c->img.path, "cannot read a data block");
		return -1;
	}
	if (pwrite_full(c->img.fd, buf, h->block_size,
			vdi_block_offset(h, to)) < 0) {
		errmsg_sys(c->img.path, "cannot write a data block");
		return -1;
	}
	c->owner[to] = c->owner[from];
	c->owner[from] = VDI_BLOCK_FREE;
	c->map[c->owner[to]] = to;
	c->moved++;
	return 0;
}

/*
 * Move the last block in use into the first hole until there is none, as
 * VirtualBox's compact does: then blocks_allocated can equal the number of
 * blocks in use, as QEMU's check wants, and the next new block still
 * overwrites nothing. The copies go to blocks no entry uses; the map is
 * pointed at them only after they are synced.
 */
static int close_holes(struct check *c)
{
	u32 hole = 0, last = c->top;
	void *buf;
	int ret = 0;

	if (c->allocated == c->top)
		return 0;
	buf = malloc(c->img.h.block_size);
	if (!buf) {
		errmsg_sys(c->img.path, "cannot allocate memory");
		return -1;
	}
	for (;;) {
		while (hole < last && c->owner[hole] != VDI_BLOCK_FREE)
			hole++;
		while (last > hole && c->owner[last - 1] == VDI_BLOCK_FREE)
			last--;
		if (hole == last)
			break;
		ret = move_block(c, last - 1, hole, buf);
		if (ret)
			break;
	}
	free(buf);
	c->top = c->allocated;
	return ret;
}

/*
 * Data first (blocks completed, holes filled), then the map, then the
 * header, then the truncation, each synced: the map never points at data
 * that is not on disk, and until the header is written its old
 * blocks_allocated stays above every entry the new map has.
 */
static int repair(struct check *c)
{
	struct vdi_header *h = &c->img.h;
	u64 end;

	if (c->need_size > c->img.file_size &&
	    resize_file(c, c->need_size, "cannot complete a data block") < 0)
		return -1;
	if (close_holes(c) < 0 || image_sync(&c->img, "cannot sync the data") < 0)
		return -1;
	if ((c->cleared || c->moved) &&
	    (image_write_map(&c->img, c->map) < 0 ||
	     image_sync(&c->img, "cannot sync the block map") < 0))
		return -1;
	if (h->blocks_allocated != c->top) {
		h->blocks_allocated = c->top;
		if (image_write_header(&c->img) < 0 ||
		    image_sync(&c->img, "cannot sync the header") < 0)
			return -1;
	}
	end = vdi_block_offset(h, c->top);
	if (c->img.file_size > end &&
	    (resize_file(c, end, "cannot truncate the leaked blocks") < 0 ||
	     image_sync(&c->img, "cannot sync the truncation") < 0))
		return -1;
	return 0;
}

static int parse_args(int argc, char **argv, bool *repair, bool *json,
		      const char **path)
{
	static const struct option opts[] = {
		{ "repair",	no_argument,	NULL, 'r' },
		{ "json",	no_argument,	NULL, 'J' },
		{ "help",	no_argument,	NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "rJh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			*repair = true;
			break;
		case 'J':
			*json = true;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			return usage_hint("check");
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "vdisetup check: one FILE is needed\n");
		return usage_hint("check");
	}
	*path = argv[optind];
	return -1;
}

static void print_stats(const struct check *c)
{
	const struct vdi_header *h = &c->img.h;

	if (!c->header_ok)
		return;
	printf("%u/%u = %.2f%% allocated, %u zero\n", c->allocated,
	       h->blocks_in_image, 100.0 * c->allocated / h->blocks_in_image,
	       c->zero);
	printf("Image end offset: %llu\n",
	       (unsigned long long)vdi_block_offset(h, c->top));
}

/* The closing lines qemu-img check prints. */
static void print_summary(const struct check *c)
{
	if (!c->corruptions && !c->leaks)
		printf("No errors were found on the image.\n");
	if (c->corruptions)
		printf("\n%u errors were found on the image.\n"
		       "Data may be corrupted, or further writes to the image may corrupt it.\n",
		       c->corruptions);
	if (c->leaks)
		printf("\n%u leaks were found on the image.\n"
		       "This means waste of disk space, but no harm to data.\n",
		       c->leaks);
	print_stats(c);
}

static void print_json_head(const char *path)
{
	struct fields f;

	fields_open(&f, stdout, true);
	field_str(&f, "filename", path);
	field_str(&f, "format", "vdi");
	field_key(&f, "problems");
	fputc('[', stdout);
}

static void print_json_tail(const struct check *found, const struct check *c,
			    bool repaired, bool failed)
{
	const struct vdi_header *h = &c->img.h;
	/* Continues the object print_json_head() began: not first. */
	struct fields f = { .out = stdout, .json = true, .first = false };

	fputs("\n    ]", stdout);
	/* qemu-img's name for checks that could not be completed. */
	field_u64(&f, "check errors", failed);
	field_u64(&f, "corruptions", c->corruptions);
	field_u64(&f, "leaks", c->leaks);
	if (repaired) {
		field_u64(&f, "corruptions fixed",
			  found->corruptions - c->corruptions);
		field_u64(&f, "leaks fixed", found->leaks - c->leaks);
	}
	if (c->header_ok) {
		field_u64(&f, "total clusters", h->blocks_in_image);
		field_u64(&f, "allocated clusters", c->allocated);
		field_u64(&f, "zero clusters", c->zero);
		field_u64(&f, "image end offset", vdi_block_offset(h, c->top));
	}
	fields_close(&f);
}

/* Fix what @found found, then check again from the file into @after. */
static int repair_and_recheck(struct check *found, struct check *after,
			      const char *path)
{
	if (!found->header_ok) {
		errmsg(path, "cannot repair: the header is damaged");
		return 0;
	}
	if (repair(found) < 0)
		return -1;
	if (!found->json)
		printf("\nThe following inconsistencies were found and repaired:\n\n"
		       "    %u leaks\n    %u corruptions\n\n"
		       "Double checking the fixed image now...\n",
		       found->leaks, found->corruptions);
	after->json = found->json;
	after->quiet = found->json;
	if (open_image(after, path, O_RDONLY) < 0)
		return -1;
	return check_image(after);
}

static int exit_status(const struct check *c, bool failed)
{
	if (failed)
		return CHECK_FAILED;
	if (c->corruptions)
		return CHECK_CORRUPT;
	return c->leaks ? CHECK_LEAKS : CHECK_CLEAN;
}

int cmd_check(int argc, char **argv)
{
	struct check found = { .json = false }, after = { .json = false };
	struct check *final = &found;
	bool fix = false, failed;
	const char *path = NULL;
	int ret;

	ret = parse_args(argc, argv, &fix, &found.json, &path);
	if (ret >= 0)
		return ret;
	/* Without --repair the file is opened read-only: check never writes. */
	if (open_image(&found, path, fix ? O_RDWR : O_RDONLY) < 0)
		return CHECK_FAILED;
	if (fix && lock_image(&found.img) < 0) {
		check_free(&found);
		return CHECK_FAILED;
	}
	if (found.json)
		print_json_head(path);
	failed = check_image(&found) < 0;
	if (!failed && fix && (found.corruptions || found.leaks)) {
		failed = repair_and_recheck(&found, &after, path) < 0;
		if (!failed && found.header_ok)
			final = &after;
	}
	if (found.json)
		print_json_tail(&found, final, final == &after, failed);
	else if (!failed)
		print_summary(final);
	ret = exit_status(final, failed);
	check_free(&after);
	check_free(&found);
	return ret;
}
