/* SPDX-License-Identifier: Apache-2.0 */
/* Migration policies (5.2-5.4) and the settings a migration gets (4.1-4.3). */
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"

struct match {
	size_t vmi, ns;
	struct gw_strv keys;   /* matching label keys, sorted */
};

/* KubeVirt 5.2, with its QUIRK: both selectors are skipped when the VMI
 * has no labels (an empty label map is taken as a nil one), and the
 * namespace selector's nil check looks at the VMI labels. */
static bool policy_match(const struct gw_policy *p, const struct gw_map *vmi_labels, const struct gw_map *ns_labels,
			 struct match *m)
{
	m->vmi = m->ns = 0;
	gw_strv_init(&m->keys);
	if (!p->has_selectors)
		return false;
	if (p->has_vmi_selector && vmi_labels->n > 0) {
		for (size_t i = 0; i < p->vmi_selector.n; i++) {
			const char *v = gw_map_get(vmi_labels, p->vmi_selector.keys[i]);
			if (!v || strcmp(v, p->vmi_selector.values[i]) != 0)
				goto no;
			m->vmi++;
			gw_strv_push(&m->keys, p->vmi_selector.keys[i]);
		}
	}
	if (p->has_ns_selector && vmi_labels->n > 0) {
		for (size_t i = 0; i < p->ns_selector.n; i++) {
			const char *v = ns_labels ? gw_map_get(ns_labels, p->ns_selector.keys[i]) : NULL;
			if (!v || strcmp(v, p->ns_selector.values[i]) != 0)
				goto no;
			m->ns++;
			gw_strv_push(&m->keys, p->ns_selector.keys[i]);
		}
	}
	gw_strv_sort(&m->keys);
	return true;
no:
	gw_strv_fini(&m->keys);
	return false;
}

/* > 0 when a ranks before b. */
static int compare(const struct match *a, const char *a_name, const struct match *b, const char *b_name,
		   enum gw_policy_tiebreak tiebreak)
{
	size_t ta = a->vmi + a->ns, tb = b->vmi + b->ns;
	if (ta != tb)
		return ta > tb ? 1 : -1;   /* most matching labels: both rule sets */
	if (tiebreak == GW_TIEBREAK_VMI_COUNT_NAME) {
		/* KubeVirt 5.3: more VMI labels, then the smaller name */
		if (a->vmi != b->vmi)
			return a->vmi > b->vmi ? 1 : -1;
	} else {
		/* 003: alphabetical order of the matching label keys (the
		 * sorted key lists compared key by key; the list that comes
		 * first wins), then the name */
		for (size_t i = 0; i < a->keys.n && i < b->keys.n; i++) {
			int c = strcmp(a->keys.v[i], b->keys.v[i]);
			if (c)
				return c < 0 ? 1 : -1;
		}
	}
	int c = strcmp(a_name, b_name);
	return c < 0 ? 1 : c > 0 ? -1 : 0;
}

int gw_sched_policy(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules)
{
	const struct gw_namespace *ns = sched_find_namespace(c, vmi->meta.namespace);
	struct match best = {0}, m;
	int best_i = -1;
	if (!rules)
		rules = gw_rules_get(GW_RULES_GODWIT);
	gw_strv_init(&best.keys);
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct gw_policy *p = c->policies[i];
		if (!policy_match(p, &vmi->meta.labels, ns ? &ns->meta.labels : NULL, &m))
			continue;
		if (best_i < 0 || compare(&m, p->meta.name ? p->meta.name : "", &best,
					  c->policies[best_i]->meta.name ? c->policies[best_i]->meta.name : "",
					  rules->tiebreak) > 0) {
			gw_strv_fini(&best.keys);
			best = m;
			best_i = (int)i;
		} else {
			gw_strv_fini(&m.keys);
		}
	}
	gw_strv_fini(&best.keys);
	return best_i;
}

/* KubeVirt 4.1 defaults; the completion timeout is the rule set's. */
static void config_defaults(struct gw_migration_config *mc, const struct gw_rule_set *rules)
{
	memset(mc, 0, sizeof(*mc));
	mc->parallel_migrations_per_cluster = 5;
	mc->parallel_outbound_migrations_per_node = 2;
	mc->bandwidth_bytes = 0;
	mc->completion_timeout_per_gib = rules->completion_timeout_per_gib;
	mc->progress_timeout_s = 150;
	mc->allow_workload_disruption = -1;
	mc->max_downtime_ms = 900;
}

/* KubeVirt 4.2: libvirt's bandwidth in MiB/s; 0 = unlimited, below 1 MiB
 * is 1, otherwise rounded half up. */
