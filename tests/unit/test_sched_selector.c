/* SPDX-License-Identifier: Apache-2.0 */
/* CPU model in effect, launch selectors and affinity, migration target
 * selectors (kubevirt-behaviour.md 2.1-2.5, scenarios S6-S12, S17, S18,
 * seeds 000 and 002). Expectations come from the spec's text. */
#include "sched_fixture.h"

/* The labels every ordinary amd64 node of these tests carries. */
#define BASE "kubevirt.io/schedulable=true,kubernetes.io/arch=amd64,machine-type.node.kubevirt.io/q35,"

static void assert_map_exactly(const struct gw_map *m, const char *list)
{
	struct gw_map want = {0};
	fx_labels(&want, list);
	for (size_t i = 0; i < want.n; i++) {
		const char *have = gw_map_get(m, want.keys[i]);
		if (!have)
			fail_msg("selector lacks %s", want.keys[i]);
		assert_string_equal(have, want.values[i]);
	}
	for (size_t i = 0; i < m->n; i++)
		if (!gw_map_get(&want, m->keys[i]))
			fail_msg("unexpected selector %s=%s", m->keys[i], m->values[i]);
	gw_map_fini(&want);
}

static size_t count_prefix(const struct gw_map *m, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += gw_str_has_prefix(m->keys[i], prefix);
	return n;
}

static void assert_requirement(const struct gw_node_requirement *r, const char *key, enum gw_selector_op op)
{
	assert_string_equal(r->key, key);
	assert_int_equal(r->op, op);
}

