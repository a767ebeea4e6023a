/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the store: the backend vtable. store.c checks keys and objects,
 * fills metadata and applies label selectors; a backend stores the object
 * (without metadata.resourceVersion, which is the backend's revision) and
 * keeps the history watches read. */
#ifndef GODWIT_STORE_BACKEND_H
#define GODWIT_STORE_BACKEND_H

#include "godwit/store.h"

struct gw_store_ops;

/* First member of every backend's store. */
struct gw_store {
	const struct gw_store_ops *ops;
};

struct gw_store_watch {
	const struct gw_store_ops *ops;
};

struct gw_store_ops {
	const char *name;
	void (*close)(struct gw_store *s);
	/* *object: stored JSON with metadata.resourceVersion set. */
	int (*get)(struct gw_store *s, const char *kind, const char *ns, const char *name,
		   json_t **object, int64_t *rv, struct gw_err **err);
	/* The objects of kind (in ns unless NULL) that sel (NULL: all)
	 * matches, with versions; *list_rv: the snapshot's version. */
	int (*list)(struct gw_store *s, const char *kind, const char *ns,
		    const struct gw_store_selector *sel, json_t **items, int64_t *list_rv,
		    struct gw_err **err);
	/* Optional: the same list as JSON array text appended to out;
	 * -ENOTSUP sends gw_store_list_text to the generic encoding. */
	int (*list_text)(struct gw_store *s, const char *kind, const char *ns,
			 const struct gw_store_selector *sel, struct gw_buf *out, size_t *count,
			 int64_t *list_rv, struct gw_err **err);
	/* object has no resourceVersion; -EEXIST if the key exists. */
	int (*create)(struct gw_store *s, const char *kind, const char *ns, const char *name,
		      const json_t *object, int64_t *rv, struct gw_err **err);
	/* Replaces if the stored version is cas_rv: else -EBUSY and
	 * *current_rv set (0 if gone: then -ENOENT). */
	int (*update)(struct gw_store *s, const char *kind, const char *ns, const char *name,
		      const json_t *object, int64_t cas_rv, int64_t *rv, int64_t *current_rv,
		      struct gw_err **err);
	/* cas_rv 0 = unconditional. */
	int (*remove)(struct gw_store *s, const char *kind, const char *ns, const char *name,
		      int64_t cas_rv, int64_t *rv, int64_t *current_rv, struct gw_err **err);
	int (*compact)(struct gw_store *s, int64_t rv, struct gw_err **err);
	int (*current_rv)(struct gw_store *s, int64_t *rv, struct gw_err **err);
	int (*watch)(struct gw_store *s, const char *kind, const char *ns, int64_t from_rv,
		     struct gw_store_watch **w, struct gw_err **err);
	int (*watch_next)(struct gw_store_watch *w, int timeout_ms, struct gw_store_event *ev,
			  struct gw_err **err);
	void (*watch_free)(struct gw_store_watch *w);
};

int gw_store_sqlite_open(const char *path, const struct gw_store_options *opts,
			 struct gw_store **store, struct gw_err **err);
int gw_store_etcd_open(const char *endpoints, const struct gw_store_options *opts,
		       struct gw_store **store, struct gw_err **err);

/* Sets metadata.resourceVersion of object to rv, as a decimal string. */
void gw_store_set_rv(json_t *object, int64_t rv);
/* "kind/ns/name", for messages. Caller frees. */
char *gw_store_key(const char *kind, const char *ns, const char *name);
/* Parses a decimal int64 (whole string, >= 0). */
int gw_store_parse_rv(const char *text, int64_t *rv);

/* Base64 (RFC 4648, with padding), for etcd's JSON gateway. */
char *gw_base64_encode(const void *data, size_t len);
/* Strict: -EINVAL on a bad character, length or padding. *out is
 * NUL-terminated (not counted in *out_len). */
int gw_base64_decode(const char *text, size_t text_len, char **out, size_t *out_len);

#endif
