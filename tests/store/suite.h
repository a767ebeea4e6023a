/* SPDX-License-Identifier: Apache-2.0 */
/* The store's behaviour, one suite for every backend: test_store_sqlite
 * and test_store_etcd run these same tests against a real SQLite file and a
 * real etcd. The including file defines suite_open() (a fresh, empty store
 * per test) and lists SUITE_TESTS in its cmocka group. */
#ifndef GODWIT_TEST_STORE_SUITE_H
#define GODWIT_TEST_STORE_SUITE_H

#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "../unit/helpers.h"
#include "godwit/store.h"

/* Opens a fresh, empty store for one test; 0 or a negative errno. */
static int suite_open(struct gw_store **store, struct gw_err **err);

static int suite_setup(void **state)
{
	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	int r = suite_open(&s, &err);
	if (r < 0)
		fail_msg("open store: %s", gw_err_msg(err));
	*state = s;
	return 0;
}

static int suite_teardown(void **state)
{
	gw_store_close(*state);
	return 0;
}

static json_t *vm(const char *ns, const char *name, const char *labels_json)
{
	json_t *labels = labels_json ? json_loads(labels_json, 0, NULL) : json_object();
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:i}}", "apiVersion", "kubevirt.io/v1",
			 "kind", "VirtualMachineInstance", "metadata", "namespace", ns, "name", name,
			 "labels", labels, "spec", "cpu", 1);
}

