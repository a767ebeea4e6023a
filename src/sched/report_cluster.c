/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster part of the pre-flight report that is about CPUs: the
 * compatibility domains (classes of nodes with the same CPU labels) and
 * the recommended cluster model, the CPU engine's baseline over one
 * profile per domain (the nodes of a domain have the same labels, so the
 * same profile). */
#include <string.h>

#include "report_int.h"

/* The labels that describe a node's CPU to KubeVirt's scheduler. */
static bool cpu_label(const char *key)
{
	return gw_str_has_prefix(key, SCHED_PREFIX_HOST_MODEL) || gw_str_has_prefix(key, SCHED_PREFIX_HOST_MODEL_FEATURE) ||
	       gw_str_has_prefix(key, SCHED_PREFIX_CPU_MODEL) || gw_str_has_prefix(key, SCHED_PREFIX_CPU_FEATURE) ||
	       gw_str_has_prefix(key, SCHED_PREFIX_CPU_VENDOR);
}

/* The prefixes of cpu_label(): a node's CPU labels are the runs of its
 * sorted labels that start with one of them (no key has two). */
_Static_assert(sizeof(SCHED_PREFIX_HOST_MODEL_FEATURE) < 64, "cpu_runs_of: the longest prefix fits");
static const char *const cpu_prefixes[] = {
	SCHED_PREFIX_HOST_MODEL, SCHED_PREFIX_HOST_MODEL_FEATURE, SCHED_PREFIX_CPU_MODEL, SCHED_PREFIX_CPU_FEATURE,
	SCHED_PREFIX_CPU_VENDOR,
};

struct domain {
	size_t *nodes;
	size_t n;
	bool labelled;     /* has any CPU label */
};

static json_t *domain_json(struct report *x, const struct domain *d)
{
	const struct gw_node *n = x->c->nodes[d->nodes[0]];
	const char *host_model = NULL, *vendor = NULL;
	size_t models = 0, features = 0;
	for (size_t l = 0; l < n->meta.labels.n; l++) {
		const char *k = n->meta.labels.keys[l];
		if (gw_str_has_prefix(k, SCHED_PREFIX_HOST_MODEL))
			host_model = k + strlen(SCHED_PREFIX_HOST_MODEL);
		else if (gw_str_has_prefix(k, SCHED_PREFIX_CPU_VENDOR))
			vendor = k + strlen(SCHED_PREFIX_CPU_VENDOR);
		else if (gw_str_has_prefix(k, SCHED_PREFIX_CPU_MODEL) && strcmp(n->meta.labels.values[l], "true") == 0)
			models++;
		else if (gw_str_has_prefix(k, SCHED_PREFIX_CPU_FEATURE) && strcmp(n->meta.labels.values[l], "true") == 0)
			features++;
	}
	json_t *names = json_array();
	size_t cap = x->o.max_nodes_listed;
	for (size_t i = 0; i < d->n && (!cap || i < cap); i++)
		json_array_append(names, report_node_name(x, d->nodes[i]));
	return json_pack("{s:o, s:I, s:o, s:o, s:I, s:I}", "nodes", names, "count", (json_int_t)d->n, "hostModel",
			 host_model ? json_string(host_model) : json_null(), "vendor",
			 vendor ? json_string(vendor) : json_null(), "models", (json_int_t)models, "features",
			 (json_int_t)features);
}

/* A Node with only the node's CPU labels, less the features the CPU
 * engine does not know (recorded in `ignored`): one unknown feature
 * label must not cost the whole recommendation. */
static json_t *cpu_node_doc(const struct gw_node *node, json_t *ignored)
{
	json_t *labels = json_object();
	for (size_t l = 0; l < node->meta.labels.n; l++) {
		const char *k = node->meta.labels.keys[l];
		if (!cpu_label(k) && !gw_str_has_prefix(k, "cpu-model-migration.node.kubevirt.io/"))
			continue;
		const char *feature = gw_str_has_prefix(k, SCHED_PREFIX_CPU_FEATURE) ? k + strlen(SCHED_PREFIX_CPU_FEATURE)
			: gw_str_has_prefix(k, SCHED_PREFIX_HOST_MODEL_FEATURE) ? k + strlen(SCHED_PREFIX_HOST_MODEL_FEATURE)
			: NULL;
		if (feature && *feature && gw_cpu_feature_find(feature) < 0) {
			json_object_set_new(ignored, feature, json_true());
			continue;
		}
		json_object_set_new(labels, k, json_string(node->meta.labels.values[l]));
	}
	return json_pack("{s:s, s:s, s:{s:s, s:o}}", "apiVersion", "v1", "kind", "Node", "metadata", "name",
			 node->meta.name ? node->meta.name : "", "labels", labels);
}

