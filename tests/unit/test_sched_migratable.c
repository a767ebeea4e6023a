/* SPDX-License-Identifier: Apache-2.0 */
/* Migratability (kubevirt-behaviour.md 3.1, 3.2, 3.4; S20-S22, S29), the
 * Godwit rule set's five blockers (002), and node checks (selectors,
 * cordon, taints, capacity). */
#include "sched_fixture.h"

#define BASE "kubevirt.io/schedulable=true,kubernetes.io/arch=amd64,machine-type.node.kubevirt.io/q35,"
#define SRC_LABELS BASE "host-model-cpu.node.kubevirt.io/Skylake,cpu-model-migration.node.kubevirt.io/Skylake,cpu-vendor.node.kubevirt.io/Intel"

static const struct gw_rule_set *kubevirt_rules(void)
{
	return gw_rules_get(GW_RULES_KUBEVIRT);
}

static const struct gw_rule_set *godwit_rules(void)
{
	return gw_rules_get(GW_RULES_GODWIT);
}

static struct gw_cluster *cluster_with_vm(struct gw_vmi **v)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "src", SRC_LABELS);
	*v = fx_vmi(c, "vm1", "src");
	return c;
}

static void test_rules_table(void **state)
{
	const struct gw_rule_set *g = gw_rules_by_name("godwit"), *k = gw_rules_by_name("kubevirt");
	assert_ptr_equal(g, godwit_rules());
	assert_ptr_equal(k, kubevirt_rules());
	assert_null(gw_rules_by_name("openshift"));
	assert_true(g->cdrom_blocks && g->containerdisk_blocks);
	assert_false(k->cdrom_blocks || k->containerdisk_blocks);
	assert_int_equal(g->completion_timeout_per_gib, 800);
	assert_int_equal(k->completion_timeout_per_gib, 150);
	assert_string_equal(gw_reason_name(GW_R_INTERFACE), "InterfaceNotLiveMigratable");
	assert_string_equal(gw_reason_name(GW_R_DISKS), "DisksNotLiveMigratable");
	for (int i = 0; i < GW_R_COUNT; i++)
		assert_string_not_equal(gw_reason_name((enum gw_reason_code)i), "Unknown");
}

/* S20 */
static void test_s20_pod_bridge(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_pod_network(v, "default", GW_BINDING_BRIDGE);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_INTERFACE);
	assert_string_equal(r.v[0].message,
			    "cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network");
	gw_reasons_fini(&r);
	gw_map_set(&v->meta.annotations, "kubevirt.io/allow-pod-bridge-network-live-migration", "");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);
	gw_reasons_fini(&r);
	fx_free(c);
}

static void test_masquerade_ok(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_pod_network(v, "default", GW_BINDING_MASQUERADE);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, godwit_rules(), &r);
	assert_int_equal(r.n, 0);
	gw_reasons_fini(&r);
	fx_free(c);
}

/* S21 (a): RWO PVC */
static void test_s21a_rwo(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_volume(v, "data", GW_VOL_PVC, "data", GW_DISK_DISK, false);
	gw_map_set(&v->pvc_access_modes, "data", "ReadWriteOnce");
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_DISKS);
	assert_string_equal(r.v[0].message,
			    "cannot migrate VMI: PVC data is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)");
	gw_reasons_fini(&r);
	/* a migrated volume is not a blocker */
	gw_strv_push(&v->migrated_volumes, "data");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);
	gw_reasons_fini(&r);
	fx_free(c);
}

/* 3.2: PVC access unknown */
static void test_pvc_unknown(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_volume(v, "root", GW_VOL_PVC, "root-claim", GW_DISK_DISK, false);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].message,
			    "cannot migrate VMI: Unable to determine if PVC root-claim is shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)");
	gw_reasons_fini(&r);
	fx_free(c);
}

/* S21 (b): containerDisk + cloudInit: migratable by BlockMigration
 * (KubeVirt); the Godwit rules block the container disk */
static void test_s21b_containerdisk(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_volume(v, "root", GW_VOL_CONTAINERDISK, NULL, GW_DISK_DISK, false);
	fx_volume(v, "cloudinit", GW_VOL_CLOUDINIT, NULL, GW_DISK_DISK, false);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);
	assert_string_equal(gw_sched_migration_method(c, v), "BlockMigration");
	gw_sched_migratable(c, v, godwit_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_CONTAINERDISK);
	assert_string_equal(r.v[0].subject, "root");
	gw_reasons_fini(&r);
	fx_free(c);
}

