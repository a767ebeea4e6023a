/* SPDX-License-Identifier: Apache-2.0 */
/* Lists, errors with file + document + field + value, findings, launcher
 * pods. Inline YAML goes through gw_doc_load_string like a file would. */
#include "helpers.h"

#include <string.h>

#include "godwit/api.h"

/* Loads YAML text as file `name` into c; returns the error message or NULL. */
static char *load_text(struct gw_cluster *c, const char *name, const char *yaml)
{
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	int r = gw_doc_load_string(name, yaml, strlen(yaml), &docs, &err);
	for (size_t i = 0; r == 0 && i < json_array_size(docs); i++)
		r = gw_cluster_add_doc(c, json_array_get(docs, i), name, i, &err);
	json_decref(docs);
	char *msg = r < 0 ? gw_strdup(gw_err_msg(err)) : NULL;
	gw_err_free(err);
	return msg;
}

static void test_kubectl_list(void **state)
{
	(void)state;
	_cleanup_free_ char *path = test_data_path("api/kubectl-list.json");
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	if (gw_cluster_load(c, path, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	gw_cluster_link(c);
	assert_int_equal(c->n_docs, 4);
	assert_int_equal(c->n_skipped, 3);   /* Service, ConfigMap, Deployment */
	assert_int_equal(c->n_nodes, 1);
	assert_int_equal(c->n_vmis, 1);
	assert_int_equal(c->n_pods, 1);
	assert_int_equal(c->n_pvcs, 1);
	struct gw_vmi *v = gw_cluster_vmi(c, "vms", "fedora-1");
	assert_non_null(v);
	assert_ptr_equal(gw_cluster_vmi_by_uid(c, "d8e5a0f6-5b0b-4e5e-9d47-0c3c0f3b9a01"), v);
	assert_int_equal(gw_cluster_node(c, "worker-1")->cpu_millis, 15900);
	assert_int_equal(gw_cluster_node(c, "worker-1")->memory_bytes, 65331576LL * 1024);
	/* launcher pod linked by kubevirt.io/created-by */
	assert_true(v->has_launcher_selector);
	assert_int_equal(v->launcher_selector.n, 2);
	assert_string_equal(gw_map_get(&v->launcher_selector, "host-model-cpu.node.kubevirt.io/Icelake-Server"), "true");
	/* volumeStatus has no claim info: the PVC object's status modes are used */
	assert_string_equal(gw_map_get(&v->pvc_access_modes, "fedora-1-root"), "ReadWriteMany");
	assert_string_equal(gw_cluster_pvc(c, "vms", "fedora-1-root")->access_modes.v[0], "ReadWriteMany");
	assert_int_equal(c->n_findings, 0);
	gw_cluster_free(c);
}

static void test_typed_list_and_multidoc(void **state)
{
	(void)state;
	struct gw_cluster *c = gw_cluster_new();
	char *msg = load_text(c, "l.yaml",
			      "apiVersion: v1\nkind: NodeList\nitems:\n"
			      "- metadata: {name: n1}\n- metadata: {name: n2}\n"
			      "---\n"
			      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
			      "---\n"
			      "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceList\nitems: []\n");
	assert_null(msg);
	assert_int_equal(c->n_nodes, 2);
	assert_int_equal(c->n_skipped, 1);
	assert_non_null(gw_cluster_node(c, "n2"));
	gw_cluster_free(c);
}

static const struct {
	const char *name;
	const char *yaml;
	const char *want;   /* the whole message, or its start when ending in '*' */
} errors[] = {
	{"bad quantity",
	 "kind: Node\nmetadata: {name: n0}\n---\n"
	 "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: {name: vm1}\n"
	 "spec: {domain: {resources: {requests: {memory: 12Zi}}}}\n",
	 "t.yaml: document 2 (VirtualMachineInstance default/vm1): spec.domain.resources.requests.memory: "
	 "\"12Zi\": not a quantity"},
	{"negative quantity",
	 "apiVersion: migrations.kubevirt.io/v1alpha1\nkind: MigrationPolicy\nmetadata: {name: p-a}\n"
	 "spec: {bandwidthPerMigration: -5Mi}\n",
	 "t.yaml: document 1 (MigrationPolicy p-a): spec.bandwidthPerMigration: \"-5Mi\": must not be negative"},
	{"wrong type",
	 "kind: Node\nmetadata: {name: n1}\nspec: {unschedulable: \"yes\"}\n",
	 "t.yaml: document 1 (Node n1): spec.unschedulable: \"yes\": not a boolean"},
	{"wrong type of spec",
	 "kind: VirtualMachineInstance\nmetadata: {name: v, namespace: ns1}\nspec: [1, 2]\n",
	 "t.yaml: document 1 (VirtualMachineInstance ns1/v): spec: [1,2]: not an object"},
	{"missing vmiName",
	 "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\nmetadata: {name: m1, namespace: x}\n"
	 "spec: {}\n",
	 "t.yaml: document 1 (VirtualMachineInstanceMigration x/m1): spec.vmiName: missing"},
	{"missing name",
	 "kind: Node\nmetadata: {labels: {a: b}}\n",
	 "t.yaml: document 1 (Node ?): metadata.name: missing"},
	{"bad policy value",
	 "kind: MigrationPolicy\nmetadata: {name: p}\nspec: {maxDowntimeMs: 0}\n",
	 "t.yaml: document 1 (MigrationPolicy p): spec.maxDowntimeMs: 0: out of range 1..2000000"},
	{"bad policy bool",
	 "kind: MigrationPolicy\nmetadata: {name: p}\nspec: {allowPostCopy: 1}\n",
	 "t.yaml: document 1 (MigrationPolicy p): spec.allowPostCopy: 1: not a boolean"},
	{"negative completion timeout",
	 "kind: MigrationPolicy\nmetadata: {name: p}\nspec: {completionTimeoutPerGiB: -1}\n",
	 "t.yaml: document 1 (MigrationPolicy p): spec.completionTimeoutPerGiB: -1: out of range*"},
	{"unknown feature policy",
	 "kind: VirtualMachineInstance\nmetadata: {name: v}\n"
	 "spec: {domain: {cpu: {features: [{name: a}, {name: pcid, policy: requried}]}}}\n",
	 "t.yaml: document 1 (VirtualMachineInstance default/v): spec.domain.cpu.features[1].policy: \"requried\": "
	 "unknown feature policy*"},
	{"bad affinity operator",
	 "kind: VirtualMachine\nmetadata: {name: v}\nspec:\n  template:\n    spec:\n      affinity:\n"
	 "        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n"
	 "            nodeSelectorTerms:\n            - matchExpressions:\n"
	 "              - {key: zone, operator: Like, values: [a]}\n",
	 "t.yaml: document 1 (VirtualMachine default/v): spec.template.spec.affinity.nodeAffinity."
	 "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: "
	 "\"Like\": must be one of*"},
	{"Gt needs an integer",
	 "kind: VirtualMachineInstance\nmetadata: {name: v}\nspec:\n  affinity:\n    nodeAffinity:\n"
	 "      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n"
	 "        - matchExpressions: [{key: c, operator: Gt, values: [x]}]\n",
	 "*matchExpressions[0].values: [\"x\"]: must be one integer for Gt and Lt"},
	{"duplicate names",
	 "kind: Node\nmetadata: {name: n1}\n---\nkind: Node\nmetadata: {name: n1}\n",
	 "t.yaml: document 2 (Node n1): metadata.name: \"n1\": duplicate Node n1 (first: t.yaml: document 1 (Node n1))"},
	{"duplicate in a list",
	 "kind: List\nitems:\n- {kind: Pod, apiVersion: v1, metadata: {name: p, namespace: a}}\n"
	 "- {kind: Pod, apiVersion: v1, metadata: {name: p, namespace: a}}\n",
	 "t.yaml: document 1, items[1] (Pod a/p): metadata.name: \"p\": duplicate Pod a/p*"},
	{"unknown kind",
	 "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanse\nmetadata: {name: v}\n",
	 "t.yaml: document 1: kind \"VirtualMachineInstanse\" (apiVersion \"kubevirt.io/v1\") is not supported; "
	 "supported kinds: Node, Namespace, VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceMigration, "
	 "MigrationPolicy, KubeVirt, Pod, PersistentVolumeClaim, and List"},
	{"kind with a wrong apiVersion",
	 "apiVersion: v1\nkind: VirtualMachine\nmetadata: {name: v}\n",
	 "t.yaml: document 1: kind \"VirtualMachine\" (apiVersion \"v1\") is not supported*"},
	{"missing kind", "metadata: {name: x}\n", "t.yaml: document 1: kind: missing"},
	{"not an object", "- a\n- b\n", "t.yaml: document 1: [\"a\",\"b\"]: not an object"},
	{"label not a string",
	 "kind: Node\nmetadata: {name: n, labels: {a: 1}}\n",
	 "t.yaml: document 1 (Node n): metadata.labels.a: 1: not a string"},
	{"taint effect",
	 "kind: Node\nmetadata: {name: n}\nspec: {taints: [{key: k, effect: Sometimes}]}\n",
	 "t.yaml: document 1 (Node n): spec.taints[0].effect: \"Sometimes\": must be one of*"},
	{"two bindings",
	 "kind: VirtualMachineInstance\nmetadata: {name: v}\n"
	 "spec: {domain: {devices: {interfaces: [{name: d, bridge: {}, masquerade: {}}]}}}\n",
	 "*spec.domain.devices.interfaces[0].bridge: {}: more than one binding method"},
	{"pvc without claim",
	 "kind: VirtualMachineInstance\nmetadata: {name: v}\nspec: {volumes: [{name: d, persistentVolumeClaim: {}}]}\n",
	 "*spec.volumes[0].persistentVolumeClaim.claimName: missing"},
	{"running and runStrategy",
	 "kind: VirtualMachine\nmetadata: {name: v}\nspec: {running: true, runStrategy: Always, template: {spec: {}}}\n",
	 "*spec.runStrategy: \"Always\": spec.running and spec.runStrategy are mutually exclusive"},
	{"VM without template",
	 "kind: VirtualMachine\nmetadata: {name: v}\nspec: {running: false}\n",
	 "t.yaml: document 1 (VirtualMachine default/v): spec.template: missing"},
	{"bad priority",
	 "kind: VirtualMachineInstanceMigration\nmetadata: {name: m}\nspec: {vmiName: v, priority: urgent}\n",
	 "*spec.priority: \"urgent\": must be one of*"},
	{"two KubeVirt CRs",
	 "kind: KubeVirt\nmetadata: {name: a, namespace: kubevirt}\n---\nkind: KubeVirt\nmetadata: {name: b, namespace: x}\n",
	 "t.yaml: document 2 (KubeVirt x/b): metadata.name: \"b\": a second KubeVirt resource*"},
	{"kubevirt migrations",
	 "kind: KubeVirt\nmetadata: {name: a}\nspec: {configuration: {migrations: {parallelMigrationsPerCluster: -3}}}\n",
	 "*spec.configuration.migrations.parallelMigrationsPerCluster: -3: out of range*"},
	{"pvc access mode",
	 "kind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [RWX]}\n",
	 "t.yaml: document 1 (PersistentVolumeClaim default/c): spec.accessModes[0]: \"RWX\": not an access mode*"},
	{"items not a list",
	 "kind: List\nitems: 5\n", "t.yaml: document 1: items: not a list"},
};

static bool matches(const char *got, const char *want)
{
	size_t n = strlen(want);
	bool prefix_wild = want[0] == '*', suffix_wild = n && want[n - 1] == '*';
	_cleanup_free_ char *core = gw_strndup(want + prefix_wild, n - prefix_wild - suffix_wild);
	if (prefix_wild && suffix_wild)
		return strstr(got, core) != NULL;
	if (prefix_wild)
		return gw_str_has_suffix(got, core);
	if (suffix_wild)
		return gw_str_has_prefix(got, core);
	return strcmp(got, want) == 0;
}

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < GW_ARRAY_SIZE(errors); i++) {
		struct gw_cluster *c = gw_cluster_new();
		_cleanup_free_ char *msg = load_text(c, "t.yaml", errors[i].yaml);
		gw_cluster_free(c);
		if (!msg)
			fail_msg("%s: no error", errors[i].name);
		if (!matches(msg, errors[i].want))
			fail_msg("%s:\n got: %s\nwant: %s", errors[i].name, msg, errors[i].want);
	}
}

