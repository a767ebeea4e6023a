/* SPDX-License-Identifier: Apache-2.0 */
/* godwit apply -f FILE|DIR: create what does not exist, replace what does
 * (its resourceVersion taken from the server, so a concurrent change in
 * between is a conflict, not lost). A status in the file is written too.
 * Objects go in dependency order (kind_rank), whatever the files' order. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit apply -f FILE|DIR [-f ...] [-n NS] [--server URL] [--token T]\n"
	"\n"
	"  -f PATH     YAML or JSON, several documents and List kinds; a directory: its files\n"
	"  -n NS       namespace for namespaced objects that name none (default: default)\n";

/* One object to apply, and where it came from (for errors). */
struct apply_item {
	json_t *doc;      /* borrowed from the loaded file */
	char *where;      /* "FILE: document N[: items[K]]" */
	int rank;
	size_t seq;
};

struct apply_set {
	json_t *files;    /* every loaded file's documents, kept alive */
	struct apply_item *v;
	size_t n, cap;
};

/* Objects that others refer to go first, so a whole directory applies in
 * one go whatever its files are called: a migration is admitted only for
 * a VMI that exists, a VMI is placed on Nodes that exist. */
static int kind_rank(const char *kind)
{
	static const char *const order[] = {
		"Namespace", "Node", "KubeVirt", "MigrationPolicy", "VirtualMachine",
		"VirtualMachineInstance", "Pod",
	};
	if (kind && strcmp(kind, "VirtualMachineInstanceMigration") == 0)
		return (int)GW_ARRAY_SIZE(order) + 1;
	for (size_t i = 0; kind && i < GW_ARRAY_SIZE(order); i++)
		if (strcmp(kind, order[i]) == 0)
			return (int)i;
	return (int)GW_ARRAY_SIZE(order);
}

static void set_push(struct apply_set *set, json_t *doc, char *where)
{
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 16;
		set->v = gw_realloc(set->v, set->cap * sizeof(*set->v));
	}
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	set->v[set->n] = (struct apply_item){doc, where, kind_rank(kind), set->n};
	set->n++;
}

static void set_add_doc(struct apply_set *set, json_t *doc, const char *where)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	json_t *items = json_object_get(doc, "items");
	if (kind && gw_str_has_suffix(kind, "List") && json_is_array(items)) {
		size_t i;
		json_t *item;
		json_array_foreach(items, i, item)
			set_push(set, item, gw_asprintf("%s: items[%zu]", where, i));
		return;
	}
	set_push(set, doc, gw_strdup(where));
}

static int compare_items(const void *a, const void *b)
{
	const struct apply_item *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void set_fini(struct apply_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].where);
	free(set->v);
	json_decref(set->files);
}

static int apply_one(struct gw_client *c, json_t *doc, const char *default_ns, struct gw_err **err)
{
	if (!json_is_object(doc))
		return gw_err_set(err, -EINVAL, "not an object");
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	if (!kind)
		return gw_err_set(err, -EINVAL, "a document without kind");
	const struct gw_server_resource *res;
	if (gw_cli_resource(kind, &res, err) < 0)
		return -EINVAL;
	json_t *meta = json_object_get(doc, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	if (!name)
		return gw_err_set(err, -EINVAL, "%s without metadata.name", kind);
	const char *ns = NULL;
	if (res->namespaced) {
		ns = json_string_value(json_object_get(meta, "namespace"));
		if (!ns || !*ns) {
			ns = gw_cli_namespace(default_ns);
			json_object_set_new(meta, "namespace", json_string(ns));
		}
	}
	/* Versions and deletion marks are the server's. A uid is kept: the
	 * launcher pods of a `kubectl get -o json` dump name their VMI by it. */
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "deletionTimestamp");
	_cleanup_free_ char *path = gw_server_resource_path(res, ns, name);
	_cleanup_json_ json_t *old = NULL;
	long status = 0;
	int r = gw_client_request(c, "GET", path, NULL, NULL, &status, &old, err);
	if (r < 0)
		return r;
	const char *what;
	_cleanup_json_ json_t *stored = NULL;
	if (status == 404) {
		_cleanup_free_ char *coll = gw_server_resource_path(res, ns, NULL);
		r = gw_client_call(c, "POST", coll, NULL, doc, &stored, err);
		what = "created";
	} else if (status == 200) {
		json_object_set(meta, "resourceVersion",
				json_object_get(json_object_get(old, "metadata"), "resourceVersion"));
		r = gw_client_call(c, "PUT", path, NULL, doc, &stored, err);
		what = "configured";
		json_t *status_doc = json_object_get(doc, "status");
		if (!r && status_doc && !json_equal(status_doc, json_object_get(stored, "status"))) {
			_cleanup_free_ char *spath = gw_asprintf("%s/status", path);
			json_object_set(meta, "resourceVersion",
					json_object_get(json_object_get(stored, "metadata"), "resourceVersion"));
			json_decref(stored);
			stored = NULL;
			r = gw_client_call(c, "PUT", spath, NULL, doc, &stored, err);
		}
	} else {
		return gw_client_error(status, old, err);
	}
	if (r < 0)
		return gw_err_wrap(err, "%s %s%s%s", kind, ns ? ns : "", ns ? "/" : "", name);
	printf("%s/%s %s\n", res->plural, name, what);
	return 0;
}

