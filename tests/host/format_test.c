// SPDX-License-Identifier: GPL-2.0
/*
 * The shared VDI format code: valid layouts as QEMU and VirtualBox write
 * them, and one corruption per test, each refused for its own reason.
 *
 * Every image goes the whole way a reader takes: the header is encoded into
 * a sector, decoded back, checked against the file size, and the map is
 * converted to disk order and back before it is checked.
 */
#include <stddef.h>
#include <stdlib.h>

#include "vdi_format.h"
#include "vdi_images.h"
#include "../kselftest_harness.h"

#define KiB		1024ULL
#define MiB		(1024 * KiB)
#define GiB		(1024 * MiB)
#define MAP_CAP		65536		/* entries the fixture has room for */

FIXTURE(image) {
	struct vdi_header h;		/* what the test builds and corrupts */
	u32 map[MAP_CAP];
	u64 file_size;
	struct vdi_header read;		/* h as a reader sees it */
	struct vdi_map_stats st;
	char line[256];
};

/* The base image of vdi_images.h, also the hostile-image generator's. */
FIXTURE_SETUP(image)
{
	vdi_image_base(&self->h, self->map, MAP_CAP, &self->file_size);
}

FIXTURE_TEARDOWN(image)
{
}

/* The header as a reader gets it from the file, then its verdict. */
static enum vdi_error check_header(FIXTURE_DATA(image) *self)
{
	struct vdi_disk_header d;

	memset(&d, 0, sizeof(d));
	vdi_header_encode(&d, &self->h);
	memset(&self->read, 0, sizeof(self->read));
	vdi_header_decode(&self->read, &d);
	memset(&self->st, 0, sizeof(self->st));
	return vdi_header_check(&self->read, self->file_size);
}

/* Header and map; the map must fit the fixture when the header passes. */
static enum vdi_error check(FIXTURE_DATA(image) *self)
{
	enum vdi_error err = check_header(self);
	u32 n = self->read.blocks_in_image;
	unsigned long *seen;
	u32 *map;

	if (err)
		return err;
	if (n > MAP_CAP)
		return VDI_ERR_COUNT;
	map = malloc(n * sizeof(u32));
	seen = calloc(1, vdi_map_seen_bytes(&self->read, self->file_size));
	if (!map || !seen)
		abort();
	memcpy(map, self->map, n * sizeof(u32));
	vdi_map_to_disk(map, n);
	vdi_map_to_cpu(map, n);
	err = vdi_map_check(&self->read, map, self->file_size, seen, &self->st);
	free(seen);
	free(map);
	return err;
}

static const char *explain(FIXTURE_DATA(image) *self, enum vdi_error err)
{
	vdi_explain(self->line, sizeof(self->line), err, &self->read, &self->st);
	return self->line;
}

static void make_static(FIXTURE_DATA(image) *self)
{
	vdi_image_static(&self->h, self->map, &self->file_size);
}

/* ---- valid images ---- */

TEST_F(image, valid_qemu_dynamic)
{
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(4, self->st.allocated);
	EXPECT_EQ(1, self->st.zero);
	EXPECT_EQ(4, self->st.next_free);
	EXPECT_EQ(64 * MiB, vdi_virtual_size(&self->read));
	EXPECT_EQ(512, vdi_map_bytes(&self->read));
}

/* VirtualBox: 0x190 header with LCHS, map and data 1 MiB aligned. */
TEST_F(image, valid_vbox_layout)
{
	self->h.header_size = VDI_HEADER_SIZE_PLUS;
	self->h.lchs_sector_size = 512;
	self->h.offset_bmap = MiB;
	self->h.offset_data = 2 * MiB;
	self->file_size = 2 * MiB + 4 * MiB;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(4, self->st.next_free);
}

TEST_F(image, valid_static)
{
	make_static(self);
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(64, self->st.allocated);
	EXPECT_EQ(64, self->st.next_free);
}

/* QEMU rounds an odd size up, so the last partial sector is readable. */
TEST_F(image, valid_odd_disk_size_rounds_up)
{
	self->h.disk_size = 64 * MiB + 100;
	self->h.blocks_in_image = 65;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(64 * MiB + 512, vdi_virtual_size(&self->read));
}

TEST_F(image, valid_undo_type_reads_as_normal)
{
	self->h.image_type = VDI_TYPE_UNDO;
	ASSERT_EQ(VDI_OK, check(self));
}

TEST_F(image, valid_zero_expand_flag)
{
	self->h.image_flags = VDI_FLAGS_ZERO_EXPAND;
	ASSERT_EQ(VDI_OK, check(self));
}

/* Not present in a 0x180 header, so whatever lies there is not looked at. */
TEST_F(image, valid_plain_header_ignores_lchs)
{
	self->h.lchs_sector_size = 4096;
	ASSERT_EQ(VDI_OK, check(self));
}

TEST_F(image, valid_header_fills_sector)
{
	self->h.header_size = VDI_HEADER_SECTOR_SIZE - VDI_PREHEADER_SIZE;
	self->h.lchs_sector_size = 512;
	ASSERT_EQ(VDI_OK, check(self));
}

