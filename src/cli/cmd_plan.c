/* SPDX-License-Identifier: Apache-2.0 */
/* godwit plan drain: where the VMs of drained nodes would go. */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "godwit/explain.h"

static const char usage[] =
	"usage: godwit plan drain NODE... -f PATH... [--bandwidth Q] [--rules godwit|kubevirt]\n"
	"                         [-o table|json]\n"
	"\n"
	"  NODE            a node to drain; several are drained together\n"
	"  -f PATH         manifests or kubectl JSON (a file or directory); repeatable\n"
	"  --bandwidth Q   bytes per second one migration moves (a quantity: 1Gi, 500Mi);\n"
	"                  default 1Gi, or bandwidthPerMigration when that is lower\n"
	"  --rules R       godwit (default) or kubevirt\n"
	"  -o FORMAT       table (default) or json\n";

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
	static const struct option opts[] = {
		{"file", required_argument, NULL, 'f'},  {"bandwidth", required_argument, NULL, 'b'},
		{"rules", required_argument, NULL, 'r'}, {"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct gw_strv paths;
	struct gw_plan_opts po = {0};
	enum gw_output output = GW_OUTPUT_TABLE;
	int ch, rc = GW_EXIT_OK;
	gw_strv_init(&paths);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			gw_strv_push(&paths, optarg);
			break;
		case 'b':
			if (gw_quantity_parse(optarg, &po.bandwidth_bytes_s) < 0 || po.bandwidth_bytes_s <= 0) {
				gw_strv_fini(&paths);
				return gw_cli_usage(usage, "plan drain: --bandwidth \"%s\": expected a positive quantity "
							   "(bytes per second, e.g. 1Gi)",
						    optarg);
			}
			break;
		case 'r':
			po.rules = gw_rules_by_name(optarg);
			if (!po.rules) {
				gw_strv_fini(&paths);
				return gw_cli_usage(usage, "plan drain: unknown rule set \"%s\" (godwit or kubevirt)",
						    optarg);
			}
			break;
		case 'o':
			if (gw_cli_parse_output(optarg, &output)) {
				gw_strv_fini(&paths);
				return GW_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			gw_strv_fini(&paths);
			return GW_EXIT_OK;
		default:
			gw_strv_fini(&paths);
			return gw_cli_usage(usage, "plan drain: bad option");
		}
	}
	if (optind >= argc || paths.n == 0) {
		gw_strv_fini(&paths);
		return gw_cli_usage(usage, optind >= argc ? "plan drain: name a node" : "plan drain: give -f PATH");
	}
	po.nodes = (const char *const *)&argv[optind];
	po.n_nodes = (size_t)(argc - optind);
	struct gw_err *err = NULL;
	struct gw_cluster *c = NULL;
	json_t *doc = NULL;
	int r = gw_cli_load_cluster_local(&paths, &c, &err);
	if (r == 0)
		r = gw_sched_plan_drain(c, &po, &doc, &err);
	if (r < 0) {
		rc = gw_cli_fail(err);
	} else {
		if (output == GW_OUTPUT_JSON)
			gw_json_print(stdout, doc);
		else
			print_table(doc);
		fflush(stdout);
	}
	json_decref(doc);
	gw_cluster_free(c);
	gw_strv_fini(&paths);
	return rc;
}

int gw_cmd_plan(int argc, char **argv)
{
	static const char plan_usage[] = "usage: godwit plan drain NODE... -f PATH... [options]\n";
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(plan_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? GW_EXIT_USAGE : GW_EXIT_OK;
	}
	if (!strcmp(argv[1], "drain"))
		return cmd_plan_drain(argc - 1, argv + 1);
	return gw_cli_usage(plan_usage, "plan: unknown verb \"%s\" (drain)", argv[1]);
}
