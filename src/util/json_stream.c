/* SPDX-License-Identifier: Apache-2.0 */
/* Big JSON files without their whole tree: yajl's event parser builds each
 * top-level value as a jansson value, except the elements of a top-level
 * object's "items" array (a kubectl List), each handed over as soon as it
 * is complete and released after. Memory is then one item, not the file.
 *
 * The whole-document reader (gw_doc_load_file, jansson) stays the
 * reference: whenever it could answer differently (any syntax error, a
 * duplicate key, a lone surrogate, NUL, UTF-8 that jansson finds
 * invalid, too deep, a number out of range, a file past its size limit), this reader stops and says so, and the
 * caller reads the file the old way for the same result and message. */
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>

#include "godwit/util.h"

/* Below jansson's JSON_PARSER_MAX_DEPTH (2048): deeper input goes to jansson. */
#define STREAM_MAX_DEPTH 1024
#define STREAM_CHUNK (1u << 20)
/* gw_doc_load_file's limit on a file's size. */
#define STREAM_MAX_BYTES (512u << 20)

struct frame {
	json_t *v;     /* the container; NULL for the streamed items array or a captured map */
	unsigned char tag;   /* an item's "metadata" (1) or "spec" (2) */
	bool capture;  /* a map of strings collected without jansson */
};

/* A captured map of the item being read: its strings are in kv from
 * at, key and value in turn, in the order read. */
struct captured {
	json_t *placeholder;   /* the empty object standing in its place */
	json_t *parent;
	const char *key;       /* interned */
	size_t at, n;
};

struct stream {
	const struct gw_json_stream_ops *ops;
	void *ctx;
	struct frame stack[STREAM_MAX_DEPTH + 1];
	size_t depth;
	json_t *root;          /* the top-level value being built */
	bool root_streamed;    /* its "items" went to ops->item */
	size_t doc;            /* index of the top-level value */
	size_t item;           /* index in the streamed items array */
	json_t *item_value;    /* the item being built */
	char *key;             /* the object key waiting for its value */
	size_t key_len, key_cap;
	bool key_is_items;     /* that key is "items", at depth 1 */
	int rc;                /* why parsing stopped: 1 (whole-document reader) or a callback's < 0 */
	struct gw_strtab *strings;   /* ops->strings */
	const char **kv;       /* the captured maps' strings */
	size_t kv_n, kv_cap;
	struct captured *maps; /* the item's captured maps */
	size_t n_maps, maps_cap;
	char *cap_key;         /* the key of the map being captured */
	size_t cap_key_cap;
	const char **seen;     /* the captured keys, hashed by pointer: duplicates */
	size_t seen_cap;
	struct guess *guesses; /* captured strings foreseen, hashed by pointer */
	size_t guesses_cap, n_guesses;
	const char *cap_prev;  /* the captured key before, or the map's start */
	struct arena *arena;   /* ops->arena: the items' values */
	bool in_arena;         /* the item being built is in it */
	bool expanded;         /* gw_json_stream_expand ran for this item */
};

/* Where a captured map starts (struct guess): labels, annotations, nodeSelector. */
static const char map_start[3];

/* The stream whose item callback is running, for gw_json_stream_strmap. */
static _Thread_local struct stream *current;

static int stop(struct stream *s, int rc)
{
	s->rc = rc;
	return 0;   /* yajl: cancel */
}

/* ---- an item's values in an arena ---------------------------------------
 * jansson mallocs each value, string, key and hash table of an item
 * (a VMI: hundreds), and frees them one by one once the item is decoded.
 * With ops->arena they are cut from a few chunks instead, reused from one
 * item to the next: freeing one of them does nothing, and the chunks are
 * reset once the item has been handed over.
 *
 * jansson's allocator is global: ours is installed for the reading and
 * the previous one put back after (while several threads read, from the
 * first start to the last end). It takes from the arena only on the
 * reading thread and only while an item is being built; the callbacks'
 * own values, and other threads', go to malloc as before, and a free of
 * anything not in this thread's arena goes to free. */
#define ARENA_CHUNK (256u << 10)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *chunks;   /* the one in use first, then the ones before it */
	struct arena_chunk *spare;    /* reset, for the next items */
	size_t used;                  /* in chunks */
};

/* Allocating from (while an item is built) and owning (until the end). */
static _Thread_local struct arena *arena_alloc_from;
static _Thread_local struct arena *arena_owner;

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned arena_users;
static json_malloc_t arena_saved_malloc;
static json_free_t arena_saved_free;

