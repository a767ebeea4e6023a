/* SPDX-License-Identifier: Apache-2.0 */
/* CPU model in effect, launch pod selectors and affinity, migration
 * target selectors (kubevirt-behaviour.md 2.1-2.5). */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "sched_int.h"

static bool is_host_mode(const char *model)
{
	return strcmp(model, "host-model") == 0 || strcmp(model, "host-passthrough") == 0;
}

/* KubeVirt 2.1 step 1: an empty architecture becomes the cluster default (amd64). */
static const char *vmi_arch(const struct gw_vmi_spec *spec)
{
	return spec->architecture && spec->architecture[0] ? spec->architecture : "amd64";
}

const char *gw_sched_cpu_model(const struct gw_cluster *c, const struct gw_vmi_spec *spec,
			       enum gw_model_source *source)
{
	enum gw_model_source dummy;
	if (!source)
		source = &dummy;
	/* KubeVirt 2.1: explicit VMI model > (arm64: host-passthrough) >
	 * cluster cpuModel > host-model. */
	if (spec->cpu_model && spec->cpu_model[0]) {
		*source = GW_MODEL_FROM_VM;
		return spec->cpu_model;
	}
	if (strcasecmp(vmi_arch(spec), "arm64") == 0) {
		/* QUIRK (2.1): the cluster cpuModel never applies to arm64. */
		*source = GW_MODEL_DEFAULT;
		return "host-passthrough";
	}
	if (c->kubevirt && c->kubevirt->cpu_model && c->kubevirt->cpu_model[0]) {
		*source = GW_MODEL_FROM_CLUSTER;
		return c->kubevirt->cpu_model;
	}
	*source = GW_MODEL_DEFAULT;
	return "host-model";
}

/* KubeVirt 2.1 step 2: default machine type per architecture. */
static const char *default_machine_type(const char *arch)
{
	if (strcasecmp(arch, "arm64") == 0)
		return "virt";
	if (strcasecmp(arch, "s390x") == 0)
		return "s390-ccw-virtio";
	return "q35";
}

static bool feature_selects(enum gw_feature_policy p)
{
	/* KubeVirt 2.3: "" and require become node selectors. */
	return p == GW_POLICY_EMPTY || p == GW_POLICY_REQUIRE;
}

/* prefix + suffix for gw_map_set, which copies it: on the stack when it
 * fits (a host-model VM's selector takes ~100 such keys, and the report
 * builds one per VM). */
static void set_joined(struct gw_map *m, const char *prefix, const char *suffix, const char *value)
{
	char buf[256];
	size_t lp = strlen(prefix), ls = strlen(suffix);
	if (lp + ls < sizeof(buf)) {
		memcpy(buf, prefix, lp);
		memcpy(buf + lp, suffix, ls + 1);
		gw_map_set(m, buf, value);
		return;
	}
	char *key = gw_asprintf("%s%s", prefix, suffix);
	gw_map_set(m, key, value);
	free(key);
}

static void set_true(struct gw_map *m, const char *prefix, const char *suffix)
{
	set_joined(m, prefix, suffix, "true");
}

void gw_sched_launch_selector(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_map *selector,
			      struct gw_node_affinity *affinity)
{
	const struct gw_vmi_spec *spec = &vmi->spec;
	const char *model = gw_sched_cpu_model(c, spec, NULL);
	const char *arch = vmi_arch(spec);

