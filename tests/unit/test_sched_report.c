/* SPDX-License-Identifier: Apache-2.0 */
/* The pre-flight report (docs/report.md) and the what-ifs: grouping of
 * rejected nodes by reason and subject (a node under every reason), the
 * caps with complete counts, capacity, node classes, drain strands, and
 * gw_whatif_apply's three changes. */
#include <string.h>

#include "godwit/sched.h"
#include "helpers.h"

#define NODE(name, extra_labels, extra_spec)                                                             \
	"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: " name "\n  labels:\n"                         \
	"    kubevirt.io/schedulable: 'true'\n    kubernetes.io/arch: amd64\n"                             \
	"    kubernetes.io/hostname: " name "\n"                                                             \
	"    machine-type.node.kubevirt.io/q35: 'true'\n    cpu-vendor.node.kubevirt.io/Intel: 'true'\n"     \
	"    cpu-model.node.kubevirt.io/Haswell: 'true'\n" extra_labels "spec:\n  unschedulable: false\n"     \
	extra_spec "status:\n  allocatable:\n    cpu: '8'\n    memory: 16Gi\n"

#define VMI(name, node, memory)                                                                          \
	"---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: " name            \
	"\n  namespace: default\nspec:\n  domain:\n    cpu:\n      model: Haswell\n    resources:\n"        \
	"      requests:\n        memory: " memory "\n    devices: {}\nstatus:\n  phase: Running\n"        \
	"  nodeName: " node "\n"

static struct gw_cluster *load(const char *yaml)
{
	struct gw_cluster *c = gw_cluster_new();
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	int r = gw_doc_load_string("test.yaml", yaml, strlen(yaml), &docs, &err);
	if (r < 0)
		fail_msg("%s", gw_err_msg(err));
	size_t i;
	json_t *d;
	json_array_foreach(docs, i, d) {
		if (gw_cluster_add_doc(c, d, "test.yaml", i, &err) < 0)
			fail_msg("%s", gw_err_msg(err));
	}
	json_decref(docs);
	gw_cluster_link(c);
	return c;
}

static json_t *vm_of(json_t *report, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(report, "vms"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")), name))
			return v;
	fail_msg("no VM %s in the report", name);
	return NULL;
}

static json_t *group_of(json_t *vm, const char *reason, const char *subject)
{
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(vm, "rejected"), i, g) {
		const char *s = json_string_value(json_object_get(g, "subject"));
		if (!strcmp(json_string_value(json_object_get(g, "reason")), reason) &&
		    (!subject || (s && !strcmp(s, subject))))
			return g;
	}
	return NULL;
}

static bool list_has(const json_t *list, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach((json_t *)list, i, v)
		if (!strcmp(json_string_value(v), name))
			return true;
	return false;
}

/* A node tainted and too small is listed under both reasons; the source
 * only under SourceNode. */
static void test_every_reason(void **state)
{
	(void)state;
	struct gw_cluster *c = load(NODE("a", "", "") NODE("b", "", "  taints:\n  - key: gpu\n    effect: NoSchedule\n")
				    NODE("c", "", "") VMI("vm1", "a", "12Gi") VMI("big", "c", "10Gi"));
	json_t *r = gw_sched_check(c, NULL, NULL, NULL);
	json_t *vm = vm_of(r, "vm1");
	/* b: tainted; b and c: 16Gi - 10Gi (big on c) or 16Gi and the taint */
	json_t *taint = group_of(vm, "TaintNotTolerated", "gpu");
	assert_non_null(taint);
	assert_true(list_has(json_object_get(taint, "nodes"), "b"));
	json_t *mem = group_of(vm, "InsufficientMemory", NULL);
	assert_non_null(mem);
	assert_true(list_has(json_object_get(mem, "nodes"), "c"));
	assert_false(list_has(json_object_get(mem, "nodes"), "b"));
	json_t *src = group_of(vm, "SourceNode", NULL);
	assert_non_null(src);
	assert_true(list_has(json_object_get(src, "nodes"), "a"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(vm, "eligibleTargets"), "count")), 0);
	/* vm1 is migratable with no target: stranded on a */
	assert_true(list_has(json_object_get(json_object_get(r, "cluster"), "vmsWithoutTarget"), "default/vm1"));
	assert_true(list_has(json_object_get(json_object_get(json_object_get(r, "cluster"), "drainStrands"), "a"),
			     "default/vm1"));
	/* big (10Gi) fits on a (16Gi, 12Gi used? no: 4Gi free) -> no; b tainted -> none */
	json_decref(r);
	gw_cluster_free(c);
}

