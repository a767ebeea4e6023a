/* SPDX-License-Identifier: Apache-2.0 */
/* The pre-flight report (docs/report.md): every VM judged against every
 * node, and the cluster's view (VMs without target, drain strands).
 *
 * A cluster of 10,000 nodes and 100,000 VMIs must not cost 10^9 node
 * checks. Two observations make it cheap:
 *  - a node's verdict for a VM depends only on the VM's placement
 *    signature (target selector, required affinity, tolerations) and on
 *    the node's labels that some selector or affinity names, its taints
 *    and its cordon: nodes equal in those form a class, and each
 *    (signature, class) pair is judged once, by gw_sched_node_check on
 *    one node of the class;
 *  - capacity depends on the node's free CPU and memory and the VM's
 *    requests: it is judged once per (class, CPU request, memory request).
 * A VM then costs one step per class plus the names it lists (capped),
 * not one per node. The CPU domains and the recommended model come from
 * report_cluster.c. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "report_int.h"

void gw_check_options_init(struct gw_check_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_nodes_listed = GW_CHECK_MAX_NODES_LISTED;
}

/* ---- interning: key string -> dense index ------------------------------------------ */

static ssize_t intern(json_t *map, const char *key, size_t next)
{
	json_t *v = json_object_get(map, key);
	if (v)
		return (ssize_t)json_integer_value(v);
	json_object_set_new(map, key, json_integer((json_int_t)next));
	return -1;
}

static size_t triple_hash(size_t a, int64_t b, int64_t c)
{
	uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ULL;
	h ^= (uint64_t)b + 0x632BE59BD9B4E019ULL + (h << 6) + (h >> 2);
	h ^= (uint64_t)c + 0x85EBCA77C2B2AE63ULL + (h << 6) + (h >> 2);
	return (size_t)(h ^ (h >> 29));
}

/* The value for (a, b, c), or -1: a lookup only (the threads' writer
 * reads the index while triple_intern would grow it). */
static ssize_t triple_find(const struct triple_index *t, size_t a, int64_t b, int64_t c)
{
	if (!t->cap)
		return -1;
	for (size_t i = triple_hash(a, b, c) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		const struct triple_slot *s = &t->slots[i];
		if (!s->value)
			return -1;
		if (s->a == a && s->b == b && s->c == c)
			return (ssize_t)(s->value - 1);
	}
}

/* A memo, verdict or capacity missing once the report is frozen
 * (precompute missed it): a bug, never a wrong answer. */
static void frozen_miss(const char *what)
{
	fprintf(stderr, "godwit: internal error: report %s not precomputed\n", what);
	abort();
}

/* The value for (a, b, c), or -1 after recording `next` for it. */
static ssize_t triple_intern(struct triple_index *t, size_t a, int64_t b, int64_t c, size_t next)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct triple_slot *slots = gw_calloc(cap, sizeof(*slots));
		for (size_t i = 0; i < t->cap; i++) {
			struct triple_slot *s = &t->slots[i];
			if (!s->value)
				continue;
			size_t j = triple_hash(s->a, s->b, s->c) & (cap - 1);
			while (slots[j].value)
				j = (j + 1) & (cap - 1);
			slots[j] = *s;
		}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	size_t i = triple_hash(a, b, c) & (t->cap - 1);
	for (;; i = (i + 1) & (t->cap - 1)) {
		struct triple_slot *s = &t->slots[i];
		if (!s->value)
			break;
		if (s->a == a && s->b == b && s->c == c)
			return (ssize_t)(s->value - 1);
	}
	t->slots[i] = (struct triple_slot){.a = a, .b = b, .c = c, .value = next + 1};
	t->n++;
	return -1;
}

/* Byte strings (keys with NUL bytes in them) -> dense index, the keys
 * kept in one buffer. */
struct bytes_slot {
	uint64_t hash;
	size_t off, len;
	size_t value;     /* + 1; 0 = empty slot */
};
struct bytes_index {
	struct bytes_slot *slots;
	size_t cap, n;    /* cap: a power of two */
	struct gw_buf keys;
};

static uint64_t bytes_hash(const char *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
		h ^= h >> 32;
	}
	uint64_t w = 0;
	if (n)
		memcpy(&w, p, n);
	h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
	return h ^ (h >> 29);
}

/* The value for k[0..n), or -1 after recording `next` for it. */
static ssize_t bytes_intern(struct bytes_index *t, const char *k, size_t n, size_t next)
{
	uint64_t h = bytes_hash(k, n);
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct bytes_slot *slots = gw_calloc(cap, sizeof(*slots));
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->slots[i].value)
				continue;
			size_t j = t->slots[i].hash & (cap - 1);
			while (slots[j].value)
				j = (j + 1) & (cap - 1);
			slots[j] = t->slots[i];
		}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	size_t i = h & (t->cap - 1);
	for (;; i = (i + 1) & (t->cap - 1)) {
		struct bytes_slot *s = &t->slots[i];
		if (!s->value)
			break;
		if (s->hash == h && s->len == n && (!n || memcmp(t->keys.data + s->off, k, n) == 0))
			return (ssize_t)(s->value - 1);
	}
	t->slots[i] = (struct bytes_slot){.hash = h, .off = t->keys.len, .len = n, .value = next + 1};
	gw_buf_add(&t->keys, k, n);
	t->n++;
	return -1;
}

static void bytes_index_fini(struct bytes_index *t)
{
	free(t->slots);
	gw_buf_fini(&t->keys);
}

static void key_sep(struct gw_buf *b, char c)
{
	gw_buf_add(b, &c, 1);
}

/* ---- placement signatures ---------------------------------------------------------- */

static void signature_key_add(struct gw_buf *b, const struct gw_map *sel, const struct gw_node_affinity *aff,
			      const struct gw_vmi *vmi)
{
	for (size_t i = 0; i < sel->n; i++) {
		gw_buf_puts(b, sel->keys[i]);
		key_sep(b, '\x01');
		gw_buf_puts(b, sel->values[i]);
		key_sep(b, '\x02');
	}
	key_sep(b, '\x03');
	for (size_t t = 0; t < aff->n; t++) {
		for (size_t r = 0; r < aff->terms[t].n; r++) {
			const struct gw_node_requirement *q = &aff->terms[t].reqs[r];
			gw_buf_printf(b, "%s\x01%d", q->key, (int)q->op);
			for (size_t v = 0; v < q->values.n; v++) {
				key_sep(b, '\x01');
				gw_buf_puts(b, q->values.v[v]);
			}
			key_sep(b, '\x02');
		}
		key_sep(b, '\x04');
	}
	key_sep(b, '\x03');
	const struct gw_vmi_spec *s = &vmi->spec;
	for (size_t i = 0; i < s->n_tolerations; i++) {
		const struct gw_toleration *t = &s->tolerations[i];
		gw_buf_printf(b, "%s\x01%s\x01%s\x01%s\x02", t->key ? t->key : "\x05", t->op ? t->op : "",
			      t->value ? t->value : "", t->effect ? t->effect : "");
	}
}

static char *signature_key(const struct gw_map *sel, const struct gw_node_affinity *aff, const struct gw_vmi *vmi)
{
	struct gw_buf b;
	gw_buf_init(&b);
	signature_key_add(&b, sel, aff, vmi);
	if (!b.data)
		gw_buf_puts(&b, "");
	return gw_buf_steal(&b);
}

static void reference(struct report *x, const char *key)
{
	if (intern(x->referenced, key, x->n_referenced) < 0)
		x->n_referenced++;
}

/* The index of the signature of (selector, affinity, vmi's tolerations);
 * takes the selector and affinity (freed when already known) and the
 * signature key (signature_key; NULL: made here). */
static size_t sig_intern(struct report *x, struct gw_map *sel, struct gw_node_affinity *aff, const struct gw_vmi *vmi,
			 char *key)
{
	if (!key)
		key = signature_key(sel, aff, vmi);
	ssize_t known = intern(x->sig_index, key, x->n_sigs);
	free(key);
	if (known >= 0) {
		gw_map_fini(sel);
		gw_node_affinity_fini(aff);
		return (size_t)known;
	}
	if (x->n_sigs == x->cap_sigs) {
		x->cap_sigs = x->cap_sigs ? x->cap_sigs * 2 : 64;
		x->sigs = gw_realloc(x->sigs, x->cap_sigs * sizeof(*x->sigs));
	}
	struct sig *s = &x->sigs[x->n_sigs];
	memset(s, 0, sizeof(*s));
	s->selector = *sel;
	s->affinity = *aff;
	s->rep = vmi;
	for (size_t i = 0; i < sel->n; i++)
		reference(x, sel->keys[i]);
	for (size_t t = 0; t < aff->n; t++)
		for (size_t r = 0; r < aff->terms[t].n; r++)
			reference(x, aff->terms[t].reqs[r].key);
	memset(sel, 0, sizeof(*sel));
	memset(aff, 0, sizeof(*aff));
	return x->n_sigs++;
}

/* The pending (unfinished) migration of a VMI, if any: its
 * addedNodeSelector restricts the targets (003, S17). */
static const struct gw_vmim *pending_vmim(const struct report *x, const struct gw_vmi *vmi)
{
	if (!x->c->n_vmims)
		return NULL;
	char *key = gw_asprintf("%s/%s", vmi->meta.namespace ? vmi->meta.namespace : "", vmi->meta.name);
	json_t *v = json_object_get(x->vmim_index, key);
	free(key);
	return v ? x->c->vmims[json_integer_value(v)] : NULL;
}

/* Target selectors of VMIs, memoized: a host-model VM's selector copies
 * ~100 remembered labels of its launcher pod or of its source node, and
 * rendering and comparing them per VM (up to three times: its own, under
 * the recommended model, under the cpuModel before --set-cpu-model) was
 * most of the report's first pass. A VM's signature is found in two
 * steps, each keyed by its inputs rather than its result:
 *  - "pre": every input of sched_target_selector_pre and the tolerations
 *    (sched_target_pre_key), maps by content id; it gives host_labels and
 *    whether the selector pins a vendor, i.e. what the node step reads;
 *  - the result: (pre, what sched_target_selector_node reads of the
 *    source node, by content id), a signature or a failure's message.
 * Equal keys give equal signatures; the selector is built only for the
 * first VM of a key. Signatures are numbered by sig_intern in order of
 * first use whatever the memo hits, each with the same first VM. */
struct sig_memo {
	struct report *x;
	struct gw_buf key, scratch;
	struct bytes_index maps;           /* map content -> id */
	struct triple_index map_ids;       /* (keys, values, n) of a map -> its id */
	struct bytes_index pre;            /* pre key -> pres index */
	struct {
		bool host_labels, has_vendor;
	} *pres;
	size_t n_pres;
	struct bytes_index parts;          /* what the node step reads -> id */
	size_t (*node_parts)[3];           /* [node][host_labels | vendor << 1 - 1] -> id, 0 unknown */
	struct triple_index results;       /* (pre, part id) -> res index */
	struct {
		ssize_t sig;               /* -1: failed with msg */
		char *msg;
	} *res;
	size_t n_res;
};

/* Content id of a map, 0 for an empty one; the maps of a VMI stay put
 * while the memo lives (a launcher pod's selector is shared by its VMI,
 * an id found once per array). */
static size_t memo_map_id(void *ctx, const struct gw_map *m)
{
	struct sig_memo *sm = ctx;
	if (!m->n)
		return 0;
	ssize_t id = triple_find(&sm->map_ids, (size_t)(uintptr_t)m->keys, (int64_t)(intptr_t)m->values,
				 (int64_t)m->n);
	if (id >= 0)
		return (size_t)id;
	sm->scratch.len = 0;
	sched_map_key(&sm->scratch, m);
	id = bytes_intern(&sm->maps, sm->scratch.data, sm->scratch.len, sm->maps.n + 1);
	if (id < 0)
		id = (ssize_t)sm->maps.n;
	triple_intern(&sm->map_ids, (size_t)(uintptr_t)m->keys, (int64_t)(intptr_t)m->values, (int64_t)m->n,
		      (size_t)id);
	return (size_t)id;
}

