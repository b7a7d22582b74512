// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup: create VirtualBox VDI images and attach them as /dev/vdiN.
 *
 * The command line follows losetup where the jobs match: messages are
 * "<object>: <what failed>: <reason>" on stderr, exit status 0 or 1
 * (check uses qemu-img check's codes).
 */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vdisetup.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "create", cmd_create, "create FILE SIZE [--static] [--uuid U] [--comment C] [--force]" },
	{ "create", cmd_create, "create --parent PARENT FILE [--uuid U] [--comment C] [--force]" },
	{ "info",   cmd_info,   "info FILE [--parent P]... [--json]" },
	{ "check",  cmd_check,  "check FILE [--parent P]... [--repair] [--json]" },
	{ "map",    cmd_map,    "map FILE [--json]" },
	{ "compact", cmd_compact, "compact FILE [--zero-blocks] [--progress]" },
	{ "resize", cmd_resize, "resize FILE [+|-]SIZE [--progress]" },
	{ "commit", cmd_commit, "commit FILE [--parent P]... [--progress]" },
	{ "convert", cmd_convert,
	  "convert FILE OUTPUT [--parent P]... [--format raw] [--static] [--force] [--progress]" },
	{ "amend", cmd_amend, "amend FILE [--comment C] [--uuid U | --new-uuid]" },
	{ "attach", cmd_attach,
	  "attach [-f|--find] [--show] [-r] [-P] [--direct-io[=on|off|auto]] [--autoclear] FILE [DEV]"
	},
	{ "detach", cmd_detach, "detach DEV|FILE... | detach -a" },
	{ "list",   cmd_list,   "list [-J|--json] [-n|--noheadings] [-j FILE] [DEV...]" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, " vdisetup %s\n", commands[i].summary);
	fprintf(out, "\nCreate VirtualBox VDI images and attach them as /dev/vdiN.\n"
		"\nOptions:\n"
		" -h, --help     display this help\n"
		" -V, --version  display version\n"
		"\nRun 'vdisetup COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("vdisetup from vdiblk %s\n", VDI_VERSION);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "vdisetup: unknown command '%s'\n"
		"Try 'vdisetup --help' for more information.\n", argv[1]);
	return 1;
}