/* S21 (c): RWX PVC + read-only CD-ROM container disk */
static void test_s21c_cdrom(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_volume(v, "data", GW_VOL_PVC, "data", GW_DISK_DISK, false);
	gw_map_set(&v->pvc_access_modes, "data", "ReadWriteMany");
	fx_volume(v, "iso", GW_VOL_CONTAINERDISK, NULL, GW_DISK_CDROM, true);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);
	assert_string_equal(gw_sched_migration_method(c, v), "LiveMigration");
	gw_sched_migratable(c, v, godwit_rules(), &r);
	assert_int_equal(r.n, 2);
	assert_true(fx_find(&r, GW_R_CDROM, "iso") >= 0);
	assert_true(fx_find(&r, GW_R_CONTAINERDISK, "iso") >= 0);
	gw_reasons_fini(&r);
	fx_free(c);
}

/* S21 (d): network before disks, and both reported */
static void test_s21d_order(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_volume(v, "data", GW_VOL_PVC, "data", GW_DISK_DISK, false);
	gw_map_set(&v->pvc_access_modes, "data", "ReadWriteOnce");
	fx_pod_network(v, "default", GW_BINDING_BRIDGE);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[0].code, GW_R_INTERFACE);
	assert_int_equal(r.v[1].code, GW_R_DISKS);
	gw_reasons_fini(&r);
	fx_free(c);
}

/* S22 */
static void test_s22_devices(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	struct gw_reasons r;
	gw_reasons_init(&r);
	v->spec.n_host_devices = 1;
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_HOST_DEVICE);
	assert_string_equal(r.v[0].message, "VMI specifies non-migratable generic PCI host device");
	gw_reasons_fini(&r);

	v->spec.n_host_devices = 0;
	v->spec.n_gpus = 1;
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].message, "VMI specifies a GPU but feature gate VGPULiveMigration is not enabled");
	gw_reasons_fini(&r);
	gw_strv_push(&fx_kubevirt(c)->feature_gates, "VGPULiveMigration");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);

	v->spec.n_gpus = 0;
	v->spec.sev_snp = true;
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_SEV);
	assert_string_equal(r.v[0].message, "VMI uses SEV");
	gw_reasons_fini(&r);

	v->spec.sev_snp = false;
	v->spec.hyperv_reenlightenment = true;
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_TSC);
	assert_string_equal(gw_reason_name(r.v[0].code), "NoTSCFrequencyNotLiveMigratable");
	gw_reasons_fini(&r);
	v->tsc_frequency = gw_strdup("4008012000");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);
	fx_free(c);
}

/* 002: all five Godwit blockers at once, every one reported; KubeVirt
 * keeps three of them (bridge, host device, RWO). Order: network, devices,
 * then the volumes in volume order. */
static void test_godwit_five_blockers(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_pod_network(v, "default", GW_BINDING_BRIDGE);
	v->spec.n_host_devices = 1;
	fx_volume(v, "iso", GW_VOL_PVC, "iso", GW_DISK_CDROM, true);
	gw_map_set(&v->pvc_access_modes, "iso", "ReadWriteMany");
	fx_volume(v, "root", GW_VOL_CONTAINERDISK, NULL, GW_DISK_DISK, false);
	fx_volume(v, "data", GW_VOL_PVC, "data", GW_DISK_DISK, false);
	gw_map_set(&v->pvc_access_modes, "data", "ReadWriteOnce");
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, godwit_rules(), &r);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.v[0].code, GW_R_INTERFACE);
	assert_int_equal(r.v[1].code, GW_R_HOST_DEVICE);
	assert_int_equal(r.v[2].code, GW_R_CDROM);
	assert_int_equal(r.v[3].code, GW_R_CONTAINERDISK);
	assert_int_equal(r.v[4].code, GW_R_DISKS);
	gw_reasons_fini(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 3);
	assert_int_equal(fx_find(&r, GW_R_CDROM, NULL), -1);
	assert_int_equal(fx_find(&r, GW_R_CONTAINERDISK, NULL), -1);
	gw_reasons_fini(&r);
	fx_free(c);
}

/* 3.4: finalized / not running, and S29 in-flight */
static void test_admission(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	fx_vmim(c, "m0", "vm1", "Succeeded");
	fx_vmim(c, "m1", "vm1", "Running");
	fx_vmim(c, "other", "vm2", "Running");
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_IN_FLIGHT);
	assert_string_equal(r.v[0].message,
			    "in-flight migration detected. Active migration job (uid-m1) is currently already in progress for VMI vm1.");
	gw_reasons_fini(&r);

	free(v->phase);
	v->phase = gw_strdup("Succeeded");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.v[0].code, GW_R_NOT_RUNNING);
	assert_string_equal(r.v[0].message, "Cannot migrate VMI in finalized state.");
	gw_reasons_fini(&r);
	fx_free(c);
}

