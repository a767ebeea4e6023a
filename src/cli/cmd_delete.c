/* SPDX-License-Identifier: Apache-2.0 */
/* godwit delete KIND NAME: an object with finalizers is marked
 * (deletionTimestamp) and goes when its last finalizer is removed. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit delete KIND NAME... [-n NS] [--server URL] [--token T]\n";

int gw_cmd_delete(int argc, char **argv)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
		GW_CLI_CONN_OPTIONS, {NULL, 0, NULL, 0},
	};
	struct gw_cli_conn conn = {0};
	const char *ns = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		if (gw_cli_conn_option(&conn, c, optarg))
			continue;
		switch (c) {
		case 'n': ns = optarg; break;
		case 'h': fputs(usage, stdout); return GW_EXIT_OK;
		default: return gw_cli_usage(usage, "delete: bad option");
		}
	}
	if (argc - optind < 2)
		return gw_cli_usage(usage, "delete: KIND NAME expected");
	struct gw_err *err = NULL;
	const struct gw_server_resource *res;
	if (gw_cli_resource(argv[optind], &res, &err) < 0)
		return gw_cli_fail(err);
	struct gw_client *client = NULL;
	if (gw_cli_connect(&conn, &client, &err) < 0)
		return gw_cli_fail(err);
	int r = 0;
	for (int i = optind + 1; r == 0 && i < argc; i++) {
		_cleanup_free_ char *path =
			gw_server_resource_path(res, res->namespaced ? gw_cli_namespace(ns) : NULL, argv[i]);
		json_t *reply = NULL;
		long status = 0;
		r = gw_client_request(client, "DELETE", path, NULL, NULL, &status, &reply, &err);
		if (r == 0 && status == 200)
			printf("%s/%s deleted\n", res->plural, argv[i]);
		else if (r == 0 && status == 202)
			printf("%s/%s deletion requested (waiting for finalizers)\n", res->plural, argv[i]);
		else if (r == 0)
			r = gw_client_error(status, reply, &err);
		json_decref(reply);
	}
	gw_client_free(client);
	return r < 0 ? gw_cli_fail(err) : GW_EXIT_OK;
}
