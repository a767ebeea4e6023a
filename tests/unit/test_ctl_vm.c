/* SPDX-License-Identifier: Apache-2.0 */
/* The VM, placement and node controllers on a real SQLite store: VM ->
 * VMI (Always, Halted, restart), placement with reasons, heartbeats and
 * drain (with the migration controller and the test agent, a stand-in for
 * the node agent). */
#include "helpers.h"

#include "ctl_fixture.h"

#define WAIT_MS 10000

static json_t *vm_doc(const char *name, const char *run_strategy)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{}}, s:{s:s, s:{s:{s:{s:s}}, s:{s:{s:{s:s}, s:{s:{s:s}}, s:{}}}}}}",
			 "apiVersion", "kubevirt.io/v1", "kind", "VirtualMachine", "metadata", "name", name, "namespace",
			 "default", "annotations", "spec", "runStrategy", run_strategy, "template", "metadata", "labels",
			 "app", name, "spec", "domain", "cpu", "model", "host-passthrough", "resources", "requests", "memory",
			 "1Gi", "devices");
}

static bool vmi_exists(struct fx *f, void *name)
{
	json_t *o = fx_get(f, "virtualmachineinstances", "default", name);
	json_decref(o);
	return o != NULL;
}

static bool vmi_gone(struct fx *f, void *name)
{
	return !vmi_exists(f, name);
}

static bool vmi_placed(struct fx *f, void *name)
{
	json_t *o = fx_get(f, "virtualmachineinstances", "default", name);
	bool placed = o && fx_s(o, "status", "nodeName", NULL);
	json_decref(o);
	return placed;
}

static void set_strategy(json_t *o, void *arg)
{
	json_object_set_new(json_object_get(o, "spec"), "runStrategy", json_string(arg));
}

static void set_restart(json_t *o, void *arg)
{
	json_object_set_new(json_object_get(json_object_get(o, "metadata"), "annotations"), "godwit.io/restart",
			    json_string(arg));
}

static void set_stale_selector(json_t *o, void *arg)
{
	(void)arg;
	json_object_set_new(json_object_get(o, "status"), "launcherNodeSelector",
			    json_pack("{s:s}", "host-model-cpu.node.kubevirt.io/Stale", "true"));
}

struct uid_change {
	const char *old_uid;
};

static bool vmi_replaced_and_placed(struct fx *f, void *arg)
{
	struct uid_change *u = arg;
	json_t *o = fx_get(f, "virtualmachineinstances", "default", "vm1");
	bool ok = o && strcmp(fx_s(o, "metadata", "uid", NULL), u->old_uid) != 0 && fx_s(o, "status", "nodeName", NULL);
	json_decref(o);
	return ok;
}