static void test_skipped_top_level(void **state)
{
	(void)state;
	struct gw_cluster *c = gw_cluster_new();
	char *msg = load_text(c, "t.yaml",
			      "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n"
			      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
			      "---\nkind: Node\nmetadata: {name: n}\n");
	assert_null(msg);
	assert_int_equal(c->n_skipped, 2);
	assert_int_equal(c->n_nodes, 1);
	gw_cluster_free(c);
}

static const char *launcher_yaml =
	"kind: Node\nmetadata: {name: n1}\n---\n"
	"kind: Node\nmetadata: {name: n2}\n---\n"
	"kind: VirtualMachineInstance\nmetadata: {name: a, namespace: ns, uid: uid-a}\nspec: {}\n"
	"status: {nodeName: n1, phase: Running}\n---\n"
	/* the migration target pod on n2 must not win over the source on n1 */
	"kind: Pod\nmetadata: {name: virt-launcher-a-tgt, namespace: ns,"
	" labels: {kubevirt.io/created-by: uid-a, vm.kubevirt.io/name: a}}\n"
	"spec: {nodeName: n2, nodeSelector: {target: \"yes\"}}\nstatus: {phase: Pending}\n---\n"
	"kind: Pod\nmetadata: {name: virt-launcher-a-src, namespace: ns,"
	" labels: {kubevirt.io/created-by: uid-a, vm.kubevirt.io/name: a}}\n"
	"spec: {nodeName: n1, nodeSelector: {cpu-model.node.kubevirt.io/Haswell: \"true\"}}\nstatus: {phase: Running}\n"
	"---\n"
	/* no uid: linked by name, namespace and node */
	"kind: VirtualMachineInstance\nmetadata: {name: b, namespace: ns}\nspec: {}\nstatus: {nodeName: n2}\n---\n"
	"kind: Pod\nmetadata: {name: virt-launcher-b, namespace: ns, labels: {vm.kubevirt.io/name: b}}\n"
	"spec: {nodeName: n2, nodeSelector: {k: v}}\nstatus: {phase: Running}\n---\n"
	/* Godwit's own record of the selectors */
	"kind: VirtualMachineInstance\nmetadata: {name: c, namespace: ns}\nspec: {}\n"
	"status: {nodeName: n2, launcherNodeSelector: {remembered: \"1\"}}\n---\n"
	/* an unrelated pod */
	"kind: Pod\nmetadata: {name: web, namespace: ns, labels: {app: web}}\n";

