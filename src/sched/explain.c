/* SPDX-License-Identifier: Apache-2.0 */
/* `godwit explain`: every reason every node cannot take a VM, and the
 * fixes of seed 004 that apply, each recomputed through the engine on a
 * modified copy of the input (a VMI without remembered selectors, a VMI
 * with a named model, a source node without some labels) so that a fix
 * is only offered when it really frees a node. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "godwit/explain.h"
#include "sched_int.h"

#define SKIP_NODE_ANNOTATION "node-labeller.kubevirt.io/skip-node"
/* Godwit has no command of its own for these operations yet; the JSON
 * says so next to the form they will have. */
#define GODWIT_PLANNED_NOTE "planned form: Godwit does not implement this command yet; edit the manifests instead"

json_t *gw_reasons_to_json(const struct gw_reasons *r)
{
	json_t *list = json_array();
	for (size_t i = 0; i < r->n; i++)
		json_array_append_new(list, json_pack("{s:s, s:s?, s:s}", "reason", gw_reason_name(r->v[i].code),
						      "subject", r->v[i].subject, "message",
						      r->v[i].message ? r->v[i].message : ""));
	return list;
}

/* ---- lookups with suggestions ------------------------------------------------ */

static void suggest(struct gw_buf *hint, const struct gw_strv *names, const char *want)
{
	unsigned cap = strlen(want) / 3 + 2, best = cap + 1;
	for (size_t i = 0; i < names->n; i++) {
		unsigned d = gw_str_distance(want, names->v[i], cap);
		const char *slash = strchr(names->v[i], '/');
		if (slash) {   /* "ns/name": a bare name is compared with the name */
			unsigned d2 = gw_str_distance(want, slash + 1, cap);
			if (d2 < d)
				d = d2;
		}
		if (d < best)
			best = d;
	}
	size_t shown = 0;
	for (size_t i = 0; i < names->n && best <= cap && shown < 5; i++) {
		unsigned d = gw_str_distance(want, names->v[i], cap);
		const char *slash = strchr(names->v[i], '/');
		if (slash) {
			unsigned d2 = gw_str_distance(want, slash + 1, cap);
			if (d2 < d)
				d = d2;
		}
		if (d == best) {
			gw_buf_printf(hint, "%s%s", shown ? ", " : "", names->v[i]);
			shown++;
		}
	}
	if (shown)
		return;
	/* nothing close: name a few that exist */
	for (size_t i = 0; i < names->n && i < 5; i++)
		gw_buf_printf(hint, "%s%s", i ? ", " : "", names->v[i]);
	if (names->n > 5)
		gw_buf_puts(hint, ", ...");
}