/* Id of what the node step reads of source, nodes[at] (0: nothing), -1
 * when it would fail for want of it. */
static ssize_t memo_node_part(struct sig_memo *sm, const struct gw_node *source, ssize_t at, bool host_labels,
			      bool vendor)
{
	if (!host_labels && !vendor)
		return 0;
	if (!source)
		return -1;
	size_t what = (size_t)(host_labels | vendor << 1) - 1;
	/* at < 0: a node the cluster's name index has and its array not */
	if (at >= 0 && sm->node_parts[at][what])
		return (ssize_t)sm->node_parts[at][what];
	sm->scratch.len = 0;
	sched_target_node_inputs(source, host_labels, vendor, &sm->scratch);
	ssize_t id = bytes_intern(&sm->parts, sm->scratch.data, sm->scratch.len, sm->parts.n + 1);
	if (id < 0)
		id = (ssize_t)sm->parts.n;
	if (at >= 0)
		sm->node_parts[at][what] = (size_t)id;
	return id;
}

static void sig_memo_fini(struct sig_memo *sm)
{
	gw_buf_fini(&sm->key);
	gw_buf_fini(&sm->scratch);
	bytes_index_fini(&sm->maps);
	free(sm->map_ids.slots);
	bytes_index_fini(&sm->pre);
	free(sm->pres);
	bytes_index_fini(&sm->parts);
	free(sm->node_parts);
	free(sm->results.slots);
	for (size_t i = 0; i < sm->n_res; i++)
		free(sm->res[i].msg);
	free(sm->res);
}

/* Target selector of a VMI in cluster c (the real one, or a copy with
 * another cpuModel), vmim its pending migration, source its node
 * (nodes[at]): a signature index, or -1 with *error set. */
static ssize_t vmi_signature(struct sig_memo *sm, const struct gw_cluster *c, const struct gw_vmi *vmi,
			     const struct gw_vmim *vmim, const struct gw_node *source, ssize_t at, char **error)
{
	struct report *x = sm->x;
	struct gw_map sel = {0};
	struct gw_node_affinity aff = {0};
	struct gw_err *err = NULL;
	bool host_labels, built = false;
	sm->key.len = 0;
	sched_target_pre_key(c, vmi, vmim, &sm->key, memo_map_id, sm);
	ssize_t pre = bytes_intern(&sm->pre, sm->key.data, sm->key.len, sm->n_pres);
	if (pre < 0) {
		sched_target_selector_pre(c, vmi, vmim, &sel, &aff, &host_labels);
		built = true;
		if (!(sm->n_pres & (sm->n_pres - 1)))   /* 0, 1, 2, 4...: doubled */
			sm->pres = gw_realloc(sm->pres, (sm->n_pres ? 2 * sm->n_pres : 1) * sizeof(*sm->pres));
		sm->pres[sm->n_pres].host_labels = host_labels;
		sm->pres[sm->n_pres].has_vendor = sched_selector_has_vendor(&sel);
		pre = (ssize_t)sm->n_pres++;
	}
	host_labels = sm->pres[pre].host_labels;
	ssize_t part = memo_node_part(sm, source, at, host_labels, !sm->pres[pre].has_vendor);
	ssize_t r = part < 0 ? -1 : triple_find(&sm->results, (size_t)pre, part, 0);
	if (r >= 0) {
		gw_map_fini(&sel);
		gw_node_affinity_fini(&aff);
		if (sm->res[r].sig < 0 && error)
			*error = gw_strdup(sm->res[r].msg);
		return sm->res[r].sig;
	}
	if (!built)
		sched_target_selector_pre(c, vmi, vmim, &sel, &aff, &host_labels);
	ssize_t sig = -1;
	if (sched_target_selector_node(vmi, source, host_labels, &sel, &err) < 0) {
		gw_map_fini(&sel);
		gw_node_affinity_fini(&aff);
		if (error)
			*error = gw_strdup(gw_err_msg(err));
	} else {
		sig = (ssize_t)sig_intern(x, &sel, &aff, vmi, NULL);
	}
	/* a failure for want of the source node names the VMI: not memoized */
	if (part >= 0) {
		if (!(sm->n_res & (sm->n_res - 1)))
			sm->res = gw_realloc(sm->res, (sm->n_res ? 2 * sm->n_res : 1) * sizeof(*sm->res));
		sm->res[sm->n_res].sig = sig;
		sm->res[sm->n_res].msg = sig < 0 ? gw_strdup(gw_err_msg(err)) : NULL;
		triple_intern(&sm->results, (size_t)pre, part, 0, sm->n_res++);
	}
	gw_err_free(err);
	return sig;
}

/* c with the cluster cpuModel replaced (shallow; for "after restart"). */
static void cluster_with_model(const struct gw_cluster *c, const char *model, struct gw_cluster *alt,
			       struct gw_kubevirt *altk)
{
	*alt = *c;
	if (c->kubevirt) {
		*altk = *c->kubevirt;
	} else {
		memset(altk, 0, sizeof(*altk));
		gw_migration_config_defaults(&altk->migrations);
	}
	altk->cpu_model = (char *)model;
	alt->kubevirt = altk;
}

/* ---- node classes ------------------------------------------------------------------ */

/* Node labels by id, for the class keys: a key's referenced id + 1 (0:
 * no signature names it), a value's number (gw_strids). A cluster's
 * labels are interned (borrowed maps: equal strings, one address), so
 * each key is looked up once by address; otherwise by content every
 * time. */
struct label_ids {
	const struct report *x;
	struct triple_index key_at;            /* address -> id */
	struct gw_strids values;
};

static size_t label_key_id(struct label_ids *li, const char *key, bool interned)
{
	ssize_t id = interned ? triple_find(&li->key_at, (size_t)(uintptr_t)key, 0, 0) : -1;
	if (id >= 0)
		return (size_t)id;
	json_t *ref = json_object_get(li->x->referenced, key);
	id = ref ? (ssize_t)json_integer_value(ref) + 1 : 0;
	if (interned)
		triple_intern(&li->key_at, (size_t)(uintptr_t)key, 0, 0, (size_t)id);
	return (size_t)id;
}

static void class_key_str(struct gw_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	gw_buf_add(b, (const char *)&n, sizeof(n));
	gw_buf_add(b, s ? s : "", n);
}

/* A node's class key: (key id, value id) of each label some signature
 * names, its taints (an absent field as an empty one) and its cordon. */
static void class_key(struct label_ids *li, const struct gw_node *n, struct gw_buf *b)
{
	const struct gw_map *l = &n->meta.labels;
	b->len = 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t k = label_key_id(li, l->keys[i], l->borrowed);
		if (!k)
			continue;
		size_t pair[2] = {k, gw_strids_id(&li->values, l->values[i])};
		gw_buf_add(b, (const char *)pair, sizeof(pair));
	}
	size_t end = 0, nt = n->n_taints;
	gw_buf_add(b, (const char *)&end, sizeof(end));
	gw_buf_add(b, (const char *)&nt, sizeof(nt));
	for (size_t t = 0; t < n->n_taints; t++) {
		class_key_str(b, n->taints[t].key);
		class_key_str(b, n->taints[t].value);
		class_key_str(b, n->taints[t].effect);
	}
	gw_buf_add(b, n->unschedulable ? "u" : "s", 1);
}

static void build_classes(struct report *x)
{
	const struct gw_cluster *c = x->c;
	size_t nk = x->n_referenced;
	struct label_ids li;
	memset(&li, 0, sizeof(li));
	li.x = x;
	struct bytes_index index;
	memset(&index, 0, sizeof(index));
	struct gw_buf b;
	gw_buf_init(&b);
	size_t *count = NULL;
	x->node_class = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*x->node_class));
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *n = c->nodes[i];
		class_key(&li, n, &b);
		ssize_t k = bytes_intern(&index, b.data, b.len, x->n_classes);
		if (k < 0) {
			/* a new class: its values of the referenced labels, from
			 * this node (the verdicts compare selectors with them) */
			k = (ssize_t)x->n_classes++;
			count = gw_realloc(count, x->n_classes * sizeof(*count));
			count[k] = 0;
			x->class_labels = gw_realloc(x->class_labels, (x->n_classes * nk + 1) * sizeof(*x->class_labels));
			const char **values = &x->class_labels[(size_t)k * nk];
			memset(values, 0, nk * sizeof(*values));
			const struct gw_map *l = &n->meta.labels;
			for (size_t j = 0; j < l->n; j++) {
				size_t id = label_key_id(&li, l->keys[j], l->borrowed);
				if (id)
					values[id - 1] = l->values[j];
			}
		}
		count[k]++;
		x->node_class[i] = (size_t)k;
	}
	if (!x->class_labels)
		x->class_labels = gw_calloc(1, sizeof(*x->class_labels));
	x->classes = gw_calloc(x->n_classes ? x->n_classes : 1, sizeof(*x->classes));
	for (size_t k = 0; k < x->n_classes; k++)
		x->classes[k].nodes = gw_malloc(count[k] * sizeof(*x->classes[k].nodes));
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct node_class *cl = &x->classes[x->node_class[i]];
		cl->nodes[cl->n++] = i;
	}
	free(count);
	gw_buf_fini(&b);
	bytes_index_fini(&index);
	free(li.key_at.slots);
	gw_strids_fini(&li.values);
}

/* A reason's subject as a dense id (groups are indexed by it). Once
 * precompute has interned every subject a verdict can name, this only
 * looks up, so that verdicts are made in threads without a lock. */
static size_t subject_id(struct report *x, const char *subject)
{
	if (!subject)
		return 0;
	if (x->subjects_frozen) {
		json_t *v = json_object_get(x->subject_index, subject);
		if (!v)
			frozen_miss("subject");
		return (size_t)json_integer_value(v);
	}
	ssize_t id = intern(x->subject_index, subject, x->subjects.n + 1);
	if (id < 0) {
		gw_strv_push(&x->subjects, subject);
		id = (ssize_t)x->subjects.n;
	}
	return (size_t)id;
}

static const char *subject_name(const struct report *x, size_t id)
{
	return id ? x->subjects.v[id - 1] : NULL;
}

/* ---- verdicts ------------------------------------------------------------------------ */

/* The classes' labels as value ids, and each referenced key's subject id:
 * a verdict compares a signature's selector (~100 entries for a host-model
 * VM) with the labels of every class, 10^8 comparisons on a big cluster,
 * each then an integer compare instead of a strcmp. */
static void label_ids(struct report *x)
{
	size_t nk = x->n_referenced, n = 0;
	x->value_ids = json_object();
	x->class_vals = gw_calloc(x->n_classes && nk ? x->n_classes * nk : 1, sizeof(*x->class_vals));
	for (size_t i = 0; i < x->n_classes * nk; i++) {
		const char *v = x->class_labels[i];
		/* neighbours often share the very string (interned at load) */
		if (!v)
			continue;
		if (i >= nk && x->class_labels[i - nk] == v) {
			x->class_vals[i] = x->class_vals[i - nk];
			continue;
		}
		ssize_t id = intern(x->value_ids, v, n + 1);
		x->class_vals[i] = (uint32_t)(id < 0 ? ++n : (size_t)id);
	}
	x->key_subject = gw_calloc(nk ? nk : 1, sizeof(*x->key_subject));
	const char *key;
	json_t *id;
	json_object_foreach(x->referenced, key, id)
		x->key_subject[json_integer_value(id)] = subject_id(x, key);
}

/* Signature s's selector as ids (struct sel_id); reads the indexes only. */
static void sel_ids_fill(const struct report *x, struct sig *s)
{
	s->sel_ids = gw_calloc(s->selector.n ? s->selector.n : 1, sizeof(*s->sel_ids));
	for (size_t i = 0; i < s->selector.n; i++) {
		struct sel_id *e = &s->sel_ids[i];
		json_t *want = json_object_get(x->value_ids, s->selector.values[i]);
		e->key = (size_t)json_integer_value(json_object_get(x->referenced, s->selector.keys[i]));
		e->want = want ? (uint32_t)json_integer_value(want) : UINT32_MAX;
		e->schedulable = sched_selector_schedulable(s->selector.keys[i], s->selector.values[i]);
		e->subject = x->key_subject[e->key];
	}
}

