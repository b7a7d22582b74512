/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdisetup: a new image built unnamed (or under a temporary name) and
 * named when complete, or written in place on a block device, for create
 * and for convert's output.
 */
#ifndef VDISETUP_CREATE_H
#define VDISETUP_CREATE_H

#include <stdbool.h>

#include "image.h"

struct create_opts {
	const char *path;
	u64 size;			/* disk size; a parent's if @parent */
	u32 block_size;			/* 0: 1 MiB; a parent's if @parent */
	bool fixed;
	bool force;
	const char *comment;
	u8 uuid[VDI_UUID_SIZE];		/* on-disk order; null = random */
	const struct vdi_header *parent; /* make a differencing image of it */
	bool raw;			/* no VDI: @fill writes the whole file */
	/* The content, written after the empty image and before its sync. */
	int (*fill)(struct image *img, void *arg);
	void *arg;
};

/* Returns the exit status, after printing what went wrong. */
int create_image(const struct create_opts *o);

#endif /* VDISETUP_CREATE_H */
