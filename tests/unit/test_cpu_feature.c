/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "godwit/cpu.h"
#include "helpers.h"

static void table_has_all_features(void **state)
{
	(void)state;
	/* 250 CPUID + 114 MSR features (libvirt 11.3 x86_features.xml). */
	assert_int_equal(gw_cpu_feature_count(), 364);
	unsigned msr = 0;
	for (unsigned i = 0; i < gw_cpu_feature_count(); i++)
		msr += gw_cpu_feature_get(i)->is_msr;
	assert_int_equal(msr, 114);
}

static void bits_are_unique(void **state)
{
	(void)state;
	size_t n = gw_cpu_feature_count();
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++) {
			const struct gw_cpu_feature *a = gw_cpu_feature_get(i), *b = gw_cpu_feature_get(j);
			bool same = a->is_msr == b->is_msr && a->leaf == b->leaf && a->subleaf == b->subleaf &&
				    a->reg == b->reg && a->bit == b->bit;
			if (same)
				fail_msg("%s and %s share a bit", a->name, b->name);
		}
}

static void known_bits(void **state)
{
	(void)state;
	const struct gw_cpu_feature *f = gw_cpu_feature_get((unsigned)gw_cpu_feature_find("avx512f"));
	assert_int_equal(f->leaf, 7);
	assert_int_equal(f->reg, GW_CPU_REG_EBX);
	assert_int_equal(f->bit, 16);
	f = gw_cpu_feature_get((unsigned)gw_cpu_feature_find("taa-no"));
	assert_true(f->is_msr);
	assert_int_equal(f->leaf, 0x10a);
	assert_int_equal(f->bit, 8);
	assert_false(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("invtsc"))->migratable);
	assert_false(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("xsaves"))->migratable);
	assert_true(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("avx"))->migratable);
}

static void aliases_resolve(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
		{"sse4_1", "sse4.1"}, {"sse4-1", "sse4.1"}, {"pclmulqdq", "pclmuldq"}, {"sha_ni", "sha-ni"},
		{"sse3", "pni"},      {"lahf-lm", "lahf_lm"}, {"tsc_deadline_timer", "tsc-deadline"},
		{"md_clear", "md-clear"}, {"cqm", "cmt"},   {"avx512_vpopcntdq", "avx512-vpopcntdq"},
		{"AVX2", "avx2"},     {"xd", "nx"},
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(pairs); i++) {
		int a = gw_cpu_feature_find(pairs[i][0]), b = gw_cpu_feature_find(pairs[i][1]);
		assert_true(b >= 0);
		if (a != b)
			fail_msg("%s does not resolve to %s", pairs[i][0], pairs[i][1]);
	}
}

static void unknown_feature_suggests(void **state)
{
	(void)state;
	struct gw_err *err = NULL;
	assert_true(gw_cpu_feature_lookup("avx5l2f", &err) < 0);
	assert_non_null(strstr(err->msg, "unknown CPU feature \"avx5l2f\""));
	assert_non_null(strstr(err->msg, "avx512f"));
	gw_err_free(err);
}

static void groups(void **state)
{
	(void)state;
	assert_int_equal(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("avx2"))->group, GW_CPU_GROUP_SIMD);
	assert_int_equal(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("aes"))->group, GW_CPU_GROUP_CRYPTO);
	assert_int_equal(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("spec-ctrl"))->group,
			 GW_CPU_GROUP_SECURITY);
	assert_int_equal(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("vmx"))->group, GW_CPU_GROUP_VIRT);
	assert_int_equal(gw_cpu_feature_get((unsigned)gw_cpu_feature_find("fpu"))->group, GW_CPU_GROUP_OTHER);
}

static void featset_ops_and_levels(void **state)
{
	(void)state;
	struct gw_featset v2, v3, both;
	gw_cpu_level_features(2, &v2);
	gw_cpu_level_features(3, &v3);
	assert_true(gw_featset_subset(&v2, &v3));
	assert_false(gw_featset_subset(&v3, &v2));
	gw_featset_and(&both, &v2, &v3);
	assert_true(gw_featset_equal(&both, &v2));
	assert_int_equal(gw_cpu_level(&v3), 3);
	assert_int_equal(gw_cpu_level(&v2), 2);
	gw_featset_clear(&v3, (unsigned)gw_cpu_feature_find("movbe"));
	assert_int_equal(gw_cpu_level(&v3), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_has_all_features), cmocka_unit_test(bits_are_unique),
		cmocka_unit_test(known_bits),             cmocka_unit_test(aliases_resolve),
		cmocka_unit_test(unknown_feature_suggests), cmocka_unit_test(groups),
		cmocka_unit_test(featset_ops_and_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
