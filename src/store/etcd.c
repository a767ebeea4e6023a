/* SPDX-License-Identifier: Apache-2.0 */
/* The etcd backend: etcd's v3 HTTP/JSON gateway (etcd 3.4: /v3/kv/range,
 * /v3/kv/txn, /v3/kv/compaction, /v3/watch) through libcurl.
 *
 * Key of an object: <prefix>/<kind>/<namespace>/<name>; value: the object's
 * JSON without metadata.resourceVersion, which is the key's mod_revision.
 * Writes are transactions comparing create_revision (create) or
 * mod_revision (update, delete), so a lost race is a conflict, never a
 * silent overwrite.
 *
 * Requests run concurrently, each on a pooled curl handle.
 *
 * Endpoints: tried in order from the last one that answered; a request
 * moves to the next endpoint when it cannot connect, and, for reads or
 * when etcd says it has no leader (nothing was proposed), on any failure.
 * A write whose fate is unknown (timeout after sending) is not repeated:
 * the caller gets -EIO and re-reads.
 *
 * Everything etcd sends is checked: JSON types, base64, integer ranges,
 * and a cap on response size. */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "backend.h"

#define DEFAULT_PREFIX "/godwit"
#define MAX_RESPONSE_BYTES (512u << 20)
#define MAX_WATCH_LINE_BYTES (64u << 20)
#define LIST_PAGE 1000
#define CURL_POOL 16

struct etcd_store {
	struct gw_store base;
	struct gw_strv endpoints;
	char *prefix;
	long request_timeout_ms;
	long connect_timeout_ms;
	int64_t list_page;
	pthread_mutex_t lock; /* guards idle, idle_n, preferred */
	/* Idle handles (each keeps its connections): concurrent requests each
	 * take one, so they do not wait for one another. */
	CURL *idle[CURL_POOL];
	size_t idle_n;
	size_t preferred; /* index of the endpoint that last answered */
};

struct queued_event {
	struct gw_store_event ev;
	struct queued_event *next;
};

struct etcd_watch {
	struct gw_store_watch base;
	struct etcd_store *s;
	char *key_b64, *end_b64;
	size_t prefix_len; /* of "<prefix>/" */
	CURLM *multi;      /* used by the thread; curl_multi_wakeup from others */
	pthread_t thread;
	bool thread_started;
	/* Thread only: */
	int64_t next_rev;
	struct gw_buf line;
	int http_status_checked;
	/* Guarded by lock: */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	struct queued_event *head, *tail;
	bool stop;
	int error;
	char *error_msg;
};

static const struct gw_store_ops etcd_ops;

/* ---- JSON and base64 from etcd ------------------------------------------ */

/* proto3 JSON: int64 as a string, omitted when zero. */
static int j_int64(const json_t *obj, const char *field, int64_t *v)
{
	json_t *x = json_object_get(obj, field);
	*v = 0;
	if (!x)
		return 0;
	if (json_is_string(x))
		return gw_store_parse_rv(json_string_value(x), v);
	if (json_is_integer(x) && json_integer_value(x) >= 0) {
		*v = json_integer_value(x);
		return 0;
	}
	return -EINVAL;
}

static int j_bytes(const json_t *obj, const char *field, char **out, size_t *len)
{
	json_t *x = json_object_get(obj, field);
	if (!x) {
		*out = gw_strdup("");
		*len = 0;
		return 0;
	}
	if (!json_is_string(x))
		return -EINVAL;
	return gw_base64_decode(json_string_value(x), json_string_length(x), out, len);
}

static json_t *b64_string(const char *s, size_t len)
{
	char *b = gw_base64_encode(s, len);
	json_t *j = json_string(b);
	free(b);
	return j;
}

/* A kv: the object (value + rv = mod_revision) and its version. */
static int parse_kv(const json_t *kv, json_t **object, int64_t *mod_rev, int64_t *version,
		    struct gw_err **err)
{
	char *value = NULL;
	size_t len;
	*object = NULL;
	if (!json_is_object(kv) || j_int64(kv, "mod_revision", mod_rev) ||
	    j_int64(kv, "version", version) || j_bytes(kv, "value", &value, &len))
		return gw_err_set(err, -EIO, "etcd: malformed key-value in response");
	json_error_t je;
	json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
	free(value);
	if (!json_is_object(o) || *mod_rev <= 0) {
		json_decref(o);
		return gw_err_set(err, -EIO, "etcd: stored value is not a Godwit object");
	}
	gw_store_set_rv(o, *mod_rev);
	*object = o;
	return 0;
}