/* A verdict's reasons while they are made. */
struct vbuf {
	enum gw_reason_code *code;
	size_t *subject;
	size_t n, cap;
};

static void vbuf_push(struct vbuf *b, enum gw_reason_code code, size_t subject)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->code = gw_realloc(b->code, b->cap * sizeof(*b->code));
		b->subject = gw_realloc(b->subject, b->cap * sizeof(*b->subject));
	}
	b->code[b->n] = code;
	b->subject[b->n++] = subject;
}

static void vbuf_fini(struct vbuf *b)
{
	free(b->code);
	free(b->subject);
}

/* The reasons of gw_sched_node_check for (signature, class) appended to
 * out: the selector's from the class's value ids (sched_selector_reason's
 * rule, the same order), then the rest of its checks (affinity, cordon,
 * taints) on one node of the class, when it has any to make. */
static void verdict_reasons(struct report *x, struct sig *s, size_t cls, struct vbuf *out)
{
	const uint32_t *have = &x->class_vals[cls * x->n_referenced];
	if (!s->sel_ids)
		sel_ids_fill(x, s);
	for (size_t i = 0; i < s->selector.n; i++) {
		const struct sel_id *e = &s->sel_ids[i];
		uint32_t h = have[e->key];
		if (h == e->want)
			continue;
		vbuf_push(out, e->schedulable ? GW_R_NOT_SCHEDULABLE : h ? GW_R_SELECTOR_VALUE : GW_R_SELECTOR_MISSING,
			  e->subject);
	}
	const struct gw_node *node = x->c->nodes[x->classes[cls].nodes[0]];
	if (!s->affinity.n && !node->unschedulable && !node->n_taints)
		return;
	struct gw_reasons rs;
	gw_reasons_init(&rs);
	rs.codes_only = true;
	gw_sched_node_check(x->c, s->rep, node, NULL, NULL, &s->affinity, NULL, &rs);
	/* The subject of a node-named reason is the node itself: stored as
	 * none and named per node by the caller. */
	for (size_t i = 0; i < rs.n; i++)
		vbuf_push(out, rs.v[i].code, rs.v[i].code == GW_R_CORDONED ? 0 : subject_id(x, rs.v[i].subject));
	gw_reasons_fini(&rs);
}

/* v's arrays at mem (its subjects, then its codes), from b[from..n). */
static void verdict_set(struct verdict *v, const struct vbuf *b, size_t from, size_t n, size_t *subject,
			enum gw_reason_code *code)
{
	v->n = n;
	v->subject = subject;
	v->code = code;
	if (!n)
		return;            /* b's arrays may be NULL then */
	memcpy(subject, b->subject + from, n * sizeof(*subject));
	memcpy(code, b->code + from, n * sizeof(*code));
}

static const struct verdict *verdict(struct report *x, size_t sig, size_t cls)
{
	struct sig *s = &x->sigs[sig];
	if (x->frozen) {
		if (!s->verdicts || !s->verdicts[cls])
			frozen_miss("verdict");
		return s->verdicts[cls];
	}
	if (!s->verdicts)
		s->verdicts = gw_calloc(x->n_classes ? x->n_classes : 1, sizeof(*s->verdicts));
	if (s->verdicts[cls])
		return s->verdicts[cls];
	if (!x->class_vals)
		label_ids(x);
	struct vbuf b = {0};
	verdict_reasons(x, s, cls, &b);
	/* one block: the verdict, its subjects, its codes */
	struct verdict *v = gw_malloc(sizeof(*v) + b.n * (sizeof(*v->subject) + sizeof(*v->code)));
	verdict_set(v, &b, 0, b.n, (size_t *)(v + 1), (enum gw_reason_code *)((size_t *)(v + 1) + b.n));
	vbuf_fini(&b);
	s->verdicts[cls] = v;
	return v;
}

static uint64_t reasons_hash(const struct vbuf *b, size_t from)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ (b->n - from);
	for (size_t i = from; i < b->n; i++) {
		h = (h ^ (uint64_t)b->code[i]) * 0x100000001B3ULL;
		h = (h ^ (uint64_t)b->subject[i]) * 0x100000001B3ULL;
	}
	return h ^ (h >> 31);
}

/* Every class's verdict of a signature that has none yet, in one block
 * (s->verdict_mem). A big cluster has ~10^6 (signature, class) pairs but
 * a signature sees few distinct verdicts (~35 of 415 classes): equal
 * ones are one verdict. Writes only s. */
static void verdict_row(struct report *x, struct sig *s, struct vbuf *b)
{
	size_t nc = x->n_classes, cap = 1;
	while (cap < 2 * nc)
		cap *= 2;
	size_t *start = gw_malloc((nc + 1) * sizeof(*start));
	size_t *same = gw_malloc(nc * sizeof(*same));       /* class -> distinct verdict */
	size_t *slot = gw_calloc(cap, sizeof(*slot));       /* hash -> distinct verdict + 1 */
	size_t nd = 0;
	b->n = 0;
	for (size_t k = 0; k < nc; k++) {
		size_t from = b->n;
		verdict_reasons(x, s, k, b);
		size_t j = reasons_hash(b, from) & (cap - 1), n = b->n - from;
		for (; slot[j]; j = (j + 1) & (cap - 1)) {
			size_t d = slot[j] - 1;
			/* (n: the arrays may still be NULL when empty) */
			if (start[d + 1] - start[d] == n &&
			    (!n || (!memcmp(b->code + start[d], b->code + from, n * sizeof(*b->code)) &&
				    !memcmp(b->subject + start[d], b->subject + from, n * sizeof(*b->subject)))))
				break;
		}
		if (slot[j]) {
			b->n = from;
		} else {
			slot[j] = nd + 1;
			start[nd++] = from;
			start[nd] = b->n;
		}
		same[k] = slot[j] - 1;
	}
	/* one block: the verdicts, all their subjects, all their codes */
	struct verdict *v = gw_malloc(nd * sizeof(*v) + b->n * (sizeof(size_t) + sizeof(enum gw_reason_code)));
	size_t *subject = (size_t *)(v + nd);
	enum gw_reason_code *code = (enum gw_reason_code *)(subject + b->n);
	for (size_t d = 0; d < nd; d++)
		verdict_set(&v[d], b, start[d], start[d + 1] - start[d], subject + start[d], code + start[d]);
	s->verdicts = gw_malloc((nc ? nc : 1) * sizeof(*s->verdicts));
	for (size_t k = 0; k < nc; k++)
		s->verdicts[k] = &v[same[k]];
	s->verdict_mem = v;
	free(start);
	free(same);
	free(slot);
}

/* ---- capacity ------------------------------------------------------------------------- */

static bool phase_final(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

int64_t report_memory_request(const struct gw_vmi_spec *s)
{
	return s->memory_request_bytes ? s->memory_request_bytes : s->memory_guest_bytes;
}

ssize_t report_node_index(const struct report *x, const char *name)
{
	json_t *v = name ? json_object_get(x->node_index, name) : NULL;
	return v ? (ssize_t)json_integer_value(v) : -1;
}

/* As gw_sched_usage, with the node index of a hash (gw_sched_usage walks
 * the node array once per VMI). */
static void usage(struct report *x)
{
	const struct gw_cluster *c = x->c;
	x->used_cpu = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*x->used_cpu));
	x->used_mem = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*x->used_mem));
	for (size_t v = 0; v < c->n_vmis; v++) {
		const struct gw_vmi *vmi = c->vmis[v];
		if (!vmi->node_name || phase_final(vmi->phase))
			continue;
		ssize_t i = report_node_index(x, vmi->node_name);
		if (i < 0)
			continue;
		x->used_cpu[i] += vmi->spec.cpu_request_millis;
		x->used_mem[i] += report_memory_request(&vmi->spec);
	}
}

static bool lacks_cpu(const struct gw_node *n, int64_t used, int64_t want)
{
	return n->cpu_millis >= 0 && want > 0 && want > n->cpu_millis - used;
}

static bool lacks_mem(const struct gw_node *n, int64_t used, int64_t want)
{
	return n->memory_bytes >= 0 && want > 0 && want > n->memory_bytes - used;
}

/* Every class's capacity for one request, side by side (x->caps[i][class]):
 * a memo reads them class after class, ~3 million times on a big
 * cluster, where one allocation per class cost a cache miss each. */
static const struct capacity *capacities(struct report *x, int64_t cpu, int64_t mem)
{
	if (x->frozen) {
		ssize_t f = triple_find(&x->cap_index, 0, cpu, mem);
		if (f < 0)
			frozen_miss("capacity");
		return x->caps[f];
	}
	ssize_t known = triple_intern(&x->cap_index, 0, cpu, mem, x->n_caps);
	if (known >= 0)
		return x->caps[known];
	/* one block: the classes' capacities, then their lists */
	size_t n_bad = 0;
	for (size_t i = 0; i < x->c->n_nodes; i++)
		n_bad += lacks_cpu(x->c->nodes[i], x->used_cpu[i], cpu) || lacks_mem(x->c->nodes[i], x->used_mem[i], mem);
	struct capacity *row = gw_malloc(x->n_classes * sizeof(*row) + n_bad * sizeof(*row->bad));
	void *bad = row + x->n_classes;
	for (size_t k = 0; k < x->n_classes; k++) {
		struct capacity *cp = &row[k];
		const struct node_class *cl = &x->classes[k];
		cp->bad = bad;
		cp->n = 0;
		for (size_t j = 0; j < cl->n; j++) {
			size_t i = cl->nodes[j];
			const struct gw_node *n = x->c->nodes[i];
			bool bc = lacks_cpu(n, x->used_cpu[i], cpu), bm = lacks_mem(n, x->used_mem[i], mem);
			if (!bc && !bm)
				continue;
			cp->bad[cp->n].node = i;
			cp->bad[cp->n].cpu = bc;
			cp->bad[cp->n].mem = bm;
			cp->n++;
		}
		bad = cp->bad + cp->n;
	}
	x->caps = gw_realloc(x->caps, (x->n_caps + 1) * sizeof(*x->caps));
	x->caps[x->n_caps++] = row;
	return row;
}

/* ---- one VM against every class ----------------------------------------------------- */

/* The group of (code, subject) of the VM being judged: a direct slot per
 * (subject, code), valid when its stamp is this VM's generation. */
static struct group *group_of(struct report *x, struct eval *e, enum gw_reason_code code, size_t subject)
{
	size_t need = (x->subjects.n + 1) * GW_R_COUNT, slot = subject * GW_R_COUNT + (size_t)code;
	if (need > e->cap_slot) {
		e->slot = gw_realloc(e->slot, need * sizeof(*e->slot));
		e->stamp = gw_realloc(e->stamp, need * sizeof(*e->stamp));
		memset(e->stamp + e->cap_slot, 0, (need - e->cap_slot) * sizeof(*e->stamp));
		e->cap_slot = need;
	}
	if (e->stamp[slot] == e->gen)
		return &e->g[e->slot[slot]];
	if (e->ng == e->capg) {
		size_t old = e->capg;
		e->capg = e->capg ? e->capg * 2 : 16;
		e->g = gw_realloc(e->g, e->capg * sizeof(*e->g));
		memset(&e->g[old], 0, (e->capg - old) * sizeof(*e->g));
	}
	e->stamp[slot] = e->gen;
	e->slot[slot] = (uint32_t)e->ng;
	struct group *g = &e->g[e->ng++];
	size_t *keep = g->idx, keep_cap = g->cap_idx;
	memset(g, 0, sizeof(*g));
	g->idx = keep;
	g->cap_idx = keep_cap;
	g->code = code;
	g->subject = subject;
	return g;
}

static void group_add(struct group *g, size_t node, size_t cap)
{
	g->count++;
	if (cap && g->n >= cap)
		return;
	if (g->n == g->cap_idx) {
		g->cap_idx = g->cap_idx ? g->cap_idx * 2 : 8;
		g->idx = gw_realloc(g->idx, g->cap_idx * sizeof(*g->idx));
	}
	g->idx[g->n++] = node;
}