static bool arena_owns(const struct arena *a, const void *p)
{
	for (const struct arena_chunk *c = a->chunks; c; c = c->next)
		if ((const char *)p >= (const char *)c->data && (const char *)p < (const char *)c->data + c->size)
			return true;
	return false;
}

static void *arena_malloc(size_t n)
{
	struct arena *a = arena_alloc_from;
	if (!a)
		return malloc(n);
	const size_t align = _Alignof(max_align_t);
	n = (n + align - 1) & ~(align - 1);
	struct arena_chunk *c = a->chunks;
	if (!c || a->used + n > c->size) {
		/* The next spare chunk when it is big enough, else a new one
		 * (an item bigger than a chunk takes several). */
		struct arena_chunk **sp = &a->spare;
		while (*sp && (*sp)->size < n)
			sp = &(*sp)->next;
		c = *sp;
		if (c) {
			*sp = c->next;
		} else {
			size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
			c = malloc(offsetof(struct arena_chunk, data) + size);
			if (!c)
				return NULL;
			c->size = size;
		}
		c->next = a->chunks;
		a->chunks = c;
		a->used = 0;
	}
	void *p = (char *)c->data + a->used;
	a->used += n;
	return p;
}

static void arena_free(void *p)
{
	if (p && arena_owner && arena_owns(arena_owner, p))
		return;
	free(p);
}

/* Every chunk back to spare: the item's values are gone. */
static void arena_reset(struct arena *a)
{
	while (a->chunks) {
		struct arena_chunk *c = a->chunks;
		a->chunks = c->next;
		c->next = a->spare;
		a->spare = c;
	}
	a->used = 0;
}

static void arena_destroy(struct arena *a)
{
	arena_reset(a);
	while (a->spare) {
		struct arena_chunk *c = a->spare;
		a->spare = c->next;
		free(c);
	}
}

/* false: someone else's allocator is in place, no arena then. */
static bool arena_install(void)
{
	bool ok = true;
	pthread_mutex_lock(&arena_lock);
	if (!arena_users) {
		json_get_alloc_funcs(&arena_saved_malloc, &arena_saved_free);
		ok = arena_saved_malloc == malloc && arena_saved_free == free;
		if (ok)
			json_set_alloc_funcs(arena_malloc, arena_free);
	}
	if (ok)
		arena_users++;
	pthread_mutex_unlock(&arena_lock);
	return ok;
}

static void arena_uninstall(void)
{
	pthread_mutex_lock(&arena_lock);
	if (!--arena_users)
		json_set_alloc_funcs(arena_saved_malloc, arena_saved_free);
	pthread_mutex_unlock(&arena_lock);
}

static int emit_item(struct stream *s, json_t *v)
{
	struct stream *saved = current;
	current = s;
	/* The callback's own values are its own: not from the arena. */
	arena_alloc_from = NULL;
	s->expanded = false;
	int r = s->ops->item(s->ctx, s->doc, s->item++, v);
	current = saved;
	s->n_maps = 0;
	s->kv_n = 0;
	if (s->in_arena) {
		/* Nothing may keep it (ops->arena): its memory is reused. */
		if (v->refcount != 1) {
			fprintf(stderr, "godwit: a streamed item was kept past its callback\n");
			abort();
		}
		/* All of it in the arena unless expanded: nothing to free
		 * value by value then. */
		if (s->expanded)
			json_decref(v);
		arena_reset(s->arena);
		s->in_arena = false;
	} else {
		json_decref(v);
	}
	return r ? stop(s, r) : 1;
}

/* A complete top-level value. */
static int emit_root(struct stream *s)
{
	json_t *v = s->root;
	bool streamed = s->root_streamed;
	s->root = NULL;
	s->root_streamed = false;
	int r = s->ops->value(s->ctx, s->doc++, v, streamed);
	json_decref(v);
	s->item = 0;
	return r ? stop(s, r) : 1;
}

/* Puts v (owned) where the parser is: the root, an item, an array's next
 * element or the pending key's value. Containers are put when they start
 * and filled in place. */