/* Fresh from create: the file ends where the data area starts. */
TEST_F(image, valid_empty_file_ends_at_data)
{
	u32 i;

	for (i = 0; i < 64; i++)
		self->map[i] = VDI_BLOCK_FREE;
	self->h.blocks_allocated = 0;
	self->file_size = 0x400;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(0, self->st.allocated);
	EXPECT_EQ(0, self->st.next_free);
}

/* 4096 x 1 MiB is 2^32: a 32-bit product would be 0. */
TEST_F(image, valid_4g_product_overflows_32_bits)
{
	self->h.disk_size = 4 * GiB;
	self->h.blocks_in_image = 4096;
	self->h.offset_data = 0x200 + 4096 * 4;
	self->file_size = self->h.offset_data + 4 * MiB;
	ASSERT_EQ(VDI_OK, check(self));
}

/* Blocks beyond 4 GiB into the data area: offsets need 64 bits. */
TEST_F(image, valid_block_offset_past_4g)
{
	self->h.disk_size = 8 * GiB;
	self->h.blocks_in_image = 128;
	self->h.block_size = 64 * MiB;
	self->map[0] = 100;
	self->h.blocks_allocated = 101;
	self->file_size = 0x400 + 101 * 64 * MiB;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(0x400 + 100 * 64 * MiB, vdi_block_offset(&self->read, 100));
}

TEST_F(image, valid_max_blocks)
{
	self->h.block_size = VDI_MIN_BLOCK_SIZE;
	self->h.blocks_in_image = VDI_MAX_BLOCKS;
	self->h.disk_size = (u64)VDI_MAX_BLOCKS * VDI_MIN_BLOCK_SIZE;
	self->h.offset_data = 0x200 + VDI_MAX_BLOCKS * 4;
	self->file_size = self->h.offset_data;
	ASSERT_EQ(VDI_OK, check_header(self));
	EXPECT_EQ(VDI_MAX_BLOCKS / 8, vdi_map_seen_bytes(&self->read, self->file_size));
}

/* ---- the pre-header and header fields ---- */

TEST_F(image, short_file)
{
	self->file_size = 511;
	ASSERT_EQ(VDI_ERR_SHORT_FILE, check(self));
}

TEST_F(image, bad_signature)
{
	self->h.signature = 0x12345678;
	ASSERT_EQ(VDI_ERR_SIGNATURE, check(self));
	EXPECT_STREQ("not a VDI image (bad signature 0x12345678)",
		     explain(self, VDI_ERR_SIGNATURE));
}

TEST_F(image, version_0_legacy)
{
	self->h.version = 0x00000002;
	ASSERT_EQ(VDI_ERR_VERSION, check(self));
}

TEST_F(image, version_1_2)
{
	self->h.version = 0x00010002;
	ASSERT_EQ(VDI_ERR_VERSION, check(self));
	EXPECT_STREQ("unsupported VDI version (1.2, need 1.1)",
		     explain(self, VDI_ERR_VERSION));
}

TEST_F(image, version_1_0)
{
	self->h.version = 0x00010000;
	ASSERT_EQ(VDI_ERR_VERSION, check(self));
}

TEST_F(image, version_2_1)
{
	self->h.version = 0x00020001;
	ASSERT_EQ(VDI_ERR_VERSION, check(self));
}

TEST_F(image, header_size_too_small)
{
	self->h.header_size = VDI_HEADER_SIZE - 1;
	ASSERT_EQ(VDI_ERR_HEADER_SIZE, check(self));
}

TEST_F(image, header_size_zero)
{
	self->h.header_size = 0;
	ASSERT_EQ(VDI_ERR_HEADER_SIZE, check(self));
}

TEST_F(image, header_size_past_sector)
{
	self->h.header_size = VDI_HEADER_SECTOR_SIZE - VDI_PREHEADER_SIZE + 1;
	ASSERT_EQ(VDI_ERR_HEADER_SIZE, check(self));
}

TEST_F(image, header_size_huge)
{
	self->h.header_size = 0xFFFFFFFF;
	ASSERT_EQ(VDI_ERR_HEADER_SIZE, check(self));
}

TEST_F(image, type_0)
{
	self->h.image_type = 0;
	ASSERT_EQ(VDI_ERR_IMAGE_TYPE, check(self));
}

TEST_F(image, type_5)
{
	self->h.image_type = 5;
	ASSERT_EQ(VDI_ERR_IMAGE_TYPE, check(self));
	EXPECT_STREQ("bad image type (5)", explain(self, VDI_ERR_IMAGE_TYPE));
}

TEST_F(image, type_diff)
{
	self->h.image_type = VDI_TYPE_DIFF;
	ASSERT_EQ(VDI_ERR_DIFFERENCING, check(self));
	EXPECT_STREQ("differencing image: parent needed (image type 4)",
		     explain(self, VDI_ERR_DIFFERENCING));
}

TEST_F(image, link_uuid_set)
{
	self->h.uuid_link[15] = 1;
	ASSERT_EQ(VDI_ERR_DIFFERENCING, check(self));
	EXPECT_STREQ("differencing image: parent needed (parent UUID set)",
		     explain(self, VDI_ERR_DIFFERENCING));
}

