/* SPDX-License-Identifier: Apache-2.0 */
/* godwit cpu compare: two hosts, which features and models decide. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit cpu compare --profile A --profile B [--model-db FILE] [-o table|json]\n"
	"\n"
	"  --profile F     a host profile (JSON, domcapabilities XML, cpuid dump, Node); give two\n"
	"  --model-db F    use a model database written by `cpu models --from-qemu -o tsv`\n"
	"  -o FORMAT       table (default) or json\n";

static void models_only(const struct gw_modelset *a, const struct gw_modelset *b, struct gw_modelset *out)
{
	for (size_t w = 0; w < GW_CPU_MODELSET_WORDS; w++)
		out->w[w] = a->w[w] & ~b->w[w];
}

static json_t *models_json(const struct gw_cpu_modeldb *db, const struct gw_modelset *set)
{
	int *idx;
	size_t n;
	gw_cli_models_highest_first(db, set, &idx, &n);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_string(db->models[idx[i]].name));
	free(idx);
	return list;
}

static void print_models(const struct gw_cpu_modeldb *db, const char *label, const struct gw_modelset *set)
{
	int *idx;
	size_t n;
	gw_cli_models_highest_first(db, set, &idx, &n);
	struct gw_strv names;
	gw_strv_init(&names);
	for (size_t i = 0; i < n; i++)
		gw_strv_push(&names, db->models[idx[i]].name);
	free(idx);
	char *l = gw_asprintf("%s (%zu): ", label, names.n);
	gw_print_wrapped(stdout, l, &names, 100);
	free(l);
	gw_strv_fini(&names);
}

int gw_cmd_cpu_compare(int argc, char **argv)
{
	static const struct option opts[] = {
		{"profile", required_argument, NULL, 'p'}, {"model-db", required_argument, NULL, 'm'},
		{"output", required_argument, NULL, 'o'},  {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *paths[2] = {NULL, NULL}, *dbpath = NULL;
	size_t n_paths = 0;
	enum gw_output output = GW_OUTPUT_TABLE;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (n_paths == 2)
				return gw_cli_usage(usage, "cpu compare: give --profile exactly twice");
			paths[n_paths++] = optarg;
			break;
		case 'm':
			dbpath = optarg;
			break;
		case 'o':
			if (gw_cli_parse_output(optarg, &output))
				return GW_EXIT_USAGE;
			break;
		case 'h':
			fputs(usage, stdout);
			return GW_EXIT_OK;
		default:
			return gw_cli_usage(usage, "cpu compare: bad option");
		}
	}
	if (optind < argc)
		return gw_cli_usage(usage, "cpu compare: unexpected argument \"%s\"", argv[optind]);
	if (n_paths != 2)
		return gw_cli_usage(usage, "cpu compare: give --profile exactly twice");

	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_cpu_profile *a = NULL, *b = NULL;
	int r = gw_cli_load_modeldb(dbpath, &db, &err);
	if (r == 0)
		r = gw_cli_load_one_profile(db, paths[0], &a, &err);
	if (r == 0)
		r = gw_cli_load_one_profile(db, paths[1], &b, &err);
	if (r == 0) {
		struct gw_cpu_comparison cmp;
		gw_cpu_compare(a, b, &cmp);
		struct gw_modelset ua, ub, only_a, only_b;
		gw_cpu_usable(db, a, &ua);
		gw_cpu_usable(db, b, &ub);
		models_only(&ua, &ub, &only_a);
		models_only(&ub, &ua, &only_b);
		if (output == GW_OUTPUT_JSON) {
			json_t *doc = json_pack(
				"{s:{s:s, s:s, s:s?}, s:{s:s, s:s, s:s?}, s:s, s:b, s:o, s:o, s:o, s:o}", "a", "name",
				a->name, "origin", a->origin, "vendor", a->vendor, "b", "name", b->name, "origin",
				b->origin, "vendor", b->vendor, "relation", gw_cpu_relation_name(cmp.relation),
				"vendorMismatch", cmp.vendor_mismatch, "onlyA", gw_cli_features_grouped_json(&cmp.only_a),
				"onlyB", gw_cli_features_grouped_json(&cmp.only_b), "modelsOnlyA",
				models_json(db, &only_a), "modelsOnlyB", models_json(db, &only_b));
			gw_json_print(stdout, doc);
			json_decref(doc);
		} else {
			printf("A  %s (%s, %s)\n", a->name, a->vendor ? a->vendor : "unknown vendor", a->origin);
			printf("B  %s (%s, %s)\n", b->name, b->vendor ? b->vendor : "unknown vendor", b->origin);
			printf("\nrelation: %s", gw_cpu_relation_name(cmp.relation));
			switch (cmp.relation) {
			case GW_CPU_IDENTICAL:
				printf(" (a guest migrates both ways with any model)\n");
				break;
			case GW_CPU_SUPERSET:
				printf(" (A has everything B has: guests move B -> A freely)\n");
				break;
			case GW_CPU_SUBSET:
				printf(" (B has everything A has: guests move A -> B freely)\n");
				break;
			case GW_CPU_INCOMPATIBLE:
				printf(" (each lacks something the other has: use a common model)\n");
				break;
			}
			if (cmp.vendor_mismatch)
				printf("WARNING: vendors differ (%s vs %s): live migration between them is not safe\n",
				       a->vendor, b->vendor);
			printf("\nfeatures only A has (%u)\n", gw_featset_count(&cmp.only_a));
			gw_print_features_grouped(stdout, "  ", &cmp.only_a);
			printf("features only B has (%u)\n", gw_featset_count(&cmp.only_b));
			gw_print_features_grouped(stdout, "  ", &cmp.only_b);
			printf("\n");
			print_models(db, "models usable only on A", &only_a);
			print_models(db, "models usable only on B", &only_b);
		}
	}
	gw_cpu_profile_free(a);
	gw_cpu_profile_free(b);
	gw_cpu_modeldb_free(db);
	return r < 0 ? gw_cli_fail(err) : GW_EXIT_OK;
}