static int64_t rv_of(const json_t *o)
{
	const char *t = json_string_value(
		json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
	assert_non_null(t);
	int64_t v = strtoll(t, NULL, 10);
	assert_true(v > 0);
	return v;
}

static const char *md_str(const json_t *o, const char *field)
{
	return json_string_value(json_object_get(json_object_get(o, "metadata"), field));
}

static json_t *create_ok(struct gw_store *s, const char *kind, const char *ns, const char *name,
			 const char *labels)
{
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_json_ json_t *o = vm(ns, name, labels);
	json_t *created = NULL;
	int r = gw_store_create(s, kind, o, &created, &err);
	if (r < 0)
		fail_msg("create %s/%s/%s: %s", kind, ns, name, gw_err_msg(err));
	return created;
}

static void test_create_get(void **state)
{
	struct gw_store *s = *state;
	_cleanup_json_ json_t *a = create_ok(s, "virtualmachineinstances", "default", "vm1", NULL);
	assert_non_null(md_str(a, "uid"));
	assert_int_equal(strlen(md_str(a, "uid")), 36);
	assert_non_null(md_str(a, "creationTimestamp"));
	int64_t rv = rv_of(a);

	_cleanup_json_ json_t *got = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	assert_int_equal(gw_store_get(s, "virtualmachineinstances", "default", "vm1", &got, &err), 0);
	assert_true(json_equal(a, got));
	assert_int_equal(rv_of(got), rv);

	/* The same name again: exists. */
	_cleanup_json_ json_t *again = vm("default", "vm1", NULL);
	assert_int_equal(gw_store_create(s, "virtualmachineinstances", again, NULL, &err), -EEXIST);
	assert_non_null(strstr(gw_err_msg(err), "already exists"));
	gw_err_free(err);
	err = NULL;

	/* The same name in another namespace or kind is another object. */
	json_decref(create_ok(s, "virtualmachineinstances", "other", "vm1", NULL));
	json_decref(create_ok(s, "virtualmachines", "default", "vm1", NULL));

	/* A given uid is kept. */
	_cleanup_json_ json_t *with_uid = vm("default", "vm2", NULL);
	json_object_set_new(json_object_get(with_uid, "metadata"), "uid", json_string("fixed-uid"));
	_cleanup_json_ json_t *c2 = NULL;
	assert_int_equal(gw_store_create(s, "virtualmachineinstances", with_uid, &c2, &err), 0);
	assert_string_equal(md_str(c2, "uid"), "fixed-uid");
	assert_true(rv_of(c2) > rv);

	/* Missing object; bad keys and objects. */
	json_t *none = NULL;
	assert_int_equal(gw_store_get(s, "virtualmachineinstances", "default", "nope", &none, &err),
			 -ENOENT);
	assert_null(none);
	gw_err_free(err);
	err = NULL;
	assert_int_equal(gw_store_get(s, "virtualmachineinstances", "default", "a/b", &none, &err),
			 -EINVAL);
	gw_err_free(err);
	err = NULL;
	assert_int_equal(gw_store_get(s, "Bad Kind", "default", "x", &none, &err), -EINVAL);
	gw_err_free(err);
	err = NULL;
	_cleanup_json_ json_t *with_rv = vm("default", "vm3", NULL);
	json_object_set_new(json_object_get(with_rv, "metadata"), "resourceVersion", json_string("5"));
	assert_int_equal(gw_store_create(s, "virtualmachineinstances", with_rv, NULL, &err), -EINVAL);
	gw_err_free(err);
	err = NULL;
	_cleanup_json_ json_t *no_name = json_pack("{s:{}}", "metadata");
	assert_int_equal(gw_store_create(s, "virtualmachineinstances", no_name, NULL, &err), -EINVAL);
}

static void test_update_conflict(void **state)
{
	struct gw_store *s = *state;
	_cleanup_json_ json_t *a = create_ok(s, "virtualmachineinstances", "default", "vm1", NULL);
	int64_t rv1 = rv_of(a);
	_cleanup_err_ struct gw_err *err = NULL;

	json_object_set_new(json_object_get(a, "spec"), "cpu", json_integer(2));
	_cleanup_json_ json_t *b = NULL;
	assert_int_equal(gw_store_update(s, "virtualmachineinstances", a, &b, &err), 0);
	int64_t rv2 = rv_of(b);
	assert_true(rv2 > rv1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "spec"), "cpu")), 2);
	assert_string_equal(md_str(a, "uid"), md_str(b, "uid"));

	/* a still carries rv1: a conflict naming both versions. */
	json_object_set_new(json_object_get(a, "spec"), "cpu", json_integer(3));
	assert_int_equal(gw_store_update(s, "virtualmachineinstances", a, NULL, &err), -EBUSY);
	char want[64];
	snprintf(want, sizeof(want), "resourceVersion %" PRId64, rv1);
	assert_non_null(strstr(gw_err_msg(err), want));
	snprintf(want, sizeof(want), "stored %" PRId64, rv2);
	assert_non_null(strstr(gw_err_msg(err), want));
	assert_non_null(strstr(gw_err_msg(err), "conflict"));
	gw_err_free(err);
	err = NULL;
	_cleanup_json_ json_t *still = NULL;
	assert_int_equal(gw_store_get(s, "virtualmachineinstances", "default", "vm1", &still, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(still, "spec"), "cpu")), 2);
	assert_int_equal(rv_of(still), rv2);

	/* Integer resourceVersion accepted; uid and creationTimestamp kept
	 * whatever the update says. */
	json_t *md = json_object_get(still, "metadata");
	json_object_set_new(md, "resourceVersion", json_integer(rv2));
	json_object_set_new(md, "uid", json_string("changed"));
	_cleanup_json_ json_t *c = NULL;
	assert_int_equal(gw_store_update(s, "virtualmachineinstances", still, &c, &err), 0);
	assert_string_equal(md_str(c, "uid"), md_str(a, "uid"));
	assert_string_equal(md_str(c, "creationTimestamp"), md_str(a, "creationTimestamp"));

	/* Without resourceVersion: unconditional. */
	_cleanup_json_ json_t *blind = vm("default", "vm1", "{\"x\":\"y\"}");
	_cleanup_json_ json_t *d = NULL;
	assert_int_equal(gw_store_update(s, "virtualmachineinstances", blind, &d, &err), 0);
	assert_true(rv_of(d) > rv_of(c));
	assert_string_equal(md_str(d, "uid"), md_str(a, "uid"));

	/* Missing object. */
	_cleanup_json_ json_t *ghost = vm("default", "ghost", NULL);
	assert_int_equal(gw_store_update(s, "virtualmachineinstances", ghost, NULL, &err), -ENOENT);
}