/* 30 nodes lacking a label: 5 names listed, the count complete; the
 * nodes differ in their hostname label, which no selector names, so
 * they form one class. */
static void test_caps_and_classes(void **state)
{
	(void)state;
	struct gw_buf y;
	gw_buf_init(&y);
	gw_buf_puts(&y, NODE("src", "", ""));
	for (int i = 0; i < 30; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%02d", i);
		gw_buf_printf(&y,
			      "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n  labels:\n"
			      "    kubevirt.io/schedulable: 'true'\n    kubernetes.io/arch: amd64\n"
			      "    kubernetes.io/hostname: %s\n    machine-type.node.kubevirt.io/q35: 'true'\n"
			      "    cpu-vendor.node.kubevirt.io/Intel: 'true'\n",
			      name, name);
	}
	gw_buf_puts(&y, VMI("vm1", "src", "1Gi"));
	struct gw_cluster *c = load(y.data);
	gw_buf_fini(&y);
	struct gw_check_options o;
	gw_check_options_init(&o);
	o.max_nodes_listed = 5;
	json_t *r = gw_sched_check(c, NULL, NULL, &o);
	json_t *g = group_of(vm_of(r, "vm1"), "NodeSelectorMismatch", "cpu-model.node.kubevirt.io/Haswell");
	assert_non_null(g);
	assert_int_equal(json_integer_value(json_object_get(g, "count")), 30);
	assert_int_equal(json_array_size(json_object_get(g, "nodes")), 5);
	assert_true(list_has(json_object_get(g, "nodes"), "n00"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "cluster"), "nodeClasses")), 2);
	json_decref(r);
	/* no cap: all of them */
	o.max_nodes_listed = 0;
	r = gw_sched_check(c, NULL, NULL, &o);
	g = group_of(vm_of(r, "vm1"), "NodeSelectorMismatch", "cpu-model.node.kubevirt.io/Haswell");
	assert_int_equal(json_array_size(json_object_get(g, "nodes")), 30);
	json_decref(r);
	gw_cluster_free(c);
}

/* Eligible nodes counted past the cap, with the nodes without room left out. */
static void test_eligible_count(void **state)
{
	(void)state;
	struct gw_cluster *c = load(NODE("a", "", "") NODE("b", "", "") NODE("c", "", "") NODE("d", "", "")
				    VMI("vm1", "a", "4Gi") VMI("fill", "d", "14Gi"));
	struct gw_check_options o;
	gw_check_options_init(&o);
	o.max_nodes_listed = 1;
	json_t *r = gw_sched_check(c, NULL, NULL, &o);
	json_t *et = json_object_get(vm_of(r, "vm1"), "eligibleTargets");
	assert_int_equal(json_integer_value(json_object_get(et, "count")), 2);   /* b, c; d is full */
	assert_int_equal(json_array_size(json_object_get(et, "nodes")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(et, "nodes"), 0)), "b");
	json_decref(r);
	gw_cluster_free(c);
}

