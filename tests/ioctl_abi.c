// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctl ABI of <linux/vdi.h>, call by call, with the exact errno of
 * every refusal: VDI_CTL_ATTACH of refused images (errno and format reason
 * code), of bad configurations and of a file bound already; VDI_GET_INFO
 * of a bound and an unbound device; VDI_DETACH of a busy, a bound and an
 * unbound device; VDI_CTL_ADD, VDI_CTL_REMOVE and VDI_CONFIGURE;
 * VDI_RESIZE growing in place and refusing to shrink, to move the map or
 * to write a read-only image; and EPERM for a caller without
 * CAP_SYS_ADMIN; the parents of a differencing image (VDI_FLAG_FORCE,
 * reason_level, nr_parents in VDI_GET_INFO, a writable parent busy).
 * struct vdi_config and struct vdi_info keep their size and one layout
 * for 32- and 64-bit callers as fields are added.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vdi_test.h"

#define NOBODY		65534

/* Fields come out of the reserved words: the size and the path stay. */
_Static_assert(sizeof(struct vdi_info) == 128 + VDI_PATH_MAX, "vdi_info size");
_Static_assert(offsetof(struct vdi_info, blocks_zero) == 64, "blocks_zero");
_Static_assert(offsetof(struct vdi_info, nr_parents) == 68, "nr_parents");
_Static_assert(sizeof(struct vdi_config) == 64, "vdi_config size");
_Static_assert(offsetof(struct vdi_config, parent_fds) == 16, "parent_fds");
_Static_assert(offsetof(struct vdi_config, nr_parents) == 24, "nr_parents");
_Static_assert(offsetof(struct vdi_config, reason_level) == 28, "level");
_Static_assert(offsetof(struct vdi_config, reserved) == 32, "reserved");

FIXTURE(abi) {
	char dir[64];
	int ctl;
	const char *skip;
};

