// SPDX-License-Identifier: GPL-2.0
/*
 * vdisetup commit: merge a differencing image into its parent, offline,
 * as "qemu-img commit" does: afterwards the parent holds the content the
 * child showed, and the child is emptied and stays valid on top of it
 * (it reads as the parent until written again). Deleting a snapshot in
 * VirtualBox merges the same way and then removes the child's file; here
 * that is left to the user, who may keep the child as a new snapshot.
 *
 * Crash safety. The chain reads the same at every step, because the
 * child keeps all its blocks until the parent has them all:
 *  1. the parent gets a new modification UUID first, as the driver gives
 *     one on the first write: other children of the parent are then
 *     refused, their parent no longer being what they were made on. The
 *     UUID is derived from the old one and the child's (chain.h), so that
 *     a second run knows the interrupted commit and finishes it;
 *  2. the child's data is written into the parent: in place over the
 *     parent's own blocks, new ones into data blocks no entry uses; synced;
 *  3. the parent's header counts the new blocks, synced, and only then its
 *     map points at them, synced (the driver's order for a new block);
 *  4. data blocks the child's zero blocks freed are packed away (blocks.h);
 *  5. the child's map is emptied, synced, then its header links to the
 *     parent's new modification UUID, and its file is cut.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>

#include "blocks.h"
#include "chain.h"
#include "image.h"
#include "util.h"
#include "vdisetup.h"

/* A block of the parent the child's block @index goes to. */
struct target {
	u32 index;
	u32 entry;		/* data block, or VDI_BLOCK_ZERO */
};

struct commit {
	struct chain c;
	struct image *child;
	struct image *parent;
	u32 *cmap;		/* the child's map */
	struct blocks pb;	/* the parent's map and blocks */
	struct target *new;	/* entries of the parent to point anew */
	u32 nnew;
	bool progress;
};

static void commit_usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" vdisetup commit [options] FILE\n"
		"\nMerge the differencing image FILE into its parent, offline: the\n"
		"parent then holds the content FILE showed, and FILE is emptied and\n"
		"stays a valid child of it (delete it if it is no longer wanted).\n"
		"The parent gets a new modification UUID, so other children made on\n"
		"it are refused from then on. Every link of the chain must be\n"
		"sound. Interrupted, the chain reads the same, and running commit\n"
		"again finishes the job. Never on an attached image.\n"
		"\nOptions:\n"
		"     --parent PARENT  the parent of FILE (again for its parent...)\n"
		" -p, --progress       show progress\n"
		" -h, --help           display this help\n");
}

/*
 * Both images for a change: not attached, locked, with maps the driver
 * would take. A static parent keeps its blocks where they are.
 */
static int take(struct commit *m)
{
	size_t len = (size_t)m->parent->h.blocks_in_image * sizeof(u32);
	u32 *pmap;

	if (image_claim(m->child, "commit") < 0 ||
	    image_claim(m->parent, "commit into it") < 0 ||
	    chain_load_maps(&m->c, false) < 0)
		return -1;
	m->cmap = m->c.maps[0];
	/* blocks_init() takes the map: the chain keeps its own copy. */
	pmap = malloc(len);
	m->new = malloc((size_t)m->child->h.blocks_in_image * sizeof(*m->new));
	if (!pmap || !m->new) {
		free(pmap);
		errmsg_sys(m->parent->path, "cannot allocate memory");
		return -1;
	}
	memcpy(pmap, m->c.maps[1], len);
	return blocks_init(&m->pb, m->parent, pmap);
}

/* A data block of the child, or zeros for a zero block, into @buf. */
static int read_child(struct commit *m, u32 e, void *buf)
{
	const struct vdi_header *h = &m->child->h;
	ssize_t n;

	if (e == VDI_BLOCK_ZERO) {
		memset(buf, 0, h->block_size);
		return 0;
	}
	n = pread_full(m->child->fd, buf, h->block_size,
		       vdi_block_offset(h, e));
	if (n >= 0 && n < h->block_size)
		errno = EIO;	/* the file shrank since the map check */
	if (n < h->block_size) {
		errmsg_sys(m->child->path, "cannot read a data block");
		return -1;
	}
	return 0;
}

/* The child's entries the parent's map has too: those of the disk. */
static u32 blocks_to_merge(const struct commit *m)
{
	u32 n = m->child->h.blocks_in_image;

	return n < m->parent->h.blocks_in_image ? n :
	       m->parent->h.blocks_in_image;
}

/*
 * Step 2: each of the child's blocks into the parent. A zero block of
 * the child becomes a zero entry, or zeros in place in a static parent.
 */
static int merge_data(struct commit *m)
{
	const struct vdi_header *ph = &m->parent->h;
	bool fixed = ph->image_type == VDI_TYPE_FIXED;
	u32 i, e, n = blocks_to_merge(m), to, from = 0;
	void *buf = m->pb.buf;
	struct progress p;
	int ret = 0;

	progress_begin(&p, m->progress, "merging blocks", n);
	for (i = 0; i < n && !ret; i++) {
		progress_add(&p, 1);
		e = m->cmap[i];
		if (e == VDI_BLOCK_FREE)
			continue;
		if (e == VDI_BLOCK_ZERO && !fixed) {
			m->new[m->nnew++] = (struct target){ i, VDI_BLOCK_ZERO };
			continue;
		}
		ret = read_child(m, e, buf);
		if (ret)
			break;
		to = m->pb.map[i];
		if (!vdi_entry_allocated(to)) {
			/* Held for entry i until blocks_point() makes it so. */
			to = blocks_next_free(&m->pb, from);
			from = to + 1;
			m->pb.owner[to] = i;
			m->new[m->nnew++] = (struct target){ i, to };
		}
		ret = pwrite_full(m->parent->fd, buf, ph->block_size,
				  vdi_block_offset(ph, to));
		if (ret)
			errmsg_sys(m->parent->path, "cannot write a data block");
	}
	progress_end(&p);
	if (ret)
		return -1;
	return image_sync(m->parent, "cannot sync the merged blocks");
}

