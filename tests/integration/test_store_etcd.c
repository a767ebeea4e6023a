/* SPDX-License-Identifier: Apache-2.0 */
/* The store on etcd: the same suite as on SQLite against a real etcd on
 * loopback, a 3-member cluster that loses a member and keeps working, and
 * hostile answers from something that is not etcd. Skipped, with the
 * reason, when etcd is not installed. */
#include <curl/curl.h>

#include "etcd.h"
#include "../store/suite.h"

static char *single_endpoints;
static int prefix_count;

/* Each test its own key prefix on the one etcd: an empty store. */
static int suite_open(struct gw_store **store, struct gw_err **err)
{
	_cleanup_free_ char *url = gw_asprintf("etcd:%s", single_endpoints);
	_cleanup_free_ char *prefix = gw_asprintf("/test-%d-%d", (int)getpid(), ++prefix_count);
	/* Lists page through two keys at a time, so paging is exercised. */
	struct gw_store_options o = {.etcd_prefix = prefix, .etcd_list_page = 2};
	return gw_store_open(url, &o, store, err);
}

static void test_backend_name(void **state)
{
	assert_string_equal(gw_store_backend(*state), "etcd");
}

static size_t collect_body(char *data, size_t size, size_t n, void *user)
{
	gw_buf_add(user, data, n);
	return n;
}

/* Whether the member at client port `port` is the cluster's leader
 * (/v3/maintenance/status: its member_id is the leader). */
