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
 * A differencing image is checked with its chain: every link (chain.h),
 * and every parent as an image of its own, read-only; what is wrong there
 * counts as a corruption of the image checked.
 *
 * --repair never drops a block that holds data. Bad and duplicate entries
 * (the later one) are cleared, as VirtualBox's repair does; a block the
 * file ends inside is completed with zeros; an entry past blocks_in_image
 * whose data is in the file (QEMU and VirtualBox read it; compaction tools
 * leave them) has its block copied into an unused one below blocks_in_image
 * and points there, so the image reads as before; unused blocks are squeezed out
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

#include "blocks.h"
#include "chain.h"
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
	const struct chain_opts *chain;	/* the top's parents; NULL for a parent */
	bool json;
	bool quiet;		/* count only: the JSON re-check after repair */
	bool header_ok;		/* so the map was checked */
	struct blocks b;	/* the map, bad entries cleared, good ones kept */
	u32 corruptions;
	u32 leaks;
	u32 zero;		/* VDI_BLOCK_ZERO entries */
	u32 cleared;		/* bad entries cleared in the map */
	u64 need_size;		/* file size the good blocks need */
	u32 *beyond;		/* entries past blocks_in_image: map index, */
	u32 *beyond_block;	/* and data block, kept apart from c->b */
	u32 nbeyond;
};

static void check_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup check [options] FILE\n"
		"\nCheck a VDI image for every problem the vdi driver, QEMU or\n"
		"VirtualBox could trip over. Exit status as qemu-img check:\n"
		"0 no problems, 1 not checked, 2 corruptions, 3 leaks only.\n"
		"A differencing image is checked with its chain of parents, found as\n"
		"info finds them: every link, and every parent as an image.\n"
		"\nOptions:\n"
		"     --parent PARENT  the parent of FILE (again for its parent...)\n"
		" -r, --repair         fix what was found in FILE without dropping any\n"
		"                      block that holds data (never on an attached\n"
		"                      image; parents are only checked)\n"
		" -J, --json           JSON output\n"
		"     --output=FMT     json or human\n"
		" -h, --help           display this help\n");
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
	enum vdi_error err = vdi_chain_header_check(&h, img->file_size);

	if (err != VDI_ERR_BLOCKS_ALLOCATED)
		return err;
	h.blocks_allocated = h.blocks_in_image;
	return vdi_chain_header_check(&h, img->file_size);
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

static void check_entry(struct check *c, u32 *map, u32 i, unsigned long *seen)
{
	struct vdi_map_stats st = { .bad_index = i, .bad_entry = map[i] };
	const struct vdi_header *h = &c->img.h;
	u64 start = vdi_block_offset(h, map[i]);
	enum vdi_error err;
	char why[160];

	if (map[i] == VDI_BLOCK_ZERO)
		c->zero++;
	if (!vdi_entry_allocated(map[i]))
		return;
	err = vdi_entry_check(h, map[i], c->img.file_size, seen);
	if (err)
		vdi_explain(why, sizeof(why), err, h, &st);
	if (err == VDI_ERR_ENTRY_BEYOND) {
		/* Data QEMU and VirtualBox read: repair moves it below. */
		report(c, CORRUPTION, "%s", why);
		c->beyond[c->nbeyond] = i;
		c->beyond_block[c->nbeyond++] = map[i];
		map[i] = VDI_BLOCK_FREE;
	} else if (err == VDI_ERR_ENTRY_PAST_EOF && start < c->img.file_size) {
		/* What the file holds of the block is data: keep it. */
		report(c, CORRUPTION, "%s; the file ends inside the block", why);
		if (start + h->block_size > c->need_size)
			c->need_size = start + h->block_size;
	} else if (err) {
		report(c, CORRUPTION, "%s", why);
		map[i] = VDI_BLOCK_FREE;
		c->cleared++;
	}
}

/* Data blocks below the top that no good entry uses. */
static void find_holes(struct check *c)
{
	const struct vdi_header *h = &c->img.h;
	u32 i;

	for (i = 0; i < c->b.top; i++)
		if (c->b.owner[i] == VDI_BLOCK_FREE)
			report(c, LEAK, "data block %u at %#llx is not used by any map entry",
			       i, (unsigned long long)vdi_block_offset(h, i));
}

/*
 * blocks_allocated is where the next new block goes: below the top it
 * would overwrite a block in use. The file should end with the top block.
 */
