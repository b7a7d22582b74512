/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdisetup: helpers every command shares - messages, option handling,
 * sizes, UUIDs, JSON and whole-buffer file I/O.
 */
#ifndef VDISETUP_UTIL_H
#define VDISETUP_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "vdi_format.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define KiB		1024ULL
#define MiB		(1024 * KiB)

static inline u64 div_round_up(u64 n, u64 d)
{
	return (n + d - 1) / d;
}

static inline u64 align_up(u64 n, u64 a)
{
	return div_round_up(n, a) * a;
}

/* "OBJ: MESSAGE" on stderr, the losetup form. */
void errmsg(const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "OBJ: WHAT: strerror(errno)" on stderr; errno is preserved. */
void errmsg_sys(const char *obj, const char *what);

/*
 * After getopt_long() has printed its complaint, or for a wrong number of
 * arguments: point at the command's --help. Returns 1, the exit status.
 */
static inline int usage_hint(const char *cmd)
{
	fprintf(stderr, "Try 'vdisetup %s --help' for more information.\n",
		cmd);
	return 1;
}

/* What a size may look like, for messages about one that is not. */
#define SIZE_FORMS	"not a number of bytes with an optional K, M, G, T, P or E " \
			"(KiB, MiB, ...: powers of 1024; KB, MB, ...: of 1000)"

/*
 * Whether the operands after the options are not @want: then says which
 * is missing (@names, as in "FILE and SIZE are needed") or which one is
 * too many, and returns usage_hint()'s status; else 0.
 */
int operands_wrong(const char *cmd, int argc, char **argv, int want,
		   const char *names);

/*
 * --output=FORMAT as qemu-img takes it: "json" sets *@json, "human" clears
 * it; else says what it takes and returns -1 (then usage_hint()).
 */
int parse_output(const char *cmd, const char *arg, bool *json);

/*
 * Whether the last argument, the size of commands that take one, is a
 * negative number ("-1", "-10G"), which getopt would take for options:
 * then says it is no size and returns 1, else 0. Before getopt_long().
 */
int negative_size(const char *cmd, int argc, char **argv);

/*
 * A size as losetup and qemu-img take it: plain bytes, or K, M, G, T, P, E
 * with an optional "iB" (powers of 1024), or KB, MB, ... (powers of 1000),
 * with a decimal fraction that makes a whole number of bytes ("1.5G").
 * Returns 0, or -1 (ERANGE on overflow, EINVAL otherwise).
 */
int parse_size(const char *s, u64 *bytes);

/* "64 MiB", "4.88 TiB": three significant digits, as qemu-img prints. */
void format_size(char *buf, size_t len, u64 bytes);

#define UUID_STR_LEN	37	/* 36 characters and the NUL */

/*
 * UUIDs as a VDI header stores them (GUID byte order) to and from the text
 * VBoxManage and qemu-img print. parse returns 0, or -1 for bad text.
 */
void disk_uuid_unparse(const u8 disk[VDI_UUID_SIZE], char out[UUID_STR_LEN]);
int disk_uuid_parse(const char *s, u8 disk[VDI_UUID_SIZE]);
/* A new random UUID in the header's byte order. */
void disk_uuid_random(u8 disk[VDI_UUID_SIZE]);

/*
 * @s as a JSON string literal, quotes included. Control characters are
 * escaped and bytes that are not UTF-8 become U+FFFD, so that text from a
 * damaged header still makes valid JSON.
 */
void json_string(FILE *out, const char *s);

/*
 * Named values printed either for people, one "label: value" line each,
 * or as one JSON object whose keys are the labels in lower case with
 * dashes for spaces ("virtual size" -> "virtual-size"), so that both
 * forms come from the same list of fields.
 */
struct fields {
	FILE *out;
	bool json;
	bool first;
};

void fields_open(struct fields *f, FILE *out, bool json);
void fields_close(struct fields *f);
/* Start a field whose value the caller prints itself. */
void field_key(struct fields *f, const char *label);
void field_str(struct fields *f, const char *label, const char *s);
void field_u64(struct fields *f, const char *label, u64 v);
void field_hex(struct fields *f, const char *label, u64 v);
void field_bool(struct fields *f, const char *label, bool v);
/* People get "1 GiB (1073741824 bytes)", JSON the number. */
void field_size(struct fields *f, const char *label, u64 bytes);

/*
 * Progress of a long step for --progress: "  WHAT (12.34/100%)" redrawn in
 * place on stdout, as qemu-img -p shows it, at most every PROGRESS_MS; and
 * only on a terminal, where a redraw is seen rather than piled up.
 */
#define PROGRESS_MS	100

struct progress {
	const char *what;	/* NULL: quiet */
	u64 done;
	u64 total;
	int shown;		/* hundredths of a percent on the screen */
	u64 shown_ms;		/* when, CLOCK_MONOTONIC */
};

void progress_begin(struct progress *p, bool on, const char *what, u64 total);
void progress_add(struct progress *p, u64 n);
/* Ends the line, also after a failure, before its message follows. */
void progress_end(struct progress *p);

/* @s for a terminal: control characters as C escapes (\n, \x01). */
void print_escaped(FILE *out, const char *s);

/*
 * pread() until @len bytes or end of file: returns the count (short only
 * at end of file), or -1 with errno set.
 */
ssize_t pread_full(int fd, void *buf, size_t len, u64 off);

/* pwrite() all of @buf: 0, or -1 with errno set. */
int pwrite_full(int fd, const void *buf, size_t len, u64 off);

/*
 * Size of the regular file or block device open on @fd, as the kernel
 * sees it (i_size): 0, or -1 with errno set.
 */
int fd_size(int fd, u64 *size);

#endif /* VDISETUP_UTIL_H */
