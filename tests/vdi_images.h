/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The images the format tests start from, shared by the host unit test
 * (tests/host/format_test.c) and the generator of hostile images for the
 * driver (tests/hostile_gen.c), so that both corrupt the very same layouts.
 */
#ifndef VDI_IMAGES_H
#define VDI_IMAGES_H

#include "vdi_format.h"

#define VDI_IMG_KIB		1024ULL
#define VDI_IMG_MIB		(1024 * VDI_IMG_KIB)

/*
 * A 64 MiB dynamic image as QEMU creates it (0x180 header, map at 0x200,
 * data at 0x400), with four blocks written (map entries 0, 5, 10, 63) and
 * one discarded (20). @map has room for @cap >= 64 entries; the ones past
 * the image are free.
 */
static inline void vdi_image_base(struct vdi_header *h, u32 *map, u32 cap,
				  u64 *file_size)
{
	static const u8 uuid_image[VDI_UUID_SIZE] = { 1, 2, 3, 4 };
	static const u8 uuid_modify[VDI_UUID_SIZE] = { 5, 6, 7, 8 };
	u32 i;

	memset(h, 0, sizeof(*h));
	h->signature = VDI_SIGNATURE;
	h->version = VDI_VERSION_1_1;
	h->header_size = VDI_HEADER_SIZE;
	h->image_type = VDI_TYPE_NORMAL;
	h->offset_bmap = 0x200;
	h->offset_data = 0x400;
	h->legacy_sector_size = 512;
	h->disk_size = 64 * VDI_IMG_MIB;
	h->block_size = VDI_IMG_MIB;
	h->blocks_in_image = 64;
	h->blocks_allocated = 4;
	memcpy(h->uuid_image, uuid_image, VDI_UUID_SIZE);
	memcpy(h->uuid_modify, uuid_modify, VDI_UUID_SIZE);

	for (i = 0; i < cap; i++)
		map[i] = VDI_BLOCK_FREE;
	map[0] = 0;
	map[5] = 1;
	map[10] = 2;
	map[63] = 3;
	map[20] = VDI_BLOCK_ZERO;
	*file_size = 0x400 + 4 * VDI_IMG_MIB;
}

/* A static image: identity map, every block allocated and in the file. */
static inline void vdi_image_static(struct vdi_header *h, u32 *map,
				    u64 *file_size)
{
	u32 i;

	h->image_type = VDI_TYPE_FIXED;
	for (i = 0; i < h->blocks_in_image; i++)
		map[i] = i;
	h->blocks_allocated = h->blocks_in_image;
	*file_size = h->offset_data + (u64)h->blocks_in_image * h->block_size;
}

#endif /* VDI_IMAGES_H */