static void test_vm_lifecycle(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_node(&f, "n1", "8", "16Gi");
	fx_create(&f, "virtualmachines", vm_doc("vm1", "Always"));
	fx_start(&f, GW_CTL_VM | GW_CTL_PLACEMENT);
	assert_true(fx_wait(&f, vmi_placed, "vm1", WAIT_MS));
	json_t *vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
	json_t *vm = fx_get(&f, "virtualmachines", "default", "vm1");
	assert_string_equal(fx_s(vmi, "metadata", "labels", "app"), "vm1");
	json_t *owner = json_array_get(json_object_get(json_object_get(vmi, "metadata"), "ownerReferences"), 0);
	assert_string_equal(fx_s(owner, "uid", NULL, NULL), fx_s(vm, "metadata", "uid", NULL));
	assert_string_equal(fx_s(vmi, "status", "nodeName", NULL), "n1");
	assert_string_equal(fx_s(vmi, "status", "phase", NULL), "Scheduled");
	/* The launch selectors, as the launcher pod would carry them. */
	assert_string_equal(fx_s(vmi, "status", "launcherNodeSelector", "kubernetes.io/arch"), "amd64");
	char *old_uid = gw_strdup(fx_s(vmi, "metadata", "uid", NULL));
	json_decref(vmi);
	json_decref(vm);

	/* Restart: a new VMI, no remembered selectors from the old one. */
	fx_modify(&f, "virtualmachineinstances", "default", "vm1", set_stale_selector, NULL);
	fx_modify(&f, "virtualmachines", "default", "vm1", set_restart, "1");
	struct uid_change u = {old_uid};
	assert_true(fx_wait(&f, vmi_replaced_and_placed, &u, WAIT_MS));
	vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
	assert_null(fx_s(vmi, "status", "launcherNodeSelector", "host-model-cpu.node.kubevirt.io/Stale"));
	assert_string_equal(fx_s(vmi, "metadata", "annotations", "godwit.io/restart-token"), "1");
	free(old_uid);
	old_uid = gw_strdup(fx_s(vmi, "metadata", "uid", NULL));
	json_decref(vmi);

	/* The VMI deleted from outside: Always makes a new one. */
	fx_delete(&f, "virtualmachineinstances", "default", "vm1");
	u.old_uid = old_uid;
	assert_true(fx_wait(&f, vmi_replaced_and_placed, &u, WAIT_MS));
	free(old_uid);

	/* Halted: the VMI goes and stays gone. */
	fx_modify(&f, "virtualmachines", "default", "vm1", set_strategy, "Halted");
	assert_true(fx_wait(&f, vmi_gone, "vm1", WAIT_MS));
	usleep(300 * 1000);
	assert_false(vmi_exists(&f, "vm1"));
	vm = fx_get(&f, "virtualmachines", "default", "vm1");
	assert_string_equal(fx_s(vm, "status", "printableStatus", NULL), "Stopped");
	json_decref(vm);
	/* Always again. */
	fx_modify(&f, "virtualmachines", "default", "vm1", set_strategy, "Always");
	assert_true(fx_wait(&f, vmi_placed, "vm1", WAIT_MS));

	/* The VM deleted: its VMI goes with it (garbage collection). A VMI no
	 * VM controls stays. */
	json_t *lone = fx_vmi_doc("lone", "n1", "1Gi", NULL);
	fx_create(&f, "virtualmachineinstances", lone);
	fx_delete(&f, "virtualmachines", "default", "vm1");
	assert_true(fx_wait(&f, vmi_gone, "vm1", WAIT_MS));
	usleep(300 * 1000);
	assert_true(vmi_exists(&f, "lone"));
	fx_close(&f);
}

static const char *condition_message(const json_t *o, const char *type)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(json_object_get(o, "status"), "conditions"), i, c)
		if (strcmp(fx_s(c, "type", NULL, NULL), type) == 0)
			return fx_s(c, "message", NULL, NULL);
	return NULL;
}

static bool vmi_unschedulable(struct fx *f, void *name)
{
	json_t *o = fx_get(f, "virtualmachineinstances", "default", name);
	bool r = o && condition_message(o, "PodScheduled") && !fx_s(o, "status", "nodeName", NULL);
	json_decref(o);
	return r;
}

static void add_taint(json_t *o, void *arg)
{
	(void)arg;
	json_object_set_new(json_object_get(o, "spec"), "taints",
			    json_pack("[{s:s, s:s, s:s}]", "key", "dedicated", "value", "db", "effect", "NoSchedule"));
}

