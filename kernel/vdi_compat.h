/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The differences between the supported kernels' block APIs (6.1 and 6.12),
 * kept here so that the driver body has no version checks.
 */
#ifndef VDI_COMPAT_H
#define VDI_COMPAT_H

#include <linux/version.h>

#endif /* VDI_COMPAT_H */
