/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the integration tests: which QEMU, and skipping a whole test. */
#ifndef GODWIT_TEST_INTEGRATION_H
#define GODWIT_TEST_INTEGRATION_H

#include <stdarg.h>
#include <stdio.h>

#include "../unit/helpers.h"

#define TEST_DEFAULT_QEMU "/usr/bin/qemu-system-x86_64"

/* $GODWIT_QEMU, else Debian's qemu-system-x86_64. */
static inline const char *test_qemu_binary(void)
{
	const char *env = getenv("GODWIT_QEMU");
	return env && *env ? env : TEST_DEFAULT_QEMU;
}

/* Reports the whole test as skipped to meson's TAP parser ("1..0 # SKIP")
 * and returns the exit status to use. cmocka's own skip() cannot be used:
 * cmocka 1.1.5 (Debian 12) prints "not ok N # SKIP", which TAP and meson
 * count as a failure. */
static inline int test_skip_all(const char *fmt, ...) GW_PRINTF(1, 2);
static inline int test_skip_all(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("1..0 # SKIP ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	return 0;
}

#endif
