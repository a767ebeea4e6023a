/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP front end (libmicrohttpd): authentication, bounded bodies, content
 * types, dispatch to the handlers, and watch streams.
 *
 * Threads: libmicrohttpd's, one per connection (MHD_USE_THREAD_PER_CONNECTION),
 * so a watch waiting for events blocks only its own connection. Shared
 * state is the struct gw_server: read-only after start except `stopping`
 * (atomic) and vmim_lock (server_int.h). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>

#include "godwit/sched.h"
#include "godwit/store.h"
#include "server_int.h"

#define DEFAULT_MAX_BODY (4u << 20)
#define WATCH_POLL_MS 1000
/* An empty line every few idle seconds finds clients that went away
 * (the write fails and the stream ends). */
#define WATCH_HEARTBEAT_POLLS 5

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

void gw_server_logf(struct gw_server *s, const char *fmt, ...)
{
	if (!s->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	s->log(s->log_data, fmt, ap);
	va_end(ap);
}

/* One request, across libmicrohttpd's calls of the access handler. */
struct request {
	struct gw_buf body;
	bool too_large;
	bool answered;
};

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	if (!rq)
		return;
	gw_buf_fini(&rq->body);
	free(rq);
	*con_cls = NULL;
}

static mhd_result send_json(struct MHD_Connection *conn, unsigned status, const json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_add(&b, text ? text : "{}", text ? len : 2);
	gw_buf_puts(&b, "\n");
	free(text);
	struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
	b.data = NULL;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	mhd_result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static mhd_result send_reply(struct gw_server *s, struct MHD_Connection *conn, const char *method,
			     const char *url, struct gw_reply *r)
{
	gw_server_logf(s, "%s %s %u", method, url, r->status);
	mhd_result ret;
	if (r->text) {
		struct MHD_Response *resp =
			MHD_create_response_from_buffer(r->text_len, r->text, MHD_RESPMEM_MUST_FREE);
		r->text = NULL;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		ret = MHD_queue_response(conn, r->status, resp);
		MHD_destroy_response(resp);
	} else {
		ret = send_json(conn, r->status, r->body);
	}
	json_decref(r->body);
	r->body = NULL;
	return ret;
}

static bool authorized(struct gw_server *s, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	return gw_server_token_equal(h, s->token);
}

/* Content types a body may have; NULL = anything else (415). */
static const char *body_format(const char *content_type, const char *method)
{
	if (!content_type || !*content_type)
		return "auto";
	size_t n = strcspn(content_type, ";");
	while (n > 0 && content_type[n - 1] == ' ')
		n--;
	static const char *const ok[] = {"application/json", "application/yaml", "application/x-yaml",
					 "text/yaml", "text/x-yaml", "application/merge-patch+json"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(ok); i++)
		if (strlen(ok[i]) == n && !strncasecmp(content_type, ok[i], n)) {
			/* A PATCH states its kind of patch; only merge patches
			 * (and plain JSON, read as one) are supported. */
			return ok[i];
		}
	(void)method;
	return NULL;
}

/* ---- watch streams --------------------------------------------------------------- */

struct watch_stream {
	struct gw_server *server;
	struct gw_store_watch *watch;
	struct gw_store_selector *selector;   /* NULL = every object */
	json_t *initial;                      /* ADDED events still to send, or NULL */
	size_t initial_next;
	struct gw_buf pending;                /* encoded, not yet written */
	size_t pending_off;
	unsigned idle_polls;
	bool ended;
};

static void watch_stream_free(void *cls)
{
	struct watch_stream *w = cls;
	gw_store_watch_free(w->watch);
	gw_store_selector_free(w->selector);
	json_decref(w->initial);
	gw_buf_fini(&w->pending);
	free(w);
}

static void queue_event(struct watch_stream *w, const char *type, const json_t *object)
{
	json_t *ev = json_pack("{s:s, s:O}", "type", type, "object", object);
	char *text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!text)
		return;
	gw_buf_puts(&w->pending, text);
	gw_buf_puts(&w->pending, "\n");
	free(text);
}

static bool selected(const struct watch_stream *w, const json_t *obj)
{
	return !w->selector ||
	       gw_store_selector_matches(w->selector, json_object_get(json_object_get(obj, "metadata"), "labels"));
}

