// SPDX-License-Identifier: GPL-2.0
/* vdisetup: image file access for the offline commands, see image.h. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

/* A VDI may live on a partition or a logical volume as well as in a file. */
static int image_size(struct image *img)
{
	if (fd_size(img->fd, &img->file_size) < 0) {
		errmsg_sys(img->path, "cannot get the size");
		return -1;
	}
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

enum vdi_error image_check_header(const struct image *img)
{
	enum vdi_error err = vdi_header_check(&img->h, img->file_size);
	char why[160];

	if (err) {
		vdi_explain(why, sizeof(why), err, &img->h, NULL);
		errmsg(img->path, "%s", why);
	}
	return err;
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

int image_write_map(const struct image *img, u32 *map)
{
	u32 count = img->h.blocks_in_image;
	int ret;

	vdi_map_to_disk(map, count);
	ret = pwrite_full(img->fd, map, (size_t)count * sizeof(u32),
			  img->h.offset_bmap);
	vdi_map_to_cpu(map, count);
	if (ret < 0)
		errmsg_sys(img->path, "cannot write the block map");
	return ret;
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

int image_sync(const struct image *img, const char *what)
{
	if (fsync(img->fd) < 0) {
		errmsg_sys(img->path, what);
		return -1;
	}
	return 0;
}
