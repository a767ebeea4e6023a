/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs over the store: get, list, create, replace (optimistic),
 * merge patch, delete with finalizers, and the status subresource. */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "godwit/store.h"
#include "server_int.h"

/* Conflicts retried by a patch without a resourceVersion: it applies to
 * whatever is stored, so a concurrent writer only means "read again". */
#define PATCH_RETRIES 8

void gw_reply_error(struct gw_reply *r, unsigned status, const char *reason, const char *field,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:i, s:s, s:s}", "code", (int)status, "reason", reason, "message",
			      b.data ? b.data : "");
	if (field)
		json_object_set_new(e, "field", json_string(field));
	gw_buf_fini(&b);
	json_decref(r->body);
	r->status = status;
	r->body = json_pack("{s:s, s:o}", "kind", "Status", "error", e);
}

void gw_reply_from_err(struct gw_reply *r, const struct gw_err *err)
{
	const char *msg = gw_err_msg(err);
	switch (err ? err->code : -EIO) {
	case -ENOENT:
		gw_reply_error(r, 404, "NotFound", NULL, "%s", msg);
		break;
	case -EEXIST:
		gw_reply_error(r, 409, "AlreadyExists", NULL, "%s", msg);
		break;
	case -EBUSY:
		gw_reply_error(r, 409, "Conflict", NULL, "%s", msg);
		break;
	case GW_STORE_EXPIRED:
		gw_reply_error(r, 410, "Expired", NULL, "%s: expired, re-list", msg);
		break;
	case -EINVAL:
		gw_reply_error(r, 400, "BadRequest", NULL, "%s", msg);
		break;
	default:
		gw_reply_error(r, 500, "InternalError", NULL, "%s", msg);
		break;
	}
}

static void reply_ok(struct gw_reply *r, unsigned status, json_t *body)
{
	json_decref(r->body);
	r->status = status;
	r->body = body;
}

void gw_handle_get(struct gw_server *s, const struct gw_route *rt, struct gw_reply *r)
{
	_cleanup_err_ struct gw_err *err = NULL;
	json_t *obj = NULL;
	if (gw_store_get(s->store, rt->kind->plural, rt->ns, rt->name, &obj, &err) < 0)
		return gw_reply_from_err(r, err);
	reply_ok(r, 200, obj);
}

/* The list's envelope is written around the store's text of the items
 * (the same bytes jansson would give, without building and encoding a
 * tree of every object: 10,000 objects take milliseconds, not a hundred).
 * metadata comes after items, where the list's resourceVersion is known
 * (member order means nothing in JSON). */
void gw_handle_list(struct gw_server *s, const struct gw_route *rt, const char *selector, struct gw_reply *r)
{
	_cleanup_err_ struct gw_err *err = NULL;
	int64_t rv = 0;
	size_t count = 0;
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_printf(&b, "{\"apiVersion\":\"%s\",\"kind\":\"%sList\",\"items\":", rt->kind->api_version,
		      rt->kind->kind);
	if (gw_store_list_text(s->store, rt->kind->plural, rt->ns, selector, &b, &count, &rv, &err) < 0) {
		gw_buf_fini(&b);
		return gw_reply_from_err(r, err);
	}
	gw_buf_printf(&b, ",\"metadata\":{\"resourceVersion\":\"%lld\"}}\n", (long long)rv);
	json_decref(r->body);
	r->body = NULL;
	r->status = 200;
	r->text_len = b.len;
	r->text = gw_buf_steal(&b);
}

/* The body must be one object of the route's kind, in the route's
 * namespace and (when the URL names one) with the URL's name. apiVersion,
 * kind and namespace are filled in when absent. */
