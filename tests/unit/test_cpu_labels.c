/* SPDX-License-Identifier: Apache-2.0 */
/* KubeVirt node labels: kubevirt-behaviour.md section 8, S1-S5, on the
 * "test domcaps" host (KubeVirt's labeller fixture) built in code. */
#include "cpu_hosts.h"

/* KubeVirt's fixture: host-model Skylake-Client-IBRS (Intel, require ds,
 * acpi, ss); custom-mode models EPYC-IBPB(no), 486(no), Conroe(no),
 * Penryn, IvyBridge, Haswell, Skylake-Client-IBRS, Opteron_G2 (yes);
 * fake-model-without-usable has no usable attribute and is in neither
 * list; supported features apic, clflush, vmx, xsaves; machines q35 and
 * pc-q35-rhel9.6.0; TSC 4008012000 Hz, scaling no. */
static struct gw_cpu_profile *test_domcaps_host(void)
{
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_DOMCAPS, "node01", "test domcaps");
	p->vendor = gw_strdup("Intel");
	p->has_usable = true;
	const char *usable[] = {"Penryn", "IvyBridge", "Haswell", "Skylake-Client-IBRS", "Opteron_G2"};
	const char *known[] = {"EPYC-IBPB", "486", "Conroe", "Penryn", "IvyBridge", "Haswell", "Skylake-Client-IBRS",
			       "Opteron_G2"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(usable); i++)
		gw_strv_push(&p->usable, usable[i]);
	for (size_t i = 0; i < GW_ARRAY_SIZE(known); i++)
		gw_strv_push(&p->known, known[i]);
	p->host_model = gw_strdup("Skylake-Client-IBRS");
	const char *req[] = {"ds", "acpi", "ss"};
	const char *feat[] = {"apic", "clflush", "vmx", "xsaves"};
	struct gw_err *err = NULL;
	assert_int_equal(gw_featset_from_names(req, 3, "require", &p->host_model_require, &err), 0);
	assert_int_equal(gw_featset_from_names(feat, 4, "features", &p->features, &err), 0);
	gw_strv_push(&p->machines, "q35");
	gw_strv_push(&p->machines, "pc-q35-rhel9.6.0");
	p->tsc_hz = 4008012000ull;
	p->tsc_scalable = 0;
	return p;
}

static const char *const s1_labels[] = {
	"cpu-model.node.kubevirt.io/Penryn",
	"cpu-model.node.kubevirt.io/IvyBridge",
	"cpu-model.node.kubevirt.io/Haswell",
	"cpu-model.node.kubevirt.io/Skylake-Client-IBRS",
	"cpu-model-migration.node.kubevirt.io/EPYC-IBPB",
	"cpu-model-migration.node.kubevirt.io/Penryn",
	"cpu-model-migration.node.kubevirt.io/IvyBridge",
	"cpu-model-migration.node.kubevirt.io/Haswell",
	"cpu-model-migration.node.kubevirt.io/Skylake-Client-IBRS",
	"host-model-cpu.node.kubevirt.io/Skylake-Client-IBRS",
	"host-model-required-features.node.kubevirt.io/ds",
	"host-model-required-features.node.kubevirt.io/acpi",
	"host-model-required-features.node.kubevirt.io/ss",
	"cpu-feature.node.kubevirt.io/apic",
	"cpu-feature.node.kubevirt.io/clflush",
	"cpu-feature.node.kubevirt.io/vmx",
	"cpu-feature.node.kubevirt.io/xsaves",
	"cpu-vendor.node.kubevirt.io/Intel",
	"machine-type.node.kubevirt.io/q35",
	"machine-type.node.kubevirt.io/pc-q35-rhel9.6.0",
	NULL,
};

/* Exactly `expected` (value "true") plus the two timer labels. Hyper-V
 * labels are left out: KubeVirt reads them from /dev/kvm, not domcaps. */
