/* SPDX-License-Identifier: Apache-2.0 */
/* Baseline on the real hosts of data/hosts/ (seed 001's three choices) and
 * the ideal hosts. Expected answers were worked out by hand from the host
 * profiles and QEMU's model definitions (data/cpu/qemu-10.0-models.tsv),
 * cpu-models.md Key finding 5 and section d; each test first asserts the
 * data facts that decide the answer, so a changed data file fails loudly
 * at the cause. */
#include "cpu_hosts.h"

struct fixture {
	struct gw_cpu_modeldb *db;
	struct gw_cpu_profiles hosts;
	struct gw_cpu_baseline b;
};

static void run(struct fixture *f, const char *const *names)
{
	f->db = test_db();
	test_load_hosts(f->db, &f->hosts, names);
	struct gw_err *err = NULL;
	if (gw_cpu_baseline(f->db, f->hosts.v, f->hosts.n, &f->b, &err) < 0)
		fail_msg("baseline: %s", gw_err_msg(err));
}

static void done(struct fixture *f)
{
	gw_cpu_baseline_fini(&f->b);
	gw_cpu_profiles_fini(&f->hosts);
	gw_cpu_modeldb_free(f->db);
}

static const struct gw_cpu_profile *host(const struct fixture *f, const char *name)
{
	for (size_t i = 0; i < f->hosts.n; i++)
		if (strcmp(f->hosts.v[i]->name, name) == 0)
			return f->hosts.v[i];
	fail_msg("no host %s", name);
	return NULL;
}

static bool is_maximal(const struct fixture *f, const char *model)
{
	for (size_t i = 0; i < f->b.n_maximal; i++)
		if (strcmp(f->db->models[f->b.maximal[i]].name, model) == 0)
			return true;
	return false;
}

static bool is_common(const struct fixture *f, const char *model)
{
	return gw_modelset_test(&f->b.common_models, (unsigned)test_model(f->db, model));
}

static void reason_has(const struct fixture *f, const char *text)
{
	if (!strstr(f->b.reason, text))
		fail_msg("reason lacks \"%s\": %s", text, f->b.reason);
}

static const char *recommended(const struct fixture *f)
{
	return f->b.recommended >= 0 ? f->db->models[f->b.recommended].name : "(none)";
}

/* Seed 001 choice 1: "Cascade Lake + Sapphire Rapids -> Cascadelake-Server".
 * The data says otherwise: the SPR host has TSX off (no hle/rtm), which
 * blocks Cascadelake-Server (v1, v2); the TSX-less Cascadelake-Server-noTSX
 * (QEMU v3) and v4/v5 need ARCH_CAPABILITIES bits that the Platinum 8268
 * profile lacks (arch-capabilities, mds-no). The highest model all three
 * run is Skylake-Server-v5 (TSX-less, IBRS, pku, xsaves). */
static void clx_spr(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"clx-platinum-8268", "clx-ap-platinum-9242", "spr-bronze-3408u", NULL});
	const struct gw_cpu_profile *spr = host(&f, "SPR Bronze-3408U"), *clx = host(&f, "CLX Platinum-8268");
	assert_false(test_has(&spr->features, "hle"));
	assert_false(test_has(&spr->features, "rtm"));
	assert_false(test_has(&clx->features, "arch-capabilities"));
	assert_false(test_has(&clx->features, "mds-no"));
	assert_true(test_has(&clx->features, "hle"));

	assert_false(is_common(&f, "Cascadelake-Server"));
	assert_false(is_common(&f, "Cascadelake-Server-noTSX"));
	assert_false(is_common(&f, "Cascadelake-Server-v5"));
	assert_true(is_common(&f, "Skylake-Server-v5"));
	assert_true(is_common(&f, "Skylake-Server-noTSX-IBRS"));
	assert_false(is_common(&f, "Skylake-Server")); /* TSX again */
	assert_int_equal(f.b.n_maximal, 1);
	assert_string_equal(recommended(&f), "Skylake-Server-v5");
	reason_has(&f, "Cascadelake-Server is not usable because SPR Bronze-3408U lacks hle, rtm");
	reason_has(&f, "Cascadelake-Server-noTSX is not usable because CLX Platinum-8268 lacks arch-capabilities, mds-no");
	assert_false(f.b.mixed_vendors);
	assert_int_equal(f.b.level, 4);
	/* The custom CPU is the common features exactly: Cascadelake-Server
	 * without TSX, plus what all hosts add. */
	assert_string_equal(f.b.custom.name, "Cascadelake-Server");
	assert_true(test_has(&f.b.custom.disable, "hle"));
	assert_true(test_has(&f.b.custom.disable, "rtm"));
	done(&f);
}

