/* SPDX-License-Identifier: Apache-2.0 */
/* The store on etcd: the same suite as on SQLite against a real etcd on
 * loopback, a 3-member cluster that loses a member and keeps working, and
 * hostile answers from something that is not etcd. Skipped, with the
 * reason, when etcd is not installed. */
#include "etcd.h"
#include "../store/suite.h"

static char *single_endpoints;
static int prefix_count;

/* Each test its own key prefix on the one etcd: an empty store. */
static int suite_open(struct gw_store **store, struct gw_err **err)
{
	_cleanup_free_ char *url = gw_asprintf("etcd:%s", single_endpoints);
	_cleanup_free_ char *prefix = gw_asprintf("/test-%d-%d", (int)getpid(), ++prefix_count);
	struct gw_store_options o = {.etcd_prefix = prefix};
	return gw_store_open(url, &o, store, err);
}

static void test_backend_name(void **state)
{
	assert_string_equal(gw_store_backend(*state), "etcd");
}

/* Two members of three stopped in turn (never both): every operation keeps
 * working through the remaining endpoints, and a watch follows. */
static void test_cluster_failover(void **state)
{
	_cleanup_free_ char *endpoints = NULL;
	size_t first = test_etcd_count;
	if (test_etcd_start_cluster(3, &endpoints) < 0)
		fail_msg("cannot start a 3-member etcd cluster");
	_cleanup_free_ char *url = gw_asprintf("etcd:%s", endpoints);
	struct gw_store *s = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	struct gw_store_options o = {.request_timeout_ms = 8000, .etcd_prefix = "/failover"};
	assert_int_equal(gw_store_open(url, &o, &s, &err), 0);
	_cleanup_json_ json_t *a = create_ok(s, "pods", "default", "a", NULL);
	struct gw_store_watch *w = NULL;
	assert_int_equal(gw_store_watch(s, "pods", NULL, rv_of(a), &w, &err), 0);

	/* The first endpoint, which the client and the watch use, goes away. */
	test_etcd_stop(&test_etcds[first]);
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
		cmocka_unit_test(test_cluster_failover),
	};
	int r = cmocka_run_group_tests_name("store_etcd", tests, NULL, NULL);
	free(single_endpoints);
	return r;
}