static void test_launcher_selectors(void **state)
{
	(void)state;
	struct gw_cluster *c = gw_cluster_new();
	char *msg = load_text(c, "l.yaml", launcher_yaml);
	if (msg)
		fail_msg("%s", msg);
	gw_cluster_link(c);
	struct gw_vmi *a = gw_cluster_vmi(c, "ns", "a"), *b = gw_cluster_vmi(c, "ns", "b"),
		      *cc = gw_cluster_vmi(c, "ns", "c");
	assert_true(a->has_launcher_selector);
	assert_int_equal(a->launcher_selector.n, 1);
	assert_string_equal(gw_map_get(&a->launcher_selector, "cpu-model.node.kubevirt.io/Haswell"), "true");
	assert_true(b->has_launcher_selector);
	assert_string_equal(gw_map_get(&b->launcher_selector, "k"), "v");
	assert_true(cc->has_launcher_selector);
	assert_string_equal(gw_map_get(&cc->launcher_selector, "remembered"), "1");
	assert_int_equal(c->n_findings, 0);
	/* linking twice gives the same result */
	gw_cluster_link(c);
	assert_int_equal(a->launcher_selector.n, 1);
	assert_int_equal(c->n_findings, 0);
	gw_cluster_free(c);
}

static void test_findings(void **state)
{
	(void)state;
	struct gw_cluster *c = gw_cluster_new();
	char *msg = load_text(c, "f.yaml",
			      "kind: Node\nmetadata: {name: n1}\n---\n"
			      "kind: VirtualMachineInstance\nmetadata: {name: vm1, namespace: default}\nspec: {}\n"
			      "status: {nodeName: gone}\n---\n"
			      "kind: VirtualMachineInstanceMigration\nmetadata: {name: m1}\nspec: {vmiName: nobody}\n---\n"
			      "kind: Pod\nmetadata: {name: virt-launcher-x, namespace: default,"
			      " labels: {kubevirt.io/created-by: uid-x, vm.kubevirt.io/name: x}}\n"
			      "spec: {nodeName: n1}\nstatus: {phase: Running}\n");
	if (msg)
		fail_msg("%s", msg);
	gw_cluster_link(c);
	assert_int_equal(c->n_findings, 3);
	assert_string_equal(c->findings[0].where, "f.yaml: document 2 (VirtualMachineInstance default/vm1)");
	assert_string_equal(c->findings[0].message, "status.nodeName: \"gone\": no such Node in the input");
	assert_string_equal(c->findings[1].where, "f.yaml: document 3 (VirtualMachineInstanceMigration default/m1)");
	assert_string_equal(c->findings[1].message,
			    "spec.vmiName: \"nobody\": no such VirtualMachineInstance in namespace default");
	assert_string_equal(c->findings[2].where, "f.yaml: document 4 (Pod default/virt-launcher-x)");
	assert_non_null(strstr(c->findings[2].message, "launcher pod for VirtualMachineInstance default/x"));
	gw_cluster_free(c);
}

