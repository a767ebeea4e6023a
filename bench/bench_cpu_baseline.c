/* SPDX-License-Identifier: Apache-2.0 */
/* Baseline of 10,000 host profiles (goal: < 50 ms after loading). Prints
 * one JSON line per run. Usage: bench_cpu_baseline <source root> [hosts]. */
#include <stdio.h>
#include <string.h>

#include "godwit/cpu.h"

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : ".";
	size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 10000;
	static const char *const kinds[] = {"clx-platinum-8268", "clx-ap-platinum-9242", "spr-bronze-3408u",
					    "skx-gold-6130",     "skx-gold-5115",        "bdw-e5-2630-v4"};
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	if (gw_cpu_modeldb_builtin(&db, &err) < 0) {
		fprintf(stderr, "%s\n", gw_err_msg(err));
		return 1;
	}
	struct gw_cpu_profiles base, hosts;
	gw_cpu_profiles_init(&base);
	gw_cpu_profiles_init(&hosts);
	for (size_t i = 0; i < GW_ARRAY_SIZE(kinds); i++) {
		char *path = gw_asprintf("%s/data/hosts/%s.json", root, kinds[i]);
		if (gw_cpu_profile_load(db, path, &base, &err) < 0) {
			fprintf(stderr, "%s\n", gw_err_msg(err));
			return 1;
		}
		free(path);
	}
	for (size_t i = 0; i < n; i++) {
		const struct gw_cpu_profile *src = base.v[(i * 7) % base.n];
		char name[32];
		snprintf(name, sizeof(name), "node-%05zu", i);
		struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_JSON, name, "bench");
		p->vendor = gw_strdup(src->vendor);
		p->features = src->features;
		gw_cpu_profiles_add(&hosts, p);
	}
	for (int run = 0; run < 3; run++) {
		struct gw_cpu_baseline b;
		uint64_t t0 = gw_now_ns();
		if (gw_cpu_baseline(db, hosts.v, hosts.n, &b, &err) < 0) {
			fprintf(stderr, "%s\n", gw_err_msg(err));
			return 1;
		}
		uint64_t t1 = gw_now_ns();
		json_t *j = gw_cpu_baseline_to_json(db, hosts.v, hosts.n, &b);
		uint64_t t2 = gw_now_ns();
		printf("{\"bench\":\"cpu_baseline\",\"hosts\":%zu,\"run\":%d,\"baseline_ms\":%.3f,\"json_ms\":%.3f,"
		       "\"recommended\":\"%s\"}\n",
		       n, run, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
		       b.recommended >= 0 ? db->models[b.recommended].name : "");
		json_decref(j);
		gw_cpu_baseline_fini(&b);
	}
	gw_cpu_profiles_fini(&hosts);
	gw_cpu_profiles_fini(&base);
	gw_cpu_modeldb_free(db);
	return 0;
}
