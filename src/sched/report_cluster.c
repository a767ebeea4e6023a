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

json_t *report_domains(struct report *x, json_t **recommended)
{
	const struct gw_cluster *c = x->c;
	json_t *index = json_object();
	struct domain *doms = NULL;
	size_t n = 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *node = c->nodes[i];
		struct gw_buf b;
		gw_buf_init(&b);
		bool labelled = false;
		for (size_t l = 0; l < node->meta.labels.n; l++) {
			if (!cpu_label(node->meta.labels.keys[l]))
				continue;
			labelled = true;
			/* key=value\x01, without printf: ~150 CPU labels a node */
			gw_buf_puts(&b, node->meta.labels.keys[l]);
			gw_buf_add(&b, "=", 1);
			gw_buf_puts(&b, node->meta.labels.values[l]);
			gw_buf_add(&b, "\x01", 1);
		}
		if (!b.data)
			gw_buf_puts(&b, "");
		json_t *k = json_object_get(index, b.data);
		size_t d;
		if (k) {
			d = (size_t)json_integer_value(k);
		} else {
			d = n++;
			doms = gw_realloc(doms, n * sizeof(*doms));
			memset(&doms[d], 0, sizeof(doms[d]));
			doms[d].labelled = labelled;
			json_object_set_new(index, b.data, json_integer((json_int_t)d));
		}
		gw_buf_fini(&b);
		doms[d].nodes = gw_realloc(doms[d].nodes, (doms[d].n + 1) * sizeof(*doms[d].nodes));
		doms[d].nodes[doms[d].n++] = i;
	}
	json_decref(index);
	json_t *out = json_array();
	for (size_t d = 0; d < n; d++)
		json_array_append_new(out, domain_json(x, &doms[d]));
	*recommended = x->o.no_recommendation ? NULL : recommend(x, doms, n);
	for (size_t d = 0; d < n; d++)
		free(doms[d].nodes);
	free(doms);
	return out;
}