FIXTURE_SETUP(abi)
{
	self->ctl = -1;
	self->skip = vdi_ready();
	if (self->skip)
		return;
	strcpy(self->dir, "/tmp/vdi-abi.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	self->ctl = open(VDI_CONTROL, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->ctl);
}

FIXTURE_TEARDOWN(abi)
{
	if (self->ctl >= 0)
		close(self->ctl);
	if (self->dir[0]) {
		/* Whatever a failed test left bound to files in here. */
		run("for f in /sys/block/vdi*/vdi/backing_file; do "
		    "grep -qs '^%s/' $f && d=${f#/sys/block/} && "
		    "'%s/build/vdisetup' detach ${d%%%%/*}; done; rm -rf '%s'",
		    self->dir, vdi_top(), self->dir);
	}
}

/* A 16 MiB dynamic image by qemu-img in the scratch directory. */
static void make_image(struct __test_metadata *_metadata,
		       FIXTURE_DATA(abi) *self, char *path, const char *name)
{
	sprintf(path, "%s/%s", self->dir, name);
	ASSERT_EQ(0, run("qemu-img create -q -f vdi '%s' 16M", path));
}

static void poke32(struct __test_metadata *_metadata, const char *path,
		   off_t off, u32 val)
{
	__le32 v = cpu_to_le32(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(v), pwrite(fd, &v, sizeof(v), off));
	close(fd);
}

/* VDI_CTL_ATTACH of @fd with @flags; returns the ioctl's result. */
static int ctl_attach(int ctl, int fd, u32 flags, struct vdi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fd = fd;
	cfg->flags = flags;
	return ioctl(ctl, VDI_CTL_ATTACH, cfg);
}

static int dev_ioctl(unsigned int index, unsigned long cmd, void *arg)
{
	char path[32];
	int fd, ret, err;

	snprintf(path, sizeof(path), "/dev/vdi%u", index);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = ioctl(fd, cmd, arg);
	err = errno;
	close(fd);
	errno = err;
	return ret;
}

struct refusal {
	const char *what;
	off_t off;		/* header field to change */
	u32 val;
	int err;		/* errno of VDI_CTL_ATTACH */
	u32 reason;		/* enum vdi_error in cfg.reason */
};

static const struct refusal refusals[] = {
	{ "bad signature", 64, 0x12345678, EINVAL, VDI_ERR_SIGNATURE },
	{ "version 1.2", 68, 0x00010002, EOPNOTSUPP, VDI_ERR_VERSION },
	{ "image type 7", 76, 7, EINVAL, VDI_ERR_IMAGE_TYPE },
	{ "unaligned map offset", 340, 0x201, EINVAL, VDI_ERR_BMAP_OFFSET },
	{ "disk size 0", 368, 0, EINVAL, VDI_ERR_DISK_SIZE },
	{ "block size 3 MiB", 376, 3 * MIB, EOPNOTSUPP, VDI_ERR_BLOCK_SIZE },
	{ "block_extra 512", 380, 512, EOPNOTSUPP, VDI_ERR_BLOCK_EXTRA },
	{ "allocated past the cap", 388, VDI_MAX_DATA_BLOCKS + 1, EUCLEAN,
	  VDI_ERR_BLOCKS_ALLOCATED },
	{ "parent UUID set", 440, 0xdeadbeef, EOPNOTSUPP, VDI_ERR_DIFFERENCING },
};

/* Each refused image: -1, its errno, its reason code, no device bound. */
TEST_F(abi, refused_images)
{
	struct vdi_config cfg;
	char path[128];
	unsigned int i;
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	for (i = 0; i < ARRAY_SIZE(refusals); i++) {
		const struct refusal *r = &refusals[i];

		make_image(_metadata, self, path, "refused.vdi");
		poke32(_metadata, path, r->off, r->val);
		fd = open(path, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd);
		errno = 0;
		EXPECT_EQ(-1, ctl_attach(self->ctl, fd, 0, &cfg)) {
			TH_LOG("%s: attached as vdi%u", r->what, cfg.index);
			dev_ioctl(cfg.index, VDI_DETACH, NULL);
		}
		EXPECT_EQ(r->err, errno) {
			TH_LOG("%s: errno %d (%s)", r->what, errno, strerror(errno));
		}
		EXPECT_EQ(r->reason, cfg.reason) {
			TH_LOG("%s: reason %u (%s)", r->what, cfg.reason,
			       vdi_strerror(cfg.reason));
		}
		close(fd);
		unlink(path);
	}
}

/* Bad configurations are refused before the image is looked at. */
TEST_F(abi, bad_config)
{
	struct vdi_config cfg;
	char path[128];
	int fd, wfd, dfd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	make_image(_metadata, self, path, "good.vdi");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = fd;
	cfg.reserved[3] = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_ATTACH, &cfg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0U, cfg.reason);

	/* A parent count without the array, and an array without a count. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = fd;
	cfg.nr_parents = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_ATTACH, &cfg));
	EXPECT_EQ(EINVAL, errno);
	cfg.nr_parents = 0;
	cfg.parent_fds = (uintptr_t)&fd;
	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_ATTACH, &cfg));
	EXPECT_EQ(EINVAL, errno);

	EXPECT_EQ(-1, ctl_attach(self->ctl, fd, 1U << 31, &cfg));
	EXPECT_EQ(EINVAL, errno);

	/* Direct I/O required and where possible at once. */
	EXPECT_EQ(-1, ctl_attach(self->ctl, fd, VDI_FLAG_DIRECT_IO |
				 VDI_FLAG_DIRECT_IO_AUTO, &cfg));
	EXPECT_EQ(EINVAL, errno);

	EXPECT_EQ(-1, ctl_attach(self->ctl, -1, 0, &cfg));
	EXPECT_EQ(EBADF, errno);

	wfd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, wfd);
	EXPECT_EQ(-1, ctl_attach(self->ctl, wfd, 0, &cfg));
	EXPECT_EQ(EBADF, errno);
	close(wfd);

	dfd = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	EXPECT_EQ(-1, ctl_attach(self->ctl, dfd, 0, &cfg));
	EXPECT_EQ(EINVAL, errno);
	close(dfd);
	close(fd);
}

/*
 * A struct vdi_config the kernel can read but not write back: EFAULT, and
 * nothing bound - the image attaches right after, the device configures.
 */
