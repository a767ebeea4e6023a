/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers of the placement engine: map overlay, lookups, affinity copies. */
#include <string.h>

#include "sched_int.h"

void sched_map_overlay(struct gw_map *dst, const struct gw_map *src)
{
	for (size_t i = 0; i < src->n; i++)
		gw_map_set(dst, src->keys[i], src->values[i]);
}

bool sched_map_has_prefix(const struct gw_map *m, const char *prefix)
{
	for (size_t i = 0; i < m->n; i++)
		if (gw_str_has_prefix(m->keys[i], prefix))
			return true;
	return false;
}

const struct gw_node *sched_find_node(const struct gw_cluster *c, const char *name)
{
	if (!name)
		return NULL;
	/* The hash index of a loaded cluster first (10,000 nodes make the walk
	 * the check's hot spot); the walk finds nodes of hand-built clusters. */
	const struct gw_node *hit = gw_cluster_node(c, name);
	if (hit)
		return hit;
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i]->meta.name && strcmp(c->nodes[i]->meta.name, name) == 0)
			return c->nodes[i];
	return NULL;
}

const struct gw_namespace *sched_find_namespace(const struct gw_cluster *c, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (c->namespaces[i]->meta.name && strcmp(c->namespaces[i]->meta.name, name) == 0)
			return c->namespaces[i];
	return NULL;
}

bool sched_feature_gate(const struct gw_cluster *c, const char *gate)
{
	return c->kubevirt && gw_strv_contains(&c->kubevirt->feature_gates, gate);
}

const json_t *sched_json_path(const json_t *doc, const char *const *path)
{
	const json_t *j = doc;
	for (; j && *path; path++)
		j = json_is_object(j) ? json_object_get(j, *path) : NULL;
	return j;
}

void sched_affinity_copy(struct gw_node_affinity *dst, const struct gw_node_affinity *src)
{
	dst->n = src->n;
	dst->terms = src->n ? gw_calloc(src->n, sizeof(*dst->terms)) : NULL;
	for (size_t t = 0; t < src->n; t++) {
		const struct gw_node_term *st = &src->terms[t];
		struct gw_node_term *dt = &dst->terms[t];
		dt->n = st->n;
		dt->reqs = st->n ? gw_calloc(st->n, sizeof(*dt->reqs)) : NULL;
		for (size_t r = 0; r < st->n; r++) {
			dt->reqs[r].key = gw_strdup(st->reqs[r].key);
			dt->reqs[r].op = st->reqs[r].op;
			gw_strv_init(&dt->reqs[r].values);
			for (size_t v = 0; v < st->reqs[r].values.n; v++)
				gw_strv_push(&dt->reqs[r].values, st->reqs[r].values.v[v]);
		}
	}
}

static void term_add_does_not_exist(struct gw_node_term *t, const char *key)
{
	t->reqs = gw_realloc(t->reqs, (t->n + 1) * sizeof(*t->reqs));
	struct gw_node_requirement *r = &t->reqs[t->n++];
	r->key = gw_strdup(key);
	r->op = GW_OP_DOES_NOT_EXIST;
	gw_strv_init(&r->values);
}

/* KubeVirt 2.3 (affinity composition): terms are ORed, so a rejected label
 * goes into every term to stay mandatory; with no term, one is created. */
void sched_affinity_reject(struct gw_node_affinity *a, const char *key)
{
	if (a->n == 0) {
		a->terms = gw_calloc(1, sizeof(*a->terms));
		a->n = 1;
	}
	for (size_t t = 0; t < a->n; t++)
		term_add_does_not_exist(&a->terms[t], key);
}