int gw_sched_find_vmi(const struct gw_cluster *c, const char *ref, const struct gw_vmi **out,
		      struct gw_err **err)
{
	*out = NULL;
	if (!ref || !*ref)
		return gw_err_set(err, -EINVAL, "no VM named");
	const char *slash = strchr(ref, '/');
	_cleanup_free_ char *ns = slash ? gw_strndup(ref, (size_t)(slash - ref)) : NULL;
	const char *name = slash ? slash + 1 : ref;
	const struct gw_vmi *found = NULL;
	size_t matches = 0;
	for (size_t i = 0; i < c->n_vmis; i++) {
		const struct gw_vmi *v = c->vmis[i];
		if (!v->meta.name || strcmp(v->meta.name, name) != 0)
			continue;
		if (ns && (!v->meta.namespace || strcmp(v->meta.namespace, ns) != 0))
			continue;
		if (!found)
			found = v;
		matches++;
	}
	if (matches > 1) {
		struct gw_buf b;
		gw_buf_init(&b);
		for (size_t i = 0, k = 0; i < c->n_vmis; i++)
			if (c->vmis[i]->meta.name && strcmp(c->vmis[i]->meta.name, name) == 0)
				gw_buf_printf(&b, "%s%s/%s", k++ ? ", " : "",
					      c->vmis[i]->meta.namespace ? c->vmis[i]->meta.namespace : "", name);
		int r = gw_err_set(err, -EINVAL, "VM \"%s\" is in several namespaces (%s): name it as NAMESPACE/NAME",
				   name, b.data);
		gw_buf_fini(&b);
		return r;
	}
	if (found) {
		*out = found;
		return 0;
	}
	/* A VirtualMachine without its VMI does not run: nothing to explain. */
	for (size_t i = 0; i < c->n_vms; i++) {
		const struct gw_vm *vm = c->vms[i];
		if (!vm->meta.name || strcmp(vm->meta.name, name) != 0)
			continue;
		if (ns && (!vm->meta.namespace || strcmp(vm->meta.namespace, ns) != 0))
			continue;
		return gw_err_set(err, -ENOENT,
				  "VirtualMachine %s/%s has no VirtualMachineInstance in the input: it does not run, "
				  "so it has no node to leave",
				  vm->meta.namespace ? vm->meta.namespace : "", name);
	}
	struct gw_strv names;
	gw_strv_init(&names);
	for (size_t i = 0; i < c->n_vmis; i++)
		gw_strv_push_take(&names, gw_asprintf("%s/%s", c->vmis[i]->meta.namespace ? c->vmis[i]->meta.namespace
											   : "",
						      c->vmis[i]->meta.name ? c->vmis[i]->meta.name : ""));
	for (size_t i = 0; i < c->n_vms; i++) {
		char *n = gw_asprintf("%s/%s", c->vms[i]->meta.namespace ? c->vms[i]->meta.namespace : "",
				      c->vms[i]->meta.name ? c->vms[i]->meta.name : "");
		if (gw_strv_contains(&names, n))
			free(n);
		else
			gw_strv_push_take(&names, n);
	}
	gw_strv_sort(&names);
	int r;
	if (names.n == 0) {
		r = gw_err_set(err, -ENOENT, "unknown VM \"%s\": the input has no VirtualMachineInstance", ref);
	} else {
		struct gw_buf hint;
		gw_buf_init(&hint);
		suggest(&hint, &names, slash ? ref : name);
		r = gw_err_set(err, -ENOENT, "unknown VM \"%s\" (did you mean %s?)", ref, hint.data);
		gw_buf_fini(&hint);
	}
	gw_strv_fini(&names);
	return r;
}

int gw_sched_find_node(const struct gw_cluster *c, const char *name, const struct gw_node **out,
		       struct gw_err **err)
{
	*out = sched_find_node(c, name);
	if (*out)
		return 0;
	struct gw_strv names;
	gw_strv_init(&names);
	for (size_t i = 0; i < c->n_nodes; i++)
		gw_strv_push(&names, c->nodes[i]->meta.name ? c->nodes[i]->meta.name : "");
	int r;
	if (names.n == 0) {
		r = gw_err_set(err, -ENOENT, "unknown node \"%s\": the input has no Node", name ? name : "");
	} else {
		struct gw_buf hint;
		gw_buf_init(&hint);
		suggest(&hint, &names, name ? name : "");
		r = gw_err_set(err, -ENOENT, "unknown node \"%s\" (did you mean %s?)", name ? name : "", hint.data);
		gw_buf_fini(&hint);
	}
	gw_strv_fini(&names);
	return r;
}

/* ---- eligibility under a (modified) input ------------------------------------ */

static const char *model_source_name(enum gw_model_source s)
{
	switch (s) {
	case GW_MODEL_FROM_VM: return "vm";
	case GW_MODEL_FROM_CLUSTER: return "cluster";
	case GW_MODEL_DEFAULT: break;
	}
	return "default";
}

static const char *ns_of(const struct gw_vmi *vmi)
{
	return vmi->meta.namespace ? vmi->meta.namespace : "default";
}

/* The VMI's unfinished migration, whose addedNodeSelector restricts the
 * targets (S17), or NULL. */
static const struct gw_vmim *pending_migration(const struct gw_cluster *c, const struct gw_vmi *vmi)
{
	for (size_t i = 0; i < c->n_vmims; i++) {
		const struct gw_vmim *m = c->vmims[i];
		const char *ns = m->meta.namespace ? m->meta.namespace : "default";
		if (!m->vmi_name || strcmp(m->vmi_name, vmi->meta.name) != 0 || strcmp(ns, ns_of(vmi)) != 0)
			continue;
		if (m->phase && (strcmp(m->phase, "Succeeded") == 0 || strcmp(m->phase, "Failed") == 0))
			continue;
		return m;
	}
	return NULL;
}

