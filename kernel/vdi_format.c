// SPDX-License-Identifier: GPL-2.0
/*
 * VDI (VirtualBox Disk Image) on-disk format: header, block map, validation.
 *
 * The rules are the union of what QEMU's block/vdi.c and VirtualBox's VDI
 * backend demand when opening an image, plus checks neither does that a
 * kernel driver needs before trusting the map: the map inside the file and
 * clear of the data, every allocated entry unique and inside the file.
 */
#include "vdi_format.h"

static_assert(sizeof(struct vdi_disk_header) == VDI_HEADER_SECTOR_SIZE,
	      "the header structure must be exactly the header sector");

static const char *const vdi_messages[VDI_ERR_COUNT] = {
	[VDI_OK]			= "valid VDI image",
	[VDI_ERR_SHORT_FILE]		= "file shorter than a VDI header",
	[VDI_ERR_SIGNATURE]		= "not a VDI image",
	[VDI_ERR_VERSION]		= "unsupported VDI version",
	[VDI_ERR_HEADER_SIZE]		= "bad header size",
	[VDI_ERR_IMAGE_TYPE]		= "bad image type",
	[VDI_ERR_IMAGE_FLAGS]		= "unsupported image flags",
	[VDI_ERR_DIFFERENCING]		= "differencing image: parent needed",
	[VDI_ERR_SECTOR_SIZE]		= "sector size is not 512",
	[VDI_ERR_LCHS_SECTOR_SIZE]	= "geometry sector size is not 512",
	[VDI_ERR_BMAP_OFFSET]		= "bad block map offset",
	[VDI_ERR_DATA_OFFSET]		= "bad data offset",
	[VDI_ERR_MAP_OVERLAP]		= "block map overlaps the data area",
	[VDI_ERR_MAP_PAST_EOF]		= "block map runs past the end of the file",
	[VDI_ERR_DISK_SIZE]		= "disk size is zero",
	[VDI_ERR_BLOCK_SIZE]		= "unsupported block size",
	[VDI_ERR_BLOCK_EXTRA]		= "per-block extra data not supported",
	[VDI_ERR_BLOCKS_ZERO]		= "image has no blocks",
	[VDI_ERR_TOO_MANY_BLOCKS]	= "too many blocks",
	[VDI_ERR_MAP_TOO_SMALL]		= "block map too small for the disk size",
	[VDI_ERR_BLOCKS_ALLOCATED]	= "more blocks allocated than the image has",
	[VDI_ERR_UUID_IMAGE]		= "null image UUID",
	[VDI_ERR_UUID_MODIFY]		= "null modification UUID",
	[VDI_ERR_ENTRY_RANGE]		= "block map entry out of range",
	[VDI_ERR_ENTRY_DUPLICATE]	= "block map entry used twice",
	[VDI_ERR_ENTRY_PAST_EOF]	= "block map entry past the end of the file",
	[VDI_ERR_DIFF_NO_LINK]		=
		"differencing image: parent needed, but no link UUID names it",
	[VDI_ERR_LINK_NOT_DIFF]		= "not a differencing image",
	[VDI_ERR_LINK_UUID]		= "parent is not the image the child links to",
	[VDI_ERR_LINK_DISK_SIZE]	= "parent has a different disk size",
	[VDI_ERR_LINK_BLOCK_SIZE]	= "parent has a different block size",
	[VDI_ERR_LINK_MODIFIED]		= "parent changed since the child was made",
	[VDI_ERR_CHAIN_CYCLE]		= "chain of parents loops back to an image in it",
	[VDI_ERR_CHAIN_DEPTH]		= "chain too long",
	[VDI_ERR_PARENT_MISSING]	= "parent image not found",
	[VDI_ERR_ENTRY_BEYOND]		=
		"block map entry past the image's blocks (its data is in the file)",
	[VDI_ERR_CHAIN_MEMORY]		=
		"chain's block maps too large for memory",
};

const char *vdi_strerror(enum vdi_error err)
{
	if ((unsigned int)err >= VDI_ERR_COUNT)
		return "unknown VDI error";
	return vdi_messages[err];
}