/* ---- requests --------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_global(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct body {
	struct gw_buf buf;
	bool too_big;
	size_t cap;
};

static size_t collect(char *data, size_t size, size_t n, void *user)
{
	struct body *b = user;
	if (b->buf.len + n > b->cap) {
		b->too_big = true;
		return 0;
	}
	gw_buf_add(&b->buf, data, n);
	return n;
}

static bool transport_not_sent(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
	       c == CURLE_COULDNT_RESOLVE_PROXY;
}

/* grpc-gateway error: {"error": "...", "code": N, "message": "..."}. */
static const char *error_message(const json_t *resp)
{
	const char *m = json_string_value(json_object_get(resp, "message"));
	if (!m)
		m = json_string_value(json_object_get(resp, "error"));
	return m ? m : "no message";
}

enum retry { RETRY_NEVER, RETRY_IDEMPOTENT };

static CURL *take_handle(struct etcd_store *s, size_t *preferred)
{
	pthread_mutex_lock(&s->lock);
	CURL *c = s->idle_n ? s->idle[--s->idle_n] : NULL;
	*preferred = s->preferred;
	pthread_mutex_unlock(&s->lock);
	return c ? c : curl_easy_init();
}

static void give_handle(struct etcd_store *s, CURL *c)
{
	pthread_mutex_lock(&s->lock);
	if (s->idle_n < CURL_POOL) {
		s->idle[s->idle_n++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (c)
		curl_easy_cleanup(c);
}

/* POSTs body to path; 0 and *resp (a JSON object) on HTTP 200. */
static int call(struct etcd_store *s, const char *path, json_t *body, enum retry retry,
		json_t **resp, struct gw_err **err)
{
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	*resp = NULL;
	int r = -EIO;
	char last[512] = "no endpoint";
	uint64_t deadline = gw_now_ns() + (uint64_t)s->request_timeout_ms * 1000000ull;
	size_t preferred, n = s->endpoints.n;
	CURL *c = take_handle(s, &preferred);
	if (!c)
		return gw_err_set(err, -ENOMEM, "etcd %s: curl_easy_init failed", path);
	for (size_t attempt = 0;; attempt++) {
		if (attempt >= n && gw_now_ns() >= deadline)
			break;
		if (attempt && attempt % n == 0) {
			/* A whole round failed: wait a little (an election takes about
			 * one election timeout, 1 s by default). */
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL);
		}
		size_t idx = (preferred + attempt) % n;
		_cleanup_free_ char *url = gw_asprintf("%s%s", s->endpoints.v[idx], path);
		struct body b = {.cap = MAX_RESPONSE_BYTES};
		gw_buf_init(&b.buf);
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->request_timeout_ms);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		CURLcode cc = curl_easy_perform(c);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK) {
			snprintf(last, sizeof(last), "%s: %s", s->endpoints.v[idx],
				 b.too_big ? "response too large" : curl_easy_strerror(cc));
			gw_buf_fini(&b.buf);
			if (transport_not_sent(cc) || retry == RETRY_IDEMPOTENT)
				continue;
			r = -EIO;
			break;
		}
		json_error_t je;
		json_t *j = b.buf.len ? json_loadb(b.buf.data, b.buf.len, 0, &je) : NULL;
		gw_buf_fini(&b.buf);
		if (!json_is_object(j)) {
			json_decref(j);
			snprintf(last, sizeof(last), "%s: HTTP %ld, not a JSON object",
				 s->endpoints.v[idx], status);
			if (retry == RETRY_IDEMPOTENT)
				continue;
			r = -EIO;
			break;
		}
		if (status == 200) {
			if (idx != preferred) {
				pthread_mutex_lock(&s->lock);
				s->preferred = idx;
				pthread_mutex_unlock(&s->lock);
			}
			*resp = j;
			r = 0;
			break;
		}
		const char *m = error_message(j);
		snprintf(last, sizeof(last), "%s: HTTP %ld: %s", s->endpoints.v[idx], status, m);
		bool no_leader = strstr(m, "no leader") != NULL;
		bool compacted = strstr(m, "compacted") != NULL;
		json_decref(j);
		if (compacted) {
			r = GW_STORE_EXPIRED;
			break;
		}
		if (no_leader || retry == RETRY_IDEMPOTENT)
			continue;
		r = -EIO;
		break;
	}
	give_handle(s, c);
	if (r < 0)
		return gw_err_set(err, r, "etcd %s: %s", path, last);
	return 0;
}