/* S6: no model anywhere: host-model, exact selector, obsolete affinity */
static void test_s6_default_model(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	enum gw_model_source src;
	assert_string_equal(gw_sched_cpu_model(c, &v->spec, &src), "host-model");
	assert_int_equal(src, GW_MODEL_DEFAULT);

	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	gw_sched_launch_selector(c, v, &sel, &aff);
	assert_map_exactly(&sel, "kubevirt.io/schedulable=true,kubernetes.io/arch=amd64,machine-type.node.kubevirt.io/q35=true");
	assert_int_equal(aff.n, 1);
	assert_int_equal(aff.terms[0].n, 1);
	assert_requirement(&aff.terms[0].reqs[0], "node-labeller.kubevirt.io/obsolete-host-model", GW_OP_DOES_NOT_EXIST);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* S7: the cluster cpuModel applies to a VMI without a model */
static void test_s7_cluster_model(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_kubevirt(c)->cpu_model = gw_strdup("EPYC");
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	enum gw_model_source src;
	assert_string_equal(gw_sched_cpu_model(c, &v->spec, &src), "EPYC");
	assert_int_equal(src, GW_MODEL_FROM_CLUSTER);

	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	gw_sched_launch_selector(c, v, &sel, &aff);
	assert_string_equal(gw_map_get(&sel, "cpu-model.node.kubevirt.io/EPYC"), "true");
	assert_int_equal(aff.n, 0);   /* no obsolete-host-model affinity */
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* S8: the VMI's model wins; only nodes labelled with it are eligible */
static void test_s8_vmi_model_wins(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_kubevirt(c)->cpu_model = gw_strdup("EPYC");
	struct gw_node *yes = fx_node(c, "s1", BASE "cpu-model.node.kubevirt.io/Haswell");
	struct gw_node *no = fx_node(c, "other", BASE "cpu-model.node.kubevirt.io/IvyBridge");
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	v->spec.cpu_model = gw_strdup("Haswell");
	enum gw_model_source src;
	assert_string_equal(gw_sched_cpu_model(c, &v->spec, &src), "Haswell");
	assert_int_equal(src, GW_MODEL_FROM_VM);

	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	gw_sched_launch_selector(c, v, &sel, &aff);
	assert_string_equal(gw_map_get(&sel, "cpu-model.node.kubevirt.io/Haswell"), "true");
	assert_null(gw_map_get(&sel, "cpu-model.node.kubevirt.io/EPYC"));

	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_node_check(c, v, yes, NULL, &sel, &aff, NULL, &r);
	assert_int_equal(r.n, 0);
	gw_sched_node_check(c, v, no, NULL, &sel, &aff, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_SELECTOR_MISSING);
	assert_string_equal(r.v[0].subject, "cpu-model.node.kubevirt.io/Haswell");
	assert_string_equal(gw_reason_name(r.v[0].code), "NodeSelectorMismatch");
	gw_reasons_fini(&r);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* S9: arm64 gets host-passthrough, never the cluster model */
static void test_s9_arm64(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_kubevirt(c)->cpu_model = gw_strdup("EPYC");
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	v->spec.architecture = gw_strdup("arm64");
	assert_string_equal(gw_sched_cpu_model(c, &v->spec, NULL), "host-passthrough");

	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	gw_sched_launch_selector(c, v, &sel, &aff);
	assert_map_exactly(&sel, "kubevirt.io/schedulable=true,kubernetes.io/arch=arm64,machine-type.node.kubevirt.io/virt=true");
	assert_int_equal(aff.n, 0);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* S10: feature policies */
static void test_s10_feature_policies(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	v->spec.cpu_model = gw_strdup("Conroe");
	fx_feature(v, "lahf_lm", GW_POLICY_REQUIRE);
	fx_feature(v, "pcid", GW_POLICY_EMPTY);
	fx_feature(v, "avx", GW_POLICY_FORCE);
	fx_feature(v, "x2apic", GW_POLICY_OPTIONAL);
	fx_feature(v, "mmx", GW_POLICY_DISABLE);
	fx_feature(v, "ssse3", GW_POLICY_FORBID);

	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	gw_sched_launch_selector(c, v, &sel, &aff);
	assert_non_null(gw_map_get(&sel, "cpu-model.node.kubevirt.io/Conroe"));
	assert_non_null(gw_map_get(&sel, "cpu-feature.node.kubevirt.io/lahf_lm"));
	assert_non_null(gw_map_get(&sel, "cpu-feature.node.kubevirt.io/pcid"));
	assert_int_equal(count_prefix(&sel, "cpu-feature.node.kubevirt.io/"), 2);
	assert_int_equal(aff.n, 1);
	assert_int_equal(aff.terms[0].n, 1);
	assert_requirement(&aff.terms[0].reqs[0], "cpu-feature.node.kubevirt.io/ssse3", GW_OP_DOES_NOT_EXIST);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* S11: reject labels go into every user term; a node failing both
 * terms gets one reason per term, each naming a failing requirement */
static void test_s11_forbid_with_user_affinity(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_node *n = fx_node(c, "n", BASE "zone=a,cpu-feature.node.kubevirt.io/svm");
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	fx_affinity(&v->spec.affinity, 0, "zone", GW_OP_IN, "a");
	fx_affinity(&v->spec.affinity, 1, "zone", GW_OP_IN, "b");
	fx_feature(v, "svm", GW_POLICY_FORBID);

	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	gw_sched_launch_selector(c, v, &sel, &aff);
	assert_int_equal(aff.n, 2);
	for (size_t t = 0; t < 2; t++) {
		assert_int_equal(aff.terms[t].n, 3);
		assert_requirement(&aff.terms[t].reqs[0], "zone", GW_OP_IN);
		assert_requirement(&aff.terms[t].reqs[1], "node-labeller.kubevirt.io/obsolete-host-model",
				   GW_OP_DOES_NOT_EXIST);
		assert_requirement(&aff.terms[t].reqs[2], "cpu-feature.node.kubevirt.io/svm", GW_OP_DOES_NOT_EXIST);
	}
	/* the VMI's own affinity is not modified */
	assert_int_equal(v->spec.affinity.terms[0].n, 1);

	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_node_check(c, v, n, NULL, &sel, &aff, NULL, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(fx_count(&r, GW_R_AFFINITY), 2);
	assert_string_equal(r.v[0].subject, "cpu-feature.node.kubevirt.io/svm DoesNotExist");
	assert_string_equal(r.v[1].subject, "zone In [b]");
	assert_non_null(strstr(r.v[1].message, "cpu-feature.node.kubevirt.io/svm DoesNotExist"));
	gw_reasons_fini(&r);

	/* zone=b without svm satisfies the second term */
	struct gw_node *ok = fx_node(c, "ok", BASE "zone=b");
	gw_sched_node_check(c, v, ok, NULL, &sel, &aff, NULL, &r);
	assert_int_equal(r.n, 0);
	gw_reasons_fini(&r);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* S12: host-passthrough: feature selectors, no model selector; target
 * adds the source vendor */
static void test_s12_host_passthrough(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "src", BASE "cpu-vendor.node.kubevirt.io/Intel,host-model-cpu.node.kubevirt.io/Skylake");
	struct gw_vmi *v = fx_vmi(c, "vm", "src");
	v->spec.cpu_model = gw_strdup("host-passthrough");
	fx_feature(v, "vmx", GW_POLICY_REQUIRE);

	struct gw_map sel = {0};
	gw_sched_launch_selector(c, v, &sel, NULL);
	assert_non_null(gw_map_get(&sel, "cpu-feature.node.kubevirt.io/vmx"));
	assert_int_equal(count_prefix(&sel, "cpu-model"), 0);
	gw_map_fini(&sel);

	struct gw_node_affinity aff = {0};
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, &aff, NULL), 0);
	assert_non_null(gw_map_get(&sel, "cpu-feature.node.kubevirt.io/vmx"));
	assert_string_equal(gw_map_get(&sel, "cpu-vendor.node.kubevirt.io/Intel"), "true");
	assert_int_equal(count_prefix(&sel, "cpu-model"), 0);
	assert_int_equal(gw_sched_selector_source(c, v), GW_SELECTOR_NONE);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

#define SKYLAKE_NODE BASE "host-model-cpu.node.kubevirt.io/Skylake-Client-IBRS," \
	"host-model-required-features.node.kubevirt.io/ds,host-model-required-features.node.kubevirt.io/acpi," \
	"host-model-required-features.node.kubevirt.io/ss,cpu-vendor.node.kubevirt.io/Intel"

/* 2.5: host-model target from the source node's labels */
static void test_host_model_from_source_node(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "src", SKYLAKE_NODE);
	struct gw_vmi *v = fx_vmi(c, "vm", "src");
	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, &aff, NULL), 0);
	assert_map_exactly(&sel, "kubevirt.io/schedulable=true,kubernetes.io/arch=amd64,machine-type.node.kubevirt.io/q35,"
			   "cpu-model-migration.node.kubevirt.io/Skylake-Client-IBRS,cpu-feature.node.kubevirt.io/ds,"
			   "cpu-feature.node.kubevirt.io/acpi,cpu-feature.node.kubevirt.io/ss,cpu-vendor.node.kubevirt.io/Intel");
	assert_int_equal(gw_sched_selector_source(c, v), GW_SELECTOR_SOURCE_NODE);
	assert_string_equal(gw_selector_source_name(GW_SELECTOR_SOURCE_NODE), "source-node-labels");
	/* the launch affinity is kept */
	assert_int_equal(aff.n, 1);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* 2.5 QUIRK: a host-model VMI declaring a required feature is treated as
 * already migrated on its first migration */
static void test_host_model_quirk(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "src", SKYLAKE_NODE);
	struct gw_vmi *v = fx_vmi(c, "vm", "src");
	fx_feature(v, "pcid", GW_POLICY_REQUIRE);
	struct gw_map sel = {0};
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, NULL, NULL), 0);
	assert_non_null(gw_map_get(&sel, "cpu-feature.node.kubevirt.io/pcid"));
	assert_int_equal(count_prefix(&sel, "cpu-feature.node.kubevirt.io/"), 1);
	assert_int_equal(count_prefix(&sel, "cpu-model-migration.node.kubevirt.io/"), 0);
	assert_int_equal(gw_sched_selector_source(c, v), GW_SELECTOR_REMEMBERED);
	gw_map_fini(&sel);
	fx_free(c);
}