/* The nodes that could take `vmi` (source and capacity included), or -1
 * when its target selector cannot be computed. */
static int eligible_nodes(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_usage *usage,
			  struct gw_strv *out)
{
	struct gw_map selector = {0};
	struct gw_node_affinity affinity = {0};
	_cleanup_err_ struct gw_err *e = NULL;
	if (gw_sched_target_selector(c, vmi, pending_migration(c, vmi), &selector, &affinity, &e) < 0) {
		gw_map_fini(&selector);
		return -1;
	}
	const struct gw_node *source = sched_find_node(c, vmi->node_name);
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct gw_reasons r;
		gw_reasons_init(&r);
		gw_sched_node_check(c, vmi, c->nodes[i], source, &selector, &affinity, usage, &r);
		if (r.n == 0)
			gw_strv_push(out, c->nodes[i]->meta.name);
		gw_reasons_fini(&r);
	}
	gw_map_fini(&selector);
	gw_node_affinity_fini(&affinity);
	return 0;
}

/* Names in `after` and not in `before`, as a JSON list. */
static json_t *freed_json(const struct gw_strv *before, const struct gw_strv *after)
{
	json_t *list = json_array();
	for (size_t i = 0; i < after->n; i++)
		if (!gw_strv_contains(before, after->v[i]))
			json_array_append_new(list, json_string(after->v[i]));
	return list;
}

static json_t *strv_json(const struct gw_strv *s)
{
	json_t *list = json_array();
	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(list, json_string(s->v[i]));
	return list;
}

static bool is_label_reason(enum gw_reason_code code)
{
	return code == GW_R_SELECTOR_MISSING || code == GW_R_SELECTOR_VALUE;
}

/* Where a key of the target selector comes from. */
static const char *selector_key_source(const struct gw_cluster *c, const struct gw_vmi *vmi, const char *key,
				       const char *model, enum gw_selector_source src)
{
	if (gw_map_get(&vmi->spec.node_selector, key))
		return "vmi-node-selector";
	if (strcmp(key, SCHED_LABEL_SCHEDULABLE) == 0)
		return "kubevirt";
	if (gw_str_has_prefix(key, SCHED_PREFIX_CPU_VENDOR))
		return "source-node-vendor";
	if (c->kubevirt && gw_map_get(&c->kubevirt->cluster_node_selectors, key))
		return "cluster-node-selectors";
	bool cpu_key = gw_str_has_prefix(key, SCHED_PREFIX_CPU_FEATURE) ||
		       gw_str_has_prefix(key, SCHED_PREFIX_CPU_MODEL_MIGRATION) ||
		       gw_str_has_prefix(key, SCHED_PREFIX_CPU_MODEL);
	if (cpu_key && strcmp(model, "host-model") == 0)
		return gw_selector_source_name(src);
	if (cpu_key && gw_str_has_prefix(key, SCHED_PREFIX_CPU_FEATURE))
		return "vm-cpu-features";
	if (cpu_key)
		return "named-model";
	return "launch";
}

static json_t *commands_json(json_t *kubectl, json_t *godwit)
{
	return json_pack("{s:o, s:o, s:b, s:s}", "kubectl", kubectl, "godwit", godwit, "godwitImplemented", 0,
			 "godwitNote", GODWIT_PLANNED_NOTE);
}


static void push_cmd(json_t *list, const char *fmt, ...) GW_PRINTF(2, 3);
static void push_cmd(json_t *list, const char *fmt, ...)
{
	struct gw_buf b;
	va_list ap;
	gw_buf_init(&b);
	va_start(ap, fmt);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	json_array_append_new(list, json_string(b.data ? b.data : ""));
	gw_buf_fini(&b);
}

/* ---- fixes ------------------------------------------------------------------- */

struct explain_ctx {
	const struct gw_cluster *c;
	const struct gw_vmi *vmi;
	const struct gw_explain_opts *opts;
	const char *model;
	enum gw_model_source model_source;
	struct gw_usage usage;
	struct gw_strv eligible;         /* today */
	bool has_label_block;            /* some node fails on a selector label */
	bool no_selector;                /* the target selector cannot be computed (S18) */
	json_t *fixes;
};