static void test_delete(void **state)
{
	struct gw_store *s = *state;
	_cleanup_json_ json_t *a = create_ok(s, "virtualmachineinstances", "default", "vm1", NULL);
	_cleanup_err_ struct gw_err *err = NULL;
	int64_t rv = rv_of(a), del_rv = 0;
	assert_int_equal(gw_store_delete(s, "virtualmachineinstances", "default", "vm1", rv + 100,
					 &del_rv, &err),
			 -EBUSY);
	assert_non_null(strstr(gw_err_msg(err), "conflict"));
	gw_err_free(err);
	err = NULL;
	assert_int_equal(gw_store_delete(s, "virtualmachineinstances", "default", "vm1", rv, &del_rv,
					 &err),
			 0);
	assert_true(del_rv > rv);
	json_t *none = NULL;
	assert_int_equal(gw_store_get(s, "virtualmachineinstances", "default", "vm1", &none, &err),
			 -ENOENT);
	gw_err_free(err);
	err = NULL;
	assert_int_equal(gw_store_delete(s, "virtualmachineinstances", "default", "vm1", 0, NULL, &err),
			 -ENOENT);
	gw_err_free(err);
	err = NULL;
	/* Unconditional delete; the name can be created again. */
	json_decref(create_ok(s, "virtualmachineinstances", "default", "vm1", NULL));
	assert_int_equal(gw_store_delete(s, "virtualmachineinstances", "default", "vm1", 0, NULL, &err),
			 0);
	json_decref(create_ok(s, "virtualmachineinstances", "default", "vm1", NULL));
}

static size_t list_count(struct gw_store *s, const char *ns, const char *selector)
{
	_cleanup_json_ json_t *items = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	int r = gw_store_list(s, "virtualmachineinstances", ns, selector, &items, NULL, &err);
	if (r < 0)
		fail_msg("list %s: %s", selector ? selector : "", gw_err_msg(err));
	return json_array_size(items);
}

static size_t list_count_kind(struct gw_store *s, const char *kind, const char *ns,
			      const char *selector)
{
	_cleanup_json_ json_t *items = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	if (gw_store_list(s, kind, ns, selector, &items, NULL, &err) < 0)
		fail_msg("list %s: %s", kind, gw_err_msg(err));
	return json_array_size(items);
}

static void test_list_selector(void **state)
{
	struct gw_store *s = *state;
	json_decref(create_ok(s, "virtualmachineinstances", "b", "web-2", "{\"app\":\"web\",\"tier\":\"front\"}"));
	json_decref(create_ok(s, "virtualmachineinstances", "a", "web-1", "{\"app\":\"web\",\"tier\":\"front\"}"));
	json_decref(create_ok(s, "virtualmachineinstances", "a", "db-1", "{\"app\":\"db\",\"tier\":\"back\"}"));
	json_decref(create_ok(s, "virtualmachineinstances", "a", "cache", "{\"app\":\"cache\"}"));
	json_decref(create_ok(s, "virtualmachineinstances", "b", "bare", NULL));
	json_decref(create_ok(s, "virtualmachines", "a", "other-kind", "{\"app\":\"web\"}"));

	_cleanup_json_ json_t *all = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	int64_t list_rv = 0, now = 0;
	assert_int_equal(gw_store_list(s, "virtualmachineinstances", NULL, NULL, &all, &list_rv, &err), 0);
	assert_int_equal(gw_store_current_rv(s, &now, &err), 0);
	assert_int_equal(list_rv, now);
	assert_int_equal(json_array_size(all), 5);
	/* Sorted by namespace, then name. */
	static const char *const order[] = {"cache", "db-1", "web-1", "bare", "web-2"};
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(md_str(json_array_get(all, i), "name"), order[i]);

	assert_int_equal(list_count(s, "a", NULL), 3);
	assert_int_equal(list_count(s, "b", ""), 2);
	assert_int_equal(list_count(s, "c", NULL), 0);
	assert_int_equal(list_count(s, NULL, "app=web"), 2);
	assert_int_equal(list_count(s, NULL, "app==web"), 2);
	assert_int_equal(list_count(s, "a", "app=web"), 1);
	assert_int_equal(list_count(s, NULL, "app!=web"), 3); /* includes "bare" */
	assert_int_equal(list_count(s, NULL, "tier"), 3);
	assert_int_equal(list_count(s, NULL, "!tier"), 2);
	assert_int_equal(list_count(s, NULL, "app in (web, db)"), 3);
	assert_int_equal(list_count(s, NULL, "app notin (web,db)"), 2);
	assert_int_equal(list_count(s, NULL, "app=web,tier=front"), 2);
	assert_int_equal(list_count(s, NULL, "app=web, tier=back"), 0);
	assert_int_equal(list_count(s, NULL, "app"), 4);

	json_t *items = NULL;
	assert_int_equal(gw_store_list(s, "virtualmachineinstances", NULL, "app in (web", &items, NULL,
				       &err),
			 -EINVAL);
	assert_null(items);
	assert_non_null(strstr(gw_err_msg(err), "label selector"));
}