static json_t *no_model(const char *reason)
{
	return json_pack("{s:n, s:s, s:{}}", "model", "reason", reason, "lost");
}

/* Baseline over one profile per labelled domain. */
static json_t *recommend(struct report *x, const struct domain *doms, size_t n)
{
	if (!x->db)
		return NULL;
	json_t *ignored = json_object();
	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	size_t *dom_of = gw_calloc(n ? n : 1, sizeof(*dom_of));
	struct gw_err *err = NULL;
	json_t *out = NULL;
	for (size_t d = 0; d < n && !out; d++) {
		if (!doms[d].labelled)
			continue;
		const struct gw_node *node = x->c->nodes[doms[d].nodes[0]];
		size_t before = hosts.n;
		json_t *doc = cpu_node_doc(node, ignored);
		int r = gw_cpu_profile_from_nodes(doc, node->meta.name, &hosts, &err);
		json_decref(doc);
		if (r < 0) {
			char *why = gw_asprintf("the CPU labels of node %s cannot be read: %s", node->meta.name,
						gw_err_msg(err));
			out = no_model(why);
			free(why);
		}
		for (size_t h = before; h < hosts.n; h++)
			dom_of[h] = d;
	}
	if (!out && !hosts.n)
		out = no_model("no node has KubeVirt's CPU labels");
	struct gw_cpu_baseline b;
	memset(&b, 0, sizeof(b));
	if (!out && gw_cpu_baseline(x->db, hosts.v, hosts.n, &b, &err) < 0)
		out = no_model(gw_err_msg(err));
	else if (!out) {
		if (b.recommended < 0) {
			out = no_model(b.reason ? b.reason : "no model is usable on every node");
		} else {
			const struct gw_cpu_model *m = &x->db->models[b.recommended];
			json_t *lost = json_object();
			for (size_t h = 0; h < hosts.n; h++) {
				json_t *l = gw_cpu_lost_to_json(&hosts.v[h]->features, &m->features);
				const struct domain *d = &doms[dom_of[h]];
				for (size_t i = 0; i < d->n; i++)
					json_object_set(lost, x->c->nodes[d->nodes[i]]->meta.name, l);
				json_decref(l);
			}
			out = json_pack("{s:s, s:s, s:o}", "model", m->name, "reason", b.reason ? b.reason : "",
					"lost", lost);
			/* Features the labels name and the CPU engine does not know
			 * (a newer labeller): left out of the baseline, said here. */
			json_t *names = json_array();
			const char *feature;
			json_t *unused;
			json_object_foreach(ignored, feature, unused)
				json_array_append_new(names, json_string(feature));
			json_object_set_new(out, "unknownFeatures", names);
			x->recommended = gw_strdup(m->name);
		}
		gw_cpu_baseline_fini(&b);
	}
	gw_err_free(err);
	json_decref(ignored);
	free(dom_of);
	gw_cpu_profiles_fini(&hosts);
	return out;
}

/* A node's CPU labels: the runs of its (sorted) labels under each of
 * cpu_prefixes, found by binary search (~150 of ~230 labels; testing
 * every label against the five prefixes cost more than the rest). */
struct cpu_runs {
	size_t from[GW_ARRAY_SIZE(cpu_prefixes)], to[GW_ARRAY_SIZE(cpu_prefixes)];
};

