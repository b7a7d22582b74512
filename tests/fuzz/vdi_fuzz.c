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
 *
 * The same input is also read as a differencing chain: each of its first
 * FUZZ_POOL sectors is a header (with its own file size, as above), each
 * next one offered to the one before as its parent; and a chain of up to
 * VDI_MAX_CHAIN + 2 images is picked from them as the first sector's
 * padding says (see fuzz_chain()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vdi_format.h"

/*
 * What the driver relies on once a header is accepted, worked out here
 * again the plain way (a wrapped 32-bit sum in the library shows up).
 */
static void verify_header(const struct vdi_header *h, u64 file_size)
{
	u64 map_end = h->offset_bmap + (u64)h->blocks_in_image * 4;

	/* blocks_allocated past the map: only dynamic, up to the cap. */
	if (map_end > h->offset_data || map_end > file_size ||
	    h->blocks_in_image > VDI_MAX_BLOCKS ||
	    h->blocks_allocated > VDI_MAX_DATA_BLOCKS ||
	    (h->image_type == VDI_TYPE_FIXED &&
	     h->blocks_allocated > h->blocks_in_image) ||
	    vdi_virtual_size(h) < h->disk_size ||
	    vdi_virtual_size(h) > (u64)h->blocks_in_image * h->block_size)
		abort();
}

/* The same for an accepted map and its statistics. */
static void verify_map(const struct vdi_header *h, const u32 *map,
		       u64 file_size, const struct vdi_map_stats *st)
{
	u32 i, allocated = 0, zero = 0, beyond = 0;

	for (i = 0; i < h->blocks_in_image; i++) {
		if (map[i] == VDI_BLOCK_ZERO)
			zero++;
		if (!vdi_entry_allocated(map[i]))
			continue;
		allocated++;
		beyond += map[i] >= h->blocks_in_image;
		if (map[i] >= st->next_free || map[i] >= VDI_MAX_DATA_BLOCKS ||
		    vdi_block_offset(h, map[i]) + h->block_size > file_size)
			abort();
	}
	if (allocated != st->allocated || zero != st->zero ||
	    beyond != st->beyond || st->next_free < h->blocks_allocated ||
	    st->next_free > VDI_MAX_DATA_BLOCKS)
		abort();
}

#define FUZZ_POOL	4U

/* Headers read from the input for the chain checks. */
struct fuzz_pool {
	struct vdi_header h[FUZZ_POOL];
	u64 file_size[FUZZ_POOL];
	bool ok[FUZZ_POOL];	/* vdi_chain_header_check() accepted it */
	u32 n;
};

/* The two header checks agree: a chain only lets children through. */
static void verify_chain_header(const struct vdi_header *h, u64 file_size)
{
	enum vdi_error alone = vdi_header_check(h, file_size);
	enum vdi_error chain = vdi_chain_header_check(h, file_size);

	if ((!alone && chain) ||
	    (alone != chain && alone != VDI_ERR_DIFFERENCING) ||
	    (chain == VDI_ERR_DIFF_NO_LINK && h->image_type != VDI_TYPE_DIFF))
		abort();
}

/* vdi_link_check()'s answer, held against each of its rules. */
static void verify_link(const struct vdi_header *child,
			const struct vdi_header *parent, enum vdi_error err)
{
	bool diff = child->image_type == VDI_TYPE_DIFF;
	bool same = !memcmp(child->uuid_link, parent->uuid_image,
			    VDI_UUID_SIZE);
	bool size = child->disk_size == parent->disk_size;
	bool block = child->block_size == parent->block_size;
	bool fresh = !memcmp(child->uuid_parent, parent->uuid_modify,
			     VDI_UUID_SIZE);

	switch (err) {
	case VDI_OK:
		if (!diff || !same || !size || !block || !fresh)
			abort();
		break;
	case VDI_ERR_LINK_NOT_DIFF:
		if (diff)
			abort();
		break;
	case VDI_ERR_LINK_UUID:
		if (!diff || same)
			abort();
		break;
	case VDI_ERR_LINK_DISK_SIZE:
		if (!diff || !same || size)
			abort();
		break;
	case VDI_ERR_LINK_BLOCK_SIZE:
		if (!diff || !same || !size || block)
			abort();
		break;
	case VDI_ERR_LINK_MODIFIED:
		if (!diff || !same || !size || !block || fresh)
			abort();
		break;
	default:
		abort();
	}
}

/* Is chain[i] a repeat of one above it? */
static bool fuzz_repeat(const struct vdi_header *const *chain, u32 i)
{
	u32 j;

	for (j = 0; j < i; j++)
		if (!memcmp(chain[j]->uuid_image, chain[i]->uuid_image,
			    VDI_UUID_SIZE))
			return true;
	return false;
}

/*
 * vdi_chain_check()'s answer: every image above the one it names passed,
 * and that one fails for the reason given.
 */
static void verify_chain(const struct vdi_header *const *chain, u32 n,
			 bool modified_ok, enum vdi_error err, u32 bad)
{
	enum vdi_error link;
	u32 i, stop = err ? bad : n;

	if (stop >= n && (err || n > VDI_MAX_CHAIN))
		abort();
	for (i = 0; i < stop; i++) {
		if (fuzz_repeat(chain, i) || i >= VDI_MAX_CHAIN)
			abort();
		if (i + 1 == n)
			break;
		link = vdi_link_check(chain[i], chain[i + 1]);
		if (link && !(modified_ok && link == VDI_ERR_LINK_MODIFIED))
			abort();
	}
	switch (err) {
	case VDI_OK:
		if (bad || (n && chain[n - 1]->image_type == VDI_TYPE_DIFF))
			abort();
		break;
	case VDI_ERR_CHAIN_CYCLE:
		if (!fuzz_repeat(chain, bad))
			abort();
		break;
	case VDI_ERR_CHAIN_DEPTH:
		if (bad != VDI_MAX_CHAIN || fuzz_repeat(chain, bad))
			abort();
		break;
	case VDI_ERR_PARENT_MISSING:
		if (bad != n - 1 || chain[bad]->image_type != VDI_TYPE_DIFF ||
		    fuzz_repeat(chain, bad))
			abort();
		break;
	default:
		if (bad + 1 >= n || fuzz_repeat(chain, bad) ||
		    vdi_link_check(chain[bad], chain[bad + 1]) != err ||
		    (modified_ok && err == VDI_ERR_LINK_MODIFIED))
			abort();
	}
}

static void fuzz_pool_read(struct fuzz_pool *p, const uint8_t *data,
			   size_t size)
{
	struct vdi_disk_header d;
	size_t off, len;
	u32 i;

	p->n = 0;
	for (i = 0; i < FUZZ_POOL; i++) {
		off = (size_t)i * sizeof(d);
		if (off >= size)
			break;
		len = size - off < sizeof(d) ? size - off : sizeof(d);
		memset(&d, 0, sizeof(d));
		memcpy(&d, data + off, len);
		vdi_header_decode(&p->h[i], &d);
		p->file_size[i] = (u64)size << (d.pad[sizeof(d.pad) - 1] & 31);
		verify_chain_header(&p->h[i], p->file_size[i]);
		p->ok[i] = !vdi_chain_header_check(&p->h[i], p->file_size[i]);
		p->n++;
	}
}

/*
 * Any reason, and one past the last: a line for each way of explaining
 * it, and an errno that is negative exactly for a refusal.
 */
static void fuzz_reason(u8 any_err, const struct vdi_header *child,
			const struct vdi_header *parent)
{
	enum vdi_error err = any_err % (VDI_ERR_COUNT + 1);
	int e = vdi_error_errno(err);
	char line[256];

	vdi_link_explain(line, sizeof(line), err, child, parent);
	vdi_explain(line, sizeof(line), err, NULL, NULL);
	if (err ? e >= 0 : e != 0)
		abort();
}

/* Each header offered to the one before it as its parent. */
static void fuzz_links(const struct fuzz_pool *p, u8 any_err)
{
	enum vdi_error err;
	char line[256];
	u32 i;

	for (i = 0; i + 1 < p->n; i++) {
		if (!p->ok[i] || !p->ok[i + 1])
			continue;
		err = vdi_link_check(&p->h[i], &p->h[i + 1]);
		verify_link(&p->h[i], &p->h[i + 1], err);
		vdi_link_explain(line, sizeof(line), err, &p->h[i],
				 &p->h[i + 1]);
		fuzz_reason(any_err, &p->h[i], &p->h[i + 1]);
	}
}

/*
 * A chain picked from the pool by the first sector's padding: pad[0] gives
 * the length (up to VDI_MAX_CHAIN + 2) and whether parents may have
 * changed, pad[2..] two bits per image, the pool header it is. Image i is
 * renamed: byte 15 of its image and link UUIDs XORed with i and i + 1, so
 * that one header linking to itself makes a chain of any depth, and a
 * repeat is still a cycle when its place allows.
 */
static void fuzz_chain(const struct fuzz_pool *p, const u8 *pad)
{
	struct vdi_header img[VDI_MAX_CHAIN + 2];
	const struct vdi_header *chain[VDI_MAX_CHAIN + 2];
	u32 n = (pad[0] & 0x3f) % (VDI_MAX_CHAIN + 3), i, k, bad = 0;
	bool modified_ok = pad[0] & 0x40, rename = pad[0] & 0x80;
	enum vdi_error err;

	if (!p->n)
		return;
	for (i = 0; i < n; i++) {
		k = (pad[2 + i / 4] >> (i % 4 * 2) & 3) % p->n;
		if (!p->ok[k])
			return;
		img[i] = p->h[k];
		if (rename) {
			img[i].uuid_image[15] ^= (u8)i;
			img[i].uuid_link[15] ^= (u8)(i + 1);
			if (vdi_chain_header_check(&img[i], p->file_size[k]))
				return;
		}
		chain[i] = &img[i];
	}
	err = vdi_chain_check(chain, n, modified_ok, &bad);
	verify_chain(chain, n, modified_ok, err, bad);
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
	struct fuzz_pool pool;
	u8 uuid[2][VDI_UUID_SIZE];
	u32 *map;

	memcpy(&d, data, size < sizeof(d) ? size : sizeof(d));
	file_size = (u64)size << (d.pad[sizeof(d.pad) - 1] & 31);
	vdi_header_decode(&h, &d);

	fuzz_pool_read(&pool, data, size);
	fuzz_links(&pool, d.pad[1]);
	fuzz_chain(&pool, d.pad);

	/* Encoding what was decoded gives the sector back, bar the NUL. */
	again = d;
	vdi_header_encode(&again, &h);
	d.comment[sizeof(d.comment) - 1] = '\0';
	if (memcmp(&again, &d, sizeof(d)) != 0)
		abort();

	err = vdi_header_check(&h, file_size);
	vdi_explain(line, sizeof(line), err, &h, NULL);
	if (err)
		return 0;
	verify_header(&h, file_size);
	if (h.offset_bmap + (u64)h.blocks_in_image * 4 > size)
		return 0;

	map = malloc(h.blocks_in_image * sizeof(u32));
	seen = calloc(1, vdi_map_seen_bytes(&h, file_size));
	if (!map || !seen)
		abort();
	memcpy(map, data + h.offset_bmap, h.blocks_in_image * sizeof(u32));
	vdi_map_to_cpu(map, h.blocks_in_image);
	err = vdi_map_check(&h, map, file_size, seen, &st);
	vdi_explain(line, sizeof(line), err, &h, &st);
	if (!err)
		verify_map(&h, map, file_size, &st);

	/* Back to disk order gives the map as read; a UUID swapped twice too. */
	vdi_map_to_disk(map, h.blocks_in_image);
	vdi_uuid_swap(uuid[0], h.uuid_image);
	vdi_uuid_swap(uuid[1], uuid[0]);
	if (memcmp(map, data + h.offset_bmap,
		   h.blocks_in_image * sizeof(u32)) != 0 ||
	    !vdi_uuid_equal(uuid[1], h.uuid_image))
		abort();
	free(seen);
	free(map);
	return 0;
}