static void test_whatif_remove_and_model(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_builtin(&db, &err), 0);
	struct gw_cluster *c = load(NODE("a", "", "") NODE("b", "", "") VMI("vm1", "a", "1Gi"));
	struct gw_whatif w;
	gw_whatif_init(&w);
	gw_strv_push(&w.remove_nodes, "bb");
	assert_int_equal(gw_whatif_apply(c, db, &w, &err), -EINVAL);
	assert_non_null(strstr(gw_err_msg(err), "did you mean"));
	gw_err_free(err);
	err = NULL;
	gw_whatif_fini(&w);

	gw_whatif_init(&w);
	gw_strv_push(&w.remove_nodes, "a");
	w.set_cpu_model = gw_strdup("Haswell");
	assert_int_equal(gw_whatif_apply(c, db, &w, &err), 0);
	gw_whatif_fini(&w);
	assert_int_equal(c->n_nodes, 1);
	assert_null(gw_cluster_node(c, "a"));
	assert_non_null(gw_cluster_node(c, "b"));
	/* the VMI on the removed node is a finding; the CR was created */
	assert_true(c->n_findings >= 1);
	assert_non_null(strstr(c->findings[0].message, "\"a\""));
	assert_non_null(c->kubevirt);
	assert_string_equal(c->kubevirt->cpu_model, "Haswell");

	gw_whatif_init(&w);
	w.set_cpu_model = gw_strdup("Haswel");
	assert_true(gw_whatif_apply(c, db, &w, &err) < 0);
	assert_non_null(strstr(gw_err_msg(err), "Haswell"));
	gw_err_free(err);
	gw_whatif_fini(&w);
	gw_cluster_free(c);
	gw_cpu_modeldb_free(db);
}

static void test_whatif_add_profile(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_builtin(&db, &err), 0);
	struct gw_cluster *c =
		load(NODE("a", "    topology.kubernetes.io/zone: z1\n", "") VMI("vm1", "a", "1Gi"));
	struct gw_whatif w;
	gw_whatif_init(&w);
	char *path = test_source_path("data/hosts/ideal-skylake-server.json");
	gw_strv_push(&w.add_nodes, path);
	free(path);
	int r = gw_whatif_apply(c, db, &w, &err);
	if (r < 0)
		fail_msg("%s", gw_err_msg(err));
	gw_whatif_fini(&w);
	assert_int_equal(c->n_nodes, 2);
	const struct gw_node *n = c->nodes[1];
	assert_string_equal(gw_map_get(&n->meta.labels, "kubevirt.io/schedulable"), "true");
	assert_string_equal(gw_map_get(&n->meta.labels, "topology.kubernetes.io/zone"), "z1");   /* from a */
	assert_int_equal(n->memory_bytes, c->nodes[0]->memory_bytes);
	assert_int_equal(n->cpu_millis, c->nodes[0]->cpu_millis);
	bool host_model = false;
	for (size_t i = 0; i < n->meta.labels.n; i++)
		host_model = host_model || gw_str_has_prefix(n->meta.labels.keys[i], "host-model-cpu.node.kubevirt.io/");
	assert_true(host_model);
	/* the added node can take vm1 (Haswell is usable on Skylake) */
	json_t *rep = gw_sched_check(c, db, NULL, NULL);
	json_t *et = json_object_get(vm_of(rep, "vm1"), "eligibleTargets");
	assert_int_equal(json_integer_value(json_object_get(et, "count")), 1);
	json_decref(rep);
	gw_cluster_free(c);
	gw_cpu_modeldb_free(db);
}

static void collect_text(const char *vm, size_t len, void *ctx)
{
	gw_buf_add(ctx, vm, len);
	gw_buf_add(ctx, "\n", 1);
}

static void collect_tree(json_t *vm, void *ctx)
{
	gw_json_write_compact(ctx, vm);
	gw_buf_add(ctx, "\n", 1);
	json_decref(vm);
}

/* The report as text and as jansson trees: the same bytes. text (out)
 * keeps the text. */
static void text_equals_tree(const struct gw_cluster *c, struct gw_check_options *o, struct gw_buf *text)
{
	struct gw_buf tree;
	gw_buf_init(text);
	gw_buf_init(&tree);
	json_decref(gw_sched_check_stream_text(c, NULL, NULL, o, collect_text, text));
	json_decref(gw_sched_check_stream(c, NULL, NULL, o, collect_tree, &tree));
	assert_string_equal(text->data, tree.data);
	gw_buf_fini(&tree);
}

/* A host-model VMI with no cpu model: its selector comes from its node. */
#define HVMI(name, node, extra_spec)                                                                     \
	"---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: " name            \
	"\n  namespace: default\nspec:\n" extra_spec "  domain:\n    resources:\n      requests:\n"         \
	"        memory: 1Gi\n    devices: {}\nstatus:\n  phase: Running\n  nodeName: " node "\n"

