/* SPDX-License-Identifier: Apache-2.0 */
/* Node eligibility: every reason a node cannot take a VMI (2.5, "Eligible
 * target nodes ... expressed as a predicate"), and node usage. */
#include <inttypes.h>
#include <string.h>

#include "sched_int.h"

static bool phase_is_final(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static int64_t vmi_memory_request(const struct gw_vmi_spec *s)
{
	return s->memory_request_bytes ? s->memory_request_bytes : s->memory_guest_bytes;
}

static ssize_t node_index(const struct gw_cluster *c, const struct gw_node *node)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i] == node)
			return (ssize_t)i;
	return -1;
}

/* Requests of the VMIs placed on each node and not finished (a VMI in a
 * final phase no longer holds its launcher pod's resources). */
void gw_sched_usage(const struct gw_cluster *c, struct gw_usage *u)
{
	u->n = c->n_nodes;
	u->cpu_millis = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*u->cpu_millis));
	u->memory_bytes = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*u->memory_bytes));
	for (size_t v = 0; v < c->n_vmis; v++) {
		const struct gw_vmi *vmi = c->vmis[v];
		if (!vmi->node_name || phase_is_final(vmi->phase))
			continue;
		ssize_t i = node_index(c, sched_find_node(c, vmi->node_name));
		if (i < 0)
			continue;
		u->cpu_millis[i] += vmi->spec.cpu_request_millis;
		u->memory_bytes[i] += vmi_memory_request(&vmi->spec);
	}
}

void gw_usage_fini(struct gw_usage *u)
{
	free(u->cpu_millis);
	free(u->memory_bytes);
	u->cpu_millis = NULL;
	u->memory_bytes = NULL;
	u->n = 0;
}

static const char *op_name(enum gw_selector_op op)
{
	switch (op) {
	case GW_OP_IN: return "In";
	case GW_OP_NOT_IN: return "NotIn";
	case GW_OP_EXISTS: return "Exists";
	case GW_OP_DOES_NOT_EXIST: return "DoesNotExist";
	case GW_OP_GT: return "Gt";
	case GW_OP_LT: return "Lt";
	}
	return "?";
}

/* Kubernetes: Gt/Lt compare the label as an integer; a label that is not
 * one does not match. */
