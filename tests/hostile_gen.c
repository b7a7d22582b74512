// SPDX-License-Identifier: GPL-2.0
/*
 * hostile_gen DIR: writes a corpus of malformed VDI images into DIR, one
 * NAME.vdi per case, and DIR/index with a line "NAME<TAB>SIZE<TAB>REASON"
 * for each: the file size in bytes, and the text vdi_explain() gives for it,
 * which is what the kernel logs and vdisetup prints when it refuses the
 * image at attach.
 *
 * Each case starts from the base image of vdi_images.h (the one the host
 * unit test format_test.c corrupts) and breaks one thing. The expected
 * reason is found by running the shared format code over the image as
 * written, and must be the reason the case was written for: a case that the
 * code accepts or refuses for another reason is an error of the generator.
 * Data blocks are left as holes, so large files cost no space.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "vdi_format.h"
#include "vdi_images.h"

#define KiB		VDI_IMG_KIB
#define MiB		VDI_IMG_MIB
#define GiB		(1024 * MiB)
#define MAP_CAP		65536	/* entries written; past it the map is zeros */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct image {
	struct vdi_header h;
	u32 map[MAP_CAP];
	u64 file_size;
};

struct hostile {
	const char *name;
	enum vdi_error want;
	void (*make)(struct image *s);
};

#define CASE(n) static void n(struct image *s)

CASE(empty_file) { s->file_size = 0; }
CASE(one_byte) { s->file_size = 1; }
CASE(short_file) { s->file_size = 511; }
CASE(bad_signature) { s->h.signature = 0x12345678; }
CASE(signature_byte_swapped) { s->h.signature = 0x7F10DABE; }
CASE(version_0) { s->h.version = 0; }
CASE(version_0_legacy) { s->h.version = 0x00000002; }
CASE(version_1_0) { s->h.version = 0x00010000; }
CASE(version_1_2) { s->h.version = 0x00010002; }
CASE(version_2_1) { s->h.version = 0x00020001; }
CASE(header_size_too_small) { s->h.header_size = VDI_HEADER_SIZE - 1; }
CASE(header_size_zero) { s->h.header_size = 0; }
CASE(header_size_past_sector)
{
	s->h.header_size = VDI_HEADER_SECTOR_SIZE - VDI_PREHEADER_SIZE + 1;
}

CASE(header_size_huge) { s->h.header_size = 0xFFFFFFFF; }
CASE(type_0) { s->h.image_type = 0; }
CASE(type_5) { s->h.image_type = 5; }
CASE(type_all_ones) { s->h.image_type = 0xFFFFFFFF; }
CASE(type_diff) { s->h.image_type = VDI_TYPE_DIFF; }
CASE(link_uuid_set) { s->h.uuid_link[15] = 1; }
CASE(parent_uuid_set) { s->h.uuid_parent[0] = 0x80; }
CASE(diff_with_parent)
{
	s->h.image_type = VDI_TYPE_DIFF;
	memset(s->h.uuid_parent, 0xab, VDI_UUID_SIZE);
	memset(s->h.uuid_link, 0xcd, VDI_UUID_SIZE);
}

CASE(flags_2) { s->h.image_flags = 2; }
CASE(flags_vbox_fixed_bit) { s->h.image_flags = 0x100; }
CASE(flags_top_bit) { s->h.image_flags = 0x80000001; }
CASE(legacy_sector_size_4096) { s->h.legacy_sector_size = 4096; }
CASE(legacy_sector_size_0) { s->h.legacy_sector_size = 0; }
CASE(lchs_sector_size_0)
{
	s->h.header_size = VDI_HEADER_SIZE_PLUS;
	s->h.lchs_sector_size = 0;
}

CASE(lchs_sector_size_4096)
{
	s->h.header_size = VDI_HEADER_SIZE_PLUS;
	s->h.lchs_sector_size = 4096;
}