TEST_F(image, parent_uuid_set)
{
	self->h.uuid_parent[0] = 0x80;
	ASSERT_EQ(VDI_ERR_DIFFERENCING, check(self));
}

TEST_F(image, flags_2)
{
	self->h.image_flags = 2;
	ASSERT_EQ(VDI_ERR_IMAGE_FLAGS, check(self));
}

TEST_F(image, flags_vbox_fixed_bit)
{
	self->h.image_flags = 0x100;
	ASSERT_EQ(VDI_ERR_IMAGE_FLAGS, check(self));
}

/* VirtualBox lets bits 24-31 slip through its mask; we do not. */
TEST_F(image, flags_top_bit)
{
	self->h.image_flags = 0x80000001;
	ASSERT_EQ(VDI_ERR_IMAGE_FLAGS, check(self));
}

TEST_F(image, legacy_sector_size_4096)
{
	self->h.legacy_sector_size = 4096;
	ASSERT_EQ(VDI_ERR_SECTOR_SIZE, check(self));
}

TEST_F(image, legacy_sector_size_0)
{
	self->h.legacy_sector_size = 0;
	ASSERT_EQ(VDI_ERR_SECTOR_SIZE, check(self));
}

TEST_F(image, lchs_sector_size_0)
{
	self->h.header_size = VDI_HEADER_SIZE_PLUS;
	self->h.lchs_sector_size = 0;
	ASSERT_EQ(VDI_ERR_LCHS_SECTOR_SIZE, check(self));
}

TEST_F(image, lchs_sector_size_4096)
{
	self->h.header_size = VDI_HEADER_SIZE_PLUS;
	self->h.lchs_sector_size = 4096;
	ASSERT_EQ(VDI_ERR_LCHS_SECTOR_SIZE, check(self));
}

TEST_F(image, disk_size_zero)
{
	self->h.disk_size = 0;
	ASSERT_EQ(VDI_ERR_DISK_SIZE, check(self));
}

TEST_F(image, block_size_zero)
{
	self->h.block_size = 0;
	ASSERT_EQ(VDI_ERR_BLOCK_SIZE, check(self));
}

TEST_F(image, block_size_1m_minus_1)
{
	self->h.block_size = MiB - 1;
	ASSERT_EQ(VDI_ERR_BLOCK_SIZE, check(self));
	EXPECT_STREQ("unsupported block size (1048575)",
		     explain(self, VDI_ERR_BLOCK_SIZE));
}

TEST_F(image, block_size_1m_plus_64k)
{
	self->h.block_size = MiB + 64 * KiB;
	ASSERT_EQ(VDI_ERR_BLOCK_SIZE, check(self));
}

TEST_F(image, block_size_below_min)
{
	self->h.block_size = VDI_MIN_BLOCK_SIZE / 2;
	self->h.blocks_in_image = 64 * MiB / (VDI_MIN_BLOCK_SIZE / 2);
	ASSERT_EQ(VDI_ERR_BLOCK_SIZE, check(self));
}

TEST_F(image, block_size_above_max)
{
	self->h.block_size = VDI_MAX_BLOCK_SIZE * 2;
	ASSERT_EQ(VDI_ERR_BLOCK_SIZE, check(self));
}

TEST_F(image, block_size_2g)
{
	self->h.block_size = 0x80000000;
	ASSERT_EQ(VDI_ERR_BLOCK_SIZE, check(self));
}

TEST_F(image, block_extra_512)
{
	self->h.block_extra = 512;
	ASSERT_EQ(VDI_ERR_BLOCK_EXTRA, check(self));
}

TEST_F(image, block_extra_3)
{
	self->h.block_extra = 3;
	ASSERT_EQ(VDI_ERR_BLOCK_EXTRA, check(self));
}

TEST_F(image, blocks_zero)
{
	self->h.blocks_in_image = 0;
	ASSERT_EQ(VDI_ERR_BLOCKS_ZERO, check(self));
}

TEST_F(image, blocks_over_cap)
{
	self->h.blocks_in_image = VDI_MAX_BLOCKS + 1;
	ASSERT_EQ(VDI_ERR_TOO_MANY_BLOCKS, check(self));
}

/* QEMU iotest 084: one over QEMU's own limit. */
TEST_F(image, blocks_qemu_limit_plus_1)
{
	self->h.blocks_in_image = 0x1FFFFF81;
	ASSERT_EQ(VDI_ERR_TOO_MANY_BLOCKS, check(self));
}

TEST_F(image, blocks_all_ones)
{
	self->h.blocks_in_image = 0xFFFFFFFF;
	ASSERT_EQ(VDI_ERR_TOO_MANY_BLOCKS, check(self));
}

/* QEMU iotest 084: "image bitmap has room for 66060288". */
TEST_F(image, map_one_block_short)
{
	self->h.blocks_in_image = 63;
	ASSERT_EQ(VDI_ERR_MAP_TOO_SMALL, check(self));
	EXPECT_STREQ("block map too small for the disk size (63 blocks of 1048576 bytes, disk 67108864 bytes)",
		     explain(self, VDI_ERR_MAP_TOO_SMALL));
}

