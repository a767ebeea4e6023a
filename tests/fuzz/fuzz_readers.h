/* SPDX-License-Identifier: Apache-2.0 */
/* One function per profile reader, fed arbitrary bytes: shared by the
 * libFuzzer targets (fuzz_<reader>.c) and by the unit test that replays
 * the seed corpus under the ordinary (sanitizer) build. Each returns the
 * reader's result; what matters is that none crashes, leaks or reads
 * out of bounds. */
#ifndef GODWIT_FUZZ_READERS_H
#define GODWIT_FUZZ_READERS_H

#include <stdint.h>
#include <string.h>

#include "godwit/cpu.h"

static inline const struct gw_cpu_modeldb *fuzz_modeldb(void)
{
	static struct gw_cpu_modeldb *db;
	if (!db && gw_cpu_modeldb_builtin(&db, NULL) < 0)
		abort();
	return db;
}

/* Messages are built on every error path, so they are exercised too. */
static inline int fuzz_finish(int r, struct gw_err *err)
{
	if (r < 0 && (!err || !err->msg || !err->msg[0]))
		abort(); /* an error without a message breaks the contract */
	gw_err_free(err);
	return r;
}

static inline int fuzz_domcaps(const uint8_t *data, size_t size)
{
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	int r = gw_cpu_profile_from_domcaps(fuzz_modeldb(), (const char *)data, size, "fuzz.xml", &p, &err);
	gw_cpu_profile_free(p);
	return fuzz_finish(r, err);
}

static inline int fuzz_cpuid_dump(const uint8_t *data, size_t size)
{
	/* the reader takes a C string */
	char *text = gw_malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	int r = gw_cpu_profile_from_cpuid_dump(text, "fuzz.cpuid", &p, &err);
	gw_cpu_profile_free(p);
	free(text);
	return fuzz_finish(r, err);
}

static inline int fuzz_json_doc(const uint8_t *data, size_t size, bool nodes)
{
	json_error_t jerr;
	json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return -EINVAL;
	struct gw_err *err = NULL;
	int r;
	if (nodes) {
		struct gw_cpu_profiles ps;
		gw_cpu_profiles_init(&ps);
		r = gw_cpu_profile_from_nodes(doc, "fuzz.json", &ps, &err);
		gw_cpu_profiles_fini(&ps);
	} else {
		struct gw_cpu_profile *p = NULL;
		r = gw_cpu_profile_from_json(doc, "fuzz.json", &p, &err);
		gw_cpu_profile_free(p);
	}
	json_decref(doc);
	return fuzz_finish(r, err);
}

static inline int fuzz_json_profile(const uint8_t *data, size_t size)
{
	return fuzz_json_doc(data, size, false);
}

static inline int fuzz_nodes(const uint8_t *data, size_t size)
{
	return fuzz_json_doc(data, size, true);
}

#endif
