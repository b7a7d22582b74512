// SPDX-License-Identifier: GPL-2.0
/* vdisetup: shared helpers, see util.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>
#include <linux/fs.h>

#include "util.h"

void errmsg(const char *obj, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", obj);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void errmsg_sys(const char *obj, const char *what)
{
	int err = errno;

	fprintf(stderr, "%s: %s: %s\n", obj, what, strerror(err));
	errno = err;
}

int operands_wrong(const char *cmd, int argc, char **argv, int want,
		   const char *names)
{
	if (argc - optind > want)
		fprintf(stderr, "vdisetup %s: unexpected argument '%s'\n", cmd,
			argv[optind + want]);
	else if (argc - optind < want)
		fprintf(stderr, "vdisetup %s: %s %s needed\n", cmd, names,
			strstr(names, " and ") ? "are" : "is");
	else
		return 0;
	return usage_hint(cmd);
}

int parse_output(const char *cmd, const char *arg, bool *json)
{
	if (!strcmp(arg, "json") || !strcmp(arg, "human")) {
		*json = arg[0] == 'j';
		return 0;
	}
	fprintf(stderr, "vdisetup %s: --output takes json or human, not '%s'\n",
		cmd, arg);
	return -1;
}

int negative_size(const char *cmd, int argc, char **argv)
{
	const char *last = argv[argc - 1];

	/* After an option it may be that option's value. */
	if (argc < 3 || argv[argc - 2][0] == '-' || last[0] != '-' ||
	    !isdigit((unsigned char)last[1]))
		return 0;
	fprintf(stderr, "vdisetup %s: invalid size '%s': %s\n", cmd, last,
		SIZE_FORMS);
	return 1;
}

/* The multiplier a suffix stands for, or 0 if it is not one. */
static u64 size_suffix(const char *s)
{
	static const char units[] = "KMGTPE";
	const char *u;
	u64 base = 1024, mult = 1;

	if (!*s || !strcasecmp(s, "B"))
		return 1;
	u = strchr(units, toupper((unsigned char)*s));
	if (!u)
		return 0;
	if (!strcasecmp(s + 1, "B"))
		base = 1000;
	else if (s[1] && strcasecmp(s + 1, "iB") != 0)
		return 0;
	for (; u >= units; u--)
		mult *= base;
	return mult;
}

