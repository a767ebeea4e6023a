/* SPDX-License-Identifier: Apache-2.0 */
/* The control plane's store: JSON objects keyed by (kind, namespace, name),
 * a store-wide resourceVersion, compare-and-swap updates and ordered watches.
 * Two backends behind one interface: an embedded SQLite file (default) and
 * an etcd cluster (v3 HTTP/JSON gateway). docs/store.md has the semantics.
 *
 * Error codes (negative errno, with a message in *err):
 *   -ENOENT   no such object
 *   -EEXIST   create of an object that exists
 *   -EBUSY    conflict: the resourceVersion given is not the stored one
 *             (the message names both)
 *   GW_STORE_EXPIRED (-ESTALE): watch from a resourceVersion whose history
 *             was compacted: "resourceVersion N is too old, re-list"
 *   -ETIMEDOUT gw_store_watch_next found no event in time
 *   -EINVAL   bad key, object or selector
 *   -EIO      backend failure (SQLite error, etcd unreachable or malformed)
 *   -EBUSY    also from gw_store_open: another server holds the SQLite file */
#ifndef GODWIT_STORE_H
#define GODWIT_STORE_H

#include <stdint.h>

#include <jansson.h>

#include "godwit/util.h"

#define GW_STORE_EXPIRED (-ESTALE)

struct gw_store;
struct gw_store_watch;

struct gw_store_options {
	/* SQLite: watch history kept, in events (older ones are compacted);
	 * 0 = the default, 100000. etcd keeps its own history (its
	 * --auto-compaction-* flags) and ignores this. */
	int64_t history_events;
	/* SQLite: no cache of parsed objects for lists (see gw_store_list). */
	bool no_list_cache;
	/* etcd: timeout of one request in ms (0 = 5000) and of connecting to
	 * one endpoint (0 = 1000). */
	long request_timeout_ms;
	long connect_timeout_ms;
	/* etcd: prefix of every key (NULL = "/godwit"); lets tests and
	 * several installations share one cluster. */
	const char *etcd_prefix;
	/* etcd: keys per range request when listing (0 = 1000); a list is
	 * read in pages, all at the first page's revision. */
	int64_t etcd_list_page;
};

/* url: "sqlite:PATH" (or a bare PATH) or
 * "etcd:http://127.0.0.1:2379,http://127.0.0.1:22379,...".
 * opts may be NULL. SQLite: a second open of the same file, from this or
 * another process, fails with -EBUSY while the first is open. */
int gw_store_open(const char *url, const struct gw_store_options *opts, struct gw_store **store,
		  struct gw_err **err);
/* Every watch of the store must be freed first. Accepts NULL. */
void gw_store_close(struct gw_store *store);
/* "sqlite" or "etcd". */
const char *gw_store_backend(const struct gw_store *store);

/* Objects are JSON objects with metadata.name (and metadata.namespace,
 * absent or "" for cluster-scoped kinds). Every object returned carries
 * metadata.resourceVersion as a decimal string (as Kubernetes does); inputs
 * accept a string or an integer there. Returned objects are new references
 * owned by the caller. kind is the resource, e.g. "virtualmachineinstances":
 * [a-z0-9.-]+; names and namespaces: 1..253 bytes, no '/'. */
int gw_store_get(struct gw_store *store, const char *kind, const char *ns, const char *name,
		 json_t **object, struct gw_err **err);

/* Objects of kind in ns (NULL = every namespace) whose metadata.labels match
 * selector (NULL or "" = all), sorted by namespace then name, as a new JSON
 * array; *list_rv (may be NULL) is the store's resourceVersion at which the
 * list was read: a watch from it misses nothing and repeats nothing.
 * The array is the caller's; its objects are READ-ONLY: the SQLite backend
 * shares them with its cache of parsed objects (as the Kubernetes API
 * server's watch cache does). json_deep_copy one before changing it.
 * Selector: comma-separated requirements, all must hold:
 *   k=v  k==v  k!=v  k  !k  k in (v1,v2)  k notin (v1,v2) */
int gw_store_list(struct gw_store *store, const char *kind, const char *ns, const char *selector,
		  json_t **items, int64_t *list_rv, struct gw_err **err);