static void fix_restart(struct explain_ctx *x)
{
	const struct gw_vmi *vmi = x->vmi;
	if (!vmi->has_launcher_selector || gw_sched_selector_source(x->c, vmi) != GW_SELECTOR_REMEMBERED)
		return;
	/* A restart (not a migration) starts a new launcher pod whose
	 * selectors come from the node's current labels (seed 004). */
	struct gw_vmi restarted = *vmi;
	restarted.has_launcher_selector = false;
	struct gw_strv after;
	gw_strv_init(&after);
	if (eligible_nodes(x->c, &restarted, &x->usage, &after) == 0) {
		json_t *frees = freed_json(&x->eligible, &after);
		if (json_array_size(frees) > 0) {
			const char *name = vmi->meta.name, *ns = ns_of(vmi);
			json_t *kubectl = json_array(), *godwit = json_array();
			push_cmd(kubectl, "virtctl restart %s -n %s", name, ns);
			push_cmd(godwit, "godwit restart %s/%s", ns, name);
			json_array_append_new(
				x->fixes,
				json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "fix", "restart", "title",
					  "restart the VM to clear remembered selectors", "reasoning",
					  "the launcher pod remembers CPU selectors from when the VM started or last "
					  "migrated; the source node's current host-model labels would allow more nodes. "
					  "A restart starts a new launcher pod whose selectors come from the current "
					  "labels; a migration keeps the remembered ones.",
					  "frees", frees, "eligibleAfter", strv_json(&after), "commands",
					  commands_json(kubectl, godwit)));
		} else {
			json_decref(frees);
		}
	}
	gw_strv_fini(&after);
}

/* The CPU engine's recommended common model over every node's labels. */
static char *recommended_model(const struct gw_cluster *c, const struct gw_cpu_modeldb *db, char **reason)
{
	*reason = NULL;
	if (!db || c->n_nodes == 0)
		return NULL;
	json_t *items = json_array();
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i]->doc)
			json_array_append(items, c->nodes[i]->doc);
	json_t *list = json_pack("{s:s, s:o}", "kind", "NodeList", "items", items);
	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	_cleanup_err_ struct gw_err *e = NULL;
	char *model = NULL;
	struct gw_cpu_baseline b;
	if (gw_cpu_profile_from_nodes(list, "nodes", &hosts, &e) == 0 && hosts.n > 0 &&
	    gw_cpu_baseline(db, hosts.v, hosts.n, &b, &e) == 0) {
		if (b.recommended >= 0) {
			model = gw_strdup(db->models[b.recommended].name);
			*reason = b.reason ? gw_strdup(b.reason) : NULL;
		}
		gw_cpu_baseline_fini(&b);
	}
	gw_cpu_profiles_fini(&hosts);
	json_decref(list);
	return model;
}

