/* SPDX-License-Identifier: Apache-2.0 */
#include "cpu_hosts.h"

static void relations(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profiles ps;
	test_load_hosts(db, &ps, (const char *[]){"ideal-skylake-server", "ideal-cascadelake-server",
						  "spr-bronze-3408u", "ideal-epyc-genoa", NULL});
	struct gw_cpu_comparison c;
	gw_cpu_compare(ps.v[0], ps.v[0], &c);
	assert_int_equal(c.relation, GW_CPU_IDENTICAL);
	assert_true(gw_featset_empty(&c.only_a) && gw_featset_empty(&c.only_b));
	/* ideal Cascadelake-Server = Skylake-Server + avx512vnni ... */
	gw_cpu_compare(ps.v[1], ps.v[0], &c);
	assert_int_equal(c.relation, GW_CPU_SUPERSET);
	assert_true(test_has(&c.only_a, "avx512vnni"));
	gw_cpu_compare(ps.v[0], ps.v[1], &c);
	assert_int_equal(c.relation, GW_CPU_SUBSET);
	assert_true(test_has(&c.only_b, "avx512vnni"));
	/* real SPR has no TSX, ideal CLX has: neither contains the other */
	gw_cpu_compare(ps.v[2], ps.v[1], &c);
	assert_int_equal(c.relation, GW_CPU_INCOMPATIBLE);
	assert_false(c.vendor_mismatch);
	assert_true(test_has(&c.only_b, "hle"));
	assert_true(test_has(&c.only_a, "amx-bf16") || test_has(&c.only_a, "avx512-fp16"));
	assert_string_equal(gw_cpu_relation_name(c.relation), "incompatible");
	gw_cpu_profiles_fini(&ps);
	gw_cpu_modeldb_free(db);
}

/* Different vendors are incompatible even when the features would be a
 * superset (libvirt's compare checks the vendor first, cpu-models.md e.6). */
static void vendor_mismatch(void **state)
{
	(void)state;
	struct gw_cpu_profile *a = gw_cpu_profile_new(GW_CPU_PROFILE_JSON, "a", "t");
	struct gw_cpu_profile *b = gw_cpu_profile_new(GW_CPU_PROFILE_JSON, "b", "t");
	a->vendor = gw_strdup("Intel");
	b->vendor = gw_strdup("AMD");
	gw_featset_set(&a->features, (unsigned)gw_cpu_feature_find("sse2"));
	gw_featset_set(&a->features, (unsigned)gw_cpu_feature_find("avx"));
	gw_featset_set(&b->features, (unsigned)gw_cpu_feature_find("sse2"));
	struct gw_cpu_comparison c;
	gw_cpu_compare(a, b, &c);
	assert_true(c.vendor_mismatch);
	assert_int_equal(c.relation, GW_CPU_INCOMPATIBLE);
	/* unknown vendor on one side: features decide */
	free(b->vendor);
	b->vendor = NULL;
	gw_cpu_compare(a, b, &c);
	assert_false(c.vendor_mismatch);
	assert_int_equal(c.relation, GW_CPU_SUPERSET);
	assert_string_equal(gw_cpu_relation_name(c.relation), "superset");
	gw_cpu_profile_free(a);
	gw_cpu_profile_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relations),
		cmocka_unit_test(vendor_mismatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