static void elig_add(struct eval *e, size_t node, size_t cap)
{
	e->eligible++;
	if (cap && e->n_elig >= cap)
		return;
	if (e->n_elig == e->cap_elig) {
		e->cap_elig = e->cap_elig ? e->cap_elig * 2 : 16;
		e->elig = gw_realloc(e->elig, e->cap_elig * sizeof(*e->elig));
	}
	e->elig[e->n_elig++] = node;
}

static bool reason_per_node(enum gw_reason_code code)
{
	return code == GW_R_CORDONED || code == GW_R_SOURCE_NODE || code == GW_R_CPU_CAPACITY ||
	       code == GW_R_MEMORY_CAPACITY;
}

static void eval_reset(struct eval *e)
{
	e->eligible = 0;
	e->n_elig = 0;
	e->ng = 0;
	e->sorted = false;
	if (++e->gen == 0) {   /* wrapped: forget every stamp */
		memset(e->stamp, 0, e->cap_slot * sizeof(*e->stamp));
		e->gen = 1;
	}
}

/* Every class against one signature and request. */
static void eval_classes(struct report *x, int64_t cpu, int64_t mem, size_t sig, ssize_t source, bool lists,
			 size_t cap, struct eval *e)
{
	eval_reset(e);
	const struct capacity *caps = cpu > 0 || mem > 0 ? capacities(x, cpu, mem) : NULL;
	if (lists && source >= 0)
		group_add(group_of(x, e, GW_R_SOURCE_NODE, 0), (size_t)source, cap);
	for (size_t k = 0; k < x->n_classes; k++) {
		const struct node_class *cl = &x->classes[k];
		const struct verdict *v = verdict(x, sig, k);
		const struct capacity *cp = caps ? &caps[k] : NULL;
		bool source_here = source >= 0 && x->node_class[source] == k;
		if (lists) {
			/* The source node is listed under SourceNode only: it is no
			 * candidate, whatever else holds for it. */
			for (size_t r = 0; r < v->n; r++) {
				struct group *g = group_of(x, e, v->code[r], v->subject[r]);
				if (cap && g->n >= cap) {
					g->count += cl->n - (source_here ? 1 : 0);
					continue;
				}
				for (size_t j = 0; j < cl->n; j++)
					if ((ssize_t)cl->nodes[j] != source)
						group_add(g, cl->nodes[j], cap);
			}
			for (size_t j = 0; cp && j < cp->n; j++) {
				if ((ssize_t)cp->bad[j].node == source)
					continue;
				if (cp->bad[j].cpu)
					group_add(group_of(x, e, GW_R_CPU_CAPACITY, 0), cp->bad[j].node, cap);
				if (cp->bad[j].mem)
					group_add(group_of(x, e, GW_R_MEMORY_CAPACITY, 0), cp->bad[j].node, cap);
			}
		}
		if (v->n)
			continue;
		/* Eligible: the class minus the source and the nodes without room;
		 * names only until the cap, the rest counted. */
		size_t bad = 0, excluded = 0;
		for (size_t j = 0; cp && j < cp->n; j++)
			if ((ssize_t)cp->bad[j].node != source)
				bad++;
		excluded = bad + (source_here ? 1 : 0);
		if (!lists || (cap && e->n_elig >= cap)) {
			e->eligible += cl->n - excluded;
			continue;
		}
		size_t bj = 0;
		for (size_t j = 0; j < cl->n; j++) {
			size_t i = cl->nodes[j];
			while (cp && bj < cp->n && cp->bad[bj].node < i)
				bj++;
			if ((ssize_t)i == source || (cp && bj < cp->n && cp->bad[bj].node == i))
				continue;
			if (cap && e->n_elig >= cap) {
				/* the rest of the class: counted, not listed */
				size_t rest = cl->n - j, rest_bad = 0;
				for (size_t b2 = bj; cp && b2 < cp->n; b2++)
					if ((ssize_t)cp->bad[b2].node != source)
						rest_bad++;
				bool src_rest = source_here && (size_t)source >= i;
				e->eligible += rest - rest_bad - (src_rest ? 1 : 0);
				break;
			}
			elig_add(e, i, cap);
		}
	}
}

/* Memory for the memos (~70 MB on a big cluster), in blocks that huge
 * pages may back: page faults are the memos' main cost otherwise. A
 * block stays until report_free; a thread's arena is its eval's. */
#define GW_ARENA_BLOCK ((size_t)4 << 20)
#define GW_ARENA_ALIGN ((size_t)2 << 20)

static void *arena_alloc(struct report *x, struct arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > a->left) {
		size_t size = n > GW_ARENA_BLOCK ? (n + GW_ARENA_ALIGN - 1) / GW_ARENA_ALIGN * GW_ARENA_ALIGN : GW_ARENA_BLOCK;
		void *block;
		if (posix_memalign(&block, GW_ARENA_ALIGN, size) != 0)
			block = gw_malloc(size);   /* aborts when out of memory */
		madvise(block, size, MADV_HUGEPAGE);   /* a hint: may fail */
		pthread_mutex_lock(&x->arena_mu);
		x->arena_blocks = gw_realloc(x->arena_blocks, (x->n_arena_blocks + 1) * sizeof(*x->arena_blocks));
		x->arena_blocks[x->n_arena_blocks++] = block;
		pthread_mutex_unlock(&x->arena_mu);
		a->p = block;
		a->left = size;
	}
	void *r = a->p;
	a->p += n;
	a->left -= n;
	return r;
}

static void put_group(struct report *x, struct gw_buf *b, struct group *g);
static void put_node_list(struct report *x, struct gw_buf *b, size_t *idx, size_t n);

/* The memo's texts (struct memo): each group as put_rejected writes a
 * VM's copy of it (copy_without: its first `cap` nodes), the eligible
 * list as put_node_list writes the first `cap`. */
static void memo_text(struct report *x, struct memo *m, struct eval *e)
{
	size_t cap = x->o.max_nodes_listed;
	size_t most = m->n_elig;
	for (size_t i = 0; i < m->ng; i++)
		most = m->g[i].n > most ? m->g[i].n : most;
	if (most > e->cap_elig) {
		e->cap_elig = most;
		e->elig = gw_realloc(e->elig, most * sizeof(*e->elig));
	}
	size_t *idx = e->elig;
	struct gw_buf *t = &e->text;
	t->len = 0;
	m->frag = arena_alloc(x, &e->arena, (m->ng + 1) * sizeof(*m->frag));
	for (size_t i = 0; i < m->ng; i++) {
		struct group g = m->g[i];
		g.n = cap && g.n > cap ? cap : g.n;
		memcpy(idx, m->g[i].idx, g.n * sizeof(*idx));
		g.idx = idx;
		m->frag[i] = t->len;
		put_group(x, t, &g);
	}
	m->frag[m->ng] = t->len;
	size_t n = cap && m->n_elig > cap ? cap : m->n_elig;
	if (n)
		memcpy(idx, m->elig, n * sizeof(*idx));
	put_node_list(x, t, idx, n);
	m->len = t->len;
	m->text = arena_alloc(x, &e->arena, t->len + 1);
	memcpy(m->text, t->data, t->len + 1);
}

static int cmp_group(const void *pa, const void *pb, void *data);

/* A signature's verdict over every class for one request (struct memo),
 * made in e. Its groups are sorted as the report lists them, so that a
 * VM's (report_eval: SourceNode, then the memo's) need no sorting. */
static struct memo *memo_make(struct report *x, size_t sig, int64_t cpu, int64_t mem, struct eval *e)
{
	size_t cap = x->o.max_nodes_listed;
	eval_classes(x, cpu, mem, sig, -1, true, cap ? cap + 1 : 0, e);
	if (e->ng > 1)
		qsort_r(e->g, e->ng, sizeof(*e->g), cmp_group, x);
	struct memo *m = arena_alloc(x, &e->arena, sizeof(*m));
	memset(m, 0, sizeof(*m));
	/* one block: the groups, their lists, the eligible list */
	size_t total = e->n_elig;
	for (size_t i = 0; i < e->ng; i++)
		total += e->g[i].n;
	m->ng = e->ng;
	m->g = arena_alloc(x, &e->arena, e->ng * sizeof(*m->g) + total * sizeof(size_t));
	size_t *idx = (size_t *)(m->g + e->ng);
	for (size_t i = 0; i < e->ng; i++) {
		m->g[i] = e->g[i];
		m->g[i].idx = idx;
		if (e->g[i].n)
			memcpy(idx, e->g[i].idx, e->g[i].n * sizeof(size_t));
		m->g[i].cap_idx = e->g[i].n;
		idx += e->g[i].n;
	}
	m->eligible = e->eligible;
	m->n_elig = e->n_elig;
	m->elig = idx;
	if (e->n_elig)          /* e->elig may be NULL then */
		memcpy(m->elig, e->elig, e->n_elig * sizeof(size_t));
	if (x->text)
		memo_text(x, m, e);
	return m;
}

/* e: the memo is made there, when it is new (its contents are lost). */
static struct memo *memo_get(struct report *x, size_t sig, int64_t cpu, int64_t mem, struct eval *e)
{
	if (x->frozen) {
		ssize_t f = triple_find(&x->memo_index, sig, cpu, mem);
		if (f < 0 || !x->memos[f])
			frozen_miss("memo");
		return x->memos[f];
	}
	ssize_t k = triple_intern(&x->memo_index, sig, cpu, mem, x->n_memos);
	if (k >= 0)
		return x->memos[k];
	struct memo *m = memo_make(x, sig, cpu, mem, e);
	x->memos = gw_realloc(x->memos, (x->n_memos + 1) * sizeof(*x->memos));
	x->memos[x->n_memos++] = m;
	return m;
}

/* idx without `drop`, at most cap entries (0: all), into g. */
static void copy_without(struct group *g, const size_t *idx, size_t n, ssize_t drop, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		if ((ssize_t)idx[i] == drop)
			continue;
		if (cap && g->n >= cap)
			break;
		if (g->n == g->cap_idx) {
			g->cap_idx = g->cap_idx ? g->cap_idx * 2 : 8;
			g->idx = gw_realloc(g->idx, g->cap_idx * sizeof(*g->idx));
		}
		g->idx[g->n++] = idx[i];
	}
}

/* One VM: the memo of its (signature, request), less its source node,
 * which is listed under SourceNode only. */
void report_eval(struct report *x, const struct gw_vmi *vmi, size_t sig, ssize_t source, bool lists,
		 struct eval *e)
{
	size_t cap = x->o.max_nodes_listed;
	int64_t cpu = vmi->spec.cpu_request_millis, mem = report_memory_request(&vmi->spec);
	const struct memo *m = memo_get(x, sig, cpu, mem, e);
	eval_reset(e);
	/* Which of the memo's groups hold the source, and is it eligible there. */
	const struct verdict *sv = NULL;
	bool src_cpu = false, src_mem = false;
	if (source >= 0) {
		size_t k = x->node_class[source];
		sv = verdict(x, sig, k);
		if (cpu > 0 || mem > 0) {
			const struct capacity *cp = &capacities(x, cpu, mem)[k];
			for (size_t j = 0; j < cp->n; j++)
				if ((ssize_t)cp->bad[j].node == source) {
					src_cpu = cp->bad[j].cpu;
					src_mem = cp->bad[j].mem;
				}
		}
	}
	bool src_eligible = sv && sv->n == 0 && !src_cpu && !src_mem;
	e->eligible = m->eligible - (src_eligible ? 1 : 0);
	e->memo = m;
	if (!lists)
		return;
	/* the memo's first `cap` without the source: its list as it is (and
	 * with its text, the VM's text copies that: no list to make) */
	e->elig_from_memo = true;
	for (size_t i = 0; i < m->n_elig && (!cap || i < cap); i++)
		if ((ssize_t)m->elig[i] == source)
			e->elig_from_memo = false;
	for (size_t i = 0; i < m->n_elig && (!cap || e->n_elig < cap) && !(e->elig_from_memo && m->text); i++)
		if ((ssize_t)m->elig[i] != source) {
			if (e->n_elig == e->cap_elig) {
				e->cap_elig = e->cap_elig ? e->cap_elig * 2 : 16;
				e->elig = gw_realloc(e->elig, e->cap_elig * sizeof(*e->elig));
			}
			e->elig[e->n_elig++] = m->elig[i];
		}
	if (source >= 0)
		group_add(group_of(x, e, GW_R_SOURCE_NODE, 0), (size_t)source, cap);
	for (size_t i = 0; i < m->ng; i++) {
		const struct group *mg = &m->g[i];
		bool has_src = false;
		if (mg->code == GW_R_CPU_CAPACITY)
			has_src = src_cpu;
		else if (mg->code == GW_R_MEMORY_CAPACITY)
			has_src = src_mem;
		else
			for (size_t r = 0; sv && r < sv->n && !has_src; r++)
				has_src = sv->code[r] == mg->code && sv->subject[r] == mg->subject;
		if (has_src && mg->count == 1)
			continue;   /* only the source: no group */
		struct group *g = group_of(x, e, mg->code, mg->subject);
		g->count = mg->count - (has_src ? 1 : 0);
		g->from = has_src ? 0 : i + 1;
		if (!g->from || !m->text)   /* else the text is the memo's */
			copy_without(g, mg->idx, mg->n, has_src ? source : -1, cap);
	}
	e->sorted = true;   /* SourceNode sorts first, the memo's groups are sorted */
}