/* Step 3: blocks_allocated covers the new blocks before any entry does. */
static int point_parent(struct commit *m)
{
	struct vdi_header *ph = &m->parent->h;
	u32 i;
	int ret = 0;

	for (i = 0; i < m->nnew; i++)
		if (vdi_entry_allocated(m->new[i].entry) &&
		    m->new[i].entry >= ph->blocks_allocated)
			ph->blocks_allocated = m->new[i].entry + 1;
	if (image_commit_header(m->parent) < 0)
		return -1;
	for (i = 0; i < m->nnew && !ret; i++)
		ret = blocks_point(&m->pb, m->new[i].index, m->new[i].entry);
	if (ret || !m->nnew)
		return ret;
	return image_sync(m->parent, "cannot sync the block map");
}

/* Step 5: the child reads through to the parent, which has it all now. */
static int empty_child(struct commit *m)
{
	struct image *child = m->child;
	struct blocks cb;
	u32 i;
	int ret;

	if (blocks_init(&cb, child, m->cmap) < 0) {
		cb.map = NULL;
		blocks_release(&cb);
		return -1;
	}
	m->c.maps[0] = NULL;	/* now cb's */
	for (i = 0; i < cb.count; i++)
		cb.map[i] = VDI_BLOCK_FREE;
	cb.top = 0;
	ret = image_write_map(child, cb.map);
	if (!ret)
		ret = image_sync(child, "cannot sync the block map");
	memcpy(child->h.uuid_parent, m->parent->h.uuid_modify, VDI_UUID_SIZE);
	if (!ret)
		ret = blocks_finish(&cb);
	blocks_release(&cb);
	return ret;
}

static int commit(struct commit *m)
{
	struct vdi_header *ph = &m->parent->h;
	bool resume = m->c.err == VDI_ERR_LINK_MODIFIED;
	u32 i, used = 0;

	if (take(m) < 0)
		return -1;
	for (i = 0; i < m->child->h.blocks_in_image; i++)
		used += m->cmap[i] != VDI_BLOCK_FREE;
	/*
	 * Nothing to merge: the parent keeps its UUID. The child is still
	 * cut, should a commit have stopped just before.
	 */
	if (!used && !resume)
		return empty_child(m);
	if (!resume) {
		chain_commit_uuid(ph->uuid_modify, &m->child->h);
		if (image_commit_header(m->parent) < 0)
			return -1;
	}
	if (merge_data(m) < 0 || point_parent(m) < 0)
		return -1;
	if (ph->image_type != VDI_TYPE_FIXED &&
	    (blocks_pack(&m->pb) < 0 || blocks_finish(&m->pb) < 0))
		return -1;
	return empty_child(m);
}

/* Returns -1 to go on, else the exit status (--help, or a bad argument). */
static int parse_args(int argc, char **argv, struct chain_opts *o,
		      bool *progress, const char **path)
{
	enum { OPT_PARENT = 256 };
	static const struct option opts[] = {
		{ "parent",	required_argument,	NULL, OPT_PARENT },
		{ "progress",	no_argument,		NULL, 'p' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "ph", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PARENT:
			if (chain_add_parent(o, optarg) < 0)
				return 1;
			break;
		case 'p':
			*progress = true;
			break;
		case 'h':
			commit_usage(stdout);
			return 0;
		default:
			return usage_hint("commit");
		}
	}
	if (operands_wrong("commit", argc, argv, 1, "one FILE"))
		return 1;
	*path = argv[optind];
	return -1;
}

/*
 * The chain must be sound, but for the one change commit itself makes:
 * the parent's new modification UUID, when a commit was interrupted.
 */
static int open_chain(struct commit *m, const char *path,
		      const struct chain_opts *o)
{
	int ret = chain_open(&m->c, path, o);

	if (ret < 0)
		return -1;
	if (!ret && m->c.img[0].h.image_type != VDI_TYPE_DIFF) {
		errmsg(path, "cannot commit: %s (image type %u)",
		       vdi_strerror(VDI_ERR_LINK_NOT_DIFF),
		       m->c.img[0].h.image_type);
		return -1;
	}
	if (ret && !(m->c.err == VDI_ERR_LINK_MODIFIED && !m->c.bad &&
		     chain_commit_interrupted(&m->c))) {
		fprintf(stderr, "%s\n", m->c.why);
		return -1;
	}
	m->child = &m->c.img[0];
	m->parent = &m->c.img[1];
	return 0;
}

int cmd_commit(int argc, char **argv)
{
	struct chain_opts o = { .writable = 2 };
	const char *path = NULL;
	struct commit *m;
	bool progress = false;
	int ret;

	ret = parse_args(argc, argv, &o, &progress, &path);
	if (ret >= 0)
		return ret;
	m = calloc(1, sizeof(*m));
	if (!m) {
		errmsg_sys(path, "cannot allocate memory");
		return 1;
	}
	m->progress = progress;
	ret = open_chain(m, path, &o) < 0 || commit(m) < 0 ? 1 : 0;
	blocks_release(&m->pb);
	free(m->new);
	chain_close(&m->c);
	free(m);
	return ret;
}