	/* KubeVirt 2.2 step 1 */
	gw_map_set(selector, SCHED_LABEL_SCHEDULABLE, "true");
	/* step 2: lower-cased architecture */
	char *lower = gw_strdup(arch);
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	gw_map_set(selector, "kubernetes.io/arch", lower);
	free(lower);
	/* steps 3-4: cluster-wide selectors, then the VMI's (VMI wins) */
	if (c->kubevirt)
		sched_map_overlay(selector, &c->kubevirt->cluster_node_selectors);
	sched_map_overlay(selector, &spec->node_selector);
	/* step 5 */
	if (spec->dedicated_cpu)
		gw_map_set(selector, "kubevirt.io/cpumanager", "true");
	/* step 6 (HypervStrictCheck, alpha) is not modelled: the resources
	 * do not carry the Hyper-V feature list. */
	/* step 7: a named model */
	if (!is_host_mode(model))
		set_true(selector, SCHED_PREFIX_CPU_MODEL, model);
	/* step 8: status.machine.type (canonical, after boot) else the spec */
	const char *machine = vmi->machine_type_status ? vmi->machine_type_status
		: spec->machine_type && spec->machine_type[0] ? spec->machine_type
		: default_machine_type(arch);
	set_true(selector, "machine-type.node.kubevirt.io/", machine);
	/* step 9: features with policy "" or require */
	bool needs_tsc = spec->hyperv_reenlightenment;
	for (size_t i = 0; i < spec->n_features; i++) {
		const struct gw_vm_feature *f = &spec->features[i];
		if (feature_selects(f->policy))
			set_true(selector, SCHED_PREFIX_CPU_FEATURE, f->name);
		if (strcmp(f->name, "invtsc") == 0 &&
		    (f->policy == GW_POLICY_REQUIRE || f->policy == GW_POLICY_FORCE))
			needs_tsc = true;
	}
	/* step 10: TSC frequency, only when the topology hint is known */
	if (needs_tsc && vmi->tsc_frequency && vmi->tsc_frequency[0])
		set_true(selector, "scheduling.node.kubevirt.io/tsc-frequency-", vmi->tsc_frequency);
	/* step 11 */
	if (spec->realtime)
		gw_map_set(selector, "kubevirt.io/realtime", "true");
	if (spec->sev || spec->sev_snp)
		gw_map_set(selector, "kubevirt.io/sev", "true");
	if (spec->sev_snp)
		gw_map_set(selector, "kubevirt.io/sev-snp", "true");
	if (spec->tdx)
		gw_map_set(selector, "kubevirt.io/tdx", "true");

	/* 2.3: the VMI's required affinity first, then the reject labels. */
	if (!affinity)
		return;
	sched_affinity_copy(affinity, &spec->affinity);
	if (strcmp(model, "host-model") == 0)
		sched_affinity_reject(affinity, SCHED_LABEL_OBSOLETE_HOST_MODEL);
	for (size_t i = 0; i < spec->n_features; i++) {
		if (spec->features[i].policy != GW_POLICY_FORBID)
			continue;
		char *key = gw_asprintf("%s%s", SCHED_PREFIX_CPU_FEATURE, spec->features[i].name);
		sched_affinity_reject(affinity, key);
		free(key);
	}
}

static bool is_remembered_key(const char *key)
{
	/* KubeVirt 2.5: keys that *contain* these prefixes. */
	return strstr(key, SCHED_PREFIX_CPU_FEATURE) || strstr(key, SCHED_PREFIX_CPU_MODEL_MIGRATION);
}

/* The source pod's nodeSelector is the remembered launcher selectors,
 * else the launch selectors KubeVirt rendered for this VMI (which is what
 * its first launcher pod carries; this is where the QUIRK comes from):
 * the launcher selector is read in place, the launch selector rendered. */

enum gw_selector_source gw_sched_selector_source(const struct gw_cluster *c, const struct gw_vmi *vmi)
{
	const char *model = gw_sched_cpu_model(c, &vmi->spec, NULL);
	if (strcmp(model, "host-passthrough") == 0)
		return GW_SELECTOR_NONE;
	if (strcmp(model, "host-model") != 0)
		return GW_SELECTOR_NAMED_MODEL;
	/* the source pod's selector */
	struct gw_map rendered = {0};
	const struct gw_map *pod = &vmi->launcher_selector;
	if (!vmi->has_launcher_selector) {
		gw_sched_launch_selector(c, vmi, &rendered, NULL);
		pod = &rendered;
	}
	bool found = false;
	for (size_t i = 0; i < pod->n && !found; i++)
		found = is_remembered_key(pod->keys[i]);
	gw_map_fini(&rendered);
	return found ? GW_SELECTOR_REMEMBERED : GW_SELECTOR_SOURCE_NODE;
}

const char *gw_selector_source_name(enum gw_selector_source s)
{
	switch (s) {
	case GW_SELECTOR_NAMED_MODEL: return "named-model";
	case GW_SELECTOR_SOURCE_NODE: return "source-node-labels";
	case GW_SELECTOR_REMEMBERED: return "remembered";
	case GW_SELECTOR_NONE: break;
	}
	return "none";
}