static void assert_label_set(const json_t *labels, const char *const *expected)
{
	size_t n = 0;
	for (; expected[n]; n++) {
		const char *v = json_string_value(json_object_get(labels, expected[n]));
		if (!v || strcmp(v, "true") != 0)
			fail_msg("label %s missing or not \"true\"", expected[n]);
	}
	assert_string_equal(json_string_value(json_object_get(labels, "cpu-timer.node.kubevirt.io/tsc-frequency")),
			    "4008012000");
	assert_string_equal(json_string_value(json_object_get(labels, "cpu-timer.node.kubevirt.io/tsc-scalable")),
			    "false");
	if (json_object_size(labels) != n + 2) {
		char *dump = json_dumps(labels, JSON_INDENT(1) | JSON_SORT_KEYS);
		fail_msg("expected %zu labels, got %zu: %s", n + 2, json_object_size(labels), dump);
	}
}

static json_t *labels_for(const struct gw_cpu_label_config *c)
{
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profile *p = test_domcaps_host();
	json_t *labels = NULL;
	struct gw_err *err = NULL;
	if (gw_cpu_labels(db, p, c, &labels, &err) < 0)
		fail_msg("labels: %s", gw_err_msg(err));
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
	return labels;
}

static void config_from_yaml(const char *yaml, struct gw_cpu_label_config *c)
{
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_doc_load_string("kubevirt.yaml", yaml, strlen(yaml), &docs, &err), 0);
	gw_cpu_label_config_init(c);
	if (gw_cpu_label_config_from_kubevirt(json_array_get(docs, 0), "kubevirt.yaml", c, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	json_decref(docs);
}

/* S1: defaults filter 486, Conroe, Opteron_G2; no obsolete-host-model. */
static void s1_basic(void **state)
{
	(void)state;
	struct gw_cpu_label_config c;
	config_from_yaml("apiVersion: kubevirt.io/v1\nkind: KubeVirt\nspec:\n  configuration: {}\n", &c);
	assert_false(c.obsolete_configured);
	json_t *labels = labels_for(&c);
	assert_label_set(labels, s1_labels);
	assert_null(json_object_get(labels, "node-labeller.kubevirt.io/obsolete-host-model"));
	json_decref(labels);
	gw_cpu_label_config_fini(&c);
	/* no configuration at all behaves the same */
	labels = labels_for(NULL);
	assert_label_set(labels, s1_labels);
	json_decref(labels);
}

/* S2: a configured list replaces the defaults (486, Conroe, Opteron_G2
 * come back); only keys count ({Penryn: false} still obsoletes Penryn). */
static void s2_configured_replaces_defaults(void **state)
{
	(void)state;
	struct gw_cpu_label_config c;
	config_from_yaml("kind: KubeVirt\nspec:\n  configuration:\n    obsoleteCPUModels:\n      Penryn: false\n", &c);
	assert_true(c.obsolete_configured);
	json_t *labels = labels_for(&c);
	static const char *const expected[] = {
		"cpu-model.node.kubevirt.io/IvyBridge",
		"cpu-model.node.kubevirt.io/Haswell",
		"cpu-model.node.kubevirt.io/Skylake-Client-IBRS",
		"cpu-model.node.kubevirt.io/Opteron_G2",
		"cpu-model-migration.node.kubevirt.io/EPYC-IBPB",
		"cpu-model-migration.node.kubevirt.io/486",
		"cpu-model-migration.node.kubevirt.io/Conroe",
		"cpu-model-migration.node.kubevirt.io/IvyBridge",
		"cpu-model-migration.node.kubevirt.io/Haswell",
		"cpu-model-migration.node.kubevirt.io/Skylake-Client-IBRS",
		"cpu-model-migration.node.kubevirt.io/Opteron_G2",
		"host-model-cpu.node.kubevirt.io/Skylake-Client-IBRS",
		"host-model-required-features.node.kubevirt.io/ds",
		"host-model-required-features.node.kubevirt.io/acpi",
		"host-model-required-features.node.kubevirt.io/ss",
		"cpu-feature.node.kubevirt.io/apic",
		"cpu-feature.node.kubevirt.io/clflush",
		"cpu-feature.node.kubevirt.io/vmx",
		"cpu-feature.node.kubevirt.io/xsaves",
		"cpu-vendor.node.kubevirt.io/Intel",
		"machine-type.node.kubevirt.io/q35",
		"machine-type.node.kubevirt.io/pc-q35-rhel9.6.0",
		NULL,
	};
	assert_label_set(labels, expected);
	json_decref(labels);
	gw_cpu_label_config_fini(&c);

	/* {} disables filtering: 486 and Conroe are labelled for migration */
	config_from_yaml("kind: KubeVirt\nspec:\n  configuration:\n    obsoleteCPUModels: {}\n", &c);
	assert_true(c.obsolete_configured);
	labels = labels_for(&c);
	assert_non_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Penryn"));
	assert_non_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Opteron_G2"));
	assert_non_null(json_object_get(labels, "cpu-model-migration.node.kubevirt.io/486"));
	json_decref(labels);
	gw_cpu_label_config_fini(&c);
}

/* S3: host-model in the configured list -> obsolete-host-model, the
 * host-model-cpu label stays, no cpu-model or cpu-model-migration label for Skylake-Client-IBRS. */
static void s3_obsolete_host_model(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_label_config c;
	gw_cpu_label_config_init(&c);
	c.obsolete_configured = true;
	gw_cpu_default_obsolete(&c.obsolete);
	gw_strv_push(&c.obsolete, "Skylake-Client-IBRS");
	json_t *labels = labels_for(&c);
	assert_string_equal(json_string_value(json_object_get(labels, "node-labeller.kubevirt.io/obsolete-host-model")),
			    "true");
	assert_non_null(json_object_get(labels, "host-model-cpu.node.kubevirt.io/Skylake-Client-IBRS"));
	assert_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Skylake-Client-IBRS"));
	assert_null(json_object_get(labels, "cpu-model-migration.node.kubevirt.io/Skylake-Client-IBRS"));
	assert_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Opteron_G2"));
	json_decref(labels);
	gw_cpu_label_config_fini(&c);

	/* QUIRK: obsoleteCPUModels unset never yields the label, even for a
	 * host-model in the default list (Conroe). */
	struct gw_cpu_profile *p = test_domcaps_host();
	free(p->host_model);
	p->host_model = gw_strdup("Conroe");
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_labels(db, p, NULL, &labels, &err), 0);
	assert_null(json_object_get(labels, "node-labeller.kubevirt.io/obsolete-host-model"));
	assert_non_null(json_object_get(labels, "host-model-cpu.node.kubevirt.io/Conroe"));
	json_decref(labels);
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
}