CASE(disk_size_zero) { s->h.disk_size = 0; }
CASE(block_size_zero) { s->h.block_size = 0; }
CASE(block_size_1m_minus_1) { s->h.block_size = MiB - 1; }
CASE(block_size_1m_plus_64k) { s->h.block_size = MiB + 64 * KiB; }
CASE(block_size_below_min)
{
	s->h.block_size = VDI_MIN_BLOCK_SIZE / 2;
	s->h.blocks_in_image = 64 * MiB / (VDI_MIN_BLOCK_SIZE / 2);
}

CASE(block_size_above_max) { s->h.block_size = VDI_MAX_BLOCK_SIZE * 2; }
CASE(block_size_2g) { s->h.block_size = 0x80000000; }
CASE(block_extra_512) { s->h.block_extra = 512; }
CASE(block_extra_3) { s->h.block_extra = 3; }
CASE(blocks_zero) { s->h.blocks_in_image = 0; }
CASE(blocks_over_cap) { s->h.blocks_in_image = VDI_MAX_BLOCKS + 1; }
CASE(blocks_qemu_limit_plus_1) { s->h.blocks_in_image = 0x1FFFFF81; }
CASE(blocks_all_ones) { s->h.blocks_in_image = 0xFFFFFFFF; }
CASE(map_one_block_short) { s->h.blocks_in_image = 63; }
CASE(map_short_by_a_sector) { s->h.disk_size = 64 * MiB + 1; }
CASE(map_too_small_past_4g)
{
	s->h.disk_size = 4 * GiB + 512;
	s->h.blocks_in_image = 4096;
	s->h.offset_data = 0x200 + 4096 * 4;
}

CASE(disk_qemu_max_plus_64k) { s->h.disk_size = 0x1FFFFF8010000ULL; }
CASE(disk_size_2_64_minus_512) { s->h.disk_size = ~0ULL - 511; }
CASE(disk_size_all_ones) { s->h.disk_size = ~0ULL; }
/* 2^26 blocks of 64 MiB is 2^52 bytes: the product needs 64 bits. */
CASE(disk_size_past_max_product)
{
	s->h.block_size = VDI_MAX_BLOCK_SIZE;
	s->h.blocks_in_image = 64;
	s->h.disk_size = 64ULL * VDI_MAX_BLOCK_SIZE + 1;
}

CASE(blocks_allocated_over_cap)
{
	s->h.blocks_allocated = VDI_MAX_DATA_BLOCKS + 1;
}
CASE(blocks_allocated_fffffffd) { s->h.blocks_allocated = 0xFFFFFFFD; }
CASE(blocks_allocated_all_ones) { s->h.blocks_allocated = 0xFFFFFFFF; }
CASE(uuid_image_null) { memset(s->h.uuid_image, 0, VDI_UUID_SIZE); }
CASE(uuid_modify_null) { memset(s->h.uuid_modify, 0, VDI_UUID_SIZE); }
CASE(bmap_offset_zero) { s->h.offset_bmap = 0; }
CASE(bmap_offset_inside_header) { s->h.offset_bmap = 0x1C0; }
CASE(bmap_offset_after_header_unaligned) { s->h.offset_bmap = 0x1C8; }
CASE(bmap_offset_unaligned) { s->h.offset_bmap = 0x201; }
CASE(data_offset_unaligned) { s->h.offset_data = 0x401; }
CASE(data_offset_zero) { s->h.offset_data = 0; }
CASE(data_at_map) { s->h.offset_data = 0x200; }
CASE(data_before_map)
{
	s->h.offset_bmap = 0x400;
	s->h.offset_data = 0x200;
}

CASE(map_runs_into_data) { s->h.blocks_in_image = 129; }
/* The map's end is past 4 GiB: a 32-bit sum would wrap to 0. */
CASE(map_end_wraps_32_bits)
{
	s->h.offset_bmap = 0xFFFFFE00;
	s->h.offset_data = 0xFFFFFE00;
	s->file_size = 8 * GiB;
}

CASE(bmap_offset_past_eof)
{
	s->h.offset_bmap = 8 * MiB;
	s->h.offset_data = 9 * MiB;
}