static char *object_key(struct etcd_store *s, const char *kind, const char *ns, const char *name)
{
	return gw_asprintf("%s/%s/%s/%s", s->prefix, kind, ns, name);
}

/* The end of the range of keys starting with prefix: prefix with its last
 * byte incremented (prefixes here end in '/', never 0xff). */
static char *range_end(const char *prefix)
{
	char *end = gw_strdup(prefix);
	end[strlen(end) - 1]++;
	return end;
}

static int header_revision(const json_t *resp, int64_t *rev, struct gw_err **err)
{
	if (j_int64(json_object_get(resp, "header"), "revision", rev) || *rev <= 0)
		return gw_err_set(err, -EIO, "etcd: response without a valid header.revision");
	return 0;
}

static int range_one(struct etcd_store *s, const char *key, json_t **object, int64_t *rev,
		     struct gw_err **err)
{
	json_t *req = json_pack("{s:o}", "key", b64_string(key, strlen(key)));
	json_t *resp = NULL;
	int r = call(s, "/v3/kv/range", req, RETRY_IDEMPOTENT, &resp, err);
	json_decref(req);
	if (r < 0)
		return r;
	json_t *kvs = json_object_get(resp, "kvs");
	int64_t version;
	*object = NULL;
	*rev = 0;
	if (kvs && (!json_is_array(kvs) || json_array_size(kvs) > 1))
		r = gw_err_set(err, -EIO, "etcd: range: malformed kvs");
	else if (json_array_size(kvs) == 1)
		r = parse_kv(json_array_get(kvs, 0), object, rev, &version, err);
	json_decref(resp);
	return r;
}

static int etcd_get(struct gw_store *base, const char *kind, const char *ns, const char *name,
		    json_t **object, int64_t *rv, struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	_cleanup_free_ char *key = object_key(s, kind, ns, name);
	int r = range_one(s, key, object, rv, err);
	if (r == 0 && !*object)
		return gw_err_set(err, -ENOENT, "store: %s/%s/%s not found", kind, ns, name);
	return r;
}

static int etcd_list(struct gw_store *base, const char *kind, const char *ns,
		     const struct gw_store_selector *sel, json_t **items, int64_t *list_rv,
		     struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	_cleanup_free_ char *prefix = ns ? gw_asprintf("%s/%s/%s/", s->prefix, kind, ns)
					 : gw_asprintf("%s/%s/", s->prefix, kind);
	_cleanup_free_ char *end = range_end(prefix);
	_cleanup_free_ char *from = gw_strdup(prefix);
	size_t from_len = strlen(from);
	json_t *arr = json_array();
	int64_t revision = 0;
	int r = 0;
	/* Pages of LIST_PAGE keys, all read at the first page's revision so
	 * the list is one consistent snapshot. */
	for (;;) {
		json_t *req = json_pack("{s:o, s:o, s:I}", "key", b64_string(from, from_len),
					"range_end", b64_string(end, strlen(end)), "limit",
					(json_int_t)s->list_page);
		if (revision)
			json_object_set_new(req, "revision", json_integer(revision));
		json_t *resp = NULL;
		r = call(s, "/v3/kv/range", req, RETRY_IDEMPOTENT, &resp, err);
		json_decref(req);
		if (r < 0)
			break;
		if (!revision && (r = header_revision(resp, &revision, err)) < 0) {
			json_decref(resp);
			break;
		}
		json_t *kvs = json_object_get(resp, "kvs");
		if (kvs && !json_is_array(kvs)) {
			json_decref(resp);
			r = gw_err_set(err, -EIO, "etcd: range: malformed kvs");
			break;
		}
		size_t i;
		json_t *kv;
		char *last_key = NULL;
		size_t last_len = 0;
		json_array_foreach(kvs, i, kv) {
			json_t *o;
			int64_t mod, version;
			if ((r = parse_kv(kv, &o, &mod, &version, err)) < 0)
				break;
			if (!sel || gw_store_selector_matches(
					    sel, json_object_get(json_object_get(o, "metadata"), "labels")))
				json_array_append_new(arr, o);
			else
				json_decref(o);
			if (i + 1 == json_array_size(kvs)) {
				if (j_bytes(kv, "key", &last_key, &last_len) < 0)
					r = gw_err_set(err, -EIO, "etcd: range: malformed key");
			}
		}
		bool more = json_is_true(json_object_get(resp, "more"));
		size_t page = json_array_size(kvs);
		json_decref(resp); /* kvs with it */
		if (r < 0 || !more || !last_key || !page) {
			free(last_key);
			break;
		}
		/* Next page starts just after the last key: key + "\0". */
		free(from);
		from = gw_malloc(last_len + 2);
		memcpy(from, last_key, last_len);
		from[last_len] = '\0';
		from_len = last_len + 1;
		free(last_key);
	}
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*items = arr;
	*list_rv = revision;
	return 0;
}