/* Many objects: the index grows and every one is still found. */
static void test_index_scale(void **state)
{
	(void)state;
	struct gw_cluster *c = gw_cluster_new();
	for (size_t i = 0; i < 5000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "vm-%zu", i);
		json_t *doc = json_pack("{s:s, s:{s:s, s:s}, s:{}}", "kind", "VirtualMachineInstance", "metadata",
					"name", name, "namespace", i % 2 ? "odd" : "even", "spec");
		assert_int_equal(gw_cluster_add_doc(c, doc, "gen", i, NULL), 0);
		json_decref(doc);
	}
	assert_int_equal(c->n_vmis, 5000);
	for (size_t i = 0; i < 5000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "vm-%zu", i);
		assert_ptr_equal(gw_cluster_vmi(c, i % 2 ? "odd" : "even", name), c->vmis[i]);
		assert_null(gw_cluster_vmi(c, i % 2 ? "even" : "odd", name));
	}
	gw_cluster_free(c);
}

static void test_load_errors(void **state)
{
	(void)state;
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	_cleanup_free_ char *missing = test_data_path("api/does-not-exist.yaml");
	assert_true(gw_cluster_load(c, missing, &err) < 0);
	assert_non_null(strstr(gw_err_msg(err), "does-not-exist.yaml"));
	gw_err_free(err);
	err = NULL;
	gw_cluster_free(c);

	/* a syntax error deep in a directory names the file and its line */
	c = gw_cluster_new();
	_cleanup_free_ char *broken = test_data_path("api/broken");
	assert_true(gw_cluster_load(c, broken, &err) < 0);
	assert_non_null(strstr(gw_err_msg(err), "broken/sub/b.yaml"));
	assert_non_null(strstr(gw_err_msg(err), "line"));
	assert_int_equal(c->n_nodes, 1);   /* a.yaml came first */
	gw_err_free(err);
	gw_cluster_free(c);
}