CASE(header_only) { s->file_size = VDI_HEADER_SECTOR_SIZE; }
CASE(truncated_in_map) { s->file_size = 0x300; }
CASE(truncated_one_byte_short_of_map) { s->file_size = 0x3FF; }
CASE(huge_map_in_tiny_file)
{
	s->h.disk_size = 64 * GiB;
	s->h.blocks_in_image = 65536;
	s->h.offset_data = 0x200 + 65536 * 4;
	s->file_size = 1024;
}

CASE(entry_equals_blocks) { s->map[17] = 64; }
CASE(entry_fffffffd) { s->map[1] = 0xFFFFFFFD; }
CASE(entry_huge) { s->map[62] = 0x80000000; }
CASE(entry_duplicate) { s->map[7] = 2; }
CASE(entry_duplicate_first_last) { s->map[63] = 0; }
CASE(entry_past_eof)
{
	s->map[17] = 40;
	s->h.blocks_allocated = 41;
}

CASE(entry_half_in_file) { s->file_size -= MiB / 2; }
CASE(truncated_at_data) { s->file_size = s->h.offset_data; }
CASE(truncated_mid_block) { s->file_size = s->h.offset_data + 512; }
/* 100 x 64 MiB wraps a 32-bit offset back inside a 4 GiB file. */
CASE(entry_past_eof_beyond_4g)
{
	s->h.disk_size = 8 * GiB;
	s->h.blocks_in_image = 128;
	s->h.block_size = 64 * MiB;
	s->map[0] = 100;
	s->h.blocks_allocated = 101;
	s->file_size = 4 * GiB;
}

CASE(static_truncated)
{
	vdi_image_static(&s->h, s->map, &s->file_size);
	s->file_size -= MiB;
}

CASE(static_duplicate)
{
	vdi_image_static(&s->h, s->map, &s->file_size);
	s->map[30] = 31;
}

CASE(static_blocks_allocated_over)
{
	vdi_image_static(&s->h, s->map, &s->file_size);
	s->h.blocks_allocated = 65;
}

/*
 * The largest map the driver takes (2^26 entries, 256 MiB of kernel
 * memory), all zeros past the first MAP_CAP entries: every one of those
 * names data block 0 again. The kernel must allocate, read and refuse it.
 */
CASE(max_map_all_duplicates)
{
	s->h.block_size = VDI_MIN_BLOCK_SIZE;
	s->h.blocks_in_image = VDI_MAX_BLOCKS;
	s->h.disk_size = (u64)VDI_MAX_BLOCKS * VDI_MIN_BLOCK_SIZE;
	s->h.offset_data = 0x200 + VDI_MAX_BLOCKS * 4;
	s->h.blocks_allocated = 64;
	s->file_size = s->h.offset_data + 64ULL * VDI_MIN_BLOCK_SIZE;
}

/* The same map in a file that ends in the middle of it. */
CASE(max_map_truncated)
{
	max_map_all_duplicates(s);
	s->file_size = 0x200 + VDI_MAX_BLOCKS * 2;
}

#define H(n, err) { #n, VDI_ERR_##err, n }

