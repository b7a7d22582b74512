// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup amend: change what the header says about an image, in place:
 * its comment, or its UUID, which a copy of an image needs before
 * VirtualBox registers it beside the original (VBoxManage internalcommands
 * sethduuid does the same). The modification UUID stays, so that the
 * children of the image still accept it as their parent; its own UUID is
 * what they link to, so a new one cuts them off, as it does in VirtualBox.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>

#include "image.h"
#include "util.h"
#include "vdisetup.h"

struct amend {
	const char *comment;	/* NULL: unchanged */
	const char *uuid;	/* NULL: unchanged */
	bool new_uuid;		/* a random one */
};

static void amend_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup amend [options] FILE\n"
		"\nChange the comment or the UUID in the header of the VDI image\n"
		"FILE, in place, as VBoxManage internalcommands sethduuid does for\n"
		"a copy of an image. Children of FILE link to its UUID: a new one\n"
		"cuts them off. Not while FILE is attached or another program has\n"
		"it open.\n"
		"\nOptions:\n"
		" -c, --comment TEXT  the comment (at most 255 bytes)\n"
		" -u, --uuid UUID     the image UUID\n"
		"     --new-uuid      a new random image UUID\n"
		" -h, --help          display this help\n");
}

/* Returns -1 to go on, else the exit status (--help, or a bad argument). */
static int parse_args(int argc, char **argv, struct amend *a,
		      const char **path)
{
	enum { OPT_NEW_UUID = 256 };
	static const struct option opts[] = {
		{ "comment",	required_argument,	NULL, 'c' },
		{ "uuid",	required_argument,	NULL, 'u' },
		{ "new-uuid",	no_argument,		NULL, OPT_NEW_UUID },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->comment = optarg;
			break;
		case 'u':
			a->uuid = optarg;
			break;
		case OPT_NEW_UUID:
			a->new_uuid = true;
			break;
		case 'h':
			amend_usage(stdout);
			return 0;
		default:
			return usage_hint("amend");
		}
	}
	if (operands_wrong("amend", argc, argv, 1, "one FILE"))
		return 1;
	*path = argv[optind];
	if (a->uuid && a->new_uuid) {
		fprintf(stderr, "vdisetup amend: --uuid or --new-uuid, not both\n");
		return usage_hint("amend");
	}
	if (!a->comment && !a->uuid && !a->new_uuid) {
		fprintf(stderr, "vdisetup amend: nothing to change (%s)\n",
			"--comment, --uuid or --new-uuid");
		return usage_hint("amend");
	}
	return -1;
}

/* The new header fields, all checked before the file is opened for writing. */
static int amend_header(const struct amend *a, const char *path,
			struct vdi_header *h)
{
	u8 uuid[VDI_UUID_SIZE];

	if (a->comment && image_check_comment(path, a->comment) < 0)
		return -1;
	if (a->uuid && image_parse_uuid(path, a->uuid, uuid) < 0)
		return -1;
	if (a->new_uuid)
		disk_uuid_random(uuid);
	if (a->uuid || a->new_uuid)
		memcpy(h->uuid_image, uuid, VDI_UUID_SIZE);
	if (a->comment) {
		memset(h->comment, 0, sizeof(h->comment));
		memcpy(h->comment, a->comment, strlen(a->comment));
	}
	return 0;
}

int cmd_amend(int argc, char **argv)
{
	struct amend a = { .comment = NULL };
	const char *path = NULL;
	struct image img;
	int ret;

	ret = parse_args(argc, argv, &a, &path);
	if (ret >= 0)
		return ret;
	if (image_open(&img, path, O_RDWR) < 0)
		return 1;
	ret = image_check_chain_header(&img) || image_claim(&img, "amend") ||
	      amend_header(&a, path, &img.h) || image_commit_header(&img);
	image_close(&img);
	return ret ? 1 : 0;
}