static int check_body(const struct gw_route *rt, json_t *body, struct gw_reply *r)
{
	if (!json_is_object(body)) {
		gw_reply_error(r, 400, "BadRequest", NULL, "the body is not a JSON object");
		return -1;
	}
	const char *kind = json_string_value(json_object_get(body, "kind"));
	if (!kind)
		json_object_set_new(body, "kind", json_string(rt->kind->kind));
	else if (strcmp(kind, rt->kind->kind) != 0) {
		gw_reply_error(r, 400, "BadRequest", "kind", "kind \"%s\" sent to the %s endpoint", kind,
			       rt->kind->plural);
		return -1;
	}
	const char *av = json_string_value(json_object_get(body, "apiVersion"));
	if (!av)
		json_object_set_new(body, "apiVersion", json_string(rt->kind->api_version));
	else if (strcmp(av, rt->kind->api_version) != 0) {
		gw_reply_error(r, 400, "BadRequest", "apiVersion", "apiVersion \"%s\": this endpoint serves %s",
			       av, rt->kind->api_version);
		return -1;
	}
	json_t *meta = json_object_get(body, "metadata");
	if (!meta) {
		meta = json_object();
		json_object_set_new(body, "metadata", meta);
	}
	if (!json_is_object(meta)) {
		gw_reply_error(r, 422, "Invalid", "metadata", "metadata: not an object");
		return -1;
	}
	json_t *ns = json_object_get(meta, "namespace");
	if (rt->kind->namespaced) {
		if (!ns || (json_is_string(ns) && !*json_string_value(ns)))
			json_object_set_new(meta, "namespace", json_string(rt->ns));
		else if (!json_is_string(ns) || strcmp(json_string_value(ns), rt->ns) != 0) {
			gw_reply_error(r, 400, "BadRequest", "metadata.namespace",
				       "metadata.namespace does not match the namespace of the request (%s)", rt->ns);
			return -1;
		}
	} else if (ns && !(json_is_string(ns) && !*json_string_value(ns)) && !json_is_null(ns)) {
		gw_reply_error(r, 400, "BadRequest", "metadata.namespace", "%s are not namespaced",
			       rt->kind->plural);
		return -1;
	} else if (ns) {
		json_object_del(meta, "namespace");
	}
	json_t *name = json_object_get(meta, "name");
	if (rt->name) {
		if (!name)
			json_object_set_new(meta, "name", json_string(rt->name));
		else if (!json_is_string(name) || strcmp(json_string_value(name), rt->name) != 0) {
			gw_reply_error(r, 400, "BadRequest", "metadata.name",
				       "metadata.name does not match the name in the URL (%s)", rt->name);
			return -1;
		}
	}
	return 0;
}

/* metadata.generateName + 5 random characters, as Kubernetes does. */
static void generate_name(json_t *meta)
{
	const char *prefix = json_string_value(json_object_get(meta, "generateName"));
	if (!prefix || json_object_get(meta, "name"))
		return;
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	unsigned char raw[5];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		memset(raw, (int)(gw_now_ns() & 0xff), sizeof(raw));
	char suffix[6];
	for (size_t i = 0; i < 5; i++)
		suffix[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
	suffix[5] = '\0';
	json_object_set_new(meta, "name", json_sprintf("%s%s", prefix, suffix));
}

void gw_handle_create(struct gw_server *s, const struct gw_route *rt, json_t *body, struct gw_reply *r)
{
	if (rt->name || rt->status) {
		gw_reply_error(r, 405, "MethodNotAllowed", NULL, "POST goes to the collection, not to an object");
		return;
	}
	if (check_body(rt, body, r) < 0)
		return;
	json_t *meta = json_object_get(body, "metadata");
	generate_name(meta);
	if (!json_is_string(json_object_get(meta, "name"))) {
		gw_reply_error(r, 422, "Invalid", "metadata.name", "metadata.name: required");
		return;
	}
	json_t *rv = json_object_get(meta, "resourceVersion");
	if (rv && !json_is_null(rv) && !(json_is_string(rv) && !*json_string_value(rv))) {
		gw_reply_error(r, 422, "Invalid", "metadata.resourceVersion",
			       "metadata.resourceVersion: must not be set on create");
		return;
	}
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "deletionTimestamp");
	if (gw_admit_validate(rt->kind, body, r) < 0)
		return;
	_cleanup_err_ struct gw_err *err = NULL;
	json_t *created = NULL;
	bool vmim = rt->kind->gw_kind == GW_KIND_VMIM;
	if (vmim) {
		pthread_mutex_lock(&s->vmim_lock);
		if (gw_admit_vmim_create(s, body, r) < 0) {
			pthread_mutex_unlock(&s->vmim_lock);
			return;
		}
	}
	int ret = gw_store_create(s->store, rt->kind->plural, body, &created, &err);
	if (vmim)
		pthread_mutex_unlock(&s->vmim_lock);
	if (ret < 0)
		return gw_reply_from_err(r, err);
	reply_ok(r, 201, created);
}