#define HOST_HASWELL                                                                                     \
	"    host-model-cpu.node.kubevirt.io/Haswell: 'true'\n"                                            \
	"    host-model-required-features.node.kubevirt.io/vmx: 'true'\n"                                 \
	"    cpu-model-migration.node.kubevirt.io/Haswell: 'true'\n"                                      \
	"    cpu-feature.node.kubevirt.io/vmx: 'true'\n"

static json_t *eligible_names(json_t *report, const char *vm)
{
	return json_object_get(json_object_get(vm_of(report, vm), "eligibleTargets"), "nodes");
}

/* A VMI with domain lines (cpu, machine) and status lines. */
#define GVMI(name, node, domain, status)                                                                 \
	"---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: " name            \
	"\n  namespace: default\nspec:\n  domain:\n" domain "    resources:\n      requests:\n"               \
	"        memory: 1Gi\n    devices: {}\nstatus:\n  phase: Running\n  nodeName: " node "\n" status

/* Placement signatures are memoized by the VM's inputs and what the
 * selector reads of its source node (vmi_signature): VMIs that differ in
 * one input (tolerations, nodeSelector, a pending migration's
 * addedNodeSelector, features, machine type, remembered launcher
 * selector, the source node's vendor) keep their own signature, and
 * every VM's selector is what gw_sched_target_selector makes of it
 * alone. */
