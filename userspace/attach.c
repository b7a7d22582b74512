// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup attach, detach and list: the device side of the tool.
 *
 * attach opens the image itself and hands the descriptor to the kernel in
 * one VDI_CTL_ATTACH call on /dev/vdi-control, which binds it to a free
 * device (making one if needed) and returns the index: there is no window
 * between "find a free device" and "bind it" for another process to take
 * the device, which losetup -f has to retry around. A differencing image
 * goes with its parents (found as "vdisetup info" finds them, or given
 * with --parent), open read-only, their descriptors in the same call.
 *
 * list reads sysfs only (/sys/block/vdiN/vdi/...), so it needs no privilege.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/vdi.h>

#include "chain.h"
#include "util.h"
#include "vdisetup.h"

#define CONTROL_PATH	"/dev/" VDI_CONTROL_NAME
#define SYS_BLOCK	"/sys/block"

static int open_control(void)
{
	int fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "cannot open %s: %s%s\n", CONTROL_PATH,
			strerror(errno), errno == ENOENT ?
			" (is the vdi module loaded? try 'modprobe vdi')" : "");
	return fd;
}

/* "vdi3", "/dev/vdi3" -> 3; -1 when the name is not of that form. */
static long dev_index(const char *dev)
{
	const char *base = strrchr(dev, '/');
	char *end;
	long idx;

	base = base ? base + 1 : dev;
	if (strncmp(base, "vdi", 3) != 0 || !isdigit((unsigned char)base[3]))
		return -1;
	errno = 0;
	idx = strtol(base + 3, &end, 10);
	if (*end || errno || idx > INT_MAX)
		return -1;
	return idx;
}

/* losetup accepts "loop0" for "/dev/loop0": do the same for vdiN. */
static void dev_path(char *buf, size_t len, const char *dev)
{
	if (strchr(dev, '/'))
		snprintf(buf, len, "%s", dev);
	else
		snprintf(buf, len, "/dev/%s", dev);
}

/*
 * Is @path a whole vdi disk? Its sysfs directory holds the driver's vdi/
 * attributes, which no other driver's disk and no partition has. Only
 * then may a vdi ioctl go to it: another driver may use the same number
 * for a command of its own. stat() and not open(), which would detach an
 * autoclear device at its close.
 */
static bool is_vdi_disk(const char *path)
{
	char sys[64];
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
		return false;
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/vdi",
		 major(st.st_rdev), minor(st.st_rdev));
	return access(sys, F_OK) == 0;
}

static void say_not_vdi(const char *path)
{
	errmsg(path, "not a vdi device");
}

/* Reads a sysfs attribute of @name into @buf, trailing newline removed. */
static int read_attr(const char *name, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), SYS_BLOCK "/%s/%s", name, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
		n--;
	buf[n] = '\0';
	return 0;
}