static void fix_common_model(struct explain_ctx *x)
{
	const struct gw_vmi *vmi = x->vmi;
	/* also when no selector can be computed: a named model needs no
	 * host-model-cpu label on the source (S18) */
	if (strcmp(x->model, "host-model") != 0 || !(x->has_label_block || x->no_selector))
		return;
	char *reason = NULL;
	char *model = recommended_model(x->c, x->opts->db, &reason);
	if (!model)
		return;
	struct gw_vmi named = *vmi;
	named.spec.cpu_model = model;
	struct gw_strv after;
	gw_strv_init(&after);
	if (eligible_nodes(x->c, &named, &x->usage, &after) == 0) {
		const char *name = vmi->meta.name, *ns = ns_of(vmi);
		json_t *kubectl = json_array(), *godwit = json_array();
		push_cmd(kubectl,
			 "kubectl patch vm %s -n %s --type merge -p "
			 "'{\"spec\":{\"template\":{\"spec\":{\"domain\":{\"cpu\":{\"model\":\"%s\"}}}}}}'",
			 name, ns, model);
		push_cmd(kubectl, "virtctl restart %s -n %s", name, ns);
		push_cmd(godwit, "godwit vm set-cpu-model %s/%s %s", ns, name, model);
		push_cmd(godwit, "godwit restart %s/%s", ns, name);
		json_t *cluster_kubectl = json_array(), *cluster_godwit = json_array();
		push_cmd(cluster_kubectl,
			 "kubectl patch kubevirt kubevirt -n kubevirt --type merge -p "
			 "'{\"spec\":{\"configuration\":{\"cpuModel\":\"%s\"}}}'",
			 model);
		push_cmd(cluster_godwit, "godwit cluster set-cpu-model %s", model);
		const char *cluster_note =
			x->model_source == GW_MODEL_FROM_VM
				? "this VM names host-model itself: the cluster-wide cpuModel does not apply to it "
				  "(the VM's own model wins); patch the VM"
				: "applies to every VM without its own model when it next starts; each still needs a "
				  "restart";
		json_t *fix = json_pack(
			"{s:s, s:s, s:s, s:s*, s:s, s:o, s:o, s:o, s:{s:o, s:s}}", "fix", "common-model", "title",
			"set a common CPU model", "model", model, "modelReason", reason, "reasoning",
			"a host-model VM is pinned to nodes with its source's host model and features; a named "
			"model common to every node (the CPU engine's baseline over the nodes' labels) needs only "
			"that model's label. Takes effect after a restart (seed 004: the recommended approach "
			"where restarts are acceptable).",
			"frees", freed_json(&x->eligible, &after), "eligibleAfter", strv_json(&after), "commands",
			commands_json(kubectl, godwit), "clusterWide", "commands",
			commands_json(cluster_kubectl, cluster_godwit), "note", cluster_note);
		json_array_append_new(x->fixes, fix);
	}
	gw_strv_fini(&after);
	free(model);
	free(reason);
}

/* Does any model the node calls usable (cpu-model.* labels) contain the
 * feature? Then its CPU has it whatever the feature labels say. */
static const char *usable_model_with(const struct gw_cpu_modeldb *db, const struct gw_node *node, int feature)
{
	if (!db || feature < 0)
		return NULL;
	for (size_t i = 0; i < node->meta.labels.n; i++) {
		const char *key = node->meta.labels.keys[i];
		if (!gw_str_has_prefix(key, SCHED_PREFIX_CPU_MODEL) || strcmp(node->meta.labels.values[i], "true"))
			continue;
		int m = gw_cpu_modeldb_find(db, key + strlen(SCHED_PREFIX_CPU_MODEL));
		if (m >= 0 && gw_featset_test(&db->models[m].features, (unsigned)feature))
			return db->models[m].name;
	}
	return NULL;
}

static void label_warning(const struct gw_explain_opts *o, const struct gw_node *node, const char *key,
			  json_t *warnings, bool *strong)
{
	const char *n = node->meta.name;
	if (gw_str_has_prefix(key, SCHED_PREFIX_CPU_FEATURE)) {
		const char *feat = key + strlen(SCHED_PREFIX_CPU_FEATURE);
		const char *m = usable_model_with(o->db, node, gw_cpu_feature_find(feat));
		if (m) {
			push_cmd(warnings, "%s: node %s calls model %s usable, which includes %s, so its CPU has the "
					   "feature; the label is only missing",
				 key, n, m, feat);
		} else {
			*strong = true;
			push_cmd(warnings, "%s: DANGER: nothing in node %s's labels says its CPU has %s; if it does "
					   "not, the guest may crash after migration. Check the host first (godwit cpu host "
					   "on %s) and do not add the label otherwise",
				 key, n, feat, n);
		}
	} else if (gw_str_has_prefix(key, SCHED_PREFIX_CPU_MODEL_MIGRATION)) {
		const char *model = key + strlen(SCHED_PREFIX_CPU_MODEL_MIGRATION);
		char *usable = gw_asprintf("%s%s", SCHED_PREFIX_CPU_MODEL, model);
		if (gw_map_get(&node->meta.labels, usable)) {
			push_cmd(warnings, "%s: node %s calls model %s usable", key, n, model);
		} else {
			*strong = true;
			push_cmd(warnings, "%s: DANGER: node %s does not call model %s usable; a guest started with "
					   "that model's features may crash or be refused after migration",
				 key, n, model);
		}
		free(usable);
	} else if (gw_str_has_prefix(key, SCHED_PREFIX_CPU_VENDOR)) {
		*strong = true;
		push_cmd(warnings, "%s: DANGER: node %s has another CPU vendor; a guest cannot migrate across vendors",
			 key, n);
	}
}

