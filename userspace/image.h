/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdisetup: an image file as the offline commands see it - the header
 * sector read once and decoded, the block map loaded on demand, and the
 * writes repair and create need. Every function prints its own error as
 * "FILE: what: reason" and returns -1 (or NULL).
 */
#ifndef VDISETUP_IMAGE_H
#define VDISETUP_IMAGE_H

#include "vdi_format.h"

struct image {
	const char *path;
	int fd;
	u64 file_size;			/* of the file or block device */
	struct vdi_disk_header disk;	/* header sector as read */
	struct vdi_header h;		/* ... and decoded */
};

/*
 * Open @path with @flags (O_RDONLY or O_RDWR) and read its header sector,
 * zero-filled past the end of a short file so that vdi_header_check() can
 * say what is wrong. Nothing is checked yet.
 */
int image_open(struct image *img, const char *path, int flags);
void image_close(struct image *img);

/*
 * Check the header with vdi_header_check(); on failure print
 * "FILE: <vdi_explain() text>" and return the reason.
 */
enum vdi_error image_check_header(const struct image *img);

/* The block map in CPU order (blocks_in_image entries), to free(). */
u32 *image_read_map(const struct image *img);

/* Write @map (CPU order, left unchanged) and @img->h, without syncing. */
int image_write_map(const struct image *img, u32 *map);
int image_write_header(struct image *img);

/* fsync() with the message; @what names the step for it. */
int image_sync(const struct image *img, const char *what);

#endif /* VDISETUP_IMAGE_H */