int parse_size(const char *s, u64 *bytes)
{
	unsigned long long n, frac = 0, scale = 1;
	u64 mult, part;
	char *end;

	/* strtoull() would take "-1" as 2^64 - 1. */
	if (!isdigit((unsigned char)*s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	/* A fraction, as qemu-img takes "1.5G", of at most 12 digits. */
	if (*end == '.') {
		for (end++; isdigit((unsigned char)*end) && scale < 1000000000000ULL;
		     end++) {
			frac = frac * 10 + (*end - '0');
			scale *= 10;
		}
	}
	mult = size_suffix(end);
	/* Nothing after the dot, or no whole number of bytes. */
	if (!mult || end[-1] == '.' ||
	    (!__builtin_mul_overflow(frac, mult, &part) && part % scale)) {
		errno = EINVAL;
		return -1;
	}
	if (__builtin_mul_overflow(n, mult, bytes) ||
	    __builtin_mul_overflow(frac, mult, &part) ||
	    __builtin_add_overflow(*bytes, part / scale, bytes)) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

/*
 * As qemu-img's size_to_str(): three significant digits, and the next unit
 * once the number would reach 1000 (1000 MiB is "0.977 GiB"), so that
 * %.3g never turns to an exponent.
 */
void format_size(char *buf, size_t len, u64 bytes)
{
	static const char *const units[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	double v = bytes;
	size_t i = 0;

	while (v >= 1000 && i + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%.3g %s", v, units[i]);
}

void disk_uuid_unparse(const u8 disk[VDI_UUID_SIZE], char out[UUID_STR_LEN])
{
	u8 rfc[VDI_UUID_SIZE];

	vdi_uuid_swap(rfc, disk);
	uuid_unparse_lower(rfc, out);
}

void disk_uuid_random(u8 disk[VDI_UUID_SIZE])
{
	uuid_t u;

	uuid_generate(u);
	vdi_uuid_swap(disk, u);
}

int disk_uuid_parse(const char *s, u8 disk[VDI_UUID_SIZE])
{
	u8 rfc[VDI_UUID_SIZE];

	if (uuid_parse(s, rfc))
		return -1;
	vdi_uuid_swap(disk, rfc);
	return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at @s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0 if there is none.
 */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	u32 cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', out);
	while (*p) {
		n = utf8_len(p);
		if (!n) {
			fputs("\\ufffd", out);
			n = 1;
		} else if (*p == '"' || *p == '\\') {
			fprintf(out, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\u%04x", *p);
		} else {
			fwrite(p, 1, n, out);
		}
		p += n;
	}
	fputc('"', out);
}

static u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first and the last value always; in between, one per PROGRESS_MS. */
static void progress_show(struct progress *p)
{
	int now = p->total ? (int)(p->done * 10000 / p->total) : 10000;
	u64 ms = now_ms();

	if (now == p->shown ||
	    (p->shown >= 0 && now < 10000 && ms - p->shown_ms < PROGRESS_MS))
		return;
	p->shown = now;
	p->shown_ms = ms;
	printf("\r    %s (%d.%02d/100%%)", p->what, now / 100, now % 100);
	fflush(stdout);
}

void progress_begin(struct progress *p, bool on, const char *what, u64 total)
{
	p->what = on && isatty(STDOUT_FILENO) ? what : NULL;
	p->done = 0;
	p->total = total;
	p->shown = -1;
	if (p->what)
		progress_show(p);
}

void progress_add(struct progress *p, u64 n)
{
	p->done += n;
	if (p->what)
		progress_show(p);
}

void progress_end(struct progress *p)
{
	if (p->what)
		putchar('\n');
	p->what = NULL;
}

void print_escaped(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		if (*p == '\n')
			fputs("\\n", out);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

ssize_t pread_full(int fd, void *buf, size_t len, u64 off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

int pwrite_full(int fd, const void *buf, size_t len, u64 off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done,
			   off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += n;
	}
	return 0;
}

void fields_open(struct fields *f, FILE *out, bool json)
{
	f->out = out;
	f->json = json;
	f->first = true;
	if (json)
		fputc('{', out);
}

void fields_close(struct fields *f)
{
	if (f->json)
		fputs("\n}\n", f->out);
	else if (!f->first)
		fputc('\n', f->out);
}

/* Where the values start in the output for people. */
#define VALUE_COLUMN	20

void field_key(struct fields *f, const char *label)
{
	int pad = VALUE_COLUMN - (int)strlen(label) - 1;
	const char *p;

	if (!f->json) {
		fprintf(f->out, "%s%s:%*s", f->first ? "" : "\n", label,
			pad > 0 ? pad : 1, "");
		f->first = false;
		return;
	}
	fprintf(f->out, "%s\n    \"", f->first ? "" : ",");
	for (p = label; *p; p++)
		fputc(*p == ' ' ? '-' : tolower((unsigned char)*p), f->out);
	fputs("\": ", f->out);
	f->first = false;
}

void field_str(struct fields *f, const char *label, const char *s)
{
	field_key(f, label);
	if (f->json)
		json_string(f->out, s);
	else
		print_escaped(f->out, s);
}

void field_u64(struct fields *f, const char *label, u64 v)
{
	field_key(f, label);
	fprintf(f->out, "%llu", (unsigned long long)v);
}

void field_hex(struct fields *f, const char *label, u64 v)
{
	field_key(f, label);
	fprintf(f->out, f->json ? "%llu" : "%#llx", (unsigned long long)v);
}

void field_bool(struct fields *f, const char *label, bool v)
{
	field_key(f, label);
	fputs(f->json ? (v ? "true" : "false") : (v ? "yes" : "no"), f->out);
}

void field_size(struct fields *f, const char *label, u64 bytes)
{
	char human[32];

	field_key(f, label);
	if (f->json) {
		fprintf(f->out, "%llu", (unsigned long long)bytes);
		return;
	}
	format_size(human, sizeof(human), bytes);
	fprintf(f->out, "%s (%llu bytes)", human, (unsigned long long)bytes);
}

int fd_size(int fd, u64 *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	*size = st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, size) < 0)
		return -1;
	return 0;
}
