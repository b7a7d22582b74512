// SPDX-License-Identifier: GPL-2.0
/*
 * The parts of lifecycle.sh that need ioctls the tool does not make, or
 * more speed than a shell loop:
 *
 *   lifecycle_helper cycles IMAGE N
 *	N attach/detach cycles of IMAGE through /dev/vdi-control, each with
 *	a thread writing and reading the device (O_DIRECT) while the detach
 *	is asked for from another descriptor: refused with EBUSY without
 *	autoclear, accepted (deferred to the last close) with it, on
 *	alternate cycles. Each cycle first reads back what the one before
 *	wrote last.
 *   lifecycle_helper remove INDEX
 *	VDI_CTL_REMOVE; prints the error
 *   lifecycle_helper holder IMAGE
 *	attach IMAGE and keep the descriptor it was attached through, as
 *	any caller may; set O_APPEND on it, then write 4 KiB of 0xa5 at 0
 *	and at 5 MiB of the device (first writes), fsync it, detach and
 *	close it: the driver must write through its own open of the file,
 *	so the image ends where its data does. The descriptor is closed last
 *   lifecycle_helper eperm DEV IMAGE
 *	open the control node, DEV and IMAGE as root, become nobody
 *	(65534), then every changing ioctl must fail with EPERM and
 *	VDI_GET_INFO must still work
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vdi.h>

#define VDI_CONTROL	"/dev/" VDI_CONTROL_NAME
#define IO_SIZE		4096
#define IO_SLOTS	256	/* 1 MiB of the device */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

struct io {
	int fd;
	unsigned int cycle;
	atomic_int stop;
	atomic_int done;	/* write + read-back pairs */
	int err;		/* errno, or -1 for a mismatch */
	unsigned char *wbuf, *rbuf;
	off_t last;		/* offset of the last write */
};

static void fill(unsigned char *buf, unsigned int cycle, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < IO_SIZE; i++)
		buf[i] = (unsigned char)(cycle * 131 + n * 7 + i);
}

static void *io_thread(void *arg)
{
	struct io *io = arg;
	unsigned int n;

	for (n = 0; !atomic_load(&io->stop) || n == 0; n++) {
		off_t off = (off_t)((io->cycle * 17 + n) % IO_SLOTS) * IO_SIZE;

		fill(io->wbuf, io->cycle, n);
		if (pwrite(io->fd, io->wbuf, IO_SIZE, off) != IO_SIZE ||
		    pread(io->fd, io->rbuf, IO_SIZE, off) != IO_SIZE) {
			io->err = errno;
			break;
		}
		if (memcmp(io->wbuf, io->rbuf, IO_SIZE)) {
			io->err = -1;
			break;
		}
		io->last = off;
		atomic_fetch_add(&io->done, 1);
	}
	return NULL;
}

/* One cycle; @prev holds what the last one wrote last, at *@prev_off. */
static int one_cycle(int ctl, const char *image, struct io *io,
		     unsigned char *prev, off_t *prev_off)
{
	struct vdi_config cfg = { 0 };
	bool autoclear = io->cycle & 1;
	char dev[64];
	pthread_t th;
	int fd, other, ret;

	cfg.fd = open(image, O_RDWR);
	if (cfg.fd < 0)
		return fail("open %s: %s", image, strerror(errno));
	cfg.flags = autoclear ? VDI_FLAG_AUTOCLEAR : 0;
	ret = ioctl(ctl, VDI_CTL_ATTACH, &cfg);
	close(cfg.fd);
	if (ret < 0)
		return fail("cycle %u: attach: %s", io->cycle, strerror(errno));
	snprintf(dev, sizeof(dev), "/dev/vdi%u", cfg.index);
	fd = open(dev, O_RDWR | O_DIRECT);
	other = open(dev, O_RDONLY);
	if (fd < 0 || other < 0)
		return fail("cycle %u: open %s: %s", io->cycle, dev, strerror(errno));
	if (*prev_off >= 0 &&
	    (pread(fd, io->rbuf, IO_SIZE, *prev_off) != IO_SIZE ||
	     memcmp(io->rbuf, prev, IO_SIZE)))
		return fail("cycle %u: the last write of the cycle before does not read back",
			    io->cycle);

	io->fd = fd;
	atomic_store(&io->stop, 0);
	atomic_store(&io->done, 0);
	if (pthread_create(&th, NULL, io_thread, io))
		return fail("pthread_create failed");
	while (!atomic_load(&io->done) && !io->err)
		sched_yield();
	/* The thread's writes are in flight while the detach is asked. */
	ret = ioctl(other, VDI_DETACH);
	if (autoclear ? ret != 0 : !(ret < 0 && errno == EBUSY))
		ret = fail("cycle %u: detach with I/O in flight%s: %s", io->cycle,
			   autoclear ? " (autoclear)" : "",
			   ret ? strerror(errno) : "succeeded");
	else
		ret = 0;
	atomic_store(&io->stop, 1);
	pthread_join(th, NULL);
	close(fd);
	if (io->err)
		return fail("cycle %u: I/O: %s", io->cycle,
			    io->err < 0 ? "read back differs" : strerror(io->err));
	if (!autoclear && !ret && ioctl(other, VDI_DETACH) < 0)
		ret = fail("cycle %u: detach by the last opener: %s", io->cycle,
			   strerror(errno));
	/* The last close unbinds (and writes the metadata back). */
	close(other);
	memcpy(prev, io->wbuf, IO_SIZE);
	*prev_off = io->last;
	return ret;
}