static const struct hostile cases[] = {
	H(empty_file, SHORT_FILE),
	H(one_byte, SHORT_FILE),
	H(short_file, SHORT_FILE),
	H(bad_signature, SIGNATURE),
	H(signature_byte_swapped, SIGNATURE),
	H(version_0, VERSION),
	H(version_0_legacy, VERSION),
	H(version_1_0, VERSION),
	H(version_1_2, VERSION),
	H(version_2_1, VERSION),
	H(header_size_too_small, HEADER_SIZE),
	H(header_size_zero, HEADER_SIZE),
	H(header_size_past_sector, HEADER_SIZE),
	H(header_size_huge, HEADER_SIZE),
	H(type_0, IMAGE_TYPE),
	H(type_5, IMAGE_TYPE),
	H(type_all_ones, IMAGE_TYPE),
	H(type_diff, DIFFERENCING),
	H(link_uuid_set, DIFFERENCING),
	H(parent_uuid_set, DIFFERENCING),
	H(diff_with_parent, DIFFERENCING),
	H(flags_2, IMAGE_FLAGS),
	H(flags_vbox_fixed_bit, IMAGE_FLAGS),
	H(flags_top_bit, IMAGE_FLAGS),
	H(legacy_sector_size_4096, SECTOR_SIZE),
	H(legacy_sector_size_0, SECTOR_SIZE),
	H(lchs_sector_size_0, LCHS_SECTOR_SIZE),
	H(lchs_sector_size_4096, LCHS_SECTOR_SIZE),
	H(disk_size_zero, DISK_SIZE),
	H(block_size_zero, BLOCK_SIZE),
	H(block_size_1m_minus_1, BLOCK_SIZE),
	H(block_size_1m_plus_64k, BLOCK_SIZE),
	H(block_size_below_min, BLOCK_SIZE),
	H(block_size_above_max, BLOCK_SIZE),
	H(block_size_2g, BLOCK_SIZE),
	H(block_extra_512, BLOCK_EXTRA),
	H(block_extra_3, BLOCK_EXTRA),
	H(blocks_zero, BLOCKS_ZERO),
	H(blocks_over_cap, TOO_MANY_BLOCKS),
	H(blocks_qemu_limit_plus_1, TOO_MANY_BLOCKS),
	H(blocks_all_ones, TOO_MANY_BLOCKS),
	H(map_one_block_short, MAP_TOO_SMALL),
	H(map_short_by_a_sector, MAP_TOO_SMALL),
	H(map_too_small_past_4g, MAP_TOO_SMALL),
	H(disk_qemu_max_plus_64k, MAP_TOO_SMALL),
	H(disk_size_2_64_minus_512, MAP_TOO_SMALL),
	H(disk_size_all_ones, MAP_TOO_SMALL),
	H(disk_size_past_max_product, MAP_TOO_SMALL),
	H(blocks_allocated_over_cap, BLOCKS_ALLOCATED),
	H(blocks_allocated_fffffffd, BLOCKS_ALLOCATED),
	H(blocks_allocated_all_ones, BLOCKS_ALLOCATED),
	H(uuid_image_null, UUID_IMAGE),
	H(uuid_modify_null, UUID_MODIFY),
	H(bmap_offset_zero, BMAP_OFFSET),
	H(bmap_offset_inside_header, BMAP_OFFSET),
	H(bmap_offset_after_header_unaligned, BMAP_OFFSET),
	H(bmap_offset_unaligned, BMAP_OFFSET),
	H(data_offset_unaligned, DATA_OFFSET),
	H(data_offset_zero, MAP_OVERLAP),
	H(data_at_map, MAP_OVERLAP),
	H(data_before_map, MAP_OVERLAP),
	H(map_runs_into_data, MAP_OVERLAP),
	H(map_end_wraps_32_bits, MAP_OVERLAP),
	H(bmap_offset_past_eof, MAP_PAST_EOF),
	H(header_only, MAP_PAST_EOF),
	H(truncated_in_map, MAP_PAST_EOF),
	H(truncated_one_byte_short_of_map, MAP_PAST_EOF),
	H(huge_map_in_tiny_file, MAP_PAST_EOF),
	H(max_map_truncated, MAP_PAST_EOF),
	H(entry_equals_blocks, ENTRY_RANGE),
	H(entry_fffffffd, ENTRY_RANGE),
	H(entry_huge, ENTRY_RANGE),
	H(entry_duplicate, ENTRY_DUPLICATE),
	H(entry_duplicate_first_last, ENTRY_DUPLICATE),
	H(static_duplicate, ENTRY_DUPLICATE),
	H(max_map_all_duplicates, ENTRY_DUPLICATE),
	H(entry_past_eof, ENTRY_PAST_EOF),
	H(entry_half_in_file, ENTRY_PAST_EOF),
	H(truncated_at_data, ENTRY_PAST_EOF),
	H(truncated_mid_block, ENTRY_PAST_EOF),
	H(entry_past_eof_beyond_4g, ENTRY_PAST_EOF),
	H(static_truncated, ENTRY_PAST_EOF),
	H(static_blocks_allocated_over, BLOCKS_ALLOCATED),
};

