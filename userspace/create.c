// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup create: a new image laid out as VirtualBox lays it out (v1.1
 * "plus" header, 1 MiB blocks, map and data at 1 MiB boundaries), so that
 * VirtualBox, QEMU and the vdi driver all open it.
 *
 * The image is built in an unnamed file in the target's directory
 * (O_TMPFILE; a temporary name where the file system has none) and named
 * only once it is complete and on disk: a failed or interrupted create,
 * even one killed, leaves nothing behind, and never half an image. On a
 * block device, which has no name to rename to, it is written in place
 * (as qemu-img does), and only with --force. Other special files are never
 * replaced, nor is a file that a vdi device or another program holds.
 */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "create.h"
#include "image.h"
#include "util.h"
#include "vdisetup.h"

#define CREATE_ALIGN	MiB	/* VirtualBox's VDI_DATA_ALIGN */

static const char banner[] = "<<< vdiblk VDI Disk Image >>>\n";

static void create_usage(FILE *out)
{
	char max[32];

	format_size(max, sizeof(max), IMAGE_MAX_SIZE);
	fprintf(out,
		"Usage:\n"
		" vdisetup create [options] FILE SIZE\n"
		" vdisetup create [options] --parent PARENT FILE\n"
		"\nCreate a VDI image of SIZE bytes (K, M, G, T or KiB, MiB, ...\n"
		"for powers of 1024; KB, MB, ... for powers of 1000). SIZE is a\n"
		"multiple of 512 from 1 MiB to %s.\n"
		"\nWith --parent, create an empty differencing image (a snapshot)\n"
		"on top of the image PARENT, as VirtualBox does: its size and\n"
		"block size are PARENT's, and it links to PARENT's image and\n"
		"modification UUIDs. It reads as PARENT until written.\n"
		"\nOptions:\n"
		"     --parent PARENT   make a differencing image of PARENT\n"
		" -s, --static          preallocate every block (a fixed image)\n"
		" -u, --uuid UUID       image UUID (default: random)\n"
		" -c, --comment TEXT    description stored in the header\n"
		"                       (at most 255 bytes)\n"
		" -f, --force           replace FILE if it exists, write onto it if it\n"
		"                       is a block device\n"
		" -h, --help            display this help\n", max);
}

/*
 * The positional arguments and the option values, checked. Returns -1 to
 * go on, else the exit status (--help, or a bad argument).
 */
