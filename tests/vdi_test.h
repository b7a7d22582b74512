/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the driver's C tests: the kselftest harness, the uapi header,
 * the format code, and small helpers to run commands and find the tree.
 */
#ifndef VDI_TEST_H
#define VDI_TEST_H

#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vdi.h>

#include "vdi_format.h"

/* The 6.1 harness itself has an unused parameter; -Wextra -Werror here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "../kselftest_harness.h"
#pragma GCC diagnostic pop

#define MIB		(1024 * 1024)
#define VDI_CONTROL	"/dev/" VDI_CONTROL_NAME

/* system() of a formatted command line: its exit status, -1 if killed. */
static inline int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * The checkout: VDI_TOP (the VM runner sets it), else three levels above
 * the test binary (build/ksft/vdi/NAME).
 */
static inline const char *vdi_top(void)
{
	static char top[PATH_MAX];
	const char *env = getenv("VDI_TOP");
	char exe[PATH_MAX];

	if (env)
		return env;
	if (!top[0]) {
		if (!realpath("/proc/self/exe", exe))
			return ".";
		snprintf(top, sizeof(top), "%s/../../..", dirname(exe));
	}
	return top;
}

/*
 * Root, and the module loaded (VDI_KO, the one built for this kernel, when
 * it is not loaded yet): NULL, or why the tests must be skipped.
 */
static inline const char *vdi_ready(void)
{
	const char *ko = getenv("VDI_KO");

	if (geteuid())
		return "must run as root";
	if (access(VDI_CONTROL, F_OK) && ko)
		run("grep -q '^vdi ' /proc/modules || insmod '%s'", ko);
	if (access(VDI_CONTROL, F_OK))
		return "no " VDI_CONTROL " (module not loaded)";
	return NULL;
}

#endif /* VDI_TEST_H */