static struct gw_store_event next_event(struct gw_store_watch *w)
{
	struct gw_store_event ev = {0};
	_cleanup_err_ struct gw_err *err = NULL;
	int r = gw_store_watch_next(w, 5000, &ev, &err);
	if (r < 0)
		fail_msg("watch_next: %d %s", r, gw_err_msg(err));
	return ev;
}

static void expect_event(struct gw_store_watch *w, enum gw_store_event_type type, const char *name,
			 int64_t rv)
{
	struct gw_store_event ev = next_event(w);
	assert_string_equal(gw_store_event_type_name(ev.type), gw_store_event_type_name(type));
	assert_string_equal(md_str(ev.object, "name"), name);
	assert_int_equal(ev.rv, rv);
	assert_int_equal(rv_of(ev.object), rv);
	gw_store_event_fini(&ev);
}

static void test_watch_order(void **state)
{
	struct gw_store *s = *state;
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_json_ json_t *pre = create_ok(s, "virtualmachineinstances", "default", "before", NULL);
	int64_t start = rv_of(pre);

	_cleanup_json_ json_t *a = create_ok(s, "virtualmachineinstances", "default", "vm1", "{\"k\":\"v\"}");
	json_decref(create_ok(s, "virtualmachines", "default", "vm1", NULL)); /* other kind */
	json_decref(create_ok(s, "virtualmachineinstances", "other", "vm9", NULL)); /* other ns */
	json_object_set_new(json_object_get(a, "spec"), "cpu", json_integer(4));
	_cleanup_json_ json_t *b = NULL;
	assert_int_equal(gw_store_update(s, "virtualmachineinstances", a, &b, &err), 0);
	int64_t del_rv = 0;
	assert_int_equal(gw_store_delete(s, "virtualmachineinstances", "default", "vm1", 0, &del_rv, &err), 0);

	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "virtualmachineinstances", "default", start, &w, &err), 0);
	expect_event(w, GW_STORE_ADDED, "vm1", rv_of(a));
	struct gw_store_event ev = next_event(w);
	assert_int_equal(ev.type, GW_STORE_MODIFIED);
	assert_int_equal(ev.rv, rv_of(b));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev.object, "spec"), "cpu")), 4);
	gw_store_event_fini(&ev);
	ev = next_event(w);
	assert_int_equal(ev.type, GW_STORE_DELETED);
	assert_int_equal(ev.rv, del_rv);
	assert_int_equal(rv_of(ev.object), del_rv);
	/* The last state comes with a DELETED event. */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev.object, "spec"), "cpu")), 4);
	assert_string_equal(md_str(ev.object, "uid"), md_str(a, "uid"));
	gw_store_event_fini(&ev);
	/* Nothing more: a timeout, quickly. */
	assert_int_equal(gw_store_watch_next(w, 200, &ev, &err), -ETIMEDOUT);
	/* A later write arrives. */
	_cleanup_json_ json_t *late = create_ok(s, "virtualmachineinstances", "default", "late", NULL);
	expect_event(w, GW_STORE_ADDED, "late", rv_of(late));
	gw_store_watch_free(w);

	/* Every namespace: vm9 too. */
	assert_int_equal(gw_store_watch(s, "virtualmachineinstances", NULL, start, &w, &err), 0);
	expect_event(w, GW_STORE_ADDED, "vm1", rv_of(a));
	expect_event(w, GW_STORE_ADDED, "vm9", rv_of(a) + 2);
	gw_store_watch_free(w);

	/* From 0: only what comes after. */
	assert_int_equal(gw_store_watch(s, "virtualmachineinstances", NULL, 0, &w, &err), 0);
	assert_int_equal(gw_store_watch_next(w, 200, &ev, &err), -ETIMEDOUT);
	_cleanup_json_ json_t *now = create_ok(s, "virtualmachineinstances", "x", "now", NULL);
	expect_event(w, GW_STORE_ADDED, "now", rv_of(now));
	gw_store_watch_free(w);
}