/* {"key": k, "target": T, "result": R, "<field>": v} */
static json_t *compare(const char *key, const char *target, const char *result, const char *field,
		       int64_t value)
{
	json_t *c = json_pack("{s:o, s:s, s:s}", "key", b64_string(key, strlen(key)), "target",
			      target, "result", result);
	char v[24];
	snprintf(v, sizeof(v), "%" PRId64, value);
	json_object_set_new(c, field, json_string(v));
	return c;
}

/* Runs a txn; *succeeded, *rev (header), and on failure the current
 * mod_revision of key (0: absent) from the failure branch's range. */
static int txn(struct etcd_store *s, const char *key, json_t *cmp, json_t *success,
	       bool *succeeded, int64_t *rev, int64_t *current_rev, struct gw_err **err)
{
	json_t *req = json_pack("{s:[o], s:[o], s:[{s:{s:o}}]}", "compare", cmp, "success",
				success, "failure", "request_range", "key",
				b64_string(key, strlen(key)));
	json_t *resp = NULL;
	int r = call(s, "/v3/kv/txn", req, RETRY_NEVER, &resp, err);
	json_decref(req);
	if (r < 0)
		return r;
	*succeeded = json_is_true(json_object_get(resp, "succeeded"));
	*current_rev = 0;
	if ((r = header_revision(resp, rev, err)) == 0 && !*succeeded) {
		json_t *range = json_object_get(json_array_get(json_object_get(resp, "responses"), 0),
						"response_range");
		json_t *kvs = json_object_get(range, "kvs");
		if (!json_is_object(range) || (kvs && !json_is_array(kvs)))
			r = gw_err_set(err, -EIO, "etcd: txn: malformed failure response");
		else if (json_array_size(kvs) &&
			 j_int64(json_array_get(kvs, 0), "mod_revision", current_rev))
			r = gw_err_set(err, -EIO, "etcd: txn: malformed mod_revision");
	}
	json_decref(resp);
	return r;
}

static json_t *put_op(const char *key, const json_t *object)
{
	char *value = json_dumps(object, JSON_COMPACT);
	json_t *op = json_pack("{s:{s:o, s:o}}", "request_put", "key", b64_string(key, strlen(key)),
			       "value", b64_string(value, strlen(value)));
	free(value);
	return op;
}

static int etcd_create(struct gw_store *base, const char *kind, const char *ns, const char *name,
		       const json_t *object, int64_t *rv, struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	_cleanup_free_ char *key = object_key(s, kind, ns, name);
	bool ok;
	int64_t cur;
	int r = txn(s, key, compare(key, "CREATE", "EQUAL", "create_revision", 0),
		    put_op(key, object), &ok, rv, &cur, err);
	if (r < 0)
		return r;
	if (!ok)
		return gw_err_set(err, -EEXIST, "store: create %s/%s/%s: already exists", kind, ns,
				  name);
	return 0;
}

static int etcd_update(struct gw_store *base, const char *kind, const char *ns, const char *name,
		       const json_t *object, int64_t cas_rv, int64_t *rv, int64_t *current_rv,
		       struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	_cleanup_free_ char *key = object_key(s, kind, ns, name);
	bool ok;
	int r = txn(s, key, compare(key, "MOD", "EQUAL", "mod_revision", cas_rv),
		    put_op(key, object), &ok, rv, current_rv, err);
	if (r < 0)
		return r;
	if (ok)
		return 0;
	if (!*current_rv)
		return gw_err_set(err, -ENOENT, "store: update %s/%s/%s: not found", kind, ns, name);
	return gw_err_set(err, -EBUSY, "store: update %s/%s/%s: conflict", kind, ns, name);
}

