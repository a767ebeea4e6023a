/* SPDX-License-Identifier: Apache-2.0 */
/* The store on SQLite: the shared suite on a real file, plus what only the
 * embedded store does: one server per file, bounded history, crash safety
 * (a writer SIGKILLed at random moments loses no acknowledged write). Also
 * the label selector parser and base64, which both backends use. */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <sqlite3.h>

#include "../store/suite.h"
#include "../../src/store/backend.h"

static char *tmp_dir;

/* Namespace, then name: the order lists promise. */
static int compare_items(json_t **a, json_t **b)
{
	int c = strcmp(md_str(*a, "namespace"), md_str(*b, "namespace"));
	return c ? c : strcmp(md_str(*a, "name"), md_str(*b, "name"));
}
static int store_count;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void cleanup_tmp(void)
{
	if (tmp_dir)
		nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *new_path(void)
{
	return gw_asprintf("%s/store-%d.db", tmp_dir, ++store_count);
}

static int suite_open(struct gw_store **store, struct gw_err **err)
{
	_cleanup_free_ char *path = new_path();
	_cleanup_free_ char *url = gw_asprintf("sqlite:%s", path);
	return gw_store_open(url, NULL, store, err);
}

/* The same list tests without the cache of parsed objects. */
static int setup_no_cache(void **state)
{
	_cleanup_free_ char *path = new_path();
	struct gw_store_options o = {.no_list_cache = true};
	_cleanup_err_ struct gw_err *err = NULL;
	struct gw_store *s = NULL;
	if (gw_store_open(path, &o, &s, &err) < 0)
		fail_msg("open store: %s", gw_err_msg(err));
	*state = s;
	return 0;
}

static void test_second_server_refused(void **state)
{
	_cleanup_free_ char *path = new_path();
	struct gw_store *a = NULL, *b = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	assert_int_equal(gw_store_open(path, NULL, &a, &err), 0);
	assert_string_equal(gw_store_backend(a), "sqlite");
	json_decref(create_ok(a, "pods", "default", "p1", NULL));

	/* In this process... */
	assert_int_equal(gw_store_open(path, NULL, &b, &err), -EBUSY);
	assert_null(b);
	assert_non_null(strstr(gw_err_msg(err), "in use by another server"));
	gw_err_free(err);
	err = NULL;
	/* ...and in another. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct gw_store *c = NULL;
		struct gw_err *e = NULL;
		_exit(gw_store_open(path, NULL, &c, &e) == -EBUSY ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Closed: the next server opens it, with the data and the version. */
	int64_t rv_before = 0, rv_after = 0;
	assert_int_equal(gw_store_current_rv(a, &rv_before, &err), 0);
	gw_store_close(a);
	assert_int_equal(gw_store_open(path, NULL, &b, &err), 0);
	_cleanup_json_ json_t *p = NULL;
	assert_int_equal(gw_store_get(b, "pods", "default", "p1", &p, &err), 0);
	assert_int_equal(gw_store_current_rv(b, &rv_after, &err), 0);
	assert_int_equal(rv_before, rv_after);
	_cleanup_json_ json_t *p2 = create_ok(b, "pods", "default", "p2", NULL);
	assert_true(rv_of(p2) > rv_after);
	gw_store_close(b);
}

static void test_history_bounded(void **state)
{
	_cleanup_free_ char *path = new_path();
	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	struct gw_store_options opts = {.history_events = 10};
	assert_int_equal(gw_store_open(path, &opts, &s, &err), 0);
	int64_t first = 0;
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		json_t *o = create_ok(s, "pods", "default", name, NULL);
		if (!first)
			first = rv_of(o);
		json_decref(o);
	}
	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "pods", NULL, first, &w, &err), GW_STORE_EXPIRED);
	assert_non_null(strstr(gw_err_msg(err), "re-list"));
	gw_err_free(err);
	err = NULL;
	/* The last 10 are still there. */
	int64_t now = 0;
	assert_int_equal(gw_store_current_rv(s, &now, &err), 0);
	assert_int_equal(gw_store_watch(s, "pods", NULL, now - 10, &w, &err), 0);
	for (int i = 0; i < 10; i++) {
		struct gw_store_event ev = next_event(w);
		assert_int_equal(ev.rv, now - 9 + i);
		gw_store_event_fini(&ev);
	}
	gw_store_watch_free(w);
	gw_store_close(s);
}

