/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes Node labels as host profiles. */
#include <string.h>

#include "godwit/cpu.h"
#include "helpers.h"

static bool has(const struct gw_featset *s, const char *name)
{
	int idx = gw_cpu_feature_find(name);
	if (idx < 0)
		fail_msg("test names unknown feature %s", name);
	return gw_featset_test(s, (unsigned)idx);
}

static void assert_strv_set(const struct gw_strv *v, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!gw_strv_contains(v, names[i]))
			fail_msg("missing %s", names[i]);
	assert_int_equal(v->n, n);
}

static void kubectl_list_of_mixed_kinds(void **state)
{
	(void)state;
	char *path = test_data_path("nodes/kubectl-get-nodes-vmis.json");
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	struct gw_err *err = NULL;
	/* through gw_cpu_profile_load's format detection */
	if (gw_cpu_profile_load(NULL, path, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	/* the VirtualMachineInstance (with a bogus label) is skipped */
	assert_int_equal(ps.n, 3);
	const struct gw_cpu_profile *w1 = ps.v[0], *w2 = ps.v[1], *cp = ps.v[2];
	assert_string_equal(w1->name, "worker-1");
	assert_string_equal(w1->origin, path);
	assert_int_equal(w1->kind, GW_CPU_PROFILE_NODE);
	assert_string_equal(w1->vendor, "Intel");
	assert_string_equal(w1->host_model, "Skylake-Client-IBRS");
	assert_true(w1->has_usable);
	static const char *const usable[] = {"Haswell", "IvyBridge", "Penryn", "Skylake-Client-IBRS"};
	static const char *const known[] = {"EPYC-IBPB", "Haswell", "IvyBridge", "Penryn", "Skylake-Client-IBRS"};
	assert_strv_set(&w1->usable, usable, GW_ARRAY_SIZE(usable));
	assert_strv_set(&w1->known, known, GW_ARRAY_SIZE(known));
	assert_int_equal(gw_featset_count(&w1->features), 4);
	assert_true(has(&w1->features, "apic") && has(&w1->features, "clflush") && has(&w1->features, "vmx") &&
		    has(&w1->features, "xsaves"));
	assert_int_equal(gw_featset_count(&w1->host_model_require), 3);
	assert_true(has(&w1->host_model_require, "ds") && has(&w1->host_model_require, "acpi") &&
		    has(&w1->host_model_require, "ss"));
	static const char *const machines[] = {"q35", "pc-q35-rhel9.6.0"};
	assert_strv_set(&w1->machines, machines, 2);
	assert_int_equal(w1->tsc_hz, 4008012000ull);
	assert_int_equal(w1->tsc_scalable, 0);

	/* "false" labels are not features; two vendor labels (a stale one
	 * stays, S5) leave the vendor unknown */
	assert_string_equal(w2->name, "worker-2");
	assert_true(has(&w2->features, "avx2") && has(&w2->features, "sse4.2"));
	assert_false(has(&w2->features, "svm"));
	assert_null(w2->vendor);
	assert_int_equal(w2->tsc_scalable, -1);

	/* a node the labeller never touched: no model is usable on it */
	assert_string_equal(cp->name, "control-plane-1");
	assert_true(cp->has_usable);
	assert_int_equal(cp->usable.n, 0);
	assert_true(gw_featset_empty(&cp->features));
	assert_null(cp->host_model);
	gw_cpu_profiles_fini(&ps);
	free(path);
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	if (!doc)
		fail_msg("test JSON: %s", jerr.text);
	return doc;
}

static void node_list_and_single_node(void **state)
{
	(void)state;
	/* the API's NodeList: items have no kind */
	json_t *doc = parse("{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"a\",\"labels\":"
			    "{\"cpu-feature.node.kubevirt.io/sse4_2\":\"true\"}}},{\"metadata\":{\"name\":\"b\"}}]}");
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	assert_int_equal(gw_cpu_profile_from_nodes(doc, "n.json", &ps, NULL), 0);
	assert_int_equal(ps.n, 2);
	assert_true(has(&ps.v[0]->features, "sse4.2"));
	assert_string_equal(ps.v[1]->name, "b");
	gw_cpu_profiles_fini(&ps);
	json_decref(doc);

	doc = parse("{\"kind\":\"Node\",\"metadata\":{\"name\":\"solo\",\"labels\":"
		    "{\"cpu-vendor.node.kubevirt.io/AMD\":\"true\",\"cpu-vendor.node.kubevirt.io/\":\"true\","
		    "\"host-model-cpu.node.kubevirt.io/\":\"true\"}}}");
	assert_int_equal(gw_cpu_profile_from_nodes(doc, "n.json", &ps, NULL), 0);
	assert_int_equal(ps.n, 1);
	assert_string_equal(ps.v[0]->vendor, "AMD");
	/* KubeVirt's empty host-model label (no host-model) means none */
	assert_null(ps.v[0]->host_model);
	gw_cpu_profiles_fini(&ps);
	json_decref(doc);
}

static void expect_error(const char *text, const char *needle)
{
	json_t *doc = parse(text);
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	struct gw_err *err = NULL;
	assert_true(gw_cpu_profile_from_nodes(doc, "n.json", &ps, &err) < 0);
	assert_int_equal(ps.n, 0);
	assert_non_null(err);
	if (!strstr(err->msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err->msg, needle);
	gw_err_free(err);
	json_decref(doc);
}

#define NODE(name, labels) "{\"kind\":\"Node\",\"metadata\":{\"name\":\"" name "\",\"labels\":" labels "}}"

static void malformed_nodes(void **state)
{
	(void)state;
	expect_error("{\"kind\":\"List\",\"items\":[" NODE("a", "{}") "," NODE("b", "{}") ",{\"kind\":\"Pod\"},"
		     NODE("worker-3", "{\"cpu-feature.node.kubevirt.io/avx5l2f\":\"true\"}") "]}",
		     "n.json: node worker-3: items[3].metadata.labels[\"cpu-feature.node.kubevirt.io/avx5l2f\"]: "
		     "unknown CPU feature \"avx5l2f\" (did you mean");
	expect_error("{\"kind\":\"List\",\"items\":[" NODE("a", "{}") "," NODE("b", "{}") "," NODE("c", "{}") ","
		     NODE("d", "[\"x\"]") "]}",
		     "n.json: node d: items[3].metadata.labels: expected an object");
	expect_error("{\"kind\":\"List\",\"items\":[" NODE("a", "{\"cpu-model.node.kubevirt.io/Haswell\":true}") "]}",
		     "n.json: node a: items[0].metadata.labels[\"cpu-model.node.kubevirt.io/Haswell\"]: expected a string");
	expect_error("{\"kind\":\"List\",\"items\":[" NODE("a", "{\"host-model-required-features.node.kubevirt.io/foo\""
							   ":\"true\"}") "]}",
		     "n.json: node a: items[0].metadata.labels[\"host-model-required-features.node.kubevirt.io/foo\"]: "
		     "unknown CPU feature \"foo\"");
	expect_error(NODE("a", "{\"cpu-timer.node.kubevirt.io/tsc-frequency\":\"-1\"}"),
		     "n.json: node a: metadata.labels[\"cpu-timer.node.kubevirt.io/tsc-frequency\"]: \"-1\": expected a "
		     "frequency in Hz");
	expect_error(NODE("a", "{\"cpu-vendor.node.kubevirt.io/Cyrix\":\"true\"}"),
		     "n.json: node a: metadata.labels[\"cpu-vendor.node.kubevirt.io/Cyrix\"]: unknown vendor \"Cyrix\"");
	expect_error(NODE("a", "{\"host-model-cpu.node.kubevirt.io/Haswell\":\"true\","
			       "\"host-model-cpu.node.kubevirt.io/Penryn\":\"true\"}"),
		     "a second host-model label");
	expect_error("{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"labels\":{}}}]}",
		     "n.json: items[0].metadata.name: missing");
	expect_error("{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":7}}]}",
		     "n.json: items[0].metadata.name: expected a node name");
	expect_error("{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"a\"}}]}",
		     "n.json: items[1].metadata.name: node a appears twice");
	expect_error("{\"kind\":\"NodeList\",\"items\":[7]}", "n.json: items[0]: expected an object");
	expect_error("{\"kind\":\"List\",\"items\":{}}", "n.json: items: expected an array");
	expect_error("{\"kind\":\"List\",\"items\":[{\"kind\":\"Pod\"}]}", "n.json: no Node in the List");
	expect_error("{\"kind\":\"Pod\"}", "n.json: kind \"Pod\": expected Node, NodeList or List");
	expect_error("{\"kind\":\"Node\"}", "n.json: metadata: missing");
	expect_error("[1]", "n.json: expected a Node, NodeList or List object");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kubectl_list_of_mixed_kinds),
		cmocka_unit_test(node_list_and_single_node),
		cmocka_unit_test(malformed_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