/* Without the 8268 (old microcode), CLX-AP + SPR do reach the Cascade Lake
 * family: Cascadelake-Server-v5 = -noTSX + ARCH_CAPABILITIES + xsaves. */
static void clx_ap_spr(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"clx-ap-platinum-9242", "spr-bronze-3408u", NULL});
	assert_true(is_common(&f, "Cascadelake-Server-noTSX"));
	assert_false(is_common(&f, "Cascadelake-Server"));
	assert_string_equal(recommended(&f), "Cascadelake-Server-v5");
	reason_has(&f, "Cascadelake-Server is not usable because SPR Bronze-3408U lacks hle, rtm");
	done(&f);
}

/* Seed 001 choice 2: "Skylake + Cascade Lake -> Skylake-Server". QEMU's
 * Skylake-Server (every version) requires pku, which the Gold 5115 and
 * the Gold 6148 profiles lack; the 6148 (no IBRS microcode) also lacks
 * spec-ctrl. What all five run is Skylake-Client (= -v1). */
static void skx_clx(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"skx-gold-5115", "skx-gold-6130", "skx-gold-6148-no-ibrs-ucode", "clx-platinum-8268",
				 "clx-ap-platinum-9242", NULL});
	assert_false(test_has(&host(&f, "SKX Gold-5115")->features, "pku"));
	assert_false(test_has(&host(&f, "SKX Gold-6148 (no IBRS ucode)")->features, "pku"));
	assert_false(test_has(&host(&f, "SKX Gold-6148 (no IBRS ucode)")->features, "spec-ctrl"));
	assert_true(test_has(&f.b.common, "hle")); /* TSX is not the issue here */

	assert_false(is_common(&f, "Skylake-Server"));
	assert_false(is_common(&f, "Skylake-Client-IBRS"));
	assert_true(is_common(&f, "Skylake-Client"));
	assert_string_equal(recommended(&f), "Skylake-Client");
	assert_int_equal(f.b.n_maximal, 1);
	assert_int_equal(f.b.aliases[0].n, 1);
	assert_string_equal(f.b.aliases[0].v[0], "Skylake-Client-v1");
	char *expect = gw_asprintf("Skylake-Client (= Skylake-Client-v1; %u features)",
				   gw_featset_count(&f.db->models[test_model(f.db, "Skylake-Client")].features));
	reason_has(&f, expect);
	free(expect);
	reason_has(&f, "Skylake-Server is not usable because SKX Gold-5115, SKX Gold-6148 (no IBRS ucode) lack pku");
	reason_has(&f, "spec-ctrl");
	done(&f);
}

/* Seed 001 choice 3: "Broadwell + anything newer -> Broadwell". Holds
 * only while every newer host has TSX: with the SPR host (no hle/rtm) it
 * is Broadwell-noTSX; not -noTSX-IBRS because two BDW hosts lack
 * spec-ctrl (cpu-models.md Key finding 5 iii). */
