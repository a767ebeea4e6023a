/* SPDX-License-Identifier: Apache-2.0 */
/* The store's front: opens a backend by URL, checks keys and objects, fills
 * uid, creationTimestamp and resourceVersion, applies label selectors. */
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backend.h"

int gw_store_open(const char *url, const struct gw_store_options *opts, struct gw_store **store,
		  struct gw_err **err)
{
	*store = NULL;
	if (!url || !*url)
		return gw_err_set(err, -EINVAL, "store: empty URL");
	if (gw_str_has_prefix(url, "etcd:"))
		return gw_store_etcd_open(url + 5, opts, store, err);
	if (gw_str_has_prefix(url, "sqlite:"))
		url += 7;
	if (!*url)
		return gw_err_set(err, -EINVAL, "store: sqlite: empty path");
	return gw_store_sqlite_open(url, opts, store, err);
}

void gw_store_close(struct gw_store *store)
{
	if (store)
		store->ops->close(store);
}

const char *gw_store_backend(const struct gw_store *store)
{
	return store->ops->name;
}

char *gw_store_key(const char *kind, const char *ns, const char *name)
{
	return gw_asprintf("%s/%s/%s", kind, ns ? ns : "", name);
}

int gw_store_parse_rv(const char *text, int64_t *rv)
{
	int64_t v = 0;
	if (!text || !*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (*p - '0');
	}
	*rv = v;
	return 0;
}

void gw_store_set_rv(json_t *object, int64_t rv)
{
	json_t *md = json_object_get(object, "metadata");
	if (!json_is_object(md)) {
		md = json_object();
		json_object_set_new(object, "metadata", md);
	}
	char text[24];
	snprintf(text, sizeof(text), "%" PRId64, rv);
	json_object_set_new(md, "resourceVersion", json_string(text));
}

