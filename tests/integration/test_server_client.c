/* SPDX-License-Identifier: Apache-2.0 */
/* The server library and the client library together, in one process over
 * a loopback socket: the client's requests, errors and watch, and a whole
 * cluster read back into the placement engine's input
 * (gw_client_load_cluster, for check/explain/plan --server). */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "godwit/api.h"
#include "godwit/client.h"
#include "godwit/server.h"
#include "godwit/store.h"

#define TOKEN "test-token-0123456789abcdef"

static char dir[] = "/tmp/godwit-server-client-XXXXXX";
static struct gw_store *store;
static struct gw_server *server;
static struct gw_client *client;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	char *url = gw_asprintf("sqlite:%s/godwit.db", dir);
	struct gw_err *err = NULL;
	struct gw_server_options so = {.token = TOKEN, .max_body_bytes = 64 * 1024};
	int r = gw_store_open(url, NULL, &store, &err);
	free(url);
	if (!r)
		r = gw_server_start(store, &so, &server, &err);
	if (r) {
		fprintf(stderr, "setup: %s\n", gw_err_msg(err));
		return -1;
	}
	char base[64];
	snprintf(base, sizeof(base), "127.0.0.1:%d", gw_server_port(server));
	struct gw_client_options co = {.server = base, .token = TOKEN, .config_path = "/nonexistent"};
	return gw_client_new(&co, &client, &err);
}

static int teardown(void **state)
{
	gw_client_free(client);
	gw_server_stop(server);
	gw_store_close(store);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void post(const char *path, const char *yaml)
{
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_doc_load_string("t", yaml, strlen(yaml), &docs, &err), 0);
	long status = 0;
	json_t *reply = NULL;
	assert_int_equal(gw_client_request(client, "POST", path, NULL, json_array_get(docs, 0), &status, &reply, &err),
			 0);
	if (status != 201)
		fail_msg("POST %s: %ld %s", path, status, json_dumps(reply, 0));
	json_decref(reply);
	json_decref(docs);
}

static void test_load_cluster(void **state)
{
	post("/api/v1/nodes", "kind: Node\nmetadata: {name: n1, labels: {zone: a}}\n");
	post("/api/v1/nodes", "kind: Node\nmetadata: {name: n2}\n");
	post("/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances",
	     "kind: VirtualMachineInstance\nmetadata: {name: vm1}\n"
	     "spec: {domain: {devices: {}, resources: {requests: {memory: 1Gi}}}}\n"
	     "status: {phase: Running, nodeName: n1}\n");
	post("/apis/migrations.kubevirt.io/v1alpha1/migrationpolicies",
	     "kind: MigrationPolicy\nmetadata: {name: p}\nspec: {allowPostCopy: true}\n");
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	if (gw_client_load_cluster(client, c, &err) < 0)
		fail_msg("%s", gw_err_msg(err));
	assert_int_equal(c->n_nodes, 2);
	assert_int_equal(c->n_vmis, 1);
	assert_int_equal(c->n_policies, 1);
	struct gw_vmi *v = gw_cluster_vmi(c, "default", "vm1");
	assert_non_null(v);
	assert_string_equal(v->node_name, "n1");
	assert_string_equal(gw_map_get(&gw_cluster_node(c, "n1")->meta.labels, "zone"), "a");
	gw_cluster_free(c);
}

static void test_errors(void **state)
{
	struct gw_err *err = NULL;
	long status = 0;
	json_t *reply = NULL;
	assert_int_equal(gw_client_request(client, "GET", "/api/v1/nodes/ghost", NULL, NULL, &status, &reply, &err), 0);
	assert_int_equal(status, 404);
	assert_int_equal(gw_client_error(status, reply, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "404 NotFound"));
	gw_err_free(err);
	err = NULL;
	json_decref(reply);
	/* a body over this server's 64 KiB limit */
	json_t *big = json_pack("{s:s, s:{s:s, s:{}}}", "kind", "Node", "metadata", "name", "big", "annotations");
	char *pad = gw_malloc(100 * 1024);
	memset(pad, 'x', 100 * 1024 - 1);
	pad[100 * 1024 - 1] = '\0';
	json_object_set_new(json_object_get(json_object_get(big, "metadata"), "annotations"), "a", json_string(pad));
	free(pad);
	assert_int_equal(gw_client_request(client, "POST", "/api/v1/nodes", NULL, big, &status, &reply, &err), 0);
	assert_int_equal(status, 413);
	json_decref(reply);
	json_decref(big);
	/* the server still answers */
	assert_int_equal(gw_client_request(client, "GET", "/api/v1/nodes", NULL, NULL, &status, &reply, &err), 0);
	assert_int_equal(status, 200);
	json_decref(reply);
}

struct seen {
	int n;
	char names[4][32];
};

static int on_event(void *data, const json_t *ev)
{
	struct seen *s = data;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s %s", json_string_value(json_object_get(ev, "type")),
		 json_string_value(json_object_get(json_object_get(json_object_get(ev, "object"), "metadata"), "name")));
	return ++s->n >= 2;
}

static void test_watch_and_410(void **state)
{
	/* without a version: the current objects as ADDED */
	struct seen s = {0};
	struct gw_err *err = NULL;
	assert_int_equal(gw_client_watch(client, "/api/v1/nodes?watch=true", on_event, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "ADDED n1");
	assert_string_equal(s.names[1], "ADDED n2");
	/* compacted history: the watch is refused with 410 */
	int64_t rv = 0;
	assert_int_equal(gw_store_current_rv(store, &rv, &err), 0);
	assert_int_equal(gw_store_compact(store, rv, &err), 0);
	int r = gw_client_watch(client, "/api/v1/nodes?watch=true&resourceVersion=1", on_event, &s, &err);
	assert_int_equal(r, -EIO);
	assert_non_null(strstr(gw_err_msg(err), "410 Expired"));
	assert_non_null(strstr(gw_err_msg(err), "re-list"));
	gw_err_free(err);
}

/* A controller removes the last finalizer with a direct store update (not
 * through the API): the server's finalizer thread deletes the object. */
static void test_direct_finalizer_removal(void **state)
{
	struct gw_err *err = NULL;
	json_t *obj = json_pack("{s:s, s:{s:s, s:[s]}}", "kind", "Node", "metadata", "name", "fin", "finalizers",
				"example.com/hold");
	json_t *stored = NULL;
	assert_int_equal(gw_store_create(store, "nodes", obj, &stored, &err), 0);
	json_decref(obj);
	json_decref(stored);
	long status = 0;
	json_t *reply = NULL;
	assert_int_equal(gw_client_request(client, "DELETE", "/api/v1/nodes/fin", NULL, NULL, &status, &reply, &err), 0);
	assert_int_equal(status, 202);
	json_decref(reply);
	/* as the controller would: read, drop the finalizer, write */
	json_t *cur = NULL;
	assert_int_equal(gw_store_get(store, "nodes", NULL, "fin", &cur, &err), 0);
	json_t *next = json_deep_copy(cur);
	json_object_del(json_object_get(next, "metadata"), "finalizers");
	json_t *updated = NULL;
	assert_int_equal(gw_store_update(store, "nodes", next, &updated, &err), 0);
	json_decref(cur);
	json_decref(next);
	json_decref(updated);
	int r = 0;
	for (int i = 0; i < 100; i++) {
		json_t *x = NULL;
		r = gw_store_get(store, "nodes", NULL, "fin", &x, &err);
		json_decref(x);
		gw_err_free(err);
		err = NULL;
		if (r == -ENOENT)
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(r, -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_cluster),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_direct_finalizer_removal),
		cmocka_unit_test(test_watch_and_410),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