/* ---- JSON of one VM ------------------------------------------------------------------ */

json_t *report_node_name(struct report *x, size_t i)
{
	if (!x->node_json[i])
		x->node_json[i] = json_string(x->c->nodes[i]->meta.name ? x->c->nodes[i]->meta.name : "");
	return x->node_json[i];
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static json_t *node_list(struct report *x, size_t *idx, size_t n)
{
	if (n > 1)
		qsort(idx, n, sizeof(*idx), cmp_size);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append(a, report_node_name(x, idx[i]));
	return a;
}

static int cmp_group(const void *pa, const void *pb, void *data)
{
	const struct report *x = data;
	const struct group *a = pa, *b = pb;
	if (a->code != b->code)
		return a->code < b->code ? -1 : 1;
	if (!a->subject || !b->subject)
		return !a->subject - !b->subject;
	return strcmp(subject_name(x, a->subject), subject_name(x, b->subject));
}

static json_t *rejected_json(struct report *x, struct eval *e)
{
	if (e->ng > 1)
		qsort_r(e->g, e->ng, sizeof(*e->g), cmp_group, x);
	json_t *a = json_array();
	for (size_t i = 0; i < e->ng; i++) {
		struct group *g = &e->g[i];
		json_t *o = json_object();
		json_object_set_new(o, "reason", json_string(gw_reason_name(g->code)));
		/* Node-named reasons: the node is the subject; with one node,
		 * name it (as gw_sched_node_check does), else null. */
		if (g->subject)
			json_object_set_new(o, "subject", json_string(subject_name(x, g->subject)));
		else if (reason_per_node(g->code) && g->count == 1 && g->n == 1)
			json_object_set(o, "subject", report_node_name(x, g->idx[0]));
		else
			json_object_set_new(o, "subject", json_null());
		json_object_set_new(o, "count", json_integer((json_int_t)g->count));
		json_object_set_new(o, "nodes", node_list(x, g->idx, g->n));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *settings_json(const struct report *x, const struct gw_vmi *vmi)
{
	struct gw_migration_settings s;
	gw_sched_settings(x->c, vmi, x->rules, &s);
	bool disruption = s.config.allow_workload_disruption < 0 ? s.config.allow_post_copy
								  : s.config.allow_workload_disruption != 0;
	return json_pack("{s:o, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I}", "policy",
			 s.policy ? json_string(s.policy) : json_null(), "allowPostCopy", s.config.allow_post_copy,
			 "allowAutoConverge", s.config.allow_auto_converge, "allowWorkloadDisruption", disruption,
			 "bandwidthPerMigration", (json_int_t)s.config.bandwidth_bytes, "completionTimeoutPerGiB",
			 (json_int_t)s.config.completion_timeout_per_gib, "progressTimeout",
			 (json_int_t)s.config.progress_timeout_s, "sizeBytes", (json_int_t)s.size_bytes,
			 "completionDeadlineSeconds", (json_int_t)s.completion_deadline_s);
}

static const char *model_source_name(enum gw_model_source s)
{
	switch (s) {
	case GW_MODEL_FROM_VM: return "vm";
	case GW_MODEL_FROM_CLUSTER: return "cluster";
	case GW_MODEL_DEFAULT: break;
	}
	return "default";
}

char *report_vm_name(const struct gw_vmi *vmi)
{
	return gw_asprintf("%s/%s", vmi->meta.namespace ? vmi->meta.namespace : "", vmi->meta.name);
}

/* What both writers of a VM say first: its CPU model in effect and every
 * reason it cannot migrate (blockers: the caller finishes them). */
static const char *vm_facts(const struct report *x, const struct gw_vmi *vmi, enum gw_model_source *src,
			    struct gw_reasons *blockers, bool *migratable)
{
	const char *model = gw_sched_cpu_model(x->c, &vmi->spec, src);
	gw_reasons_init(blockers);
	gw_sched_migratable(x->c, vmi, x->rules, blockers);
	*migratable = blockers->n == 0;
	return model;
}

static json_t *vm_json(struct report *x, size_t v, struct eval *e, bool *migratable)
{
	const struct gw_vmi *vmi = x->c->vmis[v];
	const struct vm_rec *rec = &x->vms[v];
	enum gw_model_source src;
	struct gw_reasons blockers;
	const char *model = vm_facts(x, vmi, &src, &blockers, migratable);
	json_t *o = json_object();
	json_object_set_new(o, "namespace", json_string(vmi->meta.namespace ? vmi->meta.namespace : ""));
	json_object_set_new(o, "name", json_string(vmi->meta.name));
	json_object_set_new(o, "node", vmi->node_name ? json_string(vmi->node_name) : json_null());
	json_object_set_new(o, "phase", vmi->phase ? json_string(vmi->phase) : json_null());
	json_object_set_new(o, "cpuModel", json_string(model));
	json_object_set_new(o, "cpuModelSource", json_string(model_source_name(src)));
	json_object_set_new(o, "migratable", json_boolean(*migratable));
	json_t *bl = json_array();
	for (size_t i = 0; i < blockers.n; i++)
		json_array_append_new(bl, json_pack("{s:s, s:o, s:s}", "reason", gw_reason_name(blockers.v[i].code),
						    "subject", blockers.v[i].subject ? json_string(blockers.v[i].subject)
										     : json_null(),
						    "message", blockers.v[i].message ? blockers.v[i].message : ""));
	json_object_set_new(o, "blockers", bl);
	gw_reasons_fini(&blockers);
	json_object_set_new(o, "migrationMethod", json_string(gw_sched_migration_method(x->c, vmi)));
	if (rec->sig >= 0) {
		struct sig *s = &x->sigs[rec->sig];
		if (!s->selector_json)
			s->selector_json = gw_map_to_json(&s->selector);
		if (!s->affinity_json)
			s->affinity_json = gw_node_affinity_to_json(&s->affinity);
		json_object_set(o, "targetSelector", s->selector_json);
		json_object_set(o, "targetAffinity", s->affinity_json);
	} else {
		json_object_set_new(o, "targetSelector", json_null());
		json_object_set_new(o, "targetAffinity", json_null());
		json_object_set_new(o, "selectorError", json_string(rec->selector_error ? rec->selector_error : ""));
	}
	json_object_set_new(o, "selectorSource",
			    json_string(gw_selector_source_name(gw_sched_selector_source(x->c, vmi))));
	json_t *et = json_object();
	json_object_set_new(et, "count", json_integer((json_int_t)e->eligible));
	json_object_set_new(et, "nodes", node_list(x, e->elig, e->n_elig));
	json_object_set_new(o, "eligibleTargets", et);
	json_object_set_new(o, "rejected", rejected_json(x, e));
	json_object_set_new(o, "settings", settings_json(x, vmi));
	return o;
}

/* ---- the same object as text ------------------------------------------------------- */

/* vm_json written straight into b as compact JSON (gw_json_write_compact
 * of vm_json's object, byte for byte), without the jansson values: on big
 * clusters building and walking them was a third of the report's time.
 * Keep the two in step (tests/unit/test_sched_report.c compares them). */
static void put_str(struct gw_buf *b, const char *s)
{
	gw_json_write_string(b, s, strlen(s));
}

/* b += s[0..n): the text writers' one primitive, inline (a VM's text
 * is some 200 pieces). */
static inline void put_raw(struct gw_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		gw_buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* A literal: keys with their quotes, colon and comma, brackets. */
#define put_lit(b, s) put_raw(b, s, sizeof(s) - 1)

static void piece_add(struct pieces *p, const char *s, size_t off, size_t len)
{
	if (!len)
		return;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1024;
		p->v = gw_realloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++] = (struct piece){s, off, len};
}

/* b's text since the last piece, as a piece. */
static void pieces_flush(struct pieces *p, const struct gw_buf *b)
{
	piece_add(p, NULL, p->mark, b->len - p->mark);
	p->mark = b->len;
}

/* A text the report keeps until its end (a memo's, a signature's):
 * with e->pieces, a piece of its own rather than a copy (the texts of
 * 100,000 VMs are ~1.2 GB, mostly these). */
static void put_shared(struct gw_buf *b, struct eval *e, const char *s, size_t len)
{
	if (!e->pieces || len < 128) {
		put_raw(b, s, len);
		return;
	}
	pieces_flush(e->pieces, b);
	piece_add(e->pieces, s, 0, len);
}

/* A string or null (json_string(NULL) would leave the key out). */
static void put_str_or_null(struct gw_buf *b, const char *s)
{
	if (s)
		put_str(b, s);
	else
		put_lit(b, "null");
}

/* As "%" JSON_INTEGER_FORMAT writes it. */
static void put_int(struct gw_buf *b, json_int_t v)
{
	char num[24], *p = num + sizeof(num);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	put_raw(b, p, (size_t)(num + sizeof(num) - p));
}

static void put_bool(struct gw_buf *b, bool v)
{
	put_raw(b, v ? "true" : "false", v ? 4 : 5);
}

/* Node i's name as a JSON string, quoted and escaped once per report:
 * every VM lists up to max_nodes_listed names in each of its lists. */
static void node_text_fill(struct report *x, size_t i)
{
	if (x->node_text[i].s)
		return;
	const char *name = x->c->nodes[i]->meta.name ? x->c->nodes[i]->meta.name : "";
	struct gw_buf t;
	gw_buf_init(&t);
	gw_json_write_string(&t, name, strlen(name));
	x->node_text[i].len = t.len;
	x->node_text[i].s = gw_buf_steal(&t);
}

static void put_node_name(struct report *x, struct gw_buf *b, size_t i)
{
	if (!x->frozen)
		node_text_fill(x, i);
	put_raw(b, x->node_text[i].s, x->node_text[i].len);
}

/* Ascending; the lists are short (capped) and often sorted already. */
static void sort_small(size_t *idx, size_t n)
{
	if (n > 64) {
		qsort(idx, n, sizeof(*idx), cmp_size);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		size_t v = idx[i], j = i;
		for (; j > 0 && idx[j - 1] > v; j--)
			idx[j] = idx[j - 1];
		idx[j] = v;
	}
}

static void put_node_list(struct report *x, struct gw_buf *b, size_t *idx, size_t n)
{
	sort_small(idx, n);
	put_lit(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put_lit(b, ",");
		put_node_name(x, b, idx[i]);
	}
	put_lit(b, "]");
}

static void put_rejected(struct report *x, struct gw_buf *b, struct eval *e)
{
	if (e->ng > 1 && !e->sorted)
		qsort_r(e->g, e->ng, sizeof(*e->g), cmp_group, x);
	const struct memo *m = e->memo;
	put_lit(b, "[");
	for (size_t i = 0; i < e->ng; i++) {
		struct group *g = &e->g[i];
		if (i)
			put_lit(b, ",");
		if (g->from && m && m->text)
			put_shared(b, e, m->text + m->frag[g->from - 1], m->frag[g->from] - m->frag[g->from - 1]);
		else
			put_group(x, b, g);
	}
	put_lit(b, "]");
}

static void put_group(struct report *x, struct gw_buf *b, struct group *g)
{
	put_lit(b, "{\"reason\":");
	put_str(b, gw_reason_name(g->code));
	put_lit(b, ",\"subject\":");
	if (g->subject)
		put_str(b, subject_name(x, g->subject));
	else if (reason_per_node(g->code) && g->count == 1 && g->n == 1)
		put_node_name(x, b, g->idx[0]);
	else
		put_lit(b, "null");
	put_lit(b, ",\"count\":");
	put_int(b, (json_int_t)g->count);
	put_lit(b, ",\"nodes\":");
	put_node_list(x, b, g->idx, g->n);
	put_lit(b, "}");
}

/* gw_sched_settings's, the winning policy from e's memo. */
static void put_settings(const struct report *x, struct gw_buf *b, const struct gw_vmi *vmi, struct eval *e,
			 const char *method)
{
	if (!e->policies) {
		e->policies = gw_malloc(sizeof(*e->policies));
		sched_policy_memo_init(e->policies, x->c, x->rules);
	}
	struct gw_migration_settings s;
	sched_settings_of(x->c, vmi, x->rules, sched_policy_memo_get(e->policies, vmi), method, &s);
	bool disruption = s.config.allow_workload_disruption < 0 ? s.config.allow_post_copy
								  : s.config.allow_workload_disruption != 0;
	put_lit(b, "{\"policy\":");
	put_str_or_null(b, s.policy);
	put_lit(b, ",\"allowPostCopy\":");
	put_bool(b, s.config.allow_post_copy);
	put_lit(b, ",\"allowAutoConverge\":");
	put_bool(b, s.config.allow_auto_converge);
	put_lit(b, ",\"allowWorkloadDisruption\":");
	put_bool(b, disruption);
	put_lit(b, ",\"bandwidthPerMigration\":");
	put_int(b, (json_int_t)s.config.bandwidth_bytes);
	put_lit(b, ",\"completionTimeoutPerGiB\":");
	put_int(b, (json_int_t)s.config.completion_timeout_per_gib);
	put_lit(b, ",\"progressTimeout\":");
	put_int(b, (json_int_t)s.config.progress_timeout_s);
	put_lit(b, ",\"sizeBytes\":");
	put_int(b, (json_int_t)s.size_bytes);
	put_lit(b, ",\"completionDeadlineSeconds\":");
	put_int(b, (json_int_t)s.completion_deadline_s);
	put_lit(b, "}");
}

/* A signature's selector and affinity as text, made on first use. */
static void sig_text_fill(struct sig *s)
{
	if (s->selector_text)
		return;
	json_t *sel = gw_map_to_json(&s->selector), *aff = gw_node_affinity_to_json(&s->affinity);
	struct gw_buf t;
	gw_buf_init(&t);
	gw_json_write_compact(&t, sel);
	s->selector_len = t.len;
	gw_json_write_compact(&t, aff);
	s->affinity_len = t.len - s->selector_len;
	s->selector_text = gw_buf_steal(&t);
	json_decref(sel);
	json_decref(aff);
}

static void put_sig(const struct report *x, struct gw_buf *b, struct sig *s, struct eval *e)
{
	if (!x->frozen)
		sig_text_fill(s);
	put_lit(b, ",\"targetSelector\":");
	put_shared(b, e, s->selector_text, s->selector_len);
	put_lit(b, ",\"targetAffinity\":");
	put_shared(b, e, s->selector_text + s->selector_len, s->affinity_len);
}

static void vm_text(struct report *x, size_t v, struct eval *e, bool *migratable, struct gw_buf *b)
{
	const struct gw_vmi *vmi = x->c->vmis[v];
	const struct vm_rec *rec = &x->vms[v];
	enum gw_model_source src;
	struct gw_reasons blockers;
	const char *model = vm_facts(x, vmi, &src, &blockers, migratable);
	put_lit(b, "{\"namespace\":");
	put_str(b, vmi->meta.namespace ? vmi->meta.namespace : "");
	if (vmi->meta.name) {
		put_lit(b, ",\"name\":");
		put_str(b, vmi->meta.name);
	}
	put_lit(b, ",\"node\":");
	put_str_or_null(b, vmi->node_name);
	put_lit(b, ",\"phase\":");
	put_str_or_null(b, vmi->phase);
	put_lit(b, ",\"cpuModel\":");
	put_str(b, model);
	put_lit(b, ",\"cpuModelSource\":");
	put_str(b, model_source_name(src));
	put_lit(b, ",\"migratable\":");
	put_bool(b, *migratable);
	put_lit(b, ",\"blockers\":[");
	for (size_t i = 0; i < blockers.n; i++) {
		if (i)
			put_lit(b, ",");
		put_lit(b, "{\"reason\":");
		put_str(b, gw_reason_name(blockers.v[i].code));
		put_lit(b, ",\"subject\":");
		put_str_or_null(b, blockers.v[i].subject);
		put_lit(b, ",\"message\":");
		put_str(b, blockers.v[i].message ? blockers.v[i].message : "");
		put_lit(b, "}");
	}
	put_lit(b, "]");
	gw_reasons_fini(&blockers);
	const char *method = gw_sched_migration_method(x->c, vmi);
	put_lit(b, ",\"migrationMethod\":");
	put_str(b, method);
	if (rec->sig >= 0) {
		put_sig(x, b, &x->sigs[rec->sig], e);
	} else {
		put_lit(b, ",\"targetSelector\":null,\"targetAffinity\":null,\"selectorError\":");
		put_str(b, rec->selector_error ? rec->selector_error : "");
	}
	put_lit(b, ",\"selectorSource\":");
	put_str(b, gw_selector_source_name(gw_sched_selector_source(x->c, vmi)));
	put_lit(b, ",\"eligibleTargets\":{\"count\":");
	put_int(b, (json_int_t)e->eligible);
	put_lit(b, ",\"nodes\":");
	const struct memo *m = e->memo;
	if (rec->sig >= 0 && e->elig_from_memo && m && m->text)
		put_shared(b, e, m->text + m->frag[m->ng], m->len - m->frag[m->ng]);
	else
		put_node_list(x, b, e->elig, e->n_elig);
	put_lit(b, "},\"rejected\":");
	put_rejected(x, b, e);
	put_lit(b, ",\"settings\":");
	put_settings(x, b, vmi, e, method);
	put_lit(b, "}");
}

/* ---- the whole report ----------------------------------------------------------------- */

static void index_inputs(struct report *x)
{
	const struct gw_cluster *c = x->c;
	x->node_index = json_object();
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i]->meta.name)
			json_object_set_new(x->node_index, c->nodes[i]->meta.name, json_integer((json_int_t)i));
	x->vmim_index = json_object();
	for (size_t i = 0; i < c->n_vmims; i++) {
		const struct gw_vmim *m = c->vmims[i];
		if (m->phase && (strcmp(m->phase, "Succeeded") == 0 || strcmp(m->phase, "Failed") == 0))
			continue;
		const char *target = m->vmi_name ? m->vmi_name : gw_map_get(&m->meta.labels, "kubevirt.io/vmi-name");
		if (!target)
			continue;
		char *key = gw_asprintf("%s/%s", m->meta.namespace ? m->meta.namespace : "", target);
		/* the first pending migration of a VMI, as KubeVirt allows one */
		if (!json_object_get(x->vmim_index, key))
			json_object_set_new(x->vmim_index, key, json_integer((json_int_t)i));
		free(key);
	}
	x->node_json = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*x->node_json));
	x->node_text = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*x->node_text));
}

