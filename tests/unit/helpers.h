/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the unit tests: cmocka includes and test data paths. */
#ifndef GODWIT_TEST_HELPERS_H
#define GODWIT_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "godwit/util.h"

/* tests/data/<rel>, from $GODWIT_TEST_DATA (set by meson). Caller frees. */
static inline char *test_data_path(const char *rel)
{
	const char *dir = getenv("GODWIT_TEST_DATA");
	return gw_asprintf("%s/%s", dir ? dir : "tests/data", rel);
}

/* <source root>/<rel>. Caller frees. */
static inline char *test_source_path(const char *rel)
{
	const char *dir = getenv("GODWIT_SOURCE_ROOT");
	return gw_asprintf("%s/%s", dir ? dir : ".", rel);
}

#endif