struct writer_args {
	struct gw_store *s;
	int n;
	int failures;
};

static void *writer(void *arg)
{
	struct writer_args *a = arg;
	for (int i = 0; i < a->n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "obj-%04d", i);
		_cleanup_json_ json_t *o = vm("default", name, NULL);
		_cleanup_err_ struct gw_err *err = NULL;
		if (gw_store_create(a->s, "pods", o, NULL, &err) < 0)
			a->failures++;
	}
	return NULL;
}

/* A watch reading while another thread writes: every event, in order. */
static void test_watch_concurrent(void **state)
{
	struct gw_store *s = *state;
	_cleanup_err_ struct gw_err *err = NULL;
	int64_t start = 0;
	assert_int_equal(gw_store_current_rv(s, &start, &err), 0);
	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "pods", "default", start, &w, &err), 0);
	struct writer_args args = {.s = s, .n = 150};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, &args), 0);
	int64_t last = start;
	for (int i = 0; i < args.n; i++) {
		struct gw_store_event ev = next_event(w);
		char name[32];
		snprintf(name, sizeof(name), "obj-%04d", i);
		assert_int_equal(ev.type, GW_STORE_ADDED);
		assert_string_equal(md_str(ev.object, "name"), name);
		assert_true(ev.rv > last);
		last = ev.rv;
		gw_store_event_fini(&ev);
	}
	pthread_join(t, NULL);
	assert_int_equal(args.failures, 0);
	gw_store_watch_free(w);
}

static void test_watch_expired(void **state)
{
	struct gw_store *s = *state;
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_json_ json_t *first = create_ok(s, "virtualmachineinstances", "default", "a", NULL);
	json_decref(create_ok(s, "virtualmachineinstances", "default", "b", NULL));
	json_decref(create_ok(s, "virtualmachineinstances", "default", "c", NULL));
	json_decref(create_ok(s, "virtualmachineinstances", "default", "d", NULL));
	int64_t now = 0;
	assert_int_equal(gw_store_current_rv(s, &now, &err), 0);
	assert_int_equal(gw_store_compact(s, now, &err), 0);

	struct gw_store_watch *w = NULL;
	int r = gw_store_watch(s, "virtualmachineinstances", "default", rv_of(first), &w, &err);
	if (r == 0) {
		struct gw_store_event ev = {0};
		r = gw_store_watch_next(w, 5000, &ev, &err);
		gw_store_watch_free(w);
	}
	assert_int_equal(r, GW_STORE_EXPIRED);
	assert_non_null(strstr(gw_err_msg(err), "too old"));
	assert_non_null(strstr(gw_err_msg(err), "re-list"));
	gw_err_free(err);
	err = NULL;

	/* Re-list, then watch from the list's version: works. */
	_cleanup_json_ json_t *items = NULL;
	int64_t list_rv = 0;
	assert_int_equal(gw_store_list(s, "virtualmachineinstances", "default", NULL, &items, &list_rv, &err), 0);
	assert_int_equal(json_array_size(items), 4);
	assert_int_equal(gw_store_watch(s, "virtualmachineinstances", "default", list_rv, &w, &err), 0);
	_cleanup_json_ json_t *e = create_ok(s, "virtualmachineinstances", "default", "e", NULL);
	expect_event(w, GW_STORE_ADDED, "e", rv_of(e));
	gw_store_watch_free(w);
}

