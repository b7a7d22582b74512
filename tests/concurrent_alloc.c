// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrent first writes into unallocated VDI blocks.
 *
 * Many threads write different 4 KiB pieces of the same unallocated 1 MiB
 * block at once (O_DIRECT on /dev/vdiN) while other threads read the
 * block. The block must be allocated exactly once, every write must land,
 * and a reader must only ever see zeros or the new bytes - never the stale
 * bytes planted in the image file where new blocks are placed. After a
 * flush and detach, the image file itself is checked: header
 * blocks_allocated, the map entries, and the data at the mapped offsets.
 *
 * The device is attached through the ioctl ABI (VDI_CTL_ATTACH) and counted
 * through VDI_GET_INFO, so this also exercises <linux/vdi.h> directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "vdi_test.h"

#define PIECE		4096
#define BLOCK		MIB			/* every image here has 1 MiB blocks */
#define PIECES		(BLOCK / PIECE)		/* 256: one writer thread each */
#define READERS		4
#define DISK_MIB	64
#define STALE		0xee			/* never a pattern byte */

/* Byte @i of piece @piece of virtual block @block: 1..0xed, never STALE. */
static unsigned char pattern(unsigned int block, unsigned int piece, size_t i)
{
	return 1 + (block * 31 + piece * 7 + i / 512) % 0xed;
}

static void fill(unsigned char *buf, unsigned int block, unsigned int piece)
{
	size_t i;

	for (i = 0; i < PIECE; i++)
		buf[i] = pattern(block, piece, i);
}

/* 0: all new bytes; 1: every byte zero or new (a read racing the write). */
static int check_piece(const unsigned char *buf, unsigned int block,
		       unsigned int piece, int racing)
{
	size_t i;

	for (i = 0; i < PIECE; i++) {
		if (buf[i] == pattern(block, piece, i))
			continue;
		if (racing && buf[i] == 0)
			continue;
		return -1;
	}
	return 0;
}

FIXTURE(alloc) {
	char dir[64];
	char img[128];
	char dev[32];
	int fd;			/* /dev/vdiN, O_DIRECT */
	int attached;
	const char *skip;
};

FIXTURE_VARIANT(alloc) {
	int native;		/* vdisetup create, else qemu-img create */
};

FIXTURE_VARIANT_ADD(alloc, qemu_img) { .native = 0 };
FIXTURE_VARIANT_ADD(alloc, vdisetup) { .native = 1 };

