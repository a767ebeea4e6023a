/* SPDX-License-Identifier: Apache-2.0 */
/* Every kind decodes, field by field, from tests/data/api/cluster (a
 * directory with a subdirectory, multi-document YAML). */
#include "helpers.h"

#include <string.h>

#include "godwit/api.h"

static struct gw_cluster *load_dir(void)
{
	_cleanup_free_ char *dir = test_data_path("api/cluster");
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	int r = gw_cluster_load(c, dir, &err);
	if (r < 0)
		fail_msg("load: %s", gw_err_msg(err));
	gw_cluster_link(c);
	return c;
}

static void test_directory(void **state)
{
	(void)state;
	struct gw_cluster *c = load_dir();
	assert_int_equal(c->n_nodes, 2);
	assert_int_equal(c->n_vms, 1);
	assert_int_equal(c->n_vmis, 1);
	assert_int_equal(c->n_vmims, 1);
	assert_int_equal(c->n_policies, 1);
	assert_int_equal(c->n_namespaces, 1);
	assert_non_null(c->kubevirt);
	assert_int_equal(c->n_docs, 8);
	/* sorted: nodes.yaml, sub/policies.yaml, vms.yaml */
	assert_string_equal(c->nodes[0]->meta.name, "node-a");
	assert_ptr_equal(gw_cluster_node(c, "node-b"), c->nodes[1]);
	assert_null(gw_cluster_node(c, "node-c"));
	assert_ptr_equal(gw_cluster_vmi(c, "default", "web1"), c->vmis[0]);
	assert_null(gw_cluster_vmi(c, "prod", "web1"));
	assert_ptr_equal(gw_cluster_vm(c, "prod", "db1"), c->vms[0]);
	assert_ptr_equal(gw_cluster_namespace(c, "prod"), c->namespaces[0]);
	assert_int_equal(c->n_findings, 0);
	gw_cluster_free(c);
}

static void test_node(void **state)
{
	(void)state;
	struct gw_cluster *c = load_dir();
	struct gw_node *a = gw_cluster_node(c, "node-a"), *b = gw_cluster_node(c, "node-b");
	assert_string_equal(gw_map_get(&a->meta.labels, "kubevirt.io/schedulable"), "true");
	assert_int_equal(a->meta.labels.n, 4);
	assert_string_equal(gw_map_get(&a->meta.annotations, "note"), "first");
	assert_null(a->meta.namespace);
	assert_false(a->unschedulable);
	assert_int_equal(a->n_taints, 1);
	assert_string_equal(a->taints[0].key, "dedicated");
	assert_string_equal(a->taints[0].value, "vms");
	assert_string_equal(a->taints[0].effect, "NoSchedule");
	assert_int_equal(a->cpu_millis, 63500);                     /* allocatable over capacity */
	assert_int_equal(a->memory_bytes, 250LL << 30);
	assert_true(b->unschedulable);
	assert_int_equal(b->cpu_millis, 32000);                     /* capacity, a YAML number */
	assert_int_equal(b->memory_bytes, 137438953472LL);
	assert_non_null(a->doc);
	gw_cluster_free(c);
}