static void fix_label_target(struct explain_ctx *x, const struct gw_node *node, const struct gw_reasons *r)
{
	size_t n_label = 0, n_other = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].code == GW_R_SOURCE_NODE)
			return;
		if (is_label_reason(r->v[i].code))
			n_label++;
		else
			n_other++;
	}
	if (n_label == 0 || n_other > 0)
		return;   /* labels alone would not free it */
	struct gw_map selector = {0};
	struct gw_node_affinity affinity = {0};
	_cleanup_err_ struct gw_err *e = NULL;
	if (gw_sched_target_selector(x->c, x->vmi, pending_migration(x->c, x->vmi), &selector, &affinity, &e) < 0) {
		gw_map_fini(&selector);
		return;
	}
	gw_node_affinity_fini(&affinity);
	const char *n = node->meta.name;
	json_t *labels = json_object(), *warnings = json_array();
	struct gw_buf label_cmd;
	gw_buf_init(&label_cmd);
	bool overwrite = false, strong = false;
	for (size_t i = 0; i < r->n; i++) {
		const char *key = r->v[i].subject, *want = key ? gw_map_get(&selector, key) : NULL;
		if (!want)
			continue;
		json_object_set_new(labels, key, json_string(want));
		gw_buf_printf(&label_cmd, " %s=%s", key, want);
		overwrite |= r->v[i].code == GW_R_SELECTOR_VALUE;
		label_warning(x->opts, node, key, warnings, &strong);
	}
	push_cmd(warnings, "the labels must describe the node truly: a guest that migrates to a node lacking a "
			   "feature it uses may crash (seed 004). While the skip-node annotation is set the node "
			   "labeller no longer updates this node's CPU labels, also after upgrades; remove it "
			   "when the labels are no longer needed. Repeat on every new node that lacks them.");
	json_t *kubectl = json_array(), *godwit = json_array();
	push_cmd(kubectl, "kubectl annotate node %s %s=true", n, SKIP_NODE_ANNOTATION);
	push_cmd(kubectl, "kubectl label node %s%s%s", n, label_cmd.data ? label_cmd.data : "",
		 overwrite ? " --overwrite" : "");
	push_cmd(godwit, "godwit node annotate %s %s=true", n, SKIP_NODE_ANNOTATION);
	push_cmd(godwit, "godwit node label %s%s", n, label_cmd.data ? label_cmd.data : "");
	json_array_append_new(
		x->fixes,
		json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:o, s:[s], s:o}", "fix", "label-node", "title",
			  "label the target under the skip-node annotation", "node", n, "reasoning",
			  "the node fails only on selector labels; with the node labeller told to skip it "
			  "(node-labeller.kubevirt.io/skip-node), labels added by hand stay and satisfy the selector",
			  "labels", labels, "dangerous", strong, "warnings", warnings, "frees", n, "commands",
			  commands_json(kubectl, godwit)));
	gw_buf_fini(&label_cmd);
	gw_map_fini(&selector);
}