static void bdw_newer(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"bdw-e5-2623-v4", "bdw-e5-2630-v4", "bdw-e5-2650-v4", "skx-gold-6130",
				 "clx-platinum-8268", "icx-ice-lake-server", "spr-bronze-3408u", NULL});
	assert_false(test_has(&host(&f, "BDW E5-2630-v4")->features, "spec-ctrl"));
	assert_false(test_has(&host(&f, "BDW E5-2650-v4")->features, "spec-ctrl"));
	assert_string_equal(recommended(&f), "Broadwell-noTSX");
	assert_false(is_common(&f, "Broadwell"));
	assert_false(is_common(&f, "Broadwell-noTSX-IBRS"));
	reason_has(&f, "Broadwell is not usable because SPR Bronze-3408U lacks hle, rtm");
	reason_has(&f, "BDW E5-2630-v4, BDW E5-2650-v4 lack spec-ctrl");
	assert_int_equal(f.b.level, 3);
	done(&f);
}

/* ... and with newer hosts that keep TSX, the seed's Broadwell holds. */
static void bdw_newer_with_tsx(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"bdw-e5-2623-v4", "bdw-e5-2630-v4", "bdw-e5-2650-v4", "skx-gold-6130",
				 "icx-ice-lake-server", NULL});
	assert_true(test_has(&f.b.common, "hle"));
	assert_string_equal(recommended(&f), "Broadwell");
	assert_true(is_maximal(&f, "Broadwell"));
	done(&f);
}

/* The ideal hosts carry exactly a model's features: there the seed's
 * short answers hold. */
static void ideal_hosts_give_seed_answers(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"ideal-cascadelake-server", "ideal-sapphirerapids", NULL});
	assert_true(is_maximal(&f, "Cascadelake-Server"));
	assert_string_equal(recommended(&f), "Cascadelake-Server");
	assert_int_equal(f.b.aliases[0].n, 1);
	assert_string_equal(f.b.aliases[0].v[0], "Cascadelake-Server-v1");
	done(&f);
	run(&f, (const char *[]){"ideal-skylake-server", "ideal-cascadelake-server", NULL});
	assert_string_equal(recommended(&f), "Skylake-Server");
	done(&f);
	run(&f, (const char *[]){"ideal-broadwell", "ideal-skylake-server", "ideal-icelake-server",
				 "ideal-sapphirerapids", "ideal-graniterapids", NULL});
	assert_string_equal(recommended(&f), "Broadwell");
	done(&f);
	/* SierraForest has no TSX: Broadwell is not below it (cpu-models.md c.3). */
	run(&f, (const char *[]){"ideal-broadwell", "ideal-sierraforest", NULL});
	assert_string_equal(recommended(&f), "Broadwell-noTSX");
	reason_has(&f, "hle, rtm");
	done(&f);
}

static void mixed_vendors_flagged(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"ideal-epyc-genoa", "ideal-sapphirerapids", NULL});
	assert_true(f.b.mixed_vendors);
	assert_int_equal(f.b.vendors.n, 2);
	assert_string_equal(f.b.vendors.v[0], "AMD");
	assert_string_equal(f.b.vendors.v[1], "Intel");
	reason_has(&f, "mix CPU vendors (AMD, Intel)");
	json_t *j = gw_cpu_baseline_to_json(f.db, f.hosts.v, f.hosts.n, &f.b);
	assert_true(json_is_true(json_object_get(j, "mixedVendors")));
	assert_int_equal(json_array_size(json_object_get(j, "vendors")), 2);
	json_decref(j);
	done(&f);
	run(&f, (const char *[]){"spr-bronze-3408u", "icx-ice-lake-server", NULL});
	assert_false(f.b.mixed_vendors);
	assert_false(strstr(f.b.reason, "vendors"));
	done(&f);
}

/* One host: its own highest usable models. The SPR host runs no
 * SapphireRapids version (no TSX, no AMX in the profile), so the answer is
 * Icelake-Server-noTSX; Cascadelake-Server-v5 is maximal beside it
 * (pku/xsaves axes). */
