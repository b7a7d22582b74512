// SPDX-License-Identifier: GPL-2.0
/* vdisetup: differencing chains, see chain.h. */
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "chain.h"
#include "util.h"

bool buf_is_zero(const void *buf, size_t len)
{
	const u8 *p = buf;

	return !p[0] && !memcmp(p, p + 1, len - 1);
}

int chain_add_parent(struct chain_opts *o, char *path)
{
	if (o->nparents == VDI_MAX_CHAIN) {
		errmsg(path, "too many parents: a chain has at most %u images",
		       VDI_MAX_CHAIN);
		return -1;
	}
	o->parents[o->nparents++] = path;
	return 0;
}

/* The image UUID of @path, quietly: files that are no VDI image are skipped. */
static int peek_uuid(const char *path, u8 uuid[VDI_UUID_SIZE], struct stat *st)
{
	struct vdi_disk_header d;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread_full(fd, &d, sizeof(d), 0);
	if (n != sizeof(d) || fstat(fd, st) < 0 ||
	    le32_to_cpu(d.signature) != VDI_SIGNATURE) {
		close(fd);
		return -1;
	}
	close(fd);
	memcpy(uuid, d.uuid_image, VDI_UUID_SIZE);
	return 0;
}

struct search {
	const u8 *uuid;		/* wanted */
	char *path;		/* the one found, or NULL */
	char *other;		/* a second, different file with it */
	struct stat st;
};

static void search_dir(struct search *s, const char *dir)
{
	struct stat st;
	u8 uuid[VDI_UUID_SIZE];
	char *pattern;
	glob_t g;
	size_t i;

	/* "x.vdi" rather than "./x.vdi" in messages. */
	if (asprintf(&pattern, "%s%s*.vdi", strcmp(dir, ".") ? dir : "",
		     strcmp(dir, ".") ? "/" : "") < 0)
		return;
	if (glob(pattern, 0, NULL, &g)) {
		free(pattern);
		return;
	}
	free(pattern);
	for (i = 0; i < g.gl_pathc && !s->other; i++) {
		if (peek_uuid(g.gl_pathv[i], uuid, &st) < 0 ||
		    !vdi_uuid_equal(uuid, s->uuid))
			continue;
		/* The same file by another name (a link, "dir/../dir"). */
		if (s->path && st.st_dev == s->st.st_dev &&
		    st.st_ino == s->st.st_ino)
			continue;
		if (s->path) {
			s->other = strdup(g.gl_pathv[i]);
		} else {
			s->path = strdup(g.gl_pathv[i]);
			s->st = st;
		}
	}
	globfree(&g);
}

/*
 * The parent of @child among the *.vdi files beside it and one directory
 * up: its path (to free), or NULL with c->why set when two different
 * files claim the UUID, or with c->why empty when none does.
 */
static char *find_parent(struct chain *c, const struct image *child)
{
	struct search s = { .uuid = child->h.uuid_link };
	char *copy = strdup(child->path), *dir, *up = NULL;
	char text[UUID_STR_LEN];

	if (!copy)
		return NULL;
	dir = dirname(copy);
	search_dir(&s, dir);
	if (asprintf(&up, "%s/..", dir) >= 0)
		search_dir(&s, up);
	free(up);
	free(copy);
	if (s.other) {
		disk_uuid_unparse(child->h.uuid_link, text);
		snprintf(c->why, sizeof(c->why),
			 "%s: parent UUID %s is the image UUID of both %s and %s; name the parent with --parent",
			 child->path, text, s.path, s.other);
		free(s.path);
		free(s.other);
		return NULL;
	}
	return s.path;
}

/* Open the parent of img[c->n - 1], from @o or found: 1 done, 0 none, -1. */
static int open_parent(struct chain *c, const struct chain_opts *o)
{
	u32 k = c->n - 1;
	const char *path;

	if (k < o->nparents) {
		path = o->parents[k];
	} else if (c->img[k].h.image_type == VDI_TYPE_DIFF) {
		c->found[c->n] = find_parent(c, &c->img[k]);
		path = c->found[c->n];
		if (!path)
			return c->why[0] ? 1 : 0;
	} else {
		return 0;
	}
	if (image_open(&c->img[c->n], path,
		       c->n < o->writable ? O_RDWR : O_RDONLY) < 0)
		return -1;
	c->n++;
	if (image_check_chain_header(&c->img[c->n - 1]))
		return -1;
	return 1;
}

static bool repeats(const struct chain *c)
{
	u32 i, last = c->n - 1;

	for (i = 0; i < last; i++)
		if (vdi_uuid_equal(c->img[i].h.uuid_image,
				   c->img[last].h.uuid_image))
			return true;
	return false;
}

