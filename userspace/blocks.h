/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdisetup: the data blocks of an image and the map entries that use them,
 * for the commands that move blocks inside the file: check --repair,
 * compact and resize.
 *
 * Every change reaches the disk in an order that keeps the image valid and
 * reading the same after each step: a block is copied to a place no entry
 * uses and synced, only then its entry is pointed there and synced, and
 * the place it left is reused or cut off only after that. A crash leaves at
 * worst data blocks no entry uses, a leak "vdisetup check" reports.
 */
#ifndef VDISETUP_BLOCKS_H
#define VDISETUP_BLOCKS_H

#include <stdbool.h>

#include "image.h"

struct blocks {
	struct image *img;
	u32 *map;		/* CPU order; as on disk, once synced */
	u32 *owner;		/* data block -> its entry, or VDI_BLOCK_FREE */
	u32 count;		/* entries of map and owner */
	u32 top;		/* highest data block in use + 1 */
	u32 used;		/* data blocks in use */
	void *buf;		/* one data block */
	bool progress;		/* show the progress of long steps */
};

/*
 * Take @map (blocks_in_image entries, freed by blocks_release()), whose
 * allocated entries are distinct and below blocks_in_image, as
 * vdi_map_check() or check --repair leave them.
 */
int blocks_init(struct blocks *b, struct image *img, u32 *map);
void blocks_release(struct blocks *b);

/*
 * Open @path for a change in place by the command @what ("compact"): a
 * dynamic image whose header and map the driver would accept, not
 * attached, locked (image_claim()). Prints "FILE: cannot WHAT: why".
 */
int blocks_open(struct blocks *b, struct image *img, const char *path,
		const char *what);

/* More entries, all VDI_BLOCK_FREE, in memory only. */
int blocks_extend(struct blocks *b, u32 count);

/* The first data block from @from on that no entry uses. */
u32 blocks_next_free(const struct blocks *b, u32 from);

/* Data blocks in use from @first up to @end. */
u32 blocks_in_use(const struct blocks *b, u32 first, u32 end);

/* Data block @block into b->buf. */
int blocks_read(struct blocks *b, u32 block);

/* Entry @index := @entry, in memory and on disk, not synced. */
int blocks_point(struct blocks *b, u32 index, u32 entry);

/* Data block @from to the unused @to, and its entry after it, synced. */
int blocks_move(struct blocks *b, u32 from, u32 to);

/*
 * Entry @index's data block @from copied to the unused @to, and the entry
 * pointed there after it, each synced. @from may be at or past b->count,
 * where other tools leave blocks past blocks_in_image.
 */
int blocks_adopt(struct blocks *b, u32 index, u32 from, u32 to);

/*
 * Move the last block in use into the first unused one until the blocks
 * in use are data blocks 0 to b->used - 1.
 */
int blocks_pack(struct blocks *b);

/*
 * Renumber for a data area that starts @k blocks later: block @k becomes
 * 0, and so on. Blocks below @k must be unused. In memory only.
 */
void blocks_shift(struct blocks *b, u32 k);

/*
 * The header, with blocks_allocated after the last block in use, then the
 * file cut (or extended) to end with that block, each synced.
 */
int blocks_finish(struct blocks *b);

#endif /* VDISETUP_BLOCKS_H */
