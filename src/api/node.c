/* SPDX-License-Identifier: Apache-2.0 */
/* Node and Namespace. */
#include <string.h>

#include "internal.h"

static const char *const taint_effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};

void gw_node_free(struct gw_node *n)
{
	if (!n)
		return;
	meta_fini(&n->meta);
	for (size_t i = 0; i < n->n_taints; i++) {
		free(n->taints[i].key);
		free(n->taints[i].value);
		free(n->taints[i].effect);
	}
	free(n->taints);
	json_decref(n->doc);
	free(n);
}

static int resources_decode(const json_t *status, const char *key, int64_t *cpu, int64_t *mem, struct gw_err **err)
{
	const json_t *o;
	char p[PATH_MAX_LEN];
	int r = dec_object(status, "status", key, false, &o, err);
	if (r < 0 || !o)
		return r;
	path_key(p, sizeof(p), "status", key);
	if ((r = dec_quantity(o, p, "cpu", true, NULL, cpu, err)) < 0 ||
	    (r = dec_quantity(o, p, "memory", false, NULL, mem, err)) < 0)
		return r;
	return 0;
}

static int node_body(const json_t *doc, struct gw_node *n, struct gw_err **err)
{
	const json_t *spec, *status, *taints;
	int r;
	n->cpu_millis = -1;
	n->memory_bytes = -1;
	if ((r = meta_decode(doc, false, &n->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", false, &spec, err)) < 0 ||
	    (r = dec_object(doc, "", "status", false, &status, err)) < 0)
		return r;
	if (spec && ((r = dec_bool(spec, "spec", "unschedulable", NULL, &n->unschedulable, err)) < 0 ||
		     (r = dec_array(spec, "spec", "taints", &taints, err)) < 0))
		return r;
	if (spec && taints) {
		n->taints = gw_calloc(json_array_size(taints) + 1, sizeof(*n->taints));
		for (size_t i = 0; i < json_array_size(taints); i++) {
			char pi[PATH_MAX_LEN];
			const json_t *t = json_array_get(taints, i);
			int eff;
			path_index(pi, sizeof(pi), "spec.taints", i);
			n->n_taints = i + 1;
			if (!json_is_object(t))
				return dec_fail(err, pi, NULL, t, "not an object");
			if ((r = dec_string(t, pi, "key", true, &n->taints[i].key, err)) < 0 ||
			    (r = dec_string(t, pi, "value", false, &n->taints[i].value, err)) < 0 ||
			    (r = dec_enum(t, pi, "effect", taint_effects, &eff, err)) < 0)
				return r;
			if (eff < 0)
				return dec_fail(err, pi, "effect", NULL, "missing");
			n->taints[i].effect = gw_strdup(taint_effects[eff]);
		}
	}
	if (status) {
		/* Capacity first, allocatable over it: allocatable is what pods may use. */
		if ((r = resources_decode(status, "capacity", &n->cpu_millis, &n->memory_bytes, err)) < 0 ||
		    (r = resources_decode(status, "allocatable", &n->cpu_millis, &n->memory_bytes, err)) < 0)
			return r;
	}
	return 0;
}

int gw_node_decode(const json_t *doc, struct gw_node **out, struct gw_err **err)
{
	struct gw_node *n = gw_calloc(1, sizeof(*n));
	*out = NULL;
	int r = node_body(doc, n, err);
	if (r < 0) {
		gw_node_free(n);
		return r;
	}
	n->doc = json_incref((json_t *)doc);
	*out = n;
	return 0;
}

void gw_namespace_free(struct gw_namespace *ns)
{
	if (!ns)
		return;
	meta_fini(&ns->meta);
	json_decref(ns->doc);
	free(ns);
}

int gw_namespace_decode(const json_t *doc, struct gw_namespace **out, struct gw_err **err)
{
	struct gw_namespace *ns = gw_calloc(1, sizeof(*ns));
	*out = NULL;
	int r = meta_decode(doc, false, &ns->meta, err);
	if (r < 0) {
		gw_namespace_free(ns);
		return r;
	}
	ns->doc = json_incref((json_t *)doc);
	*out = ns;
	return 0;
}