/* 3.1 #2: host-model on a node without a host model (arm64) */
static void test_cpu_mode(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_node(c, "arm", "kubevirt.io/schedulable=true,kubernetes.io/arch=arm64");
	struct gw_vmi *v = fx_vmi(c, "vm1", "arm");
	v->spec.cpu_model = gw_strdup("host-model");
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_CPU_MODE);
	assert_string_equal(r.v[0].message, "the node \"arm\" does not allow migration with host-model");
	gw_reasons_fini(&r);
	fx_free(c);
}

/* Node checks: every reason, not only the first */
static void test_node_all_reasons(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_node *src = fx_node(c, "src", SRC_LABELS);
	struct gw_node *bad = fx_node(c, "bad", "kubevirt.io/schedulable=false,kubernetes.io/arch=arm64");
	bad->unschedulable = true;
	fx_taint(bad, "dedicated", "db", "NoSchedule");
	fx_taint(bad, "maint", NULL, "NoExecute");
	fx_taint(bad, "soft", NULL, "PreferNoSchedule");
	struct gw_vmi *v = fx_vmi(c, "vm1", "src");
	struct gw_map sel = {0};
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, NULL, NULL), 0);

	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_node_check(c, v, bad, src, &sel, NULL, NULL, &r);
	assert_true(fx_find(&r, GW_R_NOT_SCHEDULABLE, NULL) >= 0);
	assert_true(fx_find(&r, GW_R_SELECTOR_VALUE, "kubernetes.io/arch") >= 0);
	assert_true(fx_find(&r, GW_R_SELECTOR_MISSING, "machine-type.node.kubevirt.io/q35") >= 0);
	assert_true(fx_find(&r, GW_R_SELECTOR_MISSING, "cpu-model-migration.node.kubevirt.io/Skylake") >= 0);
	assert_true(fx_find(&r, GW_R_SELECTOR_MISSING, "cpu-vendor.node.kubevirt.io/Intel") >= 0);
	assert_true(fx_find(&r, GW_R_CORDONED, NULL) >= 0);
	assert_true(fx_find(&r, GW_R_TAINT, "dedicated") >= 0);
	assert_true(fx_find(&r, GW_R_TAINT, "maint") >= 0);
	assert_int_equal(fx_count(&r, GW_R_TAINT), 2);   /* PreferNoSchedule does not count */
	assert_int_equal(r.n, 8);
	gw_reasons_fini(&r);

	/* tolerations: Equal with the value, Exists by key */
	struct gw_toleration *t = gw_calloc(2, sizeof(*t));
	t[0].key = gw_strdup("dedicated");
	t[0].op = gw_strdup("Equal");
	t[0].value = gw_strdup("db");
	t[1].key = gw_strdup("maint");
	t[1].op = gw_strdup("Exists");
	v->spec.tolerations = t;
	v->spec.n_tolerations = 2;
	gw_sched_node_check(c, v, bad, src, &sel, NULL, NULL, &r);
	assert_int_equal(fx_count(&r, GW_R_TAINT), 0);
	gw_reasons_fini(&r);
	/* Equal with another value does not tolerate */
	free(t[0].value);
	t[0].value = gw_strdup("web");
	gw_sched_node_check(c, v, bad, src, &sel, NULL, NULL, &r);
	assert_int_equal(fx_count(&r, GW_R_TAINT), 1);
	gw_reasons_fini(&r);
	gw_map_fini(&sel);
	fx_free(c);
}