TEST_F(image, map_short_by_a_sector)
{
	self->h.disk_size = 64 * MiB + 1;
	ASSERT_EQ(VDI_ERR_MAP_TOO_SMALL, check(self));
}

/* 2^32 + 512 against a product that is exactly 2^32. */
TEST_F(image, map_too_small_past_4g)
{
	self->h.disk_size = 4 * GiB + 512;
	self->h.blocks_in_image = 4096;
	self->h.offset_data = 0x200 + 4096 * 4;
	ASSERT_EQ(VDI_ERR_MAP_TOO_SMALL, check(self));
}

/* QEMU iotest 084: its maximum size plus 64 KiB. */
TEST_F(image, disk_qemu_max_plus_64k)
{
	self->h.disk_size = 0x1FFFFF8010000ULL;
	ASSERT_EQ(VDI_ERR_MAP_TOO_SMALL, check(self));
}

/* Rounding these up to 512 would overflow 64 bits. */
TEST_F(image, disk_size_2_64_minus_512)
{
	self->h.disk_size = ~0ULL - 511;
	ASSERT_EQ(VDI_ERR_MAP_TOO_SMALL, check(self));
}

TEST_F(image, disk_size_all_ones)
{
	self->h.disk_size = ~0ULL;
	ASSERT_EQ(VDI_ERR_MAP_TOO_SMALL, check(self));
}

/* Dynamic images may count blocks past the map, as other tools leave them. */
TEST_F(image, blocks_allocated_over_blocks)
{
	self->h.blocks_allocated = 65;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(65, self->st.next_free);
}

TEST_F(image, blocks_allocated_over_cap)
{
	self->h.blocks_allocated = VDI_MAX_DATA_BLOCKS + 1;
	ASSERT_EQ(VDI_ERR_BLOCKS_ALLOCATED, check(self));
}

TEST_F(image, static_blocks_allocated_over_blocks)
{
	self->h.image_type = VDI_TYPE_FIXED;
	self->h.blocks_allocated = 65;
	ASSERT_EQ(VDI_ERR_BLOCKS_ALLOCATED, check(self));
}

/* The next QEMU allocation would produce the marker 0xFFFFFFFE. */
TEST_F(image, blocks_allocated_fffffffd)
{
	self->h.blocks_allocated = 0xFFFFFFFD;
	ASSERT_EQ(VDI_ERR_BLOCKS_ALLOCATED, check(self));
}

TEST_F(image, uuid_image_null)
{
	memset(self->h.uuid_image, 0, VDI_UUID_SIZE);
	ASSERT_EQ(VDI_ERR_UUID_IMAGE, check(self));
}

TEST_F(image, uuid_modify_null)
{
	memset(self->h.uuid_modify, 0, VDI_UUID_SIZE);
	ASSERT_EQ(VDI_ERR_UUID_MODIFY, check(self));
}

/* ---- the map's place in the file ---- */

TEST_F(image, bmap_offset_zero)
{
	self->h.offset_bmap = 0;
	ASSERT_EQ(VDI_ERR_BMAP_OFFSET, check(self));
}

/* Below VirtualBox's 0x1C8, and aligned: QEMU would take it. */
TEST_F(image, bmap_offset_inside_header)
{
	self->h.offset_bmap = 0x1C0;
	ASSERT_EQ(VDI_ERR_BMAP_OFFSET, check(self));
}

/* Right after a 0x180 header: VirtualBox would take it. */
TEST_F(image, bmap_offset_after_header_unaligned)
{
	self->h.offset_bmap = 0x1C8;
	ASSERT_EQ(VDI_ERR_BMAP_OFFSET, check(self));
}

TEST_F(image, bmap_offset_unaligned)
{
	self->h.offset_bmap = 0x201;
	ASSERT_EQ(VDI_ERR_BMAP_OFFSET, check(self));
	EXPECT_STREQ("bad block map offset (0x201)",
		     explain(self, VDI_ERR_BMAP_OFFSET));
}

TEST_F(image, data_offset_unaligned)
{
	self->h.offset_data = 0x401;
	ASSERT_EQ(VDI_ERR_DATA_OFFSET, check(self));
}

TEST_F(image, data_at_map)
{
	self->h.offset_data = 0x200;
	ASSERT_EQ(VDI_ERR_MAP_OVERLAP, check(self));
}

TEST_F(image, data_before_map)
{
	self->h.offset_bmap = 0x400;
	self->h.offset_data = 0x200;
	ASSERT_EQ(VDI_ERR_MAP_OVERLAP, check(self));
}

/* 129 entries need two sectors; the data starts after one. */
TEST_F(image, map_runs_into_data)
{
	self->h.blocks_in_image = 129;
	ASSERT_EQ(VDI_ERR_MAP_OVERLAP, check(self));
	EXPECT_STREQ("block map overlaps the data area (map ends at 0x600, data at 0x400)",
		     explain(self, VDI_ERR_MAP_OVERLAP));
}

