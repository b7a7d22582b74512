// SPDX-License-Identifier: GPL-2.0
/* vdisetup: image file access for the offline commands, see image.h. */
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

#define IMAGE_MIN_SIZE		MiB	/* VirtualBox refuses smaller disks */
#define SYS_BACKING_FILES	"/sys/block/vdi*/vdi/backing_file"
#define SYS_PARENT_FILES	"/sys/block/vdi*/vdi/parents"
#define SYS_BLOCK		"/sys/block/"

/* A VDI may live on a partition or a logical volume as well as in a file. */
static int image_size(struct image *img)
{
	struct stat st;

	if (fstat(img->fd, &st) < 0 || fd_size(img->fd, &img->file_size) < 0) {
		errmsg_sys(img->path, "cannot get the size");
		return -1;
	}
	img->device = S_ISBLK(st.st_mode);
	return 0;
}

int image_open(struct image *img, const char *path, int flags)
{
	memset(img, 0, sizeof(*img));
	img->path = path;
	img->fd = open(path, flags | O_CLOEXEC);
	if (img->fd < 0) {
		errmsg_sys(path, "cannot open");
		return -1;
	}
	if (image_size(img) < 0)
		goto fail;
	if (pread_full(img->fd, &img->disk, sizeof(img->disk), 0) < 0) {
		errmsg_sys(path, "cannot read the header");
		goto fail;
	}
	vdi_header_decode(&img->h, &img->disk);
	return 0;
fail:
	image_close(img);
	return -1;
}

void image_close(struct image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
}

static enum vdi_error image_report(const struct image *img,
				   enum vdi_error err)
{
	char why[160];

	if (err) {
		vdi_explain(why, sizeof(why), err, &img->h, NULL);
		errmsg(img->path, "%s", why);
	}
	return err;
}

enum vdi_error image_check_header(const struct image *img)
{
	return image_report(img, vdi_header_check(&img->h, img->file_size));
}

enum vdi_error image_check_chain_header(const struct image *img)
{
	return image_report(img, vdi_chain_header_check(&img->h,
							img->file_size));
}

/* The same file: by device and inode, or by device number for devices. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Does the sysfs attribute @path name the file @self on one of its lines? */
static bool names_file(const char *path, const struct stat *self)
{
	FILE *f = fopen(path, "re");
	char line[PATH_MAX];
	bool found = false;
	struct stat st;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		found = !stat(line, &st) && same_file(self, &st);
	}
	fclose(f);
	return found;
}

/*
 * The device whose sysfs attribute (@pattern) names @img, in @dev: sysfs
 * names files by path; comparing the files themselves finds the image by
 * any of its names.
 */
static int named_by(const struct image *img, const char *pattern, char *dev,
		    size_t len)
{
	struct stat self;
	const char *name;
	glob_t g;
	size_t i;
	int ret = 0;

	if (fstat(img->fd, &self) < 0 || glob(pattern, 0, NULL, &g))
		return 0;
	for (i = 0; i < g.gl_pathc && !ret; i++) {
		if (!names_file(g.gl_pathv[i], &self))
			continue;
		name = g.gl_pathv[i] + strlen(SYS_BLOCK);
		snprintf(dev, len, "/dev/%.*s", (int)strcspn(name, "/"), name);
		ret = 1;
	}
	globfree(&g);
	return ret;
}

int image_attached_as(const struct image *img, char *dev, size_t len)
{
	return named_by(img, SYS_BACKING_FILES, dev, len);
}

/* Refuse @img while a vdi device serves it, as its top or as a parent. */
static int image_not_attached(const struct image *img, const char *what)
{
	char dev[64];

	if (image_attached_as(img, dev, sizeof(dev))) {
		errmsg(img->path, "cannot %s: attached as %s; detach it first",
		       what, dev);
		return -1;
	}
	if (named_by(img, SYS_PARENT_FILES, dev, sizeof(dev))) {
		errmsg(img->path,
		       "cannot %s: a parent of the chain attached as %s; detach it first",
		       what, dev);
		return -1;
	}
	return 0;
}