/* One resourceVersion for the whole store: increasing across kinds. */
static void test_rv_store_wide(void **state)
{
	struct gw_store *s = *state;
	int64_t last = 0;
	static const char *const kinds[] = {"pods", "nodes", "virtualmachineinstancemigrations", "pods"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(kinds); i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%zu", i);
		_cleanup_json_ json_t *o = create_ok(s, kinds[i], "", name, NULL);
		assert_true(rv_of(o) > last);
		last = rv_of(o);
	}
	/* Cluster-scoped (empty namespace) objects list and get. */
	_cleanup_json_ json_t *got = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	assert_int_equal(gw_store_get(s, "nodes", NULL, "n1", &got, &err), 0);
	assert_int_equal(list_count(s, NULL, NULL), 0);
}

struct incrementer {
	struct gw_store *s;
	int n, conflicts, failures;
};

/* Read, add one, update with the version read; on conflict, again. */
static void *increment(void *arg)
{
	struct incrementer *a = arg;
	for (int i = 0; i < a->n; i++) {
		for (int attempt = 0;; attempt++) {
			_cleanup_err_ struct gw_err *err = NULL;
			_cleanup_json_ json_t *o = NULL;
			if (attempt > 1000 || gw_store_get(a->s, "counters", "default", "c", &o, &err) < 0) {
				a->failures++;
				break;
			}
			json_t *spec = json_object_get(o, "spec");
			json_object_set_new(spec, "cpu",
					    json_integer(json_integer_value(json_object_get(spec, "cpu")) + 1));
			int r = gw_store_update(a->s, "counters", o, NULL, &err);
			if (r == 0)
				break;
			if (r != -EBUSY) {
				a->failures++;
				break;
			}
			a->conflicts++;
		}
	}
	return NULL;
}

/* Compare-and-swap under contention: no increment lost, none doubled. */
static void test_concurrent_cas(void **state)
{
	struct gw_store *s = *state;
	json_decref(create_ok(s, "counters", "default", "c", NULL)); /* spec.cpu = 1 */
	struct incrementer a[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct incrementer){.s = s, .n = 25};
		assert_int_equal(pthread_create(&t[i], NULL, increment, &a[i]), 0);
	}
	int conflicts = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failures, 0);
		conflicts += a[i].conflicts;
	}
	_cleanup_json_ json_t *o = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	assert_int_equal(gw_store_get(s, "counters", "default", "c", &o, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "spec"), "cpu")), 101);
	print_message("# %d conflicts retried\n", conflicts);
}