static int etcd_remove(struct gw_store *base, const char *kind, const char *ns, const char *name,
		       int64_t cas_rv, int64_t *rv, int64_t *current_rv, struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	_cleanup_free_ char *key = object_key(s, kind, ns, name);
	json_t *cmp = cas_rv ? compare(key, "MOD", "EQUAL", "mod_revision", cas_rv)
			     : compare(key, "VERSION", "GREATER", "version", 0);
	json_t *del = json_pack("{s:{s:o}}", "request_delete_range", "key",
				b64_string(key, strlen(key)));
	bool ok;
	int r = txn(s, key, cmp, del, &ok, rv, current_rv, err);
	if (r < 0)
		return r;
	if (ok)
		return 0;
	if (!*current_rv)
		return gw_err_set(err, -ENOENT, "store: delete %s/%s/%s: not found", kind, ns, name);
	return gw_err_set(err, -EBUSY, "store: delete %s/%s/%s: conflict", kind, ns, name);
}

static int etcd_compact(struct gw_store *base, int64_t rv, struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	json_t *req = json_pack("{s:I, s:b}", "revision", (json_int_t)rv, "physical", 1);
	json_t *resp = NULL;
	struct gw_err *e = NULL;
	int r = call(s, "/v3/kv/compaction", req, RETRY_NEVER, &resp, &e);
	json_decref(req);
	json_decref(resp);
	if (r == GW_STORE_EXPIRED) {
		/* Already compacted at or beyond rv: what was asked holds. */
		gw_err_free(e);
		return 0;
	}
	if (r < 0 && err && !*err)
		*err = e;
	else
		gw_err_free(e);
	return r;
}

static int etcd_current_rv(struct gw_store *base, int64_t *rv, struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	json_t *req = json_pack("{s:o, s:I, s:b}", "key", b64_string(s->prefix, strlen(s->prefix)),
				"limit", (json_int_t)1, "keys_only", 1);
	json_t *resp = NULL;
	int r = call(s, "/v3/kv/range", req, RETRY_IDEMPOTENT, &resp, err);
	json_decref(req);
	if (r == 0)
		r = header_revision(resp, rv, err);
	json_decref(resp);
	return r;
}

/* ---- watch ---------------------------------------------------------------
 * A thread (gw-etcd-watch) holds one streaming POST /v3/watch and queues
 * what it reads; on a broken stream it reconnects to the next endpoint
 * from the revision after the last event queued, so nothing is lost or
 * repeated. */

static void watch_fail(struct etcd_watch *w, int code, const char *fmt, ...) GW_PRINTF(3, 4);
static void watch_fail(struct etcd_watch *w, int code, const char *fmt, ...)
{
	va_list ap;
	struct gw_buf b;
	gw_buf_init(&b);
	va_start(ap, fmt);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&w->lock);
	if (!w->error) {
		w->error = code;
		w->error_msg = gw_buf_steal(&b);
	}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	gw_buf_fini(&b);
}

