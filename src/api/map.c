/* SPDX-License-Identifier: Apache-2.0 */
/* Sorted string map: labels, annotations and selectors are small, and a
 * sorted array keeps output stable and lookups a binary search. */
#include <string.h>

#include "internal.h"

void gw_map_init(struct gw_map *m)
{
	m->keys = NULL;
	m->values = NULL;
	m->n = 0;
	m->cap = 0;
	m->borrowed = false;
}

void gw_map_fini(struct gw_map *m)
{
	if (m->borrowed) {
		gw_map_init(m);
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
	gw_map_init(m);
}

/* Position of key, or where it would go (*found false). */
static size_t find(const struct gw_map *m, const char *key, bool *found)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->keys[mid], key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

size_t gw_map_lower_bound(const struct gw_map *m, const char *key)
{
	bool found;
	return find(m, key, &found);
}

void gw_map_copy(struct gw_map *dst, const struct gw_map *src)
{
	gw_map_init(dst);
	if (!src->n)
		return;
	dst->keys = gw_malloc(src->n * sizeof(char *));
	dst->values = gw_malloc(src->n * sizeof(char *));
	for (size_t i = 0; i < src->n; i++) {
		dst->keys[i] = gw_strdup(src->keys[i]);
		dst->values[i] = gw_strdup(src->values[i]);
	}
	dst->n = src->n;
	dst->cap = src->n;
}

/* A borrowed map's arrays and strings, copied into its own before a change. */
static void own(struct gw_map *m)
{
	if (!m->borrowed)
		return;
	struct gw_map copy;
	gw_map_copy(&copy, m);
	*m = copy;
}

void map_share(struct gw_map *dst, const struct gw_map *src)
{
	if (src->borrowed)
		*dst = *src;
	else
		gw_map_copy(dst, src);
}

void map_intern(struct gw_map *m, struct gw_strtab *strings)
{
	if (!strings || m->borrowed || !m->n)
		return;
	char **keys = gw_strtab_alloc(strings, 2 * m->n * sizeof(char *), _Alignof(char *));
	char **values = keys + m->n;
	for (size_t i = 0; i < m->n; i++) {
		keys[i] = (char *)gw_strtab_intern(strings, m->keys[i], strlen(m->keys[i]));
		values[i] = (char *)gw_strtab_intern(strings, m->values[i], strlen(m->values[i]));
	}
	size_t n = m->n;
	gw_map_fini(m);
	m->keys = keys;
	m->values = values;
	m->n = n;
	m->cap = n;
	m->borrowed = true;
}

void gw_map_set(struct gw_map *m, const char *key, const char *value)
{
	bool found;
	own(m);
	size_t i = find(m, key, &found);
	if (found) {
		char *v = gw_strdup(value);
		free(m->values[i]);
		m->values[i] = v;
		return;
	}
	if (m->n + 1 > m->cap) {
		/* Selectors are built key by key (a host-model VM's: ~100). */
		m->cap = m->cap * 2 > m->n + 1 ? m->cap * 2 : m->n + 8;
		m->keys = gw_realloc(m->keys, m->cap * sizeof(char *));
		m->values = gw_realloc(m->values, m->cap * sizeof(char *));
	}
	memmove(m->keys + i + 1, m->keys + i, (m->n - i) * sizeof(char *));
	memmove(m->values + i + 1, m->values + i, (m->n - i) * sizeof(char *));
	m->keys[i] = gw_strdup(key);
	m->values[i] = gw_strdup(value);
	m->n++;
}

bool gw_map_del(struct gw_map *m, const char *key)
{
	bool found;
	size_t i = find(m, key, &found);
	if (!found)
		return false;
	own(m);
	free(m->keys[i]);
	free(m->values[i]);
	memmove(m->keys + i, m->keys + i + 1, (m->n - i - 1) * sizeof(char *));
	memmove(m->values + i, m->values + i + 1, (m->n - i - 1) * sizeof(char *));
	m->n--;
	return true;
}

const char *gw_map_get(const struct gw_map *m, const char *key)
{
	bool found;
	size_t i = find(m, key, &found);
	return found ? m->values[i] : NULL;
}

json_t *gw_map_to_json(const struct gw_map *m)
{
	json_t *o = json_object();
	for (size_t i = 0; i < m->n; i++)
		json_object_set_new(o, m->keys[i], json_string(m->values[i]));
	return o;
}

struct pair {
	const char *key, *value;
	size_t at;   /* place in the object, as read */
};

/* ---- the order of a big map's keys, remembered -----------------------------
 * A big cluster's nodes carry the same label keys in the same order, and
 * its launcher pods the same selectors: interned, equal keys are the same
 * pointer, so a map whose key pointers (as read) are those of a map
 * sorted before takes that one's order instead of sorting again. The
 * pointers are only compared, never followed. */
#define SORT_MEMO_SLOTS 64
#define SORT_MEMO_MIN 16     /* smaller maps are sorted, cheaply */

struct sort_memo {
	size_t n;                /* 0: empty */
	uint64_t hash;
	const char **keys;       /* as read */
	size_t *order;           /* order[i]: the place, as read, of the i-th key sorted */
};

struct map_sort_memo {
	struct sort_memo slots[SORT_MEMO_SLOTS];
};

struct map_sort_memo *map_sort_memo_new(void)
{
	return gw_calloc(1, sizeof(struct map_sort_memo));
}

void map_sort_memo_free(struct map_sort_memo *sm)
{
	if (!sm)
		return;
	for (size_t i = 0; i < SORT_MEMO_SLOTS; i++) {
		free(sm->slots[i].keys);
		free(sm->slots[i].order);
	}
	free(sm);
}

static uint64_t keys_hash(const struct pair *pairs, size_t n)
{
	uint64_t h = n;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ (uint64_t)(uintptr_t)pairs[i].key) * 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	return h;
}

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->key, ((const struct pair *)b)->key);
}