static void say_locked(const struct image *img, const char *what)
{
	errmsg(img->path, "cannot %s: in use by another program (locked)",
	       what);
}

int image_claim(const struct image *img, const char *what)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (image_not_attached(img, what) < 0)
		return -1;
	/* QEMU holds OFD locks on the images it has open: this conflicts. */
	if (fcntl(img->fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			say_locked(img, what);
		else
			errmsg(img->path, "cannot %s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

int image_unused(const char *path, const char *what)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct image img = { .path = path };
	int ret;

	img.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (img.fd < 0) {
		errmsg(path, "cannot %s: %s", what, strerror(errno));
		return -1;
	}
	ret = image_not_attached(&img, what);
	/* Only a test: the lock of a file about to be replaced is no use. */
	if (!ret && fcntl(img.fd, F_OFD_GETLK, &fl) < 0) {
		errmsg(path, "cannot %s: %s", what, strerror(errno));
		ret = -1;
	} else if (!ret && fl.l_type != F_UNLCK) {
		say_locked(&img, what);
		ret = -1;
	}
	close(img.fd);
	return ret;
}

u32 *image_read_map(const struct image *img)
{
	size_t len = (size_t)img->h.blocks_in_image * sizeof(u32);
	u32 *map = malloc(len);
	ssize_t n;

	if (!map) {
		errmsg_sys(img->path, "cannot allocate the block map");
		return NULL;
	}
	n = pread_full(img->fd, map, len, img->h.offset_bmap);
	if (n < 0 || (size_t)n < len) {
		if (n >= 0)
			errno = EIO;	/* the file shrank after the check */
		errmsg_sys(img->path, "cannot read the block map");
		free(map);
		return NULL;
	}
	vdi_map_to_cpu(map, img->h.blocks_in_image);
	return map;
}

int image_check_map(const struct image *img, const u32 *map, bool beyond_ok,
		    char *why, size_t len)
{
	unsigned long *seen = calloc(1, vdi_map_seen_bytes(&img->h, img->file_size));
	struct vdi_map_stats st;
	enum vdi_error err;

	if (!seen) {
		errmsg_sys(img->path, "cannot allocate memory");
		return -1;
	}
	err = vdi_map_check(&img->h, map, img->file_size, seen, &st);
	free(seen);
	if (!err && st.beyond && !beyond_ok) {
		err = VDI_ERR_ENTRY_BEYOND;
		st.bad_index = st.beyond_index;
		st.bad_entry = map[st.beyond_index];
	}
	if (!err)
		return 0;
	vdi_explain(why, len, err, &img->h, &st);
	return 1;
}

int image_write_entries(const struct image *img, u32 *map, u32 first,
			u32 count)
{
	int ret;

	vdi_map_to_disk(map + first, count);
	ret = pwrite_full(img->fd, map + first, (size_t)count * sizeof(u32),
			  img->h.offset_bmap + (u64)first * sizeof(u32));
	vdi_map_to_cpu(map + first, count);
	if (ret < 0)
		errmsg_sys(img->path, "cannot write the block map");
	return ret;
}

int image_write_map(const struct image *img, u32 *map)
{
	return image_write_entries(img, map, 0, img->h.blocks_in_image);
}

int image_write_header(struct image *img)
{
	vdi_header_encode(&img->disk, &img->h);
	if (pwrite_full(img->fd, &img->disk, sizeof(img->disk), 0) < 0) {
		errmsg_sys(img->path, "cannot write the header");
		return -1;
	}
	return 0;
}

int image_commit_header(struct image *img)
{
	struct vdi_disk_header d = img->disk;

	vdi_header_encode(&d, &img->h);
	if (!memcmp(&d, &img->disk, sizeof(d)))
		return 0;
	if (image_write_header(img) < 0)
		return -1;
	return image_sync(img, "cannot sync the header");
}

int image_set_size(struct image *img, u64 size, const char *what)
{
	if (img->device) {
		if (size <= img->file_size)
			return 0;
		errno = ENOSPC;
		errmsg_sys(img->path, what);
		return -1;
	}
	if (ftruncate(img->fd, size) < 0) {
		errmsg_sys(img->path, what);
		return -1;
	}
	img->file_size = size;
	return 0;
}

/*
 * Test hook, left out of --help on purpose: VDISETUP_CRASH_AFTER=N kills
 * the tool (SIGKILL, as kill -9 would) right after its Nth successful
 * fsync of an image, so that a test can stop compact, resize or repair
 * after every step that reached the disk and check what it left there.
 */
static void crash_point(void)
{
	static long left = -1;
	const char *env;

	if (left < 0) {
		env = getenv("VDISETUP_CRASH_AFTER");
		left = env ? strtol(env, NULL, 10) : 0;
	}
	if (left > 0 && --left == 0)
		raise(SIGKILL);
}

int image_sync(const struct image *img, const char *what)
{
	if (fsync(img->fd) < 0) {
		errmsg_sys(img->path, what);
		return -1;
	}
	crash_point();
	return 0;
}

int image_parse_uuid(const char *path, const char *arg, u8 uuid[VDI_UUID_SIZE])
{
	if (disk_uuid_parse(arg, uuid) < 0) {
		errmsg(path, "invalid UUID '%s'", arg);
		return -1;
	}
	/* VirtualBox takes a null image UUID for a broken header. */
	if (vdi_uuid_is_null(uuid)) {
		errmsg(path, "invalid UUID '%s': the null UUID is reserved",
		       arg);
		return -1;
	}
	return 0;
}

int image_check_comment(const char *path, const char *comment)
{
	if (strlen(comment) <= IMAGE_COMMENT_MAX)
		return 0;
	errmsg(path, "comment too long: %zu bytes, at most %zu",
	       strlen(comment), IMAGE_COMMENT_MAX);
	return -1;
}

static int size_unparsed(const char *path, const char *arg)
{
	errmsg(path, "invalid size '%s': %s", arg,
	       errno == ERANGE ? "too large" : SIZE_FORMS);
	return -1;
}

/* @size, which @arg gave, in the range of disk sizes. */
static int size_in_range(const char *path, const char *arg, u64 *size)
{
	char max[32];

	if (*size < IMAGE_MIN_SIZE) {
		errmsg(path, "invalid size '%s': below 1 MiB, the least VirtualBox accepts",
		       arg);
		return -1;
	}
	if (*size % VDI_SECTOR_SIZE) {
		errmsg(path, "invalid size '%s': not a multiple of %u",
		       arg, VDI_SECTOR_SIZE);
		return -1;
	}
	if (*size > IMAGE_MAX_SIZE) {
		format_size(max, sizeof(max), IMAGE_MAX_SIZE);
		errmsg(path, "invalid size '%s': larger than %s (%u blocks of 1 MiB)",
		       arg, max, VDI_MAX_BLOCKS);
		return -1;
	}
	return 0;
}

int image_parse_size(const char *path, const char *arg, u64 *size)
{
	if (parse_size(arg, size) < 0)
		return size_unparsed(path, arg);
	return size_in_range(path, arg, size);
}

int image_parse_new_size(const char *path, const char *arg, u64 now,
			 u64 *size)
{
	char has[32];
	u64 delta;

	if (arg[0] != '+' && arg[0] != '-')
		return image_parse_size(path, arg, size);
	if (parse_size(arg + 1, &delta) < 0)
		return size_unparsed(path, arg);
	if (arg[0] == '-' && delta >= now) {
		format_size(has, sizeof(has), now);
		errmsg(path, "invalid size '%s': the disk has only %s", arg,
		       has);
		return -1;
	}
	if (arg[0] == '+' && delta > IMAGE_MAX_SIZE) {
		errno = ERANGE;
		return size_unparsed(path, arg);
	}
	*size = arg[0] == '+' ? now + delta : now - delta;
	return size_in_range(path, arg, size);
}