static void watch_push(struct etcd_watch *w, struct gw_store_event *ev)
{
	struct queued_event *q = gw_calloc(1, sizeof(*q));
	q->ev = *ev;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = q;
	else
		w->head = q;
	w->tail = q;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* The object of a DELETE without prev_kv: namespace and name from the key. */
static json_t *object_from_key(struct etcd_watch *w, const char *key, size_t len)
{
	if (len < w->prefix_len)
		return NULL;
	const char *rest = key + w->prefix_len; /* kind/ns/name */
	const char *a = memchr(rest, '/', len - w->prefix_len);
	const char *b = a ? memchr(a + 1, '/', (size_t)(key + len - a - 1)) : NULL;
	if (!b)
		return NULL;
	return json_pack("{s:{s:s%, s:s%}}", "metadata", "namespace", a + 1, (size_t)(b - a - 1),
			 "name", b + 1, (size_t)(key + len - b - 1));
}

/* One event of a watch response; 0 or an error code (message set). */
static int watch_event(struct etcd_watch *w, const json_t *e)
{
	const char *type = json_string_value(json_object_get(e, "type"));
	json_t *kv = json_object_get(e, "kv");
	struct gw_store_event ev = {0};
	int64_t version = 0;
	if (type && strcmp(type, "PUT") && strcmp(type, "DELETE")) {
		watch_fail(w, -EIO, "etcd: watch: unknown event type");
		return -EIO;
	}
	if (type && !strcmp(type, "DELETE")) {
		ev.type = GW_STORE_DELETED;
		if (!json_is_object(kv) || j_int64(kv, "mod_revision", &ev.rv) || ev.rv <= 0) {
			watch_fail(w, -EIO, "etcd: watch: malformed DELETE event");
			return -EIO;
		}
		json_t *prev = json_object_get(e, "prev_kv");
		int64_t prev_rev;
		if (prev && parse_kv(prev, &ev.object, &prev_rev, &version, NULL) < 0) {
			watch_fail(w, -EIO, "etcd: watch: malformed prev_kv");
			return -EIO;
		}
		if (!ev.object) {
			char *key;
			size_t len;
			if (j_bytes(kv, "key", &key, &len) == 0) {
				ev.object = object_from_key(w, key, len);
				free(key);
			}
			if (!ev.object) {
				watch_fail(w, -EIO, "etcd: watch: malformed key in DELETE event");
				return -EIO;
			}
		}
		gw_store_set_rv(ev.object, ev.rv);
	} else {
		if (parse_kv(kv, &ev.object, &ev.rv, &version, NULL) < 0) {
			watch_fail(w, -EIO, "etcd: watch: malformed PUT event");
			return -EIO;
		}
		ev.type = version == 1 ? GW_STORE_ADDED : GW_STORE_MODIFIED;
		/* prev_kv: the previous state, kept when the labels changed
		 * (a label-selector watch needs it; gw_store_event). */
		json_t *prev = json_object_get(e, "prev_kv");
		int64_t prev_rev, prev_version;
		json_t *old = NULL;
		if (ev.type == GW_STORE_MODIFIED && prev && parse_kv(prev, &old, &prev_rev, &prev_version, NULL) < 0) {
			json_decref(ev.object);
			watch_fail(w, -EIO, "etcd: watch: malformed prev_kv");
			return -EIO;
		}
		json_t *old_labels = json_object_get(json_object_get(old, "metadata"), "labels");
		json_t *new_labels = json_object_get(json_object_get(ev.object, "metadata"), "labels");
		if (old && (old_labels || new_labels) && !json_equal(old_labels, new_labels)) {
			gw_store_set_rv(old, ev.rv);
			ev.prev_object = old;
		} else {
			json_decref(old);
		}
	}
	if (ev.rv < w->next_rev) {
		/* Already delivered (etcd repeats nothing, but a reconnect must
		 * not make us). */
		gw_store_event_fini(&ev);
		return 0;
	}
	w->next_rev = ev.rv + 1;
	watch_push(w, &ev);
	return 0;
}

/* One line of the stream: {"result": WatchResponse} or {"error": ...}. */
static int watch_line(struct etcd_watch *w, const char *text, size_t len)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	int r = 0;
	json_t *res = json_object_get(j, "result");
	if (!json_is_object(res)) {
		/* grpc-gateway streams errors as {"error": {"message": ...}}. */
		json_t *e = json_object_get(j, "error");
		const char *m = !json_is_object(j) ? "not JSON"
				: json_is_object(e) ? error_message(e)
						    : "no result in a watch response";
		watch_fail(w, -EIO, "etcd: watch: %s", m);
		json_decref(j);
		return -EIO;
	}
	int64_t compact_rev = 0;
	if (j_int64(res, "compact_revision", &compact_rev) < 0) {
		r = -EIO;
		watch_fail(w, r, "etcd: watch: malformed compact_revision");
	} else if (compact_rev > 0) {
		r = GW_STORE_EXPIRED;
		watch_fail(w, r,
			   "store: watch: resourceVersion %" PRId64
			   " is too old (etcd compacted to %" PRId64 "), re-list",
			   w->next_rev - 1, compact_rev);
	} else if (json_is_true(json_object_get(res, "canceled"))) {
		r = -EIO;
		const char *why = json_string_value(json_object_get(res, "cancel_reason"));
		watch_fail(w, r, "etcd: watch canceled: %s", why ? why : "no reason given");
	} else {
		json_t *events = json_object_get(res, "events"), *e;
		size_t i;
		if (events && !json_is_array(events)) {
			r = -EIO;
			watch_fail(w, r, "etcd: watch: malformed events");
		}
		json_array_foreach(events, i, e) {
			if ((r = watch_event(w, e)) < 0)
				break;
		}
	}
	json_decref(j);
	return r;
}

