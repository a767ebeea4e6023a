/* SPDX-License-Identifier: Apache-2.0 */
/* Usable / known models and host-model (libvirt's guest decode). */
#include "cpu_hosts.h"

static void usable_by_features(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profiles ps;
	test_load_hosts(db, &ps, (const char *[]){"spr-bronze-3408u", "skx-gold-5115", NULL});
	struct gw_modelset u;
	gw_cpu_usable(db, ps.v[0], &u);
	/* SPR profile: TSX off -> Cascadelake-Server (v1) not usable, the
	 * TSX-less v3 (-noTSX) is; AMX missing -> no SapphireRapids. */
	assert_false(gw_modelset_test(&u, (unsigned)test_model(db, "Cascadelake-Server")));
	assert_true(gw_modelset_test(&u, (unsigned)test_model(db, "Cascadelake-Server-noTSX")));
	assert_false(gw_modelset_test(&u, (unsigned)test_model(db, "SapphireRapids")));
	/* QEMU's usable flag ignores vendor: AMD models count on Intel. */
	assert_true(gw_modelset_test(&u, (unsigned)test_model(db, "Opteron_G1")));
	/* every usable model's QEMU features are on the host, no other is */
	for (size_t i = 0; i < db->n; i++)
		assert_int_equal(gw_modelset_test(&u, (unsigned)i),
				 gw_featset_subset(&db->models[i].features, &ps.v[0]->features));
	gw_cpu_usable(db, ps.v[1], &u);
	/* Gold 5115 profile lacks pku: QEMU's Skylake-Server needs it. */
	assert_false(test_has(&ps.v[1]->features, "pku"));
	assert_false(gw_modelset_test(&u, (unsigned)test_model(db, "Skylake-Server")));
	assert_true(gw_modelset_test(&u, (unsigned)test_model(db, "Skylake-Client-IBRS")));
	gw_cpu_profiles_fini(&ps);
	gw_cpu_modeldb_free(db);
}

static void hypervisor_lists_win(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_DOMCAPS, "n", "t");
	p->has_usable = true;
	gw_strv_push(&p->usable, "Haswell");
	gw_strv_push(&p->usable, "Fancy-Future-Model"); /* unknown: ignored */
	gw_strv_push(&p->known, "Haswell");
	gw_strv_push(&p->known, "EPYC-IBPB");
	struct gw_modelset u, k;
	gw_cpu_usable(db, p, &u);
	gw_cpu_known(db, p, &k);
	size_t nu = 0, nk = 0;
	for (size_t i = 0; i < db->n; i++) {
		nu += gw_modelset_test(&u, (unsigned)i);
		nk += gw_modelset_test(&k, (unsigned)i);
	}
	assert_int_equal(nu, 1); /* no features at all, yet Haswell: the hypervisor said so */
	assert_true(gw_modelset_test(&u, (unsigned)test_model(db, "Haswell")));
	assert_int_equal(nk, 2);
	assert_true(gw_modelset_test(&k, (unsigned)test_model(db, "EPYC-IBPB")));
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
}

/* Without a hypervisor list, known = QEMU's models that libvirt also has:
 * not ClearwaterForest, SierraForest-v2, YongFeng (cpu-models.md b.1). */
static void known_is_libvirt_intersection(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_JSON, "n", "t");
	struct gw_modelset k;
	gw_cpu_known(db, p, &k);
	assert_true(gw_modelset_test(&k, (unsigned)test_model(db, "Cascadelake-Server-v5")));
	assert_false(gw_modelset_test(&k, (unsigned)test_model(db, "ClearwaterForest")));
	assert_false(gw_modelset_test(&k, (unsigned)test_model(db, "SierraForest-v2")));
	assert_false(gw_modelset_test(&k, (unsigned)test_model(db, "YongFeng")));
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
}