/* A JSON file is streamed (a List's items decoded one by one); the result,
 * errors included, must be that of the whole-file reader passing each
 * document to gw_cluster_add_doc. tests/data/api/stream: ok-* load,
 * err-* fail (syntax errors after decoding errors, duplicates, what yajl
 * and jansson read differently, Lists that are not Lists). */
static void load_reference(struct gw_cluster *c, const char *path, int *r, char **msg)
{
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	*r = gw_doc_load_file(path, &docs, &err);
	for (size_t i = 0; *r == 0 && i < json_array_size(docs); i++)
		*r = gw_cluster_add_doc(c, json_array_get(docs, i), path, i, &err);
	json_decref(docs);
	*msg = *r < 0 ? gw_strdup(gw_err_msg(err)) : NULL;
	gw_err_free(err);
}

static void assert_maps_equal(const struct gw_map *a, const struct gw_map *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->keys[i], b->keys[i]);
		assert_string_equal(a->values[i], b->values[i]);
	}
}

static void assert_meta_equal(const struct gw_meta *a, const struct gw_meta *b)
{
	assert_string_equal(a->name, b->name);
	assert_maps_equal(&a->labels, &b->labels);
	assert_maps_equal(&a->annotations, &b->annotations);
}

/* Twice: documents kept, then dropped, where the stream interns an item's
 * maps of strings as read instead of building them (ok-captured-*,
 * err-captured-*: the error is the whole-file reader's all the same). */