static void test_signature_memo(void **state)
{
	(void)state;
	struct gw_cluster *c = load(
		NODE("a", HOST_HASWELL, "")
		NODE("t", HOST_HASWELL "    zone: z1\n", "  taints:\n  - key: gpu\n    effect: NoSchedule\n")
		NODE("b", HOST_HASWELL "    zone: z2\n", "")
		NODE("s", "    host-model-cpu.node.kubevirt.io/Skylake: 'true'\n", "")
		NODE("m", "", "")
		HVMI("plain", "a", "") HVMI("plain2", "a", "")
		HVMI("tolerant", "a", "  tolerations:\n  - key: gpu\n    operator: Exists\n    effect: NoSchedule\n")
		HVMI("zoned", "a", "  nodeSelector:\n    zone: z2\n")
		HVMI("moving", "a", "")
		HVMI("sky", "s", "")
		HVMI("nomodel1", "m", "") HVMI("nomodel2", "m", "")
		HVMI("lost1", "nowhere", "") HVMI("lost2", "nowhere", "")
		NODE("amd", HOST_HASWELL "    cpu-vendor.node.kubevirt.io/AMD: 'true'\n",
		     "  taints:\n  - key: amd\n    effect: NoSchedule\n")
		HVMI("plain-b", "b", "") HVMI("plain-amd", "amd", "")
		GVMI("named", "a", "    cpu:\n      model: Haswell\n", "")
		GVMI("named-amd", "amd", "    cpu:\n      model: Haswell\n", "")
		GVMI("machined", "a", "    machine:\n      type: pc-q35-rhel9.6.0\n", "")
		GVMI("featured", "a", "    cpu:\n      features:\n      - name: pdpe1gb\n        policy: require\n", "")
		GVMI("featured2", "a", "    cpu:\n      features:\n      - name: ssse3\n        policy: require\n", "")
		GVMI("remembered1", "a", "",
		     "  launcherNodeSelector:\n    cpu-model-migration.node.kubevirt.io/Haswell: 'true'\n")
		GVMI("remembered2", "a", "",
		     "  launcherNodeSelector:\n    cpu-model-migration.node.kubevirt.io/Haswell: 'true'\n"
		     "    cpu-feature.node.kubevirt.io/pdpe1gb: 'true'\n")
		"---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\nmetadata:\n"
		"  name: mig\n  namespace: default\nspec:\n  vmiName: moving\n  addedNodeSelector:\n    zone: z1\n");
	json_t *r = gw_sched_check(c, NULL, NULL, NULL);
	/* plain: b only (t tainted); tolerant: b and t; zoned: b; moving: t, tainted */
	json_t *e = eligible_names(r, "plain");
	assert_int_equal(json_array_size(e), 1);
	assert_true(list_has(e, "b"));
	assert_true(json_equal(e, eligible_names(r, "plain2")));
	e = eligible_names(r, "tolerant");
	assert_int_equal(json_array_size(e), 2);
	assert_true(list_has(e, "t"));
	e = eligible_names(r, "zoned");
	assert_int_equal(json_array_size(e), 1);
	assert_true(list_has(e, "b"));
	assert_int_equal(json_array_size(eligible_names(r, "moving")), 0);
	assert_non_null(group_of(vm_of(r, "moving"), "TaintNotTolerated", "gpu"));
	/* failures keep their own message */
	const char *m1 = json_string_value(json_object_get(vm_of(r, "lost1"), "selectorError"));
	const char *m2 = json_string_value(json_object_get(vm_of(r, "lost2"), "selectorError"));
	assert_non_null(strstr(m1, "\"lost1\""));
	assert_non_null(strstr(m2, "\"lost2\""));
	assert_non_null(json_object_get(vm_of(r, "nomodel2"), "selectorError"));
	/* every selector and affinity as computed for the VMI alone */
	for (size_t i = 0; i < c->n_vmis; i++) {
		const struct gw_vmi *vmi = c->vmis[i];
		const struct gw_vmim *pending = !strcmp(vmi->meta.name, "moving") ? c->vmims[0] : NULL;
		struct gw_map sel = {0};
		struct gw_node_affinity aff = {0};
		struct gw_err *err = NULL;
		json_t *vm = vm_of(r, vmi->meta.name);
		if (gw_sched_target_selector(c, vmi, pending, &sel, &aff, &err) < 0) {
			assert_string_equal(json_string_value(json_object_get(vm, "selectorError")), gw_err_msg(err));
			gw_err_free(err);
			gw_map_fini(&sel);
			continue;
		}
		json_t *js = gw_map_to_json(&sel), *ja = gw_node_affinity_to_json(&aff);
		assert_true(json_equal(js, json_object_get(vm, "targetSelector")));
		assert_true(json_equal(ja, json_object_get(vm, "targetAffinity")));
		json_decref(js);
		json_decref(ja);
		gw_map_fini(&sel);
		gw_node_affinity_fini(&aff);
	}
	/* the pairs that share most inputs were told apart */
	static const char *const differ[][2] = {
		{"plain", "sky"}, {"plain", "plain-amd"}, {"named", "named-amd"}, {"plain", "machined"},
		{"plain", "featured"}, {"featured", "featured2"}, {"remembered1", "remembered2"}, {"plain", "remembered1"},
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(differ); i++)
		assert_false(json_equal(json_object_get(vm_of(r, differ[i][0]), "targetSelector"),
					json_object_get(vm_of(r, differ[i][1]), "targetSelector")));
	assert_true(json_equal(json_object_get(vm_of(r, "plain"), "targetSelector"),
			       json_object_get(vm_of(r, "plain-b"), "targetSelector")));
	json_decref(r);
	/* the same in threads, text against tree */
	struct gw_check_options o;
	gw_check_options_init(&o);
	o.threads = 2;
	o.text_chunk = 1;
	struct gw_buf text;
	text_equals_tree(c, &o, &text);
	gw_buf_fini(&text);
	gw_cluster_free(c);
}

/* gw_sched_check_stream_text writes what the compact writer makes of
 * gw_sched_check_stream's objects, byte for byte: blockers, rejections
 * with and without subject, a VM whose node is missing (selectorError),
 * one without cpu model (host-model selector), strings to escape. */