/* The ideal hosts decode to the model they are named after. */
static void host_model_of_ideal_hosts(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{"ideal-broadwell", "Broadwell"},
		{"ideal-skylake-server", "Skylake-Server"},
		{"ideal-cascadelake-server", "Cascadelake-Server"},
		{"ideal-icelake-server", "Icelake-Server"},
		{"ideal-sapphirerapids", "SapphireRapids"},
		{"ideal-graniterapids", "GraniteRapids"},
		{"ideal-sierraforest", "SierraForest"},
		{"ideal-epyc-genoa", "EPYC-Genoa"},
	};
	struct gw_cpu_modeldb *db = test_db();
	for (size_t i = 0; i < GW_ARRAY_SIZE(cases); i++) {
		struct gw_cpu_profiles ps;
		test_load_hosts(db, &ps, (const char *[]){cases[i][0], NULL});
		struct gw_cpu_hostmodel hm;
		struct gw_err *err = NULL;
		assert_int_equal(gw_cpu_host_model(db, ps.v[0], &hm, &err), 0);
		if (strcmp(hm.name, cases[i][1]) != 0)
			fail_msg("%s: host-model %s, expected %s", cases[i][0], hm.name, cases[i][1]);
		assert_true(gw_featset_empty(&hm.disable));
		assert_int_equal(hm.model, test_model(db, cases[i][1]));
		gw_cpu_hostmodel_fini(&hm);
		gw_cpu_profiles_fini(&ps);
	}
	gw_cpu_modeldb_free(db);
}

/* Real SPR profile (TSX and AMX off): SapphireRapids with those features
 * disabled, as libvirt reports for such hosts (cpu-models.md e.4). */
static void host_model_real_spr(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profiles ps;
	test_load_hosts(db, &ps, (const char *[]){"spr-bronze-3408u", NULL});
	struct gw_cpu_hostmodel hm;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_host_model(db, ps.v[0], &hm, &err), 0);
	assert_string_equal(hm.name, "SapphireRapids");
	assert_true(test_has(&hm.disable, "hle"));
	assert_true(test_has(&hm.disable, "rtm"));
	assert_true(test_has(&hm.disable, "taa-no"));
	/* model - disable + require = the host's features, minus the
	 * non-migratable ones */
	struct gw_featset guest;
	gw_featset_andnot(&guest, &db->models[hm.model].features, &hm.disable);
	gw_featset_or(&guest, &guest, &hm.require);
	assert_true(gw_featset_subset(&guest, &ps.v[0]->features));
	struct gw_featset rest;
	gw_featset_andnot(&rest, &ps.v[0]->features, &guest);
	struct gw_strv names;
	gw_strv_init(&names);
	gw_featset_names(&rest, &names);
	for (size_t i = 0; i < names.n; i++)
		if (gw_cpu_feature_get((unsigned)gw_cpu_feature_find(names.v[i]))->migratable)
			fail_msg("host feature %s lost by host-model", names.v[i]);
	gw_strv_fini(&names);
	gw_cpu_hostmodel_fini(&hm);
	gw_cpu_profiles_fini(&ps);
	gw_cpu_modeldb_free(db);
}

/* Non-migratable features (invtsc, xsaves) are not required by host-model. */
static void host_model_drops_nonmigratable(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profiles ps;
	test_load_hosts(db, &ps, (const char *[]){"ideal-skylake-server", NULL});
	gw_featset_set(&ps.v[0]->features, (unsigned)gw_cpu_feature_find("invtsc"));
	gw_featset_set(&ps.v[0]->features, (unsigned)gw_cpu_feature_find("xsaves"));
	struct gw_cpu_hostmodel hm;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_host_model(db, ps.v[0], &hm, &err), 0);
	assert_string_equal(hm.name, "Skylake-Server");
	assert_false(test_has(&hm.require, "invtsc"));
	assert_false(test_has(&hm.require, "xsaves"));
	gw_cpu_hostmodel_fini(&hm);
	gw_cpu_profiles_fini(&ps);
	gw_cpu_modeldb_free(db);
}

