/* SPDX-License-Identifier: Apache-2.0 */
/* Server pieces without a socket: request paths, RFC 7386 merge patch,
 * token comparison and the token file. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../src/server/server_int.h"

static void route_ok(const char *path, const char *plural, const char *ns, const char *name, bool status)
{
	struct gw_route rt;
	int r = gw_route_parse(path, &rt);
	if (r != 0)
		fail_msg("%s: not parsed", path);
	assert_string_equal(rt.kind->plural, plural);
	if (ns)
		assert_string_equal(rt.ns, ns);
	else
		assert_null(rt.ns);
	if (name)
		assert_string_equal(rt.name, name);
	else
		assert_null(rt.name);
	assert_int_equal(rt.status, status);
	gw_route_fini(&rt);
}

static void route_bad(const char *path)
{
	struct gw_route rt;
	if (gw_route_parse(path, &rt) != -ENOENT)
		fail_msg("%s: parsed, should not be", path);
}

static void test_routes(void **state)
{
	route_ok("/api/v1/nodes", "nodes", NULL, NULL, false);
	route_ok("/api/v1/nodes/", "nodes", NULL, NULL, false);
	route_ok("/api/v1/nodes/n1", "nodes", NULL, "n1", false);
	route_ok("/api/v1/nodes/n1/status", "nodes", NULL, "n1", true);
	route_ok("/api/v1/namespaces", "namespaces", NULL, NULL, false);
	route_ok("/api/v1/namespaces/default", "namespaces", NULL, "default", false);
	route_ok("/api/v1/namespaces/default/status", "namespaces", NULL, "default", true);
	route_ok("/api/v1/namespaces/default/pods", "pods", "default", NULL, false);
	route_ok("/api/v1/namespaces/default/pods/p", "pods", "default", "p", false);
	route_ok("/api/v1/pods", "pods", NULL, NULL, false);
	route_ok("/apis/kubevirt.io/v1/namespaces/a/virtualmachineinstancemigrations/m/status",
		 "virtualmachineinstancemigrations", "a", "m", true);
	route_ok("/apis/kubevirt.io/v1/virtualmachines", "virtualmachines", NULL, NULL, false);
	route_ok("/apis/migrations.kubevirt.io/v1alpha1/migrationpolicies/p", "migrationpolicies", NULL, "p", false);
	/* a namespace may be called like a kind */
	route_ok("/api/v1/namespaces/pods", "namespaces", NULL, "pods", false);

	route_bad("/");
	route_bad("/api/v1");
	route_bad("/api/v2/nodes");
	route_bad("/api/v1/virtualmachines");                        /* wrong group */
	route_bad("/apis/kubevirt.io/v1/nodes");
	route_bad("/apis/kubevirt.io/v1/virtualmachines/x");         /* namespaced object without ns */
	route_bad("/api/v1/nodes/n1/spec");
	route_bad("/api/v1/nodes/n1/status/x");
	route_bad("/api/v1//nodes");
	route_bad("/api/v1/nodes/..");
	route_bad("/api/v1/namespaces/a/nodes/n1");                  /* cluster-scoped kind in a namespace */
	route_bad("/api/v1nodes");
}

static void test_resource_lookup(void **state)
{
	assert_string_equal(gw_server_resource_lookup("vmi")->plural, "virtualmachineinstances");
	assert_string_equal(gw_server_resource_lookup("VirtualMachineInstanceMigration")->plural,
			    "virtualmachineinstancemigrations");
	assert_string_equal(gw_server_resource_lookup("no")->plural, "nodes");
	assert_null(gw_server_resource_lookup("deployment"));
	char *p = gw_server_resource_path(gw_server_resource_lookup("vm"), "ns1", "x");
	assert_string_equal(p, "/apis/kubevirt.io/v1/namespaces/ns1/virtualmachines/x");
	free(p);
	p = gw_server_resource_path(gw_server_resource_lookup("node"), "ignored", NULL);
	assert_string_equal(p, "/api/v1/nodes");
	free(p);
}

/* RFC 7386 appendix A, every example. */
static void test_merge_patch(void **state)
{
	static const char *const cases[][3] = {
		{"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
		{"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
		{"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
		{"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
		{"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
		{"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
		{"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
		{"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
		{"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
		{"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
		{"{\"a\":\"foo\"}", "null", "null"},
		{"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
		{"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
		{"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
		{"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(cases); i++) {
		json_error_t je;
		json_t *target = json_loads(cases[i][0], JSON_DECODE_ANY, &je);
		json_t *patch = json_loads(cases[i][1], JSON_DECODE_ANY, &je);
		json_t *want = json_loads(cases[i][2], JSON_DECODE_ANY, &je);
		json_t *got = gw_merge_patch(target, patch);
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_ENCODE_ANY);
			fail_msg("case %zu: %s + %s gave %s", i, cases[i][0], cases[i][1], g);
		}
		json_decref(target);
		json_decref(patch);
		json_decref(want);
		json_decref(got);
	}
}

static void test_token_equal(void **state)
{
	assert_true(gw_server_token_equal("abcdef0123456789", "abcdef0123456789"));
	assert_false(gw_server_token_equal("abcdef012345678", "abcdef0123456789"));
	assert_false(gw_server_token_equal("abcdef01234567890", "abcdef0123456789"));
	assert_false(gw_server_token_equal("bbcdef0123456789", "abcdef0123456789"));
	assert_false(gw_server_token_equal("", "abcdef0123456789"));
	assert_false(gw_server_token_equal(NULL, "abcdef0123456789"));
}

static void test_token_file(void **state)
{
	char dir[] = "/tmp/godwit-token-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *token = NULL, *again = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_server_token_init(dir, &token, &err), 0);
	assert_int_equal(strlen(token), 64);
	char path[64];
	snprintf(path, sizeof(path), "%s/token", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(gw_server_token_init(dir, &again, &err), 0);
	assert_string_equal(token, again);
	/* readable by others: refused */
	chmod(path, 0644);
	free(again);
	again = NULL;
	assert_int_equal(gw_server_token_init(dir, &again, &err), -EPERM);
	assert_non_null(strstr(gw_err_msg(err), "chmod 600"));
	gw_err_free(err);
	unlink(path);
	rmdir(dir);
	free(token);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_resource_lookup),
		cmocka_unit_test(test_merge_patch),
		cmocka_unit_test(test_token_equal),
		cmocka_unit_test(test_token_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