/* Fills w->pending with at least one line, or sets w->ended. */
static void watch_fill(struct watch_stream *w)
{
	if (w->initial) {
		while (w->initial_next < json_array_size(w->initial) && w->pending.len == 0) {
			json_t *obj = json_array_get(w->initial, w->initial_next++);
			queue_event(w, "ADDED", obj);
		}
		if (w->initial_next >= json_array_size(w->initial)) {
			json_decref(w->initial);
			w->initial = NULL;
		}
		if (w->pending.len)
			return;
	}
	while (w->pending.len == 0 && !atomic_load(&w->server->stopping)) {
		struct gw_store_event ev;
		_cleanup_err_ struct gw_err *err = NULL;
		int r = gw_store_watch_next(w->watch, WATCH_POLL_MS, &ev, &err);
		if (r == -ETIMEDOUT) {
			if (++w->idle_polls >= WATCH_HEARTBEAT_POLLS) {
				w->idle_polls = 0;
				gw_buf_puts(&w->pending, "\n");
			}
			continue;
		}
		if (r < 0) {
			/* Kubernetes sends the end of a watch as an ERROR event
			 * carrying a Status; 410 means re-list. */
			unsigned code = r == GW_STORE_EXPIRED ? 410 : 500;
			json_t *st = json_pack("{s:s, s:i, s:s, s:s}", "kind", "Status", "code", (int)code, "reason",
					       code == 410 ? "Expired" : "InternalError", "message",
					       code == 410 ? "expired, re-list" : gw_err_msg(err));
			queue_event(w, "ERROR", st);
			json_decref(st);
			w->ended = true;
			return;
		}
		w->idle_polls = 0;
		/* Kubernetes: with a selector, an object whose labels change
		 * enters the watch (ADDED) or leaves it (DELETED, carrying its
		 * previous state with the event's resourceVersion). */
		const char *type = gw_store_event_type_name(ev.type);
		const json_t *obj = ev.object;
		bool now = selected(w, ev.object);
		bool before = ev.prev_object ? selected(w, ev.prev_object) : now;
		if (now && !before) {
			type = "ADDED";
		} else if (!now && before) {
			type = "DELETED";
			obj = ev.prev_object;
		}
		if (now || before)
			queue_event(w, type, obj);
		gw_store_event_fini(&ev);
	}
	if (w->pending.len == 0)
		w->ended = true;
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct watch_stream *w = cls;
	if (w->pending_off >= w->pending.len) {
		w->pending.len = 0;
		w->pending_off = 0;
		if (w->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		watch_fill(w);
		if (w->pending.len == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = w->pending.len - w->pending_off;
	if (n > max)
		n = max;
	memcpy(buf, w->pending.data + w->pending_off, n);
	w->pending_off += n;
	return (ssize_t)n;
}

static mhd_result start_watch(struct gw_server *s, struct MHD_Connection *conn, const char *url,
			      const struct gw_route *rt, const char *selector_text, const char *rv_text)
{
	struct gw_reply r = {0};
	_cleanup_err_ struct gw_err *err = NULL;
	struct watch_stream *w = gw_calloc(1, sizeof(*w));
	w->server = s;
	gw_buf_init(&w->pending);
	int ret = 0;
	if (selector_text && *selector_text &&
	    gw_store_selector_parse(selector_text, &w->selector, &err) < 0) {
		gw_reply_error(&r, 400, "BadRequest", NULL, "labelSelector: %s", gw_err_msg(err));
		goto fail;
	}
	uint64_t from = 0;
	if (rv_text && *rv_text && !gw_str_to_u64(rv_text, &from)) {
		gw_reply_error(&r, 400, "BadRequest", NULL, "resourceVersion \"%s\": not a number", rv_text);
		goto fail;
	}
	if (from == 0) {
		/* No version: the current objects as ADDED, then changes
		 * (Kubernetes' "get state and start at most recent"). */
		int64_t list_rv = 0;
		ret = gw_store_list(s->store, rt->kind->plural, rt->ns, selector_text, &w->initial, &list_rv, &err);
		if (ret < 0) {
			gw_reply_from_err(&r, err);
			goto fail;
		}
		from = (uint64_t)list_rv;
	}
	if (from > INT64_MAX) {
		gw_reply_error(&r, 400, "BadRequest", NULL, "resourceVersion out of range");
		goto fail;
	}
	ret = gw_store_watch(s->store, rt->kind->plural, rt->ns, (int64_t)from, &w->watch, &err);
	if (ret < 0) {
		gw_reply_from_err(&r, err);
		goto fail;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, watch_read, w, watch_stream_free);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	gw_server_logf(s, "WATCH %s 200 from %llu", url, (unsigned long long)from);
	mhd_result q = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return q;
fail:
	watch_stream_free(w);
	return send_reply(s, conn, "WATCH", url, &r);
}

/* ---- dispatch -------------------------------------------------------------------- */

static bool query_true(const char *v)
{
	return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

/* Values in `v` counted as if written out. YAML aliases are shared, not
 * copied, by gw_doc_load_string, so a small body can stand for a huge
 * document ("billion laughs"); everything after parsing (validation, the
 * store's encoding) would expand it. Stops counting past `limit`. */
static size_t expanded_size(const json_t *v, size_t limit, size_t acc)
{
	if (++acc > limit)
		return acc;
	if (json_is_object(v)) {
		const char *key;
		json_t *x;
		json_object_foreach((json_t *)v, key, x) {
			acc = expanded_size(x, limit, acc + strlen(key));
			if (acc > limit)
				return acc;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			acc = expanded_size(x, limit, acc);
			if (acc > limit)
				return acc;
		}
	} else if (json_is_string(v)) {
		acc += json_string_length(v);
	}
	return acc;
}

static mhd_result dispatch(struct gw_server *s, struct MHD_Connection *conn, const char *url,
			   const char *method, struct request *rq)
{
	struct gw_reply r = {0};
	struct gw_route rt;
	if (!strcmp(url, "/healthz") || !strcmp(url, "/readyz")) {
		r.status = 200;
		r.body = json_pack("{s:s}", "status", "ok");
		return send_reply(s, conn, method, url, &r);
	}
	if (gw_route_parse(url, &rt) < 0) {
		gw_reply_error(&r, 404, "NotFound", NULL, "no resource at %s", url);
		return send_reply(s, conn, method, url, &r);
	}
	const char *selector = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "labelSelector");
	json_t *body = NULL;
	bool wants_body = !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
	if (wants_body) {
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		const char *fmt = body_format(ct, method);
		if (!fmt) {
			gw_reply_error(&r, 415, "UnsupportedMediaType", NULL,
				       "content type \"%s\": JSON, YAML or a JSON merge patch expected", ct);
			goto out;
		}
		if (!strcmp(method, "PATCH") && strcmp(fmt, "application/merge-patch+json") != 0 &&
		    strcmp(fmt, "application/json") != 0 && strcmp(fmt, "auto") != 0) {
			gw_reply_error(&r, 415, "UnsupportedMediaType", NULL,
				       "PATCH takes application/merge-patch+json");
			goto out;
		}
		if (rq->body.len == 0) {
			gw_reply_error(&r, 400, "BadRequest", NULL, "%s needs a body", method);
			goto out;
		}
		json_t *docs = NULL;
		_cleanup_err_ struct gw_err *err = NULL;
		if (gw_doc_load_string("body", rq->body.data, rq->body.len, &docs, &err) < 0) {
			if (err && err->code == -E2BIG)
				gw_reply_error(&r, 413, "RequestEntityTooLarge", NULL, "%s", gw_err_msg(err));
			else
				gw_reply_error(&r, 400, "BadRequest", NULL, "malformed body: %s", gw_err_msg(err));
			goto out;
		}
		if (json_array_size(docs) != 1 || !json_is_object(json_array_get(docs, 0))) {
			json_decref(docs);
			gw_reply_error(&r, 400, "BadRequest", NULL, "the body must be exactly one object");
			goto out;
		}
		body = json_incref(json_array_get(docs, 0));
		json_decref(docs);
		if (expanded_size(body, s->max_body_bytes, 0) > s->max_body_bytes) {
			gw_reply_error(&r, 413, "RequestEntityTooLarge", NULL,
				       "the body expands (YAML aliases) beyond the limit of %zu bytes", s->max_body_bytes);
			goto out;
		}
	}
	if (!strcmp(method, "GET")) {
		if (rt.name)
			gw_handle_get(s, &rt, &r);
		else if (query_true(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "watch"))) {
			const char *rv = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "resourceVersion");
			mhd_result q = start_watch(s, conn, url, &rt, selector, rv);
			gw_route_fini(&rt);
			return q;
		} else
			gw_handle_list(s, &rt, selector, &r);
	} else if (!strcmp(method, "POST")) {
		gw_handle_create(s, &rt, body, &r);
	} else if (!strcmp(method, "PUT")) {
		gw_handle_replace(s, &rt, body, &r);
	} else if (!strcmp(method, "PATCH")) {
		gw_handle_patch(s, &rt, body, &r);
	} else if (!strcmp(method, "DELETE")) {
		gw_handle_delete(s, &rt, &r);
	} else {
		gw_reply_error(&r, 405, "MethodNotAllowed", NULL, "method %s not allowed", method);
	}
out:
	json_decref(body);
	gw_route_fini(&rt);
	if (!r.body && !r.text)
		gw_reply_error(&r, 500, "InternalError", NULL, "no reply");
	return send_reply(s, conn, method, url, &r);
}

static mhd_result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				 const char *version, const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct gw_server *s = cls;
	struct request *rq = *con_cls;
	if (!rq) {
		/* First call: headers only. Refuse early what needs no body. */
		rq = gw_calloc(1, sizeof(*rq));
		gw_buf_init(&rq->body);
		*con_cls = rq;
		struct gw_reply r = {0};
		if (!authorized(s, conn)) {
			rq->answered = true;
			gw_reply_error(&r, 401, "Unauthorized", NULL, "a valid bearer token is required");
			return send_reply(s, conn, method, url, &r);
		}
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t len = 0;
		if (cl && gw_str_to_u64(cl, &len) && len > s->max_body_bytes) {
			rq->answered = true;
			gw_reply_error(&r, 413, "RequestEntityTooLarge", NULL, "body of %llu bytes: the limit is %zu",
				       (unsigned long long)len, s->max_body_bytes);
			return send_reply(s, conn, method, url, &r);
		}
		return MHD_YES;
	}
	if (rq->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!rq->too_large && rq->body.len + *upload_data_size <= s->max_body_bytes)
			gw_buf_add(&rq->body, upload_data, *upload_data_size);
		else {
			rq->too_large = true;
			gw_buf_fini(&rq->body);
			gw_buf_init(&rq->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	rq->answered = true;
	if (rq->too_large) {
		struct gw_reply r = {0};
		gw_reply_error(&r, 413, "RequestEntityTooLarge", NULL, "body over the limit of %zu bytes",
			       s->max_body_bytes);
		return send_reply(s, conn, method, url, &r);
	}
	return dispatch(s, conn, url, method, rq);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct gw_server *s = cls;
	if (s->log)
		s->log(s->log_data, fmt, ap);
}

int gw_server_start(struct gw_store *store, const struct gw_server_options *opts, struct gw_server **out,
		    struct gw_err **err)
{
	if (!opts || !opts->token || !*opts->token)
		return gw_err_set(err, -EINVAL, "server: a token is required");
	if (!opts->tls_cert_pem != !opts->tls_key_pem)
		return gw_err_set(err, -EINVAL, "server: TLS needs both a certificate and a key");
	const char *addr = opts->listen_addr && *opts->listen_addr ? opts->listen_addr : "127.0.0.1";
	if (opts->port < 0 || opts->port > 65535)
		return gw_err_set(err, -EINVAL, "server: port %d out of range", opts->port);
	struct sockaddr_storage ss = {0};
	bool v6 = false;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)opts->port);
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		v6 = true;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)opts->port);
	} else {
		return gw_err_set(err, -EINVAL, "server: listen address \"%s\": an IPv4 or IPv6 literal expected",
				  addr);
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (opts->tls_cert_pem) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			return gw_err_set(err, -ENOTSUP, "server: this libmicrohttpd has no TLS support");
		flags |= MHD_USE_TLS;
	}
	const struct gw_rule_set *rules = opts->rules ? gw_rules_by_name(opts->rules) : NULL;
	if (opts->rules && !rules)
		return gw_err_set(err, -EINVAL, "server: unknown rule set \"%s\" (godwit, kubevirt)", opts->rules);
	struct gw_server *s = gw_calloc(1, sizeof(*s));
	s->store = store;
	s->token = gw_strdup(opts->token);
	s->max_body_bytes = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;
	s->rules = rules;
	s->log = opts->log;
	s->log_data = opts->log_data;
	atomic_init(&s->stopping, false);
	pthread_mutex_init(&s->vmim_lock, NULL);
	unsigned max_conn = opts->max_connections ? opts->max_connections : 256;
	struct MHD_OptionItem tls_opts[] = {
		{opts->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)opts->tls_cert_pem},
		{opts->tls_key_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)opts->tls_key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, s,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_LIMIT, max_conn,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				     MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
				     MHD_OPTION_ARRAY, tls_opts,
				     MHD_OPTION_END);
	if (!s->daemon) {
		int e = errno ? errno : EADDRINUSE;
		gw_server_stop(s);
		return gw_err_set(err, -e, "server: cannot listen on %s:%d: %s", addr, opts->port, strerror(e));
	}
	if (gw_finalizers_start(s, &s->finalizers, err) < 0) {
		gw_server_stop(s);
		return -EAGAIN;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : opts->port;
	*out = s;
	return 0;
}

int gw_server_port(const struct gw_server *server)
{
	return server->port;
}

void gw_server_stop(struct gw_server *server)
{
	if (!server)
		return;
	atomic_store(&server->stopping, true);
	if (server->daemon)
		MHD_stop_daemon(server->daemon);
	gw_finalizers_stop(server->finalizers);
	pthread_mutex_destroy(&server->vmim_lock);
	free(server->token);
	free(server);
}