static int attach(struct stream *s, json_t *v)
{
	if (s->depth == 0) {
		/* jansson reads only arrays and objects at the top level */
		if (!json_is_object(v) && !json_is_array(v)) {
			json_decref(v);
			return stop(s, 1);
		}
		s->root = v;
		return 1;
	}
	json_t *parent = s->stack[s->depth - 1].v;
	if (!parent) {
		/* an element of the streamed items array */
		if (json_is_object(v) || json_is_array(v)) {
			s->item_value = v;
			return 1;
		}
		return emit_item(s, v);
	}
	if (json_is_array(parent))
		return json_array_append_new(parent, v) == 0 ? 1 : stop(s, 1);
	size_t before = json_object_size(parent);
	json_object_set_new_nocheck(parent, s->key, v);
	/* A duplicate key replaced the first value; jansson refuses it. */
	if (json_object_size(parent) == before || (s->depth == 1 && s->root_streamed && !strcmp(s->key, "items")))
		return stop(s, 1);
	return 1;
}

/* ---- maps of strings, captured ----------------------------------------
 * With ops->strings, an item's metadata.labels, metadata.annotations and
 * spec.nodeSelector are not built as jansson values while they hold
 * only strings: their keys and values go straight to the string table,
 * and an empty object takes their place in the item, which
 * gw_json_stream_strmap then recognizes. Anything else in such a map
 * (a number, an object...) turns it back into a jansson object, as
 * read so far, and the rest is built as usual: the decoder then sees
 * what the whole-file reader would give. */
static bool capturing(const struct stream *s)
{
	return s->depth && s->stack[s->depth - 1].capture;
}

static bool capture_wanted(const struct stream *s)
{
	/* stack: the List, its items, the item, then metadata or spec */
	if (!s->strings || s->depth != 4 || s->stack[1].v || !s->stack[2].v || !s->stack[3].v)
		return false;
	unsigned char tag = s->stack[3].tag;
	return (tag == 1 && (!strcmp(s->key, "labels") || !strcmp(s->key, "annotations"))) ||
	       (tag == 2 && !strcmp(s->key, "nodeSelector"));
}

static void capture_start(struct stream *s)
{
	size_t len = strlen(s->key);
	if (len + 1 > s->cap_key_cap) {
		s->cap_key_cap = len + 64;
		s->cap_key = gw_realloc(s->cap_key, s->cap_key_cap);
	}
	memcpy(s->cap_key, s->key, len + 1);
	if (s->n_maps == s->maps_cap) {
		s->maps_cap = s->maps_cap ? 2 * s->maps_cap : 4;
		s->maps = gw_realloc(s->maps, s->maps_cap * sizeof(*s->maps));
	}
	s->maps[s->n_maps] = (struct captured){.at = s->kv_n};
	s->cap_prev = &map_start[s->key[0] == 'l' ? 0 : s->key[0] == 'a' ? 1 : 2];
	s->stack[s->depth++] = (struct frame){.capture = true};
	if (s->seen_cap)
		memset(s->seen, 0, s->seen_cap * sizeof(*s->seen));
}

/* A key met twice: jansson refuses the document. */
static bool seen_before(struct stream *s, const char *key, size_t n)
{
	if (2 * (n + 1) > s->seen_cap) {
		size_t cap = s->seen_cap ? s->seen_cap : 256;
		while (2 * (n + 1) > cap)
			cap *= 2;
		free(s->seen);
		s->seen = gw_calloc(cap, sizeof(*s->seen));
		s->seen_cap = cap;
		const char **kv = s->kv + s->maps[s->n_maps].at;
		for (size_t i = 0; i < n; i++)
			seen_before(s, kv[2 * i], i);
	}
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ULL;
	size_t j = (size_t)(h >> 32) & (s->seen_cap - 1);
	while (s->seen[j]) {
		if (s->seen[j] == key)
			return true;
		j = (j + 1) & (s->seen_cap - 1);
	}
	s->seen[j] = key;
	return false;
}

/* The string table of a big cluster holds hundreds of thousands of
 * strings (names, uids): a lookup there misses the caches. But a
 * node's labels follow those of the node before, mostly in the same
 * order, and many values are "true": so for each interned key, the key
 * that came after it last time and the value it had, in a table small
 * enough to stay in the cache, are tried first. A map's first key
 * follows the map's start (map_start). */
struct guess {
	const char *key;       /* NULL: empty */
	const char *next, *value;
	size_t next_len, value_len;
};

