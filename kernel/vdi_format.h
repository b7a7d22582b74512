/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VDI (VirtualBox Disk Image) on-disk format: header, block map, validation.
 *
 * Plain C shared by the kernel module, vdisetup, the tests and the fuzzer, so
 * that every one of them runs the very same checks. The environment (integer
 * types, byte order, memcpy, snprintf) comes from <vdi_sys.h>, of which the
 * kernel and userspace each have their own tiny version.
 */
#ifndef VDI_FORMAT_H
#define VDI_FORMAT_H

#include <vdi_sys.h>

#define VDI_SIGNATURE		0xBEDA107FU
#define VDI_VERSION_1_1		0x00010001U
#define VDI_PREHEADER_SIZE	0x48U		/* banner + signature + version */
#define VDI_HEADER_SIZE		0x180U		/* v1.1 as QEMU writes it */
#define VDI_HEADER_SIZE_PLUS	0x190U		/* v1.1 "plus" with LCHS */
#define VDI_HEADER_SECTOR_SIZE	512U		/* pre-header + header + pad */
#define VDI_SECTOR_SIZE		512U

#define VDI_TYPE_NORMAL		1U		/* dynamic */
#define VDI_TYPE_FIXED		2U		/* static, identity map */
#define VDI_TYPE_UNDO		3U		/* legacy, read as normal */
#define VDI_TYPE_DIFF		4U		/* differencing child */

#define VDI_FLAGS_ZERO_EXPAND	0x1U		/* VBox: zero new blocks; unused */
#define VDI_FLAGS_KNOWN		VDI_FLAGS_ZERO_EXPAND

#define VDI_BLOCK_FREE		0xFFFFFFFFU	/* not present: zeros or parent */
#define VDI_BLOCK_ZERO		0xFFFFFFFEU	/* discarded: zeros, parent hidden */

#define VDI_DEFAULT_BLOCK_SIZE	0x00100000U	/* 1 MiB */
#define VDI_MIN_BLOCK_SIZE	0x00001000U	/* 4 KiB */
#define VDI_MAX_BLOCK_SIZE	0x04000000U	/* 64 MiB */

/*
 * The kernel keeps the whole block map in memory, 4 bytes per entry, plus a
 * bit per entry while checking it at attach. 2^26 entries cost 256 MiB and
 * give 64 TiB at the default 1 MiB block size.
 */
#define VDI_MAX_BLOCKS		0x04000000U	/* 2^26 */
/*
 * Data blocks an image may have in its file: entries and blocks_allocated
 * may go past blocks_in_image (images other tools compacted, VirtualBox
 * appending after them), and QEMU and VirtualBox read those, but no
 * further than this, which bounds the bitmap of vdi_map_seen_bytes().
 */
#define VDI_MAX_DATA_BLOCKS	0x08000000U	/* 2^27 */

#define VDI_UUID_SIZE		16

/*
 * Images in a differencing chain, the top included: VirtualBox takes a
 * snapshot per level, and each level costs the driver its block map.
 */
#define VDI_MAX_CHAIN		32U
/* The block maps of a whole chain, together: as much as one image's. */
#define VDI_MAX_CHAIN_MAP_BYTES	((unsigned long long)VDI_MAX_BLOCKS * 4)

/* First 512 bytes of every v1.1 image, as stored (little-endian). */
struct vdi_disk_header {
	char	banner[64];
	__le32	signature;
	__le32	version;
	__le32	header_size;
	__le32	image_type;
	__le32	image_flags;
	char	comment[256];
	__le32	offset_bmap;
	__le32	offset_data;
	__le32	legacy_cylinders;
	__le32	legacy_heads;
	__le32	legacy_sectors;
	__le32	legacy_sector_size;
	__le32	unused1;
	__le64	disk_size;
	__le32	block_size;
	__le32	block_extra;
	__le32	blocks_in_image;
	__le32	blocks_allocated;
	u8	uuid_image[VDI_UUID_SIZE];
	u8	uuid_modify[VDI_UUID_SIZE];
	u8	uuid_link[VDI_UUID_SIZE];
	u8	uuid_parent[VDI_UUID_SIZE];
	__le32	lchs_cylinders;		/* only with header_size >= 0x190 */
	__le32	lchs_heads;
	__le32	lchs_sectors;
	__le32	lchs_sector_size;
	u8	pad[40];
} __packed;

