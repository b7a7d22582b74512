/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Environment of the shared format code in userspace: the kernel's integer
 * types and byte-order helpers mapped onto stdint.h and endian.h.
 */
#ifndef VDI_SYS_H
#define VDI_SYS_H

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/types.h>	/* __le32, __le64: also seen by <linux/vdi.h> users */

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define __packed __attribute__((packed))

#define le32_to_cpu(x) le32toh(x)
#define le64_to_cpu(x) le64toh(x)
#define cpu_to_le32(x) htole32(x)
#define cpu_to_le64(x) htole64(x)

static inline void le32_to_cpus(u32 *p)
{
	*p = le32toh(*p);
}

static inline void cpu_to_le32s(u32 *p)
{
	*p = htole32(*p);
}

#define BITS_PER_LONG (8 * sizeof(long))
#define BITS_TO_LONGS(n) (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)

/* Not atomic, like the kernel's double-underscore version. */
static inline bool __test_and_set_bit(unsigned long nr, unsigned long *addr)
{
	unsigned long mask = 1UL << (nr % BITS_PER_LONG);
	unsigned long *word = addr + nr / BITS_PER_LONG;
	bool old = *word & mask;

	*word |= mask;
	return old;
}

static inline bool is_power_of_2(unsigned long n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

#ifndef EOPNOTSUPP
#define EOPNOTSUPP ENOTSUP
#endif

#endif /* VDI_SYS_H */