static struct guess *guess_for(struct stream *s, const char *key)
{
	if (2 * (s->n_guesses + 1) > s->guesses_cap) {
		size_t cap = s->guesses_cap ? 2 * s->guesses_cap : 1024;
		struct guess *old = s->guesses;
		size_t old_cap = s->guesses_cap;
		s->guesses = gw_calloc(cap, sizeof(*s->guesses));
		s->guesses_cap = cap;
		s->n_guesses = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].key)
				*guess_for(s, old[i].key) = old[i];
		free(old);
	}
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ULL;
	size_t j = (size_t)(h >> 32) & (s->guesses_cap - 1);
	while (s->guesses[j].key && s->guesses[j].key != key)
		j = (j + 1) & (s->guesses_cap - 1);
	if (!s->guesses[j].key) {
		s->guesses[j].key = key;
		s->n_guesses++;
	}
	return &s->guesses[j];
}

/* text interned: *guessed when it is the same string, else the table's
 * (and *guessed becomes it). Interned strings hold no NUL. */
static const char *intern_guessed(struct stream *s, const char **guessed, size_t *guessed_len, const char *text,
				  size_t len)
{
	if (*guessed && *guessed_len == len && memcmp(*guessed, text, len) == 0)
		return *guessed;
	*guessed = gw_strtab_intern(s->strings, text, len);
	*guessed_len = len;
	return *guessed;
}

static int capture_string(struct stream *s, const char *text, size_t len)
{
	struct captured *m = &s->maps[s->n_maps];
	size_t n = (s->kv_n - m->at) / 2;
	struct guess *g = guess_for(s, s->cap_prev);
	const char *key = intern_guessed(s, &g->next, &g->next_len, s->key, s->key_len);
	if (seen_before(s, key, n))
		return stop(s, 1);
	if (s->kv_n + 2 > s->kv_cap) {
		s->kv_cap = s->kv_cap ? 2 * s->kv_cap : 1024;
		s->kv = gw_realloc(s->kv, s->kv_cap * sizeof(*s->kv));
	}
	g = guess_for(s, key);
	s->kv[s->kv_n++] = key;
	s->kv[s->kv_n++] = intern_guessed(s, &g->value, &g->value_len, text, len);
	s->cap_prev = key;
	return 1;
}

static json_t *strmap_build(const char *const *kv, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new_nocheck(o, kv[2 * i], json_string_nocheck(kv[2 * i + 1]));
	return o;
}

/* The map being captured, as a jansson object from now on. */
/* The pending key and the captured map's own key change places. */
static void swap_keys(struct stream *s)
{
	char *k = s->key;
	size_t kc = s->key_cap;
	s->key = s->cap_key;
	s->key_cap = s->cap_key_cap;
	s->cap_key = k;
	s->cap_key_cap = kc;
}

static int uncapture(struct stream *s)
{
	struct captured *m = &s->maps[s->n_maps];
	json_t *o = strmap_build(s->kv + m->at, (s->kv_n - m->at) / 2);
	s->kv_n = m->at;
	/* the map's own key, for attach; then the pending one back */
	swap_keys(s);
	s->depth--;
	int r = attach(s, json_incref(o));
	s->stack[s->depth++] = (struct frame){.v = o};
	swap_keys(s);
	json_decref(o);
	return r;
}

/* The end of a captured map: its placeholder into the item. */
static int capture_end(struct stream *s)
{
	struct captured *m = &s->maps[s->n_maps];
	json_t *parent = s->stack[s->depth - 1].v;
	json_t *o = json_object();
	m->placeholder = o;
	m->parent = parent;
	m->key = gw_strtab_intern(s->strings, s->cap_key, strlen(s->cap_key));
	m->n = (s->kv_n - m->at) / 2;
	s->n_maps++;
	size_t before = json_object_size(parent);
	json_object_set_new_nocheck(parent, m->key, o);
	return json_object_size(parent) == before ? stop(s, 1) : 1;
}

const char *const *gw_json_stream_strmap(const json_t *obj, size_t *n)
{
	const struct stream *s = current;
	for (size_t i = 0; s && i < s->n_maps; i++)
		if (s->maps[i].placeholder == obj) {
			*n = s->maps[i].n;
			return s->kv + s->maps[i].at;
		}
	return NULL;
}

void gw_json_stream_expand(void)
{
	struct stream *s = current;
	for (size_t i = 0; s && i < s->n_maps; i++) {
		struct captured *m = &s->maps[i];
		json_object_set_new_nocheck(m->parent, m->key, strmap_build(s->kv + m->at, m->n));
	}
	if (s) {
		s->n_maps = 0;
		s->expanded = true;
	}
}

static int on_null(void *ctx)
{
	if (capturing(ctx) && !uncapture(ctx))
		return 0;
	return attach(ctx, json_null());
}

static int on_boolean(void *ctx, int b)
{
	if (capturing(ctx) && !uncapture(ctx))
		return 0;
	return attach(ctx, json_boolean(b));
}