TEST_F(abi, config_not_writable)
{
	struct vdi_config *ro, cfg;
	char path[128], dev[32];
	int fd, idx, dfd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	make_image(_metadata, self, path, "ro.vdi");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ro->fd = fd;
	ASSERT_EQ(0, mprotect(ro, 4096, PROT_READ));

	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_ATTACH, ro));
	EXPECT_EQ(EFAULT, errno);
	idx = ctl_attach(self->ctl, fd, 0, &cfg);
	EXPECT_LE(0, idx) {
		TH_LOG("attach after the EFAULT: %s (left bound?)",
		       strerror(errno));
	}
	if (idx >= 0)
		EXPECT_EQ(0, dev_ioctl(idx, VDI_DETACH, NULL));

	idx = ioctl(self->ctl, VDI_CTL_ADD, -1);
	ASSERT_LE(0, idx);
	snprintf(dev, sizeof(dev), "/dev/vdi%d", idx);
	dfd = open(dev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	EXPECT_EQ(-1, ioctl(dfd, VDI_CONFIGURE, ro));
	EXPECT_EQ(EFAULT, errno);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = fd;
	EXPECT_EQ(0, ioctl(dfd, VDI_CONFIGURE, &cfg)) {
		TH_LOG("configure after the EFAULT: %s (left bound?)",
		       strerror(errno));
	}
	EXPECT_EQ(0, ioctl(dfd, VDI_DETACH));
	close(dfd);
	EXPECT_EQ(0, ioctl(self->ctl, VDI_CTL_REMOVE, idx));
	munmap(ro, 4096);
	close(fd);
}