static void test_text_matches_tree(void **state)
{
	(void)state;
	struct gw_cluster *c = load(
		NODE("a", "    host-model-cpu.node.kubevirt.io/Haswell: 'true'\n"
			  "    host-model-required-features.node.kubevirt.io/vmx: 'true'\n", "")
		NODE("b", "", "  taints:\n  - key: \"x\\\"y\\\\z\\n\"\n    effect: NoSchedule\n")
		NODE("c", "", "") VMI("vm1", "a", "12Gi") VMI("big", "c", "10Gi")
		VMI("lost", "nowhere", "1Gi")
		"---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: \"h\\tm\"\n"
		"  namespace: default\nspec:\n  domain:\n    resources:\n      requests:\n        memory: 1Gi\n"
		"    devices: {}\nstatus:\n  phase: Running\n  nodeName: a\n");
	for (size_t max = 0; max < 3; max += 2) {
		struct gw_check_options o;
		gw_check_options_init(&o);
		o.max_nodes_listed = max;
		struct gw_buf text, tree;
		gw_buf_init(&text);
		gw_buf_init(&tree);
		json_decref(gw_sched_check_stream_text(c, NULL, NULL, &o, collect_text, &text));
		json_decref(gw_sched_check_stream(c, NULL, NULL, &o, collect_tree, &tree));
		assert_non_null(strstr(tree.data, "selectorError"));
		assert_non_null(strstr(tree.data, "\\\"y\\\\z\\n"));
		assert_non_null(strstr(tree.data, "h\\tm"));
		assert_string_equal(text.data, tree.data);
		gw_buf_fini(&text);
		gw_buf_fini(&tree);
	}
	gw_cluster_free(c);
}

/* A VMI with labels and namespace, the policies below (PVMI: one VMI). */
#define POLICY(name, vmi_sel, ns_sel, extra)                                                              \
	"---\napiVersion: migrations.kubevirt.io/v1alpha1\nkind: MigrationPolicy\nmetadata:\n  name: " name   \
	"\nspec:\n  selectors:\n    virtualMachineInstanceSelector: {" vmi_sel "}\n"                       \
	"    namespaceSelector: {" ns_sel "}\n" extra
#define PVMI(name, ns, labels, memory)                                                                     \
	"---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n  name: " name            \
	"\n  namespace: " ns "\n  labels: {" labels "}\nspec:\n  domain:\n    cpu:\n      model: Haswell\n" \
	"    resources:\n      requests:\n        memory: " memory "\n    devices: {}\n"                     \
	"status:\n  phase: Running\n  nodeName: a\n"

/* The text report's settings come from a memo of the winning policy per
 * thread: VMIs that differ in only one of its inputs (namespace and so
 * its labels, a selected label's value, a label's presence, having labels
 * at all) each get their own policy, and memory sizes stay per VMI. One
 * thread, so that every VMI meets the memo the ones before it filled. */
