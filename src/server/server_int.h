/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the server: routes, requests, handlers, admission. */
#ifndef GODWIT_SERVER_INT_H
#define GODWIT_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "godwit/api.h"
#include "godwit/server.h"

struct gw_route {
	const struct gw_server_resource *kind;
	char *ns;                 /* NULL: cluster-scoped, or a list across namespaces */
	char *name;               /* NULL: the collection */
	bool status;              /* the /status subresource */
};

/* Parses a request path (without the query). -ENOENT: no such resource
 * path. The route's strings are freed by gw_route_fini. */
int gw_route_parse(const char *path, struct gw_route *route);
void gw_route_fini(struct gw_route *route);
struct gw_server {
	struct gw_store *store;          /* borrowed */
	struct MHD_Daemon *daemon;
	char *token;
	size_t max_body_bytes;
	int port;
	gw_server_log_fn log;
	void *log_data;
	const struct gw_rule_set *rules; /* VMIM admission's; NULL = godwit */
	atomic_bool stopping;            /* watches end when set */
	/* Serializes VMIM admission and creation, so two migrations of one
	 * VMI cannot both pass the in-flight check. */
	pthread_mutex_t vmim_lock;
	struct gw_finalizers *finalizers;  /* its own thread (finalizers.c) */
};

/* Deletes objects whose last finalizer a direct store writer removed. */
struct gw_finalizers;
int gw_finalizers_start(struct gw_server *s, struct gw_finalizers **out, struct gw_err **err);
/* After server->stopping is set. */
void gw_finalizers_stop(struct gw_finalizers *f);

void gw_server_logf(struct gw_server *s, const char *fmt, ...) GW_PRINTF(2, 3);

/* A handler's answer: an HTTP status and a JSON body (owned), or the body
 * already encoded (`text`, owned, NUL-terminated, ending in a newline;
 * lists build it from the store's texts). */
struct gw_reply {
	unsigned status;
	json_t *body;
	char *text;
	size_t text_len;
};

/* {"kind":"Status","error":{"code","reason","message"[,"field"]}} */
void gw_reply_error(struct gw_reply *r, unsigned status, const char *reason, const char *field,
		    const char *fmt, ...) GW_PRINTF(5, 6);
/* From a store or decoder error: the status that fits its code. */
void gw_reply_from_err(struct gw_reply *r, const struct gw_err *err);

/* Handlers for one parsed request; `body` may be NULL (no body). */
void gw_handle_get(struct gw_server *s, const struct gw_route *rt, struct gw_reply *r);
void gw_handle_list(struct gw_server *s, const struct gw_route *rt, const char *selector, struct gw_reply *r);
void gw_handle_create(struct gw_server *s, const struct gw_route *rt, json_t *body, struct gw_reply *r);
void gw_handle_replace(struct gw_server *s, const struct gw_route *rt, json_t *body, struct gw_reply *r);
void gw_handle_patch(struct gw_server *s, const struct gw_route *rt, json_t *patch, struct gw_reply *r);
void gw_handle_delete(struct gw_server *s, const struct gw_route *rt, struct gw_reply *r);

/* Admission: validates an object of kind with its api decoder; 0 or an
 * error reply filled (422 with the field path). */
int gw_admit_validate(const struct gw_server_resource *k, const json_t *obj, struct gw_reply *r);
/* VMIM create (3.4): every reason the migration cannot be admitted; adds
 * the label and finalizer on success. Caller holds vmim_lock. */
int gw_admit_vmim_create(struct gw_server *s, json_t *obj, struct gw_reply *r);
/* Update rules: spec immutable for VMIMs and the vmi-name label kept. */
int gw_admit_update(const struct gw_server_resource *k, const json_t *old, const json_t *obj, struct gw_reply *r);

/* RFC 7386 JSON merge patch: returns the patched document (new reference). */
json_t *gw_merge_patch(const json_t *target, const json_t *patch);

#endif