/* The map's end is past 4 GiB: a 32-bit sum would wrap to 0. */
TEST_F(image, map_end_wraps_32_bits)
{
	self->h.offset_bmap = 0xFFFFFE00;
	self->h.offset_data = 0xFFFFFE00;
	self->file_size = 8 * GiB;
	ASSERT_EQ(VDI_ERR_MAP_OVERLAP, check(self));
}

/* Truncated inside the map: QEMU would read zero entries, all block 0. */
TEST_F(image, truncated_in_map)
{
	self->file_size = 0x300;
	ASSERT_EQ(VDI_ERR_MAP_PAST_EOF, check(self));
	EXPECT_STREQ("block map runs past the end of the file (map ends at 0x400)",
		     explain(self, VDI_ERR_MAP_PAST_EOF));
}

TEST_F(image, truncated_one_byte_short_of_map)
{
	self->file_size = 0x3FF;
	ASSERT_EQ(VDI_ERR_MAP_PAST_EOF, check(self));
}

/* QEMU iotest 084 "Test 1": a 1 KiB file claiming a huge map. */
TEST_F(image, huge_map_in_tiny_file)
{
	self->h.disk_size = 64 * GiB;
	self->h.blocks_in_image = 65536;
	self->h.offset_data = 0x200 + 65536 * 4;
	self->file_size = 1024;
	ASSERT_EQ(VDI_ERR_MAP_PAST_EOF, check(self));
}

/* ---- map entries ---- */

TEST_F(image, entry_equals_blocks)
{
	self->map[17] = 64;
	ASSERT_EQ(VDI_ERR_ENTRY_RANGE, check(self));
	EXPECT_EQ(17, self->st.bad_index);
	EXPECT_EQ(64, self->st.bad_entry);
}

/*
 * Past the map but inside the file: QEMU and VirtualBox read it, so the
 * driver takes it, and counts it for "vdisetup check" to report.
 */
TEST_F(image, entry_beyond_blocks_in_file)
{
	self->map[17] = 70;
	self->map[20] = 64;
	self->h.blocks_allocated = 71;
	self->file_size = self->h.offset_data + 71ULL * self->h.block_size;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(2, self->st.beyond);
	EXPECT_EQ(17, self->st.beyond_index);
	EXPECT_EQ(71, self->st.next_free);
}

TEST_F(image, entry_beyond_blocks_duplicate)
{
	self->map[17] = 70;
	self->map[18] = 70;
	self->h.blocks_allocated = 71;
	self->file_size = self->h.offset_data + 71ULL * self->h.block_size;
	ASSERT_EQ(VDI_ERR_ENTRY_DUPLICATE, check(self));
	EXPECT_EQ(18, self->st.bad_index);
}

TEST_F(image, entry_fffffffd)
{
	self->map[1] = 0xFFFFFFFD;
	ASSERT_EQ(VDI_ERR_ENTRY_RANGE, check(self));
	EXPECT_EQ(1, self->st.bad_index);
}

TEST_F(image, entry_duplicate)
{
	self->map[7] = 2;
	ASSERT_EQ(VDI_ERR_ENTRY_DUPLICATE, check(self));
	EXPECT_EQ(10, self->st.bad_index);
	EXPECT_STREQ("block map entry used twice (entry 10: data block 2 at 0x200400)",
		     explain(self, VDI_ERR_ENTRY_DUPLICATE));
}

TEST_F(image, entry_past_eof)
{
	self->map[17] = 40;
	self->h.blocks_allocated = 41;
	ASSERT_EQ(VDI_ERR_ENTRY_PAST_EOF, check(self));
	EXPECT_EQ(17, self->st.bad_index);
	EXPECT_STREQ("block map entry past the end of the file (entry 17: data block 40 at 0x2800400)",
		     explain(self, VDI_ERR_ENTRY_PAST_EOF));
}

/* VirtualBox refuses to read a block the file holds only part of. */
TEST_F(image, entry_half_in_file)
{
	self->file_size -= MiB / 2;
	ASSERT_EQ(VDI_ERR_ENTRY_PAST_EOF, check(self));
	EXPECT_EQ(63, self->st.bad_index);
}

/* 100 x 64 MiB wraps a 32-bit offset back inside a 4 GiB file. */
TEST_F(image, entry_past_eof_beyond_4g)
{
	self->h.disk_size = 8 * GiB;
	self->h.blocks_in_image = 128;
	self->h.block_size = 64 * MiB;
	self->map[0] = 100;
	self->h.blocks_allocated = 101;
	self->file_size = 4 * GiB;
	ASSERT_EQ(VDI_ERR_ENTRY_PAST_EOF, check(self));
}

TEST_F(image, static_truncated)
{
	make_static(self);
	self->file_size -= MiB;
	ASSERT_EQ(VDI_ERR_ENTRY_PAST_EOF, check(self));
	EXPECT_EQ(63, self->st.bad_index);
}

TEST_F(image, static_duplicate)
{
	make_static(self);
	self->map[30] = 31;
	ASSERT_EQ(VDI_ERR_ENTRY_DUPLICATE, check(self));
	EXPECT_EQ(31, self->st.bad_index);
}

/* ---- where the next block goes ---- */

