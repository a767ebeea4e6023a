/* SPDX-License-Identifier: Apache-2.0 */
/* The REST API over the store (docs/api-server.md): Kubernetes-style paths
 * and verbs for every resource of the placement engine, bearer-token
 * authentication, admission (validation with the api decoders, the VMIM
 * create rules of kubevirt-behaviour.md 3.4), finalizers, and watches
 * streamed as newline-delimited JSON events. libmicrohttpd, one thread per
 * connection (a watch blocks its own connection's thread only). */
#ifndef GODWIT_SERVER_H
#define GODWIT_SERVER_H

#include <stddef.h>

#include "godwit/api.h"
#include "godwit/store.h"
#include "godwit/util.h"

struct gw_server;

/* A resource type the API serves (also the CLI's table of kinds). */
struct gw_server_resource {
	const char *plural;       /* store kind and URL segment: "virtualmachines" */
	const char *kind;         /* "VirtualMachine" */
	const char *api_version;  /* "kubevirt.io/v1" */
	const char *prefix;       /* "/apis/kubevirt.io/v1" */
	bool namespaced;
	enum gw_kind gw_kind;
};
extern const struct gw_server_resource gw_server_resources[];
extern const size_t gw_server_resources_count;
const struct gw_server_resource *gw_server_resource_by_plural(const char *plural);
/* By kind ("VirtualMachine", any case), plural or short name (vm, vmi, vmim, ...); NULL if unknown. */
const struct gw_server_resource *gw_server_resource_lookup(const char *name);
/* The URL path of a collection (name NULL) or an object; ns NULL for
 * cluster-scoped kinds or a list across namespaces. Caller frees. */
char *gw_server_resource_path(const struct gw_server_resource *r, const char *ns, const char *name);

/* Called for each request served and for server-side failures; the
 * library itself never prints. May be called from any connection thread. */
typedef void (*gw_server_log_fn)(void *data, const char *fmt, va_list ap);

struct gw_server_options {
	const char *listen_addr;    /* IPv4 or IPv6 literal; NULL = "127.0.0.1" */
	int port;                   /* 0 = any free port (gw_server_port tells) */
	const char *token;          /* required bearer token (not NULL, not empty) */
	size_t max_body_bytes;      /* 0 = 4 MiB; larger bodies get 413 */
	unsigned max_connections;   /* 0 = 256 */
	const char *tls_cert_pem;   /* both or neither: HTTPS (PEM text, not paths) */
	const char *tls_key_pem;
	gw_server_log_fn log;       /* may be NULL */
	void *log_data;
	/* The rule set VMIM admission checks migratability with: "godwit"
	 * (NULL) or "kubevirt"; the controllers' should be the same. */
	const char *rules;
};

/* Starts serving `store` (borrowed: it must outlive the server). */
int gw_server_start(struct gw_store *store, const struct gw_server_options *opts, struct gw_server **out,
		    struct gw_err **err);
/* The port actually bound. */
int gw_server_port(const struct gw_server *server);
/* Ends every watch, waits for the connection threads, frees. Accepts NULL. */
void gw_server_stop(struct gw_server *server);

/* The token in dir/token: read it, or create it at first start (32 random
 * bytes as 64 hex digits, file mode 0600). A token file readable by group
 * or others is refused (-EPERM). *token is the caller's to free. */
int gw_server_token_init(const char *dir, char **token, struct gw_err **err);
/* Constant-time comparison of a presented token with the expected one. */
bool gw_server_token_equal(const char *presented, const char *expected);

#endif
