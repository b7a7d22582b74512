/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vdi: VirtualBox VDI images as block devices - ioctl interface.
 *
 * /dev/vdi-control adds, removes and atomically attaches devices; each
 * /dev/vdiN is configured, detached and queried with the per-device calls.
 * Every structure has the same layout on 32- and 64-bit userspace (fixed
 * width fields, explicit padding); reserved words must be zero on input.
 */
#ifndef _UAPI_LINUX_VDI_H
#define _UAPI_LINUX_VDI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VDI_CONTROL_NAME	"vdi-control"
#define VDI_IOCTL_TYPE		0xDC	/* unlisted in ioctl-number.rst (6.1) */

/* Device flags: set at attach, reported by VDI_GET_INFO. */
#define VDI_FLAG_READ_ONLY	0x1U
#define VDI_FLAG_PARTSCAN	0x2U
#define VDI_FLAG_AUTOCLEAR	0x4U
/*
 * Direct I/O on the backing file: DIRECT_IO asks for it and fails the
 * attach (EINVAL) when the file cannot have it, DIRECT_IO_AUTO uses it when
 * the file can, neither means buffered I/O. Reported: DIRECT_IO when in
 * effect; DIRECT_IO_AUTO never.
 */
#define VDI_FLAG_DIRECT_IO	0x8U
#define VDI_FLAG_DIRECT_IO_AUTO	0x10U
/*
 * A differencing image whose parent was written to since the child was
 * made (its modification UUID is not the one the child names): attach it
 * all the same. The parents stay read-only.
 */
#define VDI_FLAG_FORCE		0x20U
#define VDI_FLAGS_SETTABLE	(VDI_FLAG_READ_ONLY | VDI_FLAG_PARTSCAN | \
				 VDI_FLAG_AUTOCLEAR | VDI_FLAG_DIRECT_IO | \
				 VDI_FLAG_DIRECT_IO_AUTO | VDI_FLAG_FORCE)

/* Device states reported by VDI_GET_INFO. */
#define VDI_STATE_UNBOUND	0
#define VDI_STATE_BOUND		1
#define VDI_STATE_RUNDOWN	2

#define VDI_PATH_MAX		4096

/*
 * The parents of a differencing image (type 4): @parent_fds points to
 * @nr_parents descriptors (__s32), the nearest parent first, each open for
 * reading; the kernel takes read-only references of its own. Without
 * parents both are zero. At most VDI_MAX_CHAIN - 1 (31) parents. When an
 * image or a link is refused, @reason_level says which image the reason
 * is about: 0 the top image (fd), i its i-th parent.
 */
struct vdi_config {
	__s32	fd;		/* in: backing file, opened by the caller */
	__u32	flags;		/* in: VDI_FLAG_* */
	__u32	index;		/* out: device number (VDI_CTL_ATTACH) */
	__u32	reason;		/* out: why the image was refused (format code) */
	__u64	parent_fds;	/* in: user pointer to __s32[nr_parents] */
	__u32	nr_parents;	/* in */
	__u32	reason_level;	/* out: the image @reason is about */
	__u64	reserved[4];	/* must be zero */
};

struct vdi_info {
	__u32	index;
	__u32	state;		/* VDI_STATE_* */
	__u32	flags;		/* VDI_FLAG_*; READ_ONLY and DIRECT_IO effective */
	__u32	block_size;	/* VDI block size in bytes */
	__u64	disk_size;	/* virtual size in bytes */
	__u32	blocks_in_image;
	__u32	blocks_allocated;
	__u8	uuid[16];	/* image UUID, RFC 4122 byte order */
	__u64	backing_dev;	/* st_dev of the backing file */
	__u64	backing_inode;
	__u32	blocks_zero;	/* entries marked zero (discarded) */
	__u32	nr_parents;	/* parents the image is read through */
	__u64	reserved[7];
	char	backing_file[VDI_PATH_MAX];
};

/* On /dev/vdi-control. ADD and REMOVE take an index (ADD: -1 = next free). */
#define VDI_CTL_ADD		_IO(VDI_IOCTL_TYPE, 0x00)
#define VDI_CTL_REMOVE		_IO(VDI_IOCTL_TYPE, 0x01)
/* Bind the file to a free device (made if needed); returns its index. */
#define VDI_CTL_ATTACH		_IOWR(VDI_IOCTL_TYPE, 0x02, struct vdi_config)

/* On /dev/vdiN. */
#define VDI_CONFIGURE		_IOWR(VDI_IOCTL_TYPE, 0x10, struct vdi_config)
#define VDI_DETACH		_IO(VDI_IOCTL_TYPE, 0x11)
#define VDI_GET_INFO		_IOR(VDI_IOCTL_TYPE, 0x12, struct vdi_info)
/*
 * Grow the image and the device to the size in bytes pointed to (a
 * multiple of 512), online. EINVAL for a smaller size; ENOSPC when the
 * larger block map does not fit before the data (resize it offline).
 */
#define VDI_RESIZE		_IOW(VDI_IOCTL_TYPE, 0x13, __u64)

#endif /* _UAPI_LINUX_VDI_H */
