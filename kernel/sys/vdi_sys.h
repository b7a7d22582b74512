/* SPDX-License-Identifier: GPL-2.0 */
/* Environment of the shared format code inside the kernel. */
#ifndef VDI_SYS_H
#define VDI_SYS_H

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/bitops.h>
#include <linux/errno.h>
#include <linux/log2.h>
#include <linux/string.h>
#include <asm/byteorder.h>

#endif /* VDI_SYS_H */