static void fix_remove_source_labels(struct explain_ctx *x, const struct gw_reasons *per_node, size_t n_nodes)
{
	const struct gw_cluster *c = x->c;
	const struct gw_vmi *vmi = x->vmi;
	if (strcmp(x->model, "host-model") != 0 || gw_sched_selector_source(c, vmi) != GW_SELECTOR_SOURCE_NODE)
		return;
	const struct gw_node *source = sched_find_node(c, vmi->node_name);
	if (!source)
		return;
	/* host-model-required-features labels of the source that block a node */
	struct gw_strv remove;
	gw_strv_init(&remove);
	for (size_t i = 0; i < n_nodes; i++) {
		for (size_t k = 0; k < per_node[i].n; k++) {
			const char *key = per_node[i].v[k].subject;
			if (!is_label_reason(per_node[i].v[k].code) || !key ||
			    !gw_str_has_prefix(key, SCHED_PREFIX_CPU_FEATURE))
				continue;
			char *src_key = gw_asprintf("%s%s", SCHED_PREFIX_HOST_MODEL_FEATURE,
						    key + strlen(SCHED_PREFIX_CPU_FEATURE));
			if (gw_map_get(&source->meta.labels, src_key) && !gw_strv_contains(&remove, src_key))
				gw_strv_push_take(&remove, src_key);
			else
				free(src_key);
		}
	}
	if (remove.n == 0) {
		gw_strv_fini(&remove);
		return;
	}
	gw_strv_sort(&remove);
	/* the same cluster with a source node without those labels */
	struct gw_node changed = *source;
	gw_map_copy(&changed.meta.labels, &source->meta.labels);
	for (size_t i = 0; i < remove.n; i++)
		gw_map_del(&changed.meta.labels, remove.v[i]);
	struct gw_cluster copy = *c;
	copy.index = NULL;   /* lookups walk the arrays, which hold the changed node */
	copy.nodes = gw_calloc(c->n_nodes, sizeof(*copy.nodes));
	for (size_t i = 0; i < c->n_nodes; i++)
		copy.nodes[i] = c->nodes[i] == source ? &changed : c->nodes[i];
	struct gw_strv after;
	gw_strv_init(&after);
	if (eligible_nodes(&copy, vmi, &x->usage, &after) == 0) {
		json_t *frees = freed_json(&x->eligible, &after);
		if (json_array_size(frees) > 0) {
			const char *s = source->meta.name;
			struct gw_buf args;
			gw_buf_init(&args);
			json_t *labels = json_array();
			for (size_t i = 0; i < remove.n; i++) {
				gw_buf_printf(&args, " %s-", remove.v[i]);
				json_array_append_new(labels, json_string(remove.v[i]));
			}
			json_t *kubectl = json_array(), *godwit = json_array();
			push_cmd(kubectl, "kubectl annotate node %s %s=true", s, SKIP_NODE_ANNOTATION);
			push_cmd(kubectl, "kubectl label node %s%s", s, args.data);
			push_cmd(godwit, "godwit node annotate %s %s=true", s, SKIP_NODE_ANNOTATION);
			push_cmd(godwit, "godwit node label %s%s", s, args.data);
			json_array_append_new(
				x->fixes,
				json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:[s,s], s:o}", "fix",
					  "remove-source-labels", "title", "remove labels from the source node", "node", s,
					  "reasoning",
					  "the VM has no remembered selectors, so its target selector is built from the "
					  "source node's host-model-required-features labels at each migration; without "
					  "them (and with the labeller told to skip the node) the selector no longer asks "
					  "for those features",
					  "labels", labels, "frees", frees, "eligibleAfter", strv_json(&after), "warnings",
					  "works only while the VM's launcher pod has no node selector with these labels "
					  "(none today); a VM with remembered selectors must restart instead (seed 004)",
					  "the guest still uses the features it started with: libvirt on a target that "
					  "really lacks them refuses the migration, or the guest may crash; other host-model "
					  "VMs of this node lose the same protection",
					  "commands", commands_json(kubectl, godwit)));
			gw_buf_fini(&args);
		} else {
			json_decref(frees);
		}
	}
	gw_strv_fini(&after);
	free(copy.nodes);
	gw_map_fini(&changed.meta.labels);
	gw_strv_fini(&remove);
}

/* ---- the report ------------------------------------------------------------------ */

