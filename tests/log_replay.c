// SPDX-License-Identifier: GPL-2.0
/*
 * Reads the log that dm-log-writes keeps (the format of the kernel's
 * drivers/md/dm-log-writes.c, as xfstests' src/log-writes reads it), for
 * crash-consistency tests that replay a workload to chosen points:
 *
 *   log_replay LOG list
 *	one line per entry: INDEX FLAGS SECTOR SECTORS [MARK]; FLAGS are
 *	F (flush), U (FUA), D (discard), M (mark), - for none
 *   log_replay LOG replay TARGET FROM TO
 *	apply entries FROM <= INDEX < TO to TARGET (a file or a device);
 *	a discard writes zeros, the hardest case for the reader after it
 *   log_replay GOT pieces DURABLE LATEST
 *	print the offsets of the 4 KiB pieces of GOT that hold neither
 *	DURABLE's bytes nor LATEST's: what a replayed device may not hold
 *
 * The log: a super block in its first sector, then the entries, each a
 * header in one sector (a mark's name follows the header there) and, for
 * a write, its data in the following SECTORS sectors. Sectors are the
 * log's sectorsize, both for positions in the log and on the target.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_FLUSH_FLAG		0x1U
#define LOG_FUA_FLAG		0x2U
#define LOG_DISCARD_FLAG	0x4U
#define LOG_MARK_FLAG		0x8U
#define LOG_KNOWN_FLAGS		0xfU
#define WRITE_LOG_MAGIC		0x6a736677736872ULL
#define WRITE_LOG_VERSION	1
#define ZERO_CHUNK		0x100000U	/* 1 MiB */
#define PIECE			4096

struct log_write_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_write_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
} __attribute__((packed));

static void die(const char *what)
{
	fprintf(stderr, "log_replay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void xpread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	if (n < 0)
		die("read of the log");
	if ((size_t)n != len) {
		errno = EIO;
		die("the log ends inside an entry");
	}
}

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		die(path);
	return fd;
}

static int pieces(const char *got, const char *durable, const char *latest)
{
	static char g[PIECE], d[PIECE], l[PIECE];
	int fg = open_or_die(got, O_RDONLY);
	int fd = open_or_die(durable, O_RDONLY);
	int fl = open_or_die(latest, O_RDONLY);
	ssize_t n;
	off_t off;

	for (off = 0; (n = pread(fg, g, PIECE, off)) > 0; off += n) {
		if (pread(fd, d, n, off) != n || pread(fl, l, n, off) != n)
			die("read of the expected contents");
		if (memcmp(g, d, n) && memcmp(g, l, n))
			printf("%lld\n", (long long)off);
	}
	if (n < 0)
		die(got);
	return 0;
}

static void xpwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	if (n < 0 || (size_t)n != len)
		die("write to the target");
}

int main(int argc, char **argv)
{
	struct log_write_super super;
	struct log_write_entry e;
	uint64_t i, nr, from = 0, to = 0, sectors;
	int log, target = -1;
	char *sector, *data = NULL;
	size_t data_len = 0, len, chunk;
	uint32_t ss;
	off_t pos, zoff;
	bool replay;

	if (argc == 5 && !strcmp(argv[2], "pieces"))
		return pieces(argv[1], argv[3], argv[4]);
	replay = argc == 6 && !strcmp(argv[2], "replay");
	if (!replay && !(argc == 3 && !strcmp(argv[2], "list"))) {
		fprintf(stderr, "usage: log_replay LOG list\n"
			"       log_replay LOG replay TARGET FROM TO\n"
			"       log_replay GOT pieces DURABLE LATEST\n");
		return 2;
	}
	log = open_or_die(argv[1], O_RDONLY);
	if (replay) {
		target = open_or_die(argv[3], O_WRONLY);
		from = strtoull(argv[4], NULL, 0);
		to = strtoull(argv[5], NULL, 0);
	}
	xpread(log, &super, sizeof(super), 0);
	ss = le32toh(super.sectorsize);
	nr = le64toh(super.nr_entries);
	if (le64toh(super.magic) != WRITE_LOG_MAGIC ||
	    le64toh(super.version) != WRITE_LOG_VERSION ||
	    ss < sizeof(e) || ss % 512) {
		fprintf(stderr, "log_replay: %s is no dm-log-writes log\n", argv[1]);
		return 1;
	}
	sector = malloc(ss);
	if (!sector)
		die("malloc");
	for (i = 0, pos = ss; i < nr && (!replay || i < to); i++) {
		xpread(log, sector, ss, pos);
		memcpy(&e, sector, sizeof(e));
		pos += ss;
		e.flags = le64toh(e.flags);
		e.sector = le64toh(e.sector);
		sectors = le64toh(e.nr_sectors);
		len = sectors * ss;
		if (!replay) {
			printf("%llu %s%s%s%s%s %llu %llu", (unsigned long long)i,
			       e.flags & LOG_FLUSH_FLAG ? "F" : "",
			       e.flags & LOG_FUA_FLAG ? "U" : "",
			       e.flags & LOG_DISCARD_FLAG ? "D" : "",
			       e.flags & LOG_MARK_FLAG ? "M" : "",
			       e.flags & LOG_KNOWN_FLAGS ? "" : "-",
			       (unsigned long long)e.sector,
			       (unsigned long long)sectors);
			if (e.flags & LOG_MARK_FLAG)
				printf(" %.*s", (int)(ss - sizeof(e)),
				       sector + sizeof(e));
			printf("\n");
		}
		if (e.flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG))
			len = 0;	/* no data in the log */
		if (!replay || i < from) {
			pos += len;
			continue;
		}
		if (len > data_len || !data) {
			free(data);
			data_len = len > ZERO_CHUNK ? len : ZERO_CHUNK;
			data = malloc(data_len);
			if (!data)
				die("malloc");
		}
		if (e.flags & LOG_DISCARD_FLAG) {
			/* Zeros, a chunk at a time: a discard can be huge. */
			memset(data, 0, ZERO_CHUNK);
			for (zoff = e.sector * ss, len = sectors * ss; len;
			     zoff += chunk, len -= chunk) {
				chunk = len < ZERO_CHUNK ? len : ZERO_CHUNK;
				xpwrite(target, data, chunk, zoff);
			}
		} else if (len) {
			xpread(log, data, len, pos);
			pos += len;
			xpwrite(target, data, len, e.sector * ss);
		}
	}
	if (replay && i < to) {
		fprintf(stderr, "log_replay: the log has only %llu entries\n",
			(unsigned long long)nr);
		return 1;
	}
	if (replay && fsync(target) < 0)
		die("fsync of the target");
	return 0;
}