/**
 * vdi_error_errno() - errno for refusing an image
 * @err: the reason
 *
 * Valid VDI that this driver does not support is -EOPNOTSUPP (as QEMU
 * answers), a damaged map or a truncated file is -EUCLEAN ("vdisetup check"
 * can tell more), anything else is -EINVAL.
 *
 * Return: 0 for VDI_OK, else a negative errno.
 */
int vdi_error_errno(enum vdi_error err)
{
	switch (err) {
	case VDI_OK:
		return 0;
	case VDI_ERR_VERSION:
	case VDI_ERR_IMAGE_FLAGS:
	case VDI_ERR_DIFFERENCING:
	case VDI_ERR_SECTOR_SIZE:
	case VDI_ERR_BLOCK_SIZE:
	case VDI_ERR_BLOCK_EXTRA:
	case VDI_ERR_TOO_MANY_BLOCKS:
	case VDI_ERR_DIFF_NO_LINK:
	case VDI_ERR_CHAIN_DEPTH:
	case VDI_ERR_CHAIN_MEMORY:
		return -EOPNOTSUPP;
	case VDI_ERR_PARENT_MISSING:
		return -ENOENT;
	case VDI_ERR_MAP_OVERLAP:
	case VDI_ERR_MAP_PAST_EOF:
	case VDI_ERR_BLOCKS_ALLOCATED:
	case VDI_ERR_ENTRY_RANGE:
	case VDI_ERR_ENTRY_DUPLICATE:
	case VDI_ERR_ENTRY_PAST_EOF:
	case VDI_ERR_ENTRY_BEYOND:
		return -EUCLEAN;
	default:
		return -EINVAL;
	}
}

/* File offset just past the block map, sector padding included. */
static u64 vdi_map_end(const struct vdi_header *h)
{
	return h->offset_bmap + vdi_map_bytes(h);
}

/**
 * vdi_explain() - one line naming the reason and the offending value
 * @buf: where the line goes, always NUL-terminated when @len > 0
 * @len: size of @buf
 * @err: the reason
 * @h: the decoded header the reason was found in, or NULL
 * @st: the map statistics for map entry reasons, or NULL
 *
 * Without @h (or @st for an entry reason) only the vdi_strerror() text is
 * given.
 *
 * Return: what snprintf() returns.
 */
