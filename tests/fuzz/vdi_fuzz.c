// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the shared VDI format code: the input is an image
 * file, checked the way vdisetup and the driver check one at attach.
 *
 * Real images have data blocks of 4 KiB and more, far beyond what a fuzzer
 * input should be, so the file is taken to be larger than the input: the
 * last byte of the header sector (padding no reader looks at) gives the
 * file size as the input length shifted left by 0..31 bits. The map itself
 * must lie inside the input; data blocks need not.
 */
#include <stdint.h>
#include <stdlib.h>

#include "vdi_format.h"

/*
 * What the driver relies on once a header is accepted, worked out here
 * again the plain way (a wrapped 32-bit sum in the library shows up).
 */
static void verify_header(const struct vdi_header *h, u64 file_size)
{
	u64 map_end = h->offset_bmap + (u64)h->blocks_in_image * 4;

	if (map_end > h->offset_data || map_end > file_size ||
	    h->blocks_in_image > VDI_MAX_BLOCKS ||
	    vdi_virtual_size(h) < h->disk_size ||
	    vdi_virtual_size(h) > (u64)h->blocks_in_image * h->block_size)
		abort();
}

/* The same for an accepted map and its statistics. */
static void verify_map(const struct vdi_header *h, const u32 *map,
		       u64 file_size, const struct vdi_map_stats *st)
{
	u32 i, allocated = 0, zero = 0;

	for (i = 0; i < h->blocks_in_image; i++) {
		if (map[i] == VDI_BLOCK_ZERO)
			zero++;
		if (!vdi_entry_allocated(map[i]))
			continue;
		allocated++;
		if (map[i] >= st->next_free ||
		    vdi_block_offset(h, map[i]) + h->block_size > file_size)
			abort();
	}
	if (allocated != st->allocated || zero != st->zero ||
	    st->next_free < h->blocks_allocated ||
	    st->next_free > h->blocks_in_image)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdi_disk_header d = { 0 }, again;
	struct vdi_map_stats st = { 0 };
	struct vdi_header h;
	enum vdi_error err;
	unsigned long *seen;
	char line[256];
	u64 file_size;
	u32 *map;

	memcpy(&d, data, size < sizeof(d) ? size : sizeof(d));
	file_size = (u64)size << (d.pad[sizeof(d.pad) - 1] & 31);
	vdi_header_decode(&h, &d);

	/* Encoding what was decoded gives the sector back, bar the NUL. */
	again = d;
	vdi_header_encode(&again, &h);
	d.comment[sizeof(d.comment) - 1] = '\0';
	if (memcmp(&again, &d, sizeof(d)))
		abort();

	err = vdi_header_check(&h, file_size);
	vdi_explain(line, sizeof(line), err, &h, NULL);
	if (err)
		return 0;
	verify_header(&h, file_size);
	if (h.offset_bmap + (u64)h.blocks_in_image * 4 > size)
		return 0;

	map = malloc(h.blocks_in_image * sizeof(u32));
	seen = calloc(1, vdi_map_seen_bytes(&h));
	if (!map || !seen)
		abort();
	memcpy(map, data + h.offset_bmap, h.blocks_in_image * sizeof(u32));
	vdi_map_to_cpu(map, h.blocks_in_image);
	err = vdi_map_check(&h, map, file_size, seen, &st);
	vdi_explain(line, sizeof(line), err, &h, &st);
	if (!err)
		verify_map(&h, map, file_size, &st);
	free(seen);
	free(map);
	return 0;
}