/* Sorts pairs (interned keys, in the order read) by key, through the
 * memo; spare: room for n pairs. */
static void sort_interned(struct pair *pairs, size_t n, struct map_sort_memo *sm, struct pair *spare)
{
	if (!sm || n < SORT_MEMO_MIN) {
		qsort(pairs, n, sizeof(*pairs), pair_cmp);
		return;
	}
	uint64_t h = keys_hash(pairs, n);
	struct sort_memo *e = &sm->slots[h % SORT_MEMO_SLOTS];
	bool same = e->n == n && e->hash == h;
	for (size_t i = 0; same && i < n; i++)
		same = e->keys[i] == pairs[i].key;
	if (same) {
		/* pairs[i].at == i: read in place, then reordered by the memo */
		memcpy(spare, pairs, n * sizeof(*spare));
		for (size_t i = 0; i < n; i++)
			pairs[i] = spare[e->order[i]];
		return;
	}
	qsort(pairs, n, sizeof(*pairs), pair_cmp);
	if (e->n != n) {
		free(e->keys);
		free(e->order);
		e->keys = gw_malloc(n * sizeof(*e->keys));
		e->order = gw_malloc(n * sizeof(*e->order));
	}
	e->n = n;
	e->hash = h;
	for (size_t i = 0; i < n; i++) {
		e->keys[pairs[i].at] = pairs[i].key;
		e->order[i] = pairs[i].at;
	}
}

int map_from_json(const json_t *obj, const char *where, struct gw_map *m, struct gw_strtab *strings,
		  struct map_sort_memo *sm, struct gw_err **err)
{
	gw_map_init(m);
	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return dec_fail(err, where, NULL, obj, "not an object of strings");
	size_t n = json_object_size(obj);
	size_t n_captured;
	const char *const *kv = strings ? gw_json_stream_strmap(obj, &n_captured) : NULL;
	if (kv)
		n = n_captured;
	if (!n)
		return 0;
	/* Collect then sort once: a node may carry hundreds of labels. */
	/* Interned: twice the room, the second half for sort_interned. */
	struct pair stack[64];
	struct pair *pairs = n <= GW_ARRAY_SIZE(stack) / 2 ? stack
			     : strings ? gw_strtab_scratch(strings, 2 * n * sizeof(*pairs))
				       : gw_malloc(n * sizeof(*pairs));
	struct pair *spare = pairs == stack ? stack + GW_ARRAY_SIZE(stack) / 2 : pairs + n;
	size_t k = 0;
	bool sorted = true;   /* kubectl writes maps sorted: nothing to sort then */
	const char *key;
	json_t *value;
	/* Captured while streamed: interned already, all strings, in the
	 * order read (gw_json_stream_strmap). */
	for (size_t i = 0; kv && i < n; i++) {
		pairs[k].key = kv[2 * i];
		pairs[k].value = kv[2 * i + 1];
		pairs[k].at = k;
		if (sorted && k && strcmp(pairs[k - 1].key, pairs[k].key) > 0)
			sorted = false;
		k++;
	}
	if (!kv)
	json_object_foreach((json_t *)obj, key, value) {
		if (!json_is_string(value)) {
			for (size_t i = 0; !strings && i < k; i++) {
				free((char *)pairs[i].key);
				free((char *)pairs[i].value);
			}
			if (pairs != stack && !strings)
				free(pairs);
			return dec_fail(err, where, key, value, "not a string");
		}
		const char *v = json_string_value(value);
		if (strings) {
			/* As gw_strdup: up to a NUL the value may hold. */
			pairs[k].key = gw_strtab_intern(strings, key, strlen(key));
			pairs[k].value = gw_strtab_intern(strings, v, strlen(v));
		} else {
			pairs[k].key = gw_strdup(key);
			pairs[k].value = gw_strdup(v);
		}
		pairs[k].at = k;
		if (sorted && k && strcmp(pairs[k - 1].key, pairs[k].key) > 0)
			sorted = false;
		k++;
	}
	if (!sorted && strings)
		sort_interned(pairs, k, sm, spare);
	else if (!sorted)
		qsort(pairs, k, sizeof(*pairs), pair_cmp);
	if (strings) {
		m->keys = gw_strtab_alloc(strings, 2 * k * sizeof(char *), _Alignof(char *));
		m->values = m->keys + k;
		m->borrowed = true;
	} else {
		m->keys = gw_malloc(k * sizeof(char *));
		m->values = gw_malloc(k * sizeof(char *));
	}
	for (size_t i = 0; i < k; i++) {
		m->keys[i] = (char *)pairs[i].key;
		m->values[i] = (char *)pairs[i].value;
	}
	m->n = k;
	m->cap = k;
	if (pairs != stack && !strings)
		free(pairs);
	return 0;
}

int gw_map_from_json(const json_t *obj, const char *where, struct gw_map *m, struct gw_err **err)
{
	return map_from_json(obj, where, m, NULL, NULL, err);
}
