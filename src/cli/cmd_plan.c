/* SPDX-License-Identifier: Apache-2.0 */
/* godwit plan drain: where the VMs of drained nodes would go. */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "godwit/explain.h"

static const char usage_drain[] =
	"usage: godwit plan drain NODE... (-f PATH... | --server URL) [--bandwidth Q] [options]\n"
	"\n"
	"  NODE                   a node to drain; several are drained together\n"
	"  --bandwidth Q          bytes per second one migration moves (a quantity: 1Gi, 500Mi);\n"
	"                         default 1Gi, or bandwidthPerMigration when that is lower\n";

static void print_usage(FILE *out)
{
	fputs(usage_drain, out);
	fputs(gw_cli_cluster_usage, out);
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static void print_table(const json_t *doc)
{
	const json_t *limits = json_object_get(doc, "limits");
	size_t i;
	const json_t *v;
	printf("Drain");
	json_array_foreach(json_object_get(doc, "drain"), i, v)
		printf(" %s", json_string_value(v));
	printf(" (rules %s; at most %" JSON_INTEGER_FORMAT " migrations at once, %" JSON_INTEGER_FORMAT
	       " per source node;\n %" JSON_INTEGER_FORMAT " bytes/s per migration, bandwidthPerMigration when lower)\n\n",
	       str(doc, "rules"), json_integer_value(json_object_get(limits, "parallelMigrationsPerCluster")),
	       json_integer_value(json_object_get(limits, "parallelOutboundMigrationsPerNode")),
	       json_integer_value(json_object_get(doc, "bandwidthBytesPerSecond")));
	struct gw_table *t = gw_table_new(6, (const char *const[]){"VM", "NODE", "EVICTION", "ACTION", "TARGET",
								      "WAVE"});
	json_array_foreach(json_object_get(doc, "vms"), i, v)
	{
		char *ref = gw_asprintf("%s/%s", str(v, "namespace"), str(v, "name"));
		char *wave = json_is_integer(json_object_get(v, "wave"))
				     ? gw_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(v, "wave")))
				     : gw_strdup("-");
		gw_table_add(t, (const char *const[]){ref, str(v, "node"), str(v, "evictionStrategy"), str(v, "action"),
						      str(v, "target"), wave});
		free(ref);
		free(wave);
	}
	gw_table_print(t, stdout);
	gw_table_free(t);
	json_array_foreach(json_object_get(doc, "vms"), i, v)
	{
		if (json_is_string(json_object_get(v, "target")))
			continue;
		printf("\n%s/%s: %s\n", str(v, "namespace"), str(v, "name"), str(v, "message"));
		size_t k;
		const json_t *r;
		json_array_foreach(json_object_get(v, "blockers"), k, r)
			printf("  %s: %s\n", str(r, "reason"), str(r, "message"));
		json_array_foreach(json_object_get(v, "rejected"), k, r)
		{
			size_t m;
			const json_t *reason;
			json_array_foreach(json_object_get(r, "reasons"), m, reason)
				printf("  %s: %s: %s\n", str(r, "node"), str(reason, "reason"), str(reason, "message"));
		}
	}
	printf("\n");
	json_array_foreach(json_object_get(doc, "waves"), i, v)
	{
		printf("wave %zu: %.1f s:", i + 1, json_number_value(json_object_get(v, "estimatedSeconds")));
		size_t k;
		const json_t *s;
		json_array_foreach(json_object_get(v, "vms"), k, s)
			printf(" %s", json_string_value(s));
		printf("\n");
	}
	printf("estimated duration: %.1f s%s\n", json_number_value(json_object_get(doc, "estimatedSeconds")),
	       json_is_true(json_object_get(doc, "drainBlocked")) ? "; the drain does not finish (see above)" : "");
}

static int cmd_plan_drain(int argc, char **argv)
{
	enum { OPT_BANDWIDTH = GW_CLI_OPT_FIRST_FREE };
	static const struct option opts[] = {
		GW_CLI_CLUSTER_LONGOPTS,
		{"bandwidth", required_argument, NULL, OPT_BANDWIDTH},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct gw_cli_cluster_opts o;
	struct gw_plan_opts po = {0};
	int ch, rc = -1;
	gw_cli_cluster_opts_init(&o);
	optind = 1;
	while (rc < 0 && (ch = getopt_long(argc, argv, GW_CLI_CLUSTER_SHORTOPTS "h", opts, NULL)) != -1) {
		int taken = gw_cli_cluster_option(&o, ch, optarg);
		if (taken < 0) {
			rc = GW_EXIT_USAGE;
		} else if (taken == 0) {
			switch (ch) {
			case OPT_BANDWIDTH:
				if (gw_quantity_parse(optarg, &po.bandwidth_bytes_s) < 0 || po.bandwidth_bytes_s <= 0)
					rc = gw_cli_usage(NULL, "plan drain: --bandwidth \"%s\": expected a positive "
								"quantity (bytes per second, e.g. 1Gi)",
							  optarg);
				break;
			case 'h':
				print_usage(stdout);
				rc = GW_EXIT_OK;
				break;
			default:
				print_usage(stderr);
				rc = GW_EXIT_USAGE;
			}
		}
	}
	if (rc < 0 && (optind >= argc || gw_cli_cluster_input_problem(&o))) {
		rc = gw_cli_usage(NULL, "plan drain: %s",
				  optind >= argc ? "name a node" : gw_cli_cluster_input_problem(&o));
		print_usage(stderr);
	}
	if (rc >= 0) {
		gw_cli_cluster_opts_fini(&o);
		return rc;
	}
	po.nodes = (const char *const *)&argv[optind];
	po.n_nodes = (size_t)(argc - optind);
	struct gw_err *err = NULL;
	struct gw_cluster *c = NULL;
	struct gw_cpu_modeldb *db = NULL;
	json_t *doc = NULL;
	int r = gw_cli_cluster_load(&o, &db, &c, &err);
	if (r == 0) {
		po.rules = o.rules;
		r = gw_sched_plan_drain(c, &po, &doc, &err);
	}
	if (r < 0) {
		rc = gw_cli_fail(err);
	} else {
		rc = GW_EXIT_OK;
		if (o.output == GW_OUTPUT_JSON)
			gw_json_print(stdout, doc);
		else
			print_table(doc);
		fflush(stdout);
	}
	json_decref(doc);
	gw_cpu_modeldb_free(db);
	gw_cluster_free(c);
	gw_cli_cluster_opts_fini(&o);
	return rc;
}

int gw_cmd_plan(int argc, char **argv)
{
	static const char plan_usage[] = "usage: godwit plan drain NODE... (-f PATH... | --server URL) [options]\n";
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(plan_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? GW_EXIT_USAGE : GW_EXIT_OK;
	}
	if (!strcmp(argv[1], "drain"))
		return cmd_plan_drain(argc - 1, argv + 1);
	return gw_cli_usage(plan_usage, "plan: unknown verb \"%s\" (drain)", argv[1]);
}