/* 2.5 step 6: a cpu-vendor key already there is not overwritten */
static void test_vendor_pin_kept(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "src", SKYLAKE_NODE);
	struct gw_vmi *v = fx_vmi(c, "vm", "src");
	gw_map_set(&v->spec.node_selector, "cpu-vendor.node.kubevirt.io/AMD", "true");
	struct gw_map sel = {0};
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, NULL, NULL), 0);
	assert_int_equal(count_prefix(&sel, "cpu-vendor.node.kubevirt.io/"), 1);
	assert_non_null(gw_map_get(&sel, "cpu-vendor.node.kubevirt.io/AMD"));
	gw_map_fini(&sel);

	/* source node unknown: the vendor pin cannot be computed */
	struct gw_vmi *lost = fx_vmi(c, "lost", "gone");
	lost->spec.cpu_model = gw_strdup("Haswell");
	struct gw_err *err = NULL;
	assert_int_equal(gw_sched_target_selector(c, lost, NULL, &sel, NULL, &err), -ENOENT);
	assert_string_equal(gw_err_msg(err), "node \"gone\" associated with vmi \"lost\" does not exist");
	gw_err_free(err);
	gw_map_fini(&sel);
	fx_free(c);
}

/* S17: addedNodeSelector only restricts; the VMI's values win */
static void test_s17_added_node_selector(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "src", SKYLAKE_NODE);
	struct gw_vmi *v = fx_vmi(c, "vm", "src");
	gw_map_set(&v->spec.node_selector, "zone", "b");
	struct gw_vmim *m = fx_vmim(c, "mig", "vm", NULL);
	fx_labels(&m->added_node_selector, "zone=a,rack=r1,kubevirt.io/schedulable=false");
	struct gw_map sel = {0};
	assert_int_equal(gw_sched_target_selector(c, v, m, &sel, NULL, NULL), 0);
	assert_string_equal(gw_map_get(&sel, "zone"), "b");
	assert_string_equal(gw_map_get(&sel, "rack"), "r1");
	assert_string_equal(gw_map_get(&sel, "kubevirt.io/schedulable"), "true");
	gw_map_fini(&sel);
	fx_free(c);
}