static bool is_leader(int port)
{
	CURL *c = curl_easy_init();
	struct gw_buf b;
	gw_buf_init(&b);
	_cleanup_free_ char *url = gw_asprintf("http://127.0.0.1:%d/v3/maintenance/status", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	bool leader = false;
	if (curl_easy_perform(c) == CURLE_OK && b.len) {
		json_t *j = json_loadb(b.data, b.len, 0, NULL);
		const char *me = json_string_value(json_object_get(json_object_get(j, "header"), "member_id"));
		const char *lead = json_string_value(json_object_get(j, "leader"));
		leader = me && lead && !strcmp(me, lead);
		json_decref(j);
	}
	gw_buf_fini(&b);
	curl_easy_cleanup(c);
	return leader;
}

/* A 3-member cluster loses its leader, which is also the endpoint the
 * client and the watch use (listed first): every operation keeps working
 * through the other two, and the watch follows without a gap. */
static void test_cluster_failover(void **state)
{
	_cleanup_free_ char *endpoints = NULL;
	size_t first = test_etcd_count;
	if (test_etcd_start_cluster(3, &endpoints) < 0)
		fail_msg("cannot start a 3-member etcd cluster");
	size_t leader = 3;
	for (int tries = 0; tries < 50 && leader == 3; tries++) {
		for (size_t i = 0; i < 3 && leader == 3; i++)
			if (is_leader(test_etcds[first + i].client_port))
				leader = i;
		if (leader == 3) {
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	if (leader == 3)
		fail_msg("no etcd member says it leads");
	struct gw_buf ordered;
	gw_buf_init(&ordered);
	gw_buf_printf(&ordered, "etcd:http://127.0.0.1:%d", test_etcds[first + leader].client_port);
	for (size_t i = 0; i < 3; i++)
		if (i != leader)
			gw_buf_printf(&ordered, ",http://127.0.0.1:%d", test_etcds[first + i].client_port);
	_cleanup_free_ char *url = gw_buf_steal(&ordered);
	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	struct gw_store_options o = {.request_timeout_ms = 8000, .etcd_prefix = "/failover"};
	assert_int_equal(gw_store_open(url, &o, &s, &err), 0);
	_cleanup_json_ json_t *a = create_ok(s, "pods", "default", "a", NULL);
	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "pods", NULL, rv_of(a), &w, &err), 0);

	/* The leader, first endpoint, which the client and the watch use, goes. */
	test_etcd_stop(&test_etcds[first + leader]);
	_cleanup_json_ json_t *b = create_ok(s, "pods", "default", "b", NULL);
	_cleanup_json_ json_t *got = NULL;
	assert_int_equal(gw_store_get(s, "pods", "default", "a", &got, &err), 0);
	json_object_set_new(json_object_get(got, "spec"), "cpu", json_integer(8));
	_cleanup_json_ json_t *upd = NULL;
	if (gw_store_update(s, "pods", got, &upd, &err) < 0)
		fail_msg("update after stop: %s", gw_err_msg(err));
	_cleanup_json_ json_t *items = NULL;
	assert_int_equal(gw_store_list(s, "pods", NULL, NULL, &items, NULL, &err), 0);
	assert_int_equal(json_array_size(items), 2);
	expect_event(w, GW_STORE_ADDED, "b", rv_of(b));
	expect_event(w, GW_STORE_MODIFIED, "a", rv_of(upd));
	int64_t del_rv = 0;
	assert_int_equal(gw_store_delete(s, "pods", "default", "b", 0, &del_rv, &err), 0);
	expect_event(w, GW_STORE_DELETED, "b", del_rv);
	gw_store_watch_free(w);
	gw_store_close(s);
}

/* No etcd at the endpoint, or a bad URL: clear errors at open. */
static void test_not_etcd(void **state)
{
	int sock;
	int port = test_free_port(&sock);
	assert_true(port > 0);
	close(sock);
	_cleanup_free_ char *url = gw_asprintf("etcd:http://127.0.0.1:%d", port);
	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	struct gw_store_options o = {.request_timeout_ms = 300, .connect_timeout_ms = 100};
	assert_int_equal(gw_store_open(url, &o, &s, &err), -EIO);
	assert_null(s);
	assert_non_null(strstr(gw_err_msg(err), "127.0.0.1"));
	gw_err_free(err);
	err = NULL;
	assert_int_equal(gw_store_open("etcd:ftp://x", &o, &s, &err), -EINVAL);
}

/* ---- a fake etcd that answers hostile things ----------------------------- */

struct fake_etcd {
	int listen_fd;
	int port;
	const char *first_body; /* the first request's answer (open) */
	const char *body;       /* every later request's */
	int status;             /* of later answers */
	pthread_t thread;
};

static void *fake_serve(void *arg)
{
	struct fake_etcd *f = arg;
	for (int n = 0;; n++) {
		int c = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return NULL;
		/* Read the request headers and body (small), then answer. */
		char buf[8192];
		size_t got = 0;
		long want = -1;
		for (;;) {
			ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
			buf[got] = '\0';
			char *end = strstr(buf, "\r\n\r\n");
			if (end) {
				char *cl = strcasestr(buf, "content-length:");
				long len = cl ? strtol(cl + 15, NULL, 10) : 0;
				want = (long)(end + 4 - buf) + len;
				if ((long)got >= want)
					break;
			}
		}
		const char *body = n == 0 ? f->first_body : f->body;
		int status = n == 0 ? 200 : f->status;
		char head[256];
		int hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				  status, strlen(body));
		if (write(c, head, (size_t)hl) < 0 || write(c, body, strlen(body)) < 0) {
			/* the client went away: fine */
		}
		close(c);
	}
}