/* The first key of m (sorted) at or after prefix: the keys with that
 * prefix, if any, follow there. A node has ~230 labels, a host-model
 * selector is built per VM: a walk testing every label was its cost. */
static size_t prefix_start(const struct gw_map *m, const char *prefix)
{
	return gw_map_lower_bound(m, prefix);
}

/* KubeVirt 2.5 step 1, host-model: the remembered cpu-feature /
 * cpu-model-migration entries of the source pod's selector `pod`; *found
 * when there are any. */
static void host_model_remembered(const struct gw_map *pod, struct gw_map *selector, bool *found)
{
	*found = false;
	for (size_t i = 0; i < pod->n; i++) {
		if (is_remembered_key(pod->keys[i])) {
			gw_map_set(selector, pod->keys[i], pod->values[i]);
			*found = true;
		}
	}
}

/* KubeVirt 2.5 step 2, host-model: the source node's host model and its
 * required features. */
static int host_model_node(const struct gw_vmi *vmi, const struct gw_node *source, struct gw_map *selector,
			   struct gw_err **err)
{
	if (!source)
		return gw_err_set(err, -ENOENT, "node \"%s\" associated with vmi \"%s\" does not exist",
				  vmi->node_name ? vmi->node_name : "", vmi->meta.name);
	bool have_model = false;
	const struct gw_map *l = &source->meta.labels;
	const size_t lm = strlen(SCHED_PREFIX_HOST_MODEL), lf = strlen(SCHED_PREFIX_HOST_MODEL_FEATURE);
	for (size_t i = prefix_start(l, SCHED_PREFIX_HOST_MODEL);
	     i < l->n && !strncmp(l->keys[i], SCHED_PREFIX_HOST_MODEL, lm); i++) {
		if (l->keys[i][lm]) {
			set_joined(selector, SCHED_PREFIX_CPU_MODEL_MIGRATION, l->keys[i] + lm, l->values[i]);
			have_model = true;
		}
	}
	for (size_t i = prefix_start(l, SCHED_PREFIX_HOST_MODEL_FEATURE);
	     i < l->n && !strncmp(l->keys[i], SCHED_PREFIX_HOST_MODEL_FEATURE, lf); i++)
		if (l->keys[i][lf])
			set_joined(selector, SCHED_PREFIX_CPU_FEATURE, l->keys[i] + lf, l->values[i]);
	if (!have_model)
		return gw_err_set(err, -ENOENT,
				  "unable to locate host cpu model, does not contain label \"%s\" with information",
				  SCHED_PREFIX_HOST_MODEL);
	return 0;
}

void sched_target_selector_pre(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_vmim *vmim,
			       struct gw_map *selector, struct gw_node_affinity *affinity, bool *host_labels)
{
	struct gw_map rendered = {0};
	const char *model = gw_sched_cpu_model(c, &vmi->spec, NULL);

	/* step 1: render a launch pod for the VMI */
	gw_sched_launch_selector(c, vmi, &rendered, affinity);
	/* step 3: addedNodeSelector first, the rendered selectors overlay it
	 * (KubeVirt: addedNodeSelector can only restrict, S17) */
	if (vmim)
		sched_map_overlay(selector, &vmim->added_node_selector);
	sched_map_overlay(selector, &rendered);
	/* step 5: host-model selectors, overwriting: the remembered ones,
	 * else (sched_target_selector_node) the source node's. The source
	 * pod's selector: the remembered launcher selector, else the launch
	 * selector rendered above (gw_sched_launch_selector's selector does
	 * not depend on its affinity argument). */
	*host_labels = false;
	if (strcmp(model, "host-model") == 0) {
		bool found;
		host_model_remembered(vmi->has_launcher_selector ? &vmi->launcher_selector : &rendered, selector,
				      &found);
		*host_labels = !found;
	}
	gw_map_fini(&rendered);
}

/* The source node's first cpu-vendor label in byte order (labels are
 * sorted), or NULL. */
