/* SPDX-License-Identifier: Apache-2.0 */
/* godwit watch KIND: one line per change, until interrupted. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit watch KIND [-n NS | -A] [-l SELECTOR] [--resource-version RV] [-o table|json]\n";

struct printer {
	bool json;
};

static int print_event(void *data, const json_t *ev)
{
	struct printer *p = data;
	if (p->json) {
		char *s = json_dumps(ev, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		const json_t *meta = json_object_get(json_object_get(ev, "object"), "metadata");
		const char *ns = json_string_value(json_object_get(meta, "namespace"));
		printf("%-8s %s%s%s rv=%s\n", json_string_value(json_object_get(ev, "type")) ?: "?", ns ? ns : "",
		       ns ? "/" : "", json_string_value(json_object_get(meta, "name")) ?: "?",
		       json_string_value(json_object_get(meta, "resourceVersion")) ?: "?");
	}
	fflush(stdout);
	return 0;
}

int gw_cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'}, {"all-namespaces", no_argument, NULL, 'A'},
		{"selector", required_argument, NULL, 'l'},  {"output", required_argument, NULL, 'o'},
		{"resource-version", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},            GW_CLI_CONN_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct gw_cli_conn conn = {0};
	const char *ns = NULL, *selector = NULL, *output = "table", *rv = NULL;
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
		case 'r': rv = optarg; break;
		case 'h': fputs(usage, stdout); return GW_EXIT_OK;
		default: return gw_cli_usage(usage, "watch: bad option");
		}
	}
	if (argc - optind != 1)
		return gw_cli_usage(usage, "watch: KIND expected");
	struct gw_err *err = NULL;
	const struct gw_server_resource *res;
	if (gw_cli_resource(argv[optind], &res, &err) < 0)
		return gw_cli_fail(err);
	struct gw_client *client = NULL;
	if (gw_cli_connect(&conn, &client, &err) < 0)
		return gw_cli_fail(err);
	_cleanup_free_ char *coll =
		gw_server_resource_path(res, res->namespaced && !all_ns ? gw_cli_namespace(ns) : NULL, NULL);
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_printf(&b, "%s?watch=true", coll);
	if (rv && gw_str_to_u64(rv, &(uint64_t){0}))
		gw_buf_printf(&b, "&resourceVersion=%s", rv);
	if (selector) {
		gw_buf_puts(&b, "&labelSelector=");
		for (const char *s = selector; *s; s++) {
			if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
			    strchr("-_.~", *s))
				gw_buf_add(&b, s, 1);
			else
				gw_buf_printf(&b, "%%%02X", (unsigned char)*s);
		}
	}
	struct printer p = {.json = !strcmp(output, "json")};
	int r = gw_client_watch(client, b.data, print_event, &p, &err);
	gw_buf_fini(&b);
	gw_client_free(client);
	return r < 0 ? gw_cli_fail(err) : GW_EXIT_OK;
}