int vdi_explain(char *buf, size_t len, enum vdi_error err,
		const struct vdi_header *h, const struct vdi_map_stats *st)
{
	const char *msg = vdi_strerror(err);
	u32 entry;

	if (!h)
		return snprintf(buf, len, "%s", msg);

	switch (err) {
	case VDI_ERR_SIGNATURE:
		return snprintf(buf, len, "%s (bad signature 0x%08x)",
				msg, h->signature);
	case VDI_ERR_VERSION:
		return snprintf(buf, len, "%s (%u.%u, need 1.1)", msg,
				h->version >> 16, h->version & 0xffff);
	case VDI_ERR_HEADER_SIZE:
		return snprintf(buf, len, "%s (0x%x)", msg, h->header_size);
	case VDI_ERR_IMAGE_TYPE:
		return snprintf(buf, len, "%s (%u)", msg, h->image_type);
	case VDI_ERR_IMAGE_FLAGS:
		return snprintf(buf, len, "%s (0x%x)", msg, h->image_flags);
	case VDI_ERR_DIFFERENCING:
		return snprintf(buf, len, "%s (%s)", msg,
				h->image_type == VDI_TYPE_DIFF ?
				"image type 4" : "parent UUID set");
	case VDI_ERR_SECTOR_SIZE:
		return snprintf(buf, len, "%s (%u)", msg,
				h->legacy_sector_size);
	case VDI_ERR_LCHS_SECTOR_SIZE:
		return snprintf(buf, len, "%s (%u)", msg, h->lchs_sector_size);
	case VDI_ERR_BMAP_OFFSET:
		return snprintf(buf, len, "%s (0x%x)", msg, h->offset_bmap);
	case VDI_ERR_DATA_OFFSET:
		return snprintf(buf, len, "%s (0x%x)", msg, h->offset_data);
	case VDI_ERR_MAP_OVERLAP:
		return snprintf(buf, len, "%s (map ends at 0x%llx, data at 0x%x)",
				msg, (unsigned long long)vdi_map_end(h),
				h->offset_data);
	case VDI_ERR_MAP_PAST_EOF:
		return snprintf(buf, len, "%s (map ends at 0x%llx)", msg,
				(unsigned long long)vdi_map_end(h));
	case VDI_ERR_BLOCK_SIZE:
		return snprintf(buf, len, "%s (%u)", msg, h->block_size);
	case VDI_ERR_BLOCK_EXTRA:
		return snprintf(buf, len, "%s (%u bytes)", msg, h->block_extra);
	case VDI_ERR_TOO_MANY_BLOCKS:
		return snprintf(buf, len, "%s (%u, at most %u)", msg,
				h->blocks_in_image, VDI_MAX_BLOCKS);
	case VDI_ERR_MAP_TOO_SMALL:
		return snprintf(buf, len, "%s (%u blocks of %u bytes, disk %llu bytes)",
				msg, h->blocks_in_image, h->block_size,
				(unsigned long long)h->disk_size);
	case VDI_ERR_BLOCKS_ALLOCATED:
		return snprintf(buf, len, "%s (%u of %u)", msg,
				h->blocks_allocated, h->blocks_in_image);
	case VDI_ERR_ENTRY_RANGE:
	case VDI_ERR_ENTRY_DUPLICATE:
	case VDI_ERR_ENTRY_PAST_EOF:
	case VDI_ERR_ENTRY_BEYOND:
		if (!st)
			break;
		entry = st->bad_entry;
		return snprintf(buf, len, "%s (entry %u: data block %u at 0x%llx)",
				msg, st->bad_index, entry,
				(unsigned long long)vdi_block_offset(h, entry));
	case VDI_ERR_LINK_NOT_DIFF:
		return snprintf(buf, len, "%s (image type %u)", msg,
				h->image_type);
	case VDI_ERR_CHAIN_DEPTH:
		return snprintf(buf, len, "%s (more than %u images)", msg,
				VDI_MAX_CHAIN);
	case VDI_ERR_CHAIN_MEMORY:
		return snprintf(buf, len, "%s (more than %llu MiB together)",
				msg, VDI_MAX_CHAIN_MAP_BYTES >> 20);
	default:
		break;
	}
	return snprintf(buf, len, "%s", msg);
}

/**
 * vdi_header_decode() - on-disk header sector to CPU order
 * @h: the result
 * @d: the first 512 bytes of the image
 *
 * The comment is NUL-terminated, as VirtualBox does on reading, so that it
 * can be printed. Nothing is checked here: see vdi_header_check().
 */
void vdi_header_decode(struct vdi_header *h, const struct vdi_disk_header *d)
{
	h->signature = le32_to_cpu(d->signature);
	h->version = le32_to_cpu(d->version);
	h->header_size = le32_to_cpu(d->header_size);
	h->image_type = le32_to_cpu(d->image_type);
	h->image_flags = le32_to_cpu(d->image_flags);
	memcpy(h->comment, d->comment, sizeof(h->comment));
	h->comment[sizeof(h->comment) - 1] = '\0';
	h->offset_bmap = le32_to_cpu(d->offset_bmap);
	h->offset_data = le32_to_cpu(d->offset_data);
	h->legacy_sector_size = le32_to_cpu(d->legacy_sector_size);
	h->disk_size = le64_to_cpu(d->disk_size);
	h->block_size = le32_to_cpu(d->block_size);
	h->block_extra = le32_to_cpu(d->block_extra);
	h->blocks_in_image = le32_to_cpu(d->blocks_in_image);
	h->blocks_allocated = le32_to_cpu(d->blocks_allocated);
	memcpy(h->uuid_image, d->uuid_image, VDI_UUID_SIZE);
	memcpy(h->uuid_modify, d->uuid_modify, VDI_UUID_SIZE);
	memcpy(h->uuid_link, d->uuid_link, VDI_UUID_SIZE);
	memcpy(h->uuid_parent, d->uuid_parent, VDI_UUID_SIZE);
	h->lchs_sector_size = le32_to_cpu(d->lchs_sector_size);
}

/**
 * vdi_header_encode() - CPU-order header into the on-disk sector
 * @d: the sector as read (or zeroed for a new image), updated in place
 * @h: the header
 *
 * Only the fields struct vdi_header carries are written; the banner, the
 * geometry and the padding keep whatever @d held, so a header update never
 * loses what another implementation stored there.
 */