static void single_host(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"spr-bronze-3408u", NULL});
	assert_false(is_common(&f, "SapphireRapids"));
	assert_false(is_common(&f, "SapphireRapids-v3"));
	assert_string_equal(recommended(&f), "Icelake-Server-noTSX");
	assert_true(is_maximal(&f, "Cascadelake-Server-v5"));
	reason_has(&f, "Icelake-Server is not usable because SPR Bronze-3408U lacks hle, rtm");
	/* every maximal model really is usable on the host */
	struct gw_modelset u;
	gw_cpu_usable(f.db, f.hosts.v[0], &u);
	for (size_t i = 0; i < f.b.n_maximal; i++)
		assert_true(gw_modelset_test(&u, (unsigned)f.b.maximal[i]));
	done(&f);
	run(&f, (const char *[]){"ideal-sapphirerapids", NULL});
	assert_string_equal(recommended(&f), "SapphireRapids");
	done(&f);
}

/* The hypervisor's answer wins over the features (e.g. QEMU refuses a
 * model for reasons the profile cannot show). */
static void hypervisor_answer_wins(void **state)
{
	(void)state;
	struct fixture f;
	f.db = test_db();
	test_load_hosts(f.db, &f.hosts, (const char *[]){"ideal-cascadelake-server", "ideal-sapphirerapids", NULL});
	struct gw_cpu_profile *p = f.hosts.v[1];
	p->has_usable = true;
	gw_strv_push(&p->usable, "Skylake-Server");
	gw_strv_push(&p->usable, "Skylake-Server-v1");
	gw_strv_push(&p->usable, "NoSuchModel-v9"); /* ignored */
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_baseline(f.db, f.hosts.v, f.hosts.n, &f.b, &err), 0);
	assert_string_equal(recommended(&f), "Skylake-Server");
	reason_has(&f, "Cascadelake-Server is not usable because ideal:SapphireRapids reports it unusable");
	done(&f);
}

static json_t *path(json_t *o, const char *const *keys)
{
	for (size_t i = 0; keys[i] && o; i++)
		o = json_object_get(o, keys[i]);
	return o;
}

static bool array_has(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
	return false;
}

static void json_report(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, (const char *[]){"clx-platinum-8268", "clx-ap-platinum-9242", "spr-bronze-3408u", NULL});
	json_t *j = gw_cpu_baseline_to_json(f.db, f.hosts.v, f.hosts.n, &f.b);
	assert_string_equal(json_string_value(json_object_get(j, "recommended")), "Skylake-Server-v5");
	assert_string_equal(json_string_value(json_object_get(j, "level")), "x86-64-v4");
	assert_non_null(json_object_get(j, "reason"));
	json_t *m0 = json_array_get(json_object_get(j, "models"), 0);
	assert_int_equal(json_integer_value(json_object_get(m0, "features")),
			 gw_featset_count(&f.db->models[test_model(f.db, "Skylake-Server-v5")].features));
	assert_string_equal(json_string_value(path(j, (const char *[]){"custom", "model", NULL})), "Cascadelake-Server");
	/* The SPR host loses AVX-512 FP16/VBMI etc. with Skylake-Server-v5 ... */
	json_t *simd = path(j, (const char *[]){"lost", "SPR Bronze-3408U", "Skylake-Server-v5", "simd", NULL});
	assert_true(array_has(simd, "avx512-fp16"));
	assert_true(array_has(simd, "avx512vnni"));
	/* ... and loses nothing it shares with the guest. */
	assert_false(array_has(simd, "avx512f"));
	json_t *lost_v4 = path(j, (const char *[]){"lost", "CLX Platinum-8268", "x86-64-v4", "simd", NULL});
	assert_true(array_has(lost_v4, "avx512vnni"));
	assert_false(array_has(lost_v4, "avx512f"));
	assert_non_null(path(j, (const char *[]){"lost", "CLX Platinum-8268", "custom", NULL}));
	/* hle/rtm: CLX has them, the custom guest (TSX disabled) does not. */
	json_t *other = path(j, (const char *[]){"lost", "CLX Platinum-8268", "custom", "other", NULL});
	assert_true(array_has(other, "hle"));
	assert_true(array_has(other, "rtm"));
	json_decref(j);
	done(&f);
}

