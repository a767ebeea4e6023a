/* SPDX-License-Identifier: Apache-2.0 */
/* String numbers (util.h): two open-addressing tables with linear
 * probing, at most half full. By address: the address's bits mixed by a
 * multiply. By text: FNV-1a, each text hashed once, when its first
 * address is met. */
#include <stdint.h>
#include <string.h>

#include "godwit/util.h"

struct gw_strid_addr {
	const char *s;                     /* NULL: free */
	size_t id;
};

struct gw_strid_text {
	const char *s;                     /* NULL: free */
	uint64_t hash;
	size_t id;
};

void gw_strids_init(struct gw_strids *t)
{
	memset(t, 0, sizeof(*t));
}

void gw_strids_fini(struct gw_strids *t)
{
	free(t->addrs);
	free(t->texts);
	gw_strids_init(t);
}

static size_t addr_slot(const char *s, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 32) & (cap - 1);
}

uint64_t gw_str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void addr_put(struct gw_strid_addr *slots, size_t cap, const char *s, size_t id)
{
	size_t i = addr_slot(s, cap);
	while (slots[i].s)
		i = (i + 1) & (cap - 1);
	slots[i] = (struct gw_strid_addr){s, id};
}

static void addr_grow(struct gw_strids *t)
{
	size_t cap = t->addr_cap ? 2 * t->addr_cap : 64;
	struct gw_strid_addr *slots = gw_calloc(cap, sizeof(*slots));
	for (size_t i = 0; i < t->addr_cap; i++)
		if (t->addrs[i].s)
			addr_put(slots, cap, t->addrs[i].s, t->addrs[i].id);
	free(t->addrs);
	t->addrs = slots;
	t->addr_cap = cap;
}

static void text_grow(struct gw_strids *t)
{
	size_t cap = t->text_cap ? 2 * t->text_cap : 64;
	struct gw_strid_text *slots = gw_calloc(cap, sizeof(*slots));
	for (size_t i = 0; i < t->text_cap; i++) {
		if (!t->texts[i].s)
			continue;
		size_t j = (size_t)t->texts[i].hash & (cap - 1);
		while (slots[j].s)
			j = (j + 1) & (cap - 1);
		slots[j] = t->texts[i];
	}
	free(t->texts);
	t->texts = slots;
	t->text_cap = cap;
}

/* The number of s's text, a new one if the text is new. */
static size_t text_id(struct gw_strids *t, const char *s)
{
	if (2 * (t->text_n + 1) > t->text_cap)
		text_grow(t);
	uint64_t h = gw_str_hash(s);
	size_t i = (size_t)h & (t->text_cap - 1);
	for (; t->texts[i].s; i = (i + 1) & (t->text_cap - 1))
		if (t->texts[i].hash == h && strcmp(t->texts[i].s, s) == 0)
			return t->texts[i].id;
	t->texts[i] = (struct gw_strid_text){s, h, t->text_n};
	return t->text_n++;
}

size_t gw_strids_id(struct gw_strids *t, const char *s)
{
	if (t->addr_cap) {
		for (size_t i = addr_slot(s, t->addr_cap); t->addrs[i].s; i = (i + 1) & (t->addr_cap - 1))
			if (t->addrs[i].s == s)
				return t->addrs[i].id;
	}
	size_t id = text_id(t, s);
	if (2 * (t->addr_n + 1) > t->addr_cap)
		addr_grow(t);
	addr_put(t->addrs, t->addr_cap, s, id);
	t->addr_n++;
	return id;
}