/* The map reached the disk, the header did not: never reuse block 3. */
TEST_F(image, next_free_after_lost_header)
{
	self->h.blocks_allocated = 2;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(4, self->st.next_free);
}

TEST_F(image, next_free_with_hole)
{
	self->map[63] = 9;
	self->h.blocks_allocated = 0;
	self->file_size = 0x400 + 10 * MiB;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(10, self->st.next_free);
}

/* A leaked tail block (header written, map not) is skipped, not reused. */
TEST_F(image, next_free_after_leak)
{
	self->h.blocks_allocated = 5;
	ASSERT_EQ(VDI_OK, check(self));
	EXPECT_EQ(4, self->st.allocated);
	EXPECT_EQ(5, self->st.next_free);
}

/* ---- differencing chains ---- */

/*
 * A base image (the fixture's), a child linked to it and a grandchild
 * linked to the child, as "vdisetup create --parent" makes them.
 */
FIXTURE(chain) {
	struct vdi_header h[3];
	u64 file_size;
	u32 map[64];
	char line[256];
};

static void link_to(struct vdi_header *child, const struct vdi_header *parent,
		    u8 id)
{
	*child = *parent;
	child->image_type = VDI_TYPE_DIFF;
	child->blocks_allocated = 0;
	memset(child->uuid_image, id, VDI_UUID_SIZE);
	memset(child->uuid_modify, id + 0x80, VDI_UUID_SIZE);
	memcpy(child->uuid_link, parent->uuid_image, VDI_UUID_SIZE);
	memcpy(child->uuid_parent, parent->uuid_modify, VDI_UUID_SIZE);
}

FIXTURE_SETUP(chain)
{
	vdi_image_base(&self->h[0], self->map, 64, &self->file_size);
	link_to(&self->h[1], &self->h[0], 0x11);
	link_to(&self->h[2], &self->h[1], 0x22);
}

FIXTURE_TEARDOWN(chain)
{
}

/* The chain top first: grandchild, child, base. */
static enum vdi_error check_chain(FIXTURE_DATA(chain) *self, bool modified_ok,
				  u32 *bad)
{
	const struct vdi_header *c[] = { &self->h[2], &self->h[1], &self->h[0] };

	return vdi_chain_check(c, 3, modified_ok, bad);
}

/*
 * The link from the child h[1] to the base h[0] is refused for @err, with
 * @text, and so is the whole chain, at the child.
 */
static void link_refused(struct __test_metadata *_metadata,
			 FIXTURE_DATA(chain) *self, enum vdi_error err,
			 const char *text)
{
	u32 bad = 99;

	EXPECT_EQ(err, vdi_link_check(&self->h[1], &self->h[0]));
	vdi_link_explain(self->line, sizeof(self->line), err, &self->h[1],
			 &self->h[0]);
	EXPECT_STREQ(text, self->line);
	EXPECT_EQ(err, check_chain(self, false, &bad));
	EXPECT_EQ(1, bad);
}

TEST_F(chain, valid)
{
	u32 bad = 99;

	EXPECT_EQ(VDI_OK, vdi_chain_header_check(&self->h[1], self->file_size));
	EXPECT_EQ(VDI_OK, vdi_link_check(&self->h[1], &self->h[0]));
	EXPECT_EQ(VDI_OK, check_chain(self, false, &bad));
	EXPECT_EQ(0, bad);
	/* A base image alone is a chain of one. */
	EXPECT_EQ(VDI_OK, vdi_chain_check((const struct vdi_header *[]){ &self->h[0] },
					  1, false, &bad));
}

/* The driver, which cannot read chains yet, still refuses every child. */
TEST_F(chain, header_check_still_refuses_children)
{
	EXPECT_EQ(VDI_ERR_DIFFERENCING,
		  vdi_header_check(&self->h[1], self->file_size));
}

/* The chain check takes a child, but every other header rule still holds. */
TEST_F(chain, chain_header_check_keeps_the_other_rules)
{
	self->h[1].block_extra = 512;
	EXPECT_EQ(VDI_ERR_BLOCK_EXTRA,
		  vdi_chain_header_check(&self->h[1], self->file_size));
	EXPECT_EQ(VDI_OK, vdi_chain_header_check(&self->h[0], self->file_size));
}

TEST_F(chain, diff_without_link_uuid)
{
	memset(self->h[1].uuid_link, 0, VDI_UUID_SIZE);
	EXPECT_EQ(VDI_ERR_DIFF_NO_LINK,
		  vdi_chain_header_check(&self->h[1], self->file_size));
	EXPECT_EQ(-EOPNOTSUPP, vdi_error_errno(VDI_ERR_DIFF_NO_LINK));
}

/* A parent UUID in an image that is no child is still refused. */
TEST_F(chain, base_with_link_uuid)
{
	self->h[1].image_type = VDI_TYPE_NORMAL;
	EXPECT_EQ(VDI_ERR_DIFFERENCING,
		  vdi_chain_header_check(&self->h[1], self->file_size));
}