static void test_settings_memo(void **state)
{
	(void)state;
	struct gw_cluster *c = load(
		NODE("a", "", "") NODE("b", "", "")
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n  labels: {env: dev}\n"
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  labels: {env: prod}\n"
		POLICY("p-db-dev", "tier: db", "env: dev", "  completionTimeoutPerGiB: 11\n")
		POLICY("p-db", "tier: db", "", "  completionTimeoutPerGiB: 12\n")
		POLICY("p-web", "tier: web", "", "  completionTimeoutPerGiB: 13\n")
		POLICY("p-any", "", "", "  completionTimeoutPerGiB: 14\n")
		/* matches only VMIs without labels (5.2's QUIRK), and wins by name */
		POLICY("p-0", "tier: none", "", "  completionTimeoutPerGiB: 15\n")
		PVMI("v1", "dev", "tier: db, app: x", "1Gi") PVMI("v2", "prod", "tier: db, app: x", "1Gi")
		PVMI("v3", "dev", "tier: web, app: x", "1Gi") PVMI("v4", "dev", "app: x", "1Gi")
		PVMI("v5", "dev", "tier: other, app: x", "1Gi") PVMI("v6", "dev", "", "1Gi")
		PVMI("v7", "dev", "tier: db, app: y", "3Gi") PVMI("v8", "prod", "tier: db, app: x", "1Gi"));
	static const struct {
		const char *vm, *policy;
		int64_t size;
	} want[] = {
		{"v1", "p-db-dev", 1LL << 30}, {"v2", "p-db", 1LL << 30}, {"v3", "p-web", 1LL << 30},
		{"v4", "p-any", 1LL << 30},    {"v5", "p-any", 1LL << 30}, {"v6", "p-0", 1LL << 30},
		{"v7", "p-db-dev", 3LL << 30}, {"v8", "p-db", 1LL << 30},
	};
	struct gw_check_options o;
	gw_check_options_init(&o);
	o.threads = 1;
	struct gw_buf text;
	text_equals_tree(c, &o, &text);
	size_t n = 0;
	for (const char *line = text.data; *line; n++) {
		const char *end = strchr(line, '\n');
		json_t *vm = json_loadb(line, (size_t)(end - line), 0, NULL);
		assert_non_null(vm);
		assert_true(n < GW_ARRAY_SIZE(want));
		assert_string_equal(json_string_value(json_object_get(vm, "name")), want[n].vm);
		json_t *s = json_object_get(vm, "settings");
		assert_string_equal(json_string_value(json_object_get(s, "policy")), want[n].policy);
		assert_int_equal(json_integer_value(json_object_get(s, "sizeBytes")), want[n].size);
		struct gw_migration_settings direct;
		gw_sched_settings(c, gw_cluster_vmi(c, want[n].vm[1] == '2' || want[n].vm[1] == '8' ? "prod" : "dev",
						    want[n].vm),
				  NULL, &direct);
		assert_string_equal(direct.policy, want[n].policy);
		assert_int_equal(json_integer_value(json_object_get(s, "completionTimeoutPerGiB")),
				 direct.config.completion_timeout_per_gib);
		json_decref(vm);
		line = end + 1;
	}
	assert_int_equal(n, GW_ARRAY_SIZE(want));
	gw_buf_fini(&text);
	gw_cluster_free(c);
}

static json_t *text_report(const struct gw_cluster *c, const struct gw_cpu_modeldb *db, struct gw_check_options *o,
			   unsigned threads, size_t chunk, struct gw_buf *text)
{
	o->threads = threads;
	o->text_chunk = chunk;
	gw_buf_init(text);
	return gw_sched_check_stream_text(c, db, NULL, o, collect_text, text);
}

struct counted {
	struct gw_buf text;
	size_t calls;
};

static void collect_counted(const char *vm, size_t len, void *ctx)
{
	struct counted *t = ctx;
	t->calls++;
	collect_text(vm, len, &t->text);
}

static void collect_iov(const struct iovec *iov, size_t n, void *ctx)
{
	struct counted *t = ctx;
	t->calls++;
	for (size_t i = 0; i < n; i++)
		gw_buf_add(&t->text, iov[i].iov_base, iov[i].iov_len);
	gw_buf_add(&t->text, "\n", 1);
}

/* The VMs' text written by threads, chunk by chunk, is the single
 * thread's, and so are the cluster's lists, on a generated cluster of
 * more than one chunk (default and tiny chunks, more threads than
 * chunks), with the recommended model and a what-if's lookups. */