static bool parse_int(const char *s, long long *out)
{
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool requirement_matches(const struct gw_node_requirement *r, const struct gw_map *labels)
{
	const char *v = gw_map_get(labels, r->key);
	long long have, want;
	switch (r->op) {
	case GW_OP_IN:
		return v && gw_strv_contains(&r->values, v);
	case GW_OP_NOT_IN:
		return !v || !gw_strv_contains(&r->values, v);
	case GW_OP_EXISTS:
		return v != NULL;
	case GW_OP_DOES_NOT_EXIST:
		return v == NULL;
	case GW_OP_GT:
	case GW_OP_LT:
		if (!v || r->values.n != 1 || !parse_int(v, &have) || !parse_int(r->values.v[0], &want))
			return false;
		return r->op == GW_OP_GT ? have > want : have < want;
	}
	return false;
}

char *sched_requirement_string(const struct gw_node_requirement *r)
{
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_printf(&b, "%s %s", r->key, op_name(r->op));
	if (r->values.n) {
		gw_buf_puts(&b, " [");
		for (size_t i = 0; i < r->values.n; i++)
			gw_buf_printf(&b, "%s%s", i ? ", " : "", r->values.v[i]);
		gw_buf_puts(&b, "]");
	}
	return gw_buf_steal(&b);
}

static void check_affinity(const struct gw_node *node, const struct gw_node_affinity *a, struct gw_reasons *out)
{
	if (!a || a->n == 0)
		return;
	for (size_t t = 0; t < a->n; t++) {
		bool ok = true;
		for (size_t r = 0; r < a->terms[t].n && ok; r++)
			ok = requirement_matches(&a->terms[t].reqs[r], &node->meta.labels);
		if (ok)
			return;   /* terms are ORed: one match is enough */
	}
	/* No term matches: one reason per term, naming its first failing
	 * requirement; the message lists all of them. */
	for (size_t t = 0; t < a->n; t++) {
		struct gw_buf msg;
		char *first = NULL;
		gw_buf_init(&msg);
		for (size_t r = 0; r < a->terms[t].n; r++) {
			if (requirement_matches(&a->terms[t].reqs[r], &node->meta.labels))
				continue;
			char *s = sched_requirement_string(&a->terms[t].reqs[r]);
			gw_buf_printf(&msg, "%s%s", first ? ", " : "", s);
			if (!first)
				first = s;
			else
				free(s);
		}
		gw_reasons_add(out, GW_R_AFFINITY, first, "node %s does not satisfy required affinity term %zu: %s",
			       node->meta.name, t + 1, msg.data ? msg.data : "");
		free(first);
		gw_buf_fini(&msg);
	}
}

static bool tolerated(const struct gw_taint *t, const struct gw_vmi_spec *s)
{
	for (size_t i = 0; i < s->n_tolerations; i++) {
		const struct gw_toleration *tol = &s->tolerations[i];
		bool exists = tol->op && strcmp(tol->op, "Exists") == 0;
		if (tol->effect && tol->effect[0] && (!t->effect || strcmp(tol->effect, t->effect) != 0))
			continue;
		if (!tol->key || !tol->key[0]) {
			if (exists)   /* empty key + Exists tolerates everything */
				return true;
			continue;
		}
		if (!t->key || strcmp(tol->key, t->key) != 0)
			continue;
		if (exists)
			return true;
		const char *tv = t->value ? t->value : "", *v = tol->value ? tol->value : "";
		if (strcmp(tv, v) == 0)
			return true;
	}
	return false;
}

bool sched_selector_schedulable(const char *key, const char *want)
{
	return strcmp(key, SCHED_LABEL_SCHEDULABLE) == 0 && strcmp(want, "true") == 0;
}

void sched_selector_reason(const char *name, const char *key, const char *want, const char *have,
			   struct gw_reasons *out)
{
	if (sched_selector_schedulable(key, want)) {
		if (!have || strcmp(have, "true") != 0)
			gw_reasons_add(out, GW_R_NOT_SCHEDULABLE, key,
				       "node %s is not schedulable for VMs (label %s is %s%s%s)", name, key,
				       have ? "\"" : "", have ? have : "absent", have ? "\"" : "");
		return;
	}
	if (!have)
		gw_reasons_add(out, GW_R_SELECTOR_MISSING, key, "node %s lacks label %s=%s", name, key, want);
	else if (strcmp(have, want) != 0)
		gw_reasons_add(out, GW_R_SELECTOR_VALUE, key, "node %s has label %s=%s, not %s", name, key,
			       have, want);
}

void gw_sched_node_check(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_node *node,
			 const struct gw_node *source, const struct gw_map *selector,
			 const struct gw_node_affinity *affinity, const struct gw_usage *usage,
			 struct gw_reasons *out)
{
	const char *name = node->meta.name ? node->meta.name : "";

	/* 2.5 step 2: pod anti-affinity keeps the target off the source node. */
	if (source && (source == node || (source->meta.name && strcmp(source->meta.name, name) == 0)))
		gw_reasons_add(out, GW_R_SOURCE_NODE, name, "node %s is the node the VMI runs on", name);

	/* nodeSelector: exact value match, each key its own reason */
	for (size_t i = 0; selector && i < selector->n; i++)
		sched_selector_reason(name, selector->keys[i], selector->values[i],
				      gw_map_get(&node->meta.labels, selector->keys[i]), out);

	check_affinity(node, affinity, out);

	if (node->unschedulable)
		gw_reasons_add(out, GW_R_CORDONED, name, "node %s is cordoned (spec.unschedulable)", name);

	for (size_t i = 0; i < node->n_taints; i++) {
		const struct gw_taint *t = &node->taints[i];
		if (!t->effect || (strcmp(t->effect, "NoSchedule") != 0 && strcmp(t->effect, "NoExecute") != 0))
			continue;
		if (!tolerated(t, &vmi->spec))
			gw_reasons_add(out, GW_R_TAINT, t->key, "node %s has taint %s%s%s:%s that the VMI does not tolerate",
				       name, t->key ? t->key : "", t->value && t->value[0] ? "=" : "",
				       t->value ? t->value : "", t->effect);
	}

	ssize_t idx = usage ? node_index(c, node) : -1;
	if (idx < 0 || (size_t)idx >= usage->n)
		return;
	int64_t want_cpu = vmi->spec.cpu_request_millis, want_mem = vmi_memory_request(&vmi->spec);
	int64_t used_cpu = usage->cpu_millis[idx], used_mem = usage->memory_bytes[idx];
	/* The VMI's own requests on the node it runs on are not in its way. */
	if (vmi->node_name && node->meta.name && strcmp(vmi->node_name, node->meta.name) == 0 &&
	    !phase_is_final(vmi->phase)) {
		used_cpu -= want_cpu;
		used_mem -= want_mem;
	}
	if (node->cpu_millis >= 0 && want_cpu > 0) {
		int64_t free_cpu = node->cpu_millis - used_cpu;
		if (want_cpu > free_cpu)
			gw_reasons_add(out, GW_R_CPU_CAPACITY, name,
				       "node %s has %" PRId64 "m CPU free of %" PRId64 "m, the VMI requests %" PRId64 "m",
				       name, free_cpu, node->cpu_millis, want_cpu);
	}
	if (node->memory_bytes >= 0 && want_mem > 0) {
		int64_t free_mem = node->memory_bytes - used_mem;
		if (want_mem > free_mem)
			gw_reasons_add(out, GW_R_MEMORY_CAPACITY, name,
				       "node %s has %" PRId64 " bytes of memory free of %" PRId64 ", the VMI requests %" PRId64,
				       name, free_mem, node->memory_bytes, want_mem);
	}
}