static void check_counts(struct check *c)
{
	const struct vdi_header *h = &c->img.h;
	u64 end = vdi_block_offset(h, c->b.top);	/* of the top block */
	char why[160];

	if (h->blocks_allocated > h->blocks_in_image) {
		vdi_explain(why, sizeof(why), VDI_ERR_BLOCKS_ALLOCATED, h, NULL);
		report(c, CORRUPTION, "%s", why);
	} else if (h->blocks_allocated < c->b.top) {
		report(c, CORRUPTION, "blocks_allocated is %u but data block %u is in use",
		       h->blocks_allocated, c->b.top - 1);
	} else if (h->blocks_allocated > c->b.top) {
		report(c, LEAK, "blocks_allocated is %u but no entry uses data block %u or later",
		       h->blocks_allocated, c->b.top);
	}
	/* A block device cannot end earlier: the rest of it is no leak. */
	if (c->img.file_size > end && !c->img.device)
		report(c, LEAK, "%llu bytes past the last data block in use (file size %llu)",
		       (unsigned long long)(c->img.file_size - end),
		       (unsigned long long)c->img.file_size);
}

static int check_map(struct check *c)
{
	unsigned long *seen;
	u32 *map, i;

	map = image_read_map(&c->img);
	if (!map)
		return -1;
	seen = calloc(1, vdi_map_seen_bytes(&c->img.h, c->img.file_size));
	c->beyond = calloc(c->img.h.blocks_in_image, sizeof(u32));
	c->beyond_block = calloc(c->img.h.blocks_in_image, sizeof(u32));
	if (!seen || !c->beyond || !c->beyond_block) {
		errmsg_sys(c->img.path, "cannot allocate memory");
		free(seen);
		free(map);
		return -1;
	}
	for (i = 0; i < c->img.h.blocks_in_image; i++)
		check_entry(c, map, i, seen);
	free(seen);
	/* The good entries left are distinct and in range, as blocks need. */
	if (blocks_init(&c->b, &c->img, map) < 0)
		return -1;
	find_holes(c);
	check_counts(c);
	return 0;
}

static int check_image(struct check *c);

/* Parent @path as an image of its own: its problems, counted. */
static int check_parent(struct check *c, const char *path)
{
	struct check p = { .quiet = true };
	int ret = open_image(&p, path, O_RDONLY);

	if (!ret)
		ret = check_image(&p);
	if (!ret && p.corruptions)
		report(c, CORRUPTION, "parent %s: %u errors; run 'vdisetup check %s'",
		       path, p.corruptions, path);
	else if (!ret && p.leaks)
		report(c, LEAK, "parent %s: %u leaks", path, p.leaks);
	image_close(&p.img);
	blocks_release(&p.b);
	return ret;
}

/* The links of a differencing image's chain, then each parent. */
static int check_chain(struct check *c)
{
	struct chain *ch;
	int ret;
	u32 i;

	if (c->img.h.image_type != VDI_TYPE_DIFF && !c->chain->nparents)
		return 0;
	ch = malloc(sizeof(*ch));
	if (!ch) {
		errmsg_sys(c->img.path, "cannot allocate memory");
		return -1;
	}
	ret = chain_open(ch, c->img.path, c->chain);
	/* A parent not found is not damage: the chain could not be checked. */
	if (ret > 0 && ch->err == VDI_ERR_PARENT_MISSING) {
		fprintf(stderr, "%s\n", ch->why);
		ret = -1;
	} else if (ret > 0) {
		report(c, CORRUPTION, "%s", ch->why);
		ret = 0;
	}
	for (i = 1; i < ch->n && !ret; i++)
		ret = check_parent(c, ch->img[i].path);
	chain_close(ch);
	free(ch);
	return ret;
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
	if (check_map(c) < 0)
		return -1;
	return c->chain ? check_chain(c) : 0;
}

static void check_free(struct check *c)
{
	image_close(&c->img);
	blocks_release(&c->b);
	free(c->beyond);
	free(c->beyond_block);
}

/*
 * Each block past blocks_in_image into an unused one below: there is one,
 * since every entry names a different block and there are no more entries
 * than blocks_in_image.
 */
static int adopt_beyond(struct check *c)
{
	u32 i, hole = 0;

	for (i = 0; i < c->nbeyond; i++) {
		hole = blocks_next_free(&c->b, hole);
		if (blocks_adopt(&c->b, c->beyond[i], c->beyond_block[i],
				 hole) < 0)
			return -1;
	}
	return 0;
}

/*
 * Data first (blocks completed, blocks past blocks_in_image brought below,
 * holes filled, each moved block and its entry synced in turn), then the
 * cleared entries, then the header, then
 * the truncation, each synced: the map never points at data that is not
 * on disk, and until the header is written its old blocks_allocated stays
 * as it was for every entry the map has.
 */