static json_t *node_from_yaml(const char *yaml)
{
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_doc_load_string("node.yaml", yaml, strlen(yaml), &docs, &err), 0);
	json_t *node = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	return node;
}

/* S4: skip-node annotation (even "false") -> untouched, no patch. */
static void s4_skip_annotation(void **state)
{
	(void)state;
	json_t *node = node_from_yaml("kind: Node\nmetadata:\n  name: node01\n  annotations:\n"
				      "    node-labeller.kubevirt.io/skip-node: \"false\"\n  labels:\n"
				      "    cpu-model.node.kubevirt.io/Cascadelake-Server: \"true\"\n");
	json_t *before = json_deep_copy(node);
	json_t *labels = labels_for(NULL);
	bool changed = true;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_labels_apply(node, labels, &changed, &err), 0);
	assert_false(changed);
	assert_true(json_equal(node, before));
	json_decref(labels);
	json_decref(before);
	json_decref(node);
}

/* S5: owned stale labels removed, S1 labels added, team=blue kept, and
 * the stale cpu-vendor AMD label kept beside Intel (QUIRK). */
static void s5_stale_removal(void **state)
{
	(void)state;
	json_t *node = node_from_yaml("kind: Node\nmetadata:\n  name: node01\n  labels:\n"
				      "    cpu-model.node.kubevirt.io/Cascadelake-Server: \"true\"\n"
				      "    cpu-model-migration.node.kubevirt.io/Cascadelake-Server: \"true\"\n"
				      "    cpu-vendor.node.kubevirt.io/AMD: \"true\"\n"
				      "    kubevirt.io/sev-foo: \"true\"\n"
				      "    team: blue\n");
	json_t *labels = labels_for(NULL);
	bool changed = false;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_labels_apply(node, labels, &changed, &err), 0);
	assert_true(changed);
	json_t *now = json_object_get(json_object_get(node, "metadata"), "labels");
	assert_null(json_object_get(now, "cpu-model.node.kubevirt.io/Cascadelake-Server"));
	assert_null(json_object_get(now, "cpu-model-migration.node.kubevirt.io/Cascadelake-Server"));
	/* plain prefix matching: kubevirt.io/sev owns kubevirt.io/sev-foo */
	assert_null(json_object_get(now, "kubevirt.io/sev-foo"));
	assert_string_equal(json_string_value(json_object_get(now, "team")), "blue");
	assert_non_null(json_object_get(now, "cpu-vendor.node.kubevirt.io/AMD"));
	assert_non_null(json_object_get(now, "cpu-vendor.node.kubevirt.io/Intel"));
	const char *key;
	json_t *v;
	json_object_foreach(labels, key, v) assert_true(json_equal(json_object_get(now, key), v));
	assert_int_equal(json_object_size(now), json_object_size(labels) + 2);

	/* a second run changes nothing */
	assert_int_equal(gw_cpu_labels_apply(node, labels, &changed, &err), 0);
	assert_false(changed);
	json_decref(labels);
	json_decref(node);
}