/* The same header in CPU byte order. */
struct vdi_header {
	u32	signature;
	u32	version;
	u32	header_size;
	u32	image_type;
	u32	image_flags;
	char	comment[256];
	u32	offset_bmap;
	u32	offset_data;
	u32	legacy_sector_size;
	u64	disk_size;		/* as stored */
	u32	block_size;
	u32	block_extra;
	u32	blocks_in_image;
	u32	blocks_allocated;
	u8	uuid_image[VDI_UUID_SIZE];
	u8	uuid_modify[VDI_UUID_SIZE];
	u8	uuid_link[VDI_UUID_SIZE];
	u8	uuid_parent[VDI_UUID_SIZE];
	u32	lchs_sector_size;
};

/* Why an image was refused; vdi_strerror() gives the text. */
enum vdi_error {
	VDI_OK = 0,
	VDI_ERR_SHORT_FILE,		/* shorter than the header sector */
	VDI_ERR_SIGNATURE,
	VDI_ERR_VERSION,
	VDI_ERR_HEADER_SIZE,
	VDI_ERR_IMAGE_TYPE,
	VDI_ERR_IMAGE_FLAGS,
	VDI_ERR_DIFFERENCING,		/* parent UUID set: parent needed */
	VDI_ERR_SECTOR_SIZE,
	VDI_ERR_LCHS_SECTOR_SIZE,
	VDI_ERR_BMAP_OFFSET,		/* below the header or unaligned */
	VDI_ERR_DATA_OFFSET,		/* unaligned */
	VDI_ERR_MAP_OVERLAP,		/* map runs into the data area */
	VDI_ERR_MAP_PAST_EOF,
	VDI_ERR_DISK_SIZE,		/* zero */
	VDI_ERR_BLOCK_SIZE,		/* not a power of two in range */
	VDI_ERR_BLOCK_EXTRA,
	VDI_ERR_BLOCKS_ZERO,
	VDI_ERR_TOO_MANY_BLOCKS,	/* over VDI_MAX_BLOCKS */
	VDI_ERR_MAP_TOO_SMALL,		/* blocks x block_size < disk_size */
	VDI_ERR_BLOCKS_ALLOCATED,	/* > blocks_in_image */
	VDI_ERR_UUID_IMAGE,		/* null */
	VDI_ERR_UUID_MODIFY,		/* null */
	VDI_ERR_ENTRY_RANGE,		/* entry >= blocks_in_image */
	VDI_ERR_ENTRY_DUPLICATE,
	VDI_ERR_ENTRY_PAST_EOF,
	/* Differencing chains: appended, so that older numbers stay. */
	VDI_ERR_DIFF_NO_LINK,		/* type 4 with a null link UUID */
	VDI_ERR_LINK_NOT_DIFF,		/* a parent given to a base image */
	VDI_ERR_LINK_UUID,		/* parent's image UUID is not the link */
	VDI_ERR_LINK_DISK_SIZE,
	VDI_ERR_LINK_BLOCK_SIZE,
	VDI_ERR_LINK_MODIFIED,		/* parent written since the link */
	VDI_ERR_CHAIN_CYCLE,		/* an image twice in one chain */
	VDI_ERR_CHAIN_DEPTH,		/* over VDI_MAX_CHAIN images */
	VDI_ERR_PARENT_MISSING,		/* the bottom image is a child */
	VDI_ERR_ENTRY_BEYOND,		/* entry >= blocks_in_image, in the file */
	VDI_ERR_CHAIN_MEMORY,		/* maps over VDI_MAX_CHAIN_MAP_BYTES */
	VDI_ERR_COUNT
};

/* What vdi_map_check() learnt about a valid map. */
struct vdi_map_stats {
	u32	allocated;		/* entries pointing at data */
	u32	zero;			/* VDI_BLOCK_ZERO entries */
	u32	next_free;		/* max(blocks_allocated, top entry + 1) */
	u32	bad_index;		/* map index of the first bad entry */
	u32	bad_entry;		/* and its value */
	u32	beyond;			/* entries past blocks_in_image */
	u32	beyond_index;		/* the first of them */
};

const char *vdi_strerror(enum vdi_error err);

/* Kernel-style negative errno for a refusal (-EINVAL, -EOPNOTSUPP, ...). */
int vdi_error_errno(enum vdi_error err);

/*
 * One line naming the reason and the offending value, e.g.
 * "not a VDI image (bad signature 0x12345678)". Returns snprintf's count.
 */
int vdi_explain(char *buf, size_t len, enum vdi_error err,
		const struct vdi_header *h, const struct vdi_map_stats *st);

void vdi_header_decode(struct vdi_header *h, const struct vdi_disk_header *d);

/*
 * Write @h into @d, which holds the sector as read, so that fields this code
 * does not own (LCHS geometry, padding, banner) are preserved.
 */
void vdi_header_encode(struct vdi_disk_header *d, const struct vdi_header *h);