static int read_attr_u64(const char *name, const char *attr,
			 unsigned long long *val)
{
	char buf[64], *end;

	if (read_attr(name, attr, buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	*val = strtoull(buf, &end, 0);
	if (end == buf || *end || errno) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Calls @fn on the name of every vdiN disk in sysfs, in index order. */
static int scan_vdi_disks(int (*fn)(const char *name, void *arg), void *arg)
{
	struct dirent **names;
	int i, n, ret = 0;

	n = scandir(SYS_BLOCK, &names, NULL, versionsort);
	if (n < 0) {
		errmsg_sys(SYS_BLOCK, "cannot read");
		return -1;
	}
	for (i = 0; i < n; i++) {
		char attrs[PATH_MAX];
		struct stat sb;

		/* virtio's 9th disk is also "vdi": only ours have vdi/. */
		snprintf(attrs, sizeof(attrs), SYS_BLOCK "/%s/vdi", names[i]->d_name);
		if (dev_index(names[i]->d_name) >= 0 && !stat(attrs, &sb) &&
		    fn(names[i]->d_name, arg) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

/*
 * The kernel refused the image with format code @reason. Run the same
 * checks of the shared format code over the same open file to produce the
 * identical one-line text, offending value included; if the file now says
 * something else (it changed in between), print the kernel's reason alone.
 */
static void explain_refusal(int fd, u32 reason, char *buf, size_t len)
{
	struct vdi_disk_header disk = { 0 };
	struct vdi_map_stats st = { 0 };
	unsigned long *seen = NULL;
	struct vdi_header h;
	enum vdi_error err;
	size_t map_len;
	u32 *map = NULL;
	u64 size;

	if (fd_size(fd, &size) < 0 || pread_full(fd, &disk, sizeof(disk), 0) < 0)
		goto fallback;
	vdi_header_decode(&h, &disk);
	err = vdi_header_check(&h, size);
	if (err == VDI_OK) {
		map_len = (size_t)h.blocks_in_image * sizeof(*map);
		map = malloc(map_len);
		seen = calloc(1, vdi_map_seen_bytes(&h, size));
		if (!map || !seen ||
		    pread_full(fd, map, map_len, h.offset_bmap) != (ssize_t)map_len)
			goto fallback;
		vdi_map_to_cpu(map, h.blocks_in_image);
		err = vdi_map_check(&h, map, size, seen, &st);
	}
	if ((u32)err != reason)
		goto fallback;
	vdi_explain(buf, len, err, &h, &st);
	free(map);
	free(seen);
	return;
fallback:
	free(map);
	free(seen);
	snprintf(buf, len, "%s", vdi_strerror(reason));
}

static void attach_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup attach [options] FILE [DEV]\n"
		"\nAttach the VDI image FILE to a free /dev/vdiN (chosen and bound by\n"
		"the kernel in one step), or to DEV when given.\n"
		"\nOptions:\n"
		" -f, --find       attach to a free device (the default; for losetup users)\n"
		"     --show       print the device name after attaching\n"
		" -r, --read-only  attach read-only\n"
		" -P, --partscan   scan the device for partitions (/dev/vdiNpM)\n"
		"     --direct-io[=on|off|auto]\n"
		"                  direct I/O on the backing file: auto (the default)\n"
		"                  where the file allows it, on (also without a value)\n"
		"                  or fail, off for buffered I/O\n"
		"     --autoclear  detach automatically when the device is last closed\n"
		"     --parent PARENT\n"
		"                  the parent of a differencing FILE (again for its\n"
		"                  parent, and so on); by default found by UUID among the\n"
		"                  *.vdi files beside FILE and one directory up\n"
		"     --accept-changed-parent\n"
		"                  accept a parent changed since its child was made\n"
		" -h, --help       display this help\n"
		"\nLike losetup, a FILE that cannot be opened for writing (read-only\n"
		"file system, no write permission) is attached read-only. The parents of\n"
		"a differencing image are only read; writes go to FILE.\n");
}

/*
 * Bind cfg->fd to the device @path with VDI_CONFIGURE, adding the device
 * through the control node @ctl if it does not exist yet.
 */
static int configure_dev(int ctl, const char *path, struct vdi_config *cfg)
{
	int rw = cfg->flags & VDI_FLAG_READ_ONLY ? O_RDONLY : O_RDWR;
	long idx = dev_index(path);
	int dfd, ret;

	dfd = open(path, rw | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT && idx >= 0) {
		ret = ioctl(ctl, VDI_CTL_ADD, idx);
		if (ret < 0 && errno != EEXIST)
			return -1;
		dfd = open(path, rw | O_CLOEXEC);
	}
	if (dfd < 0)
		return -1;
	ret = ioctl(dfd, VDI_CONFIGURE, cfg);
	close(dfd);
	return ret;
}

/*
 * Is the image open on @fd a differencing image that names a parent? One
 * that does not is left to the driver to refuse, with its reason.
 */
static bool is_child(int fd)
{
	struct vdi_disk_header d;
	struct vdi_header h;
	u64 size;

	if (fd_size(fd, &size) < 0 || pread_full(fd, &d, sizeof(d), 0) != sizeof(d))
		return false;
	vdi_header_decode(&h, &d);
	return h.image_type == VDI_TYPE_DIFF && !vdi_chain_header_check(&h, size);
}

/*
 * The parents of @file when it is a child or @o names any: opened
 * read-only in @c, their descriptors in @fds for @cfg. 0, or -1 when the
 * chain is broken or cannot be read (printed). A child whose parent is
 * not found at all goes to the driver alone, which refuses it and logs
 * why; @hint then says what is missing.
 */
static int attach_chain(const char *file, int fd, struct chain *c,
			const struct chain_opts *o, __s32 *fds,
			struct vdi_config *cfg, char *hint, size_t len)
{
	size_t skip = strlen(file);

	int ret;
	u32 i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i <= VDI_MAX_CHAIN; i++)
		c->img[i].fd = -1;
	if (!o->nparents && !is_child(fd))
		return 0;
	ret = chain_open(c, file, o);
	if (ret > 0 && c->n == 1 && c->err == VDI_ERR_PARENT_MISSING) {
		/* c->why is "FILE: reason". */
		if (strncmp(c->why, file, skip) == 0 &&
		    strncmp(c->why + skip, ": ", 2) == 0)
			skip += 2;
		else
			skip = 0;
		snprintf(hint, len, "; %s", c->why + skip);
		return 0;
	}
	if (ret > 0)
		fprintf(stderr, "%s\n", c->why);
	if (ret)
		return -1;
	for (i = 1; i < c->n; i++)
		fds[i - 1] = c->img[i].fd;
	cfg->nr_parents = c->n - 1;
	cfg->parent_fds = c->n > 1 ? (uintptr_t)fds : 0;
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	enum { OPT_SHOW = 256, OPT_DIRECT_IO, OPT_AUTOCLEAR, OPT_PARENT,
	       OPT_CHANGED_PARENT };
	static const struct option opts[] = {
		{ "find",	no_argument, NULL, 'f' },
		{ "show",	no_argument, NULL, OPT_SHOW },
		{ "read-only",	no_argument, NULL, 'r' },
		{ "partscan",	no_argument, NULL, 'P' },
		{ "direct-io",	optional_argument, NULL, OPT_DIRECT_IO },
		{ "autoclear",	no_argument, NULL, OPT_AUTOCLEAR },
		{ "parent",	required_argument, NULL, OPT_PARENT },
		{ "accept-changed-parent", no_argument, NULL, OPT_CHANGED_PARENT },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char reason[512], hint[256] = "", dev[PATH_MAX] = "";
	struct chain_opts copts = { .writable = 0 };
	__s32 fds[VDI_MAX_CHAIN];
	struct vdi_config cfg;
	struct chain chain;
	const char *file, *bad;
	bool show = false;
	int c, fd, ctl, ret, err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.flags = VDI_FLAG_DIRECT_IO_AUTO;
	while ((c = getopt_long(argc, argv, "frPh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			break;
		case OPT_SHOW:
			show = true;
			break;
		case 'r':
			cfg.flags |= VDI_FLAG_READ_ONLY;
			break;
		case 'P':
			cfg.flags |= VDI_FLAG_PARTSCAN;
			break;
		case OPT_DIRECT_IO:
			cfg.flags &= ~(VDI_FLAG_DIRECT_IO | VDI_FLAG_DIRECT_IO_AUTO);
			if (!optarg || !strcmp(optarg, "on")) {
				cfg.flags |= VDI_FLAG_DIRECT_IO;
			} else if (!strcmp(optarg, "auto")) {
				cfg.flags |= VDI_FLAG_DIRECT_IO_AUTO;
			} else if (strcmp(optarg, "off") != 0) {
				fprintf(stderr,
					"vdisetup attach: --direct-io takes on, off or auto, not '%s'\n",
					optarg);
				return usage_hint("attach");
			}
			break;
		case OPT_AUTOCLEAR:
			cfg.flags |= VDI_FLAG_AUTOCLEAR;
			break;
		case OPT_PARENT:
			if (chain_add_parent(&copts, optarg) < 0)
				return 1;
			break;
		case OPT_CHANGED_PARENT:
			copts.changed_parent = true;
			cfg.flags |= VDI_FLAG_FORCE;
			break;
		case 'h':
			attach_usage(stdout);
			return 0;
		default:
			return usage_hint("attach");
		}
	}
	if (optind >= argc || argc - optind > 2) {
		fprintf(stderr, "vdisetup attach: %s\n", optind >= argc ?
			"no image file given" : "too many arguments");
		return usage_hint("attach");
	}
	file = argv[optind];
	if (argc - optind == 2)
		dev_path(dev, sizeof(dev), argv[optind + 1]);
	/* One that does not exist yet is for configure_dev() to make. */
	if (dev[0] && access(dev, F_OK) == 0 && !is_vdi_disk(dev)) {
		say_not_vdi(dev);
		return 1;
	}

	/* First: without the module every later failure would be misleading. */
	ctl = open_control();
	if (ctl < 0)
		return 1;
	fd = open(file, (cfg.flags & VDI_FLAG_READ_ONLY ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 && !(cfg.flags & VDI_FLAG_READ_ONLY) &&
	    (errno == EROFS || errno == EACCES)) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			cfg.flags |= VDI_FLAG_READ_ONLY;
	}
	if (fd < 0) {
		errmsg_sys(file, "attach failed");
		close(ctl);
		return 1;
	}
	cfg.fd = fd;
	if (attach_chain(file, fd, &chain, &copts, fds, &cfg, hint,
			 sizeof(hint)) < 0) {
		chain_close(&chain);
		close(fd);
		close(ctl);
		return 1;
	}

	if (dev[0])
		ret = configure_dev(ctl, dev, &cfg);
	else
		ret = ioctl(ctl, VDI_CTL_ATTACH, &cfg);
	err = errno;
	close(ctl);
	bad = file;
	if (ret < 0) {
		if (cfg.reason && cfg.reason_level && cfg.reason_level < chain.n) {
			/* A parent, or a link the chain had when checked. */
			bad = chain.img[cfg.reason_level].path;
			explain_refusal(chain.img[cfg.reason_level].fd, cfg.reason,
					reason, sizeof(reason));
		} else if (cfg.reason) {
			explain_refusal(fd, cfg.reason, reason, sizeof(reason));
			if (cfg.reason == VDI_ERR_DIFFERENCING)
				strncat(reason, hint, sizeof(reason) - strlen(reason) - 1);
		} else {
			snprintf(reason, sizeof(reason), "%s%s", strerror(err),
				 err == EINVAL && (cfg.flags & VDI_FLAG_DIRECT_IO) ?
				 " (no direct I/O on this file; the kernel log says why)" : "");
		}
		errmsg(bad, "attach failed: %s", reason);
		chain_close(&chain);
		close(fd);
		return 1;
	}
	chain_close(&chain);
	close(fd);
	if (!dev[0])
		snprintf(dev, sizeof(dev), "/dev/vdi%u", cfg.index);
	if (show)
		printf("%s\n", dev);
	return 0;
}

/* Is the image of the vdi disk @name the file @file (by any of its names)? */
static bool backed_by(const char *name, const struct stat *file)
{
	char back[VDI_PATH_MAX];
	struct stat st;

	if (read_attr(name, "vdi/backing_file", back, sizeof(back)) < 0 ||
	    !back[0] || stat(back, &st) < 0)
		return false;
	if (S_ISBLK(st.st_mode) && S_ISBLK(file->st_mode))
		return st.st_rdev == file->st_rdev;
	return st.st_dev == file->st_dev && st.st_ino == file->st_ino;
}

/*
 * Detach one device; prints the failure and returns -1. With @all, a
 * device that is no longer bound (ENXIO: it was detached meanwhile, or an
 * autoclear device went at its last close) is no failure.
 */
static int detach_one(const char *dev, bool all)
{
	char path[PATH_MAX];
	int fd, err, ret = -1;

	dev_path(path, sizeof(path), dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ret = ioctl(fd, VDI_DETACH);
		err = errno;
		close(fd);
		errno = err;
	}
	if (ret < 0 && all && errno == ENXIO)
		return 0;
	if (ret < 0 && errno == ENOENT && access(CONTROL_PATH, F_OK) < 0)
		errmsg(path, "detach failed: %s (is the vdi module loaded?)",
		       strerror(ENOENT));
	else if (ret < 0)
		errmsg_sys(path, "detach failed");
	return ret;
}

/*
 * For detach -a: bound devices are those with a backing file in sysfs.
 * Opening the device to ask would detach an autoclear device by itself.
 */
static int detach_if_bound(const char *name, void *arg)
{
	char file[VDI_PATH_MAX];

	(void)arg;
	if (read_attr(name, "vdi/backing_file", file, sizeof(file)) < 0 || !file[0])
		return 0;
	return detach_one(name, true);
}

struct detach_file {
	struct stat file;
	int found;
	int failed;
};

static int detach_if_backed(const char *name, void *arg)
{
	struct detach_file *df = arg;

	if (!backed_by(name, &df->file))
		return 0;
	df->found++;
	if (detach_one(name, false) < 0)
		df->failed++;
	return 0;
}

/*
 * A device (/dev/vdiN, vdiN), or the image a device serves, as losetup -d
 * takes a file: every vdi device backed by it is detached. Anything else
 * is refused before an ioctl could reach another driver's device.
 */
static int detach_arg(const char *arg)
{
	struct detach_file df = { .found = 0 };
	char path[PATH_MAX];

	dev_path(path, sizeof(path), arg);
	if (is_vdi_disk(path) || (access(arg, F_OK) < 0 && access(path, F_OK) < 0))
		return detach_one(arg, false);
	if (stat(arg, &df.file) < 0 ||
	    scan_vdi_disks(detach_if_backed, &df) < 0)
		return -1;
	if (df.found)
		return df.failed ? -1 : 0;
	if (S_ISREG(df.file.st_mode))
		errmsg(arg, "not attached to any vdi device");
	else
		say_not_vdi(arg);
	return -1;
}

static void detach_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup detach DEV|FILE...\n"
		" vdisetup detach -a|--all\n"
		"\nDetach the devices (/dev/vdiN or vdiN) from their images; for an\n"
		"image FILE, every device it is attached to.\n"
		"A device that is mounted or open fails with 'Device or resource busy'\n"
		"unless it was attached with --autoclear.\n"
		"\nOptions:\n"
		" -a, --all   detach every attached device (also -D)\n"
		" -h, --help  display this help\n");
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all",	no_argument, NULL, 'a' },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool all = false;
	int c, i, ret = 0;

	while ((c = getopt_long(argc, argv, "aDh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'D':
			all = true;
			break;
		case 'h':
			detach_usage(stdout);
			return 0;
		default:
			return usage_hint("detach");
		}
	}
	if (all ? optind < argc : optind >= argc) {
		fprintf(stderr, "vdisetup detach: %s\n",
			all ? "--all takes no device names" : "no device given");
		return usage_hint("detach");
	}
	if (all)
		return scan_vdi_disks(detach_if_bound, NULL) < 0;
	for (i = optind; i < argc; i++)
		if (detach_arg(argv[i]) < 0)
			ret = 1;
	return ret;
}

/* One attached device as sysfs shows it. */
struct vdi_dev {
	char name[64];
	char back_file[VDI_PATH_MAX];
	unsigned long long size;	/* bytes */
	unsigned long long allocated;	/* bytes in allocated blocks */
	unsigned long long zero;	/* bytes in zero blocks */
	unsigned long long free;	/* the rest of the disk: free blocks */
	long long file_used;		/* bytes the file occupies, or -1 */
	unsigned int flags;		/* effective VDI_FLAG_* */
};

struct dev_list {
	struct vdi_dev *devs;
	size_t count;
	const struct stat *file;	/* only devices backed by it (-j) */
	char **names;			/* only these devices, if any */
	int nnames;
};

/* Is the device @name one that list was asked for? */
static bool wanted(const struct dev_list *list, const char *name)
{
	char path[PATH_MAX], want[PATH_MAX];
	int i;

	if (list->file && !backed_by(name, list->file))
		return false;
	if (!list->nnames)
		return true;
	dev_path(path, sizeof(path), name);
	for (i = 0; i < list->nnames; i++) {
		dev_path(want, sizeof(want), list->names[i]);
		if (!strcmp(path, want))
			return true;
	}
	return false;
}

static int collect_dev(const char *name, void *arg)
{
	struct dev_list *list = arg;
	unsigned long long sectors, blocks, zero, bsize, flags;
	struct vdi_dev *d, *grown;
	struct stat st;

	grown = realloc(list->devs, (list->count + 1) * sizeof(*d));
	if (!grown) {
		errmsg("vdisetup list", "%s", strerror(errno));
		return -1;
	}
	list->devs = grown;
	d = &list->devs[list->count];
	memset(d, 0, sizeof(*d));
	/* An unbound device has no backing file: not listed, like losetup. */
	if (read_attr(name, "vdi/backing_file", d->back_file, sizeof(d->back_file)) < 0 ||
	    !d->back_file[0] || !wanted(list, name))
		return 0;
	snprintf(d->name, sizeof(d->name), "/dev/%s", name);
	if (!read_attr_u64(name, "size", &sectors))
		d->size = sectors * 512;
	if (!read_attr_u64(name, "vdi/allocated_blocks", &blocks) &&
	    !read_attr_u64(name, "vdi/zero_blocks", &zero) &&
	    !read_attr_u64(name, "vdi/block_size", &bsize)) {
		d->allocated = blocks * bsize;
		d->zero = zero * bsize;
		/* A last block the end cuts through counts whole. */
		if (d->size > d->allocated + d->zero)
			d->free = d->size - d->allocated - d->zero;
	}
	/* Without search permission on its directory: unknown. */
	d->file_used = stat(d->back_file, &st) ? -1 : (long long)st.st_blocks * 512;
	/* The effective VDI_FLAG_* bits, as a number. */
	if (!read_attr_u64(name, "vdi/flags", &flags))
		d->flags = flags;
	list->count++;
	return 0;
}

/* FILE-USED as text, @unknown when the file could not be looked at. */
static const char *file_used(const struct vdi_dev *d, char buf[24],
			     const char *unknown)
{
	if (d->file_used < 0)
		return unknown;
	snprintf(buf, 24, "%lld", d->file_used);
	return buf;
}

static const char *json_bool(unsigned int flags, unsigned int flag)
{
	return flags & flag ? "true" : "false";
}

static void list_json(const struct dev_list *list)
{
	char used[24];
	size_t i;

	printf("{\n   \"vdidevices\": [");
	for (i = 0; i < list->count; i++) {
		const struct vdi_dev *d = &list->devs[i];

		printf("%s\n      {\n         \"name\": ", i ? "," : "");
		json_string(stdout, d->name);
		printf(",\n         \"back-file\": ");
		json_string(stdout, d->back_file);
		printf(",\n         \"size\": %llu,\n         \"allocated\": %llu,\n"
		       "         \"zero\": %llu,\n         \"free\": %llu,\n"
		       "         \"file-used\": %s,\n"
		       "         \"ro\": %s,\n         \"partscan\": %s,\n"
		       "         \"autoclear\": %s,\n         \"dio\": %s\n      }",
		       d->size, d->allocated, d->zero, d->free, file_used(d, used, "null"),
		       json_bool(d->flags, VDI_FLAG_READ_ONLY),
		       json_bool(d->flags, VDI_FLAG_PARTSCAN),
		       json_bool(d->flags, VDI_FLAG_AUTOCLEAR),
		       json_bool(d->flags, VDI_FLAG_DIRECT_IO));
	}
	printf("%s]\n}\n", list->count ? "\n   " : "");
}

static void list_table(const struct dev_list *list, bool headings)
{
	int wname = 4, wfile = 9;
	char used[24];
	size_t i;

	for (i = 0; i < list->count; i++) {
		int n = strlen(list->devs[i].name), f = strlen(list->devs[i].back_file);

		wname = n > wname ? n : wname;
		wfile = f > wfile ? f : wfile;
	}
	if (headings)
		printf("%-*s %-*s %12s %12s %12s %12s %12s RO PARTSCAN AUTOCLEAR DIO\n",
		       wname, "NAME", wfile, "BACK-FILE", "SIZE", "ALLOCATED",
		       "ZERO", "FREE", "FILE-USED");
	for (i = 0; i < list->count; i++) {
		const struct vdi_dev *d = &list->devs[i];

		printf("%-*s %-*s %12llu %12llu %12llu %12llu %12s %2d %8d %9d %3d\n",
		       wname, d->name, wfile, d->back_file, d->size, d->allocated,
		       d->zero, d->free, file_used(d, used, "-"),
		       !!(d->flags & VDI_FLAG_READ_ONLY),
		       !!(d->flags & VDI_FLAG_PARTSCAN),
		       !!(d->flags & VDI_FLAG_AUTOCLEAR),
		       !!(d->flags & VDI_FLAG_DIRECT_IO));
	}
}

static void list_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup list [options] [DEV...]\n"
		"\nList the attached devices (from sysfs; needs no privilege), or\n"
		"only the devices DEV.\n"
		"Columns: NAME BACK-FILE SIZE ALLOCATED ZERO FREE FILE-USED RO PARTSCAN\n"
		"AUTOCLEAR DIO; SIZE is the virtual size, ALLOCATED, ZERO and FREE the\n"
		"bytes of the image's allocated, zero (discarded) and free blocks,\n"
		"FILE-USED what the backing file occupies on its file system (- when\n"
		"its directory cannot be searched), all in bytes.\n"
		"\nOptions:\n"
		" -j, --associated FILE\n"
		"                     only the devices FILE is attached to\n"
		" -J, --json          JSON output: {\"vdidevices\": [...]}\n"
		"     --output=FMT    json or human (the table)\n"
		" -n, --noheadings    no heading line\n"
		" -h, --help          display this help\n");
}

int cmd_list(int argc, char **argv)
{
	enum { OPT_OUTPUT = 256 };
	static const struct option opts[] = {
		{ "associated",	required_argument, NULL, 'j' },
		{ "json",	no_argument, NULL, 'J' },
		{ "output",	required_argument, NULL, OPT_OUTPUT },
		{ "noheadings",	no_argument, NULL, 'n' },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct dev_list list = { .devs = NULL };
	bool json = false, headings = true;
	struct stat file;
	int c, ret;

	while ((c = getopt_long(argc, argv, "j:Jnh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (stat(optarg, &file) < 0) {
				errmsg_sys(optarg, "cannot look at it");
				return 1;
			}
			list.file = &file;
			break;
		case 'J':
			json = true;
			break;
		case OPT_OUTPUT:
			if (parse_output("list", optarg, &json) < 0)
				return usage_hint("list");
			break;
		case 'n':
			headings = false;
			break;
		case 'h':
			list_usage(stdout);
			return 0;
		default:
			return usage_hint("list");
		}
	}
	list.names = argv + optind;
	list.nnames = argc - optind;
	ret = scan_vdi_disks(collect_dev, &list);
	if (ret == 0) {
		if (json)
			list_json(&list);
		else if (list.count)
			list_table(&list, headings);
	}
	free(list.devs);
	return ret < 0;
}
