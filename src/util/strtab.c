/* SPDX-License-Identifier: Apache-2.0 */
/* Interned strings: one copy of each distinct string, in big blocks that
 * are freed together. A big cluster's labels repeat across its nodes
 * ("cpu-feature.node.kubevirt.io/avx2" = "true" on thousands of them):
 * interned, each costs a pointer instead of a malloc'ed copy. */
#include <string.h>

#include "godwit/util.h"

#define STRTAB_BLOCK (1u << 20)

struct block {
	struct block *next;
	size_t used, size;
	/* followed by the block's bytes, max_align_t aligned */
};

struct slot {
	const char *s;   /* NULL: empty */
	uint64_t hash;
	size_t len;
};

struct gw_strtab {
	struct block *blocks;   /* the newest first */
	struct slot *slots;
	size_t cap;             /* power of two */
	size_t n;
	void *scratch;          /* gw_strtab_scratch */
	size_t scratch_size;
};

static size_t block_header(void)
{
	size_t a = _Alignof(max_align_t);
	return (sizeof(struct block) + a - 1) / a * a;
}

struct gw_strtab *gw_strtab_new(void)
{
	struct gw_strtab *t = gw_calloc(1, sizeof(*t));
	t->cap = 1024;
	t->slots = gw_calloc(t->cap, sizeof(*t->slots));
	return t;
}

void gw_strtab_free(struct gw_strtab *t)
{
	if (!t)
		return;
	struct block *b = t->blocks;
	while (b) {
		struct block *next = b->next;
		free(b);
		b = next;
	}
	free(t->slots);
	free(t->scratch);
	free(t);
}

void *gw_strtab_scratch(struct gw_strtab *t, size_t n)
{
	if (n > t->scratch_size) {
		free(t->scratch);
		t->scratch_size = n > 2 * t->scratch_size ? n : 2 * t->scratch_size;
		t->scratch = gw_malloc(t->scratch_size);
	}
	return t->scratch;
}

void *gw_strtab_alloc(struct gw_strtab *t, size_t n, size_t align)
{
	struct block *b = t->blocks;
	size_t at = 0;
	if (b) {
		at = (b->used + align - 1) & ~(align - 1);
		if (at + n <= b->size) {
			b->used = at + n;
			return (char *)b + block_header() + at;
		}
	}
	/* Something big gets a block of its own, behind the current one so
	 * that the current one's room is not lost. */
	size_t size = n > STRTAB_BLOCK / 4 ? n : STRTAB_BLOCK;
	struct block *nb = gw_malloc(block_header() + size);
	nb->size = size;
	nb->used = n;
	if (b && size != STRTAB_BLOCK) {
		nb->next = b->next;
		b->next = nb;
	} else {
		nb->next = b;
		t->blocks = nb;
	}
	return (char *)nb + block_header();
}

/* 64-bit multiply-xor over 8-byte words: the strings are short and the
 * table's index takes the high bits. */
static uint64_t hash(const char *s, size_t len)
{
	const uint64_t m = 0x9E3779B97F4A7C15ULL;
	uint64_t h = len * m;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	if (i < len) {
		uint64_t w = 0;
		memcpy(&w, s + i, len - i);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	h *= m;
	return h ^ (h >> 32);
}

static void grow(struct gw_strtab *t)
{
	size_t cap = t->cap * 2;
	struct slot *slots = gw_calloc(cap, sizeof(*slots));
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slots[i].s)
			continue;
		size_t j = t->slots[i].hash & (cap - 1);
		while (slots[j].s)
			j = (j + 1) & (cap - 1);
		slots[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
}

const char *gw_strtab_intern(struct gw_strtab *t, const char *s, size_t len)
{
	uint64_t h = hash(s, len);
	size_t j = h & (t->cap - 1);
	while (t->slots[j].s) {
		const struct slot *sl = &t->slots[j];
		if (sl->hash == h && sl->len == len && memcmp(sl->s, s, len) == 0)
			return sl->s;
		j = (j + 1) & (t->cap - 1);
	}
	char *copy = gw_strtab_alloc(t, len + 1, 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	t->slots[j] = (struct slot){.s = copy, .hash = h, .len = len};
	if (++t->n * 2 > t->cap)
		grow(t);
	return copy;
}

size_t gw_strtab_count(const struct gw_strtab *t)
{
	return t->n;
}