static int run_cycles(const char *image, unsigned int n)
{
	unsigned char *prev;
	off_t prev_off = -1;
	struct io io = { 0 };
	int ctl = open(VDI_CONTROL, O_RDWR);

	if (ctl < 0)
		return fail("open %s: %s", VDI_CONTROL, strerror(errno));
	prev = malloc(IO_SIZE);
	if (posix_memalign((void **)&io.wbuf, IO_SIZE, IO_SIZE) ||
	    posix_memalign((void **)&io.rbuf, IO_SIZE, IO_SIZE) || !prev)
		return fail("out of memory");
	for (io.cycle = 0; io.cycle < n; io.cycle++)
		if (one_cycle(ctl, image, &io, prev, &prev_off))
			return 1;
	printf("%u attach/detach cycles done\n", n);
	return 0;
}

static int holder(const char *image)
{
	struct vdi_config cfg = { 0 };
	static const off_t at[] = { 0, 5 << 20 };
	unsigned char *buf;
	char dev[64];
	unsigned int i;
	int ctl, fd;

	ctl = open(VDI_CONTROL, O_RDWR);
	cfg.fd = open(image, O_RDWR);
	if (ctl < 0 || cfg.fd < 0)
		return fail("open: %s", strerror(errno));
	if (ioctl(ctl, VDI_CTL_ATTACH, &cfg) < 0)
		return fail("attach: %s", strerror(errno));
	if (fcntl(cfg.fd, F_SETFL, O_APPEND) < 0)
		return fail("F_SETFL O_APPEND: %s", strerror(errno));
	snprintf(dev, sizeof(dev), "/dev/vdi%u", cfg.index);
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&buf, IO_SIZE, IO_SIZE))
		return fail("open %s: %s", dev, strerror(errno));
	memset(buf, 0xa5, IO_SIZE);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (pwrite(fd, buf, IO_SIZE, at[i]) != IO_SIZE)
			return fail("write at %lld: %s", (long long)at[i],
				    strerror(errno));
	if (fsync(fd) < 0 || ioctl(fd, VDI_DETACH) < 0)
		return fail("fsync or detach: %s", strerror(errno));
	close(fd);
	close(cfg.fd);
	free(buf);
	printf("%s\n", dev);
	return 0;
}

static int expect_eperm(const char *name, int ret)
{
	if (ret < 0 && errno == EPERM)
		return 0;
	return fail("%s as nobody: %s", name, ret < 0 ? strerror(errno) : "succeeded");
}

static int eperm(const char *dev, const char *image)
{
	struct vdi_config cfg = { 0 };
	struct vdi_info info;
	int ctl = open(VDI_CONTROL, O_RDWR);
	int dfd = open(dev, O_RDWR);
	int ret = 0;

	cfg.fd = open(image, O_RDWR);
	if (ctl < 0 || dfd < 0 || cfg.fd < 0)
		return fail("open as root: %s", strerror(errno));
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		return fail("cannot become nobody: %s", strerror(errno));
	ret |= expect_eperm("VDI_CTL_ADD", ioctl(ctl, VDI_CTL_ADD, -1));
	ret |= expect_eperm("VDI_CTL_REMOVE", ioctl(ctl, VDI_CTL_REMOVE, 0));
	ret |= expect_eperm("VDI_CTL_ATTACH", ioctl(ctl, VDI_CTL_ATTACH, &cfg));
	ret |= expect_eperm("VDI_CONFIGURE", ioctl(dfd, VDI_CONFIGURE, &cfg));
	ret |= expect_eperm("VDI_DETACH", ioctl(dfd, VDI_DETACH));
	if (ioctl(dfd, VDI_GET_INFO, &info) < 0)
		ret |= fail("VDI_GET_INFO as nobody: %s", strerror(errno));
	return ret;
}

int main(int argc, char **argv)
{
	int ctl;

	if (argc == 4 && !strcmp(argv[1], "cycles"))
		return run_cycles(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "holder"))
		return holder(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "eperm"))
		return eperm(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "remove")) {
		ctl = open(VDI_CONTROL, O_RDWR);
		if (ctl < 0 || ioctl(ctl, VDI_CTL_REMOVE, atoi(argv[2])) < 0)
			return fail("%s", strerror(errno));
		return 0;
	}
	fprintf(stderr, "usage: lifecycle_helper cycles IMAGE N\n"
		"       lifecycle_helper remove INDEX\n"
		"       lifecycle_helper holder IMAGE\n"
		"       lifecycle_helper eperm DEV IMAGE\n");
	return 2;
}