void vdi_header_encode(struct vdi_disk_header *d, const struct vdi_header *h)
{
	d->signature = cpu_to_le32(h->signature);
	d->version = cpu_to_le32(h->version);
	d->header_size = cpu_to_le32(h->header_size);
	d->image_type = cpu_to_le32(h->image_type);
	d->image_flags = cpu_to_le32(h->image_flags);
	memcpy(d->comment, h->comment, sizeof(d->comment));
	d->offset_bmap = cpu_to_le32(h->offset_bmap);
	d->offset_data = cpu_to_le32(h->offset_data);
	d->legacy_sector_size = cpu_to_le32(h->legacy_sector_size);
	d->disk_size = cpu_to_le64(h->disk_size);
	d->block_size = cpu_to_le32(h->block_size);
	d->block_extra = cpu_to_le32(h->block_extra);
	d->blocks_in_image = cpu_to_le32(h->blocks_in_image);
	d->blocks_allocated = cpu_to_le32(h->blocks_allocated);
	memcpy(d->uuid_image, h->uuid_image, VDI_UUID_SIZE);
	memcpy(d->uuid_modify, h->uuid_modify, VDI_UUID_SIZE);
	memcpy(d->uuid_link, h->uuid_link, VDI_UUID_SIZE);
	memcpy(d->uuid_parent, h->uuid_parent, VDI_UUID_SIZE);
	d->lchs_sector_size = cpu_to_le32(h->lchs_sector_size);
}

/*
 * A child names its parent by the link UUID; the parent UUID may be null
 * (VirtualBox's v0 headers have none), which vdi_link_check() then finds
 * not to match. Anything else with a parent's UUID in it is a child too,
 * one QEMU refuses as well.
 */
static enum vdi_error vdi_check_diff(const struct vdi_header *h, bool diff_ok)
{
	if (diff_ok && h->image_type == VDI_TYPE_DIFF)
		return vdi_uuid_is_null(h->uuid_link) ?
		       VDI_ERR_DIFF_NO_LINK : VDI_OK;
	if (h->image_type == VDI_TYPE_DIFF ||
	    !vdi_uuid_is_null(h->uuid_link) ||
	    !vdi_uuid_is_null(h->uuid_parent))
		return VDI_ERR_DIFFERENCING;
	return VDI_OK;
}

/* The header fields alone, in the order a reader meets them. */
static enum vdi_error vdi_check_fields(const struct vdi_header *h,
				       bool diff_ok)
{
	enum vdi_error err;

	if (h->signature != VDI_SIGNATURE)
		return VDI_ERR_SIGNATURE;
	/* VBox takes any 1.x and v0; neither has a layout QEMU agrees on. */
	if (h->version != VDI_VERSION_1_1)
		return VDI_ERR_VERSION;
	/* The header must fit its sector: the map starts at 512 at the earliest. */
	if (h->header_size < VDI_HEADER_SIZE ||
	    h->header_size > VDI_HEADER_SECTOR_SIZE - VDI_PREHEADER_SIZE)
		return VDI_ERR_HEADER_SIZE;
	if (h->image_type < VDI_TYPE_NORMAL || h->image_type > VDI_TYPE_DIFF)
		return VDI_ERR_IMAGE_TYPE;
	err = vdi_check_diff(h, diff_ok);
	if (err)
		return err;
	if (h->image_flags & ~VDI_FLAGS_KNOWN)
		return VDI_ERR_IMAGE_FLAGS;
	if (h->legacy_sector_size != VDI_SECTOR_SIZE)
		return VDI_ERR_SECTOR_SIZE;
	if (h->header_size >= VDI_HEADER_SIZE_PLUS &&
	    h->lchs_sector_size != VDI_SECTOR_SIZE)
		return VDI_ERR_LCHS_SECTOR_SIZE;
	if (!h->disk_size)
		return VDI_ERR_DISK_SIZE;
	if (!is_power_of_2(h->block_size) ||
	    h->block_size < VDI_MIN_BLOCK_SIZE ||
	    h->block_size > VDI_MAX_BLOCK_SIZE)
		return VDI_ERR_BLOCK_SIZE;
	if (h->block_extra)
		return VDI_ERR_BLOCK_EXTRA;
	if (!h->blocks_in_image)
		return VDI_ERR_BLOCKS_ZERO;
	if (h->blocks_in_image > VDI_MAX_BLOCKS)
		return VDI_ERR_TOO_MANY_BLOCKS;
	/* Both factors are 32-bit, so the 64-bit product cannot overflow. */
	if ((u64)h->blocks_in_image * h->block_size < h->disk_size)
		return VDI_ERR_MAP_TOO_SMALL;
	/*
	 * Past blocks_in_image only in a dynamic image (QEMU and VirtualBox
	 * append there), and never into the marker values.
	 */
	if (h->blocks_allocated > h->blocks_in_image &&
	    (h->image_type == VDI_TYPE_FIXED ||
	     h->blocks_allocated > VDI_MAX_DATA_BLOCKS))
		return VDI_ERR_BLOCKS_ALLOCATED;
	if (vdi_uuid_is_null(h->uuid_image))
		return VDI_ERR_UUID_IMAGE;
	if (vdi_uuid_is_null(h->uuid_modify))
		return VDI_ERR_UUID_MODIFY;
	return VDI_OK;
}