/* Attach, a second attach, GET_INFO, detach busy and not, GET_INFO again. */
TEST_F(abi, attach_info_detach)
{
	struct vdi_disk_header disk;
	struct vdi_info *info;
	struct vdi_config cfg;
	char path[128], real[PATH_MAX], dev[32];
	u8 uuid[VDI_UUID_SIZE];
	struct stat st;
	int fd, ret, other;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	info = calloc(1, sizeof(*info));
	ASSERT_NE(NULL, info);
	make_image(_metadata, self, path, "good.vdi");
	ASSERT_NE(NULL, realpath(path, real));
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ((ssize_t)sizeof(disk), pread(fd, &disk, sizeof(disk), 0));

	ret = ctl_attach(self->ctl, fd, VDI_FLAG_PARTSCAN, &cfg);
	ASSERT_LE(0, ret) {
		TH_LOG("VDI_CTL_ATTACH: %s (reason %u)", strerror(errno), cfg.reason);
	}
	EXPECT_EQ((u32)ret, cfg.index);
	EXPECT_EQ(0U, cfg.reason);

	/* The same file again, through another descriptor: EBUSY. */
	other = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, other);
	EXPECT_EQ(-1, ctl_attach(self->ctl, other, 0, &cfg));
	EXPECT_EQ(EBUSY, errno);
	close(other);
	close(fd);

	ASSERT_EQ(0, dev_ioctl(ret, VDI_GET_INFO, info));
	EXPECT_EQ((u32)ret, info->index);
	EXPECT_EQ((u32)VDI_STATE_BOUND, info->state);
	EXPECT_EQ((u32)VDI_FLAG_PARTSCAN, info->flags);
	EXPECT_EQ((u32)MIB, info->block_size);
	EXPECT_EQ((__u64)16 * MIB, info->disk_size);
	EXPECT_EQ(16U, info->blocks_in_image);
	EXPECT_EQ(0U, info->blocks_allocated);
	EXPECT_EQ(0U, info->blocks_zero);
	vdi_uuid_swap(uuid, disk.uuid_image);
	EXPECT_EQ(0, memcmp(uuid, info->uuid, VDI_UUID_SIZE));
	EXPECT_STREQ(real, info->backing_file);
	EXPECT_EQ((__u64)st.st_ino, info->backing_inode);
	EXPECT_EQ((__u64)st.st_dev, info->backing_dev);

	/* Open elsewhere: EBUSY, and still bound. */
	snprintf(dev, sizeof(dev), "/dev/vdi%d", ret);
	other = open(dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, other);
	EXPECT_EQ(-1, dev_ioctl(ret, VDI_DETACH, NULL));
	EXPECT_EQ(EBUSY, errno);
	close(other);
	EXPECT_EQ(0, dev_ioctl(ret, VDI_GET_INFO, info));
	EXPECT_EQ((u32)VDI_STATE_BOUND, info->state);

	/* Only the caller has it open: detached when the caller closes it. */
	EXPECT_EQ(0, dev_ioctl(ret, VDI_DETACH, NULL));
	memset(info, 0xff, sizeof(*info));
	EXPECT_EQ(0, dev_ioctl(ret, VDI_GET_INFO, info));
	EXPECT_EQ((u32)VDI_STATE_UNBOUND, info->state);
	EXPECT_EQ(0U, info->blocks_in_image);
	EXPECT_EQ('\0', info->backing_file[0]);
	EXPECT_EQ(-1, dev_ioctl(ret, VDI_DETACH, NULL));
	EXPECT_EQ(ENXIO, errno);

	/* The file is free again. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ret = ctl_attach(self->ctl, fd, 0, &cfg);
	EXPECT_LE(0, ret);
	EXPECT_EQ(0, dev_ioctl(ret, VDI_GET_INFO, info));
	EXPECT_EQ((u32)VDI_FLAG_READ_ONLY, info->flags) {
		TH_LOG("a descriptor open read-only attaches read-only");
	}
	EXPECT_EQ(0, dev_ioctl(ret, VDI_DETACH, NULL));
	close(fd);
	free(info);
}

/* ADD, CONFIGURE and REMOVE of a chosen device. */
TEST_F(abi, add_configure_remove)
{
	struct vdi_config cfg;
	char path[128], dev[32];
	int idx, fd, dfd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	idx = ioctl(self->ctl, VDI_CTL_ADD, -1);
	ASSERT_LE(0, idx) {
		TH_LOG("VDI_CTL_ADD(-1): %s", strerror(errno));
	}
	snprintf(dev, sizeof(dev), "/dev/vdi%d", idx);
	EXPECT_EQ(0, access(dev, F_OK));
	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_ADD, idx));
	EXPECT_EQ(EEXIST, errno);
	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_ADD, -2));
	EXPECT_EQ(EINVAL, errno);

	make_image(_metadata, self, path, "conf.vdi");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	dfd = open(dev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = fd;
	EXPECT_EQ(0, ioctl(dfd, VDI_CONFIGURE, &cfg)) {
		TH_LOG("VDI_CONFIGURE: %s", strerror(errno));
	}
	EXPECT_EQ((u32)idx, cfg.index);
	/* A bound device cannot be configured again or removed. */
	EXPECT_EQ(-1, ioctl(dfd, VDI_CONFIGURE, &cfg));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_REMOVE, idx));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, ioctl(dfd, VDI_DETACH));
	close(dfd);
	close(fd);

	EXPECT_EQ(0, ioctl(self->ctl, VDI_CTL_REMOVE, idx)) {
		TH_LOG("VDI_CTL_REMOVE: %s", strerror(errno));
	}
	EXPECT_NE(0, access(dev, F_OK));
	EXPECT_EQ(-1, ioctl(self->ctl, VDI_CTL_REMOVE, idx));
	EXPECT_EQ(ENODEV, errno);
}

/*
 * VDI_RESIZE on QEMU's layout, whose map has room for 128 entries before
 * the data: 16 MiB grows to 64 and 128 MiB online, not to 129 MiB.
 */