/* The list of gw_store_list as JSON text, for the API server: appends the
 * items array ("[{...},{...}]", compact, each object with its
 * resourceVersion, sorted as gw_store_list sorts) to *out; *count items.
 * The SQLite backend keeps each cached object's text beside it (encoded by
 * the first list that needs it, dropped when the object is written), so a
 * repeated list is a concatenation; other backends encode each item. */
int gw_store_list_text(struct gw_store *store, const char *kind, const char *ns, const char *selector,
		       struct gw_buf *out, size_t *count, int64_t *list_rv, struct gw_err **err);

/* Creates object (borrowed, not modified). Sets metadata.uid (random UUID)
 * and metadata.creationTimestamp (RFC 3339, UTC) when absent. A
 * resourceVersion in the input is refused (-EINVAL), as Kubernetes does.
 * *created (may be NULL) receives the stored object with its version. */
int gw_store_create(struct gw_store *store, const char *kind, const json_t *object,
		    json_t **created, struct gw_err **err);

/* Replaces the object named by object's metadata if its stored
 * resourceVersion equals object's metadata.resourceVersion, else -EBUSY.
 * Absent (or "0"/0) resourceVersion = unconditional update. uid and
 * creationTimestamp are kept from the stored object. */
int gw_store_update(struct gw_store *store, const char *kind, const json_t *object,
		    json_t **updated, struct gw_err **err);

/* Deletes; precondition_rv > 0 requires that stored version (else -EBUSY).
 * *deleted_rv (may be NULL) is the resourceVersion of the deletion. */
int gw_store_delete(struct gw_store *store, const char *kind, const char *ns, const char *name,
		    int64_t precondition_rv, int64_t *deleted_rv, struct gw_err **err);

/* Discards watch history up to and including rv: watches from below rv then
 * get GW_STORE_EXPIRED. Normally automatic (see history_events). */
int gw_store_compact(struct gw_store *store, int64_t rv, struct gw_err **err);

/* The store's current resourceVersion. */
int gw_store_current_rv(struct gw_store *store, int64_t *rv, struct gw_err **err);

enum gw_store_event_type {
	GW_STORE_ADDED,
	GW_STORE_MODIFIED,
	GW_STORE_DELETED,
};
const char *gw_store_event_type_name(enum gw_store_event_type type);

struct gw_store_event {
	enum gw_store_event_type type;
	int64_t rv;      /* of this change; DELETED: of the deletion */
	json_t *object;  /* owned; DELETED: the last state, with the deletion's rv */
	/* MODIFIED whose metadata.labels changed: the previous state (owned,
	 * with this event's rv), so that a label-selector watch can tell an
	 * object that leaves its selector from one that stays; NULL when the
	 * labels did not change (and for events recorded before the store
	 * kept it). */
	json_t *prev_object;
};
void gw_store_event_fini(struct gw_store_event *event);

/* Watches changes of kind in ns (NULL = every namespace) after from_rv
 * (from_rv = 0: from now). Events come in resourceVersion order, none
 * lost, none repeated. from_rv older than the history gives
 * GW_STORE_EXPIRED (here or from gw_store_watch_next). One watch is used by
 * one thread at a time. */
int gw_store_watch(struct gw_store *store, const char *kind, const char *ns, int64_t from_rv,
		   struct gw_store_watch **watch, struct gw_err **err);
/* Waits up to timeout_ms (-1 = forever) for the next event: 0 and *event
 * filled (release with gw_store_event_fini), -ETIMEDOUT, GW_STORE_EXPIRED
 * (re-list, then watch from the list's rv), or another error. */
int gw_store_watch_next(struct gw_store_watch *watch, int timeout_ms, struct gw_store_event *event,
			struct gw_err **err);
/* Accepts NULL. */
void gw_store_watch_free(struct gw_store_watch *watch);

/* Label selectors, usable on their own (gw_store_list uses them). */
struct gw_store_selector;
int gw_store_selector_parse(const char *text, struct gw_store_selector **selector,
			    struct gw_err **err);
/* labels: a JSON object of strings, or NULL (no labels). */
bool gw_store_selector_matches(const struct gw_store_selector *selector, const json_t *labels);
void gw_store_selector_free(struct gw_store_selector *selector);

#endif
