/* SPDX-License-Identifier: Apache-2.0 */
/* godwit drain NODE / uncordon NODE. Drain cordons the node
 * (spec.unschedulable) and asks the controllers to evacuate it with the
 * annotation godwit.io/drain=requested (they migrate what the eviction
 * strategy allows); uncordon removes both. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit drain NODE [--server URL] [--token T]\n"
	"       godwit uncordon NODE\n";

static int run(int argc, char **argv, bool drain)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'}, GW_CLI_CONN_OPTIONS, {NULL, 0, NULL, 0},
	};
	struct gw_cli_conn conn = {0};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (gw_cli_conn_option(&conn, c, optarg))
			continue;
		if (c == 'h') {
			fputs(usage, stdout);
			return GW_EXIT_OK;
		}
		return gw_cli_usage(usage, "bad option");
	}
	if (argc - optind != 1)
		return gw_cli_usage(usage, "one NODE expected");
	const char *node = argv[optind];
	_cleanup_json_ json_t *patch =
		drain ? json_pack("{s:{s:b}, s:{s:{s:s}}}", "spec", "unschedulable", 1, "metadata", "annotations",
				  "godwit.io/drain", "requested")
		      : json_pack("{s:{s:n}, s:{s:{s:n}}}", "spec", "unschedulable", "metadata", "annotations",
				  "godwit.io/drain");
	struct gw_err *err = NULL;
	struct gw_client *client = NULL;
	if (gw_cli_connect(&conn, &client, &err) < 0)
		return gw_cli_fail(err);
	_cleanup_free_ char *path = gw_server_resource_path(gw_server_resource_by_plural("nodes"), NULL, node);
	int r = gw_client_call(client, "PATCH", path, "application/merge-patch+json", patch, NULL, &err);
	gw_client_free(client);
	if (r < 0)
		return gw_cli_fail(err);
	printf("nodes/%s %s\n", node, drain ? "cordoned, drain requested" : "uncordoned");
	return GW_EXIT_OK;
}

int gw_cmd_drain(int argc, char **argv)
{
	return run(argc, argv, true);
}

int gw_cmd_uncordon(int argc, char **argv)
{
	return run(argc, argv, false);
}
