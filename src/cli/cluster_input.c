/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster input of check, explain and plan: -f or --server, --rules,
 * the what-ifs, --model-db and -o, parsed and loaded the same way for all. */
#include <string.h>

#include "cli.h"

const char gw_cli_cluster_usage[] =
	"  -f, --file PATH        manifests (YAML or JSON, multi-document, Lists) or a directory of\n"
	"                         them, or `kubectl get nodes,namespaces,vmis,vmims,migrationpolicies,\n"
	"                         kubevirt,pods -A -o json` output; repeatable\n"
	"  --server URL           instead of -f: every resource of a running `godwit server`\n"
	"                         (token: --token T, --token-file F, $GODWIT_TOKEN or the config\n"
	"                         file; --config FILE names another)\n"
	"  --rules R              godwit (default) or kubevirt\n"
	"  --add-node P           what if: add a node, from a CPU profile (file or directory, any\n"
	"                         `cpu` format) or a file of Node documents; repeatable\n"
	"  --set-cpu-model M      what if: the cluster cpuModel is M (VMs without their own model,\n"
	"                         after their next start)\n"
	"  --remove-node N        what if: node N is gone; repeatable\n"
	"  --model-db FILE        CPU model database (default: built in)\n"
	"  -o FORMAT              table (default) or json\n";

void gw_cli_cluster_opts_init(struct gw_cli_cluster_opts *o)
{
	memset(o, 0, sizeof(*o));
	gw_strv_init(&o->inputs);
	gw_whatif_init(&o->whatif);
	o->rules = gw_rules_get(GW_RULES_GODWIT);
	o->output = GW_OUTPUT_TABLE;
}

void gw_cli_cluster_opts_fini(struct gw_cli_cluster_opts *o)
{
	gw_strv_fini(&o->inputs);
	gw_whatif_fini(&o->whatif);
	free(o->previous_cpu_model);
	o->previous_cpu_model = NULL;
}

int gw_cli_cluster_option(struct gw_cli_cluster_opts *o, int opt, const char *arg)
{
	if (gw_cli_conn_option(&o->conn, opt, arg))
		return 1;
	switch (opt) {
	case 'f':
		gw_strv_push(&o->inputs, arg);
		return 1;
	case 'o':
		return gw_cli_parse_output(arg, &o->output) ? -1 : 1;
	case GW_CLI_OPT_RULES:
		o->rules = gw_rules_by_name(arg);
		if (!o->rules) {
			gw_cli_usage(NULL, "--rules \"%s\": expected godwit or kubevirt", arg);
			return -1;
		}
		return 1;
	case GW_CLI_OPT_ADD_NODE:
		gw_strv_push(&o->whatif.add_nodes, arg);
		return 1;
	case GW_CLI_OPT_SET_CPU_MODEL:
		if (o->whatif.set_cpu_model) {
			gw_cli_usage(NULL, "--set-cpu-model given twice");
			return -1;
		}
		o->whatif.set_cpu_model = gw_strdup(arg);
		return 1;
	case GW_CLI_OPT_REMOVE_NODE:
		gw_strv_push(&o->whatif.remove_nodes, arg);
		return 1;
	case GW_CLI_OPT_MODEL_DB:
		o->model_db = arg;
		return 1;
	default:
		return 0;
	}
}

const char *gw_cli_cluster_input_problem(const struct gw_cli_cluster_opts *o)
{
	if (o->inputs.n && o->conn.server)
		return "-f and --server: give one cluster input, files or a server";
	if (!o->inputs.n && !o->conn.server)
		return "give the cluster with -f PATH or --server URL";
	if (o->conn.token && o->conn.token_file)
		return "--token and --token-file: give one of them";
	return NULL;
}

/* Every resource of the server, as the files would give them. */
static int load_from_server(const struct gw_cli_cluster_opts *o, struct gw_cluster *c, struct gw_err **err)
{
	struct gw_client *client = NULL;
	int r = gw_cli_connect(&o->conn, &client, err);
	if (r == 0)
		r = gw_client_load_cluster(client, c, err);
	gw_client_free(client);
	if (r < 0)
		return gw_err_wrap(err, "--server %s", o->conn.server);
	return 0;
}

int gw_cli_cluster_parse(const struct gw_cli_cluster_opts *o, struct gw_cluster **cluster, struct gw_err **err)
{
	const char *problem = gw_cli_cluster_input_problem(o);
	if (problem)
		return gw_err_set(err, -EINVAL, "%s", problem);
	struct gw_cluster *c = gw_cluster_new();
	c->drop_docs = o->drop_docs;
	if (o->conn.server) {
		int r = load_from_server(o, c, err);
		if (r < 0) {
			gw_cluster_free(c);
			return r;
		}
		*cluster = c;
		return 0;
	}
	for (size_t i = 0; i < o->inputs.n; i++) {
		int r = gw_cluster_load(c, o->inputs.v[i], err);
		if (r < 0) {
			gw_cluster_free(c);
			return r;
		}
	}
	gw_cluster_link(c);
	*cluster = c;
	return 0;
}

int gw_cli_cluster_load(struct gw_cli_cluster_opts *o, struct gw_cpu_modeldb **db, struct gw_cluster **cluster,
			struct gw_err **err)
{
	struct gw_cluster *c = NULL;
	*db = NULL;
	*cluster = NULL;
	int r = gw_cli_load_modeldb(o->model_db, db, err);
	if (r < 0)
		return gw_err_wrap(err, "--model-db");
	r = gw_cli_cluster_parse(o, &c, err);
	if (r == 0) {
		free(o->previous_cpu_model);
		o->previous_cpu_model = c->kubevirt && c->kubevirt->cpu_model ? gw_strdup(c->kubevirt->cpu_model) : NULL;
		r = gw_whatif_apply(c, *db, &o->whatif, err);
	}
	if (r < 0) {
		gw_cluster_free(c);
		gw_cpu_modeldb_free(*db);
		*db = NULL;
		return r;
	}
	*cluster = c;
	return 0;
}