static int parse_args(int argc, char **argv, struct create_opts *o,
		      const char **parent)
{
	enum { OPT_PARENT = 256 };
	static const struct option opts[] = {
		{ "parent",	required_argument,	NULL, OPT_PARENT },
		{ "static",	no_argument,		NULL, 's' },
		{ "uuid",	required_argument,	NULL, 'u' },
		{ "comment",	required_argument,	NULL, 'c' },
		{ "force",	no_argument,		NULL, 'f' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *uuid = NULL;
	int c;

	if (negative_size("create", argc, argv))
		return 1;
	while ((c = getopt_long(argc, argv, "su:c:fh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PARENT:
			*parent = optarg;
			break;
		case 's':
			o->fixed = true;
			break;
		case 'u':
			uuid = optarg;
			break;
		case 'c':
			o->comment = optarg;
			break;
		case 'f':
			o->force = true;
			break;
		case 'h':
			create_usage(stdout);
			return 0;
		default:
			return usage_hint("create");
		}
	}
	if (*parent && argc - optind != 1) {
		fprintf(stderr, "vdisetup create: with --parent, FILE alone is needed\n");
		return usage_hint("create");
	}
	if (!*parent && operands_wrong("create", argc, argv, 2, "FILE and SIZE"))
		return 1;
	o->path = argv[optind];
	if (*parent && o->fixed) {
		errmsg(o->path, "a differencing image cannot be static");
		return 1;
	}
	if (!*parent && image_parse_size(o->path, argv[optind + 1], &o->size) < 0)
		return 1;
	if (uuid && image_parse_uuid(o->path, uuid, o->uuid) < 0)
		return 1;
	if (o->comment && image_check_comment(o->path, o->comment) < 0)
		return 1;
	return -1;
}

/*
 * A child takes its parent's sizes and remembers its identity and its
 * modification UUID, byte for byte as VirtualBox copies them.
 */
static void init_header(struct image *img, const struct create_opts *o)
{
	const struct vdi_header *p = o->parent;
	struct vdi_header *h = &img->h;
	u32 bsize = o->block_size ? o->block_size : VDI_DEFAULT_BLOCK_SIZE;
	u64 size = p ? p->disk_size : o->size;
	u32 blocks = div_round_up(size, bsize);

	memset(&img->disk, 0, sizeof(img->disk));
	memcpy(img->disk.banner, banner, sizeof(banner));
	memset(h, 0, sizeof(*h));
	h->signature = VDI_SIGNATURE;
	h->version = VDI_VERSION_1_1;
	h->header_size = VDI_HEADER_SIZE_PLUS;
	h->image_type = o->fixed ? VDI_TYPE_FIXED : VDI_TYPE_NORMAL;
	if (p)
		h->image_type = VDI_TYPE_DIFF;
	if (o->comment)
		snprintf(h->comment, sizeof(h->comment), "%s", o->comment);
	h->offset_bmap = CREATE_ALIGN;
	h->offset_data = align_up(CREATE_ALIGN + (u64)blocks * sizeof(u32),
				  CREATE_ALIGN);
	h->legacy_sector_size = VDI_SECTOR_SIZE;
	h->disk_size = size;
	h->block_size = p ? p->block_size : bsize;
	h->blocks_in_image = blocks;
	h->blocks_allocated = o->fixed ? blocks : 0;
	if (vdi_uuid_is_null(o->uuid))
		disk_uuid_random(h->uuid_image);
	else
		memcpy(h->uuid_image, o->uuid, VDI_UUID_SIZE);
	disk_uuid_random(h->uuid_modify);
	if (p) {
		memcpy(h->uuid_link, p->uuid_image, VDI_UUID_SIZE);
		memcpy(h->uuid_parent, p->uuid_modify, VDI_UUID_SIZE);
	}
	/* LCHS 0/0/0 means "not set"; only its sector size is checked. */
	h->lchs_sector_size = VDI_SECTOR_SIZE;
}

/* Dynamic: every block free. Fixed: block i at data index i. */
static int write_map(const struct image *img)
{
	u32 i, n = img->h.blocks_in_image;
	u32 *map = malloc((size_t)n * sizeof(u32));
	int ret;

	if (!map) {
		errmsg_sys(img->path, "cannot allocate the block map");
		return -1;
	}
	for (i = 0; i < n; i++)
		map[i] = img->h.image_type == VDI_TYPE_FIXED ? i : VDI_BLOCK_FREE;
	ret = image_write_map(img, map);
	free(map);
	return ret;
}

/* Where the image ends: a fixed one holds every block, a raw disk is all. */
static u64 image_end(const struct image *img, const struct create_opts *o)
{
	const struct vdi_header *h = &img->h;

	if (o->raw)
		return h->disk_size;
	if (h->image_type != VDI_TYPE_FIXED)
		return h->offset_data;
	return h->offset_data + (u64)h->blocks_in_image * h->block_size;
}

/*
 * A dynamic image ends where its data would start. A fixed one holds every
 * block; preallocate them as VirtualBox does, so that writes to the image
 * cannot fail for lack of space, or leave the file sparse as QEMU does if
 * the filesystem cannot.
 */
static int size_file(const struct image *img, const struct create_opts *o)
{
	u64 end = image_end(img, o);

	if (img->h.image_type != VDI_TYPE_FIXED)
		return ftruncate(img->fd, end) < 0 ? -1 : 0;
	if (!fallocate(img->fd, 0, 0, end))
		return 0;
	if (errno != EOPNOTSUPP)
		return -1;
	errmsg(img->path, "cannot preallocate: %s; the image is sparse",
	       strerror(errno));
	return ftruncate(img->fd, end);
}

/*
 * A block device keeps what it held: the blocks of a fixed image and a raw
 * disk must read as zeros, as in a new file (BLKZEROOUT writes zeros
 * where the device cannot zero by itself).
 */
static int zero_device(const struct image *img, const struct create_opts *o)
{
	u64 range[2] = { img->h.offset_data, 0 };

	if (o->raw)
		range[0] = 0;
	else if (img->h.image_type != VDI_TYPE_FIXED)
		return 0;
	range[1] = image_end(img, o) - range[0];
	return ioctl(img->fd, BLKZEROOUT, range) < 0 ? -1 : 0;
}

static int fill_image(struct image *img, const struct create_opts *o,
		      bool on_device)
{
	if (!o->raw && (image_write_header(img) < 0 || write_map(img) < 0))
		return -1;
	if (on_device && zero_device(img, o) < 0) {
		errmsg_sys(img->path, "cannot zero the device");
		return -1;
	}
	if (!on_device && !o->raw && size_file(img, o) < 0) {
		errmsg_sys(img->path, "cannot size the image file");
		return -1;
	}
	if (o->fill && o->fill(img, o->arg) < 0)
		return -1;
	return image_sync(img, "cannot write the image");
}

/*
 * Remove a half-built image on Ctrl-C as well as on errors. Set before
 * mkostemp() and cleared after the rename or unlink: calls the compiler
 * cannot move the stores across.
 */
static const char *cleanup_path;

static void cleanup_on_signal(int sig)
{
	/* After the rename this finds nothing to remove, which is fine. */
	if (cleanup_path)
		unlink(cleanup_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM };
	struct sigaction sa = { .sa_handler = cleanup_on_signal };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void say_exists(const char *path)
{
	errmsg(path, "already exists (use --force to replace it)");
}

/*
 * Move the finished image to its name. Without --force nothing that
 * appeared there meanwhile may be replaced; filesystems without
 * RENAME_NOREPLACE (NFS, 9p) get a second look and a plain rename.
 */
static int place(const struct create_opts *o, const char *tmp)
{
	if (o->force)
		return rename(tmp, o->path);
	if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, o->path, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL)
		return -1;
	if (exists(o->path)) {
		errno = EEXIST;
		return -1;
	}
	return rename(tmp, o->path);
}

/* The mode open(O_CREAT, 0666) would give; mkostemp() uses 0600. */
static int set_mode(const struct image *img)
{
	mode_t mask = umask(0);

	umask(mask);
	if (fchmod(img->fd, 0666 & ~mask) < 0) {
		errmsg_sys(img->path, "cannot set the file mode");
		return -1;
	}
	return 0;
}

/*
 * An unnamed file in @dir (O_TMPFILE), which gets its name only once the
 * image in it is complete: a create killed even by SIGKILL leaves nothing
 * behind. -1 where the file system has none (9p, NFS), or where there is
 * no /proc to name it through.
 */
static int open_unnamed(const char *dir)
{
	if (access("/proc/self/fd", F_OK) < 0)
		return -1;
	return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
}

/*
 * Give the unnamed file @fd its name. linkat() never replaces, as
 * RENAME_NOREPLACE; with --force the file takes the free name @tmp first
 * and is renamed over the old file, atomically.
 */
static int name_unnamed(const struct create_opts *o, int fd, char *tmp)
{
	char proc[32];
	int tfd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (!o->force)
		return linkat(AT_FDCWD, proc, AT_FDCWD, o->path, AT_SYMLINK_FOLLOW);
	cleanup_path = tmp;
	tfd = mkostemp(tmp, O_CLOEXEC);
	if (tfd < 0)
		return -1;
	close(tfd);
	if (unlink(tmp) < 0 ||
	    linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
		return -1;
	return rename(tmp, o->path);
}

/* Build the image unnamed in @dir, or under @tmp, and give it its name. */
static int build(const struct create_opts *o, const char *dir, char *tmp)
{
	struct image img = { .path = o->path };
	bool unnamed;
	int ret;

	img.fd = open_unnamed(dir);
	unnamed = img.fd >= 0;
	if (!unnamed) {
		cleanup_path = tmp;
		img.fd = mkostemp(tmp, O_CLOEXEC);
	}
	if (img.fd < 0) {
		errmsg_sys(o->path, "cannot create a temporary file");
		return -1;
	}
	init_header(&img, o);
	/* open(O_TMPFILE) gave the mode; mkostemp() gives 0600. */
	ret = unnamed ? 0 : set_mode(&img);
	if (!ret)
		ret = fill_image(&img, o, false);
	if (!ret) {
		ret = unnamed ? name_unnamed(o, img.fd, tmp) : place(o, tmp);
		if (ret && errno == EEXIST)
			say_exists(o->path);
		else if (ret)
			errmsg_sys(o->path, "cannot give the new image its name");
	}
	image_close(&img);
	if (ret && cleanup_path)
		unlink(tmp);
	cleanup_path = NULL;
	return ret;
}

/* Make the new directory entry durable too, as the image now is. */
static int sync_dir(const char *path, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		errmsg_sys(path, "cannot sync the directory");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int create_file(const struct create_opts *o)
{
	char *dcopy, *bcopy, *tmp = NULL;
	const char *dir;
	int ret;

	/* POSIX dirname() and basename() may modify their argument. */
	dcopy = strdup(o->path);
	bcopy = strdup(o->path);
	dir = dcopy ? dirname(dcopy) : NULL;
	/* The same directory, so that rename() is atomic. */
	if (!dir || !bcopy ||
	    asprintf(&tmp, "%s/.%s.XXXXXX", dir, basename(bcopy)) < 0) {
		errmsg_sys(o->path, "cannot allocate memory");
		tmp = NULL;
		ret = 1;
	} else {
		catch_signals();
		ret = build(o, dir, tmp) || sync_dir(o->path, dir) ? 1 : 0;
	}
	free(tmp);
	free(bcopy);
	free(dcopy);
	return ret;
}

/*
 * Opened exclusively, so that a mounted or otherwise claimed device is
 * refused, and checked to hold the whole image before anything is written.
 */
static int create_on_device(const struct create_opts *o)
{
	struct image img = { .path = o->path, .device = true };
	char need[32], has[32];
	int ret = 1;

	if (image_unused(o->path, "write an image onto it") < 0)
		return 1;
	img.fd = open(o->path, O_RDWR | O_EXCL | O_CLOEXEC);
	if (img.fd < 0) {
		if (errno == EBUSY)
			errmsg(o->path, "%s: in use (mounted, or held by a driver)",
			       "cannot write an image onto it");
		else
			errmsg_sys(o->path, "cannot open");
		return 1;
	}
	init_header(&img, o);
	if (fd_size(img.fd, &img.file_size) < 0) {
		errmsg_sys(o->path, "cannot get the size");
	} else if (img.file_size < image_end(&img, o)) {
		format_size(need, sizeof(need), image_end(&img, o));
		format_size(has, sizeof(has), img.file_size);
		errmsg(o->path, "too small: the image needs %s, the device holds %s",
		       need, has);
	} else {
		ret = fill_image(&img, o, true) ? 1 : 0;
	}
	image_close(&img);
	return ret;
}

static const char *kind_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/*
 * A file in place is replaced only with --force, and only if nothing holds
 * it; through a symbolic link, the file it names is replaced.
 */
static int replace_file(const struct create_opts *o, bool link)
{
	struct create_opts target = *o;
	char *real = NULL;
	int ret;

	if (!o->force) {
		say_exists(o->path);
		return 1;
	}
	if (link) {
		real = realpath(o->path, NULL);
		if (!real) {
			errmsg_sys(o->path, "cannot follow the link");
			return 1;
		}
		target.path = real;
	}
	ret = image_unused(target.path, "replace it") < 0 ? 1 :
		create_file(&target);
	free(real);
	return ret;
}

int create_image(const struct create_opts *o)
{
	struct stat lst, st;

	if (lstat(o->path, &lst) < 0)
		return create_file(o);
	/* A dangling link holds nothing: it is replaced as a file would be. */
	if (stat(o->path, &st) < 0) {
		if (!o->force) {
			say_exists(o->path);
			return 1;
		}
		return create_file(o);
	}
	if (S_ISREG(st.st_mode))
		return replace_file(o, S_ISLNK(lst.st_mode));
	if (!S_ISBLK(st.st_mode)) {
		errmsg(o->path, "is %s: an image goes into a regular file or onto a block device",
		       kind_of(st.st_mode));
		return 1;
	}
	if (!o->force) {
		errmsg(o->path, "is a block device: %s, and what it holds is lost",
		       "--force writes the image onto it");
		return 1;
	}
	return create_on_device(o);
}

/*
 * The parent only needs a header fit for a chain: it may be a child
 * itself. Its own parents are not looked at; attach and check do that.
 */
int cmd_create(int argc, char **argv)
{
	struct create_opts o = { 0 };
	const char *parent = NULL;
	struct image p;
	int ret;

	ret = parse_args(argc, argv, &o, &parent);
	if (ret >= 0)
		return ret;
	if (!parent)
		return create_image(&o);
	if (image_open(&p, parent, O_RDONLY) < 0)
		return 1;
	ret = image_check_chain_header(&p) ? 1 : 0;
	if (!ret) {
		o.parent = &p.h;
		ret = create_image(&o);
	}
	image_close(&p);
	return ret;
}