/* c->why for c->err, naming the files on both sides of the link. */
static void explain(struct chain *c)
{
	const struct image *child = &c->img[c->bad], *parent;
	char a[UUID_STR_LEN], b[UUID_STR_LEN], why[256], more[160] = "";

	if (c->err == VDI_ERR_CHAIN_DEPTH) {
		vdi_explain(why, sizeof(why), c->err, &child->h, NULL);
		snprintf(c->why, sizeof(c->why), "%s: %s", c->img[0].path, why);
		return;
	}
	if (c->err == VDI_ERR_PARENT_MISSING) {
		disk_uuid_unparse(child->h.uuid_link, a);
		snprintf(c->why, sizeof(c->why),
			 "%s: %s (UUID %s, not among the *.vdi files beside it or one directory up; name it with --parent)",
			 child->path, vdi_strerror(c->err), a);
		return;
	}
	/* For a cycle, c->bad is the image that came round again. */
	if (c->err == VDI_ERR_CHAIN_CYCLE)
		child--;
	parent = child + 1;
	vdi_link_explain(why, sizeof(why), c->err, &child->h, &parent->h);
	if (c->err == VDI_ERR_LINK_UUID) {
		disk_uuid_unparse(parent->h.uuid_image, a);
		disk_uuid_unparse(child->h.uuid_link, b);
		snprintf(more, sizeof(more), " (its UUID is %s, the child links to %s)",
			 a, b);
	} else if (c->err == VDI_ERR_LINK_MODIFIED && !c->bad &&
		   chain_commit_interrupted(c)) {
		snprintf(more, sizeof(more),
			 " (by an interrupted 'vdisetup commit' of the child: run it again)");
	} else if (c->err == VDI_ERR_LINK_MODIFIED) {
		disk_uuid_unparse(parent->h.uuid_modify, a);
		disk_uuid_unparse(child->h.uuid_parent, b);
		snprintf(more, sizeof(more), " (modification UUID %s, the child expects %s)",
			 a, b);
	}
	snprintf(c->why, sizeof(c->why), "%s: parent %s: %s%s", child->path,
		 parent->path, why, more);
}

int chain_open(struct chain *c, const char *top, const struct chain_opts *o)
{
	const struct vdi_header *h[VDI_MAX_CHAIN + 1];
	int ret;
	u32 i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i <= VDI_MAX_CHAIN; i++)
		c->img[i].fd = -1;
	if (image_open(&c->img[0], top, o->writable ? O_RDWR : O_RDONLY) < 0)
		return -1;
	c->n = 1;
	if (image_check_chain_header(&c->img[0]))
		return -1;
	/* One image past the limit, so that vdi_chain_check() sees it. */
	while (c->n <= VDI_MAX_CHAIN && !repeats(c)) {
		ret = open_parent(c, o);
		if (ret < 0)
			return -1;
		if (!ret || c->why[0])
			break;
	}
	if (c->why[0]) {
		c->err = VDI_ERR_PARENT_MISSING;
		c->bad = c->n - 1;
		return 1;
	}
	for (i = 0; i < c->n; i++)
		h[i] = &c->img[i].h;
	c->err = vdi_chain_check(h, c->n, o->changed_parent, &c->bad);
	if (!c->err)
		return 0;
	explain(c);
	return 1;
}

void chain_close(struct chain *c)
{
	u32 i;

	for (i = 0; i <= VDI_MAX_CHAIN; i++) {
		image_close(&c->img[i]);
		free(c->found[i]);
		free(c->maps[i]);
		c->found[i] = NULL;
		c->maps[i] = NULL;
	}
}

int chain_load_maps(struct chain *c, bool beyond_ok)
{
	char why[160];
	u32 i;
	int ret;

	for (i = 0; i < c->n; i++) {
		c->maps[i] = image_read_map(&c->img[i]);
		if (!c->maps[i])
			return -1;
		ret = image_check_map(&c->img[i], c->maps[i], beyond_ok, why,
				      sizeof(why));
		if (ret > 0)
			errmsg(c->img[i].path, "%s; run 'vdisetup check'", why);
		if (ret)
			return -1;
	}
	return 0;
}

/*
 * A free entry passes the read on to the parent, a zero entry reads zeros
 * without asking it. The maps were checked: a block in use lies inside
 * its file, unless the file shrank since.
 */
int chain_read_block(struct chain *c, u32 i, void *buf)
{
	const struct image *img;
	u32 k, e = VDI_BLOCK_FREE;
	ssize_t n;

	for (k = 0; k < c->n && e == VDI_BLOCK_FREE; k++) {
		img = &c->img[k];
		e = i < img->h.blocks_in_image ? c->maps[k][i] : VDI_BLOCK_FREE;
		if (!vdi_entry_allocated(e))
			continue;
		n = pread_full(img->fd, buf, img->h.block_size,
			       vdi_block_offset(&img->h, e));
		if (n >= 0 && n < img->h.block_size)
			errno = EIO;
		if (n < img->h.block_size) {
			errmsg_sys(img->path, "cannot read a data block");
			return -1;
		}
		return 1;
	}
	memset(buf, 0, c->img[0].h.block_size);
	return 0;
}

void chain_commit_uuid(u8 out[VDI_UUID_SIZE], const struct vdi_header *child)
{
	u8 ns[VDI_UUID_SIZE], rfc[VDI_UUID_SIZE];

	/* A name-based (version 5) UUID: the same inputs give the same one. */
	vdi_uuid_swap(ns, child->uuid_parent);
	uuid_generate_sha1(rfc, ns, (const char *)child->uuid_image,
			   VDI_UUID_SIZE);
	vdi_uuid_swap(out, rfc);
}

bool chain_commit_interrupted(const struct chain *c)
{
	u8 want[VDI_UUID_SIZE];

	if (c->n < 2)
		return false;
	chain_commit_uuid(want, &c->img[0].h);
	return vdi_uuid_equal(want, c->img[1].h.uuid_modify);
}
