/* SPDX-License-Identifier: Apache-2.0 */
/* A client of `godwit server` (libcurl): where the server is and its token
 * come from the options, else $GODWIT_SERVER / $GODWIT_TOKEN, else the
 * config file (~/.config/godwit/config, lines `server=URL` and
 * `token=TOKEN`). docs/api-server.md describes the API. */
#ifndef GODWIT_CLIENT_H
#define GODWIT_CLIENT_H

#include <jansson.h>

#include "godwit/util.h"

struct gw_client;

struct gw_client_options {
	const char *server;       /* "http://127.0.0.1:8443"; NULL = env, then config */
	const char *token;        /* NULL = env, then config */
	const char *config_path;  /* NULL = $XDG_CONFIG_HOME or ~/.config, /godwit/config */
	const char *ca_file;      /* HTTPS: CA bundle to verify the server with; NULL =
				   * $GODWIT_CA, then `ca=FILE` in the config, then the system's */
	long timeout_ms;          /* one request (not watches); 0 = 30000 */
};

int gw_client_new(const struct gw_client_options *opts, struct gw_client **out, struct gw_err **err);
void gw_client_free(struct gw_client *c);
const char *gw_client_server(const struct gw_client *c);

/* One request. body (may be NULL) is sent as JSON with content_type (NULL =
 * application/json). Returns 0 when an answer came, whatever its status
 * (*status), with its JSON body in *reply (NULL when empty or not JSON);
 * -ECONNREFUSED, -ETIMEDOUT, -EIO when none did. */
int gw_client_request(struct gw_client *c, const char *method, const char *path, const char *content_type,
		      const json_t *body, long *status, json_t **reply, struct gw_err **err);

/* Turns an error answer into an error: "404 NotFound: message". Returns
 * -ENOENT (404), -EBUSY (409), -EACCES (401), -EINVAL (400, 422), -EIO. */
int gw_client_error(long status, const json_t *reply, struct gw_err **err);
/* gw_client_request expecting a 2xx answer: 0 with its body in *reply
 * (may be NULL: dropped), or the error of gw_client_error. */
int gw_client_call(struct gw_client *c, const char *method, const char *path, const char *content_type,
		   const json_t *body, json_t **reply, struct gw_err **err);

/* Streams a watch (path with ?watch=true...). fn gets each event
 * (borrowed) and returns nonzero to stop. 0 when fn stopped it or the
 * server ended the stream; an error answer becomes an error. */
typedef int (*gw_client_event_fn)(void *data, const json_t *event);
int gw_client_watch(struct gw_client *c, const char *path, gw_client_event_fn fn, void *data,
		    struct gw_err **err);

/* Every resource the server holds (nodes, namespaces, VMs, VMIs, migrations,
 * policies, KubeVirt, pods, claims) added to `cluster` and linked: the
 * placement engine's input from a live server instead of files. */
struct gw_cluster;
int gw_client_load_cluster(struct gw_client *c, struct gw_cluster *cluster, struct gw_err **err);

#endif