/* A list after writes shows them, with the versions a get gives. */
static void test_list_follows_writes(void **state)
{
	struct gw_store *s = *state;
	_cleanup_err_ struct gw_err *err = NULL;
	json_decref(create_ok(s, "pods", "a", "keep", "{\"app\":\"x\"}"));
	json_decref(create_ok(s, "pods", "a", "change", "{\"app\":\"x\"}"));
	json_decref(create_ok(s, "pods", "a", "gone", "{\"app\":\"x\"}"));
	assert_int_equal(list_count_kind(s, "pods", NULL, "app=x"), 3);

	_cleanup_json_ json_t *c = NULL;
	assert_int_equal(gw_store_get(s, "pods", "a", "change", &c, &err), 0);
	json_object_set_new(json_object_get(json_object_get(c, "metadata"), "labels"), "app",
			    json_string("y"));
	_cleanup_json_ json_t *c2 = NULL;
	assert_int_equal(gw_store_update(s, "pods", c, &c2, &err), 0);
	assert_int_equal(gw_store_delete(s, "pods", "a", "gone", 0, NULL, &err), 0);
	_cleanup_json_ json_t *n = create_ok(s, "pods", "b", "new", "{\"app\":\"x\"}");

	_cleanup_json_ json_t *items = NULL;
	int64_t list_rv = 0;
	assert_int_equal(gw_store_list(s, "pods", NULL, NULL, &items, &list_rv, &err), 0);
	assert_int_equal(list_rv, rv_of(n));
	assert_int_equal(json_array_size(items), 3);
	assert_string_equal(md_str(json_array_get(items, 0), "name"), "change");
	assert_true(json_equal(json_array_get(items, 0), c2));
	assert_string_equal(md_str(json_array_get(items, 1), "name"), "keep");
	assert_string_equal(md_str(json_array_get(items, 2), "name"), "new");
	assert_int_equal(rv_of(json_array_get(items, 2)), rv_of(n));
	assert_int_equal(list_count_kind(s, "pods", NULL, "app=x"), 2);
	assert_int_equal(list_count_kind(s, "pods", "a", "app=y"), 1);
	assert_int_equal(list_count_kind(s, "pods", "b", NULL), 1);
}

/* gw_store_list_text gives the bytes of gw_store_list's items, encoded:
 * for every namespace and selector, before and after writes (the SQLite
 * backend's texts are cached and must follow the writes). */
static void expect_list_text(struct gw_store *s, const char *ns, const char *selector)
{
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_json_ json_t *items = NULL;
	int64_t rv = 0, text_rv = 0;
	assert_int_equal(gw_store_list(s, "pods", ns, selector, &items, &rv, &err), 0);
	_cleanup_free_ char *want = json_dumps(items, JSON_COMPACT);
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_puts(&b, "x");   /* appended to what is there */
	size_t count = 0;
	assert_int_equal(gw_store_list_text(s, "pods", ns, selector, &b, &count, &text_rv, &err), 0);
	assert_string_equal(b.data + 1, want);
	assert_int_equal(b.data[0], 'x');
	assert_int_equal(count, json_array_size(items));
	assert_int_equal(text_rv, rv);
	gw_buf_fini(&b);
}

static void test_list_text(void **state)
{
	struct gw_store *s = *state;
	_cleanup_err_ struct gw_err *err = NULL;
	json_decref(create_ok(s, "pods", "b", "p2", "{\"app\":\"x\"}"));
	json_decref(create_ok(s, "pods", "a", "p1", "{\"app\":\"x\"}"));
	json_decref(create_ok(s, "pods", "a", "p3", "{\"app\":\"y\",\"q\":\"\\\"\u00e9\"}"));
	for (int round = 0; round < 2; round++) {
		expect_list_text(s, NULL, NULL);
		expect_list_text(s, "a", NULL);
		expect_list_text(s, NULL, "app=x");
		expect_list_text(s, "b", "app=y");
	}
	_cleanup_json_ json_t *c = NULL;
	assert_int_equal(gw_store_get(s, "pods", "a", "p1", &c, &err), 0);
	json_object_set_new(json_object_get(json_object_get(c, "metadata"), "labels"), "app", json_string("y"));
	assert_int_equal(gw_store_update(s, "pods", c, NULL, &err), 0);
	assert_int_equal(gw_store_delete(s, "pods", "b", "p2", 0, NULL, &err), 0);
	json_decref(create_ok(s, "pods", "a", "p0", NULL));
	expect_list_text(s, NULL, NULL);
	expect_list_text(s, NULL, "app=y");
	expect_list_text(s, "c", NULL);
	struct gw_buf b;
	gw_buf_init(&b);
	size_t count = 0;
	assert_int_equal(gw_store_list_text(s, "pods", NULL, "app in (", &b, &count, NULL, &err), -EINVAL);
	gw_buf_fini(&b);
}

/* An update that changes the labels carries the previous state (for
 * label-selector watches); one that keeps them carries none. */