static void lost_groups(void **state)
{
	(void)state;
	struct gw_featset h = {0}, g = {0};
	gw_featset_set(&h, (unsigned)gw_cpu_feature_find("avx2"));
	gw_featset_set(&h, (unsigned)gw_cpu_feature_find("aes"));
	gw_featset_set(&h, (unsigned)gw_cpu_feature_find("vmx"));
	gw_featset_set(&g, (unsigned)gw_cpu_feature_find("aes"));
	json_t *j = gw_cpu_lost_to_json(&h, &g);
	assert_true(array_has(json_object_get(j, "simd"), "avx2"));
	assert_true(array_has(json_object_get(j, "virtualisation"), "vmx"));
	assert_null(json_object_get(j, "crypto"));
	json_decref(j);
}

static void no_hosts_is_an_error(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_baseline b;
	struct gw_err *err = NULL;
	assert_true(gw_cpu_baseline(db, NULL, 0, &b, &err) < 0);
	assert_non_null(strstr(gw_err_msg(err), "no hosts"));
	gw_err_free(err);
	gw_cpu_baseline_fini(&b);
	gw_cpu_modeldb_free(db);
}

/* 10,000 hosts: the goal is < 50 ms (about 10 ms measured by
 * bench/bench_cpu_baseline on 2 shared cores). The test only guards
 * against a per-host cost that grows with the number of hosts: its limit
 * leaves room for AddressSanitizer builds (about 40 ms there). */
static void many_hosts_fast(void **state)
{
	(void)state;
	struct fixture f;
	f.db = test_db();
	const char *kinds[] = {"clx-platinum-8268", "clx-ap-platinum-9242", "spr-bronze-3408u", "skx-gold-6130", NULL};
	struct gw_cpu_profiles base;
	test_load_hosts(f.db, &base, kinds);
	gw_cpu_profiles_init(&f.hosts);
	for (size_t i = 0; i < 10000; i++) {
		const struct gw_cpu_profile *src = base.v[(i * 7) % base.n];
		char name[32];
		snprintf(name, sizeof(name), "node-%05zu", i);
		struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_JSON, name, "test");
		p->vendor = gw_strdup(src->vendor);
		p->features = src->features;
		gw_cpu_profiles_add(&f.hosts, p);
	}
	struct gw_err *err = NULL;
	uint64_t t0 = gw_now_ns();
	assert_int_equal(gw_cpu_baseline(f.db, f.hosts.v, f.hosts.n, &f.b, &err), 0);
	uint64_t ms = (gw_now_ns() - t0) / 1000000;
	assert_string_equal(recommended(&f), "Skylake-Server-v5");
	if (ms > 1000)
		fail_msg("baseline of 10000 hosts took %llu ms", (unsigned long long)ms);
	gw_cpu_profiles_fini(&base);
	done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clx_spr),
		cmocka_unit_test(clx_ap_spr),
		cmocka_unit_test(skx_clx),
		cmocka_unit_test(bdw_newer),
		cmocka_unit_test(bdw_newer_with_tsx),
		cmocka_unit_test(ideal_hosts_give_seed_answers),
		cmocka_unit_test(mixed_vendors_flagged),
		cmocka_unit_test(single_host),
		cmocka_unit_test(hypervisor_answer_wins),
		cmocka_unit_test(json_report),
		cmocka_unit_test(lost_groups),
		cmocka_unit_test(no_hosts_is_an_error),
		cmocka_unit_test(many_hosts_fast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