FIXTURE_SETUP(alloc)
{
	struct vdi_config cfg;
	int ctl, img;

	self->skip = vdi_ready();
	if (self->skip)
		return;
	strcpy(self->dir, "/tmp/vdi-alloc.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->img, sizeof(self->img), "%s/alloc.vdi", self->dir);
	if (variant->native) {
		ASSERT_EQ(0, run("'%s/build/vdisetup' create '%s' %dM",
				 vdi_top(), self->img, DISK_MIB));
	} else {
		ASSERT_EQ(0, run("qemu-img create -q -f vdi '%s' %dM",
				 self->img, DISK_MIB));
	}
	/* Stale bytes where the first new blocks will be placed. */
	ASSERT_EQ(0, run("head -c %d /dev/zero | tr '\\0' '\\%o' >> '%s'",
			 16 * MIB, STALE, self->img));

	img = open(self->img, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, img);
	ctl = open(VDI_CONTROL, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, ctl);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = img;
	ASSERT_EQ(0, ioctl(ctl, VDI_CTL_ATTACH, &cfg)) {
		TH_LOG("VDI_CTL_ATTACH: %s (reason %u)", strerror(errno), cfg.reason);
	}
	close(ctl);
	close(img);
	self->attached = 1;
	snprintf(self->dev, sizeof(self->dev), "/dev/vdi%u", cfg.index);
	self->fd = open(self->dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, self->fd) {
		TH_LOG("open %s: %s", self->dev, strerror(errno));
	}
}

static int detach(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = ioctl(fd, VDI_DETACH);
	close(fd);
	return ret;
}

FIXTURE_TEARDOWN(alloc)
{
	if (self->fd > 0)
		close(self->fd);
	if (self->attached)
		detach(self->dev);
	if (self->dir[0])
		run("rm -rf '%s'", self->dir);
}

/* What the threads of one round share. */
struct round {
	int fd;
	unsigned int nblocks;
	const unsigned int *blocks;	/* the virtual blocks of this round */
	pthread_barrier_t start;
	int writers_done;		/* atomic */
	int write_errors;		/* atomic */
	int read_errors;		/* atomic */
	int torn;			/* atomic: stale or foreign bytes seen */
	unsigned long reads;		/* atomic */
};

struct writer {
	struct round *r;
	unsigned int piece;
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	struct round *r = w->r;
	unsigned char *buf;
	unsigned int i, b;

	if (posix_memalign((void **)&buf, PIECE, PIECE))
		return NULL;
	pthread_barrier_wait(&r->start);
	/* Each writer walks the blocks in its own order. */
	for (i = 0; i < r->nblocks; i++) {
		b = r->blocks[(i + w->piece) % r->nblocks];
		fill(buf, b, w->piece);
		if (pwrite(r->fd, buf, PIECE, (off_t)b * BLOCK + (off_t)w->piece * PIECE) != PIECE)
			__atomic_add_fetch(&r->write_errors, 1, __ATOMIC_RELAXED);
	}
	free(buf);
	return NULL;
}

static void *reader_fn(void *arg)
{
	struct round *r = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed, b, p;
	unsigned char *buf;

	if (posix_memalign((void **)&buf, PIECE, PIECE))
		return NULL;
	pthread_barrier_wait(&r->start);
	while (!__atomic_load_n(&r->writers_done, __ATOMIC_ACQUIRE)) {
		b = r->blocks[rand_r(&seed) % r->nblocks];
		p = rand_r(&seed) % PIECES;
		if (pread(r->fd, buf, PIECE, (off_t)b * BLOCK + (off_t)p * PIECE) != PIECE) {
			__atomic_add_fetch(&r->read_errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (check_piece(buf, b, p, 1))
			__atomic_add_fetch(&r->torn, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->reads, 1, __ATOMIC_RELAXED);
	}
	free(buf);
	return NULL;
}

/* One writer per 4 KiB piece, READERS readers; returns after all joined. */
static void race(struct __test_metadata *_metadata, struct round *r)
{
	pthread_t wt[PIECES], rt[READERS];
	struct writer w[PIECES];
	unsigned int i;

	ASSERT_EQ(0, pthread_barrier_init(&r->start, NULL, PIECES + READERS));
	for (i = 0; i < READERS; i++)
		ASSERT_EQ(0, pthread_create(&rt[i], NULL, reader_fn, r));
	for (i = 0; i < PIECES; i++) {
		w[i].r = r;
		w[i].piece = i;
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, writer_fn, &w[i]));
	}
	for (i = 0; i < PIECES; i++)
		pthread_join(wt[i], NULL);
	__atomic_store_n(&r->writers_done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	pthread_barrier_destroy(&r->start);
	TH_LOG("%u block(s), %d writers, %lu racing reads", r->nblocks, PIECES, r->reads);
	EXPECT_EQ(0, r->write_errors);
	EXPECT_EQ(0, r->read_errors);
	EXPECT_EQ(0, r->torn) {
		TH_LOG("a read saw bytes that were neither zero nor the new data");
	}
}

/* Every piece of the listed blocks reads back exactly, through the device. */
static int verify_dev(int fd, const unsigned int *blocks, unsigned int n)
{
	unsigned char *buf;
	unsigned int i, p;
	int bad = 0;

	if (posix_memalign((void **)&buf, PIECE, BLOCK))
		return -1;
	for (i = 0; i < n; i++) {
		if (pread(fd, buf, BLOCK, (off_t)blocks[i] * BLOCK) != BLOCK)
			return -1;
		for (p = 0; p < PIECES; p++)
			bad += !!check_piece(buf + p * PIECE, blocks[i], p, 0);
	}
	free(buf);
	return bad;
}

static unsigned int blocks_allocated(struct __test_metadata *_metadata, int fd)
{
	struct vdi_info *info = calloc(1, sizeof(*info));
	unsigned int n;

	ASSERT_NE(NULL, info);
	ASSERT_EQ(0, ioctl(fd, VDI_GET_INFO, info)) {
		TH_LOG("VDI_GET_INFO: %s", strerror(errno));
	}
	EXPECT_EQ((__u32)BLOCK, info->block_size);
	EXPECT_EQ((__u64)DISK_MIB * MIB, info->disk_size);
	n = info->blocks_allocated;
	free(info);
	return n;
}

/*
 * After detach, from the file alone: the header's blocks_allocated, the map
 * (each listed block mapped, to distinct data blocks, nothing else mapped)
 * and the bytes at the mapped offsets.
 */
static void verify_file(struct __test_metadata *_metadata, const char *path,
			const unsigned int *blocks, unsigned int n)
{
	struct vdi_disk_header d;
	struct vdi_header h;
	unsigned char *buf;
	unsigned int i, p, mapped = 0, bad = 0;
	u32 *map;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(d), pread(fd, &d, sizeof(d), 0));
	vdi_header_decode(&h, &d);
	EXPECT_EQ(n, h.blocks_allocated);
	ASSERT_EQ((u32)DISK_MIB, h.blocks_in_image);
	map = calloc(h.blocks_in_image, sizeof(*map));
	buf = malloc(BLOCK);
	ASSERT_NE(NULL, map);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(h.blocks_in_image * sizeof(*map)),
		  pread(fd, map, h.blocks_in_image * sizeof(*map), h.offset_bmap));
	vdi_map_to_cpu(map, h.blocks_in_image);
	for (i = 0; i < h.blocks_in_image; i++)
		mapped += vdi_entry_allocated(map[i]);
	EXPECT_EQ(n, mapped);
	for (i = 0; i < n; i++) {
		u32 e = map[blocks[i]];

		ASSERT_TRUE(vdi_entry_allocated(e)) {
			TH_LOG("block %u is not mapped (0x%x)", blocks[i], e);
		}
		for (p = 0; p < i; p++)
			EXPECT_NE(map[blocks[p]], e);
		ASSERT_EQ(BLOCK, pread(fd, buf, BLOCK, vdi_block_offset(&h, e)));
		for (p = 0; p < PIECES; p++)
			bad += !!check_piece(buf + p * PIECE, blocks[i], p, 0);
	}
	EXPECT_EQ(0U, bad);
	free(buf);
	free(map);
	close(fd);
}