TEST_F(abi, resize)
{
	struct vdi_info *info;
	struct vdi_config cfg;
	char path[128], dev[32];
	__u64 size, bytes = 0;
	int fd, dfd, idx;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	info = calloc(1, sizeof(*info));
	ASSERT_NE(NULL, info);
	make_image(_metadata, self, path, "grow.vdi");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	idx = ctl_attach(self->ctl, fd, 0, &cfg);
	ASSERT_LE(0, idx);
	snprintf(dev, sizeof(dev), "/dev/vdi%d", idx);
	dfd = open(dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, dfd);

	size = 64 * MIB;
	EXPECT_EQ(0, ioctl(dfd, VDI_RESIZE, &size)) {
		TH_LOG("VDI_RESIZE 64 MiB: %s", strerror(errno));
	}
	EXPECT_EQ(0, ioctl(dfd, BLKGETSIZE64, &bytes));
	EXPECT_EQ(size, bytes);
	EXPECT_EQ(0, ioctl(dfd, VDI_GET_INFO, info));
	EXPECT_EQ(size, info->disk_size);
	EXPECT_EQ(64U, info->blocks_in_image);
	size = 128 * MIB;
	EXPECT_EQ(0, ioctl(dfd, VDI_RESIZE, &size));
	size = 129 * MIB;
	EXPECT_EQ(-1, ioctl(dfd, VDI_RESIZE, &size));
	EXPECT_EQ(ENOSPC, errno);
	size = 32 * MIB;
	EXPECT_EQ(-1, ioctl(dfd, VDI_RESIZE, &size));
	EXPECT_EQ(EINVAL, errno);
	size = 128 * MIB + 1;
	EXPECT_EQ(-1, ioctl(dfd, VDI_RESIZE, &size));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, ioctl(dfd, BLKGETSIZE64, &bytes));
	EXPECT_EQ((__u64)128 * MIB, bytes);
	EXPECT_EQ(0, ioctl(dfd, VDI_DETACH));
	close(dfd);
	close(fd);
	EXPECT_EQ(0, run("qemu-img check -q -f vdi '%s' && "
			 "qemu-img info '%s' | grep -q '^virtual size: 128 MiB'",
			 path, path));

	/* Read-only: EROFS. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	idx = ctl_attach(self->ctl, fd, 0, &cfg);
	ASSERT_LE(0, idx);
	size = 256 * MIB;
	EXPECT_EQ(-1, dev_ioctl(idx, VDI_RESIZE, &size));
	EXPECT_EQ(EROFS, errno);
	EXPECT_EQ(0, dev_ioctl(idx, VDI_DETACH, NULL));
	close(fd);
	free(info);
}

/* Without CAP_SYS_ADMIN every changing call is EPERM; GET_INFO is not. */
TEST_F(abi, unprivileged)
{
	struct vdi_config cfg;
	char path[128], dev[32];
	int fd, dfd, idx, status;
	pid_t pid;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	make_image(_metadata, self, path, "priv.vdi");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	idx = ctl_attach(self->ctl, fd, 0, &cfg);
	ASSERT_LE(0, idx);
	snprintf(dev, sizeof(dev), "/dev/vdi%d", idx);
	dfd = open(dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, dfd);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct vdi_info *info = calloc(1, sizeof(*info));
		__u64 size = 64 * MIB;
		int bad = 0;

		if (setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			_exit(10);
		/* Descriptors opened by root, used without the capability. */
		bad |= !(ioctl(self->ctl, VDI_CTL_ADD, -1) == -1 && errno == EPERM) << 0;
		bad |= !(ioctl(self->ctl, VDI_CTL_REMOVE, idx) == -1 && errno == EPERM) << 1;
		bad |= !(ctl_attach(self->ctl, fd, 0, &cfg) == -1 && errno == EPERM) << 2;
		bad |= !(ioctl(dfd, VDI_DETACH) == -1 && errno == EPERM) << 3;
		bad |= !(ioctl(dfd, VDI_GET_INFO, info) == 0) << 4;
		bad |= !(ioctl(dfd, VDI_RESIZE, &size) == -1 && errno == EPERM) << 6;
		/* The control node itself is root's. */
		bad |= !(open(VDI_CONTROL, O_RDWR) == -1 && errno == EACCES) << 5;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) {
		TH_LOG("failed checks (bits): ADD, REMOVE, ATTACH, DETACH, GET_INFO, open, RESIZE = 0x%x",
		       WEXITSTATUS(status));
	}
	close(dfd);
	EXPECT_EQ(0, dev_ioctl(idx, VDI_DETACH, NULL));
	close(fd);
}

TEST_HARNESS_MAIN

/* VDI_CTL_ATTACH of @fd with @n parents @fds and @flags. */
static int ctl_attach_chain(int ctl, int fd, const __s32 *fds, u32 n,
			    u32 flags, struct vdi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fd = fd;
	cfg->flags = flags;
	cfg->parent_fds = (uintptr_t)fds;
	cfg->nr_parents = n;
	return ioctl(ctl, VDI_CTL_ATTACH, cfg);
}