static void die(const char *what, const char *name)
{
	fprintf(stderr, "hostile_gen: %s: %s: %s\n", name, what, strerror(errno));
	exit(1);
}

/* The map as it lies in the file (zeros past MAP_CAP), in CPU order. */
static u32 *full_map(const struct image *s, u32 n)
{
	u32 *map = calloc(n, sizeof(u32));

	if (!map)
		return NULL;
	memcpy(map, s->map, (n < MAP_CAP ? n : MAP_CAP) * sizeof(u32));
	return map;
}

/*
 * Writes the image of case @c and returns the reason the format code
 * refuses it, explained into @why; *@size is the file size.
 */
static enum vdi_error write_case(const char *dir, const struct hostile *c,
				 char *why, size_t len, u64 *size)
{
	static struct image s;
	struct vdi_disk_header d;
	struct vdi_map_stats st = { 0 };
	struct vdi_header h;
	enum vdi_error err;
	unsigned long *seen;
	char path[4096];
	u32 *map = NULL, n, i;
	u64 map_len, off;
	int fd;

	vdi_image_base(&s.h, s.map, MAP_CAP, &s.file_size);
	c->make(&s);

	snprintf(path, sizeof(path), "%s/%s.vdi", dir, c->name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open", path);
	memset(&d, 0, sizeof(d));
	memcpy(d.banner, "<<< hostile_gen: ", 17);
	strncpy(d.banner + 17, c->name, sizeof(d.banner) - 18);
	vdi_header_encode(&d, &s.h);
	if (pwrite(fd, &d, sizeof(d), 0) != sizeof(d))
		die("write header", path);

	/* As much of the map as was built, where the header puts it. */
	n = s.h.blocks_in_image < MAP_CAP ? s.h.blocks_in_image : MAP_CAP;
	for (i = 0; i < n; i++)
		s.map[i] = cpu_to_le32(s.map[i]);
	off = s.h.offset_bmap;
	if (off >= VDI_HEADER_SECTOR_SIZE &&
	    pwrite(fd, s.map, n * sizeof(u32), off) != (ssize_t)(n * sizeof(u32)))
		die("write map", path);
	for (i = 0; i < n; i++)
		s.map[i] = le32_to_cpu(s.map[i]);
	if (ftruncate(fd, s.file_size) || close(fd))
		die("truncate", path);

	/* What a reader makes of it: the header as read back, then the map. */
	if (s.file_size < sizeof(d))
		memset((char *)&d + s.file_size, 0, sizeof(d) - s.file_size);
	vdi_header_decode(&h, &d);
	err = vdi_header_check(&h, s.file_size);
	if (!err) {
		map_len = h.blocks_in_image;
		map = full_map(&s, map_len);
		seen = calloc(1, vdi_map_seen_bytes(&h, s.file_size));
		if (!map || !seen)
			die("malloc", c->name);
		err = vdi_map_check(&h, map, s.file_size, seen, &st);
		free(seen);
		free(map);
	}
	vdi_explain(why, len, err, &h, &st);
	*size = s.file_size;
	return err;
}

int main(int argc, char **argv)
{
	char why[256], path[4096];
	enum vdi_error err;
	size_t i;
	FILE *idx;
	u64 size;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: hostile_gen DIR\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/index", argv[1]);
	idx = fopen(path, "w");
	if (!idx)
		die("open", path);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		err = write_case(argv[1], &cases[i], why, sizeof(why), &size);
		if (err != cases[i].want) {
			fprintf(stderr, "hostile_gen: %s: refused as \"%s\", meant as \"%s\"\n",
				cases[i].name, vdi_strerror(err),
				vdi_strerror(cases[i].want));
			bad = 1;
		}
		fprintf(idx, "%s\t%llu\t%s\n", cases[i].name,
			(unsigned long long)size, why);
	}
	if (fclose(idx))
		die("close", path);
	return bad;
}