/*
 * All arithmetic on offsets is 64-bit: the fields are 32-bit but their sums
 * with the map length are not. The map is measured in whole sectors, which
 * is how it is read, and still must end before the data area.
 */
static enum vdi_error vdi_check(const struct vdi_header *h, u64 file_size,
				bool diff_ok)
{
	enum vdi_error err;

	if (file_size < VDI_HEADER_SECTOR_SIZE)
		return VDI_ERR_SHORT_FILE;
	err = vdi_check_fields(h, diff_ok);
	if (err)
		return err;
	if (h->offset_bmap < VDI_HEADER_SECTOR_SIZE ||
	    h->offset_bmap % VDI_SECTOR_SIZE)
		return VDI_ERR_BMAP_OFFSET;
	if (h->offset_data % VDI_SECTOR_SIZE)
		return VDI_ERR_DATA_OFFSET;
	if (vdi_map_end(h) > h->offset_data)
		return VDI_ERR_MAP_OVERLAP;
	if (vdi_map_end(h) > file_size)
		return VDI_ERR_MAP_PAST_EOF;
	return VDI_OK;
}

/**
 * vdi_header_check() - may this image be opened on its own?
 * @h: the decoded header
 * @file_size: size of the image file in bytes
 *
 * Return: VDI_OK or the first reason found to refuse it.
 */
enum vdi_error vdi_header_check(const struct vdi_header *h, u64 file_size)
{
	return vdi_check(h, file_size, false);
}

/**
 * vdi_chain_header_check() - may this image be opened as part of a chain?
 * @h: the decoded header
 * @file_size: size of the image file in bytes
 *
 * Return: VDI_OK or the first reason found to refuse it.
 */
enum vdi_error vdi_chain_header_check(const struct vdi_header *h,
				      u64 file_size)
{
	return vdi_check(h, file_size, true);
}

bool vdi_uuid_equal(const u8 a[VDI_UUID_SIZE], const u8 b[VDI_UUID_SIZE])
{
	return !memcmp(a, b, VDI_UUID_SIZE);
}

/**
 * vdi_link_check() - may @parent serve as @child's parent?
 * @child: a header vdi_chain_header_check() accepted
 * @parent: another one
 *
 * Identity first, so that a wrong file is called wrong rather than
 * different; the modification UUID last, as the one reason a user may
 * choose to override (the data of the parent is then read as it is now).
 *
 * Return: VDI_OK or the reason.
 */
enum vdi_error vdi_link_check(const struct vdi_header *child,
			      const struct vdi_header *parent)
{
	if (child->image_type != VDI_TYPE_DIFF)
		return VDI_ERR_LINK_NOT_DIFF;
	if (!vdi_uuid_equal(child->uuid_link, parent->uuid_image))
		return VDI_ERR_LINK_UUID;
	if (child->disk_size != parent->disk_size)
		return VDI_ERR_LINK_DISK_SIZE;
	if (child->block_size != parent->block_size)
		return VDI_ERR_LINK_BLOCK_SIZE;
	if (!vdi_uuid_equal(child->uuid_parent, parent->uuid_modify))
		return VDI_ERR_LINK_MODIFIED;
	return VDI_OK;
}