static bool has_finalizers(const json_t *obj)
{
	return json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers")) > 0;
}

static bool being_deleted(const json_t *obj)
{
	return json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
}

static void now_rfc3339(char *buf, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes `obj` (the full new state) over `old` with CAS on obj's
 * resourceVersion; deletes it when it was being deleted and its last
 * finalizer went. */
static int store_replace(struct gw_server *s, const struct gw_route *rt, const json_t *old, json_t *obj,
			 struct gw_reply *r)
{
	json_t *meta = json_object_get(obj, "metadata");
	/* deletionTimestamp is the server's: kept once set, never set by a client. */
	json_t *dts = json_object_get(json_object_get(old, "metadata"), "deletionTimestamp");
	if (dts)
		json_object_set(meta, "deletionTimestamp", dts);
	else
		json_object_del(meta, "deletionTimestamp");
	_cleanup_err_ struct gw_err *err = NULL;
	json_t *updated = NULL;
	if (gw_store_update(s->store, rt->kind->plural, obj, &updated, &err) < 0) {
		gw_reply_from_err(r, err);
		return err ? err->code : -EIO;
	}
	if (being_deleted(updated) && !has_finalizers(updated)) {
		const char *rvs = json_string_value(
			json_object_get(json_object_get(updated, "metadata"), "resourceVersion"));
		uint64_t rv = 0;
		if (!rvs || !gw_str_to_u64(rvs, &rv))
			rv = 0;
		int64_t deleted_rv = 0;
		if (gw_store_delete(s->store, rt->kind->plural, rt->ns, rt->name, (int64_t)rv, &deleted_rv,
				    &err) < 0 &&
		    err && err->code != -ENOENT) {
			json_decref(updated);
			gw_reply_from_err(r, err);
			return -EIO;
		}
	}
	reply_ok(r, 200, updated);
	return 0;
}

/* PUT and PATCH end here with the full proposed object. */
static int apply_update(struct gw_server *s, const struct gw_route *rt, const json_t *old, json_t *obj,
			struct gw_reply *r)
{
	if (rt->status) {
		/* The status subresource changes status only: everything else
		 * is the stored object's. */
		json_t *next = json_deep_copy(old);
		json_t *status = json_object_get(obj, "status");
		if (status)
			json_object_set(next, "status", status);
		else
			json_object_del(next, "status");
		json_t *rv = json_object_get(json_object_get(obj, "metadata"), "resourceVersion");
		json_t *nmeta = json_object_get(next, "metadata");
		if (rv)
			json_object_set(nmeta, "resourceVersion", rv);
		else
			json_object_del(nmeta, "resourceVersion");
		int ret = gw_admit_validate(rt->kind, next, r);
		if (!ret)
			ret = store_replace(s, rt, old, next, r);
		json_decref(next);
		return ret;
	}
	/* The main resource ignores status, as Kubernetes does for kinds
	 * with a status subresource. */
	json_t *old_status = json_object_get(old, "status");
	if (old_status)
		json_object_set(obj, "status", old_status);
	else
		json_object_del(obj, "status");
	if (gw_admit_validate(rt->kind, obj, r) < 0 || gw_admit_update(rt->kind, old, obj, r) < 0)
		return -EINVAL;
	return store_replace(s, rt, old, obj, r);
}

void gw_handle_replace(struct gw_server *s, const struct gw_route *rt, json_t *body, struct gw_reply *r)
{
	if (!rt->name) {
		gw_reply_error(r, 405, "MethodNotAllowed", NULL, "PUT needs an object's path");
		return;
	}
	if (check_body(rt, body, r) < 0)
		return;
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_json_ json_t *old = NULL;
	if (gw_store_get(s->store, rt->kind->plural, rt->ns, rt->name, &old, &err) < 0)
		return gw_reply_from_err(r, err);
	apply_update(s, rt, old, body, r);
}

void gw_handle_patch(struct gw_server *s, const struct gw_route *rt, json_t *patch, struct gw_reply *r)
{
	if (!rt->name) {
		gw_reply_error(r, 405, "MethodNotAllowed", NULL, "PATCH needs an object's path");
		return;
	}
	if (!json_is_object(patch)) {
		gw_reply_error(r, 400, "BadRequest", NULL, "a merge patch must be a JSON object");
		return;
	}
	json_t *prv = json_object_get(json_object_get(patch, "metadata"), "resourceVersion");
	for (int attempt = 0; attempt < PATCH_RETRIES; attempt++) {
		_cleanup_err_ struct gw_err *err = NULL;
		_cleanup_json_ json_t *old = NULL;
		if (gw_store_get(s->store, rt->kind->plural, rt->ns, rt->name, &old, &err) < 0)
			return gw_reply_from_err(r, err);
		_cleanup_json_ json_t *next = gw_merge_patch(old, patch);
		if (check_body(rt, next, r) < 0)
			return;
		/* Without a resourceVersion in the patch, it applies to the
		 * version just read; a conflict means read again. */
		json_t *meta = json_object_get(next, "metadata");
		if (!prv)
			json_object_set(meta, "resourceVersion",
					json_object_get(json_object_get(old, "metadata"), "resourceVersion"));
		int ret = apply_update(s, rt, old, next, r);
		if (ret == -EBUSY && !prv)
			continue;
		return;
	}
}

void gw_handle_delete(struct gw_server *s, const struct gw_route *rt, struct gw_reply *r)
{
	if (!rt->name || rt->status) {
		gw_reply_error(r, 405, "MethodNotAllowed", NULL, "DELETE needs an object's path");
		return;
	}
	for (int attempt = 0; attempt < PATCH_RETRIES; attempt++) {
		_cleanup_err_ struct gw_err *err = NULL;
		_cleanup_json_ json_t *old = NULL;
		if (gw_store_get(s->store, rt->kind->plural, rt->ns, rt->name, &old, &err) < 0)
			return gw_reply_from_err(r, err);
		const char *rvs =
			json_string_value(json_object_get(json_object_get(old, "metadata"), "resourceVersion"));
		uint64_t rv = 0;
		if (!rvs || !gw_str_to_u64(rvs, &rv)) {
			gw_reply_error(r, 500, "InternalError", NULL, "stored object without a resourceVersion");
			return;
		}
		if (has_finalizers(old)) {
			/* Kubernetes: with finalizers, delete marks; the object
			 * goes when a later update removes the last finalizer. */
			if (being_deleted(old))
				return reply_ok(r, 202, json_incref(old));
			_cleanup_json_ json_t *next = json_deep_copy(old);
			char ts[32];
			now_rfc3339(ts, sizeof(ts));
			json_object_set_new(json_object_get(next, "metadata"), "deletionTimestamp", json_string(ts));
			json_t *updated = NULL;
			if (gw_store_update(s->store, rt->kind->plural, next, &updated, &err) < 0) {
				if (err && err->code == -EBUSY)
					continue;
				return gw_reply_from_err(r, err);
			}
			return reply_ok(r, 202, updated);
		}
		int64_t deleted_rv = 0;
		if (gw_store_delete(s->store, rt->kind->plural, rt->ns, rt->name, (int64_t)rv, &deleted_rv, &err) <
		    0) {
			if (err && err->code == -EBUSY)
				continue;
			return gw_reply_from_err(r, err);
		}
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)deleted_rv);
		json_object_set_new(json_object_get(old, "metadata"), "resourceVersion", json_string(buf));
		return reply_ok(r, 200, json_incref(old));
	}
	gw_reply_error(r, 409, "Conflict", NULL, "%s %s: changed too often during the delete, retry",
		       rt->kind->kind, rt->name);
}

json_t *gw_merge_patch(const json_t *target, const json_t *patch)
{
	/* RFC 7386: a non-object patch replaces the target; null deletes. */
	if (!json_is_object(patch))
		return json_deep_copy(patch);
	json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)patch, key, value) {
		if (json_is_null(value)) {
			json_object_del(out, key);
			continue;
		}
		json_t *merged = gw_merge_patch(json_object_get(out, key), value);
		json_object_set_new(out, key, merged);
	}
	return out;
}