static void owned_prefixes(void **state)
{
	(void)state;
	assert_true(gw_cpu_label_owned("cpu-feature.node.kubevirt.io/avx"));
	assert_true(gw_cpu_label_owned("hyperv.node.kubevirt.io/base"));
	assert_true(gw_cpu_label_owned("kubevirt.io/vm-arch-arm64"));
	assert_true(gw_cpu_label_owned("node-labeller.kubevirt.io/obsolete-host-model"));
	assert_false(gw_cpu_label_owned("cpu-vendor.node.kubevirt.io/Intel"));
	assert_false(gw_cpu_label_owned("kubevirt.io/s390-pv"));
	assert_false(gw_cpu_label_owned("kubevirt.io/schedulable"));
}

static void config_errors_name_field(void **state)
{
	(void)state;
	const char *bad[][2] = {
		{"kind: KubeVirt\nspec:\n  configuration:\n    obsoleteCPUModels: [Penryn]\n",
		 "spec.configuration.obsoleteCPUModels: [\"Penryn\"]"},
		{"kind: KubeVirt\nspec:\n  configuration:\n    obsoleteCPUModels:\n      Penryn: maybe\n",
		 "spec.configuration.obsoleteCPUModels.Penryn: \"maybe\""},
		{"kind: Node\n", "kind: \"Node\""},
		{"kind: KubeVirt\nspec: 3\n", "spec: expected an object"},
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(bad); i++) {
		json_t *docs = NULL;
		struct gw_err *err = NULL;
		assert_int_equal(gw_doc_load_string("kv.yaml", bad[i][0], strlen(bad[i][0]), &docs, &err), 0);
		struct gw_cpu_label_config c;
		gw_cpu_label_config_init(&c);
		assert_true(gw_cpu_label_config_from_kubevirt(json_array_get(docs, 0), "kv.yaml", &c, &err) < 0);
		if (!strstr(gw_err_msg(err), bad[i][1]))
			fail_msg("error \"%s\" lacks \"%s\"", gw_err_msg(err), bad[i][1]);
		assert_false(c.obsolete_configured);
		gw_err_free(err);
		gw_cpu_label_config_fini(&c);
		json_decref(docs);
	}
}