static void finish(struct __test_metadata *_metadata,
		   FIXTURE_DATA(alloc) *self,
		   const unsigned int *blocks, unsigned int n)
{
	ASSERT_EQ(0, fsync(self->fd));
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, detach(self->dev)) {
		TH_LOG("VDI_DETACH %s: %s", self->dev, strerror(errno));
	}
	self->attached = 0;
	verify_file(_metadata, self->img, blocks, n);
	EXPECT_EQ(0, run("qemu-img check -q -f vdi '%s'", self->img));
}

/* 256 threads, one 4 KiB piece each, all into unallocated block 3. */
TEST_F_TIMEOUT(alloc, one_block, 300)
{
	static const unsigned int blocks[] = { 3 };
	struct round r = { .fd = self->fd, .nblocks = 1, .blocks = blocks };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	race(_metadata, &r);
	EXPECT_EQ(0, verify_dev(self->fd, blocks, 1));
	EXPECT_EQ(1U, blocks_allocated(_metadata, self->fd));
	finish(_metadata, self, blocks, 1);
}

/*
 * The same 256 threads each write their piece of eight blocks, every thread
 * in a different order, so eight allocations race with each other and
 * with the first writes into blocks already allocated.
 */
TEST_F_TIMEOUT(alloc, eight_blocks, 300)
{
	static const unsigned int blocks[] = { 0, 1, 7, 8, 20, 33, 62, 63 };
	struct round r = { .fd = self->fd, .nblocks = 8, .blocks = blocks };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	race(_metadata, &r);
	EXPECT_EQ(0, verify_dev(self->fd, blocks, 8));
	EXPECT_EQ(8U, blocks_allocated(_metadata, self->fd));
	finish(_metadata, self, blocks, 8);
}

/*
 * Eight races in a row, each over one fresh block: a lost re-check under
 * the allocation lock shows up as a second allocation in some of them
 * (how often two writers really overlap depends on the machine's timing).
 */
TEST_F_TIMEOUT(alloc, eight_rounds, 300)
{
	static const unsigned int blocks[] = { 10, 16, 22, 28, 34, 40, 46, 52 };
	unsigned int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	for (i = 0; i < ARRAY_SIZE(blocks); i++) {
		struct round r = { .fd = self->fd, .nblocks = 1, .blocks = &blocks[i] };

		race(_metadata, &r);
		EXPECT_EQ(0, verify_dev(self->fd, &blocks[i], 1));
		ASSERT_EQ(i + 1, blocks_allocated(_metadata, self->fd));
	}
	finish(_metadata, self, blocks, ARRAY_SIZE(blocks));
}

TEST_HARNESS_MAIN
