// SPDX-License-Identifier: GPL-2.0
/*
 * Reuse of discarded data blocks under concurrent I/O.
 *
 * usage: reuse_race DEV SECONDS
 *
 * DEV is a /dev/vdiN of 16 blocks of 1 MiB, so that block indices run out
 * after 16 allocations and every later one must reuse a freed data block.
 * Blocks 0-7 belong to "X" threads: writes of the byte 'X' at random places
 * race whole-block discards and flushes of the same blocks, so that writes
 * are in flight to data blocks as they are freed. Blocks 8-15 belong to
 * two "Y" threads, four blocks each, that write, discard, flush and read
 * back in turn, keeping a copy of what each block must hold. A freed data
 * block handed to a Y block while an X write to it is still in flight, or
 * before its zero entry is durable, shows as an 'X' in Y's data or as a
 * mismatch; an X block must only ever hold 'X' and zeros. Every I/O must
 * succeed: with no reuse the 17th allocation fails with ENOSPC.
 *
 * Prints the counts and exits 0, or 1 at the first mismatch or error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BLOCK		(1024 * 1024)
#define BLOCKS		16
#define X_BLOCKS	8
#define Y_THREADS	2
#define Y_PER_THREAD	((BLOCKS - X_BLOCKS) / Y_THREADS)
#define X_WRITERS	2
#define X_BYTE		'X'
#define PIECE		4096

static int dev_fd;
static time_t deadline;
static int failed;
static unsigned long y_discards, x_discards, x_writes, y_checks;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

/* The first failure is printed; every thread stops at it. */
static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(&failed, 1, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static void count(unsigned long *n)
{
	pthread_mutex_lock(&count_lock);
	(*n)++;
	pthread_mutex_unlock(&count_lock);
}

static int running(void)
{
	return !__atomic_load_n(&failed, __ATOMIC_RELAXED) &&
	       time(NULL) < deadline;
}

static void *buffer(size_t len)
{
	void *p;

	if (posix_memalign(&p, PIECE, len)) {
		fail("out of memory (%zu bytes)", len);
		return NULL;
	}
	return p;
}

static int discard(unsigned long block)
{
	uint64_t range[2] = { (uint64_t)block * BLOCK, BLOCK };

	if (ioctl(dev_fd, BLKDISCARD, range)) {
		fail("BLKDISCARD of block %lu: %s", block, strerror(errno));
		return -1;
	}
	return 0;
}

static int io(int write, void *buf, size_t len, off_t pos)
{
	ssize_t n = write ? pwrite(dev_fd, buf, len, pos) :
			    pread(dev_fd, buf, len, pos);

	if (n != (ssize_t)len) {
		fail("%s of %zu bytes at %lld: %s", write ? "write" : "read",
		     len, (long long)pos, n < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

/* Random writes of 'X' into blocks 0-7. */
static void *x_writer(void *arg)
{
	unsigned int seed = (uintptr_t)arg;
	unsigned char *buf = buffer(16 * PIECE);
	size_t len;
	off_t pos;

	if (!buf)
		return NULL;
	memset(buf, X_BYTE, 16 * PIECE);
	while (running()) {
		len = PIECE * (1 + rand_r(&seed) % 16);
		pos = (off_t)(rand_r(&seed) % X_BLOCKS) * BLOCK +
		      PIECE * (rand_r(&seed) % ((BLOCK - len) / PIECE + 1));
		if (io(1, buf, len, pos))
			break;
		count(&x_writes);
	}
	free(buf);
	return NULL;
}

/* Discards blocks 0-7 under the writers, flushes, checks what they hold. */
static void *x_discarder(void *arg)
{
	unsigned int seed = (uintptr_t)arg;
	unsigned char *buf = buffer(BLOCK);
	unsigned long block, i, n = 0;

	if (!buf)
		return NULL;
	while (running()) {
		block = rand_r(&seed) % X_BLOCKS;
		if (discard(block))
			break;
		count(&x_discards);
		if (++n % 4)
			continue;
		if (fdatasync(dev_fd)) {
			fail("fdatasync: %s", strerror(errno));
			break;
		}
		if (io(0, buf, BLOCK, (off_t)block * BLOCK))
			break;
		for (i = 0; i < BLOCK; i++)
			if (buf[i] && buf[i] != X_BYTE) {
				fail("X block %lu holds a foreign byte at %lu",
				     block, i);
				break;
			}
	}
	free(buf);
	return NULL;
}

/* Byte @i of what Y writes into @block in round @round: never 0 or 'X'. */
static unsigned char y_byte(unsigned long block, unsigned long round, size_t i)
{
	unsigned char c = 1 + (block * 37 + round * 11 + i / PIECE) % 250;

	return c == X_BYTE ? X_BYTE + 1 : c;
}

/*
 * Blocks 8 + 4t .. 8 + 4t + 3: rounds of a write of part of each block
 * (allocating it when it was discarded), a read of the whole block
 * compared with the copy, and a discard of one of them with a flush.
 */
static void *y_worker(void *arg)
{
	unsigned long t = (uintptr_t)arg, round = 0, b, block, i;
	unsigned int seed = t + 1;
	unsigned char *want = calloc(Y_PER_THREAD, BLOCK);
	unsigned char *buf = buffer(BLOCK);
	size_t off, len;

	if (!want || !buf)
		goto out;
	while (running()) {
		round++;
		for (b = 0; b < Y_PER_THREAD && running(); b++) {
			block = X_BLOCKS + t * Y_PER_THREAD + b;
			len = PIECE * (1 + rand_r(&seed) % 64);
			off = PIECE * (rand_r(&seed) % ((BLOCK - len) / PIECE + 1));
			for (i = 0; i < len; i++)
				buf[i] = y_byte(block, round, off + i);
			memcpy(want + b * BLOCK + off, buf, len);
			if (io(1, buf, len, (off_t)block * BLOCK + off) ||
			    io(0, buf, BLOCK, (off_t)block * BLOCK))
				goto out;
			if (memcmp(buf, want + b * BLOCK, BLOCK)) {
				for (i = 0; buf[i] == want[b * BLOCK + i]; i++)
					;
				fail("Y block %lu differs at byte %lu", block, i);
				goto out;
			}
			count(&y_checks);
		}
		b = rand_r(&seed) % Y_PER_THREAD;
		if (discard(X_BLOCKS + t * Y_PER_THREAD + b))
			goto out;
		memset(want + b * BLOCK, 0, BLOCK);
		count(&y_discards);
		if (round % 2 && fdatasync(dev_fd)) {
			fail("fdatasync: %s", strerror(errno));
			goto out;
		}
	}
out:
	free(buf);
	free(want);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[X_WRITERS + 1 + Y_THREADS];
	unsigned long i, n = 0;
	uint64_t size;

	if (argc != 3) {
		fprintf(stderr, "usage: reuse_race DEV SECONDS\n");
		return 2;
	}
	dev_fd = open(argv[1], O_RDWR | O_DIRECT);
	if (dev_fd < 0 || ioctl(dev_fd, BLKGETSIZE64, &size)) {
		perror(argv[1]);
		return 2;
	}
	if (size != (uint64_t)BLOCKS * BLOCK) {
		fprintf(stderr, "%s: want a device of %d MiB\n", argv[1], BLOCKS);
		return 2;
	}
	deadline = time(NULL) + atol(argv[2]);
	for (i = 0; i < X_WRITERS; i++)
		pthread_create(&th[n++], NULL, x_writer, (void *)(i + 100));
	pthread_create(&th[n++], NULL, x_discarder, (void *)200UL);
	for (i = 0; i < Y_THREADS; i++)
		pthread_create(&th[n++], NULL, y_worker, (void *)i);
	while (n)
		pthread_join(th[--n], NULL);
	printf("X: %lu writes, %lu discards; Y: %lu checked writes, %lu discards\n",
	       x_writes, x_discards, y_checks, y_discards);
	return failed;
}
