/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/api: field decoding with paths for errors, and a small
 * open-addressing string hash for the cluster index. */
#ifndef GODWIT_API_INTERNAL_H
#define GODWIT_API_INTERNAL_H

#include "godwit/api.h"

/* Every helper takes the parent object, the key and the parent's path
 * ("spec.domain"); errors read `spec.domain.cpu: 5: not an object`. A
 * JSON null counts as absent, as Kubernetes' decoders treat it. */
int dec_fail(struct gw_err **err, const char *path, const char *key, const json_t *value,
	     const char *what);
int dec_object(const json_t *parent, const char *path, const char *key, bool required,
	       const json_t **out, struct gw_err **err);
int dec_array(const json_t *parent, const char *path, const char *key, const json_t **out,
	      struct gw_err **err);
int dec_string(const json_t *parent, const char *path, const char *key, bool required, char **out,
	       struct gw_err **err);
int dec_bool(const json_t *parent, const char *path, const char *key, bool *has, bool *out,
	     struct gw_err **err);
int dec_int(const json_t *parent, const char *path, const char *key, int64_t min, int64_t max,
	    bool *has, int64_t *out, struct gw_err **err);
int dec_quantity(const json_t *parent, const char *path, const char *key, bool millis, bool *has,
		 int64_t *out, struct gw_err **err);
int dec_strv(const json_t *parent, const char *path, const char *key, struct gw_strv *out,
	     struct gw_err **err);
int dec_map(const json_t *parent, const char *path, const char *key, bool *has, struct gw_map *out,
	    struct gw_err **err);
/* One of `allowed` (NULL-terminated) or absent; *out is the index or -1. */
int dec_enum(const json_t *parent, const char *path, const char *key, const char *const *allowed,
	     int *out, struct gw_err **err);
/* "a.b" + "c" -> "a.b.c"; "a" + index 3 -> "a[3]" (into buf). */
const char *path_key(char *buf, size_t n, const char *path, const char *key);
const char *path_index(char *buf, size_t n, const char *path, size_t i);
#define PATH_MAX_LEN 256

/* The string table the decoders of this thread intern maps into (labels,
 * selectors: the maps are then borrowed, see struct gw_map); NULL, maps
 * own their strings. cluster_decode sets it to its cluster's for one
 * object's decoding; thread-local, so clusters decoded on different
 * threads do not meet. */
extern _Thread_local struct gw_strtab *dec_strings;
/* The cluster's string table, the one its decoders intern into (NULL: none). */
struct gw_strtab *cluster_strings(const struct gw_cluster *c);
/* The order of big maps' keys, remembered (map.c); set with dec_strings,
 * from the same cluster. */
struct map_sort_memo;
extern _Thread_local struct map_sort_memo *dec_sort_memo;
struct map_sort_memo *map_sort_memo_new(void);
void map_sort_memo_free(struct map_sort_memo *sm);
/* strings NULL: an owned map (sm unused); else interned, borrowed. */
int map_from_json(const json_t *obj, const char *where, struct gw_map *m, struct gw_strtab *strings,
		  struct map_sort_memo *sm, struct gw_err **err);
/* dst (not initialized) as src: the same arrays and strings when src is
 * borrowed (both then live as long as their cluster), else a copy. */
void map_share(struct gw_map *dst, const struct gw_map *src);
/* An owned map's strings and arrays moved into strings (interned, the
 * arrays cut to size): borrowed from then on. Nothing when strings is
 * NULL. */
void map_intern(struct gw_map *m, struct gw_strtab *strings);

int meta_decode(const json_t *doc, bool namespaced, struct gw_meta *m, struct gw_err **err);
void meta_fini(struct gw_meta *m);
int vmi_spec_decode(const json_t *spec, const char *path, struct gw_vmi_spec *s, struct gw_err **err);
void vmi_spec_fini(struct gw_vmi_spec *s);
int node_affinity_decode(const json_t *affinity, const char *path, struct gw_node_affinity *a,
			 struct gw_err **err);

/* ---- cluster.c, for load.c ------------------------------------------------ */
/* A decoded object not yet in the cluster, and where it was read. */
struct cluster_decoded {
	enum gw_kind kind;
	void *obj;
	char *where;      /* "a.json: document 1, items[3] (Node n1)" */
};
int cluster_decode(struct gw_cluster *c, enum gw_kind k, const json_t *doc, const char *where,
		   struct cluster_decoded *out, struct gw_err **err);
int cluster_insert(struct gw_cluster *c, struct cluster_decoded *d, struct gw_err **err);
void cluster_decoded_fini(struct cluster_decoded *d);
/* Whether an object of kind k decoded into c keeps its document. */
bool cluster_keeps_doc(const struct gw_cluster *c, enum gw_kind k);
bool cluster_is_list_kind(const char *kind);
/* The kind of a typed list's items ("NodeList" -> "Node"), NULL for "List". */
char *cluster_list_item_kind(const char *list_kind);
/* One item of a List, as gw_cluster_add_doc takes it: list_av is the
 * List's apiVersion (items of a typed list may leave kind out). */
int cluster_add_list_item(struct gw_cluster *c, const json_t *item, const char *item_kind, const json_t *list_av,
			  const char *iwhere, struct gw_err **err);

/* ---- string hash: key -> (value, where) -------------------------------- */
struct strhash_entry {
	char *key;        /* owned; NULL = empty slot */
	void *value;
	char *where;      /* owned, may be NULL: "a.yaml: document 2" */
	uint64_t hash;
};
struct strhash {
	struct strhash_entry *slots;
	size_t cap;       /* power of two */
	size_t n;
};
void strhash_init(struct strhash *h);
void strhash_fini(struct strhash *h);
/* The entry for key, or NULL. */
struct strhash_entry *strhash_get(const struct strhash *h, const char *key);
/* Adds key (copied); returns the existing entry instead when key is present. */
struct strhash_entry *strhash_put(struct strhash *h, const char *key, void *value, const char *where,
				  bool *existed);
/* The same, but *where is taken (and set to NULL) when key is added. */
struct strhash_entry *strhash_put_take(struct strhash *h, const char *key, void *value, char **where,
				       bool *existed);

#endif