/* Header rules of QEMU and VirtualBox, plus the map's place in the file. */
enum vdi_error vdi_header_check(const struct vdi_header *h, u64 file_size);

/*
 * vdi_header_check() for an image that is read as part of a chain: a
 * differencing image (type 4) is accepted when its link UUID names a
 * parent, which vdi_link_check() then holds it against. The driver, which
 * cannot read chains yet, uses vdi_header_check() and refuses them all.
 */
enum vdi_error vdi_chain_header_check(const struct vdi_header *h,
				      u64 file_size);

/*
 * May @parent serve as @child's parent? Both headers passed
 * vdi_chain_header_check(). The child must be differencing, link to the
 * parent's image UUID, have its disk and block size, and remember its
 * modification UUID (VDI_ERR_LINK_MODIFIED, checked last, says the parent
 * was written since: the child's blocks may no longer fit it).
 */
enum vdi_error vdi_link_check(const struct vdi_header *child,
			      const struct vdi_header *parent);

/*
 * A whole chain, @chain[0] the top and each next one its parent: every
 * link (a changed parent too, unless @modified_ok), no image twice, at
 * most VDI_MAX_CHAIN images, and a base image at the bottom. On failure
 * *@bad is the index of the image whose parent is wrong or missing, or of
 * the image that is too many or repeated.
 */
enum vdi_error vdi_chain_check(const struct vdi_header *const *chain, u32 n,
			       bool modified_ok, u32 *bad);

/*
 * vdi_explain() for a link reason, with the value of each side, e.g.
 * "parent has a different disk size (33554432 bytes, the child 67108864)".
 */
int vdi_link_explain(char *buf, size_t len, enum vdi_error err,
		     const struct vdi_header *child,
		     const struct vdi_header *parent);

bool vdi_uuid_equal(const u8 a[VDI_UUID_SIZE], const u8 b[VDI_UUID_SIZE]);

/*
 * Virtual size in bytes: disk_size rounded up to 512, as QEMU does. Only
 * for a header vdi_header_check() accepted: a near-2^64 disk_size wraps.
 */
u64 vdi_virtual_size(const struct vdi_header *h);

/* Bytes of the map on disk, rounded up to whole sectors. */
u64 vdi_map_bytes(const struct vdi_header *h);

/* File offset of data block @entry (an allocated map entry). */
static inline u64 vdi_block_offset(const struct vdi_header *h, u32 entry)
{
	return (u64)h->offset_data + (u64)entry * h->block_size;
}

static inline bool vdi_entry_allocated(u32 entry)
{
	return entry < VDI_BLOCK_ZERO;
}

/*
 * Check a map already converted to CPU order (vdi_map_to_cpu): every
 * allocated entry used once and its whole block inside the file. An entry
 * at or past blocks_in_image is accepted there, as QEMU and VirtualBox
 * read it, and counted in st->beyond ("vdisetup check" reports it as
 * VDI_ERR_ENTRY_BEYOND, and its repair moves the block below). @seen is
 * scratch memory of vdi_map_seen_bytes(h, file_size), zeroed by the
 * caller. Fills @st (on failure st->bad_index and st->bad_entry name the
 * entry).
 */
enum vdi_error vdi_map_check(const struct vdi_header *h, const u32 *map,
			     u64 file_size, unsigned long *seen,
			     struct vdi_map_stats *st);

/*
 * The same rules for one allocated entry @e, marking it in @seen: for
 * callers that go on past a bad entry, as "vdisetup check" does. An entry
 * that vdi_map_check() accepts past blocks_in_image is
 * VDI_ERR_ENTRY_BEYOND here (and marked).
 */
enum vdi_error vdi_entry_check(const struct vdi_header *h, u32 e,
			       u64 file_size, unsigned long *seen);

/*
 * Bytes of the bitmap of data blocks vdi_map_check() needs: one bit for
 * each of blocks_in_image, or for each block the file holds, whichever is
 * more, up to VDI_MAX_DATA_BLOCKS.
 */
size_t vdi_map_seen_bytes(const struct vdi_header *h, u64 file_size);

/* In place, little-endian on disk to CPU order and back. */
void vdi_map_to_cpu(u32 *map, u32 count);
void vdi_map_to_disk(u32 *map, u32 count);

/* UUID in the on-disk GUID byte order to and from RFC 4122 order. */
void vdi_uuid_swap(u8 out[VDI_UUID_SIZE], const u8 in[VDI_UUID_SIZE]);
bool vdi_uuid_is_null(const u8 uuid[VDI_UUID_SIZE]);

#endif /* VDI_FORMAT_H */