/* S18: the source node has no host-model-cpu label */
static void test_s18_no_host_model_label(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "src", BASE "cpu-vendor.node.kubevirt.io/Intel");
	struct gw_vmi *v = fx_vmi(c, "vm", "src");
	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	struct gw_err *err = NULL;
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, &aff, &err), -ENOENT);
	assert_string_equal(gw_err_msg(err),
			    "unable to locate host cpu model, does not contain label \"host-model-cpu.node.kubevirt.io/\" with information");
	gw_err_free(err);
	assert_int_equal(aff.n, 0);

	/* and the VM is reported as not migratable for that reason */
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, gw_rules_get(GW_RULES_KUBEVIRT), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_NO_HOST_MODEL_LABEL);
	gw_reasons_fini(&r);
	gw_map_fini(&sel);
	fx_free(c);
}

/* Seed 000: remembered selectors after a first migration need fpu; node B
 * lacks it. A common model (IvyBridge) frees the VM. */
static void test_seed_000(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_node *a = fx_node(c, "node-a", BASE "cpu-model-migration.node.kubevirt.io/SierraForest,"
				    "cpu-feature.node.kubevirt.io/fpu,cpu-feature.node.kubevirt.io/vme,"
				    "cpu-model.node.kubevirt.io/IvyBridge,host-model-cpu.node.kubevirt.io/SierraForest,"
				    "cpu-vendor.node.kubevirt.io/Intel");
	struct gw_node *b = fx_node(c, "node-b", BASE "cpu-model-migration.node.kubevirt.io/SierraForest,"
				    "cpu-feature.node.kubevirt.io/vme,cpu-model.node.kubevirt.io/IvyBridge,"
				    "host-model-cpu.node.kubevirt.io/SierraForest,cpu-vendor.node.kubevirt.io/Intel");
	struct gw_vmi *v = fx_vmi(c, "vm", "node-a");
	v->has_launcher_selector = true;
	fx_labels(&v->launcher_selector, "kubevirt.io/schedulable=true,cpu-model-migration.node.kubevirt.io/SierraForest,"
		  "cpu-feature.node.kubevirt.io/fpu,cpu-feature.node.kubevirt.io/vme");

	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, &aff, NULL), 0);
	assert_int_equal(gw_sched_selector_source(c, v), GW_SELECTOR_REMEMBERED);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_node_check(c, v, b, a, &sel, &aff, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_SELECTOR_MISSING);
	assert_string_equal(r.v[0].subject, "cpu-feature.node.kubevirt.io/fpu");
	gw_reasons_fini(&r);
	/* the source is never a target */
	gw_sched_node_check(c, v, a, a, &sel, &aff, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_SOURCE_NODE);
	gw_reasons_fini(&r);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);

	/* cpu.model IvyBridge in the VM spec wins over the cluster cpuModel:
	 * only cpu-model.node.kubevirt.io/IvyBridge (+ vendor pin) remains of
	 * the CPU selectors, and node B is eligible */
	fx_kubevirt(c)->cpu_model = gw_strdup("SierraForest");
	v->spec.cpu_model = gw_strdup("IvyBridge");
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, &aff, NULL), 0);
	assert_map_exactly(&sel, "kubevirt.io/schedulable=true,kubernetes.io/arch=amd64,machine-type.node.kubevirt.io/q35,"
			   "cpu-model.node.kubevirt.io/IvyBridge,cpu-vendor.node.kubevirt.io/Intel");
	assert_int_equal(gw_sched_selector_source(c, v), GW_SELECTOR_NAMED_MODEL);
	gw_sched_node_check(c, v, b, a, &sel, &aff, NULL, &r);
	assert_int_equal(r.n, 0);
	gw_reasons_fini(&r);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	fx_free(c);
}

