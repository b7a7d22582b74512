/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdisetup: an image file as the offline commands see it - the header
 * sector read once and decoded, the block map loaded on demand, and the
 * writes create, repair, compact and resize need. Every function prints
 * its own error as "FILE: what: reason" and returns -1 (or NULL).
 */
#ifndef VDISETUP_IMAGE_H
#define VDISETUP_IMAGE_H

#include "vdi_format.h"

/* The largest disk create and resize make: VDI_MAX_BLOCKS blocks of 1 MiB. */
#define IMAGE_MAX_SIZE	((u64)VDI_MAX_BLOCKS * VDI_DEFAULT_BLOCK_SIZE)
/* The longest comment a header holds, its NUL not counted. */
#define IMAGE_COMMENT_MAX	(sizeof(((struct vdi_header *)0)->comment) - 1)

struct image {
	const char *path;
	int fd;
	u64 file_size;			/* of the file or block device */
	bool device;			/* a block device: its size is fixed */
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

/* The same with vdi_chain_header_check(): differencing images pass. */
enum vdi_error image_check_chain_header(const struct image *img);

/*
 * Take the image for a change in place by the command @what ("compact"):
 * refuse it while a vdi device has it attached, and lock it against QEMU
 * and other vdisetup runs for as long as it stays open. On refusal prints
 * "FILE: cannot WHAT: why" and returns -1.
 */
int image_claim(const struct image *img, const char *what);

/*
 * The same refusals for the file or block device at @path, which the
 * command @what ("replace") is about to overwrite or replace, without
 * taking a lock: 0 if nothing holds it, else -1 after the message.
 */
int image_unused(const char *path, const char *what);

/*
 * The vdi device @img is attached to, in @dev ("/dev/vdi0"): 1 if there is
 * one, else 0, also when no vdi driver is loaded.
 */
int image_attached_as(const struct image *img, char *dev, size_t len);

/* The block map in CPU order (blocks_in_image entries), to free(). */
u32 *image_read_map(const struct image *img);

/*
 * vdi_map_check() on @map, as attach runs it: 0 if the driver would take
 * it, 1 if not (@why says why), -1 if it could not be checked (printed).
 * Entries past blocks_in_image (data inside the file, as other tools
 * leave them) are taken only with @beyond_ok: readers take them, the
 * commands that move blocks (struct blocks) do not.
 */
int image_check_map(const struct image *img, const u32 *map, bool beyond_ok,
		    char *why, size_t len);

/*
 * Write @count entries of @map (CPU order, left unchanged) from entry
 * @first, or the whole map, and @img->h, without syncing.
 */
int image_write_entries(const struct image *img, u32 *map, u32 first,
			u32 count);
int image_write_map(const struct image *img, u32 *map);
int image_write_header(struct image *img);

/* Write the header and sync it, unless it is what the file holds. */
int image_commit_header(struct image *img);

/*
 * ftruncate() to @size; @what names the step for the message. A block
 * device keeps its size: @size must fit in it (else ENOSPC).
 */
int image_set_size(struct image *img, u64 size, const char *what);

/* fsync() with the message; @what names the step for it. */
int image_sync(const struct image *img, const char *what);

/*
 * A disk size for create and resize, in parse_size() syntax: a multiple of
 * 512 from 1 MiB to IMAGE_MAX_SIZE. Else prints "FILE: invalid size 'ARG':
 * why" and returns -1.
 */
int image_parse_size(const char *path, const char *arg, u64 *size);

/*
 * The same for resize, where "+SIZE" and "-SIZE" are relative to the disk
 * size @now, as qemu-img resize takes them.
 */
int image_parse_new_size(const char *path, const char *arg, u64 now,
			 u64 *size);

/*
 * An image UUID for create and amend, in the text form VirtualBox and
 * qemu-img print, into @uuid in the header's byte order; the null UUID is
 * refused. Else prints "FILE: invalid UUID 'ARG'[: why]" and returns -1.
 */
int image_parse_uuid(const char *path, const char *arg, u8 uuid[VDI_UUID_SIZE]);

/* 0 if @comment fits the header, else -1 after "FILE: comment too long". */
int image_check_comment(const char *path, const char *comment);

#endif /* VDISETUP_IMAGE_H */