static int64_t bandwidth_mib(int64_t bytes)
{
	if (bytes <= 0)
		return 0;
	if (bytes < 1048576)
		return 1;
	return (bytes + 524288) / 1048576;
}

/* Sizes of disks BlockMigration copies, where the inputs say: emptyDisk
 * capacities of the VMI's volumes (plain bytes or binary/decimal
 * suffixes). Container disks and other copied volumes have no size in
 * the resources, so they add nothing: the deadline is then a lower bound. */
static int64_t quantity_bytes(const char *s)
{
	static const struct { const char *suffix; int64_t mult; } units[] = {
		{"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30}, {"Ti", 1LL << 40},
		{"k", 1000LL}, {"M", 1000000LL}, {"G", 1000000000LL}, {"T", 1000000000000LL}, {"", 1},
	};
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || n < 0 || end == s)
		return 0;
	for (size_t i = 0; i < GW_ARRAY_SIZE(units); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return n > INT64_MAX / units[i].mult ? 0 : n * units[i].mult;
	return 0;
}

static int64_t copied_disk_bytes(const struct gw_vmi *vmi)
{
	int64_t total = 0;
	for (size_t i = 0; i < vmi->spec.n_volumes; i++)
		if (vmi->spec.volumes[i].empty_disk_capacity)
			total += quantity_bytes(vmi->spec.volumes[i].empty_disk_capacity);
	return total;
}

void gw_sched_settings(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules,
		       struct gw_migration_settings *out)
{
	if (!rules)
		rules = gw_rules_get(GW_RULES_GODWIT);
	sched_settings_of(c, vmi, rules, gw_sched_policy(c, vmi, rules), gw_sched_migration_method(c, vmi), out);
}

void sched_settings_of(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules,
		       int pi, const char *method, struct gw_migration_settings *out)
{
	struct gw_migration_config *mc = &out->config;
	memset(out, 0, sizeof(*out));

	if (c->kubevirt) {
		*mc = c->kubevirt->migrations;
		/* a configured completionTimeoutPerGiB overrides the rule set */
		if (!mc->completion_timeout_set)
			mc->completion_timeout_per_gib = rules->completion_timeout_per_gib;
	} else {
		config_defaults(mc, rules);
	}

	if (pi >= 0) {
		const struct gw_policy *p = c->policies[pi];
		out->policy = p->meta.name;
		/* 5.4 shim first: allowPostCopy without allowWorkloadDisruption
		 * sets both. */
		if (p->has_allow_post_copy && !p->has_allow_workload_disruption)
			mc->allow_workload_disruption = p->allow_post_copy;
		if (p->has_allow_auto_converge)
			mc->allow_auto_converge = p->allow_auto_converge;
		if (p->has_bandwidth)
			mc->bandwidth_bytes = p->bandwidth_bytes;
		if (p->has_completion_timeout)
			mc->completion_timeout_per_gib = p->completion_timeout_per_gib;
		if (p->has_max_downtime)
			mc->max_downtime_ms = p->max_downtime_ms;
		if (p->has_allow_post_copy)
			mc->allow_post_copy = p->allow_post_copy;
		if (p->has_allow_workload_disruption)
			mc->allow_workload_disruption = p->allow_workload_disruption;
	}
	/* 4.1: an unset allowWorkloadDisruption follows allowPostCopy. */
	if (mc->allow_workload_disruption < 0)
		mc->allow_workload_disruption = mc->allow_post_copy;

	/* 4.3: memory guest if set, else the request; BlockMigration adds
	 * the copied disks whose size is known. */
	out->size_bytes = vmi->spec.memory_guest_bytes ? vmi->spec.memory_guest_bytes : vmi->spec.memory_request_bytes;
	if (strcmp(method, "BlockMigration") == 0)
		out->size_bytes += copied_disk_bytes(vmi);
	if (rules->size_in_decimal_gb)
		out->size_units = (out->size_bytes + 999999999) / 1000000000;
	else
		out->size_units = (out->size_bytes + (1LL << 30) - 1) >> 30;
	/* 0 per GiB disables the completion timeout. */
	out->completion_deadline_s = mc->completion_timeout_per_gib * out->size_units;
	out->bandwidth_mib_s = bandwidth_mib(mc->bandwidth_bytes);
}

/* ---- the winning policy, memoized ------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t key_hash(const unsigned char *k, size_t n)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 1099511628211ULL;
	return h;
}

void sched_policy_memo_init(struct sched_policy_memo *m, const struct gw_cluster *c,
			    const struct gw_rule_set *rules)
{
	memset(m, 0, sizeof(*m));
	m->c = c;
	m->rules = rules ? rules : gw_rules_get(GW_RULES_GODWIT);
	gw_buf_init(&m->key);
	/* every (key, value) a VMI selector compares, keys and values sorted
	 * and unique: only these decide a VMI's match */
	struct gw_strv keys;
	gw_strv_init(&keys);
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct gw_policy *p = c->policies[i];
		if (!p->has_selectors || !p->has_vmi_selector)
			continue;
		for (size_t j = 0; j < p->vmi_selector.n; j++)
			if (!gw_strv_contains(&keys, p->vmi_selector.keys[j]))
				gw_strv_push(&keys, p->vmi_selector.keys[j]);
	}
	gw_strv_sort(&keys);
	m->n_keys = keys.n;
	m->keys = gw_calloc(keys.n ? keys.n : 1, sizeof(*m->keys));
	for (size_t k = 0; k < keys.n; k++) {
		struct gw_strv *vals = &m->keys[k].values;
		m->keys[k].name = gw_strdup(keys.v[k]);
		gw_strv_init(vals);
		for (size_t i = 0; i < c->n_policies; i++) {
			const struct gw_policy *p = c->policies[i];
			if (!p->has_selectors || !p->has_vmi_selector)
				continue;
			const char *v = gw_map_get(&p->vmi_selector, keys.v[k]);
			if (v && !gw_strv_contains(vals, v))
				gw_strv_push(vals, v);
		}
		if (vals->n > 1)
			qsort(vals->v, vals->n, sizeof(*vals->v), cmp_str);
	}
	gw_strv_fini(&keys);
}

