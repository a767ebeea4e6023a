/* SPDX-License-Identifier: Apache-2.0 */
/* Builds small clusters by hand for the placement engine's unit tests
 * (structs as api.h describes them), and frees them. Label lists are
 * written "key=value,key=value"; a key without "=" gets "true". */
#ifndef GODWIT_TEST_SCHED_FIXTURE_H
#define GODWIT_TEST_SCHED_FIXTURE_H

#include <string.h>

#include "helpers.h"
#include "godwit/sched.h"

static inline void fx_labels(struct gw_map *m, const char *list)
{
	struct gw_strv parts;
	gw_strv_init(&parts);
	gw_str_split(list, ',', &parts);
	for (size_t i = 0; i < parts.n; i++) {
		if (!parts.v[i][0])
			continue;
		char *eq = strchr(parts.v[i], '=');
		if (eq) {
			*eq = '\0';
			gw_map_set(m, parts.v[i], eq + 1);
		} else {
			gw_map_set(m, parts.v[i], "true");
		}
	}
	gw_strv_fini(&parts);
}

#define FX_GROW(arr, n) ((arr) = gw_realloc((arr), ((n) + 1) * sizeof(*(arr))), memset(&(arr)[(n)], 0, sizeof(*(arr))), &(arr)[(n)++])

static inline struct gw_cluster *fx_cluster(void)
{
	return gw_calloc(1, sizeof(struct gw_cluster));
}

static inline struct gw_node *fx_node(struct gw_cluster *c, const char *name, const char *labels)
{
	struct gw_node *n = gw_calloc(1, sizeof(*n));
	n->meta.name = gw_strdup(name);
	fx_labels(&n->meta.labels, labels);
	n->cpu_millis = -1;
	n->memory_bytes = -1;
	*FX_GROW(c->nodes, c->n_nodes) = n;
	return n;
}

static inline void fx_taint(struct gw_node *n, const char *key, const char *value, const char *effect)
{
	struct gw_taint *t = FX_GROW(n->taints, n->n_taints);
	t->key = gw_strdup(key);
	t->value = value ? gw_strdup(value) : NULL;
	t->effect = gw_strdup(effect);
}

static inline struct gw_namespace *fx_namespace(struct gw_cluster *c, const char *name, const char *labels)
{
	struct gw_namespace *ns = gw_calloc(1, sizeof(*ns));
	ns->meta.name = gw_strdup(name);
	fx_labels(&ns->meta.labels, labels);
	*FX_GROW(c->namespaces, c->n_namespaces) = ns;
	return ns;
}

/* A VMI running on `node` (NULL: not placed). */
static inline struct gw_vmi *fx_vmi(struct gw_cluster *c, const char *name, const char *node)
{
	struct gw_vmi *v = gw_calloc(1, sizeof(*v));
	v->meta.name = gw_strdup(name);
	v->meta.namespace = gw_strdup("default");
	v->phase = gw_strdup("Running");
	v->node_name = node ? gw_strdup(node) : NULL;
	gw_strv_init(&v->migrated_volumes);
	*FX_GROW(c->vmis, c->n_vmis) = v;
	return v;
}

static inline void fx_feature(struct gw_vmi *v, const char *name, enum gw_feature_policy p)
{
	struct gw_vm_feature *f = FX_GROW(v->spec.features, v->spec.n_features);
	f->name = gw_strdup(name);
	f->policy = p;
}

static inline void fx_pod_network(struct gw_vmi *v, const char *name, enum gw_binding binding)
{
	struct gw_interface *i = FX_GROW(v->spec.interfaces, v->spec.n_interfaces);
	i->name = gw_strdup(name);
	i->binding = binding;
	struct gw_network *n = FX_GROW(v->spec.networks, v->spec.n_networks);
	n->name = gw_strdup(name);
	n->pod = true;
}

static inline void fx_volume(struct gw_vmi *v, const char *name, enum gw_volume_kind kind, const char *claim,
			     enum gw_disk_type disk, bool readonly)
{
	struct gw_volume *vol = FX_GROW(v->spec.volumes, v->spec.n_volumes);
	vol->name = gw_strdup(name);
	vol->kind = kind;
	vol->claim = claim ? gw_strdup(claim) : NULL;
	struct gw_disk *d = FX_GROW(v->spec.disks, v->spec.n_disks);
	d->name = gw_strdup(name);
	d->type = disk;
	d->readonly = readonly;
}

/* affinity term i (creating it) gets `key op values...` (values: ',' list). */
static inline void fx_affinity(struct gw_node_affinity *a, size_t term, const char *key, enum gw_selector_op op,
			       const char *values)
{
	while (a->n <= term)
		FX_GROW(a->terms, a->n);
	struct gw_node_term *t = &a->terms[term];
	struct gw_node_requirement *r = FX_GROW(t->reqs, t->n);
	r->key = gw_strdup(key);
	r->op = op;
	gw_strv_init(&r->values);
	if (values)
		gw_str_split(values, ',', &r->values);
}

static inline struct gw_kubevirt *fx_kubevirt(struct gw_cluster *c)
{
	struct gw_kubevirt *k = gw_calloc(1, sizeof(*k));
	k->meta.name = gw_strdup("kubevirt");
	/* KubeVirt 4.1 defaults, as the decoder applies them */
	k->migrations.parallel_migrations_per_cluster = 5;
	k->migrations.parallel_outbound_migrations_per_node = 2;
	k->migrations.completion_timeout_per_gib = 150;
	k->migrations.progress_timeout_s = 150;
	k->migrations.allow_workload_disruption = -1;
	k->migrations.max_downtime_ms = 900;
	gw_strv_init(&k->feature_gates);
	gw_strv_init(&k->obsolete);
	c->kubevirt = k;
	return k;
}

static inline struct gw_policy *fx_policy(struct gw_cluster *c, const char *name, const char *vmi_selector,
					  const char *ns_selector)
{
	struct gw_policy *p = gw_calloc(1, sizeof(*p));
	p->meta.name = gw_strdup(name);
	p->has_selectors = true;
	if (vmi_selector) {
		p->has_vmi_selector = true;
		fx_labels(&p->vmi_selector, vmi_selector);
	}
	if (ns_selector) {
		p->has_ns_selector = true;
		fx_labels(&p->ns_selector, ns_selector);
	}
	*FX_GROW(c->policies, c->n_policies) = p;
	return p;
}

static inline struct gw_vmim *fx_vmim(struct gw_cluster *c, const char *name, const char *vmi, const char *phase)
{
	struct gw_vmim *m = gw_calloc(1, sizeof(*m));
	m->meta.name = gw_strdup(name);
	m->meta.namespace = gw_strdup("default");
	m->meta.uid = gw_asprintf("uid-%s", name);
	m->vmi_name = gw_strdup(vmi);
	m->phase = phase ? gw_strdup(phase) : NULL;
	*FX_GROW(c->vmims, c->n_vmims) = m;
	return m;
}

/* Everything the fixture builds is malloc'd as the decoders do, so api's
 * own free functions release it. */
static inline void fx_free(struct gw_cluster *c)
{
	gw_cluster_free(c);
}

/* Index of the first reason with this code (and subject, if given), or -1. */
static inline int fx_find(const struct gw_reasons *r, enum gw_reason_code code, const char *subject)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].code == code && (!subject || (r->v[i].subject && strcmp(r->v[i].subject, subject) == 0)))
			return (int)i;
	return -1;
}

static inline size_t fx_count(const struct gw_reasons *r, enum gw_reason_code code)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->v[i].code == code;
	return n;
}

#endif