/* As jansson's lexer: no '.', 'e' or 'E' is an integer (out of range
 * refused), else a real (overflow refused, underflow taken). */
static int on_number(void *ctx, const char *text, size_t len)
{
	char buf[128];
	if (len >= sizeof(buf))
		return stop(ctx, 1);
	if (capturing(ctx) && !uncapture(ctx))
		return 0;
	memcpy(buf, text, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	if (!memchr(buf, '.', len) && !memchr(buf, 'e', len) && !memchr(buf, 'E', len)) {
		long long i = strtoll(buf, &end, 10);
		if (errno == ERANGE || *end)
			return stop(ctx, 1);
		return attach(ctx, json_integer((json_int_t)i));
	}
	double d = strtod(buf, &end);
	if ((errno == ERANGE && isinf(d)) || *end)
		return stop(ctx, 1);
	return attach(ctx, json_real(d));
}

static int on_string(void *ctx, const unsigned char *text, size_t len)
{
	/* jansson refuses \u0000 without JSON_ALLOW_NUL */
	if (memchr(text, '\0', len))
		return stop(ctx, 1);
	if (capturing(ctx))
		return capture_string(ctx, (const char *)text, len);
	return attach(ctx, json_stringn_nocheck((const char *)text, len));
}

static int on_map_key(void *ctx, const unsigned char *text, size_t len)
{
	struct stream *s = ctx;
	if (memchr(text, '\0', len))
		return stop(s, 1);
	if (len + 1 > s->key_cap) {
		s->key_cap = len + 64;
		s->key = gw_realloc(s->key, s->key_cap);
	}
	memcpy(s->key, text, len);
	s->key[len] = '\0';
	s->key_len = len;
	s->key_is_items = s->depth == 1 && len == 5 && memcmp(text, "items", 5) == 0;
	return 1;
}

/* A container starting as an element of the streamed items array: with
 * ops->arena, the item is built there. */
static void item_start(struct stream *s)
{
	if (s->arena && s->depth && !s->stack[s->depth - 1].v && !s->stack[s->depth - 1].capture) {
		arena_alloc_from = s->arena;
		s->in_arena = true;
	}
}

static int push(struct stream *s, json_t *v)
{
	if (s->depth >= STREAM_MAX_DEPTH)
		return stop(s, 1);
	s->stack[s->depth++] = (struct frame){.v = v};
	return 1;
}

static int on_start_map(void *ctx)
{
	struct stream *s = ctx;
	if (capturing(s) && !uncapture(s))
		return 0;
	if (capture_wanted(s)) {
		capture_start(s);
		return 1;
	}
	item_start(s);
	unsigned char tag = 0;
	if (s->strings && s->depth == 3 && !s->stack[1].v && json_is_object(s->stack[2].v))
		tag = !strcmp(s->key, "metadata") ? 1 : !strcmp(s->key, "spec") ? 2 : 0;
	json_t *o = json_object();
	if (!attach(s, json_incref(o))) {
		json_decref(o);
		return 0;
	}
	json_decref(o);
	if (!push(s, o))
		return 0;
	s->stack[s->depth - 1].tag = tag;
	return 1;
}

static int on_start_array(void *ctx)
{
	struct stream *s = ctx;
	if (capturing(s) && !uncapture(s))
		return 0;
	if (s->depth == 1 && s->key_is_items && json_is_object(s->stack[0].v) && !s->root_streamed) {
		/* The List's items: one by one, never kept in the root. A
		 * duplicate "items" key would make jansson keep the last one
		 * only, so a second one stops (attach). */
		if (json_object_get(s->stack[0].v, "items"))
			return stop(s, 1);
		s->root_streamed = true;
		s->key_is_items = false;
		return push(s, NULL);
	}
	item_start(s);
	json_t *a = json_array();
	if (!attach(s, json_incref(a))) {
		json_decref(a);
		return 0;
	}
	json_decref(a);
	return push(s, a);
}

static int on_end(void *ctx)
{
	struct stream *s = ctx;
	if (capturing(s)) {
		s->depth--;
		return capture_end(s);
	}
	s->depth--;
	if (s->depth == 0)
		return emit_root(s);
	if (!s->stack[s->depth - 1].v && s->item_value) {
		/* an item of the streamed array is complete */
		json_t *v = s->item_value;
		s->item_value = NULL;
		return emit_item(s, v);
	}
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	.yajl_number = on_number,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_map_key,
	.yajl_end_map = on_end,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end,
};

/* "\uD800".."\uDFFF": yajl turns a lone surrogate into '?' or CESU-8 where
 * jansson refuses it, so any surrogate escape goes to jansson. */
static bool has_surrogate_escape(const char *p, size_t n)
{
	const char *end = p + n;
	while ((p = memchr(p, '\\', (size_t)(end - p)))) {
		if (end - p >= 4 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') && strchr("89abAB", p[3]) && p[3])
			return true;
		p++;
		if (p >= end)
			break;
	}
	return false;
}

/* yajl checks only the shape of UTF-8 sequences; jansson also refuses
 * overlong forms, UTF-16 surrogates and code points past U+10FFFF. A
 * sequence cut by the end of p is left to the next look (the chunk keeps
 * 8 bytes of the one before); continuation bytes at its start belong to
 * a sequence already seen. */
static bool utf8_strict(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && (p[i] & 0xC0) == 0x80)
		i++;
	while (i < n) {
		/* ASCII, eight bytes at a time */
		if (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (!(w & 0x8080808080808080ULL)) {
				i += 8;
				continue;
			}
		}
		unsigned char c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t v;
		if (c >= 0xC2 && c <= 0xDF) {
			len = 2;
			v = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			v = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			v = c & 0x07;
		} else {
			return false;   /* a stray continuation byte, 0xC0, 0xC1, 0xF5.. */
		}
		if (i + len > n)
			return true;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			v = (v << 6) | (p[i + k] & 0x3F);
		}
		if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
		    (len == 4 && (v < 0x10000 || v > 0x10FFFF)))
			return false;
		i += len;
	}
	return true;
}