static int repair(struct check *c)
{
	if (c->need_size > c->img.file_size &&
	    image_set_size(&c->img, c->need_size, "cannot complete a data block") < 0)
		return -1;
	if (adopt_beyond(c) < 0 || blocks_pack(&c->b) < 0)
		return -1;
	if (c->cleared && (image_write_map(&c->img, c->b.map) < 0 ||
			   image_sync(&c->img, "cannot sync the block map") < 0))
		return -1;
	return blocks_finish(&c->b);
}

static int parse_args(int argc, char **argv, bool *repair, bool *json,
		      const char **path, struct chain_opts *o)
{
	enum { OPT_PARENT = 256, OPT_OUTPUT };
	static const struct option opts[] = {
		{ "parent",	required_argument,	NULL, OPT_PARENT },
		{ "repair",	no_argument,		NULL, 'r' },
		{ "json",	no_argument,		NULL, 'J' },
		{ "output",	required_argument,	NULL, OPT_OUTPUT },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "rJh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PARENT:
			if (chain_add_parent(o, optarg) < 0)
				return 1;
			break;
		case 'r':
			*repair = true;
			break;
		case 'J':
			*json = true;
			break;
		case OPT_OUTPUT:
			if (parse_output("check", optarg, json) < 0)
				return usage_hint("check");
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			return usage_hint("check");
		}
	}
	if (operands_wrong("check", argc, argv, 1, "one FILE"))
		return 1;
	*path = argv[optind];
	return -1;
}

static void print_stats(const struct check *c)
{
	const struct vdi_header *h = &c->img.h;

	if (!c->header_ok)
		return;
	printf("%u/%u = %.2f%% allocated, %u zero\n", c->b.used,
	       h->blocks_in_image, 100.0 * c->b.used / h->blocks_in_image,
	       c->zero);
	printf("Image end offset: %llu\n",
	       (unsigned long long)vdi_block_offset(h, c->b.top));
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

/* What a repair fixed: what was found and is no longer. */
static u32 fixed(u32 found, u32 after)
{
	return found > after ? found - after : 0;
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
			  fixed(found->corruptions, c->corruptions));
		field_u64(&f, "leaks fixed", fixed(found->leaks, c->leaks));
	}
	if (c->header_ok) {
		field_u64(&f, "total clusters", h->blocks_in_image);
		field_u64(&f, "allocated clusters", c->b.used);
		field_u64(&f, "zero clusters", c->zero);
		field_u64(&f, "image end offset", vdi_block_offset(h, c->b.top));
	}
	fields_close(&f);
}

/* Check the file at @path again into @after, as @found was checked. */
static int recheck(const struct check *found, struct check *after,
		   const char *path, bool quiet)
{
	check_free(after);
	memset(after, 0, sizeof(*after));
	after->json = found->json;
	after->quiet = quiet;
	after->chain = found->chain;
	if (open_image(after, path, O_RDONLY) < 0)
		return -1;
	return check_image(after);
}

/*
 * Fix what @found found, then check again from the file into @after. Only
 * what the second look no longer finds is reported as repaired, as
 * qemu-img reports it; what is left is then listed again.
 */
static int repair_and_recheck(struct check *found, struct check *after,
			      const char *path)
{
	u32 leaks, corruptions;

	if (!found->header_ok) {
		errmsg(path, "cannot repair: the header is damaged");
		return 0;
	}
	if (repair(found) < 0 || recheck(found, after, path, true) < 0)
		return -1;
	if (found->json)
		return 0;
	leaks = fixed(found->leaks, after->leaks);
	corruptions = fixed(found->corruptions, after->corruptions);
	if (leaks || corruptions)
		printf("\nThe following inconsistencies were found and repaired:\n\n"
		       "    %u leaks\n    %u corruptions\n\n"
		       "Double checking the fixed image now...\n",
		       leaks, corruptions);
	if (!after->leaks && !after->corruptions)
		return 0;
	return recheck(found, after, path, false);
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
	struct check found = { .json = false }, after = { .img.fd = -1 };
	struct chain_opts o = { .nparents = 0 };
	struct check *final = &found;
	bool fix = false, failed;
	const char *path = NULL;
	int ret;

	found.chain = &o;
	ret = parse_args(argc, argv, &fix, &found.json, &path, &o);
	if (ret >= 0)
		return ret;
	/* Without --repair the file is opened read-only: check never writes. */
	if (open_image(&found, path, fix ? O_RDWR : O_RDONLY) < 0)
		return CHECK_FAILED;
	if (fix && image_claim(&found.img, "repair") < 0) {
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