static int load_file(struct apply_set *set, const char *file, struct gw_err **err)
{
	json_t *docs = NULL;
	if (gw_doc_load_file(file, &docs, err) < 0)
		return -EINVAL;
	json_array_append_new(set->files, docs);
	size_t i;
	json_t *doc;
	json_array_foreach(docs, i, doc) {
		if (json_is_null(doc))
			continue;
		_cleanup_free_ char *where = gw_asprintf("%s: document %zu", file, i + 1);
		if (!json_is_object(doc))
			return gw_err_set(err, -EINVAL, "%s: not an object", where);
		set_add_doc(set, doc, where);
	}
	return 0;
}

static int load_path(struct apply_set *set, const char *path, struct gw_err **err)
{
	if (!gw_path_is_dir(path))
		return load_file(set, path, err);
	struct gw_strv files;
	gw_strv_init(&files);
	int r = gw_dir_list(path, &files, err);
	for (size_t i = 0; r == 0 && i < files.n; i++) {
		const char *full = files.v[i];  /* gw_dir_list gives paths */
		if (gw_str_has_suffix(full, ".yaml") || gw_str_has_suffix(full, ".yml") ||
		    gw_str_has_suffix(full, ".json"))
			r = load_path(set, full, err);
	}
	gw_strv_fini(&files);
	return r;
}

/* Every file is read before anything is sent: a file that does not parse
 * changes nothing on the server. */
static int apply_paths(struct gw_client *c, const struct gw_strv *paths, const char *ns,
		       struct gw_err **err)
{
	struct apply_set set = {.files = json_array()};
	int r = 0;
	for (size_t i = 0; r == 0 && i < paths->n; i++)
		r = load_path(&set, paths->v[i], err);
	if (r == 0 && set.n > 1)
		qsort(set.v, set.n, sizeof(*set.v), compare_items);
	for (size_t i = 0; r == 0 && i < set.n; i++)
		if ((r = apply_one(c, set.v[i].doc, ns, err)) < 0)
			gw_err_wrap(err, "%s", set.v[i].where);
	set_fini(&set);
	return r;
}

int gw_cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{"filename", required_argument, NULL, 'f'}, {"namespace", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'}, GW_CLI_CONN_OPTIONS, {NULL, 0, NULL, 0},
	};
	struct gw_cli_conn conn = {0};
	struct gw_strv paths;
	gw_strv_init(&paths);
	const char *ns = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:n:h", opts, NULL)) != -1) {
		if (gw_cli_conn_option(&conn, c, optarg))
			continue;
		switch (c) {
		case 'f': gw_strv_push(&paths, optarg); break;
		case 'n': ns = optarg; break;
		case 'h': fputs(usage, stdout); gw_strv_fini(&paths); return GW_EXIT_OK;
		default: gw_strv_fini(&paths); return gw_cli_usage(usage, "apply: bad option");
		}
	}
	if (optind < argc || paths.n == 0) {
		gw_strv_fini(&paths);
		return gw_cli_usage(usage, "apply: -f FILE|DIR expected");
	}
	struct gw_err *err = NULL;
	struct gw_client *client = NULL;
	int r = gw_cli_connect(&conn, &client, &err);
	if (r == 0)
		r = apply_paths(client, &paths, ns, &err);
	gw_client_free(client);
	gw_strv_fini(&paths);
	return r < 0 ? gw_cli_fail(err) : GW_EXIT_OK;
}