/* A feature-only profile (no hypervisor answer): labels come from our own
 * usable computation and host-model decode, and the required features are
 * the expanded host-model (current KubeVirt), so they include fpu. */
static void computed_labels_for_real_host(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profiles ps;
	test_load_hosts(db, &ps, (const char *[]){"ideal-cascadelake-server", NULL});
	json_t *labels = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_labels(db, ps.v[0], NULL, &labels, &err), 0);
	assert_non_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Cascadelake-Server"));
	assert_non_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Skylake-Server-v1"));
	assert_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Cascadelake-Server-noTSX"));
	assert_null(json_object_get(labels, "cpu-model.node.kubevirt.io/486")); /* obsolete */
	assert_non_null(json_object_get(labels, "cpu-model-migration.node.kubevirt.io/SapphireRapids"));
	assert_null(json_object_get(labels, "cpu-model-migration.node.kubevirt.io/kvm64"));
	assert_non_null(json_object_get(labels, "host-model-cpu.node.kubevirt.io/Cascadelake-Server"));
	assert_non_null(json_object_get(labels, "host-model-required-features.node.kubevirt.io/fpu"));
	assert_non_null(json_object_get(labels, "host-model-required-features.node.kubevirt.io/avx512vnni"));
	assert_non_null(json_object_get(labels, "cpu-feature.node.kubevirt.io/avx512vnni"));
	assert_non_null(json_object_get(labels, "cpu-vendor.node.kubevirt.io/Intel"));
	/* QEMU-only models never reach libvirt's custom mode */
	assert_null(json_object_get(labels, "cpu-model.node.kubevirt.io/YongFeng"));
	/* no timer or machine labels without that data */
	assert_null(json_object_get(labels, "cpu-timer.node.kubevirt.io/tsc-frequency"));
	json_decref(labels);
	gw_cpu_profiles_fini(&ps);
	gw_cpu_modeldb_free(db);
}

/* Domcapabilities without a host-model mode: no host-model labels at all
 * (KubeVirt would emit the invalid key "host-model-cpu.node.kubevirt.io/"). */
static void no_host_model_mode(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = test_db();
	struct gw_cpu_profile *p = test_domcaps_host();
	free(p->host_model);
	p->host_model = NULL;
	memset(&p->host_model_require, 0, sizeof(p->host_model_require));
	json_t *labels = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_labels(db, p, NULL, &labels, &err), 0);
	const char *key;
	json_t *v;
	json_object_foreach(labels, key, v) {
		assert_false(gw_str_has_prefix(key, "host-model-cpu.node.kubevirt.io/"));
		assert_false(gw_str_has_prefix(key, "host-model-required-features.node.kubevirt.io/"));
	}
	assert_non_null(json_object_get(labels, "cpu-model.node.kubevirt.io/Haswell"));
	json_decref(labels);
	/* no vendor: no cpu-vendor label with an empty name */
	free(p->vendor);
	p->vendor = NULL;
	assert_int_equal(gw_cpu_labels(db, p, NULL, &labels, &err), 0);
	json_object_foreach(labels, key, v) assert_false(gw_str_has_prefix(key, "cpu-vendor.node.kubevirt.io/"));
	json_decref(labels);
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(s1_basic),
		cmocka_unit_test(s2_configured_replaces_defaults),
		cmocka_unit_test(s3_obsolete_host_model),
		cmocka_unit_test(s4_skip_annotation),
		cmocka_unit_test(s5_stale_removal),
		cmocka_unit_test(owned_prefixes),
		cmocka_unit_test(config_errors_name_field),
		cmocka_unit_test(computed_labels_for_real_host),
		cmocka_unit_test(no_host_model_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
