/* SPDX-License-Identifier: Apache-2.0 */
/* godwit get KIND [NAME] and godwit describe KIND NAME. */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char get_usage[] =
	"usage: godwit get KIND [NAME] [-n NS | -A] [-l SELECTOR] [-o table|json|yaml] [--server URL] [--token T]\n"
	"\n"
	"  KIND        nodes, namespaces, vm, vmi, vmim, migrationpolicies, kubevirts, pods, pvc\n"
	"  -n NS       namespace (default: default); -A every namespace\n"
	"  -l SEL      label selector: k=v, k!=v, k, !k, k in (a,b), k notin (a,b)\n";

static const char describe_usage[] =
	"usage: godwit describe KIND NAME [-n NS] [-o json|yaml] [--server URL] [--token T]\n";

static const char *str_at(const json_t *o, const char *a, const char *b)
{
	const json_t *x = json_object_get(o, a);
	return json_string_value(b ? json_object_get(x, b) : x);
}

static void age(const char *created, char *buf, size_t n)
{
	struct tm tm = {0};
	if (!created || !strptime(created, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, n, "-");
		return;
	}
	long s = (long)difftime(time(NULL), timegm(&tm));
	if (s < 120)
		snprintf(buf, n, "%lds", s);
	else if (s < 7200)
		snprintf(buf, n, "%ldm", s / 60);
	else if (s < 172800)
		snprintf(buf, n, "%ldh", s / 3600);
	else
		snprintf(buf, n, "%ldd", s / 86400);
}

static void print_table(const struct gw_server_resource *res, const json_t *items, bool all_ns)
{
	const char *headers[] = {"NAMESPACE", "NAME", "STATUS", "NODE", "AGE"};
	const char *const *h = all_ns && res->namespaced ? headers : headers + 1;
	size_t ncols = all_ns && res->namespaced ? 5 : 4;
	struct gw_table *t = gw_table_new(ncols, h);
	size_t i;
	const json_t *o;
	json_array_foreach(items, i, o) {
		const json_t *meta = json_object_get(o, "metadata");
		const char *phase = str_at(o, "status", "phase");
		const char *node = str_at(o, "status", "nodeName");
		char status[64];
		if (res->gw_kind == GW_KIND_NODE) {
			bool cordoned = json_is_true(json_object_get(json_object_get(o, "spec"), "unschedulable"));
			const char *drain = json_string_value(
				json_object_get(json_object_get(meta, "annotations"), "godwit.io/drain"));
			snprintf(status, sizeof(status), "%s%s%s", phase ? phase : "Ready",
				 cordoned ? ",SchedulingDisabled" : "", drain ? ",Draining" : "");
			node = NULL;
		} else {
			snprintf(status, sizeof(status), "%s%s", phase ? phase : "-",
				 json_object_get(meta, "deletionTimestamp") ? ",Terminating" : "");
		}
		if (res->gw_kind == GW_KIND_VMIM)
			node = str_at(o, "spec", "vmiName");
		char a[32];
		age(json_string_value(json_object_get(meta, "creationTimestamp")), a, sizeof(a));
		const char *row[] = {json_string_value(json_object_get(meta, "namespace")) ?: "",
				     json_string_value(json_object_get(meta, "name")) ?: "?", status, node ? node : "-",
				     a};
		gw_table_add(t, all_ns && res->namespaced ? row : row + 1);
	}
	gw_table_print(t, stdout);
	gw_table_free(t);
}

static int run(int argc, char **argv, bool describe)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'}, {"all-namespaces", no_argument, NULL, 'A'},
		{"selector", required_argument, NULL, 'l'},  {"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},            GW_CLI_CONN_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	const char *usage = describe ? describe_usage : get_usage;
	struct gw_cli_conn conn = {0};
	const char *ns = NULL, *selector = NULL, *output = "table";
	bool all_ns = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:Al:o:h", opts, NULL)) != -1) {
		if (gw_cli_conn_option(&conn, c, optarg))
			continue;
		switch (c) {
		case 'n': ns = optarg; break;
		case 'A': all_ns = true; break;
		case 'l': selector = optarg; break;
		case 'o': output = optarg; break;
		case 'h': fputs(usage, stdout); return GW_EXIT_OK;
		default: return gw_cli_usage(usage, "bad option");
		}
	}
	if (argc - optind < 1 || argc - optind > 2 || (describe && argc - optind != 2))
		return gw_cli_usage(usage, describe ? "KIND NAME expected" : "KIND [NAME] expected");
	if (strcmp(output, "table") && strcmp(output, "json") && strcmp(output, "yaml"))
		return gw_cli_usage(usage, "-o \"%s\": table, json or yaml", output);
	const char *name = argc - optind == 2 ? argv[optind + 1] : NULL;
	struct gw_err *err = NULL;
	const struct gw_server_resource *res;
	if (gw_cli_resource(argv[optind], &res, &err) < 0)
		return gw_cli_fail(err);
	const char *use_ns = res->namespaced ? (all_ns && !name ? NULL : gw_cli_namespace(ns)) : NULL;
	struct gw_client *client = NULL;
	if (gw_cli_connect(&conn, &client, &err) < 0)
		return gw_cli_fail(err);
	_cleanup_free_ char *path = gw_server_resource_path(res, use_ns, name);
	if (!name && selector) {
		_cleanup_free_ char *p = path;
		struct gw_buf b;
		gw_buf_init(&b);
		gw_buf_printf(&b, "%s?labelSelector=", p);
		for (const char *s = selector; *s; s++) {
			if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
			    strchr("-_.~", *s))
				gw_buf_add(&b, s, 1);
			else
				gw_buf_printf(&b, "%%%02X", (unsigned char)*s);
		}
		path = gw_buf_steal(&b);
	}
	json_t *reply = NULL;
	int r = gw_client_call(client, "GET", path, NULL, NULL, &reply, &err);
	gw_client_free(client);
	if (r < 0)
		return gw_cli_fail(err);
	if (!strcmp(output, "yaml"))
		gw_cli_print_yaml(stdout, reply);
	else if (describe || !strcmp(output, "json"))
		gw_json_print(stdout, reply);
	else
	{
		json_t *items = name ? json_pack("[O]", reply) : json_incref(json_object_get(reply, "items"));
		print_table(res, items, all_ns);
		json_decref(items);
	}
	json_decref(reply);
	return GW_EXIT_OK;
}

int gw_cmd_get(int argc, char **argv)
{
	return run(argc, argv, false);
}

int gw_cmd_describe(int argc, char **argv)
{
	return run(argc, argv, true);
}