static void test_placement(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_node(&f, "big", "16", "64Gi");
	fx_node(&f, "small", "16", "8Gi");
	fx_node(&f, "tainted", "64", "512Gi");
	fx_modify(&f, "nodes", NULL, "tainted", add_taint, NULL);
	/* Most free memory among the eligible: big (tainted is bigger but not tolerated). */
	fx_create(&f, "virtualmachineinstances", fx_vmi_doc("a", NULL, "4Gi", NULL));
	/* Does not fit anywhere and asks for a label nobody has. */
	json_t *b = fx_vmi_doc("b", NULL, "100Gi", NULL);
	json_object_set_new(json_object_get(b, "spec"), "nodeSelector", json_pack("{s:s}", "disk", "ssd"));
	fx_create(&f, "virtualmachineinstances", b);
	fx_start(&f, GW_CTL_PLACEMENT);
	assert_true(fx_wait(&f, vmi_placed, "a", WAIT_MS));
	json_t *o = fx_get(&f, "virtualmachineinstances", "default", "a");
	assert_string_equal(fx_s(o, "status", "nodeName", NULL), "big");
	json_decref(o);
	assert_true(fx_wait(&f, vmi_unschedulable, "b", WAIT_MS));
	o = fx_get(&f, "virtualmachineinstances", "default", "b");
	assert_string_equal(fx_s(o, "status", "phase", NULL), "Pending");
	const char *msg = condition_message(o, "PodScheduled");
	assert_non_null(strstr(msg, "0/3 nodes are available"));
	assert_non_null(strstr(msg, "big:"));
	assert_non_null(strstr(msg, "small:"));
	assert_non_null(strstr(msg, "tainted:"));
	assert_non_null(strstr(msg, "disk"));
	assert_non_null(strstr(msg, "Taint"));
	assert_non_null(strstr(msg, "Memory"));
	json_decref(o);
	fx_close(&f);
}

static void set_heartbeat(json_t *o, void *arg)
{
	json_object_set_new(json_object_get(json_object_get(o, "metadata"), "annotations") ?:
				    (json_object_set_new(json_object_get(o, "metadata"), "annotations", json_object()),
				     json_object_get(json_object_get(o, "metadata"), "annotations")),
			    "kubevirt.io/heartbeat", json_string(arg));
}

static bool node_label_is(struct fx *f, void *want)
{
	json_t *n = fx_get(f, "nodes", NULL, "n1");
	const char *v = fx_s(n, "metadata", "labels", "kubevirt.io/schedulable");
	bool r = v && strcmp(v, want) == 0;
	json_decref(n);
	return r;
}

static bool vmi_not_ready(struct fx *f, void *arg)
{
	json_t *o = fx_get(f, "virtualmachineinstances", "default", "v1");
	bool r = o && condition_message(o, "NodeReady") != NULL;
	json_decref(o);
	return r == (arg != NULL);
}

static void test_heartbeat(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, true);
	fx_node(&f, "n1", "8", "16Gi");
	char ts[40];
	fx_time(f.clock_ms, ts);
	fx_modify(&f, "nodes", NULL, "n1", set_heartbeat, ts);
	fx_vmi(&f, "v1", "n1");
	fx_start(&f, GW_CTL_NODE);
	usleep(200 * 1000);
	assert_true(node_label_is(&f, "true"));
	fx_advance(&f, 299 * 1000);
	usleep(200 * 1000);
	assert_true(node_label_is(&f, "true"));
	fx_advance(&f, 2 * 1000);
	assert_true(fx_wait(&f, node_label_is, "false", WAIT_MS));
	assert_true(fx_wait(&f, vmi_not_ready, "yes", WAIT_MS));
	json_t *o = fx_get(&f, "virtualmachineinstances", "default", "v1");
	assert_non_null(strstr(condition_message(o, "NodeReady"), "n1 is not ready"));
	json_decref(o);
	/* The agent is back. */
	fx_time(f.clock_ms, ts);
	fx_modify(&f, "nodes", NULL, "n1", set_heartbeat, ts);
	assert_true(fx_wait(&f, node_label_is, "true", WAIT_MS));
	assert_true(fx_wait(&f, vmi_not_ready, NULL, WAIT_MS));
	fx_close(&f);
}

static void request_drain(json_t *o, void *arg)
{
	(void)arg;
	json_object_set_new(json_object_get(o, "spec"), "unschedulable", json_true());
	json_t *md = json_object_get(o, "metadata");
	if (!json_object_get(md, "annotations"))
		json_object_set_new(md, "annotations", json_object());
	json_object_set_new(json_object_get(md, "annotations"), "godwit.io/drain", json_string("requested"));
}

