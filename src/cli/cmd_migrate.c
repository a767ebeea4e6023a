/* SPDX-License-Identifier: Apache-2.0 */
/* godwit migrate VMI [--selector k=v] and godwit migrate-cancel VMI, as
 * virtctl does them: a VirtualMachineInstanceMigration created (generateName
 * kubevirt-migrate-vm-, spec.addedNodeSelector), or the unfinished one
 * deleted (kubevirt-behaviour.md 6.1, 6.4). */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit migrate VMI [-n NS] [--selector k=v ...] [--server URL] [--token T]\n"
	"       godwit migrate-cancel VMI [-n NS]\n"
	"\n"
	"  --selector k=v  extra node selector for this migration (spec.addedNodeSelector)\n";

static int parse(int argc, char **argv, struct gw_cli_conn *conn, const char **ns, json_t *selector)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'}, {"selector", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},            GW_CLI_CONN_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		if (gw_cli_conn_option(conn, c, optarg))
			continue;
		switch (c) {
		case 'n': *ns = optarg; break;
		case 's': {
			const char *eq = strchr(optarg, '=');
			if (!selector || !eq || eq == optarg)
				return gw_cli_usage(usage, "--selector \"%s\": k=v expected", optarg);
			_cleanup_free_ char *key = gw_strndup(optarg, (size_t)(eq - optarg));
			json_object_set_new(selector, key, json_string(eq + 1));
			break;
		}
		case 'h': fputs(usage, stdout); return -1;
		default: return gw_cli_usage(usage, "bad option");
		}
	}
	if (argc - optind != 1)
		return gw_cli_usage(usage, "one VMI expected");
	return 0;
}

int gw_cmd_migrate(int argc, char **argv)
{
	struct gw_cli_conn conn = {0};
	const char *ns = NULL;
	_cleanup_json_ json_t *selector = json_object();
	int pr = parse(argc, argv, &conn, &ns, selector);
	if (pr)
		return pr < 0 ? GW_EXIT_OK : pr;
	const char *vmi = argv[optind];
	ns = gw_cli_namespace(ns);
	_cleanup_json_ json_t *vmim = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "kubevirt.io/v1",
						"kind", "VirtualMachineInstanceMigration", "metadata",
						"generateName", "kubevirt-migrate-vm-", "namespace", ns, "spec",
						"vmiName", vmi);
	if (json_object_size(selector))
		json_object_set(json_object_get(vmim, "spec"), "addedNodeSelector", selector);
	struct gw_err *err = NULL;
	struct gw_client *client = NULL;
	if (gw_cli_connect(&conn, &client, &err) < 0)
		return gw_cli_fail(err);
	_cleanup_free_ char *path =
		gw_server_resource_path(gw_server_resource_by_plural("virtualmachineinstancemigrations"), ns, NULL);
	json_t *created = NULL;
	int r = gw_client_call(client, "POST", path, NULL, vmim, &created, &err);
	gw_client_free(client);
	if (r < 0)
		return gw_cli_fail(err);
	printf("virtualmachineinstancemigrations/%s created for %s/%s\n",
	       json_string_value(json_object_get(json_object_get(created, "metadata"), "name")), ns, vmi);
	json_decref(created);
	return GW_EXIT_OK;
}

int gw_cmd_migrate_cancel(int argc, char **argv)
{
	struct gw_cli_conn conn = {0};
	const char *ns = NULL;
	int pr = parse(argc, argv, &conn, &ns, NULL);
	if (pr)
		return pr < 0 ? GW_EXIT_OK : pr;
	const char *vmi = argv[optind];
	ns = gw_cli_namespace(ns);
	struct gw_err *err = NULL;
	struct gw_client *client = NULL;
	if (gw_cli_connect(&conn, &client, &err) < 0)
		return gw_cli_fail(err);
	const struct gw_server_resource *res = gw_server_resource_by_plural("virtualmachineinstancemigrations");
	_cleanup_free_ char *coll = gw_server_resource_path(res, ns, NULL);
	_cleanup_free_ char *path = gw_asprintf("%s?labelSelector=kubevirt.io%%2Fvmi-name%%3D%s", coll, vmi);
	_cleanup_json_ json_t *list = NULL;
	int r = gw_client_call(client, "GET", path, NULL, NULL, &list, &err);
	size_t cancelled = 0, i;
	json_t *m;
	json_array_foreach(r == 0 ? json_object_get(list, "items") : NULL, i, m) {
		const char *phase = json_string_value(json_object_get(json_object_get(m, "status"), "phase"));
		if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
			continue;
		const char *name = json_string_value(json_object_get(json_object_get(m, "metadata"), "name"));
		_cleanup_free_ char *mpath = gw_server_resource_path(res, ns, name);
		r = gw_client_call(client, "DELETE", mpath, NULL, NULL, NULL, &err);
		if (r < 0)
			break;
		printf("virtualmachineinstancemigrations/%s cancel requested\n", name);
		cancelled++;
	}
	gw_client_free(client);
	if (r < 0)
		return gw_cli_fail(err);
	if (!cancelled) {
		gw_err_set(&err, -ENOENT, "no unfinished migration of %s/%s", ns, vmi);
		return gw_cli_fail(err);
	}
	return GW_EXIT_OK;
}
