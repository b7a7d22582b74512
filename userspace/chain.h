/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdisetup: a differencing image and the parents it is read through.
 *
 * VirtualBox keeps each snapshot as a differencing image (type 4) whose
 * link UUID is its parent's image UUID; the order of the chain lives in
 * its XML media registry. Without that registry the parents are found by
 * UUID among the *.vdi files next to the child and in the directory above
 * it (VirtualBox puts snapshots in a Snapshots/ directory beside the base
 * image), or given in order with --parent. Every link is then checked
 * with vdi_chain_check().
 */
#ifndef VDISETUP_CHAIN_H
#define VDISETUP_CHAIN_H

#include <stdbool.h>

#include "image.h"

struct chain_opts {
	char *parents[VDI_MAX_CHAIN];	/* --parent files, the nearest first */
	u32 nparents;
	u32 writable;			/* images opened O_RDWR, from the top */
	bool changed_parent;		/* accept parents changed since */
};

struct chain {
	u32 n;					/* images open, the top first */
	struct image img[VDI_MAX_CHAIN + 1];
	char *found[VDI_MAX_CHAIN + 1];		/* paths found by scanning */
	u32 *maps[VDI_MAX_CHAIN + 1];		/* chain_load_maps() */
	enum vdi_error err;			/* what is wrong, or VDI_OK */
	u32 bad;				/* with img[bad] or its link */
	char why[512];				/* "CHILD: parent P: reason" */
};

/*
 * Open @top and its parents. 0: the chain is whole. 1: it is not, c->why
 * says why and the images found are open. -1: an image could not be
 * opened or is damaged (printed). chain_close() in every case.
 */
int chain_open(struct chain *c, const char *top, const struct chain_opts *o);
void chain_close(struct chain *c);

/*
 * Every image's block map, checked as attach checks it: 0, or -1 (printed).
 * Entries past blocks_in_image only with @beyond_ok (image_check_map()).
 */
int chain_load_maps(struct chain *c, bool beyond_ok);

/*
 * Virtual block @i as the chain reads it into @buf (block_size bytes): 1
 * data, 0 zeros (a zero entry, or free all the way down), -1 (printed).
 */
int chain_read_block(struct chain *c, u32 i, void *buf);

/*
 * The modification UUID "vdisetup commit" of @child gives its parent
 * first: derived from the parent's present one and the child's identity,
 * so that an interrupted commit can be told from any other change.
 */
void chain_commit_uuid(u8 out[VDI_UUID_SIZE], const struct vdi_header *child);

/* Is the link from img[0] to img[1] one an interrupted commit left? */
bool chain_commit_interrupted(const struct chain *c);

/* One more --parent: 0, or -1 when there are too many (printed). */
int chain_add_parent(struct chain_opts *o, char *path);

bool buf_is_zero(const void *buf, size_t len);

#endif /* VDISETUP_CHAIN_H */