static bool starts_like_json(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)p[i]))
			return p[i] == '{' || p[i] == '[';
	return false;
}

int gw_json_stream_file(const char *path, const struct gw_json_stream_ops *ops, void *ctx, struct gw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > STREAM_MAX_BYTES)
		return 1;
	struct stream s = {.ops = ops, .ctx = ctx, .strings = ops->strings};
	struct arena arena = {0};
	struct arena *saved_from = arena_alloc_from, *saved_owner = arena_owner;
	if (ops->arena && arena_install()) {
		s.arena = &arena;
		arena_owner = &arena;
		arena_alloc_from = NULL;
	}
	yajl_handle h = yajl_alloc(&callbacks, NULL, &s);
	if (!h) {
		if (s.arena) {
			arena_owner = saved_owner;
			arena_uninstall();
		}
		return gw_err_set(err, -ENOMEM, "%s: cannot start the JSON parser", path);
	}
	yajl_config(h, yajl_allow_multiple_values, 1);
	/* The chunk keeps 8 bytes of the one before, so that an escape cut
	 * in two is still seen whole. */
	char *buf = gw_malloc(STREAM_CHUNK + 8);
	size_t carry = 0, total = 0;
	bool first = true;
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf + carry, STREAM_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0) {
			if (first)
				r = 1;   /* empty: not JSON, the YAML reader's business */
			else if (yajl_complete_parse(h) != yajl_status_ok)
				r = s.rc ? s.rc : 1;
			else if (s.depth || s.root)
				r = 1;
			break;
		}
		total += (size_t)n;
		if (total > STREAM_MAX_BYTES || memchr(buf + carry, '\0', (size_t)n) ||
		    has_surrogate_escape(buf, carry + (size_t)n) ||
		    !utf8_strict((const unsigned char *)buf, carry + (size_t)n) || (first && !starts_like_json(buf, (size_t)n))) {
			r = 1;
			break;
		}
		first = false;
		if (yajl_parse(h, (const unsigned char *)buf + carry, (size_t)n) != yajl_status_ok) {
			r = s.rc ? s.rc : 1;
			break;
		}
		size_t have = carry + (size_t)n, keep = have < 8 ? have : 8;
		memmove(buf, buf + have - keep, keep);
		carry = keep;
	}
	free(buf);
	yajl_free(h);
	/* What a stop left half built. */
	arena_alloc_from = NULL;
	if (s.item_value)
		json_decref(s.item_value);
	if (s.root)
		json_decref(s.root);
	if (s.arena) {
		arena_destroy(&arena);
		arena_uninstall();
	}
	arena_alloc_from = saved_from;
	arena_owner = saved_owner;
	free(s.key);
	free(s.cap_key);
	free(s.kv);
	free(s.maps);
	free(s.seen);
	free(s.guesses);
	return r;
}