static bool valid_kind(const char *kind)
{
	if (!kind || !*kind || strlen(kind) > 253)
		return false;
	for (const char *p = kind; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return false;
	return true;
}

/* Names and namespaces become parts of keys: no '/', no control bytes. */
static bool valid_part(const char *s, bool may_be_empty)
{
	if (!s)
		return may_be_empty;
	size_t n = strlen(s);
	if ((!n && !may_be_empty) || n > 253)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int check_key(const char *kind, const char *ns, const char *name, struct gw_err **err)
{
	if (!valid_kind(kind))
		return gw_err_set(err, -EINVAL, "store: kind \"%s\": want [a-z0-9.-]{1,253}",
				  kind ? kind : "");
	if (!valid_part(ns, true))
		return gw_err_set(err, -EINVAL, "store: namespace \"%s\": want 0..253 bytes, no '/'", ns);
	if (name && !valid_part(name, false))
		return gw_err_set(err, -EINVAL, "store: name \"%s\": want 1..253 bytes, no '/'", name);
	return 0;
}

/* metadata.namespace/name of an input object. */
static int object_key(const char *kind, const json_t *object, const char **ns, const char **name,
		      struct gw_err **err)
{
	if (!json_is_object(object))
		return gw_err_set(err, -EINVAL, "store: %s: object is not a JSON object",
				  kind ? kind : "");
	json_t *md = json_object_get(object, "metadata");
	if (!json_is_object(md))
		return gw_err_set(err, -EINVAL, "store: %s: object has no metadata", kind);
	json_t *n = json_object_get(md, "name"), *s = json_object_get(md, "namespace");
	if (!json_is_string(n))
		return gw_err_set(err, -EINVAL, "store: %s: metadata.name missing or not a string", kind);
	if (s && !json_is_string(s) && !json_is_null(s))
		return gw_err_set(err, -EINVAL, "store: %s: metadata.namespace is not a string", kind);
	*name = json_string_value(n);
	*ns = json_is_string(s) ? json_string_value(s) : "";
	return check_key(kind, *ns, *name, err);
}

/* metadata.resourceVersion of an input: 0 when absent. */
static int object_rv(const json_t *object, int64_t *rv, struct gw_err **err)
{
	json_t *v = json_object_get(json_object_get(object, "metadata"), "resourceVersion");
	*rv = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*rv = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && (!*json_string_value(v) ||
				  gw_store_parse_rv(json_string_value(v), rv) == 0))
		return 0;
	return gw_err_set(err, -EINVAL, "store: metadata.resourceVersion: want a non-negative integer");
}

static void new_uid(char out[37])
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		/* getrandom on Linux >= 3.17 does not fail for 16 bytes; keep a
		 * unique value anyway. */
		uint64_t t = gw_now_ns() ^ ((uint64_t)getpid() << 32);
		memcpy(b, &t, 8);
		t = (uint64_t)time(NULL) * 2654435761u ^ t;
		memcpy(b + 8, &t, 8);
	}
	b[6] = (b[6] & 0x0f) | 0x40;  /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;  /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static void now_rfc3339(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int gw_store_get(struct gw_store *store, const char *kind, const char *ns, const char *name,
		 json_t **object, struct gw_err **err)
{
	*object = NULL;
	int r = check_key(kind, ns, name, err);
	if (r < 0)
		return r;
	int64_t rv;
	return store->ops->get(store, kind, ns ? ns : "", name, object, &rv, err);
}

static int compare_items(const void *a, const void *b)
{
	json_t *ma = json_object_get(*(json_t *const *)a, "metadata");
	json_t *mb = json_object_get(*(json_t *const *)b, "metadata");
	const char *na = json_string_value(json_object_get(ma, "namespace"));
	const char *nb = json_string_value(json_object_get(mb, "namespace"));
	int c = strcmp(na ? na : "", nb ? nb : "");
	if (c)
		return c;
	na = json_string_value(json_object_get(ma, "name"));
	nb = json_string_value(json_object_get(mb, "name"));
	return strcmp(na ? na : "", nb ? nb : "");
}

int gw_store_list(struct gw_store *store, const char *kind, const char *ns, const char *selector,
		  json_t **items, int64_t *list_rv, struct gw_err **err)
{
	*items = NULL;
	int r = check_key(kind, ns, NULL, err);
	if (r < 0)
		return r;
	struct gw_store_selector *sel = NULL;
	if (selector && *selector && (r = gw_store_selector_parse(selector, &sel, err)) < 0)
		return r;
	json_t *all = NULL;
	int64_t rv = 0;
	r = store->ops->list(store, kind, ns, sel, &all, &rv, err);
	gw_store_selector_free(sel);
	if (r < 0)
		return r;
	/* Backends mostly return key order already: sort only if needed. */
	size_t n = json_array_size(all);
	bool sorted = true;
	for (size_t i = 1; i < n && sorted; i++) {
		json_t *a = json_array_get(all, i - 1), *b = json_array_get(all, i);
		sorted = compare_items(&a, &b) <= 0;
	}
	if (!sorted) {
		json_t **v = gw_calloc(n, sizeof(*v));
		for (size_t i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(all, i));
		qsort(v, n, sizeof(*v), compare_items);
		json_array_clear(all);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(all, v[i]);
		free(v);
	}
	*items = all;
	if (list_rv)
		*list_rv = rv;
	return 0;
}

int gw_store_list_text(struct gw_store *store, const char *kind, const char *ns, const char *selector,
		       struct gw_buf *out, size_t *count, int64_t *list_rv, struct gw_err **err)
{
	*count = 0;
	int r = check_key(kind, ns, NULL, err);
	if (r < 0)
		return r;
	if (store->ops->list_text) {
		struct gw_store_selector *sel = NULL;
		if (selector && *selector && (r = gw_store_selector_parse(selector, &sel, err)) < 0)
			return r;
		int64_t rv = 0;
		r = store->ops->list_text(store, kind, ns, sel, out, count, &rv, err);
		gw_store_selector_free(sel);
		if (r != -ENOTSUP) {
			if (r == 0 && list_rv)
				*list_rv = rv;
			return r;
		}
	}
	json_t *items = NULL;
	if ((r = gw_store_list(store, kind, ns, selector, &items, list_rv, err)) < 0)
		return r;
	char *text = json_dumps(items, JSON_COMPACT);
	gw_buf_puts(out, text ? text : "[]");
	*count = json_array_size(items);
	free(text);
	json_decref(items);
	return 0;
}

int gw_store_create(struct gw_store *store, const char *kind, const json_t *object,
		    json_t **created, struct gw_err **err)
{
	const char *ns, *name;
	if (created)
		*created = NULL;
	int r = object_key(kind, object, &ns, &name, err);
	if (r < 0)
		return r;
	int64_t rv;
	if ((r = object_rv(object, &rv, err)) < 0)
		return r;
	if (json_object_get(json_object_get(object, "metadata"), "resourceVersion"))
		return gw_err_set(err, -EINVAL,
				  "store: create %s/%s/%s: metadata.resourceVersion must not be set",
				  kind, ns, name);
	json_t *o = json_deep_copy(object);
	json_t *md = json_object_get(o, "metadata");
	if (!json_is_string(json_object_get(md, "uid"))) {
		char uid[37];
		new_uid(uid);
		json_object_set_new(md, "uid", json_string(uid));
	}
	if (!json_is_string(json_object_get(md, "creationTimestamp"))) {
		char ts[32];
		now_rfc3339(ts);
		json_object_set_new(md, "creationTimestamp", json_string(ts));
	}
	r = store->ops->create(store, kind, ns, name, o, &rv, err);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	gw_store_set_rv(o, rv);
	if (created)
		*created = o;
	else
		json_decref(o);
	return 0;
}

static int conflict(struct gw_err **err, const char *verb, const char *kind, const char *ns,
		    const char *name, int64_t given, int64_t stored)
{
	return gw_err_set(err, -EBUSY,
			  "store: %s %s/%s/%s: conflict: resourceVersion %" PRId64
			  " is not the stored %" PRId64 " (re-read and retry)",
			  verb, kind, ns, name, given, stored);
}

int gw_store_update(struct gw_store *store, const char *kind, const json_t *object,
		    json_t **updated, struct gw_err **err)
{
	const char *ns, *name;
	int64_t want_rv;
	if (updated)
		*updated = NULL;
	int r = object_key(kind, object, &ns, &name, err);
	if (r < 0 || (r = object_rv(object, &want_rv, err)) < 0)
		return r;
	/* Unconditional updates re-read when another writer came between the
	 * read and the compare-and-swap; bounded so a hot object cannot spin
	 * forever. */
	for (int attempt = 0; attempt < 100; attempt++) {
		json_t *cur = NULL;
		int64_t cur_rv = 0;
		r = store->ops->get(store, kind, ns, name, &cur, &cur_rv, err);
		if (r < 0)
			return r;
		if (want_rv && cur_rv != want_rv) {
			json_decref(cur);
			return conflict(err, "update", kind, ns, name, want_rv, cur_rv);
		}
		json_t *o = json_deep_copy(object);
		json_t *md = json_object_get(o, "metadata"), *cmd = json_object_get(cur, "metadata");
		json_object_del(md, "resourceVersion");
		/* Immutable once created: Kubernetes keeps uid and
		 * creationTimestamp whatever an update says. */
		static const char *const kept[] = {"uid", "creationTimestamp"};
		for (size_t i = 0; i < GW_ARRAY_SIZE(kept); i++) {
			json_t *v = json_object_get(cmd, kept[i]);
			if (v)
				json_object_set(md, kept[i], v);
		}
		json_decref(cur);
		int64_t new_rv = 0, now_rv = 0;
		struct gw_err *cas_err = NULL;
		r = store->ops->update(store, kind, ns, name, o, cur_rv, &new_rv, &now_rv, &cas_err);
		if (r == -EBUSY && !want_rv) {
			gw_err_free(cas_err);
			json_decref(o);
			continue;
		}
		if (r == -EBUSY) {
			gw_err_free(cas_err);
			json_decref(o);
			return conflict(err, "update", kind, ns, name, want_rv, now_rv);
		}
		if (r < 0) {
			if (err && !*err)
				*err = cas_err;
			else
				gw_err_free(cas_err);
			json_decref(o);
			return r;
		}
		gw_store_set_rv(o, new_rv);
		if (updated)
			*updated = o;
		else
			json_decref(o);
		return 0;
	}
	return gw_err_set(err, -EBUSY, "store: update %s/%s/%s: too many concurrent writers", kind,
			  ns, name);
}

int gw_store_delete(struct gw_store *store, const char *kind, const char *ns, const char *name,
		    int64_t precondition_rv, int64_t *deleted_rv, struct gw_err **err)
{
	int r = check_key(kind, ns, name, err);
	if (r < 0)
		return r;
	if (precondition_rv < 0)
		return gw_err_set(err, -EINVAL, "store: delete: negative precondition");
	int64_t rv = 0, now_rv = 0;
	struct gw_err *e = NULL;
	ns = ns ? ns : "";
	r = store->ops->remove(store, kind, ns, name, precondition_rv, &rv, &now_rv, &e);
	if (r == -EBUSY) {
		gw_err_free(e);
		return conflict(err, "delete", kind, ns, name, precondition_rv, now_rv);
	}
	if (r < 0) {
		if (err && !*err)
			*err = e;
		else
			gw_err_free(e);
		return r;
	}
	if (deleted_rv)
		*deleted_rv = rv;
	return 0;
}

int gw_store_compact(struct gw_store *store, int64_t rv, struct gw_err **err)
{
	if (rv <= 0)
		return gw_err_set(err, -EINVAL, "store: compact: resourceVersion must be positive");
	return store->ops->compact(store, rv, err);
}

int gw_store_current_rv(struct gw_store *store, int64_t *rv, struct gw_err **err)
{
	return store->ops->current_rv(store, rv, err);
}

const char *gw_store_event_type_name(enum gw_store_event_type type)
{
	switch (type) {
	case GW_STORE_ADDED:
		return "ADDED";
	case GW_STORE_MODIFIED:
		return "MODIFIED";
	case GW_STORE_DELETED:
		return "DELETED";
	}
	return "UNKNOWN";
}

void gw_store_event_fini(struct gw_store_event *event)
{
	if (!event)
		return;
	json_decref(event->object);
	event->object = NULL;
	json_decref(event->prev_object);
	event->prev_object = NULL;
}

int gw_store_watch(struct gw_store *store, const char *kind, const char *ns, int64_t from_rv,
		   struct gw_store_watch **watch, struct gw_err **err)
{
	*watch = NULL;
	int r = check_key(kind, ns, NULL, err);
	if (r < 0)
		return r;
	if (from_rv < 0)
		return gw_err_set(err, -EINVAL, "store: watch: negative resourceVersion");
	return store->ops->watch(store, kind, ns, from_rv, watch, err);
}

int gw_store_watch_next(struct gw_store_watch *watch, int timeout_ms, struct gw_store_event *event,
			struct gw_err **err)
{
	event->object = NULL;
	event->prev_object = NULL;
	return watch->ops->watch_next(watch, timeout_ms, event, err);
}

void gw_store_watch_free(struct gw_store_watch *watch)
{
	if (watch)
		watch->ops->watch_free(watch);
}