static void host_model_from_hypervisor(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_DOMCAPS, "n", "t");
	p->host_model = gw_strdup("Future-Model");
	gw_featset_set(&p->host_model_require, (unsigned)gw_cpu_feature_find("ss"));
	struct gw_cpu_hostmodel hm;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_host_model(db, p, &hm, &err), 0);
	assert_int_equal(hm.model, -1);
	assert_string_equal(hm.name, "Future-Model");
	assert_true(test_has(&hm.require, "ss"));
	gw_cpu_hostmodel_fini(&hm);
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
}

static void decode_guest_vendor_and_ties(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	int epyc = test_model(db, "EPYC");
	struct gw_cpu_hostmodel hm;
	/* EPYC's features decoded as Intel: no AMD model may be chosen */
	assert_int_equal(gw_cpu_decode_guest(db, &db->models[epyc].features, "Intel", -1, -1, -1, &hm), 0);
	assert_true(db->models[hm.model].libvirt_vendor == NULL ||
		    strcmp(db->models[hm.model].libvirt_vendor, "Intel") == 0);
	gw_cpu_hostmodel_fini(&hm);
	assert_int_equal(gw_cpu_decode_guest(db, &db->models[epyc].features, "AMD", -1, -1, -1, &hm), 0);
	assert_string_equal(hm.name, "EPYC");
	gw_cpu_hostmodel_fini(&hm);
	/* never a -vN or a decode guest='off' name (libvirt, cpu-models.md a.4) */
	int v5 = test_model(db, "Cascadelake-Server-v5");
	assert_int_equal(gw_cpu_decode_guest(db, &db->models[v5].features, "Intel", -1, -1, -1, &hm), 0);
	assert_false(strstr(hm.name, "-v"));
	assert_true(db->models[hm.model].decode_guest);
	gw_cpu_hostmodel_fini(&hm);
	/* a vendor no model has still decodes to a vendor-less model (486 ...) */
	struct gw_featset none = {0};
	assert_int_equal(gw_cpu_decode_guest(db, &none, "Zhaoxin", -1, -1, -1, &hm), 0);
	assert_null(db->models[hm.model].libvirt_vendor);
	gw_cpu_hostmodel_fini(&hm);
	gw_cpu_modeldb_free(db);
}

/* libvirt's cost quirk (cpu-models.md e.3): of d disabled features only
 * ceil(d/2) are charged 2, 3, ...; the rest count once. Data of 11
 * features: "Penryn" = data + 4 more needs 4 disabled (cost 0 + 2 + 2+3
 * = 7 with the quirk, 2+3+4+5 = 14 without); "Conroe" = 1 of them needs
 * 10 required (cost 10). The quirk makes Penryn win. */
static void decode_cost_quirk(void **state)
{
	(void)state;
	static const char tsv[] =
		"Conroe\t-\t-\t-\t-\t-\tfpu\n"
		"Penryn\t-\t-\t-\t-\t-\tfpu,vme,de,pse,tsc,msr,pae,mce,cx8,apic,sep,mtrr,pge,mca,cmov\n";
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_parse("quirk.tsv", tsv, &db, &err), 0);
	const char *data_names[] = {"fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep"};
	struct gw_featset data = {0};
	assert_int_equal(gw_featset_from_names(data_names, GW_ARRAY_SIZE(data_names), "data", &data, &err), 0);
	struct gw_cpu_hostmodel hm;
	assert_int_equal(gw_cpu_decode_guest(db, &data, NULL, -1, -1, -1, &hm), 0);
	assert_string_equal(hm.name, "Penryn");
	assert_int_equal(gw_featset_count(&hm.disable), 4);
	assert_true(gw_featset_empty(&hm.require));
	gw_cpu_hostmodel_fini(&hm);
	gw_cpu_modeldb_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(usable_by_features),
		cmocka_unit_test(hypervisor_lists_win),
		cmocka_unit_test(known_is_libvirt_intersection),
		cmocka_unit_test(host_model_of_ideal_hosts),
		cmocka_unit_test(host_model_real_spr),
		cmocka_unit_test(host_model_drops_nonmigratable),
		cmocka_unit_test(host_model_from_hypervisor),
		cmocka_unit_test(decode_guest_vendor_and_ties),
		cmocka_unit_test(decode_cost_quirk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
