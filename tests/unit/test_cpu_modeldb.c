/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "godwit/cpu.h"
#include "helpers.h"

static void builtin_loads(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_builtin(&db, &err), 0);
	/* QEMU 10.0: 151 named models (query-cpu-definitions less base, host, max). */
	assert_int_equal(db->n, 151);
	int i = gw_cpu_modeldb_find(db, "Cascadelake-Server-noTSX");
	assert_true(i >= 0);
	/* QEMU requires pku and ARCH_CAPABILITIES bits here; libvirt's XML does not. */
	assert_true(gw_featset_test(&db->models[i].features, (unsigned)gw_cpu_feature_find("pku")));
	assert_true(gw_featset_test(&db->models[i].features, (unsigned)gw_cpu_feature_find("ibrs-all")));
	assert_false(gw_featset_test(&db->models[i].features, (unsigned)gw_cpu_feature_find("hle")));
	assert_int_equal(db->obsolete.n, 34);
	assert_true(gw_cpu_modeldb_is_obsolete(db, "kvm64"));
	assert_false(gw_cpu_modeldb_is_obsolete(db, "Penryn"));
	gw_cpu_modeldb_free(db);
}

static void format_parse_roundtrip(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL, *again = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_builtin(&db, &err), 0);
	char *text = gw_cpu_modeldb_format(db);
	assert_int_equal(gw_cpu_modeldb_parse("roundtrip", text, &again, &err), 0);
	assert_int_equal(again->n, db->n);
	for (size_t i = 0; i < db->n; i++) {
		assert_string_equal(db->models[i].name, again->models[i].name);
		assert_true(gw_featset_equal(&db->models[i].features, &again->models[i].features));
	}
	free(text);
	gw_cpu_modeldb_free(db);
	gw_cpu_modeldb_free(again);
}

static void unknown_model_suggests(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_builtin(&db, &err), 0);
	assert_true(gw_cpu_modeldb_lookup(db, "cascadelake-server", &err) < 0);
	assert_non_null(strstr(err->msg, "Cascadelake-Server"));
	gw_err_free(err);
	err = NULL;
	assert_true(gw_cpu_modeldb_lookup(db, "Skylake-Sever", &err) < 0);
	assert_non_null(strstr(err->msg, "Skylake-Server"));
	gw_err_free(err);
	gw_cpu_modeldb_free(db);
}

static void malformed_files_are_named(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_true(gw_cpu_modeldb_parse("m.tsv", "# x\nfoo\t-\t-\n", &db, &err) < 0);
	assert_non_null(strstr(err->msg, "m.tsv: line 2: expected 7"));
	gw_err_free(err);
	err = NULL;
	assert_true(gw_cpu_modeldb_parse("m.tsv", "foo\t-\t-\t-\t-\t-\tfpu,bogus\n", &db, &err) < 0);
	assert_non_null(strstr(err->msg, "m.tsv: line 1: model foo"));
	assert_non_null(strstr(err->msg, "bogus"));
	gw_err_free(err);
	err = NULL;
	assert_true(gw_cpu_modeldb_parse("m.tsv", "foo\tbar\t-\t-\t-\t-\tfpu\n", &db, &err) < 0);
	assert_non_null(strstr(err->msg, "alias_of \"bar\""));
	gw_err_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin_loads),
		cmocka_unit_test(format_parse_roundtrip),
		cmocka_unit_test(unknown_model_suggests),
		cmocka_unit_test(malformed_files_are_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
