/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the CPU engine tests: the built-in database and the real host
 * profiles shipped in data/hosts/. */
#ifndef GODWIT_TEST_CPU_HOSTS_H
#define GODWIT_TEST_CPU_HOSTS_H

#include <string.h>

#include "godwit/cpu.h"
#include "helpers.h"

static inline struct gw_cpu_modeldb *test_db(void)
{
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	if (gw_cpu_modeldb_builtin(&db, &err) < 0)
		fail_msg("built-in database: %s", gw_err_msg(err));
	return db;
}

/* Loads data/hosts/<name>.json for each NULL-terminated name. */
static inline void test_load_hosts(const struct gw_cpu_modeldb *db, struct gw_cpu_profiles *ps, const char *const *names)
{
	gw_cpu_profiles_init(ps);
	for (size_t i = 0; names[i]; i++) {
		char *rel = gw_asprintf("data/hosts/%s.json", names[i]);
		char *path = test_source_path(rel);
		struct gw_err *err = NULL;
		if (gw_cpu_profile_load(db, path, ps, &err) < 0)
			fail_msg("%s: %s", path, gw_err_msg(err));
		free(rel);
		free(path);
	}
}

static inline bool test_has(const struct gw_featset *s, const char *feature)
{
	int i = gw_cpu_feature_find(feature);
	if (i < 0)
		fail_msg("unknown feature %s in the test", feature);
	return gw_featset_test(s, (unsigned)i);
}

static inline int test_model(const struct gw_cpu_modeldb *db, const char *name)
{
	int i = gw_cpu_modeldb_find(db, name);
	if (i < 0)
		fail_msg("model %s not in the database", name);
	return i;
}

#endif