static void test_vmi(void **state)
{
	(void)state;
	struct gw_cluster *c = load_dir();
	struct gw_vmi *v = gw_cluster_vmi(c, "default", "web1");
	const struct gw_vmi_spec *s = &v->spec;
	assert_string_equal(v->meta.uid, "11111111-aaaa-bbbb-cccc-000000000001");
	assert_string_equal(s->cpu_model, "Cascadelake-Server");
	assert_true(s->dedicated_cpu);
	assert_string_equal(s->machine_type, "q35");
	assert_string_equal(gw_map_get(&s->node_selector, "disk"), "ssd");
	assert_int_equal(s->affinity.n, 2);
	assert_int_equal(s->affinity.terms[0].n, 2);
	assert_int_equal(s->affinity.terms[0].reqs[0].op, GW_OP_IN);
	assert_int_equal(s->affinity.terms[0].reqs[0].values.n, 2);
	assert_int_equal(s->affinity.terms[0].reqs[1].op, GW_OP_DOES_NOT_EXIST);
	assert_int_equal(s->affinity.terms[1].reqs[0].op, GW_OP_GT);
	assert_int_equal(s->n_tolerations, 2);
	assert_string_equal(s->tolerations[0].op, "Equal");
	assert_string_equal(s->tolerations[0].effect, "NoSchedule");
	assert_null(s->tolerations[1].key);
	assert_string_equal(s->tolerations[1].op, "Exists");
	assert_string_equal(s->eviction_strategy, "LiveMigrate");
	assert_int_equal(s->cpu_request_millis, 1500);
	assert_int_equal(s->memory_request_bytes, 1610612736);
	assert_int_equal(s->memory_guest_bytes, 0);
	assert_true(s->sev);
	assert_false(s->sev_snp);
	assert_false(s->tdx);
	assert_true(s->hyperv_reenlightenment);    /* present, enabled unset: on */
	assert_false(s->hyperv_passthrough);       /* enabled: false */
	assert_int_equal(s->n_interfaces, 2);
	assert_int_equal(s->interfaces[0].binding, GW_BINDING_BRIDGE);
	assert_int_equal(s->interfaces[1].binding, GW_BINDING_PLUGIN);
	assert_string_equal(s->interfaces[1].plugin, "passt");
	assert_int_equal(s->n_networks, 2);
	assert_true(s->networks[0].pod);
	assert_false(s->networks[1].pod);
	assert_int_equal(s->n_disks, 2);
	assert_int_equal(s->disks[0].type, GW_DISK_CDROM);
	assert_true(s->disks[0].readonly);
	assert_int_equal(s->disks[1].type, GW_DISK_LUN);
	assert_int_equal(s->n_host_devices, 1);
	assert_int_equal(s->n_gpus, 2);
	assert_int_equal(s->n_volumes, 4);
	assert_int_equal(s->volumes[0].kind, GW_VOL_CONTAINERDISK);
	assert_int_equal(s->volumes[1].kind, GW_VOL_PVC);
	assert_string_equal(s->volumes[1].claim, "web1-data");
	assert_int_equal(s->volumes[2].kind, GW_VOL_HOSTDISK);
	assert_true(s->volumes[2].hostdisk_shared);
	assert_int_equal(s->volumes[3].kind, GW_VOL_CLOUDINIT);
	assert_string_equal(v->phase, "Running");
	assert_string_equal(v->node_name, "node-a");
	assert_string_equal(v->tsc_frequency, "2400000000");
	assert_string_equal(v->migration_uid, "mig-1");
	assert_int_equal(v->migrated_volumes.n, 1);
	assert_string_equal(gw_map_get(&v->pvc_access_modes, "web1-data"), "ReadWriteMany");
	assert_false(v->has_launcher_selector);
	gw_cluster_free(c);
}

static void test_vm_vmim_policy_kubevirt(void **state)
{
	(void)state;
	struct gw_cluster *c = load_dir();
	struct gw_vm *vm = c->vms[0];
	assert_string_equal(vm->run_strategy, "Always");
	assert_string_equal(gw_map_get(&vm->template_labels, "workload"), "db");
	assert_string_equal(vm->spec.cpu_model, "host-model");
	assert_int_equal(vm->spec.n_features, 2);
	assert_int_equal(vm->spec.features[0].policy, GW_POLICY_REQUIRE);
	assert_int_equal(vm->spec.features[1].policy, GW_POLICY_DISABLE);
	assert_int_equal(vm->spec.memory_request_bytes, 8LL << 30);   /* from memory.guest */
	assert_int_equal(vm->spec.memory_guest_bytes, 8LL << 30);
	assert_int_equal(vm->spec.volumes[0].kind, GW_VOL_DATAVOLUME);
	assert_string_equal(vm->spec.volumes[0].claim, "db1-root");
	assert_int_equal(vm->spec.interfaces[0].binding, GW_BINDING_MASQUERADE);

	struct gw_vmim *m = c->vmims[0];
	assert_string_equal(m->vmi_name, "web1");
	assert_string_equal(m->priority, "user-triggered");
	assert_string_equal(gw_map_get(&m->added_node_selector, "zone"), "b");
	assert_string_equal(m->phase, "Running");

	struct gw_policy *p = c->policies[0];
	assert_null(p->meta.namespace);
	assert_true(p->has_selectors && p->has_ns_selector && p->has_vmi_selector);
	assert_string_equal(gw_map_get(&p->ns_selector, "tier"), "gold");
	assert_true(p->has_allow_auto_converge && p->allow_auto_converge);
	assert_true(p->has_bandwidth);
	assert_int_equal(p->bandwidth_bytes, 1LL << 30);
	assert_true(p->has_completion_timeout);
	assert_int_equal(p->completion_timeout_per_gib, 300);
	assert_false(p->has_max_downtime);
	assert_true(p->has_allow_post_copy);
	assert_false(p->allow_post_copy);
	assert_false(p->has_allow_workload_disruption);

	struct gw_kubevirt *k = c->kubevirt;
	assert_string_equal(k->cpu_model, "Skylake-Server");
	assert_true(k->obsolete_configured);
	assert_int_equal(k->obsolete.n, 2);   /* qemu64: false is not obsolete */
	assert_string_equal(k->obsolete.v[0], "486");
	assert_string_equal(k->eviction_strategy, "LiveMigrate");
	assert_int_equal(k->migrations.parallel_migrations_per_cluster, 10);
	assert_int_equal(k->migrations.parallel_outbound_migrations_per_node, 2);
	assert_int_equal(k->migrations.bandwidth_bytes, 64LL << 20);
	assert_false(k->migrations.completion_timeout_set);
	assert_int_equal(k->migrations.completion_timeout_per_gib, 150);
	assert_int_equal(k->migrations.progress_timeout_s, 150);
	assert_int_equal(k->migrations.max_downtime_ms, 900);
	assert_int_equal(k->migrations.allow_workload_disruption, 0);
	assert_int_equal(k->feature_gates.n, 2);
	assert_string_equal(gw_map_get(&k->cluster_node_selectors, "kubevirt.io/schedulable"), "true");
	gw_cluster_free(c);
}