/* Seed 002: host-model cannot go from XYZ to ABC; model 123 can */
static void test_seed_002(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_node *a = fx_node(c, "A", BASE "host-model-cpu.node.kubevirt.io/XYZ,"
				    "cpu-model-migration.node.kubevirt.io/XYZ,cpu-model.node.kubevirt.io/123");
	struct gw_node *b = fx_node(c, "B", BASE "host-model-cpu.node.kubevirt.io/ABC,"
				    "cpu-model-migration.node.kubevirt.io/ABC,cpu-model.node.kubevirt.io/123");
	struct gw_vmi *v = fx_vmi(c, "vm", "A");
	struct gw_map sel = {0};
	struct gw_reasons r;
	gw_reasons_init(&r);
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, NULL, NULL), 0);
	gw_sched_node_check(c, v, b, a, &sel, NULL, NULL, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_SELECTOR_MISSING);
	assert_string_equal(r.v[0].subject, "cpu-model-migration.node.kubevirt.io/XYZ");
	gw_reasons_fini(&r);
	gw_map_fini(&sel);

	v->spec.cpu_model = gw_strdup("123");
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, NULL, NULL), 0);
	gw_sched_node_check(c, v, b, a, &sel, NULL, NULL, &r);
	assert_int_equal(r.n, 0);
	gw_map_fini(&sel);
	fx_free(c);
}

/* 2.2 steps 3-4: cluster-wide selectors, overridden by the VMI's */
static void test_cluster_node_selectors(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_labels(&fx_kubevirt(c)->cluster_node_selectors, "pool=vms,zone=a");
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	gw_map_set(&v->spec.node_selector, "zone", "b");
	v->spec.dedicated_cpu = true;
	struct gw_map sel = {0};
	gw_sched_launch_selector(c, v, &sel, NULL);
	assert_string_equal(gw_map_get(&sel, "pool"), "vms");
	assert_string_equal(gw_map_get(&sel, "zone"), "b");
	assert_string_equal(gw_map_get(&sel, "kubevirt.io/cpumanager"), "true");
	gw_map_fini(&sel);
	fx_free(c);
}

/* 2.2 steps 8, 10, 11: canonical machine type, TSC frequency, realtime,
 * SEV/SNP, TDX */
static void test_launch_extras(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", NULL);
	v->spec.machine_type = gw_strdup("q35");
	v->spec.sev_snp = true;
	v->spec.tdx = true;
	v->tsc_frequency = gw_strdup("4008012000");
	v->machine_type_status = gw_strdup("pc-q35-rhel9.6.0");
	v->spec.realtime = true;
	struct gw_map sel = {0};
	gw_sched_launch_selector(c, v, &sel, NULL);
	assert_non_null(gw_map_get(&sel, "machine-type.node.kubevirt.io/pc-q35-rhel9.6.0"));
	assert_null(gw_map_get(&sel, "machine-type.node.kubevirt.io/q35"));
	assert_non_null(gw_map_get(&sel, "kubevirt.io/sev"));
	assert_non_null(gw_map_get(&sel, "kubevirt.io/sev-snp"));
	assert_non_null(gw_map_get(&sel, "kubevirt.io/tdx"));
	assert_non_null(gw_map_get(&sel, "kubevirt.io/realtime"));
	/* no TSC need yet: no TSC selector */
	assert_int_equal(count_prefix(&sel, "scheduling.node.kubevirt.io/"), 0);
	gw_map_fini(&sel);
	/* invtsc required: the frequency from the topology hint */
	fx_feature(v, "invtsc", GW_POLICY_REQUIRE);
	gw_sched_launch_selector(c, v, &sel, NULL);
	assert_string_equal(gw_map_get(&sel, "scheduling.node.kubevirt.io/tsc-frequency-4008012000"), "true");
	gw_map_fini(&sel);
	fx_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s6_default_model),
		cmocka_unit_test(test_s7_cluster_model),
		cmocka_unit_test(test_s8_vmi_model_wins),
		cmocka_unit_test(test_s9_arm64),
		cmocka_unit_test(test_s10_feature_policies),
		cmocka_unit_test(test_s11_forbid_with_user_affinity),
		cmocka_unit_test(test_s12_host_passthrough),
		cmocka_unit_test(test_host_model_from_source_node),
		cmocka_unit_test(test_host_model_quirk),
		cmocka_unit_test(test_vendor_pin_kept),
		cmocka_unit_test(test_s17_added_node_selector),
		cmocka_unit_test(test_s18_no_host_model_label),
		cmocka_unit_test(test_seed_000),
		cmocka_unit_test(test_seed_002),
		cmocka_unit_test(test_cluster_node_selectors),
		cmocka_unit_test(test_launch_extras),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