void sched_policy_memo_fini(struct sched_policy_memo *m)
{
	for (size_t k = 0; k < m->n_keys; k++) {
		free(m->keys[k].name);
		gw_strv_fini(&m->keys[k].values);
	}
	free(m->keys);
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	gw_buf_fini(&m->key);
}

static void memo_grow(struct sched_policy_memo *m)
{
	size_t cap = m->cap ? 2 * m->cap : 64;
	struct sched_policy_slot *slots = gw_calloc(cap, sizeof(*slots));
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].key)
			continue;
		size_t j = m->slots[i].hash & (cap - 1);
		while (slots[j].key)
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
}

/* The key holds every input of gw_sched_policy that varies by VMI: the
 * namespace's name (its labels: sched_find_namespace), whether the VMI
 * has labels (5.2's QUIRK), and for each key a VMI selector names, which
 * of the values some selector wants the VMI's label has (0: absent or
 * none of them; either fails every comparison alike). */
int sched_policy_memo_get(struct sched_policy_memo *m, const struct gw_vmi *vmi)
{
	struct gw_buf *k = &m->key;
	k->len = 0;
	const char *ns = vmi->meta.namespace;
	if (ns) {
		gw_buf_add(k, "\1", 1);
		gw_buf_add(k, ns, strlen(ns) + 1);
	} else {
		gw_buf_add(k, "\0", 1);
	}
	const struct gw_map *labels = &vmi->meta.labels;
	gw_buf_add(k, labels->n > 0 ? "\1" : "\0", 1);
	for (size_t i = 0; i < m->n_keys && labels->n > 0; i++) {
		const char *v = gw_map_get(labels, m->keys[i].name);
		uint32_t code = 0;
		if (v) {
			char *const *hit = bsearch(&v, m->keys[i].values.v, m->keys[i].values.n, sizeof(char *), cmp_str);
			if (hit)
				code = (uint32_t)(hit - m->keys[i].values.v) + 1;
		}
		gw_buf_add(k, (const char *)&code, sizeof(code));
	}
	uint64_t h = key_hash((const unsigned char *)k->data, k->len);
	if (m->cap) {
		for (size_t j = h & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1))
			if (m->slots[j].hash == h && m->slots[j].len == k->len &&
			    memcmp(m->slots[j].key, k->data, k->len) == 0)
				return m->slots[j].policy;
	}
	int pi = gw_sched_policy(m->c, vmi, m->rules);
	if (2 * (m->n + 1) > m->cap)
		memo_grow(m);
	size_t j = h & (m->cap - 1);
	while (m->slots[j].key)
		j = (j + 1) & (m->cap - 1);
	m->slots[j].key = gw_malloc(k->len);
	memcpy(m->slots[j].key, k->data, k->len);
	m->slots[j].len = k->len;
	m->slots[j].hash = h;
	m->slots[j].policy = pi;
	m->n++;
	return pi;
}