static size_t watch_data(char *data, size_t size, size_t n, void *user)
{
	struct etcd_watch *w = user;
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n')
			continue;
		gw_buf_add(&w->line, data + start, i - start);
		start = i + 1;
		if (w->line.len && watch_line(w, w->line.data, w->line.len) < 0)
			return 0;
		w->line.len = 0;
	}
	if (w->line.len + (n - start) > MAX_WATCH_LINE_BYTES) {
		watch_fail(w, -EIO, "etcd: watch: response line over %u bytes", MAX_WATCH_LINE_BYTES);
		return 0;
	}
	gw_buf_add(&w->line, data + start, n - start);
	return n;
}

static bool watch_stopping(struct etcd_watch *w)
{
	pthread_mutex_lock(&w->lock);
	bool stop = w->stop || w->error;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

/* One stream from one endpoint until it breaks, fails or we stop; true if
 * it delivered a response (the endpoint worked). */
static bool watch_stream(struct etcd_watch *w, const char *endpoint)
{
	_cleanup_free_ char *url = gw_asprintf("%s/v3/watch", endpoint);
	json_t *req = json_pack("{s:{s:s, s:s, s:I, s:b}}", "create_request", "key", w->key_b64,
				"range_end", w->end_b64, "start_revision", (json_int_t)w->next_rev,
				"prev_kv", 1);
	_cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	CURL *c = curl_easy_init();
	if (!c)
		return false;
	w->line.len = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, w->s->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_multi_add_handle(w->multi, c);
	int running = 1;
	while (running && !watch_stopping(w)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(w->multi, c);
	curl_easy_cleanup(c);
	return status == 200;
}

static void *watch_thread(void *arg)
{
	struct etcd_watch *w = arg;
	struct etcd_store *s = w->s;
	pthread_mutex_lock(&s->lock);
	size_t idx = s->preferred, n = s->endpoints.n;
	pthread_mutex_unlock(&s->lock);
	unsigned failures = 0;
	while (!watch_stopping(w)) {
		if (watch_stream(w, s->endpoints.v[idx % n]))
			failures = 0;
		else
			failures++;
		if (watch_stopping(w))
			break;
		if (failures >= 3 * n) {
			watch_fail(w, -EIO, "etcd: watch: no endpoint answers (%zu tried, 3 rounds)", n);
			break;
		}
		idx++;
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int etcd_watch(struct gw_store *base, const char *kind, const char *ns, int64_t from_rv,
		      struct gw_store_watch **out, struct gw_err **err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	if (!from_rv) {
		int r = etcd_current_rv(base, &from_rv, err);
		if (r < 0)
			return r;
	}
	struct etcd_watch *w = gw_calloc(1, sizeof(*w));
	w->base.ops = &etcd_ops;
	w->s = s;
	_cleanup_free_ char *prefix = ns ? gw_asprintf("%s/%s/%s/", s->prefix, kind, ns)
					 : gw_asprintf("%s/%s/", s->prefix, kind);
	_cleanup_free_ char *end = range_end(prefix);
	w->key_b64 = gw_base64_encode(prefix, strlen(prefix));
	w->end_b64 = gw_base64_encode(end, strlen(end));
	w->prefix_len = strlen(s->prefix) + 1;
	w->next_rev = from_rv + 1;
	gw_buf_init(&w->line);
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->multi = curl_multi_init();
	int e = w->multi ? pthread_create(&w->thread, NULL, watch_thread, w) : ENOMEM;
	if (e) {
		gw_store_watch_free(&w->base);
		return gw_err_set(err, -e, "etcd: watch: cannot start its thread: %s", strerror(e));
	}
	w->thread_started = true;
	pthread_setname_np(w->thread, "gw-etcd-watch");
	*out = &w->base;
	return 0;
}

static int etcd_watch_next(struct gw_store_watch *base, int timeout_ms, struct gw_store_event *ev,
			   struct gw_err **err)
{
	struct etcd_watch *w = (struct etcd_watch *)base;
	struct timespec deadline;
	gw_deadline_ms(CLOCK_MONOTONIC, timeout_ms, &deadline);
	int r = 0;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->head) {
			struct queued_event *q = w->head;
			w->head = q->next;
			if (!w->head)
				w->tail = NULL;
			*ev = q->ev;
			free(q);
			break;
		}
		if (w->error) {
			r = gw_err_set(err, w->error, "%s", w->error_msg);
			break;
		}
		if (timeout_ms == 0) {
			r = -ETIMEDOUT;
			break;
		}
		int rc = timeout_ms < 0 ? pthread_cond_wait(&w->cond, &w->lock)
					: pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
		if (rc == ETIMEDOUT && !w->head && !w->error) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void etcd_watch_free(struct gw_store_watch *base)
{
	struct etcd_watch *w = (struct etcd_watch *)base;
	if (w->thread_started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		curl_multi_wakeup(w->multi);
		pthread_join(w->thread, NULL);
	}
	while (w->head) {
		struct queued_event *q = w->head;
		w->head = q->next;
		gw_store_event_fini(&q->ev);
		free(q);
	}
	if (w->multi)
		curl_multi_cleanup(w->multi);
	gw_buf_fini(&w->line);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->error_msg);
	free(w->key_b64);
	free(w->end_b64);
	free(w);
}

/* ---- open/close ----------------------------------------------------------- */

static void etcd_close(struct gw_store *base)
{
	struct etcd_store *s = (struct etcd_store *)base;
	for (size_t i = 0; i < s->idle_n; i++)
		curl_easy_cleanup(s->idle[i]);
	gw_strv_fini(&s->endpoints);
	pthread_mutex_destroy(&s->lock);
	free(s->prefix);
	free(s);
}

int gw_store_etcd_open(const char *endpoints, const struct gw_store_options *opts,
		       struct gw_store **store, struct gw_err **err)
{
	pthread_once(&curl_once, curl_global);
	struct etcd_store *s = gw_calloc(1, sizeof(*s));
	s->base.ops = &etcd_ops;
	gw_strv_init(&s->endpoints);
	pthread_mutex_init(&s->lock, NULL);
	s->request_timeout_ms = opts && opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 5000;
	s->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 1000;
	s->list_page = opts && opts->etcd_list_page > 0 ? opts->etcd_list_page : LIST_PAGE;
	const char *prefix = opts && opts->etcd_prefix ? opts->etcd_prefix : DEFAULT_PREFIX;
	s->prefix = gw_strdup(prefix);
	while (*s->prefix && s->prefix[strlen(s->prefix) - 1] == '/')
		s->prefix[strlen(s->prefix) - 1] = '\0';
	int r = 0;
	struct gw_strv parts;
	gw_strv_init(&parts);
	gw_str_split(endpoints, ',', &parts);
	for (size_t i = 0; i < parts.n; i++) {
		char *e = parts.v[i];
		size_t len = strlen(e);
		while (len && e[len - 1] == '/')
			e[--len] = '\0';
		if (!gw_str_has_prefix(e, "http://") && !gw_str_has_prefix(e, "https://")) {
			r = gw_err_set(err, -EINVAL, "store: etcd endpoint \"%s\": want http://HOST:PORT", e);
			break;
		}
		gw_strv_push(&s->endpoints, e);
	}
	gw_strv_fini(&parts);
	if (r == 0 && !s->endpoints.n)
		r = gw_err_set(err, -EINVAL, "store: etcd: no endpoint");
	if (r == 0) {
		/* Reachable now, or say so now rather than at the first write. */
		int64_t rv;
		r = etcd_current_rv(&s->base, &rv, err);
		if (r < 0)
			gw_err_wrap(err, "store: etcd");
	}
	if (r < 0) {
		etcd_close(&s->base);
		return r;
	}
	*store = &s->base;
	return 0;
}

static const struct gw_store_ops etcd_ops = {
	.name = "etcd",
	.close = etcd_close,
	.get = etcd_get,
	.list = etcd_list,
	.create = etcd_create,
	.update = etcd_update,
	.remove = etcd_remove,
	.compact = etcd_compact,
	.current_rv = etcd_current_rv,
	.watch = etcd_watch,
	.watch_next = etcd_watch_next,
	.watch_free = etcd_watch_free,
};