static void test_defaults(void **state)
{
	(void)state;
	struct gw_migration_config mc;
	gw_migration_config_defaults(&mc);
	assert_int_equal(mc.parallel_migrations_per_cluster, 5);
	assert_int_equal(mc.parallel_outbound_migrations_per_node, 2);
	assert_int_equal(mc.bandwidth_bytes, 0);
	assert_int_equal(mc.completion_timeout_per_gib, 150);
	assert_false(mc.completion_timeout_set);
	assert_int_equal(mc.progress_timeout_s, 150);
	assert_int_equal(mc.max_downtime_ms, 900);
	assert_int_equal(mc.allow_workload_disruption, -1);

	/* A KubeVirt CR that sets the completion timeout says so. */
	_cleanup_json_ json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:{s:i}}}}", "apiVersion", "kubevirt.io/v1",
					       "kind", "KubeVirt", "metadata", "name", "kv", "spec", "configuration",
					       "migrations", "completionTimeoutPerGiB", 800);
	struct gw_kubevirt *k;
	assert_int_equal(gw_kubevirt_decode(doc, &k, NULL), 0);
	assert_true(k->migrations.completion_timeout_set);
	assert_int_equal(k->migrations.completion_timeout_per_gib, 800);
	assert_int_equal(k->migrations.parallel_migrations_per_cluster, 5);
	gw_kubevirt_free(k);
}

static void test_map(void **state)
{
	(void)state;
	struct gw_map m, copy;
	gw_map_init(&m);
	gw_map_set(&m, "b", "2");
	gw_map_set(&m, "a", "1");
	gw_map_set(&m, "c", "3");
	gw_map_set(&m, "b", "two");
	assert_int_equal(m.n, 3);
	assert_string_equal(m.keys[0], "a");
	assert_string_equal(m.keys[2], "c");
	assert_string_equal(gw_map_get(&m, "b"), "two");
	/* lower bound: the first key at or after, n past the last */
	assert_int_equal(gw_map_lower_bound(&m, ""), 0);
	assert_int_equal(gw_map_lower_bound(&m, "b"), 1);
	assert_int_equal(gw_map_lower_bound(&m, "bb"), 2);
	assert_int_equal(gw_map_lower_bound(&m, "d"), 3);
	assert_true(gw_map_del(&m, "a"));
	assert_false(gw_map_del(&m, "a"));
	assert_null(gw_map_get(&m, "a"));
	gw_map_copy(&copy, &m);
	gw_map_fini(&m);
	assert_string_equal(gw_map_get(&copy, "c"), "3");
	_cleanup_json_ json_t *j = gw_map_to_json(&copy);
	assert_string_equal(json_string_value(json_object_get(j, "b")), "two");
	gw_map_fini(&copy);
	struct gw_map back;
	assert_int_equal(gw_map_from_json(j, "x", &back, NULL), 0);
	assert_int_equal(back.n, 2);
	gw_map_fini(&back);
}

static void test_kinds(void **state)
{
	(void)state;
	_cleanup_json_ json_t *a = json_pack("{s:s, s:s}", "kind", "VirtualMachineInstance", "apiVersion", "kubevirt.io/v1");
	_cleanup_json_ json_t *b = json_pack("{s:s, s:s}", "kind", "VirtualMachineInstance", "apiVersion", "v1");
	_cleanup_json_ json_t *n = json_pack("{s:s, s:s}", "kind", "Node", "apiVersion", "v1");
	_cleanup_json_ json_t *n2 = json_pack("{s:s, s:s}", "kind", "Node", "apiVersion", "apps/v1");
	_cleanup_json_ json_t *p = json_pack("{s:s}", "kind", "MigrationPolicy");
	assert_int_equal(gw_kind_from_doc(a), GW_KIND_VMI);
	assert_int_equal(gw_kind_from_doc(b), -1);
	assert_int_equal(gw_kind_from_doc(n), GW_KIND_NODE);
	assert_int_equal(gw_kind_from_doc(n2), -1);
	assert_int_equal(gw_kind_from_doc(p), GW_KIND_POLICY);
	assert_string_equal(gw_kind_name(GW_KIND_VMIM), "VirtualMachineInstanceMigration");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_vmi),
		cmocka_unit_test(test_vm_vmim_policy_kubevirt),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_kinds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