static void test_threads_same_text(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_builtin(&db, &err), 0);
	struct gw_buf y;
	gw_buf_init(&y);
	static const char *const models[] = {"Haswell", "Skylake", "IvyBridge"};
	for (int i = 0; i < 40; i++) {
		const char *m = models[i % 3];
		gw_buf_printf(&y,
			      "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n%02d\n  labels:\n"
			      "    kubevirt.io/schedulable: 'true'\n    kubernetes.io/arch: amd64\n"
			      "    kubernetes.io/hostname: n%02d\n    machine-type.node.kubevirt.io/q35: 'true'\n"
			      "    cpu-vendor.node.kubevirt.io/Intel: 'true'\n"
			      "    cpu-model.node.kubevirt.io/%s: 'true'\n"
			      "    cpu-model-migration.node.kubevirt.io/%s: 'true'\n"
			      "    host-model-cpu.node.kubevirt.io/%s: 'true'\n"
			      "    host-model-required-features.node.kubevirt.io/vmx: 'true'\n"
			      "    cpu-feature.node.kubevirt.io/vmx: 'true'\n    zone: z%d\n"
			      "spec:\n  unschedulable: %s\n%s"
			      "status:\n  allocatable:\n    cpu: '%d'\n    memory: %dGi\n",
			      i, i, m, m, m, i % 4, i % 11 == 5 ? "true" : "false",
			      i % 7 == 3 ? "  taints:\n  - key: gpu\n    effect: NoSchedule\n" : "", 4 + i % 5,
			      8 + 4 * (i % 4));
	}
	for (int v = 0; v < 1300; v++) {
		gw_buf_printf(&y,
			      "---\napiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata:\n"
			      "  name: vm%04d\n  namespace: ns%d\nspec:\n%s%s  domain:\n%s    resources:\n"
			      "      requests:\n        memory: %dGi\n        cpu: %dm\n    devices: {}\n"
			      "status:\n  phase: Running\n  nodeName: %s%02d\n",
			      v, v % 3, v % 9 == 1 ? "  tolerations:\n  - key: gpu\n    operator: Exists\n" : "",
			      v % 13 == 2 ? "  nodeSelector:\n    zone: z1\n" : "",
			      v % 4 == 0 ? "    cpu:\n      model: Haswell\n" : "", 1 + v % 6, 500 * (1 + v % 5),
			      v % 97 == 7 ? "gone" : "n", v % 40);
	}
	struct gw_cluster *c = load(y.data);
	gw_buf_fini(&y);
	for (int whatif = 0; whatif < 2; whatif++) {
		struct gw_check_options o;
		gw_check_options_init(&o);
		o.whatif_set_cpu_model = whatif;
		o.previous_cpu_model = whatif ? "Haswell" : NULL;
		struct gw_buf one, many;
		json_t *r1 = text_report(c, db, &o, 1, 0, &one);
		const struct {
			unsigned threads;
			size_t chunk;
		} runs[] = {{2, 0}, {3, 7}, {8, 1000}, {0, 0}};
		for (size_t i = 0; i < GW_ARRAY_SIZE(runs); i++) {
			json_t *r = text_report(c, db, &o, runs[i].threads, runs[i].chunk, &many);
			assert_int_equal(one.len, many.len);
			assert_memory_equal(one.data, many.data, one.len);
			assert_true(json_equal(r1, r));
			json_decref(r);
			gw_buf_fini(&many);
		}
		/* joined (o.text_join): a chunk per call, the same text, also
		 * in pieces (o.text_iov) */
		const size_t chunks[] = {0, 7, 1, 0, 7};
		for (size_t i = 0; i < GW_ARRAY_SIZE(chunks); i++) {
			struct counted t = {{0}, 0};
			o.threads = 2;
			o.text_chunk = chunks[i];
			o.text_join = "\n";
			o.text_iov = i >= 3 ? collect_iov : NULL;
			json_t *r = gw_sched_check_stream_text(c, db, NULL, &o, collect_counted, &t);
			o.text_join = NULL;
			o.text_iov = NULL;
			assert_int_equal(one.len, t.text.len);
			assert_memory_equal(one.data, t.text.data, one.len);
			assert_true(json_equal(r1, r));
			assert_true(t.calls < 1300 || chunks[i] == 1);
			json_decref(r);
			gw_buf_fini(&t.text);
		}
		/* the lists are not empty: the tally was exercised */
		json_t *cl = json_object_get(r1, "cluster");
		assert_true(json_array_size(json_object_get(cl, "vmsWithoutTarget")) > 0);
		assert_true(json_object_size(json_object_get(cl, "drainStrands")) > 0);
		json_decref(r1);
		gw_buf_fini(&one);
	}
	gw_cluster_free(c);
	gw_cpu_modeldb_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_reason),
		cmocka_unit_test(test_caps_and_classes),
		cmocka_unit_test(test_eligible_count),
		cmocka_unit_test(test_whatif_remove_and_model),
		cmocka_unit_test(test_whatif_add_profile),
		cmocka_unit_test(test_text_matches_tree),
		cmocka_unit_test(test_signature_memo),
		cmocka_unit_test(test_threads_same_text),
		cmocka_unit_test(test_settings_memo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