static void uncordon(json_t *o, void *arg)
{
	(void)arg;
	json_object_del(json_object_get(o, "spec"), "unschedulable");
	json_object_del(json_object_get(json_object_get(o, "metadata"), "annotations"), "godwit.io/drain");
}

static bool drain_status_gone(struct fx *f, void *arg)
{
	(void)arg;
	json_t *n = fx_get(f, "nodes", NULL, "src");
	bool r = n && !fx_s(n, "metadata", "annotations", "godwit.io/drain-status");
	json_decref(n);
	return r;
}

static bool drain_complete(struct fx *f, void *arg)
{
	(void)arg;
	json_t *n = fx_get(f, "nodes", NULL, "src");
	const char *s = fx_s(n, "metadata", "annotations", "godwit.io/drain-status");
	bool r = s && strncmp(s, "Complete", 8) == 0;
	json_decref(n);
	return r;
}

static void test_drain(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_kubevirt(&f, 5, 2);
	fx_node(&f, "src", "64", "256Gi");
	fx_node(&f, "dst1", "64", "256Gi");
	fx_node(&f, "dst2", "64", "256Gi");
	const char *live[] = {"l1", "l2", "l3", "l4"};
	for (size_t i = 0; i < 4; i++)
		fx_create(&f, "virtualmachineinstances", fx_vmi_doc(live[i], "src", "1Gi", "LiveMigrate"));
	fx_create(&f, "virtualmachineinstances", fx_vmi_doc("maybe", "src", "1Gi", "LiveMigrateIfPossible"));
	fx_create(&f, "virtualmachineinstances", fx_vmi_doc("stay", "src", "1Gi", "None"));
	fx_create(&f, "virtualmachineinstances", fx_vmi_doc("elsewhere", "dst1", "1Gi", "LiveMigrate"));
	fx_monitor_start(&f);
	fx_agent_start(&f, AGENT_COMPLETE);
	fx_start(&f, GW_CTL_MIGRATION | GW_CTL_NODE);
	usleep(200 * 1000);
	/* Nothing happens before the drain. */
	json_t *items = NULL;
	assert_int_equal(gw_store_list(f.store, "virtualmachineinstancemigrations", NULL, NULL, &items, NULL, NULL), 0);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	fx_modify(&f, "nodes", NULL, "src", request_drain, NULL);
	assert_true(fx_wait(&f, drain_complete, NULL, WAIT_MS));
	fx_monitor_stop(&f);
	const char *moved[] = {"l1", "l2", "l3", "l4", "maybe"};
	for (size_t i = 0; i < 5; i++) {
		json_t *o = fx_get(&f, "virtualmachineinstances", "default", moved[i]);
		assert_non_null(fx_s(o, "status", "nodeName", NULL));
		assert_string_not_equal(fx_s(o, "status", "nodeName", NULL), "src");
		json_decref(o);
	}
	json_t *o = fx_get(&f, "virtualmachineinstances", "default", "stay");
	assert_string_equal(fx_s(o, "status", "nodeName", NULL), "src");
	json_decref(o);
	o = fx_get(&f, "virtualmachineinstances", "default", "elsewhere");
	assert_string_equal(fx_s(o, "status", "nodeName", NULL), "dst1");
	json_decref(o);
	/* One evacuation migration per moved VMI, under the outbound limit. */
	assert_int_equal(f.mon.n, 5);
	assert_true(f.mon.max_per_source <= 2);
	assert_int_equal(f.mon.max_per_source, 2);
	assert_int_equal(f.mon.bad_transitions, 0);
	items = NULL;
	assert_int_equal(gw_store_list(f.store, "virtualmachineinstancemigrations", NULL, NULL, &items, NULL, NULL), 0);
	size_t i;
	json_t *m;
	json_array_foreach(items, i, m) {
		assert_string_equal(fx_s(m, "metadata", "annotations", "kubevirt.io/evacuationMigration"), "src");
		assert_string_equal(fx_s(m, "status", "phase", NULL), "Succeeded");
	}
	json_decref(items);
	/* godwit uncordon: the drain's status goes; nothing new is migrated. */
	fx_modify(&f, "nodes", NULL, "src", uncordon, NULL);
	assert_true(fx_wait(&f, drain_status_gone, NULL, WAIT_MS));
	usleep(200 * 1000);
	items = NULL;
	assert_int_equal(gw_store_list(f.store, "virtualmachineinstancemigrations", NULL, NULL, &items, NULL, NULL), 0);
	assert_int_equal(json_array_size(items), 5);
	json_decref(items);
	fx_close(&f);
}