/* Is chain[i] the same image as one above it? */
static bool vdi_chain_repeats(const struct vdi_header *const *chain, u32 i)
{
	u32 j;

	for (j = 0; j < i; j++)
		if (vdi_uuid_equal(chain[j]->uuid_image, chain[i]->uuid_image))
			return true;
	return false;
}

/**
 * vdi_chain_check() - check every link of a chain, the top first
 * @chain: @n headers, each accepted by vdi_chain_header_check()
 * @n: how many
 * @modified_ok: accept parents changed since their child was made
 * @bad: set to the index the reason is about
 *
 * Return: VDI_OK or the first reason from the top.
 */
enum vdi_error vdi_chain_check(const struct vdi_header *const *chain, u32 n,
			       bool modified_ok, u32 *bad)
{
	enum vdi_error err;
	u32 i;

	for (i = 0; i < n; i++) {
		*bad = i;
		if (vdi_chain_repeats(chain, i))
			return VDI_ERR_CHAIN_CYCLE;
		if (i == VDI_MAX_CHAIN)
			return VDI_ERR_CHAIN_DEPTH;
		if (i + 1 == n)
			break;
		err = vdi_link_check(chain[i], chain[i + 1]);
		if (err && !(modified_ok && err == VDI_ERR_LINK_MODIFIED))
			return err;
	}
	if (n && chain[n - 1]->image_type == VDI_TYPE_DIFF)
		return VDI_ERR_PARENT_MISSING;
	*bad = 0;
	return VDI_OK;
}

/**
 * vdi_link_explain() - one line for a reason vdi_link_check() gave
 * @buf: where the line goes, always NUL-terminated when @len > 0
 * @len: size of @buf
 * @err: the reason
 * @child: the child's header
 * @parent: the parent's header
 *
 * The UUIDs are left to the caller, which prints them in the form the
 * user knows (the kernel's %pUl, libuuid in userspace).
 *
 * Return: what snprintf() returns.
 */
int vdi_link_explain(char *buf, size_t len, enum vdi_error err,
		     const struct vdi_header *child,
		     const struct vdi_header *parent)
{
	const char *msg = vdi_strerror(err);

	switch (err) {
	case VDI_ERR_LINK_DISK_SIZE:
		return snprintf(buf, len, "%s (%llu bytes, the child %llu)",
				msg, (unsigned long long)parent->disk_size,
				(unsigned long long)child->disk_size);
	case VDI_ERR_LINK_BLOCK_SIZE:
		return snprintf(buf, len, "%s (%u bytes, the child %u)", msg,
				parent->block_size, child->block_size);
	default:
		return vdi_explain(buf, len, err, child, NULL);
	}
}

u64 vdi_virtual_size(const struct vdi_header *h)
{
	return (h->disk_size + VDI_SECTOR_SIZE - 1) &
	       ~(u64)(VDI_SECTOR_SIZE - 1);
}

u64 vdi_map_bytes(const struct vdi_header *h)
{
	return ((u64)h->blocks_in_image * sizeof(u32) + VDI_SECTOR_SIZE - 1) &
	       ~(u64)(VDI_SECTOR_SIZE - 1);
}

size_t vdi_map_seen_bytes(const struct vdi_header *h, u64 file_size)
{
	u64 blocks = 0;

	if (file_size > h->offset_data)
		blocks = (file_size - h->offset_data) / h->block_size;
	blocks = blocks > VDI_MAX_DATA_BLOCKS ? VDI_MAX_DATA_BLOCKS : blocks;
	if (blocks < h->blocks_in_image)
		blocks = h->blocks_in_image;
	return BITS_TO_LONGS(blocks) * sizeof(unsigned long);
}

/**
 * vdi_entry_check() - check one allocated block map entry
 * @h: a header vdi_header_check() accepted
 * @e: the entry, vdi_entry_allocated()
 * @file_size: size of the image file in bytes
 * @seen: the bitmap of vdi_map_check(); @e is marked in it
 *
 * The rules of vdi_map_check() for a single entry, for "vdisetup check",
 * which reports every bad entry rather than the first.
 *
 * Return: VDI_OK; VDI_ERR_ENTRY_BEYOND for an entry vdi_map_check()
 * accepts past blocks_in_image; or the reason the entry is bad.
 */