/* Capacity: allocatable minus the requests of the VMIs running there */
static void test_capacity(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_node *src = fx_node(c, "src", SRC_LABELS);
	struct gw_node *t = fx_node(c, "t", SRC_LABELS);
	t->cpu_millis = 4000;
	t->memory_bytes = 8LL << 30;
	struct gw_vmi *busy = fx_vmi(c, "busy", "t");
	busy->spec.cpu_request_millis = 3000;
	busy->spec.memory_request_bytes = 6LL << 30;
	struct gw_vmi *done = fx_vmi(c, "done", "t");   /* finished: holds nothing */
	free(done->phase);
	done->phase = gw_strdup("Succeeded");
	done->spec.cpu_request_millis = 4000;
	struct gw_vmi *v = fx_vmi(c, "vm1", "src");
	v->spec.cpu_request_millis = 1000;
	v->spec.memory_request_bytes = 2LL << 30;

	struct gw_usage u;
	gw_sched_usage(c, &u);
	assert_int_equal(u.n, 2);
	assert_int_equal(u.cpu_millis[1], 3000);
	assert_int_equal(u.memory_bytes[1], 6LL << 30);

	struct gw_map sel = {0};
	assert_int_equal(gw_sched_target_selector(c, v, NULL, &sel, NULL, NULL), 0);
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_node_check(c, v, t, src, &sel, NULL, &u, &r);
	assert_int_equal(r.n, 0);   /* exactly fits: 1000m of 1000m, 2Gi of 2Gi */
	v->spec.cpu_request_millis = 1001;
	v->spec.memory_request_bytes = (2LL << 30) + 1;
	gw_sched_node_check(c, v, t, src, &sel, NULL, &u, &r);
	assert_int_equal(r.n, 2);
	assert_true(fx_find(&r, GW_R_CPU_CAPACITY, NULL) >= 0);
	assert_true(fx_find(&r, GW_R_MEMORY_CAPACITY, NULL) >= 0);
	gw_reasons_fini(&r);
	/* its own requests do not count against the node it runs on */
	struct gw_vmi *big = fx_vmi(c, "big", "t");
	big->spec.cpu_request_millis = 1000;
	big->spec.memory_request_bytes = 2LL << 30;
	gw_usage_fini(&u);
	gw_sched_usage(c, &u);
	assert_int_equal(u.cpu_millis[1], 4000);
	gw_sched_node_check(c, big, t, src, &sel, NULL, &u, &r);
	assert_int_equal(r.n, 0);
	gw_sched_node_check(c, v, t, src, &sel, NULL, &u, &r);
	assert_int_equal(r.n, 2);
	gw_reasons_fini(&r);
	/* no usage: no capacity check */
	gw_sched_node_check(c, v, t, src, &sel, NULL, NULL, &r);
	assert_int_equal(r.n, 0);
	gw_usage_fini(&u);
	gw_map_fini(&sel);
	fx_free(c);
}

/* 3.1 #1 binding plugins, #3 GPUs, #7; 3.2 hostDisk and the PVC object */
static void test_more_checks(void **state)
{
	struct gw_vmi *v;
	struct gw_cluster *c = cluster_with_vm(&v);
	struct gw_reasons r;
	gw_reasons_init(&r);

	/* a binding plugin is migratable only when the cluster config says so */
	fx_pod_network(v, "default", GW_BINDING_PLUGIN);
	v->spec.interfaces[0].plugin = gw_strdup("mybinding");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(fx_count(&r, GW_R_INTERFACE), 1);
	gw_reasons_fini(&r);
	fx_kubevirt(c)->doc = json_pack("{s:{s:{s:{s:{s:{s:{}}}}}}}", "spec", "configuration", "network", "binding",
					"mybinding", "migration");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);

	v->spec.n_gpus = 2;
	v->spec.hyperv_passthrough = true;
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].message, "VMI specifies too many GPUs");
	assert_int_equal(r.v[1].code, GW_R_HYPERV_PASSTHROUGH);
	assert_string_equal(r.v[1].message, "VMI uses hyperv passthrough");
	gw_reasons_fini(&r);
	v->spec.n_gpus = 0;
	v->spec.hyperv_passthrough = false;

	/* hostDisk: shared is fine, not shared blocks */
	fx_volume(v, "hd", GW_VOL_HOSTDISK, NULL, GW_DISK_DISK, false);
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].message, "cannot migrate VMI with non-shared HostDisk");
	gw_reasons_fini(&r);
	v->spec.volumes[0].hostdisk_shared = true;
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);

	/* access modes from the PersistentVolumeClaim object */
	fx_volume(v, "data", GW_VOL_DATAVOLUME, "dv-data", GW_DISK_DISK, false);
	struct gw_pvc *pvc = gw_calloc(1, sizeof(*pvc));
	pvc->meta.name = gw_strdup("dv-data");
	pvc->meta.namespace = gw_strdup("default");
	gw_strv_init(&pvc->access_modes);
	gw_strv_push(&pvc->access_modes, "ReadWriteOnce");
	*FX_GROW(c->pvcs, c->n_pvcs) = pvc;
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].code, GW_R_DISKS);
	assert_string_equal(r.v[0].subject, "data");
	gw_reasons_fini(&r);
	gw_strv_push(&pvc->access_modes, "ReadWriteMany");
	gw_sched_migratable(c, v, kubevirt_rules(), &r);
	assert_int_equal(r.n, 0);
	fx_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_table),
		cmocka_unit_test(test_s20_pod_bridge),
		cmocka_unit_test(test_masquerade_ok),
		cmocka_unit_test(test_s21a_rwo),
		cmocka_unit_test(test_pvc_unknown),
		cmocka_unit_test(test_s21b_containerdisk),
		cmocka_unit_test(test_s21c_cdrom),
		cmocka_unit_test(test_s21d_order),
		cmocka_unit_test(test_s22_devices),
		cmocka_unit_test(test_godwit_five_blockers),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_cpu_mode),
		cmocka_unit_test(test_node_all_reasons),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_more_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
