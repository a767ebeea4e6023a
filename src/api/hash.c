/* SPDX-License-Identifier: Apache-2.0 */
/* Open addressing with linear probing, load factor at most 1/2; entries
 * are never removed (the cluster only grows while loading), so no
 * tombstones are needed. FNV-1a (gw_str_hash): short keys. */
#include <string.h>

#include "internal.h"

void strhash_init(struct strhash *h)
{
	h->slots = NULL;
	h->cap = 0;
	h->n = 0;
}

void strhash_fini(struct strhash *h)
{
	for (size_t i = 0; i < h->cap; i++) {
		free(h->slots[i].key);
		free(h->slots[i].where);
	}
	free(h->slots);
	strhash_init(h);
}

struct strhash_entry *strhash_get(const struct strhash *h, const char *key)
{
	if (!h->cap)
		return NULL;
	uint64_t hv = gw_str_hash(key);
	for (size_t i = hv & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
		struct strhash_entry *e = &h->slots[i];
		if (!e->key)
			return NULL;
		if (e->hash == hv && strcmp(e->key, key) == 0)
			return e;
	}
}

static void grow(struct strhash *h)
{
	size_t cap = h->cap ? h->cap * 2 : 64;
	struct strhash_entry *slots = gw_calloc(cap, sizeof(*slots));
	for (size_t i = 0; i < h->cap; i++) {
		struct strhash_entry *e = &h->slots[i];
		if (!e->key)
			continue;
		size_t j = e->hash & (cap - 1);
		while (slots[j].key)
			j = (j + 1) & (cap - 1);
		slots[j] = *e;
	}
	free(h->slots);
	h->slots = slots;
	h->cap = cap;
}

/* where: NULL, copied, or taken (*where_taken). */
static struct strhash_entry *put(struct strhash *h, const char *key, void *value, const char *where,
				 char **where_taken, bool *existed)
{
	struct strhash_entry *e = strhash_get(h, key);
	if (e) {
		if (existed)
			*existed = true;
		return e;
	}
	if (existed)
		*existed = false;
	if ((h->n + 1) * 2 > h->cap)
		grow(h);
	uint64_t hv = gw_str_hash(key);
	size_t i = hv & (h->cap - 1);
	while (h->slots[i].key)
		i = (i + 1) & (h->cap - 1);
	e = &h->slots[i];
	e->key = gw_strdup(key);
	e->value = value;
	if (where_taken) {
		e->where = *where_taken;
		*where_taken = NULL;
	} else {
		e->where = where ? gw_strdup(where) : NULL;
	}
	e->hash = hv;
	h->n++;
	return e;
}

struct strhash_entry *strhash_put(struct strhash *h, const char *key, void *value, const char *where,
				  bool *existed)
{
	return put(h, key, value, where, NULL, existed);
}

struct strhash_entry *strhash_put_take(struct strhash *h, const char *key, void *value, char **where,
				       bool *existed)
{
	return put(h, key, value, NULL, where, existed);
}