static void test_watch_prev_labels(void **state)
{
	struct gw_store *s = *state;
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_json_ json_t *a = create_ok(s, "pods", "ns", "a", "{\"app\":\"x\"}");
	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "pods", NULL, rv_of(a), &w, &err), 0);
	json_t *labels = json_object_get(json_object_get(a, "metadata"), "labels");
	json_object_set_new(a, "spec", json_pack("{s:i}", "cpu", 2));
	_cleanup_json_ json_t *a2 = NULL;
	assert_int_equal(gw_store_update(s, "pods", a, &a2, &err), 0);
	json_object_set_new(labels, "app", json_string("y"));
	json_object_del(json_object_get(a, "metadata"), "resourceVersion");
	_cleanup_json_ json_t *a3 = NULL;
	assert_int_equal(gw_store_update(s, "pods", a, &a3, &err), 0);

	struct gw_store_event ev = next_event(w);
	assert_int_equal(ev.type, GW_STORE_MODIFIED);
	assert_null(ev.prev_object);
	gw_store_event_fini(&ev);
	ev = next_event(w);
	assert_int_equal(ev.type, GW_STORE_MODIFIED);
	assert_non_null(ev.prev_object);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(ev.prev_object, "metadata"), "labels"), "app")),
			    "x");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev.prev_object, "spec"), "cpu")), 2);
	assert_int_equal(rv_of(ev.prev_object), rv_of(a3));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(ev.object, "metadata"), "labels"), "app")),
			    "y");
	gw_store_event_fini(&ev);
	gw_store_watch_free(w);
}

struct lister_writer {
	struct gw_store *s;
	int n, failures;
};

static void *create_pods(void *arg)
{
	struct lister_writer *a = arg;
	for (int i = 0; i < a->n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "p-%04d", i);
		_cleanup_json_ json_t *o = vm("default", name, NULL);
		_cleanup_err_ struct gw_err *err = NULL;
		if (gw_store_create(a->s, "pods", o, NULL, &err) < 0)
			a->failures++;
	}
	return NULL;
}

/* Lists while another thread creates: each list holds exactly the objects
 * written up to its resourceVersion (each create adds one). */
static void test_list_snapshot_during_writes(void **state)
{
	struct gw_store *s = *state;
	_cleanup_err_ struct gw_err *err = NULL;
	int64_t base = 0;
	json_decref(create_ok(s, "pods", "default", "first", NULL));
	assert_int_equal(gw_store_current_rv(s, &base, &err), 0);
	struct lister_writer a = {.s = s, .n = 200};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, create_pods, &a), 0);
	int lists = 0;
	for (;;) {
		_cleanup_json_ json_t *items = NULL;
		int64_t rv = 0;
		assert_int_equal(gw_store_list(s, "pods", NULL, NULL, &items, &rv, &err), 0);
		assert_int_equal((int64_t)json_array_size(items), 1 + rv - base);
		lists++;
		if (rv - base == a.n)
			break;
		struct timespec pause = {0, 1000000L};
		nanosleep(&pause, NULL);
	}
	pthread_join(t, NULL);
	assert_int_equal(a.failures, 0);
	print_message("# %d lists during the writes\n", lists);
}

#define SUITE_TEST(f) cmocka_unit_test_setup_teardown(f, suite_setup, suite_teardown)
#define SUITE_TESTS                                                                                \
	SUITE_TEST(test_create_get), SUITE_TEST(test_update_conflict), SUITE_TEST(test_delete),    \
		SUITE_TEST(test_list_selector), SUITE_TEST(test_watch_order),                      \
		SUITE_TEST(test_watch_concurrent), SUITE_TEST(test_watch_expired),                 \
		SUITE_TEST(test_rv_store_wide), SUITE_TEST(test_concurrent_cas),            \
		SUITE_TEST(test_list_follows_writes), SUITE_TEST(test_list_snapshot_during_writes), \
		SUITE_TEST(test_list_text), SUITE_TEST(test_watch_prev_labels)

#endif