/* A watch waiting when compaction passes it gets the expired error. */
static void test_watch_overtaken(void **state)
{
	_cleanup_free_ char *path = new_path();
	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	assert_int_equal(gw_store_open(path, NULL, &s, &err), 0);
	json_decref(create_ok(s, "pods", "default", "a", NULL));
	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "pods", NULL, 0, &w, &err), 0);
	json_decref(create_ok(s, "pods", "default", "b", NULL));
	json_decref(create_ok(s, "pods", "default", "c", NULL));
	int64_t now = 0;
	assert_int_equal(gw_store_current_rv(s, &now, &err), 0);
	assert_int_equal(gw_store_compact(s, now, &err), 0);
	struct gw_store_event ev = {0};
	assert_int_equal(gw_store_watch_next(w, 1000, &ev, &err), GW_STORE_EXPIRED);
	gw_store_watch_free(w);
	gw_store_close(s);
}

struct bulk_writer {
	struct gw_store *s;
	int id, n, failures;
};

static void *bulk_create(void *arg)
{
	struct bulk_writer *b = arg;
	for (int i = 0; i < b->n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "w%d-%05d", b->id, i);
		_cleanup_json_ json_t *o = vm(b->id % 2 ? "odd" : "even", name, "{\"tier\":\"x\"}");
		_cleanup_err_ struct gw_err *err = NULL;
		if (gw_store_create(b->s, "pods", o, NULL, &err) < 0)
			b->failures++;
	}
	return NULL;
}

/* Writers at once (their writes share commits) and a list big enough to
 * be parsed by several threads: everything there, sorted, versions
 * distinct. */