/* VirtualBox's v0 headers have no parent UUID: the link says "changed". */
TEST_F(chain, null_parent_uuid)
{
	memset(self->h[1].uuid_parent, 0, VDI_UUID_SIZE);
	EXPECT_EQ(VDI_OK, vdi_chain_header_check(&self->h[1], self->file_size));
	EXPECT_EQ(VDI_ERR_LINK_MODIFIED, vdi_link_check(&self->h[1], &self->h[0]));
}

/* The grandchild's parent then has a parent it cannot have. */
TEST_F(chain, child_is_not_differencing)
{
	self->h[1].image_type = VDI_TYPE_NORMAL;
	link_refused(_metadata, self, VDI_ERR_LINK_NOT_DIFF,
		     "not a differencing image (image type 1)");
}

TEST_F(chain, wrong_parent)
{
	self->h[0].uuid_image[3] ^= 1;
	link_refused(_metadata, self, VDI_ERR_LINK_UUID,
		     "parent is not the image the child links to");
}

/* Identity comes first: a wrong file of another size is the wrong file. */
TEST_F(chain, wrong_parent_of_other_size)
{
	self->h[0].uuid_image[0] ^= 1;
	self->h[0].disk_size *= 2;
	EXPECT_EQ(VDI_ERR_LINK_UUID, vdi_link_check(&self->h[1], &self->h[0]));
}

TEST_F(chain, parent_of_other_disk_size)
{
	self->h[0].disk_size = 32 * MiB;
	link_refused(_metadata, self, VDI_ERR_LINK_DISK_SIZE,
		     "parent has a different disk size (33554432 bytes, the child 67108864)");
}

TEST_F(chain, parent_of_other_block_size)
{
	self->h[0].block_size = 2 * MiB;
	link_refused(_metadata, self, VDI_ERR_LINK_BLOCK_SIZE,
		     "parent has a different block size (2097152 bytes, the child 1048576)");
}

/* Written since: refused, unless the caller accepts it (read-only). */
TEST_F(chain, parent_modified)
{
	u32 bad;

	self->h[0].uuid_modify[15] ^= 1;
	link_refused(_metadata, self, VDI_ERR_LINK_MODIFIED,
		     "parent changed since the child was made");
	EXPECT_EQ(VDI_OK, check_chain(self, true, &bad));
}

/* The bottom of the chain is still a child: its parent is missing. */
TEST_F(chain, parent_missing)
{
	const struct vdi_header *c[] = { &self->h[2], &self->h[1] };
	u32 bad;

	EXPECT_EQ(VDI_ERR_PARENT_MISSING, vdi_chain_check(c, 2, false, &bad));
	EXPECT_EQ(1, bad);
	EXPECT_EQ(-ENOENT, vdi_error_errno(VDI_ERR_PARENT_MISSING));
}

/* A child made its own grandparent: the base links back to the top. */
TEST_F(chain, cycle)
{
	const struct vdi_header *c[] = { &self->h[2], &self->h[1], &self->h[0],
					 &self->h[2] };
	u32 bad;

	link_to(&self->h[0], &self->h[2], 0x33);
	link_to(&self->h[2], &self->h[1], 0x22);
	link_to(&self->h[1], &self->h[0], 0x11);
	EXPECT_EQ(VDI_ERR_CHAIN_CYCLE, vdi_chain_check(c, 4, false, &bad));
	EXPECT_EQ(3, bad);
}

TEST(chain_of_max_depth)
{
	static struct vdi_header h[VDI_MAX_CHAIN + 1];
	const struct vdi_header *c[VDI_MAX_CHAIN + 1];
	u32 map[64], i, bad;
	char line[64];
	u64 size;

	/* c[i]'s parent is c[i + 1]; the last one is the base. */
	vdi_image_base(&h[VDI_MAX_CHAIN], map, 64, &size);
	for (i = VDI_MAX_CHAIN; i-- > 0;)
		link_to(&h[i], &h[i + 1], i + 1);
	for (i = 0; i <= VDI_MAX_CHAIN; i++)
		c[i] = &h[i];
	EXPECT_GE(VDI_MAX_CHAIN, 16);
	EXPECT_EQ(VDI_OK, vdi_chain_check(c + 1, VDI_MAX_CHAIN, false, &bad));
	EXPECT_EQ(VDI_ERR_CHAIN_DEPTH,
		  vdi_chain_check(c, VDI_MAX_CHAIN + 1, false, &bad));
	EXPECT_EQ(VDI_MAX_CHAIN, bad);
	vdi_explain(line, sizeof(line), VDI_ERR_CHAIN_DEPTH, &h[0], NULL);
	EXPECT_STREQ("chain too long (more than 32 images)", line);
}

/* ---- encoding, UUIDs, messages ---- */