int gw_sched_explain(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_explain_opts *opts,
		     json_t **out, struct gw_err **err)
{
	static const struct gw_explain_opts defaults = {0};
	const struct gw_rule_set *rules;
	*out = NULL;
	if (!opts)
		opts = &defaults;
	rules = opts->rules ? opts->rules : gw_rules_get(GW_RULES_GODWIT);
	const struct gw_node *only = NULL;
	if (opts->node) {
		int r = gw_sched_find_node(c, opts->node, &only, err);
		if (r < 0)
			return r;
	}
	struct explain_ctx x = {.c = c, .vmi = vmi, .opts = opts, .fixes = json_array()};
	x.model = gw_sched_cpu_model(c, &vmi->spec, &x.model_source);
	gw_sched_usage(c, &x.usage);
	gw_strv_init(&x.eligible);

	/* the VM */
	struct gw_reasons blockers;
	gw_reasons_init(&blockers);
	gw_sched_migratable(c, vmi, rules, &blockers);
	enum gw_selector_source src = gw_sched_selector_source(c, vmi);
	struct gw_map selector = {0};
	struct gw_node_affinity affinity = {0};
	_cleanup_err_ struct gw_err *sel_err = NULL;
	const struct gw_vmim *pending = pending_migration(c, vmi);
	bool have_selector = gw_sched_target_selector(c, vmi, pending, &selector, &affinity, &sel_err) == 0;
	json_t *sources = json_object();
	for (size_t i = 0; i < selector.n; i++)
		json_object_set_new(sources, selector.keys[i],
				    json_string(selector_key_source(c, vmi, selector.keys[i], x.model, src)));
	json_t *vm = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:b, s:o, s:s, s:o, s:o, s:o, s:s, s:b}",
			       "namespace", ns_of(vmi), "name", vmi->meta.name, "node", vmi->node_name, "phase",
			       vmi->phase, "cpuModel", x.model, "cpuModelSource", model_source_name(x.model_source),
			       "migratable", blockers.n == 0, "blockers", gw_reasons_to_json(&blockers),
			       "migrationMethod", gw_sched_migration_method(c, vmi), "targetSelector",
			       gw_map_to_json(&selector), "targetSelectorSources", sources, "targetAffinity",
			       gw_node_affinity_to_json(&affinity), "selectorSource", gw_selector_source_name(src),
			       "hasRememberedSelectors", vmi->has_launcher_selector);
	if (vmi->has_launcher_selector)
		json_object_set_new(vm, "launcherSelector", gw_map_to_json(&vmi->launcher_selector));
	if (pending)
		json_object_set_new(vm, "pendingMigration", json_string(pending->meta.name));
	if (!have_selector)
		json_object_set_new(vm, "selectorError", json_string(gw_err_msg(sel_err)));

	/* every node */
	const struct gw_node *source = sched_find_node(c, vmi->node_name);
	struct gw_reasons *per_node = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*per_node));
	json_t *nodes = json_array();
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *node = c->nodes[i];
		gw_reasons_init(&per_node[i]);
		if (!have_selector)
			gw_reasons_add(&per_node[i], GW_R_NO_HOST_MODEL_LABEL, vmi->node_name, "%s",
				       gw_err_msg(sel_err));
		gw_sched_node_check(c, vmi, node, source, have_selector ? &selector : NULL, &affinity, &x.usage,
				    &per_node[i]);
		if (per_node[i].n == 0)
			gw_strv_push(&x.eligible, node->meta.name);
		for (size_t k = 0; k < per_node[i].n; k++)
			x.has_label_block |= is_label_reason(per_node[i].v[k].code);
		if (only && node != only)
			continue;
		json_array_append_new(nodes, json_pack("{s:s, s:b, s:o}", "name", node->meta.name, "eligible",
						       per_node[i].n == 0, "reasons",
						       gw_reasons_to_json(&per_node[i])));
	}
	json_t *doc = json_pack("{s:s, s:o, s:o, s:o}", "rules", rules->name, "vm", vm, "nodes", nodes,
				"eligibleNodes", strv_json(&x.eligible));

	/* fixes, only those that apply */
	x.no_selector = !have_selector;
	fix_common_model(&x);
	if (have_selector) {
		fix_restart(&x);
		for (size_t i = 0; i < c->n_nodes; i++)
			if (!only || c->nodes[i] == only)
				fix_label_target(&x, c->nodes[i], &per_node[i]);
		fix_remove_source_labels(&x, per_node, c->n_nodes);
	}
	json_object_set_new(doc, "fixes", x.fixes);
	if (blockers.n)
		json_object_set_new(doc, "note",
				    json_string("the VM cannot migrate at all until its blockers are removed; the node "
						"reasons and fixes say where it could go afterwards"));

	for (size_t i = 0; i < c->n_nodes; i++)
		gw_reasons_fini(&per_node[i]);
	free(per_node);
	gw_reasons_fini(&blockers);
	gw_map_fini(&selector);
	gw_node_affinity_fini(&affinity);
	gw_strv_fini(&x.eligible);
	gw_usage_fini(&x.usage);
	*out = doc;
	return 0;
}