static void fake_start(struct fake_etcd *f)
{
	f->port = test_free_port(&f->listen_fd);
	assert_true(f->port > 0);
	assert_int_equal(listen(f->listen_fd, 16), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_stop(struct fake_etcd *f)
{
	shutdown(f->listen_fd, SHUT_RDWR);
	close(f->listen_fd);
	pthread_join(f->thread, NULL);
}

/* Each answer breaks one rule; every one is an -EIO with a message. */
static void test_hostile_answers(void **state)
{
	static const struct {
		const char *body;
		int status;
	} cases[] = {
		{"{\"kvs\":[{\"key\":\"!!!\",\"value\":\"%%%\",\"mod_revision\":\"3\"}]}", 200},
		{"{\"kvs\":[{\"value\":\"bm90IGpzb24=\",\"mod_revision\":\"3\"}]}", 200},
		{"{\"kvs\":[{\"value\":\"e30=\",\"mod_revision\":\"-3\"}]}", 200},
		{"{\"kvs\":[{\"value\":\"e30=\",\"mod_revision\":\"99999999999999999999999\"}]}", 200},
		{"{\"kvs\":[{\"value\":\"e30=\",\"mod_revision\":3.5}]}", 200},
		{"{\"kvs\":[{\"value\":\"WzFd\",\"mod_revision\":\"3\"}]}", 200},
		{"{\"kvs\":[{\"value\":\"e30=\"}]}", 200},
		{"{\"kvs\":\"x\"}", 200},
		{"{\"kvs\":[{},{}]}", 200},
		{"[1,2]", 200},
		{"oops", 500},
		{"{\"error\":\"etcdserver: too many requests\",\"code\":8}", 429},
		{"", 200},
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(cases); i++) {
		struct fake_etcd f = {.first_body = "{\"header\":{\"revision\":\"5\"}}",
				      .body = cases[i].body, .status = cases[i].status};
		fake_start(&f);
		_cleanup_free_ char *url = gw_asprintf("etcd:http://127.0.0.1:%d", f.port);
		struct gw_store_options o = {.request_timeout_ms = 300, .connect_timeout_ms = 200};
		struct gw_store *s = NULL;
		_cleanup_err_ struct gw_err *err = NULL;
		assert_int_equal(gw_store_open(url, &o, &s, &err), 0);
		json_t *obj = NULL;
		int r = gw_store_get(s, "pods", "default", "a", &obj, &err);
		if (r != -EIO)
			fail_msg("case %zu (%s): get gave %d, not -EIO", i, cases[i].body, r);
		assert_null(obj);
		assert_non_null(err);
		gw_store_close(s);
		fake_stop(&f);
	}
}

/* A watch stream carrying garbage ends the watch with -EIO. */
static void test_hostile_watch(void **state)
{
	static const char *const streams[] = {
		"{\"result\":{\"events\":[{\"kv\":{\"value\":\"@@\",\"mod_revision\":\"6\"}}]}}\n",
		"{\"result\":{\"events\":[{\"type\":\"BOOM\",\"kv\":{}}]}}\n",
		"{\"result\":{\"events\":{}}}\n",
		"{\"result\":{\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"eA==\",\"mod_revision\":\"6\"}}]}}\n",
		"not json\n",
		"{\"error\":{\"message\":\"boom\"}}\n",
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(streams); i++) {
		struct fake_etcd f = {.first_body = "{\"header\":{\"revision\":\"5\"}}",
				      .body = streams[i], .status = 200};
		fake_start(&f);
		_cleanup_free_ char *url = gw_asprintf("etcd:http://127.0.0.1:%d", f.port);
		struct gw_store_options o = {.request_timeout_ms = 300, .connect_timeout_ms = 200};
		struct gw_store *s = NULL;
		_cleanup_err_ struct gw_err *err = NULL;
		assert_int_equal(gw_store_open(url, &o, &s, &err), 0);
		struct gw_store_watch *w = NULL;
		assert_int_equal(gw_store_watch(s, "pods", NULL, 5, &w, &err), 0);
		struct gw_store_event ev = {0};
		int r = gw_store_watch_next(w, 3000, &ev, &err);
		if (r != -EIO)
			fail_msg("stream %zu: watch_next gave %d, not -EIO", i, r);
		gw_store_watch_free(w);
		gw_store_close(s);
		fake_stop(&f);
	}
}

int main(void)
{
	if (!test_etcd_binary())
		return test_skip_all("etcd not installed (Debian package etcd-server; or set GODWIT_ETCD)");
	if (test_etcd_start_cluster(1, &single_endpoints) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		SUITE_TEST(test_backend_name),
		SUITE_TESTS,
		cmocka_unit_test(test_not_etcd),
		cmocka_unit_test(test_hostile_answers),
		cmocka_unit_test(test_hostile_watch),
		cmocka_unit_test(test_cluster_failover),
	};
	int r = cmocka_run_group_tests_name("store_etcd", tests, NULL, NULL);
	free(single_endpoints);
	return r;
}
