/* SPDX-License-Identifier: Apache-2.0 */
/* godwit explain: every reason for every node, and the fixes that apply. */
#include <getopt.h>
#include <string.h>

#include "cli.h"
#include "godwit/explain.h"

static const char usage_explain[] =
	"usage: godwit explain VM [--node N] (-f PATH... | --server URL) [options]\n"
	"\n"
	"  VM                     NAME or NAMESPACE/NAME (a VirtualMachine resolves to its VMI)\n"
	"  --node N               only this node's reasons (and label fix)\n";

static void print_usage(FILE *out)
{
	fputs(usage_explain, out);
	fputs(gw_cli_cluster_usage, out);
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static void print_reasons(const json_t *reasons, const char *indent)
{
	size_t i;
	const json_t *r;
	json_array_foreach(reasons, i, r)
	{
		printf("%s%s", indent, str(r, "reason"));
		if (json_is_string(json_object_get(r, "subject")))
			printf(" [%s]", str(r, "subject"));
		printf(": %s\n", str(r, "message"));
	}
}

static void print_commands(const json_t *cmds, const char *indent)
{
	size_t i;
	const json_t *s;
	json_array_foreach(json_object_get(cmds, "kubectl"), i, s)
		printf("%skubectl/virtctl: %s\n", indent, json_string_value(s));
	json_array_foreach(json_object_get(cmds, "godwit"), i, s)
		printf("%sgodwit:          %s\n", indent, json_string_value(s));
	if (!json_is_true(json_object_get(cmds, "godwitImplemented")) && json_array_size(json_object_get(cmds, "godwit")))
		printf("%s                 (%s)\n", indent, str(cmds, "godwitNote"));
}

static void print_names(const char *label, const json_t *list)
{
	size_t i;
	const json_t *s;
	printf("%s", label);
	if (json_array_size(list) == 0)
		printf(" none");
	json_array_foreach(list, i, s)
		printf(" %s", json_string_value(s));
	printf("\n");
}

static void print_table(const json_t *doc)
{
	const json_t *vm = json_object_get(doc, "vm");
	printf("VM %s/%s on %s (%s), rules %s\n", str(vm, "namespace"), str(vm, "name"), str(vm, "node"),
	       str(vm, "phase"), str(doc, "rules"));
	printf("  CPU model    %s (from %s)\n", str(vm, "cpuModel"), str(vm, "cpuModelSource"));
	if (json_is_true(json_object_get(vm, "migratable"))) {
		printf("  migratable   yes (%s)\n", str(vm, "migrationMethod"));
	} else {
		printf("  migratable   no:\n");
		print_reasons(json_object_get(vm, "blockers"), "    ");
	}
	printf("  selectors    from %s\n", str(vm, "selectorSource"));
	const char *key;
	const json_t *value;
	const json_t *sources = json_object_get(vm, "targetSelectorSources");
	json_object_foreach((json_t *)json_object_get(vm, "targetSelector"), key, value)
		printf("    %s=%s  (%s)\n", key, json_string_value(value), str(sources, key));
	if (json_array_size(json_object_get(vm, "targetAffinity")))
		printf("    + required node affinity (see -o json)\n");
	if (json_is_string(json_object_get(vm, "selectorError")))
		printf("    cannot compute: %s\n", str(vm, "selectorError"));
	printf("\nNodes\n");
	size_t i;
	const json_t *n;
	json_array_foreach(json_object_get(doc, "nodes"), i, n)
	{
		if (json_is_true(json_object_get(n, "eligible"))) {
			printf("  %s: eligible\n", str(n, "name"));
			continue;
		}
		printf("  %s:\n", str(n, "name"));
		print_reasons(json_object_get(n, "reasons"), "    ");
	}
	print_names("\nEligible targets:", json_object_get(doc, "eligibleNodes"));
	const json_t *fixes = json_object_get(doc, "fixes");
	printf("\nFixes%s\n", json_array_size(fixes) ? "" : ": none apply");
	const json_t *f;
	json_array_foreach(fixes, i, f)
	{
		printf("  %zu. %s", i + 1, str(f, "title"));
		if (json_is_string(json_object_get(f, "model")))
			printf(": %s", str(f, "model"));
		if (json_is_string(json_object_get(f, "node")))
			printf(" (node %s)", str(f, "node"));
		printf("\n     why: %s\n", str(f, "reasoning"));
		if (json_is_array(json_object_get(f, "frees")))
			print_names("     frees:", json_object_get(f, "frees"));
		if (json_is_array(json_object_get(f, "eligibleAfter")))
			print_names("     eligible afterwards:", json_object_get(f, "eligibleAfter"));
		size_t k;
		const json_t *w;
		json_array_foreach(json_object_get(f, "warnings"), k, w)
			printf("     warning: %s\n", json_string_value(w));
		print_commands(json_object_get(f, "commands"), "     ");
		const json_t *cw = json_object_get(f, "clusterWide");
		if (cw) {
			printf("     cluster-wide instead: %s\n", str(cw, "note"));
			print_commands(json_object_get(cw, "commands"), "     ");
		}
	}
	if (json_is_string(json_object_get(doc, "note")))
		printf("\nNote: %s\n", str(doc, "note"));
}

int gw_cmd_explain(int argc, char **argv)
{
	enum { OPT_NODE = GW_CLI_OPT_FIRST_FREE };
	static const struct option opts[] = {
		GW_CLI_CLUSTER_LONGOPTS,
		{"node", required_argument, NULL, OPT_NODE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct gw_cli_cluster_opts o;
	struct gw_explain_opts eo = {0};
	int ch, rc = -1;
	gw_cli_cluster_opts_init(&o);
	optind = 1;
	while (rc < 0 && (ch = getopt_long(argc, argv, GW_CLI_CLUSTER_SHORTOPTS "h", opts, NULL)) != -1) {
		int taken = gw_cli_cluster_option(&o, ch, optarg);
		if (taken < 0) {
			rc = GW_EXIT_USAGE;
		} else if (taken == 0) {
			switch (ch) {
			case OPT_NODE:
				eo.node = optarg;
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
	if (rc < 0 && (optind != argc - 1 || gw_cli_cluster_input_problem(&o))) {
		rc = gw_cli_usage(NULL, "explain: %s",
				  optind >= argc			 ? "name a VM"
				  : gw_cli_cluster_input_problem(&o) ? gw_cli_cluster_input_problem(&o)
								     : "name one VM");
		print_usage(stderr);
	}
	if (rc >= 0) {
		gw_cli_cluster_opts_fini(&o);
		return rc;
	}
	struct gw_err *err = NULL;
	struct gw_cluster *c = NULL;
	struct gw_cpu_modeldb *db = NULL;
	json_t *doc = NULL;
	const struct gw_vmi *vmi;
	int r = gw_cli_cluster_load(&o, &db, &c, &err);
	if (r == 0)
		r = gw_sched_find_vmi(c, argv[optind], &vmi, &err);
	if (r == 0) {
		eo.rules = o.rules;
		eo.db = db;
		r = gw_sched_explain(c, vmi, &eo, &doc, &err);
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