enum vdi_error vdi_entry_check(const struct vdi_header *h, u32 e,
			       u64 file_size, unsigned long *seen)
{
	bool past_eof = vdi_block_offset(h, e) + h->block_size > file_size;

	/*
	 * Range first: below blocks_in_image, or inside the file below
	 * VDI_MAX_DATA_BLOCKS, @e has a bit in @seen (vdi_map_seen_bytes()).
	 */
	if (e >= VDI_MAX_DATA_BLOCKS || (e >= h->blocks_in_image && past_eof))
		return VDI_ERR_ENTRY_RANGE;
	if (__test_and_set_bit(e, seen))
		return VDI_ERR_ENTRY_DUPLICATE;
	if (past_eof)
		return VDI_ERR_ENTRY_PAST_EOF;
	return e >= h->blocks_in_image ? VDI_ERR_ENTRY_BEYOND : VDI_OK;
}

/**
 * vdi_map_check() - check a block map against its header and file
 * @h: a header vdi_header_check() accepted
 * @map: blocks_in_image entries in CPU order
 * @file_size: size of the image file in bytes
 * @seen: zeroed scratch bitmap of vdi_map_seen_bytes(@h) bytes
 * @st: the statistics, filled in either way
 *
 * Each data block must lie wholly inside the file, as VirtualBox requires
 * when it reads one, so a driver allocating a block must extend the file to
 * the block's end. st->next_free is where the next allocation may go
 * without reusing a referenced block even if the header's blocks_allocated
 * was not written before a crash.
 *
 * Return: VDI_OK, or the reason with st->bad_index and st->bad_entry naming
 * the first bad entry.
 */
enum vdi_error vdi_map_check(const struct vdi_header *h, const u32 *map,
			     u64 file_size, unsigned long *seen,
			     struct vdi_map_stats *st)
{
	enum vdi_error err;
	u32 i, e;

	memset(st, 0, sizeof(*st));
	st->next_free = h->blocks_allocated;
	for (i = 0; i < h->blocks_in_image; i++) {
		e = map[i];
		if (e == VDI_BLOCK_ZERO) {
			st->zero++;
			continue;
		}
		if (e == VDI_BLOCK_FREE)
			continue;
		st->bad_index = i;
		st->bad_entry = e;
		err = vdi_entry_check(h, e, file_size, seen);
		if (err == VDI_ERR_ENTRY_BEYOND) {
			if (!st->beyond++)
				st->beyond_index = i;
		} else if (err) {
			return err;
		}
		st->allocated++;
		if (e >= st->next_free)
			st->next_free = e + 1;
	}
	st->bad_index = 0;
	st->bad_entry = 0;
	return VDI_OK;
}

void vdi_map_to_cpu(u32 *map, u32 count)
{
	u32 i;

	for (i = 0; i < count; i++)
		le32_to_cpus(&map[i]);
}

void vdi_map_to_disk(u32 *map, u32 count)
{
	u32 i;

	for (i = 0; i < count; i++)
		cpu_to_le32s(&map[i]);
}

/**
 * vdi_uuid_swap() - between GUID byte order (on disk) and RFC 4122 order
 * @out: the converted UUID
 * @in: the UUID to convert; may not alias @out
 *
 * VirtualBox stores the first three fields little-endian; QEMU and
 * VBoxManage print them big-endian. The swap is its own inverse.
 */
void vdi_uuid_swap(u8 out[VDI_UUID_SIZE], const u8 in[VDI_UUID_SIZE])
{
	static const u8 order[VDI_UUID_SIZE] = {
		3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15
	};
	int i;

	for (i = 0; i < VDI_UUID_SIZE; i++)
		out[i] = in[order[i]];
}

bool vdi_uuid_is_null(const u8 uuid[VDI_UUID_SIZE])
{
	int i;

	for (i = 0; i < VDI_UUID_SIZE; i++)
		if (uuid[i])
			return false;
	return true;
}