static bool cpu_runs_of(const struct gw_map *l, struct cpu_runs *r)
{
	bool any = false;
	for (size_t p = 0; p < GW_ARRAY_SIZE(cpu_prefixes); p++) {
		/* the run ends at the first key after every key with the
		 * prefix: the prefix with its last byte incremented */
		char end[64];
		size_t len = strlen(cpu_prefixes[p]);
		memcpy(end, cpu_prefixes[p], len + 1);
		end[len - 1]++;
		r->from[p] = gw_map_lower_bound(l, cpu_prefixes[p]);
		r->to[p] = gw_map_lower_bound(l, end);
		any |= r->to[p] > r->from[p];
	}
	return any;
}

/* The labels' numbers (gw_strids: by address, text unread) hashed. */
static uint64_t mix(uint64_t h, size_t v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

static uint64_t cpu_runs_hash(struct gw_strids *ids, const struct gw_map *l, const struct cpu_runs *r)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t p = 0; p < GW_ARRAY_SIZE(cpu_prefixes); p++) {
		for (size_t k = r->from[p]; k < r->to[p]; k++)
			h = mix(mix(h, gw_strids_id(ids, l->keys[k])), gw_strids_id(ids, l->values[k]));
		h = mix(h, SIZE_MAX);          /* the end of a run */
	}
	return h;
}

/* Interned labels (a loaded cluster) are mostly the same strings. */
static bool same_str(const char *a, const char *b)
{
	return a == b || strcmp(a, b) == 0;
}

static bool cpu_runs_equal(const struct gw_map *a, const struct cpu_runs *ra, const struct gw_map *b,
			   const struct cpu_runs *rb)
{
	for (size_t p = 0; p < GW_ARRAY_SIZE(cpu_prefixes); p++) {
		if (ra->to[p] - ra->from[p] != rb->to[p] - rb->from[p])
			return false;
		for (size_t i = ra->from[p], j = rb->from[p]; i < ra->to[p]; i++, j++)
			if (!same_str(a->keys[i], b->keys[j]) || !same_str(a->values[i], b->values[j]))
				return false;
	}
	return true;
}

/* Nodes into domains, numbered in the order of their first node: open
 * addressing over the CPU labels' hash, equal labels checked. Building a
 * text key of ~150 labels per node read 1.5 million scattered strings. */
json_t *report_domains(struct report *x, json_t **recommended)
{
	const struct gw_cluster *c = x->c;
	struct domain *doms = NULL;
	struct cpu_runs *runs = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*runs));
	uint64_t *hashes = NULL;
	size_t cap = 16, n = 0;
	while (cap < 2 * c->n_nodes)
		cap *= 2;
	size_t *slots = gw_calloc(cap, sizeof(*slots));   /* domain + 1, 0 = free */
	struct gw_strids ids;
	gw_strids_init(&ids);
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_map *l = &c->nodes[i]->meta.labels;
		bool labelled = cpu_runs_of(l, &runs[i]);
		uint64_t h = cpu_runs_hash(&ids, l, &runs[i]);
		size_t s = (size_t)h & (cap - 1), d;
		for (;; s = (s + 1) & (cap - 1)) {
			if (!slots[s]) {
				d = n++;
				doms = gw_realloc(doms, n * sizeof(*doms));
				hashes = gw_realloc(hashes, n * sizeof(*hashes));
				memset(&doms[d], 0, sizeof(doms[d]));
				doms[d].labelled = labelled;
				hashes[d] = h;
				slots[s] = d + 1;
				break;
			}
			d = slots[s] - 1;
			size_t first = doms[d].nodes[0];
			if (hashes[d] == h &&
			    cpu_runs_equal(l, &runs[i], &c->nodes[first]->meta.labels, &runs[first]))
				break;
		}
		doms[d].nodes = gw_realloc(doms[d].nodes, (doms[d].n + 1) * sizeof(*doms[d].nodes));
		doms[d].nodes[doms[d].n++] = i;
	}
	gw_strids_fini(&ids);
	free(slots);
	free(hashes);
	free(runs);
	json_t *out = json_array();
	for (size_t d = 0; d < n; d++)
		json_array_append_new(out, domain_json(x, &doms[d]));
	*recommended = x->o.no_recommendation ? NULL : recommend(x, doms, n);
	for (size_t d = 0; d < n; d++)
		free(doms[d].nodes);
	free(doms);
	return out;
}