static void test_stream_matches_whole_file(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = test_data_path("api/stream");
	struct gw_strv files;
	gw_strv_init(&files);
	struct gw_err *err = NULL;
	if (gw_dir_list(dir, &files, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	assert_true(files.n >= 30);
	for (size_t f = 0; f < 2 * files.n; f++) {
		const char *path = files.v[f % files.n];
		bool ok = strstr(path, "/ok-") != NULL, drop = f >= files.n;
		struct gw_cluster *streamed = gw_cluster_new(), *whole = gw_cluster_new();
		streamed->drop_docs = whole->drop_docs = drop;
		struct gw_err *serr = NULL;
		int rs = gw_cluster_load(streamed, path, &serr), rw;
		_cleanup_free_ char *wmsg = NULL;
		load_reference(whole, path, &rw, &wmsg);
		if (ok && (rs < 0 || rw < 0))
			fail_msg("%s: %s", path, gw_err_msg(serr));
		if (!ok && (rs >= 0 || rw >= 0))
			fail_msg("%s: loaded, expected an error", path);
		if (!ok && strcmp(gw_err_msg(serr), wmsg) != 0)
			fail_msg("%s:\n streamed: %s\n whole:    %s", path, gw_err_msg(serr), wmsg);
		assert_int_equal(rs, rw);
		if (ok) {
			assert_int_equal(streamed->n_docs, whole->n_docs);
			assert_int_equal(streamed->n_skipped, whole->n_skipped);
			assert_int_equal(streamed->n_nodes, whole->n_nodes);
			assert_int_equal(streamed->n_vmis, whole->n_vmis);
			assert_int_equal(streamed->n_pods, whole->n_pods);
			assert_true((streamed->kubevirt == NULL) == (whole->kubevirt == NULL));
			for (size_t i = 0; i < whole->n_nodes; i++) {
				assert_meta_equal(&streamed->nodes[i]->meta, &whole->nodes[i]->meta);
				if (!drop)
					assert_true(json_equal(streamed->nodes[i]->doc, whole->nodes[i]->doc));
			}
			for (size_t i = 0; i < whole->n_vmis; i++) {
				assert_meta_equal(&streamed->vmis[i]->meta, &whole->vmis[i]->meta);
				assert_maps_equal(&streamed->vmis[i]->spec.node_selector, &whole->vmis[i]->spec.node_selector);
				if (!drop)
					assert_true(json_equal(streamed->vmis[i]->doc, whole->vmis[i]->doc));
			}
			assert_int_equal(streamed->n_namespaces, whole->n_namespaces);
			for (size_t i = 0; i < whole->n_namespaces; i++)
				assert_meta_equal(&streamed->namespaces[i]->meta, &whole->namespaces[i]->meta);
			for (size_t i = 0; i < whole->n_pods; i++) {
				assert_meta_equal(&streamed->pods[i]->meta, &whole->pods[i]->meta);
				assert_maps_equal(&streamed->pods[i]->node_selector, &whole->pods[i]->node_selector);
			}
		}
		gw_err_free(serr);
		gw_cluster_free(streamed);
		gw_cluster_free(whole);
	}
	gw_strv_fini(&files);
}

/* drop_docs: no documents kept but the KubeVirt CR's; the typed fields
 * the placement rules read instead are there. */
static void test_drop_docs(void **state)
{
	(void)state;
	_cleanup_free_ char *list = test_data_path("api/stream/ok-list-kind-last.json");
	_cleanup_free_ char *kv = test_data_path("api/stream/ok-nested-items.json");
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	c->drop_docs = true;
	if (gw_cluster_load(c, list, &err) < 0 || gw_cluster_load(c, kv, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	assert_int_equal(c->n_nodes, 2);
	assert_null(c->nodes[0]->doc);
	assert_string_equal(gw_map_get(&c->nodes[0]->meta.labels, "kubernetes.io/hostname"), "n1");
	assert_int_equal(c->n_vmis, 1);
	struct gw_vmi *v = c->vmis[0];
	assert_null(v->doc);
	assert_string_equal(v->machine_type_status, "pc-q35-rhel9.6.0");
	assert_int_equal(v->spec.n_volumes, 1);
	assert_string_equal(v->spec.volumes[0].empty_disk_capacity, "2Gi");
	assert_null(c->pods[0]->doc);
	assert_non_null(c->kubevirt);
	assert_non_null(c->kubevirt->doc);
	assert_string_equal(c->kubevirt->cpu_model, "Haswell");
	/* Its document outlived the item, whose values the stream built in
	 * an arena reused item after item: a copy, whole. */
	const json_t *spec = json_object_get(c->kubevirt->doc, "spec");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(spec, "items"), 1)), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(c->kubevirt->doc, "metadata"), "name")),
			    "kv");
	/* and jansson allocates as before */
	json_malloc_t jm;
	json_free_t jf;
	json_get_alloc_funcs(&jm, &jf);
	assert_ptr_equal(jm, malloc);
	assert_ptr_equal(jf, free);
	gw_cluster_free(c);
	/* kept by default */
	c = gw_cluster_new();
	if (gw_cluster_load(c, list, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	assert_non_null(c->nodes[0]->doc);
	assert_non_null(c->vmis[0]->doc);
	gw_cluster_free(c);
}

/* A loaded cluster's labels and selectors are interned: borrowed maps,
 * one copy of each string; changing one copies it into its own first. */
static void test_interned_maps(void **state)
{
	(void)state;
	struct gw_cluster *c = gw_cluster_new();
	char *msg = load_text(c, "i.yaml",
			      "kind: Node\nmetadata: {name: n1, labels: {b: \"true\", a: x}}\n---\n"
			      "kind: Node\nmetadata: {name: n2, labels: {a: x, b: \"true\", c: y}}\n---\n"
			      "kind: VirtualMachineInstance\nmetadata: {name: v, namespace: ns, uid: u1}\n"
			      "spec: {nodeSelector: {b: \"true\"}}\nstatus: {nodeName: n1, volumeStatus: [\n"
			      "  {name: d, persistentVolumeClaimInfo: {claimName: c1, accessModes: [ReadWriteMany]}}]}\n---\n"
			      "kind: Pod\nmetadata: {name: virt-launcher-v-1, namespace: ns,\n"
			      "  labels: {kubevirt.io/created-by: u1, vm.kubevirt.io/name: v}}\n"
			      "spec: {nodeName: n1, nodeSelector: {a: x, d: z}}\nstatus: {phase: Running}\n");
	if (msg)
		fail_msg("%s", msg);
	gw_cluster_link(c);
	struct gw_node *n1 = gw_cluster_node(c, "n1"), *n2 = gw_cluster_node(c, "n2");
	assert_true(n1->meta.labels.borrowed);
	assert_int_equal(n1->meta.labels.n, 2);
	assert_string_equal(n1->meta.labels.keys[0], "a");
	assert_string_equal(n1->meta.labels.keys[1], "b");
	assert_ptr_equal(n1->meta.labels.keys[0], n2->meta.labels.keys[0]);
	assert_ptr_equal(n1->meta.labels.values[1], n2->meta.labels.values[1]);
	struct gw_vmi *v = gw_cluster_vmi(c, "ns", "v");
	assert_ptr_equal(v->spec.node_selector.values[0], n1->meta.labels.values[1]);
	/* built key by key, then interned */
	assert_true(v->pvc_access_modes.borrowed);
	assert_string_equal(gw_map_get(&v->pvc_access_modes, "c1"), "ReadWriteMany");
	/* the launcher pod's selector, shared */
	assert_true(v->has_launcher_selector);
	assert_true(v->launcher_selector.borrowed);
	assert_string_equal(gw_map_get(&v->launcher_selector, "d"), "z");
	/* a copy owns its strings; set and del own first */
	struct gw_map copy;
	gw_map_copy(&copy, &n2->meta.labels);
	assert_false(copy.borrowed);
	assert_ptr_not_equal(copy.keys[0], n2->meta.labels.keys[0]);
	gw_map_fini(&copy);
	gw_map_set(&n1->meta.labels, "a", "changed");
	assert_false(n1->meta.labels.borrowed);
	assert_string_equal(gw_map_get(&n1->meta.labels, "a"), "changed");
	assert_string_equal(gw_map_get(&n1->meta.labels, "b"), "true");
	assert_string_equal(gw_map_get(&n2->meta.labels, "a"), "x");
	assert_false(gw_map_del(&n2->meta.labels, "nope"));
	assert_true(n2->meta.labels.borrowed);
	assert_true(gw_map_del(&n2->meta.labels, "b"));
	assert_false(n2->meta.labels.borrowed);
	assert_int_equal(n2->meta.labels.n, 2);
	assert_null(gw_map_get(&n2->meta.labels, "b"));
	/* linking again (the launcher selector shared anew) and removing a node */
	gw_cluster_link(c);
	assert_string_equal(gw_map_get(&v->launcher_selector, "a"), "x");
	assert_int_equal(gw_cluster_remove_node(c, "n2"), 0);
	gw_cluster_free(c);
	/* decoded alone, a document's maps own their strings */
	json_t *doc = json_pack("{s:s, s:{s:s, s:{s:s}}}", "kind", "Node", "metadata", "name", "n", "labels", "k", "v");
	struct gw_node *n = NULL;
	assert_int_equal(gw_node_decode(doc, &n, NULL), 0);
	assert_false(n->meta.labels.borrowed);
	assert_string_equal(gw_map_get(&n->meta.labels, "k"), "v");
	gw_node_free(n);
	json_decref(doc);
}

/* Big maps with the same keys in the same order are put in order by the
 * first one's sort: each must still pair every key with its own value. */
static void test_big_maps_sorted_alike(void **state)
{
	(void)state;
	struct gw_buf b;
	gw_buf_init(&b);
	static const int orders[4][3] = {{0, 0, 0}, {0, 0, 0}, {1, 7, 0}, {0, 0, 1}};
	for (int n = 0; n < 4; n++) {
		gw_buf_printf(&b, "%skind: Node\nmetadata:\n  name: n%d\n  labels:\n", n ? "---\n" : "", n);
		/* n0, n1: k19..k00; n2: another order; n3: one key more */
		for (int i = 0; i < 20 + orders[n][2]; i++) {
			int k = orders[n][0] ? (i * orders[n][1]) % 20 : 19 - i;
			if (i == 20)
				k = 20;
			gw_buf_printf(&b, "    k%02d: v%02d-n%d\n", k, k, n);
		}
	}
	struct gw_cluster *c = gw_cluster_new();
	char *msg = load_text(c, "big.yaml", b.data);
	gw_buf_fini(&b);
	if (msg)
		fail_msg("%s", msg);
	for (int n = 0; n < 4; n++) {
		char name[8];
		snprintf(name, sizeof(name), "n%d", n);
		const struct gw_map *l = &gw_cluster_node(c, name)->meta.labels;
		assert_int_equal(l->n, 20 + orders[n][2]);
		for (size_t i = 0; i < l->n; i++) {
			char key[32], value[48];
			snprintf(key, sizeof(key), "k%02zu", i);
			snprintf(value, sizeof(value), "v%02zu-n%d", i, n);
			assert_string_equal(l->keys[i], key);
			assert_string_equal(l->values[i], value);
		}
	}
	gw_cluster_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubectl_list),
		cmocka_unit_test(test_typed_list_and_multidoc),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_skipped_top_level),
		cmocka_unit_test(test_launcher_selectors),
		cmocka_unit_test(test_findings),
		cmocka_unit_test(test_index_scale),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_stream_matches_whole_file),
		cmocka_unit_test(test_drop_docs),
		cmocka_unit_test(test_interned_maps),
		cmocka_unit_test(test_big_maps_sorted_alike),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
