/* SPDX-License-Identifier: Apache-2.0 */
/* gw_sched_plan_drain on tests/data/explain/drain.yaml: targets by free
 * capacity consumed as VMs are placed, never a drained node; waves under
 * parallelMigrationsPerCluster / parallelOutboundMigrationsPerNode (4.1,
 * 6.6); eviction strategies (6.7); duration from size and bandwidth. */
#include <string.h>

#include "helpers.h"
#include "godwit/explain.h"

static struct gw_cluster *load(const char *name)
{
	char *rel = gw_asprintf("explain/%s", name);
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

static json_t *plan(struct gw_cluster *c, const char *const *nodes, size_t n, int64_t bandwidth)
{
	struct gw_plan_opts o = {.nodes = nodes, .n_nodes = n, .bandwidth_bytes_s = bandwidth};
	json_t *doc = NULL;
	struct gw_err *err = NULL;
	if (gw_sched_plan_drain(c, &o, &doc, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	return doc;
}

static json_t *vm(json_t *doc, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(doc, "vms"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
			return v;
	fail_msg("no VM %s in the plan", name);
	return NULL;
}

static const char *field(json_t *v, const char *key)
{
	return json_string_value(json_object_get(v, key));
}

static void test_targets_and_capacity(void **state)
{
	(void)state;
	struct gw_cluster *c = load("drain.yaml");
	const char *nodes[] = {"node-a", "node-b"};
	json_t *doc = plan(c, nodes, 2, 0);
	/* node-c has 16Gi free, node-d 12Gi: a1 (8Gi) to c, a2 to d (c has 8
	 * left), a3 (4Gi) to c (8 > 4); b1 (8Gi) fits nowhere (4 and 4 left) */
	assert_string_equal(field(vm(doc, "a1"), "target"), "node-c");
	assert_string_equal(field(vm(doc, "a2"), "target"), "node-d");
	assert_string_equal(field(vm(doc, "a3"), "target"), "node-c");
	assert_true(json_is_null(json_object_get(vm(doc, "b1"), "target")));
	assert_string_equal(field(vm(doc, "b1"), "action"), "no-target");
	/* never a drained node, never a cordoned one */
	size_t i;
	json_t *r;
	bool saw_draining = false;
	json_array_foreach(json_object_get(vm(doc, "b1"), "rejected"), i, r)
	{
		if (strcmp(field(r, "node"), "node-a") == 0)
			saw_draining = strcmp(field(json_array_get(json_object_get(r, "reasons"), 0), "reason"),
					      "NodeDraining") == 0;
		if (strcmp(field(r, "node"), "node-c") == 0)
			assert_string_equal(field(json_array_get(json_object_get(r, "reasons"), 0), "reason"),
					    "InsufficientMemory");
	}
	assert_true(saw_draining);
	json_decref(doc);
	gw_cluster_free(c);
}

static void test_eviction_strategies(void **state)
{
	(void)state;
	struct gw_cluster *c = load("drain.yaml");
	const char *nodes[] = {"node-a", "node-b"};
	json_t *doc = plan(c, nodes, 2, 0);
	/* None: the eviction is allowed, the VM stops */
	assert_string_equal(field(vm(doc, "a-none"), "evictionStrategy"), "None");
	assert_string_equal(field(vm(doc, "a-none"), "action"), "stop");
	/* LiveMigrateIfPossible, not migratable: shut down */
	assert_string_equal(field(vm(doc, "a-ifpossible"), "action"), "stop");
	assert_false(json_is_true(json_object_get(vm(doc, "a-ifpossible"), "migratable")));
	/* LiveMigrate (cluster default here), not migratable: drain blocked */
	assert_string_equal(field(vm(doc, "b-blocked"), "evictionStrategy"), "LiveMigrate");
	assert_string_equal(field(vm(doc, "b-blocked"), "action"), "blocked");
	assert_true(json_is_true(json_object_get(doc, "drainBlocked")));
	assert_int_equal(json_array_size(json_object_get(doc, "stopped")), 2);
	/* cannot move: both stopped, b1 (no target), b-blocked */
	assert_int_equal(json_array_size(json_object_get(doc, "cannotMove")), 4);
	json_decref(doc);
	gw_cluster_free(c);
}

static void test_waves_and_duration(void **state)
{
	(void)state;
	struct gw_cluster *c = load("drain.yaml");
	const char *nodes[] = {"node-a", "node-b"};
	json_t *doc = plan(c, nodes, 2, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "limits"),
							    "parallelOutboundMigrationsPerNode")),
			 2);
	/* three migrations from node-a, two at a time from one node */
	assert_int_equal(json_integer_value(json_object_get(vm(doc, "a1"), "wave")), 1);
	assert_int_equal(json_integer_value(json_object_get(vm(doc, "a2"), "wave")), 1);
	assert_int_equal(json_integer_value(json_object_get(vm(doc, "a3"), "wave")), 2);
	assert_int_equal(json_array_size(json_object_get(doc, "waves")), 2);
	/* bandwidthPerMigration 512Mi is below the default 1Gi/s: 8Gi in 16 s,
	 * 4Gi in 8 s; waves run one after the other */
	assert_int_equal(json_integer_value(json_object_get(vm(doc, "a1"), "bandwidthBytesPerSecond")), 512 << 20);
	assert_true(json_number_value(json_object_get(doc, "estimatedSeconds")) == 24.0);
	json_decref(doc);
	/* a lower --bandwidth wins: 256Mi/s doubles it */
	doc = plan(c, nodes, 2, 256 << 20);
	assert_true(json_number_value(json_object_get(doc, "estimatedSeconds")) == 48.0);
	json_decref(doc);
	gw_cluster_free(c);
}

static void test_single_node_and_unknown(void **state)
{
	(void)state;
	struct gw_cluster *c = load("drain.yaml");
	/* draining node-b alone: node-a may now take b1 (most free memory) */
	const char *b[] = {"node-b"};
	json_t *doc = plan(c, b, 1, 0);
	assert_string_equal(field(vm(doc, "b1"), "target"), "node-a");
	assert_int_equal(json_array_size(json_object_get(doc, "vms")), 2);
	json_decref(doc);
	const char *bad[] = {"node-x"};
	struct gw_plan_opts o = {.nodes = bad, .n_nodes = 1};
	struct gw_err *err = NULL;
	assert_int_equal(gw_sched_plan_drain(c, &o, &doc, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "did you mean"));
	gw_err_free(err);
	gw_cluster_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets_and_capacity),
		cmocka_unit_test(test_eviction_strategies),
		cmocka_unit_test(test_waves_and_duration),
		cmocka_unit_test(test_single_node_and_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