static bool no_own_model(const struct gw_vmi *vmi)
{
	return !(vmi->spec.cpu_model && vmi->spec.cpu_model[0]);
}

#define GW_CHECK_CHUNK 512                 /* VMs per chunk */
#define GW_CHECK_MAX_THREADS 8

static unsigned writer_threads(const struct report *x)
{
	size_t chunk = x->o.text_chunk ? x->o.text_chunk : GW_CHECK_CHUNK;
	long n = x->o.threads ? (long)x->o.threads : sysconf(_SC_NPROCESSORS_ONLN);
	n = n < 1 ? 1 : n > GW_CHECK_MAX_THREADS ? GW_CHECK_MAX_THREADS : n;
	/* one chunk or less: one thread */
	return x->c->n_vmis > chunk ? (unsigned)n : 1;
}

/* A thread's buffers, kept from one item of a parallel_for to the next. */
struct scratch {
	struct vbuf v;
	struct eval e;
};

static void eval_fini(struct eval *e);

/* fn(x, i, arg, its thread's scratch) for i < n, by `threads` threads
 * (the caller one of them). */
struct par {
	struct report *x;
	void (*fn)(struct report *x, size_t i, void *arg, struct scratch *sc);
	void *arg;
	size_t n;
	size_t next;                       /* atomic */
};

static void *par_run(void *arg)
{
	struct par *p = arg;
	struct scratch sc;
	memset(&sc, 0, sizeof(sc));
	for (;;) {
		size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
		if (i >= p->n)
			break;
		p->fn(p->x, i, p->arg, &sc);
	}
	vbuf_fini(&sc.v);
	eval_fini(&sc.e);
	return NULL;
}

static void par_start(struct par *p, unsigned threads)
{
	pthread_t tids[GW_CHECK_MAX_THREADS];
	unsigned started = 0;
	for (; started + 1 < threads && started < GW_CHECK_MAX_THREADS; started++)
		if (pthread_create(&tids[started], NULL, par_run, p) != 0)
			break;
	par_run(p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
}

static void parallel_for(struct report *x, unsigned threads, size_t n,
			 void (*fn)(struct report *x, size_t i, void *arg, struct scratch *sc), void *arg)
{
	struct par p = {x, fn, arg, n, 0};
	par_start(&p, threads);
}


/* Pass 1: every VM's placement signature (and those it would have under
 * the recommended model and under the cpuModel before --set-cpu-model),
 * so that the node classes know every label a selector names. */
static void signatures(struct report *x)
{
	const struct gw_cluster *c = x->c;
	struct gw_cluster rec_c, prev_c;
	struct gw_kubevirt rec_k, prev_k;
	if (x->recommended)
		cluster_with_model(c, x->recommended, &rec_c, &rec_k);
	if (x->o.whatif_set_cpu_model)
		cluster_with_model(c, x->o.previous_cpu_model, &prev_c, &prev_k);
	struct sig_memo sm;
	memset(&sm, 0, sizeof(sm));
	sm.x = x;
	gw_buf_init(&sm.key);
	gw_buf_init(&sm.scratch);
	x->vms = gw_calloc(c->n_vmis ? c->n_vmis : 1, sizeof(*x->vms));
	/* A VM's source node found once, by name, and its index by address:
	 * the same as report_node_index's when node names are unique. */
	struct triple_index at;
	memset(&at, 0, sizeof(at));
	for (at.cap = 256; at.cap < 2 * c->n_nodes + 2; at.cap *= 2)
		;
	at.slots = gw_calloc(at.cap, sizeof(*at.slots));   /* never grown */
	size_t named = 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		triple_intern(&at, (size_t)(uintptr_t)c->nodes[i], 0, 0, i);
		named += c->nodes[i]->meta.name != NULL;
	}
	bool unique = json_object_size(x->node_index) == named;
	sm.node_parts = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*sm.node_parts));
	for (size_t v = 0; v < c->n_vmis; v++) {
		const struct gw_vmi *vmi = c->vmis[v];
		struct vm_rec *r = &x->vms[v];
		const struct gw_vmim *vmim = pending_vmim(x, vmi);
		/* the clusters share their nodes */
		const struct gw_node *source = sched_find_node(c, vmi->node_name);
		ssize_t i = source ? triple_find(&at, (size_t)(uintptr_t)source, 0, 0) : -1;
		r->sig = vmi_signature(&sm, c, vmi, vmim, source, i, &r->selector_error);
		r->source = unique ? i : report_node_index(x, vmi->node_name);
		r->alt_rec = r->alt_prev = -1;
		if (!no_own_model(vmi))
			continue;
		if (x->recommended && strcmp(gw_sched_cpu_model(c, &vmi->spec, NULL), "host-model") == 0)
			r->alt_rec = vmi_signature(&sm, &rec_c, vmi, vmim, source, i, NULL);
		if (x->o.whatif_set_cpu_model)
			r->alt_prev = vmi_signature(&sm, &prev_c, vmi, vmim, source, i, NULL);
	}
	free(at.slots);
	sig_memo_fini(&sm);
}

