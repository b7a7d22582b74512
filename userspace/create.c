// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup create: a new image laid out as VirtualBox lays it out (v1.1
 * "plus" header, 1 MiB blocks, map and data at 1 MiB boundaries), so that
 * VirtualBox, QEMU and the vdi driver all open it.
 *
 * The image is built under a temporary name in the target's directory and
 * renamed into place only once it is complete and on disk: a failed or
 * interrupted create leaves nothing behind, and never half an image.
 */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "image.h"
#include "util.h"
#include "vdisetup.h"

#define CREATE_ALIGN	MiB	/* VirtualBox's VDI_DATA_ALIGN */
#define CREATE_MIN_SIZE	MiB	/* VirtualBox refuses smaller disks */
#define CREATE_MAX_SIZE	((u64)VDI_MAX_BLOCKS * VDI_DEFAULT_BLOCK_SIZE)

static const char banner[] = "<<< vdiblk VDI Disk Image >>>\n";

struct create_opts {
	const char *path;
	u64 size;
	bool fixed;
	bool force;
	const char *comment;
	u8 uuid[VDI_UUID_SIZE];		/* on-disk order; null = random */
};

static void create_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup create [options] FILE SIZE\n"
		"\nCreate a VDI image of SIZE bytes (K, M, G, T or KiB, MiB, ...\n"
		"for powers of 1024; KB, MB, ... for powers of 1000). SIZE is a\n"
		"multiple of 512 from 1 MiB to 64 TiB.\n"
		"\nOptions:\n"
		" -s, --static          preallocate every block (a fixed image)\n"
		" -u, --uuid UUID       image UUID (default: random)\n"
		" -c, --comment TEXT    description stored in the header\n"
		"                       (at most 255 bytes)\n"
		" -f, --force           replace FILE if it exists\n"
		" -h, --help            display this help\n");
}

/* A new random UUID in the header's byte order. */
static void random_disk_uuid(u8 disk[VDI_UUID_SIZE])
{
	uuid_t u;

	uuid_generate(u);
	vdi_uuid_swap(disk, u);
}

static int check_size(const char *path, const char *arg, u64 size)
{
	char max[32];

	if (size < CREATE_MIN_SIZE) {
		errmsg(path, "invalid size '%s': below 1 MiB, the least VirtualBox accepts",
		       arg);
		return -1;
	}
	if (size % VDI_SECTOR_SIZE) {
		errmsg(path, "invalid size '%s': not a multiple of %u",
		       arg, VDI_SECTOR_SIZE);
		return -1;
	}
	if (size > CREATE_MAX_SIZE) {
		format_size(max, sizeof(max), CREATE_MAX_SIZE);
		errmsg(path, "invalid size '%s': larger than %s (%u blocks of 1 MiB)",
		       arg, max, VDI_MAX_BLOCKS);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct create_opts *o)
{
	static const struct option opts[] = {
		{ "static",	no_argument,		NULL, 's' },
		{ "uuid",	required_argument,	NULL, 'u' },
		{ "comment",	required_argument,	NULL, 'c' },
		{ "force",	no_argument,		NULL, 'f' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *uuid = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "su:c:fh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->fixed = true;
			break;
		case 'u':
			uuid = optarg;
			break;
		case 'c':
			o->comment = optarg;
			break;
		case 'f':
			o->force = true;
			break;
		case 'h':
			create_usage(stdout);
			return 0;
		default:
			return usage_hint("create");
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "vdisetup create: need FILE and SIZE\n");
		return usage_hint("create");
	}
	o->path = argv[optind];
	if (parse_size(argv[optind + 1], &o->size) < 0) {
		errmsg(o->path, "invalid size '%s': %s", argv[optind + 1],
		       errno == ERANGE ? "too large" :
		       "not a number of bytes with an optional K, M, G or T");
		return 1;
	}
	if (check_size(o->path, argv[optind + 1], o->size) < 0)
		return 1;
	if (uuid && (disk_uuid_parse(uuid, o->uuid) < 0 ||
		     vdi_uuid_is_null(o->uuid))) {
		errmsg(o->path, "invalid UUID '%s'%s", uuid,
		       vdi_uuid_is_null(o->uuid) ? ": the null UUID is reserved" : "");
		return 1;
	}
	if (o->comment && strlen(o->comment) >= sizeof(o->comment)) {
		errmsg(o->path, "comment too long: %zu bytes, at most %zu",
		       strlen(o->comment), sizeof(((struct vdi_header *)0)->comment) - 1);
		return 1;
	}
	return -1;
}