static bool vmi_on(struct fx *f, void *node)
{
	json_t *o = fx_get(f, "virtualmachineinstances", "default", "l1");
	const char *n = fx_s(o, "status", "nodeName", NULL);
	bool r = n && strcmp(n, node) == 0;
	json_decref(o);
	return r;
}

static size_t count_vmims(struct fx *f, const char *phase)
{
	json_t *items = NULL;
	if (gw_store_list(f->store, "virtualmachineinstancemigrations", NULL, NULL, &items, NULL, NULL) < 0)
		return 0;
	size_t n = 0, i;
	json_t *m;
	json_array_foreach(items, i, m)
		if (!phase || strcmp(fx_s(m, "status", "phase", NULL) ?: "", phase) == 0)
			n++;
	json_decref(items);
	return n;
}

struct vmim_count {
	const char *phase;
	size_t n;
};

static bool vmims_are(struct fx *f, void *arg)
{
	struct vmim_count *w = arg;
	return count_vmims(f, w->phase) == w->n;
}

/* A drain whose first evacuation migration fails: the node controller
 * makes a new one, which waits out the 20 s backoff (injected clock). */
static void test_drain_retry_backoff(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, true);
	fx_node(&f, "src", "64", "256Gi");
	fx_node(&f, "dst", "64", "256Gi");
	fx_create(&f, "virtualmachineinstances", fx_vmi_doc("l1", "src", "1Gi", "LiveMigrate"));
	f.agent.fail_migrations = true;
	fx_agent_start(&f, AGENT_COMPLETE);
	fx_start(&f, GW_CTL_MIGRATION | GW_CTL_NODE);
	fx_modify(&f, "nodes", NULL, "src", request_drain, NULL);
	struct vmim_count failed = {"Failed", 1};
	assert_true(fx_wait(&f, vmims_are, &failed, WAIT_MS));
	pthread_mutex_lock(&f.agent.lock);
	f.agent.fail_migrations = false;
	pthread_mutex_unlock(&f.agent.lock);
	struct vmim_count pending = {"Pending", 1};
	assert_true(fx_wait(&f, vmims_are, &pending, WAIT_MS));
	usleep(300 * 1000);
	assert_int_equal(count_vmims(&f, "Pending"), 1);   /* backoff */
	assert_int_equal(count_vmims(&f, NULL), 2);
	assert_true(vmi_on(&f, "src"));
	fx_advance(&f, 21000);
	assert_true(fx_wait(&f, vmi_on, "dst", WAIT_MS));
	struct vmim_count done = {"Succeeded", 1};
	assert_true(fx_wait(&f, vmims_are, &done, WAIT_MS));
	assert_int_equal(count_vmims(&f, NULL), 2);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_vm_lifecycle, fx_teardown),
		cmocka_unit_test_teardown(test_placement, fx_teardown),
		cmocka_unit_test_teardown(test_heartbeat, fx_teardown),
		cmocka_unit_test_teardown(test_drain, fx_teardown),
		cmocka_unit_test_teardown(test_drain_retry_backoff, fx_teardown),
	};
	if (getenv("CTL_TEST"))
		cmocka_set_test_filter(getenv("CTL_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