static void report_free(struct report *x)
{
	for (size_t s = 0; s < x->n_sigs; s++) {
		struct sig *sg = &x->sigs[s];
		gw_map_fini(&sg->selector);
		gw_node_affinity_fini(&sg->affinity);
		json_decref(sg->selector_json);
		json_decref(sg->affinity_json);
		free(sg->selector_text);
		for (size_t k = 0; sg->verdicts && !sg->verdict_mem && k < x->n_classes; k++)
			free(sg->verdicts[k]);
		free(sg->verdict_mem);
		free(sg->verdicts);
		free(sg->sel_ids);
	}
	free(x->sigs);
	for (size_t k = 0; k < x->n_classes; k++)
		free(x->classes[k].nodes);
	free(x->classes);
	free(x->node_class);
	for (size_t i = 0; i < x->n_caps; i++)
		free(x->caps[i]);
	free(x->caps);
	for (size_t v = 0; x->vms && v < x->c->n_vmis; v++)
		free(x->vms[v].selector_error);
	free(x->vms);
	for (size_t i = 0; x->node_json && i < x->c->n_nodes; i++)
		json_decref(x->node_json[i]);
	free(x->node_json);
	for (size_t i = 0; x->node_text && i < x->c->n_nodes; i++)
		free(x->node_text[i].s);
	free(x->node_text);
	free(x->used_cpu);
	free(x->used_mem);
	json_decref(x->sig_index);
	json_decref(x->referenced);
	free(x->class_labels);
	free(x->class_vals);
	json_decref(x->value_ids);
	free(x->key_subject);
	free(x->cap_index.slots);
	json_decref(x->subject_index);
	free(x->memo_index.slots);
	free(x->memos);   /* the memos are in the arena's blocks */
	for (size_t i = 0; i < x->n_arena_blocks; i++)
		free(x->arena_blocks[i]);
	free(x->arena_blocks);
	pthread_mutex_destroy(&x->arena_mu);
	gw_strv_fini(&x->subjects);
	json_decref(x->node_index);
	json_decref(x->vmim_index);
	free(x->recommended);
}

static size_t eligible_under(struct report *x, const struct gw_vmi *vmi, ssize_t sig, ssize_t source,
			     struct eval *scratch)
{
	if (sig < 0)
		return 0;
	report_eval(x, vmi, (size_t)sig, source, false, scratch);
	return scratch->eligible;
}

static void eval_fini(struct eval *e)
{
	for (size_t i = 0; i < e->capg; i++)
		free(e->g[i].idx);
	free(e->g);
	free(e->elig);
	free(e->slot);
	free(e->stamp);
	gw_buf_fini(&e->text);
	if (e->policies) {
		sched_policy_memo_fini(e->policies);
		free(e->policies);
	}
}

/* The cluster's lists, filled VM by VM in VM order. */
struct tally {
	json_t *without, *frees, *restart, *freed, *stranded_by;
	json_t **strands;                  /* per node, NULL when none */
};

/* VM v against every class, into e. */
static void vm_eval(struct report *x, size_t v, struct eval *e)
{
	const struct vm_rec *r = &x->vms[v];
	if (r->sig >= 0)
		report_eval(x, x->c->vmis[v], (size_t)r->sig, r->source, true, e);
	else {
		e->eligible = e->n_elig = e->ng = 0;
		e->memo = NULL;
	}
}

/* VM v in the cluster's lists (VMs without target, drain strands, those
 * the recommended model frees, the what-if's). */
/* The VM's name, made on first use into *name (the caller frees it). */
static json_t *name_json(const struct gw_vmi *vmi, char **name)
{
	if (!*name)
		*name = report_vm_name(vmi);
	return json_string(*name);
}

static void vm_tally(struct report *x, size_t v, bool migratable, size_t eligible, struct tally *t,
		     struct eval *scratch)
{
	const struct gw_cluster *c = x->c;
	const struct gw_vmi *vmi = c->vmis[v];
	const struct vm_rec *r = &x->vms[v];
	char *name = NULL;   /* made when a list takes the VM: most take none */
	if (migratable && eligible == 0)
		json_array_append_new(t->without, name_json(vmi, &name));
	if ((!migratable || eligible == 0) && r->source >= 0) {
		if (!t->strands[r->source])
			t->strands[r->source] = json_array();
		json_array_append_new(t->strands[r->source], name_json(vmi, &name));
	}
	if (eligible == 0 && r->alt_rec >= 0 && eligible_under(x, vmi, r->alt_rec, r->source, scratch) > 0)
		json_array_append_new(t->frees, name_json(vmi, &name));
	if (x->o.whatif_set_cpu_model && no_own_model(vmi)) {
		const char *before = x->o.previous_cpu_model ? x->o.previous_cpu_model : "host-model";
		if (strcmp(before, gw_sched_cpu_model(c, &vmi->spec, NULL)) != 0)
			json_array_append_new(t->restart, name_json(vmi, &name));
		size_t was = eligible_under(x, vmi, r->alt_prev, r->source, scratch);
		if (was == 0 && eligible > 0)
			json_array_append_new(t->freed, name_json(vmi, &name));
		else if (was > 0 && eligible == 0)
			json_array_append_new(t->stranded_by, name_json(vmi, &name));
	}
	free(name);
}

/* ---- the VMs' text in threads ------------------------------------------------------------ */

/* With -o json the report's per-VM part is the VMs' text: it is written
 * by worker threads, a chunk of consecutive VMs each, into a ring of
 * slots; the calling thread emits the chunks in VM order (and fills the
 * cluster's lists), so the output is the single thread's, byte for byte,
 * and at most GW_CHECK_SLOTS chunks of text are held at once.
 *
 * Data races: everything the workers read of the report is computed
 * before they start (precompute: every memo, verdict and capacity a VM's
 * report_eval or eligible_under looks up, the escaped node names and
 * signature texts) and x->frozen turns the lazy fills into lookups that
 * write nothing (triple_find, not triple_intern, which may grow the
 * index). The cluster is only read (gw_sched_* compute from it, the
 * cluster's hash index is built at load). Each worker writes only its
 * own eval and the slot it took; a slot passes between a worker and the
 * calling thread under the pool's mutex (state and chunk index), which
 * orders the text's writes before its reads. The jansson lists and
 * emit_text are the calling thread's alone. */
struct slot {
	size_t chunk;                      /* the chunk held when ready */
	bool ready;
	struct gw_buf text;                /* the chunk's VMs, one after another */
	struct pieces pieces;              /* o.text_iov: the chunk's text is these */
	size_t *end;                       /* VM i of the chunk ends at end[i] */
	bool *migratable;
	size_t *eligible;
};

struct pool {
	struct report *x;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t chunk, n_chunks;            /* VMs per chunk, chunks */
	size_t next;                       /* the next chunk to take */
	size_t emitted;                    /* chunks emitted */
	struct slot *slots;
	size_t n_slots;
};

/* With o.timings: the wall time since the previous mark (or since the
 * report began), to stderr, named. */
void gw_check_timing(struct timespec *last, const char *phase)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (last->tv_sec || last->tv_nsec)
		fprintf(stderr, "godwit: timing: %-14s %8.3f s\n", phase,
			(double)(now.tv_sec - last->tv_sec) + (double)(now.tv_nsec - last->tv_nsec) / 1e9);
	*last = now;
}

static void mark(struct report *x, const char *phase)
{
	if (x->o.timings)
		gw_check_timing(&x->mark, phase);
}

/* Signature sigs[i] against every class. */
static void verdicts_of(struct report *x, size_t i, void *arg, struct scratch *sc)
{
	const size_t *sigs = arg;
	struct sig *s = &x->sigs[sigs[i]];
	if (!s->verdicts && x->n_classes) {
		verdict_row(x, s, &sc->v);
		return;
	}
	for (size_t k = 0; k < x->n_classes; k++)
		verdict(x, sigs[i], k);
}

/* Memo keys[i].value, its key in keys[i]. */
static void memo_of(struct report *x, size_t i, void *arg, struct scratch *sc)
{
	const struct triple_slot *keys = arg;
	x->memos[keys[i].value] = memo_make(x, keys[i].a, keys[i].b, keys[i].c, &sc->e);
}

/* Every subject a verdict can name interned (the selectors' keys by
 * label_ids, the classes' taints, the signatures' affinity requirements),
 * then subject_id only looks up: the verdicts' threads need no lock. */
static void subjects_freeze(struct report *x, const size_t *sigs, size_t n_sigs)
{
	if (!x->class_vals)
		label_ids(x);
	for (size_t k = 0; k < x->n_classes; k++) {
		const struct gw_node *n = x->c->nodes[x->classes[k].nodes[0]];
		for (size_t t = 0; t < n->n_taints; t++)
			subject_id(x, n->taints[t].key);
	}
	for (size_t i = 0; i < n_sigs; i++) {
		const struct gw_node_affinity *a = &x->sigs[sigs[i]].affinity;
		for (size_t t = 0; t < a->n; t++)
			for (size_t r = 0; r < a->terms[t].n; r++) {
				char *req = sched_requirement_string(&a->terms[t].reqs[r]);
				subject_id(x, req);
				free(req);
			}
	}
	x->subjects_frozen = true;
}

/* Every lookup the VMs' text and the cluster's lists make, done once so
 * that the workers find them all (see above), itself in threads:
 *  1. the memos' keys (signature, CPU, memory) of every VM's signatures
 *     (own, under the recommended model, before --set-cpu-model), each
 *     numbered once (triple_intern, here only);
 *  2. each such signature's verdicts for every class (a memo walks
 *     every class), a thread per signature: verdict_row writes only its
 *     own signature's arrays, and subject_id only looks up (every
 *     subject is interned before, subjects_freeze);
 *  3. the capacities of every class for every request, here;
 *  4. frozen, the memos, a thread per memo into its own slot, reading
 *     the verdicts and capacities of 2 and 3;
 *  5. the escaped node names and signature texts, here. */
static void precompute(struct report *x, unsigned threads)
{
	const struct gw_cluster *c = x->c;
	struct triple_slot *keys = NULL;   /* the new memos: key, index */
	size_t n_keys = 0, *sigs = NULL, n_sigs = 0;
	bool *sig_used = gw_calloc(x->n_sigs ? x->n_sigs : 1, sizeof(*sig_used));
	struct triple_index requests = {0};
	size_t n_requests = 0;
	for (size_t v = 0; v < c->n_vmis; v++) {
		const struct vm_rec *r = &x->vms[v];
		const struct gw_vmi *vmi = c->vmis[v];
		int64_t cpu = vmi->spec.cpu_request_millis, mem = report_memory_request(&vmi->spec);
		const ssize_t own[] = {r->sig, r->alt_rec, r->alt_prev};
		for (size_t i = 0; i < GW_ARRAY_SIZE(own); i++) {
			if (own[i] < 0)
				continue;
			size_t sig = (size_t)own[i];
			if (!sig_used[sig]) {
				sig_used[sig] = true;
				sigs = gw_realloc(sigs, (n_sigs + 1) * sizeof(*sigs));
				sigs[n_sigs++] = sig;
			}
			if (triple_intern(&x->memo_index, sig, cpu, mem, x->n_memos + n_keys) < 0) {
				keys = gw_realloc(keys, (n_keys + 1) * sizeof(*keys));
				keys[n_keys] = (struct triple_slot){.a = sig, .b = cpu, .c = mem, .value = x->n_memos + n_keys};
				n_keys++;
			}
			if ((cpu > 0 || mem > 0) && triple_intern(&requests, 0, cpu, mem, n_requests) < 0) {
				capacities(x, cpu, mem);
				n_requests++;
			}
		}
		if (r->sig >= 0)
			sig_text_fill(&x->sigs[r->sig]);
	}
	subjects_freeze(x, sigs, n_sigs);
	mark(x, "memo-keys");
	parallel_for(x, threads, n_sigs, verdicts_of, sigs);
	mark(x, "verdicts");
	for (size_t i = 0; i < c->n_nodes; i++)
		node_text_fill(x, i);
	x->frozen = true;
	/* memos made before (none today) keep their place */
	x->memos = gw_realloc(x->memos, (x->n_memos + n_keys + 1) * sizeof(*x->memos));
	x->n_memos += n_keys;
	parallel_for(x, threads, n_keys, memo_of, keys);
	mark(x, "memos");
	free(keys);
	free(sigs);
	free(sig_used);
	free(requests.slots);
}