/*
 * A child of base.vdi: refused alone, attached with its parent (counted
 * in VDI_GET_INFO), the parent then busy for a writable attach; refused
 * with the wrong parent (reason_level 1), too many parents, a bad
 * descriptor; a modified parent only with VDI_FLAG_FORCE.
 */
TEST_F(abi, chain)
{
	char base[128], child[128], other[128];
	struct vdi_info *info;
	struct vdi_config cfg;
	__s32 fds[VDI_MAX_CHAIN];
	int cfd, pfd, ofd, bfd, ret;
	unsigned int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	info = calloc(1, sizeof(*info));
	ASSERT_NE(NULL, info);
	make_image(_metadata, self, base, "base.vdi");
	make_image(_metadata, self, other, "other.vdi");
	sprintf(child, "%s/child.vdi", self->dir);
	ASSERT_EQ(0, run("'%s/build/vdisetup' create --parent '%s' '%s'",
			 vdi_top(), base, child));
	cfd = open(child, O_RDWR | O_CLOEXEC);
	pfd = open(base, O_RDONLY | O_CLOEXEC);
	ofd = open(other, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, cfd);
	ASSERT_LE(0, pfd);
	ASSERT_LE(0, ofd);

	EXPECT_EQ(-1, ctl_attach(self->ctl, cfd, 0, &cfg));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ((u32)VDI_ERR_DIFFERENCING, cfg.reason);

	EXPECT_EQ(-1, ctl_attach_chain(self->ctl, cfd, &ofd, 1, 0, &cfg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ((u32)VDI_ERR_LINK_UUID, cfg.reason);
	EXPECT_EQ(1U, cfg.reason_level);

	fds[0] = -1;
	EXPECT_EQ(-1, ctl_attach_chain(self->ctl, cfd, fds, 1, 0, &cfg));
	EXPECT_EQ(EBADF, errno);

	for (i = 0; i < VDI_MAX_CHAIN; i++)
		fds[i] = pfd;
	EXPECT_EQ(-1, ctl_attach_chain(self->ctl, cfd, fds, VDI_MAX_CHAIN, 0,
				       &cfg));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ((u32)VDI_ERR_CHAIN_DEPTH, cfg.reason);

	/* The parent twice: a base image has no parent. */
	EXPECT_EQ(-1, ctl_attach_chain(self->ctl, cfd, fds, 2, 0, &cfg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ((u32)VDI_ERR_LINK_NOT_DIFF, cfg.reason);
	EXPECT_EQ(2U, cfg.reason_level);

	ret = ctl_attach_chain(self->ctl, cfd, &pfd, 1, 0, &cfg);
	ASSERT_LE(0, ret) {
		TH_LOG("chain attach: %s (reason %u)", strerror(errno),
		       cfg.reason);
	}
	ASSERT_EQ(0, dev_ioctl(ret, VDI_GET_INFO, info));
	EXPECT_EQ(1U, info->nr_parents);
	EXPECT_EQ(0U, info->flags & VDI_FLAG_READ_ONLY);
	/* The parent is in use: not writable elsewhere, read-only is fine. */
	bfd = open(base, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, bfd);
	EXPECT_EQ(-1, ctl_attach(self->ctl, bfd, 0, &cfg));
	EXPECT_EQ(EBUSY, errno);
	close(bfd);
	EXPECT_EQ(0, dev_ioctl(ret, VDI_DETACH, NULL));

	/* The parent changes: refused, accepted with VDI_FLAG_FORCE. */
	poke32(_metadata, base, 0x188 + 16, 0x12345678);
	EXPECT_EQ(-1, ctl_attach_chain(self->ctl, cfd, &pfd, 1, 0, &cfg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ((u32)VDI_ERR_LINK_MODIFIED, cfg.reason);
	EXPECT_EQ(1U, cfg.reason_level);
	ret = ctl_attach_chain(self->ctl, cfd, &pfd, 1, VDI_FLAG_FORCE, &cfg);
	EXPECT_LE(0, ret) {
		TH_LOG("forced: %s (reason %u)", strerror(errno), cfg.reason);
	}
	if (ret >= 0)
		EXPECT_EQ(0, dev_ioctl(ret, VDI_DETACH, NULL));
	close(ofd);
	close(pfd);
	close(cfd);
	free(info);
}