/* Offsets from the format notes, section 1.3. */
TEST(disk_layout)
{
	EXPECT_EQ(512, sizeof(struct vdi_disk_header));
	EXPECT_EQ(0x40, offsetof(struct vdi_disk_header, signature));
	EXPECT_EQ(0x48, offsetof(struct vdi_disk_header, header_size));
	EXPECT_EQ(0x154, offsetof(struct vdi_disk_header, offset_bmap));
	EXPECT_EQ(0x168, offsetof(struct vdi_disk_header, legacy_sector_size));
	EXPECT_EQ(0x170, offsetof(struct vdi_disk_header, disk_size));
	EXPECT_EQ(0x178, offsetof(struct vdi_disk_header, block_size));
	EXPECT_EQ(0x180, offsetof(struct vdi_disk_header, blocks_in_image));
	EXPECT_EQ(0x188, offsetof(struct vdi_disk_header, uuid_image));
	EXPECT_EQ(0x1B8, offsetof(struct vdi_disk_header, uuid_parent));
	EXPECT_EQ(0x1C8, offsetof(struct vdi_disk_header, lchs_cylinders));
	EXPECT_EQ(0x1D4, offsetof(struct vdi_disk_header, lchs_sector_size));
}

TEST(decode_little_endian)
{
	static const u8 le[] = { 0x7F, 0x10, 0xDA, 0xBE, 0x01, 0x00, 0x01, 0x00 };
	u8 sector[VDI_HEADER_SECTOR_SIZE] = { 0 };
	struct vdi_header h;

	memcpy(sector + 0x40, le, sizeof(le));
	sector[0x170] = 0x01;	/* disk_size 0x0100000000000001 */
	sector[0x177] = 0x01;
	vdi_header_decode(&h, (struct vdi_disk_header *)sector);
	EXPECT_EQ(VDI_SIGNATURE, h.signature);
	EXPECT_EQ(VDI_VERSION_1_1, h.version);
	EXPECT_EQ(0x0100000000000001ULL, h.disk_size);
}

/* Everything decoded and encoded again lands on the same bytes. */
TEST(encode_round_trip_keeps_unowned_bytes)
{
	u8 orig[VDI_HEADER_SECTOR_SIZE], copy[VDI_HEADER_SECTOR_SIZE];
	struct vdi_disk_header *d = (struct vdi_disk_header *)copy;
	struct vdi_header h;
	int i;

	for (i = 0; i < VDI_HEADER_SECTOR_SIZE; i++)
		orig[i] = i * 37 + 11;
	orig[offsetof(struct vdi_disk_header, comment) + 255] = 0;
	memcpy(copy, orig, sizeof(copy));
	vdi_header_decode(&h, d);
	vdi_header_encode(d, &h);
	EXPECT_EQ(0, memcmp(orig, copy, sizeof(copy)));

	/* A header update changes its fields and nothing around them. */
	h.blocks_allocated++;
	vdi_header_encode(d, &h);
	EXPECT_EQ(0, memcmp(orig, copy, offsetof(struct vdi_disk_header,
						 blocks_allocated)));
	EXPECT_EQ(0, memcmp(orig + 0x188, copy + 0x188, 512 - 0x188));
}

/* The comment comes back printable even when the file has no NUL. */
TEST(decode_terminates_comment)
{
	struct vdi_disk_header d;
	struct vdi_header h;

	memset(&d, 'x', sizeof(d));
	vdi_header_decode(&h, &d);
	EXPECT_EQ(255, strlen(h.comment));
}

TEST(uuid_swap)
{
	static const u8 disk[VDI_UUID_SIZE] = {
		0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef
	};
	static const u8 rfc[VDI_UUID_SIZE] = {
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef
	};
	u8 out[VDI_UUID_SIZE];

	vdi_uuid_swap(out, disk);
	EXPECT_EQ(0, memcmp(rfc, out, VDI_UUID_SIZE));
	vdi_uuid_swap(out, rfc);
	EXPECT_EQ(0, memcmp(disk, out, VDI_UUID_SIZE));
	EXPECT_FALSE(vdi_uuid_is_null(disk));
}

TEST(uuid_null)
{
	u8 uuid[VDI_UUID_SIZE] = { 0 };

	EXPECT_TRUE(vdi_uuid_is_null(uuid));
	uuid[15] = 1;
	EXPECT_FALSE(vdi_uuid_is_null(uuid));
}

TEST(every_reason_has_text_and_errno)
{
	int e;

	for (e = VDI_OK + 1; e < VDI_ERR_COUNT; e++) {
		ASSERT_NE(NULL, vdi_strerror(e));
		EXPECT_GT(0, vdi_error_errno(e));
	}
	EXPECT_EQ(0, vdi_error_errno(VDI_OK));
	EXPECT_EQ(-EOPNOTSUPP, vdi_error_errno(VDI_ERR_DIFFERENCING));
	EXPECT_EQ(-EINVAL, vdi_error_errno(VDI_ERR_LINK_MODIFIED));
	EXPECT_EQ(-EUCLEAN, vdi_error_errno(VDI_ERR_ENTRY_DUPLICATE));
	EXPECT_EQ(-EINVAL, vdi_error_errno(VDI_ERR_SIGNATURE));
	EXPECT_STREQ("unknown VDI error", vdi_strerror(VDI_ERR_COUNT));
}

TEST(explain_without_header_or_room)
{
	char buf[8];

	EXPECT_EQ(strlen("not a VDI image"),
		  vdi_explain(buf, sizeof(buf), VDI_ERR_SIGNATURE, NULL, NULL));
	EXPECT_STREQ("not a V", buf);
}

TEST_HARNESS_MAIN
