/* SPDX-License-Identifier: Apache-2.0 */
/* The placement engine on decoded YAML (tests/data/sched/): the seed
 * stories 000, 002 and 003, S17 and S18, end to end through the api
 * decoders. Expectations come from the source documents and the spec. */
#include <string.h>

#include "helpers.h"
#include "godwit/sched.h"

static struct gw_cluster *load(const char *name)
{
	char *rel = gw_asprintf("sched/%s", name);
	char *path = test_data_path(rel);
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	if (gw_cluster_load(c, path, &err) < 0)
		fail_msg("%s: %s", path, gw_err_msg(err));
	gw_cluster_link(c);
	free(rel);
	free(path);
	return c;
}

static struct gw_vmi *vmi(struct gw_cluster *c, const char *ns, const char *name)
{
	struct gw_vmi *v = gw_cluster_vmi(c, ns, name);
	assert_non_null(v);
	return v;
}

static size_t count_prefix(const struct gw_map *m, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		n += gw_str_has_prefix(m->keys[i], prefix);
	return n;
}

/* Reasons node `target` cannot take the VMI as a migration target. */
static void target_reasons(struct gw_cluster *c, struct gw_vmi *v, const char *target, struct gw_reasons *r)
{
	struct gw_map sel;
	struct gw_node_affinity aff = {0};
	struct gw_err *err = NULL;
	gw_map_init(&sel);
	if (gw_sched_target_selector(c, v, NULL, &sel, &aff, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	gw_reasons_init(r);
	gw_sched_node_check(c, v, gw_cluster_node(c, target), gw_cluster_node(c, v->node_name), &sel, &aff, NULL, r);
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
}

static void test_seed_000(void **state)
{
	struct gw_cluster *c = load("seed000.yaml");
	struct gw_vmi *hm = vmi(c, "default", "host-model-vm");
	struct gw_reasons r;
	assert_true(hm->has_launcher_selector);
	target_reasons(c, hm, "node-b", &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(gw_reason_name(r.v[0].code), "NodeSelectorMismatch");
	assert_string_equal(r.v[0].subject, "cpu-feature.node.kubevirt.io/fpu");
	gw_reasons_fini(&r);

	/* IvyBridge in the VM spec wins over the cluster cpuModel Haswell;
	 * only the model selector (and the vendor pin) is left of the CPU
	 * selectors; node B is eligible */
	struct gw_vmi *ivy = vmi(c, "default", "ivybridge-vm");
	enum gw_model_source src;
	assert_string_equal(gw_sched_cpu_model(c, &ivy->spec, &src), "IvyBridge");
	assert_int_equal(src, GW_MODEL_FROM_VM);
	struct gw_map sel;
	gw_map_init(&sel);
	assert_int_equal(gw_sched_target_selector(c, ivy, NULL, &sel, NULL, NULL), 0);
	assert_string_equal(gw_map_get(&sel, "cpu-model.node.kubevirt.io/IvyBridge"), "true");
	assert_string_equal(gw_map_get(&sel, "cpu-vendor.node.kubevirt.io/Intel"), "true");
	assert_int_equal(count_prefix(&sel, "cpu-"), 2);
	gw_map_fini(&sel);
	target_reasons(c, ivy, "node-b", &r);
	assert_int_equal(r.n, 0);
	gw_reasons_fini(&r);

	/* VirtualMachine templates: the VM's model, else the cluster's */
	struct gw_vm *vm = gw_cluster_vm(c, "default", "vm-ivy");
	assert_non_null(vm);
	assert_string_equal(gw_sched_cpu_model(c, &vm->spec, &src), "IvyBridge");
	assert_int_equal(src, GW_MODEL_FROM_VM);
	vm = gw_cluster_vm(c, "default", "vm-plain");
	assert_non_null(vm);
	assert_string_equal(gw_sched_cpu_model(c, &vm->spec, &src), "Haswell");
	assert_int_equal(src, GW_MODEL_FROM_CLUSTER);
	gw_cluster_free(c);
}

static void test_seed_002(void **state)
{
	struct gw_cluster *c = load("seed002.yaml");
	struct gw_reasons r;
	target_reasons(c, vmi(c, "default", "host-model-vm"), "b", &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_SELECTOR_MISSING);
	assert_string_equal(r.v[0].subject, "cpu-model-migration.node.kubevirt.io/XYZ");
	gw_reasons_fini(&r);
	target_reasons(c, vmi(c, "default", "model-123-vm"), "b", &r);
	assert_int_equal(r.n, 0);
	gw_reasons_fini(&r);

	/* the five blockers, all reported under the Godwit rules */
	struct gw_vmi *b = vmi(c, "default", "blocked-vm");
	gw_reasons_init(&r);
	gw_sched_migratable(c, b, gw_rules_get(GW_RULES_GODWIT), &r);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.v[0].code, GW_R_INTERFACE);
	assert_int_equal(r.v[1].code, GW_R_HOST_DEVICE);
	assert_int_equal(r.v[2].code, GW_R_CDROM);
	assert_int_equal(r.v[3].code, GW_R_CONTAINERDISK);
	assert_int_equal(r.v[4].code, GW_R_DISKS);
	assert_string_equal(r.v[4].message,
			    "cannot migrate VMI: PVC data is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)");
	gw_reasons_fini(&r);
	/* KubeVirt's rules: CD-ROM and container disk are not blockers */
	gw_sched_migratable(c, b, gw_rules_get(GW_RULES_KUBEVIRT), &r);
	assert_int_equal(r.n, 3);
	gw_reasons_fini(&r);
	assert_string_equal(gw_sched_migration_method(c, b), "BlockMigration");

	/* 800 s per GiB: 8 GiB -> 6400 s; KubeVirt: 8Gi -> 9 GB -> 1350 s */
	struct gw_migration_settings s;
	gw_sched_settings(c, vmi(c, "default", "host-model-vm"), gw_rules_get(GW_RULES_GODWIT), &s);
	assert_int_equal(s.completion_deadline_s, 6400);
	gw_sched_settings(c, vmi(c, "default", "host-model-vm"), gw_rules_get(GW_RULES_KUBEVIRT), &s);
	assert_int_equal(s.completion_deadline_s, 1350);
	gw_cluster_free(c);
}

static void test_seed_003(void **state)
{
	struct gw_cluster *c = load("seed003.yaml");
	struct gw_vmi *v = vmi(c, "shop", "db");
	struct gw_migration_settings s;

	gw_sched_settings(c, v, gw_rules_get(GW_RULES_KUBEVIRT), &s);
	assert_string_equal(s.policy, "zz-vmi");
	assert_int_equal(s.config.completion_timeout_per_gib, 300);
	assert_int_equal(s.bandwidth_mib_s, 64);
	assert_int_equal(s.completion_deadline_s, 300 * 9);

	gw_sched_settings(c, v, gw_rules_get(GW_RULES_GODWIT), &s);
	assert_string_equal(s.policy, "yy-ns");
	assert_true(s.config.allow_post_copy);
	assert_int_equal(s.config.allow_workload_disruption, 1);   /* shim */
	assert_int_equal(s.config.completion_timeout_per_gib, 800);
	assert_int_equal(s.completion_deadline_s, 6400);
	assert_int_equal(s.bandwidth_mib_s, 0);
	gw_cluster_free(c);
}

static void test_s17_s18(void **state)
{
	struct gw_cluster *c = load("s17_s18.yaml");
	struct gw_vmi *zoned = vmi(c, "default", "zoned");
	assert_true(c->n_vmims == 1);
	struct gw_map sel;
	gw_map_init(&sel);
	assert_int_equal(gw_sched_target_selector(c, zoned, c->vmims[0], &sel, NULL, NULL), 0);
	assert_string_equal(gw_map_get(&sel, "zone"), "b");
	assert_string_equal(gw_map_get(&sel, "rack"), "r1");
	assert_string_equal(gw_map_get(&sel, "kubevirt.io/schedulable"), "true");
	assert_string_equal(gw_map_get(&sel, "cpu-model-migration.node.kubevirt.io/Skylake-Client-IBRS"), "true");
	assert_string_equal(gw_map_get(&sel, "cpu-feature.node.kubevirt.io/ds"), "true");
	gw_map_fini(&sel);

	struct gw_err *err = NULL;
	gw_map_init(&sel);
	assert_int_equal(gw_sched_target_selector(c, vmi(c, "default", "stuck"), NULL, &sel, NULL, &err), -ENOENT);
	assert_string_equal(gw_err_msg(err),
			    "unable to locate host cpu model, does not contain label \"host-model-cpu.node.kubevirt.io/\" with information");
	gw_err_free(err);
	gw_map_fini(&sel);
	gw_cluster_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_000),
		cmocka_unit_test(test_seed_002),
		cmocka_unit_test(test_seed_003),
		cmocka_unit_test(test_s17_s18),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
