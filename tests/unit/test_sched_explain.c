/* SPDX-License-Identifier: Apache-2.0 */
/* gw_sched_explain and gw_sched_find_vmi on tests/data/explain/explain.yaml:
 * every reason for every node, and the fixes of seed 004, offered only
 * when they free a node (kubevirt-behaviour.md 1.5, 2.5). */
#include <string.h>

#include "helpers.h"
#include "godwit/explain.h"

static struct gw_cluster *load(void)
{
	char *path = test_data_path("explain/explain.yaml");
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	if (gw_cluster_load(c, path, &err) < 0)
		fail_msg("%s: %s", path, gw_err_msg(err));
	gw_cluster_link(c);
	free(path);
	return c;
}

struct fixture {
	struct gw_cluster *c;
	struct gw_cpu_modeldb *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gw_err *err = NULL;
	f->c = load();
	if (gw_cpu_modeldb_builtin(&f->db, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	gw_cluster_free(f->c);
	gw_cpu_modeldb_free(f->db);
	free(f);
	return 0;
}

static json_t *explain(struct fixture *f, const char *ref, const char *node)
{
	const struct gw_vmi *vmi;
	struct gw_err *err = NULL;
	if (gw_sched_find_vmi(f->c, ref, &vmi, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	struct gw_explain_opts o = {.node = node, .db = f->db};
	json_t *doc = NULL;
	if (gw_sched_explain(f->c, vmi, &o, &doc, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	return doc;
}

static json_t *find(json_t *list, const char *key, const char *value)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
		if (json_string_value(json_object_get(v, key)) && !strcmp(json_string_value(json_object_get(v, key)), value))
			return v;
	return NULL;
}

/* The reasons of node `name`, as "Reason:subject" joined by spaces. */
static char *reasons(json_t *doc, const char *name)
{
	json_t *n = find(json_object_get(doc, "nodes"), "name", name);
	assert_non_null(n);
	struct gw_buf b;
	gw_buf_init(&b);
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(n, "reasons"), i, r)
		gw_buf_printf(&b, "%s%s:%s", i ? " " : "", json_string_value(json_object_get(r, "reason")),
			      json_string_value(json_object_get(r, "subject")));
	return b.data ? gw_buf_steal(&b) : gw_strdup("");
}

static bool list_has(json_t *list, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	return false;
}

static void test_every_reason(void **state)
{
	json_t *doc = explain(*state, "vm-fresh", NULL);
	char *r = reasons(doc, "node-3");
	/* node-3 fails two checks: both are listed */
	assert_string_equal(r, "NodeCordoned:node-3 TaintNotTolerated:dedicated");
	free(r);
	r = reasons(doc, "node-2");
	assert_string_equal(r, "NodeSelectorMismatch:cpu-feature.node.kubevirt.io/pdcm");
	free(r);
	r = reasons(doc, "node-1");
	assert_string_equal(r, "SourceNode:node-1");
	free(r);
	json_t *vm = json_object_get(doc, "vm");
	assert_string_equal(json_string_value(json_object_get(vm, "selectorSource")), "source-node-labels");
	assert_string_equal(json_string_value(json_object_get(json_object_get(vm, "targetSelectorSources"),
							      "cpu-feature.node.kubevirt.io/pdcm")),
			    "source-node-labels");
	assert_true(list_has(json_object_get(doc, "eligibleNodes"), "node-4"));
	assert_int_equal(json_array_size(json_object_get(doc, "eligibleNodes")), 1);
	json_decref(doc);
}

static void test_fixes_without_remembered_selectors(void **state)
{
	json_t *doc = explain(*state, "default/vm-fresh", NULL);
	json_t *fixes = json_object_get(doc, "fixes");
	/* nothing remembered: no restart fix */
	assert_null(find(fixes, "fix", "restart"));
	/* removing node-1's host-model-required-features/pdcm frees node-2 */
	json_t *rm = find(fixes, "fix", "remove-source-labels");
	assert_non_null(rm);
	assert_string_equal(json_string_value(json_object_get(rm, "node")), "node-1");
	assert_true(list_has(json_object_get(rm, "labels"), "host-model-required-features.node.kubevirt.io/pdcm"));
	assert_true(list_has(json_object_get(rm, "frees"), "node-2"));
	assert_true(list_has(json_object_get(json_object_get(rm, "commands"), "kubectl"),
			     "kubectl label node node-1 host-model-required-features.node.kubevirt.io/pdcm-"));
	/* labelling node-2 with pdcm, which nothing says it has: dangerous */
	json_t *label = find(fixes, "fix", "label-node");
	assert_non_null(label);
	assert_string_equal(json_string_value(json_object_get(label, "node")), "node-2");
	assert_true(json_is_true(json_object_get(label, "dangerous")));
	json_t *kubectl = json_object_get(json_object_get(label, "commands"), "kubectl");
	assert_string_equal(json_string_value(json_array_get(kubectl, 0)),
			    "kubectl annotate node node-2 node-labeller.kubevirt.io/skip-node=true");
	assert_string_equal(json_string_value(json_array_get(kubectl, 1)),
			    "kubectl label node node-2 cpu-feature.node.kubevirt.io/pdcm=true");
	/* node-3 fails on more than labels: no label fix for it */
	size_t i;
	json_t *f;
	json_array_foreach(fixes, i, f)
		assert_false(json_is_string(json_object_get(f, "node")) &&
			     !strcmp(json_string_value(json_object_get(f, "node")), "node-3"));
	/* the common model over all nodes, and what it frees */
	json_t *model = find(fixes, "fix", "common-model");
	assert_non_null(model);
	assert_string_equal(json_string_value(json_object_get(model, "model")), "IvyBridge");
	assert_true(list_has(json_object_get(model, "frees"), "node-2"));
	assert_non_null(strstr(json_string_value(json_array_get(
				       json_object_get(json_object_get(model, "commands"), "kubectl"), 0)),
			       "\"cpu\":{\"model\":\"IvyBridge\"}"));
	json_decref(doc);
}

static void test_fixes_with_remembered_selectors(void **state)
{
	json_t *doc = explain(*state, "vm-stale", NULL);
	json_t *fixes = json_object_get(doc, "fixes");
	/* node-4 lacks the remembered vme; node-1's current labels do not ask for it */
	json_t *restart = find(fixes, "fix", "restart");
	assert_non_null(restart);
	assert_true(list_has(json_object_get(restart, "frees"), "node-4"));
	assert_true(list_has(json_object_get(json_object_get(restart, "commands"), "kubectl"),
			     "virtctl restart vm-stale -n default"));
	/* remembered selectors: removing source labels would not help (004) */
	assert_null(find(fixes, "fix", "remove-source-labels"));
	/* node-4 calls IvyBridge usable, which has vme: not dangerous */
	json_t *label = find(fixes, "fix", "label-node");
	assert_non_null(label);
	assert_string_equal(json_string_value(json_object_get(label, "node")), "node-4");
	assert_false(json_is_true(json_object_get(label, "dangerous")));
	json_decref(doc);
}

static void test_capacity_and_named_model(void **state)
{
	json_t *doc = explain(*state, "vm-big", NULL);
	char *r = reasons(doc, "node-4");
	assert_string_equal(r, "InsufficientMemory:node-4");
	free(r);
	/* a named model: no host-model fixes; capacity is not fixed by labels */
	assert_int_equal(json_array_size(json_object_get(doc, "fixes")), 0);
	json_decref(doc);
}

static void test_one_node(void **state)
{
	json_t *doc = explain(*state, "vm-fresh", "node-2");
	assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 1);
	json_decref(doc);
	struct fixture *f = *state;
	const struct gw_vmi *vmi;
	struct gw_err *err = NULL;
	assert_int_equal(gw_sched_find_vmi(f->c, "vm-fresh", &vmi, &err), 0);
	struct gw_explain_opts o = {.node = "node-22"};
	assert_int_equal(gw_sched_explain(f->c, vmi, &o, &doc, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "node-2"));
	gw_err_free(err);
}

static void test_find_vmi(void **state)
{
	struct fixture *f = *state;
	const struct gw_vmi *vmi;
	struct gw_err *err = NULL;
	assert_int_equal(gw_sched_find_vmi(f->c, "vm-frsh", &vmi, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "did you mean default/vm-fresh"));
	gw_err_free(err);
	err = NULL;
	assert_int_equal(gw_sched_find_vmi(f->c, "other/vm-fresh", &vmi, &err), -ENOENT);
	gw_err_free(err);
	err = NULL;
	/* a VirtualMachine without its VMI does not run */
	assert_int_equal(gw_sched_find_vmi(f->c, "vm-stopped", &vmi, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "no VirtualMachineInstance"));
	gw_err_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixes_without_remembered_selectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixes_with_remembered_selectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity_and_named_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_vmi, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