static const char *vendor_label(const struct gw_node *source)
{
	const struct gw_map *l = &source->meta.labels;
	size_t i = prefix_start(l, SCHED_PREFIX_CPU_VENDOR);
	return i < l->n && gw_str_has_prefix(l->keys[i], SCHED_PREFIX_CPU_VENDOR) ? l->keys[i] : NULL;
}

static bool has_vendor(const struct gw_map *selector)
{
	size_t i = prefix_start(selector, SCHED_PREFIX_CPU_VENDOR);
	return i < selector->n && gw_str_has_prefix(selector->keys[i], SCHED_PREFIX_CPU_VENDOR);
}

int sched_target_selector_node(const struct gw_vmi *vmi, const struct gw_node *source, bool host_labels,
			       struct gw_map *selector, struct gw_err **err)
{
	/* step 5, the source node's host model */
	if (host_labels) {
		int r = host_model_node(vmi, source, selector, err);
		if (r < 0)
			return r;
	}
	/* step 6: vendor pin from the source node (all models, since v1.8) */
	if (!has_vendor(selector)) {
		if (!source)
			return gw_err_set(err, -ENOENT, "node \"%s\" associated with vmi \"%s\" does not exist",
					  vmi->node_name ? vmi->node_name : "", vmi->meta.name);
		/* "the first key found": labels are sorted, so the first in
		 * byte order (KubeVirt's map order is random). */
		const char *vendor = vendor_label(source);
		if (vendor)
			gw_map_set(selector, vendor, "true");
	}
	return 0;
}

bool sched_selector_has_vendor(const struct gw_map *selector)
{
	return has_vendor(selector);
}

/* Key pieces: a length before every string, so that no two different
 * sequences of inputs write the same bytes. */
static void key_size(struct gw_buf *key, size_t v)
{
	gw_buf_add(key, (const char *)&v, sizeof(v));
}

static void key_str(struct gw_buf *key, const char *s)
{
	if (!s) {
		key_size(key, SIZE_MAX);
		return;
	}
	size_t n = strlen(s);
	key_size(key, n);
	gw_buf_add(key, s, n);
}

/* Entries [from, to) of m: their strings' addresses when m is borrowed
 * (interned: equal addresses, equal strings), else the strings. */
static void key_entries(struct gw_buf *key, const struct gw_map *m, size_t from, size_t to)
{
	unsigned char borrowed = m->borrowed && to > from;   /* empty: one way */
	gw_buf_add(key, (const char *)&borrowed, 1);
	key_size(key, to - from);
	if (borrowed) {
		gw_buf_add(key, (const char *)(m->keys + from), (to - from) * sizeof(*m->keys));
		gw_buf_add(key, (const char *)(m->values + from), (to - from) * sizeof(*m->values));
		return;
	}
	for (size_t i = from; i < to; i++) {
		key_str(key, m->keys[i]);
		key_str(key, m->values[i]);
	}
}

void sched_map_key(struct gw_buf *key, const struct gw_map *m)
{
	key_entries(key, m, 0, m->n);
}

/* Labels of l from the first key with prefix on, while they have it. */
static void key_prefixed(struct gw_buf *key, const struct gw_map *l, const char *prefix)
{
	size_t lp = strlen(prefix), from = prefix_start(l, prefix), to = l->n;
	/* the first key after from without it (a node has ~100 host-model
	 * labels: a walk reading each was the cost) */
	for (size_t lo = from; lo < to;) {
		size_t mid = lo + (to - lo) / 2;
		if (!strncmp(l->keys[mid], prefix, lp))
			lo = mid + 1;
		else
			to = mid;
	}
	key_entries(key, l, from, to);
}