static void test_concurrent_writers_large_list(void **state)
{
	_cleanup_free_ char *path = new_path();
	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	assert_int_equal(gw_store_open(path, NULL, &s, &err), 0);
	struct bulk_writer b[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		b[i] = (struct bulk_writer){.s = s, .id = i, .n = 600};
		assert_int_equal(pthread_create(&t[i], NULL, bulk_create, &b[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(b[i].failures, 0);
	}
	_cleanup_json_ json_t *items = NULL;
	int64_t list_rv = 0;
	assert_int_equal(gw_store_list(s, "pods", NULL, "tier=x", &items, &list_rv, &err), 0);
	assert_int_equal(json_array_size(items), 2400);
	assert_int_equal(list_rv, 2400);
	bool *seen = gw_calloc(2401, sizeof(*seen));
	for (size_t i = 0; i < 2400; i++) {
		json_t *o = json_array_get(items, i);
		int64_t rv = rv_of(o);
		assert_true(rv >= 1 && rv <= 2400 && !seen[rv]);
		seen[rv] = true;
		if (i)
			assert_true(compare_items(&(json_t *){json_array_get(items, i - 1)}, &o) < 0);
	}
	free(seen);
	gw_store_close(s);
}

static void check_integrity(const char *path, int64_t *objects)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	/* Nothing half-written: every object's version has its event, the
	 * store's version is the last event's. */
	static const char *const zero_queries[] = {
		"SELECT count(*) FROM objects o WHERE NOT EXISTS"
		" (SELECT 1 FROM events e WHERE e.rv = o.rv AND e.name = o.name)",
		"SELECT (SELECT value FROM meta WHERE key = 'rv') - (SELECT max(rv) FROM events)",
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(zero_queries); i++) {
		assert_int_equal(sqlite3_prepare_v2(db, zero_queries[i], -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int64(st, 0), 0);
		sqlite3_finalize(st);
	}
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM objects", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	*objects = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The child: creates objects r<round>-<i> until killed, and after each
 * acknowledged create writes i to the pipe. */
static void crash_child(const char *path, int round, int fd)
{
	struct gw_store *s = NULL;
	struct gw_err *err = NULL;
	if (gw_store_open(path, NULL, &s, &err) < 0)
		_exit(2);
	for (uint32_t i = 0;; i++) {
		char name[32];
		snprintf(name, sizeof(name), "r%d-%u", round, i);
		json_t *o = vm("default", name, NULL);
		if (gw_store_create(s, "pods", o, NULL, &err) < 0)
			_exit(3);
		json_decref(o);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
}

static void test_crash_keeps_acknowledged(void **state)
{
	_cleanup_free_ char *path = new_path();
	unsigned seed = (unsigned)time(NULL);
	int64_t total_acked = 0;
	for (int round = 0; round < 5; round++) {
		int fds[2];
		assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(path, round, fds[1]);
		}
		close(fds[1]);
		uint32_t acked = 0, i;
		bool any = false;
		/* Wait for the first acknowledgement, then kill at a random moment. */
		if (read(fds[0], &i, sizeof(i)) == sizeof(i)) {
			any = true;
			acked = i + 1;
		}
		struct timespec ts = {0, (long)(rand_r(&seed) % 150 + 10) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		while (read(fds[0], &i, sizeof(i)) == sizeof(i))
			acked = i + 1;
		close(fds[0]);
		assert_true(any);

		int64_t objects = 0;
		check_integrity(path, &objects);
		struct gw_store *s = NULL;
		_cleanup_err_ struct gw_err *err = NULL;
		assert_int_equal(gw_store_open(path, NULL, &s, &err), 0);
		for (uint32_t k = 0; k < acked; k++) {
			char name[32];
			snprintf(name, sizeof(name), "r%d-%u", round, k);
			json_t *o = NULL;
			if (gw_store_get(s, "pods", "default", name, &o, &err) < 0)
				fail_msg("round %d (seed %u): acknowledged %s lost: %s", round, seed, name,
					 gw_err_msg(err));
			json_decref(o);
		}
		total_acked += acked;
		/* At most the one create in flight when killed is there unacknowledged. */
		assert_true(objects >= total_acked && objects <= total_acked + 1);
		/* The reopened store writes on. */
		char name[32];
		snprintf(name, sizeof(name), "after-%d", round);
		json_decref(create_ok(s, "nodes", "", name, NULL));
		gw_store_close(s);
		total_acked = objects + 1;
	}
}

/* A file written by schema 1 (no events.prev_object) is upgraded at open:
 * its history still reads (without previous states) and writes go on. */
static void test_schema1_upgraded(void **state)
{
	_cleanup_free_ char *path = new_path();
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	static const char schema1[] =
		"PRAGMA journal_mode=WAL;"
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
		"CREATE TABLE objects (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
		" rv INTEGER NOT NULL, object TEXT NOT NULL, labels TEXT, PRIMARY KEY (kind, namespace, name))"
		" WITHOUT ROWID;"
		"CREATE TABLE events (rv INTEGER PRIMARY KEY, type INTEGER NOT NULL, kind TEXT NOT NULL,"
		" namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL);"
		"INSERT INTO meta VALUES ('schema', 1), ('rv', 2), ('compacted', 0);"
		"INSERT INTO objects VALUES ('pods', 'ns', 'a', 2, '{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\","
		"\"labels\":{\"app\":\"y\"}}}', '{\"app\":\"y\"}');"
		"INSERT INTO events VALUES (1, 0, 'pods', 'ns', 'a', '{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\","
		"\"labels\":{\"app\":\"x\"}}}'), (2, 1, 'pods', 'ns', 'a', '{\"metadata\":{\"name\":\"a\","
		"\"namespace\":\"ns\",\"labels\":{\"app\":\"y\"}}}');";
	assert_int_equal(sqlite3_exec(db, schema1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	if (gw_store_open(path, NULL, &s, &err) < 0)
		fail_msg("open a schema 1 store: %s", gw_err_msg(err));
	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "pods", NULL, 1, &w, &err), 0);
	_cleanup_json_ json_t *a = NULL;
	assert_int_equal(gw_store_get(s, "pods", "ns", "a", &a, &err), 0);
	json_object_set_new(json_object_get(json_object_get(a, "metadata"), "labels"), "app", json_string("z"));
	assert_int_equal(gw_store_update(s, "pods", a, NULL, &err), 0);
	struct gw_store_event ev = next_event(w);   /* the old event: no previous state */
	assert_int_equal(ev.rv, 2);
	assert_null(ev.prev_object);
	gw_store_event_fini(&ev);
	ev = next_event(w);
	assert_int_equal(ev.rv, 3);
	assert_non_null(ev.prev_object);
	gw_store_event_fini(&ev);
	gw_store_watch_free(w);
	gw_store_close(s);

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_selector_parse(void **state)
{
	static const char *const good[] = {"a=b", "a==b", "a!=b", "a", "!a", "a in (x)",
					   "a notin (x, y)", " a = b , c ", "example.com/role=x",
					   "a=", "a in ()"};
	static const char *const bad[] = {"=b", "a=b,", "a in x", "a in (x", "a ~ b", "a=b c",
					  ",", "!", "a in (x,,"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(good); i++) {
		struct gw_store_selector *sel = NULL;
		_cleanup_err_ struct gw_err *err = NULL;
		if (gw_store_selector_parse(good[i], &sel, &err) < 0)
			fail_msg("\"%s\" refused: %s", good[i], gw_err_msg(err));
		gw_store_selector_free(sel);
	}
	for (size_t i = 0; i < GW_ARRAY_SIZE(bad); i++) {
		struct gw_store_selector *sel = NULL;
		_cleanup_err_ struct gw_err *err = NULL;
		if (gw_store_selector_parse(bad[i], &sel, &err) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_null(sel);
	}
	struct gw_store_selector *sel = NULL;
	assert_int_equal(gw_store_selector_parse("a=", &sel, NULL), 0);
	_cleanup_json_ json_t *empty = json_pack("{s:s}", "a", "");
	_cleanup_json_ json_t *set = json_pack("{s:s}", "a", "x");
	assert_true(gw_store_selector_matches(sel, empty));
	assert_false(gw_store_selector_matches(sel, set));
	assert_false(gw_store_selector_matches(sel, NULL));
	gw_store_selector_free(sel);
}

static void test_base64(void **state)
{
	static const struct {
		const char *plain, *coded;
	} cases[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		     {"foob", "Zm9vYg=="}, {"/godwit/pods/", "L2dvZHdpdC9wb2RzLw=="}};
	for (size_t i = 0; i < GW_ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *enc = gw_base64_encode(cases[i].plain, strlen(cases[i].plain));
		assert_string_equal(enc, cases[i].coded);
		_cleanup_free_ char *dec = NULL;
		size_t len;
		assert_int_equal(gw_base64_decode(enc, strlen(enc), &dec, &len), 0);
		assert_int_equal(len, strlen(cases[i].plain));
		assert_memory_equal(dec, cases[i].plain, len);
	}
	static const char *const bad[] = {"Zg=", "Z===", "Zg==Zg==", "Zm9v!", "Zh==", "=Zg=", "Zm9"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(bad); i++) {
		char *dec = NULL;
		size_t len;
		if (gw_base64_decode(bad[i], strlen(bad[i]), &dec, &len) != -EINVAL)
			fail_msg("\"%s\" decoded", bad[i]);
		assert_null(dec);
	}
	/* Binary round trip, every byte value. */
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	_cleanup_free_ char *enc = gw_base64_encode(all, sizeof(all));
	_cleanup_free_ char *dec = NULL;
	size_t len;
	assert_int_equal(gw_base64_decode(enc, strlen(enc), &dec, &len), 0);
	assert_int_equal(len, 256);
	assert_memory_equal(dec, all, 256);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	tmp_dir = gw_asprintf("%s/godwit-store-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		return 1;
	}
	atexit(cleanup_tmp);
	const struct CMUnitTest tests[] = {
		SUITE_TESTS,
		cmocka_unit_test_setup_teardown(test_list_selector, setup_no_cache, suite_teardown),
		cmocka_unit_test_setup_teardown(test_list_follows_writes, setup_no_cache, suite_teardown),
		cmocka_unit_test_setup_teardown(test_list_snapshot_during_writes, setup_no_cache,
						suite_teardown),
		cmocka_unit_test(test_second_server_refused),
		cmocka_unit_test(test_history_bounded),
		cmocka_unit_test(test_watch_overtaken),
		cmocka_unit_test(test_concurrent_writers_large_list),
		cmocka_unit_test(test_crash_keeps_acknowledged),
		cmocka_unit_test(test_selector_parse),
		cmocka_unit_test(test_schema1_upgraded),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
}