/* Chunk k's VMs into sl. */
static void write_chunk(const struct pool *p, size_t k, struct slot *sl, struct eval *e)
{
	size_t first = k * p->chunk, last = first + p->chunk;
	if (last > p->x->c->n_vmis)
		last = p->x->c->n_vmis;
	const char *join = p->x->o.text_join;
	size_t join_len = join ? strlen(join) : 0;
	sl->text.len = 0;
	sl->pieces.n = sl->pieces.mark = 0;
	e->pieces = p->x->o.text_iov && join ? &sl->pieces : NULL;
	for (size_t v = first; v < last; v++) {
		if (join && v > first)
			gw_buf_add(&sl->text, join, join_len);
		vm_eval(p->x, v, e);
		vm_text(p->x, v, e, &sl->migratable[v - first], &sl->text);
		sl->eligible[v - first] = e->eligible;
		sl->end[v - first] = sl->text.len;
	}
	if (e->pieces)
		pieces_flush(e->pieces, &sl->text);
	e->pieces = NULL;
}

static void *writer(void *arg)
{
	struct pool *p = arg;
	struct eval e;
	memset(&e, 0, sizeof(e));
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->next < p->n_chunks && p->next >= p->emitted + p->n_slots)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->next >= p->n_chunks)
			break;
		size_t k = p->next++;
		struct slot *sl = &p->slots[k % p->n_slots];
		pthread_mutex_unlock(&p->mu);
		write_chunk(p, k, sl, &e);
		pthread_mutex_lock(&p->mu);
		sl->chunk = k;
		sl->ready = true;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	eval_fini(&e);
	return NULL;
}

static void write_parallel(struct report *x, unsigned workers, struct tally *t,
			   void (*emit_text)(const char *vm, size_t len, void *ctx), void *ctx)
{
	precompute(x, workers);
	struct pool p;
	memset(&p, 0, sizeof(p));
	p.x = x;
	p.chunk = x->o.text_chunk ? x->o.text_chunk : GW_CHECK_CHUNK;
	p.n_chunks = (x->c->n_vmis + p.chunk - 1) / p.chunk;
	p.n_slots = 2 * (size_t)workers;
	p.slots = gw_calloc(p.n_slots, sizeof(*p.slots));
	for (size_t i = 0; i < p.n_slots; i++) {
		gw_buf_init(&p.slots[i].text);
		p.slots[i].end = gw_calloc(p.chunk, sizeof(size_t));
		p.slots[i].migratable = gw_calloc(p.chunk, sizeof(bool));
		p.slots[i].eligible = gw_calloc(p.chunk, sizeof(size_t));
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	pthread_t *tids = gw_calloc(workers, sizeof(*tids));
	unsigned started = 0;
	for (; started < workers; started++)
		if (pthread_create(&tids[started], NULL, writer, &p) != 0)
			break;
	struct iovec *iov = NULL;
	size_t n_iov = 0;
	struct eval scratch, own;
	memset(&scratch, 0, sizeof(scratch));
	memset(&own, 0, sizeof(own));
	for (size_t k = 0; k < p.n_chunks; k++) {
		struct slot *sl = &p.slots[k % p.n_slots];
		if (!started) {
			write_chunk(&p, k, sl, &own);   /* no thread could start */
		} else {
			pthread_mutex_lock(&p.mu);
			while (!(sl->ready && sl->chunk == k))
				pthread_cond_wait(&p.cv, &p.mu);
			pthread_mutex_unlock(&p.mu);
		}
		size_t first = k * p.chunk, n = x->c->n_vmis - first < p.chunk ? x->c->n_vmis - first : p.chunk;
		size_t join_len = x->o.text_join ? strlen(x->o.text_join) : 0;
		for (size_t i = 0; i < n; i++) {
			size_t from = i ? sl->end[i - 1] + join_len : 0;
			vm_tally(x, first + i, sl->migratable[i], sl->eligible[i], t, &scratch);
			if (!x->o.text_join)
				emit_text(sl->text.data + from, sl->end[i] - from, ctx);
		}
		if (x->o.text_join && x->o.text_iov) {
			if (n_iov < sl->pieces.n) {
				n_iov = sl->pieces.n;
				iov = gw_realloc(iov, n_iov * sizeof(*iov));
			}
			for (size_t i = 0; i < sl->pieces.n; i++) {
				const struct piece *pc = &sl->pieces.v[i];
				iov[i].iov_base = (void *)(pc->s ? pc->s : sl->text.data + pc->off);
				iov[i].iov_len = pc->len;
			}
			x->o.text_iov(iov, sl->pieces.n, ctx);
		} else if (x->o.text_join) {   /* the chunk at once, joined */
			emit_text(sl->text.data, sl->text.len, ctx);
		}
		pthread_mutex_lock(&p.mu);
		sl->ready = false;
		p.emitted++;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	eval_fini(&scratch);
	eval_fini(&own);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	for (size_t i = 0; i < p.n_slots; i++) {
		gw_buf_fini(&p.slots[i].text);
		free(p.slots[i].pieces.v);
		free(p.slots[i].end);
		free(p.slots[i].migratable);
		free(p.slots[i].eligible);
	}
	free(p.slots);
	free(iov);
}

/* One of emit (each VM's object) and emit_text (its compact text). */
static json_t *check_stream(const struct gw_cluster *c, const struct gw_cpu_modeldb *db,
			    const struct gw_rule_set *rules, const struct gw_check_options *o,
			    void (*emit)(json_t *vm, void *ctx),
			    void (*emit_text)(const char *vm, size_t len, void *ctx), void *ctx)
{
	struct report x;
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.db = db;
	x.rules = rules ? rules : gw_rules_get(GW_RULES_GODWIT);
	if (o)
		x.o = *o;
	else
		gw_check_options_init(&x.o);
	x.sig_index = json_object();
	x.text = emit_text != NULL;
	x.referenced = json_object();
	x.subject_index = json_object();
	pthread_mutex_init(&x.arena_mu, NULL);
	gw_strv_init(&x.subjects);
	mark(&x, NULL);
	index_inputs(&x);
	usage(&x);

	json_t *cluster = json_object();
	json_object_set_new(cluster, "nodes", json_integer((json_int_t)c->n_nodes));
	json_object_set_new(cluster, "vms", json_integer((json_int_t)c->n_vmis));
	/* Domains and the recommended model first: the VMs' signatures under
	 * that model must be known before the node classes are built. */
	json_t *recommended = NULL;
	json_object_set_new(cluster, "domains", report_domains(&x, &recommended));

	mark(&x, "domains");
	unsigned workers = emit_text ? writer_threads(&x) : 1;
	signatures(&x);
	mark(&x, "signatures");
	build_classes(&x);
	mark(&x, "classes");
	json_object_set_new(cluster, "nodeClasses", json_integer((json_int_t)x.n_classes));
	json_object_set_new(cluster, "placementSignatures", json_integer((json_int_t)x.n_sigs));

	struct tally t = {json_array(), json_array(), json_array(), json_array(), json_array(), NULL};
	t.strands = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*t.strands));
	if (workers > 1) {
		write_parallel(&x, workers, &t, emit_text, ctx);
	} else {
		struct eval e, scratch;
		struct gw_buf text;
		gw_buf_init(&text);
		memset(&e, 0, sizeof(e));
		memset(&scratch, 0, sizeof(scratch));
		for (size_t v = 0; v < c->n_vmis; v++) {
			bool migratable;
			json_t *vm = NULL;
			vm_eval(&x, v, &e);
			if (emit_text) {
				text.len = 0;
				vm_text(&x, v, &e, &migratable, &text);
			} else {
				vm = vm_json(&x, v, &e, &migratable);
			}
			vm_tally(&x, v, migratable, e.eligible, &t, &scratch);
			if (emit_text)
				emit_text(text.data, text.len, ctx);
			else
				emit(vm, ctx);
		}
		gw_buf_fini(&text);
		eval_fini(&e);
		eval_fini(&scratch);
	}
	json_t *without = t.without, *frees = t.frees, *restart = t.restart, *freed = t.freed,
	       *stranded_by = t.stranded_by, **strands = t.strands;

	mark(&x, "vms");
	json_object_set_new(cluster, "vmsWithoutTarget", without);
	json_t *ds = json_object();
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strands[i])
			json_object_set_new(ds, c->nodes[i]->meta.name, strands[i]);
	free(strands);
	json_object_set_new(cluster, "drainStrands", ds);
	if (recommended) {
		json_object_set_new(recommended, "frees", frees);
		json_object_set_new(cluster, "recommendedCpuModel", recommended);
	} else {
		json_decref(frees);
		json_object_set_new(cluster, "recommendedCpuModel", json_null());
	}
	if (x.o.whatif_set_cpu_model) {
		json_t *w = json_object();
		json_object_set_new(w, "cpuModelBefore",
				    x.o.previous_cpu_model ? json_string(x.o.previous_cpu_model) : json_null());
		json_object_set_new(w, "cpuModelAfter", c->kubevirt && c->kubevirt->cpu_model
								? json_string(c->kubevirt->cpu_model) : json_null());
		json_object_set_new(w, "restartChangesModel", restart);
		json_object_set_new(w, "freed", freed);
		json_object_set_new(w, "stranded", stranded_by);
		json_object_set_new(cluster, "setCpuModel", w);
	} else {
		json_decref(restart);
		json_decref(freed);
		json_decref(stranded_by);
	}

	json_t *findings = json_array();
	for (size_t i = 0; i < c->n_findings; i++)
		json_array_append_new(findings, json_pack("{s:s, s:s}", "where", c->findings[i].where, "message",
							  c->findings[i].message));
	json_t *out = json_object();
	json_object_set_new(out, "rules", json_string(x.rules->name));
	json_object_set_new(out, "cluster", cluster);
	json_object_set_new(out, "findings", findings);
	report_free(&x);
	mark(&x, "cluster");
	return out;
}

json_t *gw_sched_check_stream(const struct gw_cluster *c, const struct gw_cpu_modeldb *db,
			      const struct gw_rule_set *rules, const struct gw_check_options *o,
			      void (*emit)(json_t *vm, void *ctx), void *ctx)
{
	return check_stream(c, db, rules, o, emit, NULL, ctx);
}

json_t *gw_sched_check_stream_text(const struct gw_cluster *c, const struct gw_cpu_modeldb *db,
				   const struct gw_rule_set *rules, const struct gw_check_options *o,
				   void (*emit)(const char *vm, size_t len, void *ctx), void *ctx)
{
	return check_stream(c, db, rules, o, NULL, emit, ctx);
}

static void collect(json_t *vm, void *ctx)
{
	json_array_append_new(ctx, vm);
}

json_t *gw_sched_check(const struct gw_cluster *c, const struct gw_cpu_modeldb *db, const struct gw_rule_set *rules,
		       const struct gw_check_options *o)
{
	json_t *vms = json_array();
	json_t *out = gw_sched_check_stream(c, db, rules, o, collect, vms);
	json_object_set_new(out, "vms", vms);
	return out;
}