void sched_target_pre_key(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_vmim *vmim,
			  struct gw_buf *key, size_t (*map_id)(void *ctx, const struct gw_map *m), void *ctx)
{
	const struct gw_vmi_spec *spec = &vmi->spec;
	const char *model = gw_sched_cpu_model(c, spec, NULL);
	static const struct gw_map none;
	/* gw_sched_launch_selector */
	key_str(key, model);
	key_str(key, vmi_arch(spec));
	key_size(key, map_id(ctx, c->kubevirt ? &c->kubevirt->cluster_node_selectors : &none));
	key_size(key, map_id(ctx, &spec->node_selector));
	unsigned char flags = (unsigned char)(spec->dedicated_cpu | spec->hyperv_reenlightenment << 1 |
					      spec->realtime << 2 | spec->sev << 3 | spec->sev_snp << 4 |
					      spec->tdx << 5 | vmi->has_launcher_selector << 6);
	gw_buf_add(key, (const char *)&flags, 1);
	key_str(key, vmi->machine_type_status);
	key_str(key, spec->machine_type);
	key_size(key, spec->n_features);
	for (size_t i = 0; i < spec->n_features; i++) {
		key_str(key, spec->features[i].name);
		key_size(key, (size_t)spec->features[i].policy);
	}
	key_str(key, vmi->tsc_frequency);
	const struct gw_node_affinity *a = &spec->affinity;
	key_size(key, a->n);
	for (size_t t = 0; t < a->n; t++) {
		key_size(key, a->terms[t].n);
		for (size_t r = 0; r < a->terms[t].n; r++) {
			const struct gw_node_requirement *q = &a->terms[t].reqs[r];
			key_str(key, q->key);
			key_size(key, (size_t)q->op);
			key_size(key, q->values.n);
			for (size_t v = 0; v < q->values.n; v++)
				key_str(key, q->values.v[v]);
		}
	}
	/* sched_target_selector_pre: the addedNodeSelector, the remembered
	 * launcher selector (read for host-model only) */
	key_size(key, map_id(ctx, vmim ? &vmim->added_node_selector : &none));
	key_size(key, strcmp(model, "host-model") == 0 && vmi->has_launcher_selector
			      ? map_id(ctx, &vmi->launcher_selector) : 0);
	/* the rest of a signature */
	key_size(key, spec->n_tolerations);
	for (size_t i = 0; i < spec->n_tolerations; i++) {
		const struct gw_toleration *t = &spec->tolerations[i];
		key_str(key, t->key);
		key_str(key, t->op);
		key_str(key, t->value);
		key_str(key, t->effect);
	}
}

bool sched_target_node_inputs(const struct gw_node *source, bool host_labels, bool vendor, struct gw_buf *key)
{
	if (!host_labels && !vendor)
		return true;
	if (!source)
		return false;
	unsigned char what = (unsigned char)(host_labels | vendor << 1);
	gw_buf_add(key, (const char *)&what, 1);
	/* host_model_node, then vendor_label */
	if (host_labels) {
		key_prefixed(key, &source->meta.labels, SCHED_PREFIX_HOST_MODEL);
		key_prefixed(key, &source->meta.labels, SCHED_PREFIX_HOST_MODEL_FEATURE);
	}
	if (vendor) {
		/* vendor_label: the first key with its prefix */
		const struct gw_map *l = &source->meta.labels;
		size_t i = prefix_start(l, SCHED_PREFIX_CPU_VENDOR);
		key_entries(key, l, i, i < l->n && gw_str_has_prefix(l->keys[i], SCHED_PREFIX_CPU_VENDOR) ? i + 1 : i);
	}
	return true;
}

int gw_sched_target_selector(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_vmim *vmim,
			     struct gw_map *selector, struct gw_node_affinity *affinity, struct gw_err **err)
{
	bool host_labels;
	sched_target_selector_pre(c, vmi, vmim, selector, affinity, &host_labels);
	int r = sched_target_selector_node(vmi, sched_find_node(c, vmi->node_name), host_labels, selector, err);
	if (r < 0 && affinity)
		gw_node_affinity_fini(affinity);
	return r;
}

json_t *gw_node_affinity_to_json(const struct gw_node_affinity *a)
{
	static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"};
	json_t *terms = json_array();
	for (size_t t = 0; t < a->n; t++) {
		json_t *term = json_array();
		for (size_t r = 0; r < a->terms[t].n; r++) {
			const struct gw_node_requirement *req = &a->terms[t].reqs[r];
			json_t *values = json_array();
			for (size_t v = 0; v < req->values.n; v++)
				json_array_append_new(values, json_string(req->values.v[v]));
			json_array_append_new(term, json_pack("{s:s, s:s, s:o}", "key", req->key, "operator",
							      (size_t)req->op < GW_ARRAY_SIZE(ops) ? ops[req->op] : "?",
							      "values", values));
		}
		json_array_append_new(terms, term);
	}
	return terms;
}
