/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit cpu models [--profile F] [--usable] [--model-db FILE] [-o table|json|tsv]\n"
	"       godwit cpu models --from-qemu BINARY [-o tsv|json|table]\n"
	"\n"
	"  --profile F     mark the models usable on this host (file or directory; first host)\n"
	"  --usable        list only the usable models (needs --profile)\n"
	"  --from-qemu B   ask QEMU binary B for its models (QMP query-cpu-definitions and\n"
	"                  query-cpu-model-expansion); -o tsv writes a database for --model-db\n"
	"  --model-db F    use a database written by --from-qemu instead of the built-in one\n";

int gw_cmd_cpu_models(int argc, char **argv)
{
	static const struct option opts[] = {
		{"profile", required_argument, NULL, 'p'}, {"usable", no_argument, NULL, 'u'},
		{"from-qemu", required_argument, NULL, 'q'}, {"model-db", required_argument, NULL, 'm'},
		{"output", required_argument, NULL, 'o'},   {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *profile = NULL, *qemu = NULL, *dbpath = NULL, *output = "table";
	bool usable_only = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			profile = optarg;
			break;
		case 'u':
			usable_only = true;
			break;
		case 'q':
			qemu = optarg;
			break;
		case 'm':
			dbpath = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return GW_EXIT_OK;
		default:
			return gw_cli_usage(usage, "cpu models: bad option");
		}
	}
	if (optind < argc)
		return gw_cli_usage(usage, "cpu models: unexpected argument \"%s\"", argv[optind]);
	if (usable_only && !profile)
		return gw_cli_usage(usage, "cpu models: --usable needs --profile");
	if (strcmp(output, "table") && strcmp(output, "json") && strcmp(output, "tsv"))
		return gw_cli_usage(usage, "-o \"%s\": expected table, json or tsv", output);

	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	int r;
	if (qemu)
		r = gw_cpu_modeldb_from_qemu(qemu, &db, &err);
	else
		r = gw_cli_load_modeldb(dbpath, &db, &err);
	if (r < 0)
		return gw_cli_fail(err);

	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	struct gw_modelset usable = {{0}};
	if (profile) {
		r = gw_cpu_profile_load(db, profile, &hosts, &err);
		if (r < 0) {
			gw_cpu_modeldb_free(db);
			return gw_cli_fail(err);
		}
		gw_cpu_usable(db, hosts.v[0], &usable);
	}

	if (!strcmp(output, "tsv")) {
		char *text = gw_cpu_modeldb_format(db);
		fputs(text, stdout);
		free(text);
	} else if (!strcmp(output, "json")) {
		json_t *list = json_array();
		for (size_t i = 0; i < db->n; i++) {
			const struct gw_cpu_model *m = &db->models[i];
			bool ok = profile && gw_modelset_test(&usable, (unsigned)i);
			if (usable_only && !ok)
				continue;
			json_t *o = json_pack("{s:s, s:s?, s:s?, s:b, s:o}", "name", m->name, "aliasOf", m->alias_of,
					      "vendor", m->vendor, "obsolete", gw_cpu_modeldb_is_obsolete(db, m->name),
					      "features", gw_featset_to_json(&m->features));
			if (profile) {
				json_object_set_new(o, "usable", json_boolean(ok));
				struct gw_featset missing;
				gw_featset_andnot(&missing, &m->features, &hosts.v[0]->features);
				json_object_set_new(o, "missing", gw_featset_to_json(&missing));
			}
			json_array_append_new(list, o);
		}
		json_t *doc = json_pack("{s:s, s:o}", "source", db->source, "models", list);
		gw_json_print(stdout, doc);
		json_decref(doc);
	} else {
		const char *head[] = {"MODEL", "ALIAS-OF", "VENDOR", "FEATURES", profile ? "USABLE" : "OBSOLETE"};
		struct gw_table *t = gw_table_new(5, head);
		for (size_t i = 0; i < db->n; i++) {
			const struct gw_cpu_model *m = &db->models[i];
			bool ok = profile && gw_modelset_test(&usable, (unsigned)i);
			if (usable_only && !ok)
				continue;
			char count[16];
			snprintf(count, sizeof(count), "%u", gw_featset_count(&m->features));
			const char *last = profile ? (ok ? "yes" : "no")
						   : (gw_cpu_modeldb_is_obsolete(db, m->name) ? "yes" : "");
			const char *row[] = {m->name, m->alias_of ? m->alias_of : "-", m->vendor ? m->vendor : "-",
					     count, last};
			gw_table_add(t, row);
		}
		printf("models of %s\n", db->source);
		gw_table_print(t, stdout);
		gw_table_free(t);
	}
	gw_cpu_profiles_fini(&hosts);
	gw_cpu_modeldb_free(db);
	return GW_EXIT_OK;
}
