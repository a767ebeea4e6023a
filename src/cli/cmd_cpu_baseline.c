/* SPDX-License-Identifier: Apache-2.0 */
/* godwit cpu baseline: the highest common models of a set of hosts. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit cpu baseline (--profile F | --nodes NODES.json)... [--model M]\n"
	"                           [--model-db FILE] [-o table|json]\n"
	"\n"
	"  --profile F     host profiles: a file (JSON, domcapabilities XML, cpuid dump) or a\n"
	"                  directory of them; repeatable\n"
	"  --nodes N       a Kubernetes node list (kubectl get nodes -o json); repeatable\n"
	"  --model M       also show, for model M, which hosts can run it and what each loses\n"
	"  --model-db F    use a model database written by `cpu models --from-qemu -o tsv`\n"
	"  -o FORMAT       table (default) or json (models, recommended, reason, level, custom,\n"
	"                  vendors, lost)\n";

static int load_inputs(const struct gw_cpu_modeldb *db, const struct gw_strv *inputs, struct gw_cpu_profiles *hosts,
		       struct gw_err **err)
{
	for (size_t i = 0; i < inputs->n; i++) {
		/* Each input is "p:PATH" (--profile) or "n:PATH" (--nodes). */
		const char *path = inputs->v[i] + 2;
		size_t first = hosts->n;
		int r = gw_cpu_profile_load(db, path, hosts, err);
		if (r < 0)
			return r;
		if (inputs->v[i][0] != 'n')
			continue;
		for (size_t k = first; k < hosts->n; k++)
			if (hosts->v[k]->kind != GW_CPU_PROFILE_NODE)
				return gw_err_set(err, -EINVAL, "%s: --nodes: not a Kubernetes Node list (use --profile)",
						  path);
		if (hosts->n == first)
			return gw_err_set(err, -EINVAL, "%s: --nodes: the list has no nodes", path);
	}
	return 0;
}

static void guest_features(const struct gw_cpu_modeldb *db, const struct gw_cpu_hostmodel *hm, struct gw_featset *out)
{
	memset(out, 0, sizeof(*out));
	if (hm->model >= 0)
		*out = db->models[hm->model].features;
	gw_featset_or(out, out, &hm->require);
	gw_featset_andnot(out, out, &hm->disable);
}

/* Past this many hosts the table lists counts only; -o json has them all. */
#define LOST_DETAIL_MAX_HOSTS 20

static void print_lost(struct gw_cpu_profile *const *hosts, size_t n, const struct gw_featset *guest)
{
	if (n > LOST_DETAIL_MAX_HOSTS) {
		const char *head[] = {"  HOST", "LOST", "OF"};
		struct gw_table *t = gw_table_new(3, head);
		for (size_t i = 0; i < n; i++) {
			struct gw_featset lost;
			gw_cpu_lost(&hosts[i]->features, guest, &lost);
			char *name = gw_asprintf("  %s", hosts[i]->name);
			char count[16], of[16];
			snprintf(count, sizeof(count), "%u", gw_featset_count(&lost));
			snprintf(of, sizeof(of), "%u", gw_featset_count(&hosts[i]->features));
			const char *row[] = {name, count, of};
			gw_table_add(t, row);
			free(name);
		}
		gw_table_print(t, stdout);
		gw_table_free(t);
		printf("  (%zu hosts: the features themselves with -o json)\n", n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct gw_featset lost;
		gw_cpu_lost(&hosts[i]->features, guest, &lost);
		printf("  %s (%u of %u)\n", hosts[i]->name, gw_featset_count(&lost), gw_featset_count(&hosts[i]->features));
		gw_print_features_grouped(stdout, "    ", &lost);
	}
}

/* --model M: where it runs, and what each host gives up for it. */
static json_t *model_report(const struct gw_cpu_modeldb *db, int m, struct gw_cpu_profile *const *hosts, size_t n)
{
	json_t *hosts_json = json_object(), *missing_on = json_object();
	for (size_t i = 0; i < n; i++) {
		/* As the baseline report does: a repeated host name gets "#<index>". */
		char *key = json_object_get(hosts_json, hosts[i]->name) ? gw_asprintf("%s#%zu", hosts[i]->name, i)
									 : gw_strdup(hosts[i]->name);
		struct gw_modelset usable;
		gw_cpu_usable(db, hosts[i], &usable);
		if (!gw_modelset_test(&usable, (unsigned)m)) {
			struct gw_featset missing;
			gw_featset_andnot(&missing, &db->models[m].features, &hosts[i]->features);
			json_object_set_new(missing_on, key, gw_featset_to_json(&missing));
		}
		json_object_set_new(hosts_json, key,
				    gw_cpu_lost_to_json(&hosts[i]->features, &db->models[m].features));
		free(key);
	}
	return json_pack("{s:s, s:b, s:o, s:o}", "name", db->models[m].name, "usableOnAll",
			 json_object_size(missing_on) == 0, "unusableOn", missing_on, "lost", hosts_json);
}

static void print_model_report(const struct gw_cpu_modeldb *db, int m, struct gw_cpu_profile *const *hosts, size_t n)
{
	const struct gw_cpu_model *model = &db->models[m];
	printf("\nmodel %s (%u features)\n", model->name, gw_featset_count(&model->features));
	size_t unusable = 0;
	for (size_t i = 0; i < n; i++) {
		struct gw_modelset usable;
		gw_cpu_usable(db, hosts[i], &usable);
		if (gw_modelset_test(&usable, (unsigned)m))
			continue;
		struct gw_featset missing;
		gw_featset_andnot(&missing, &model->features, &hosts[i]->features);
		struct gw_strv names;
		gw_strv_init(&names);
		gw_featset_names(&missing, &names);
		char *label = gw_asprintf("  NOT usable on %s; missing: ", hosts[i]->name);
		gw_print_wrapped(stdout, label, &names, 100);
		free(label);
		gw_strv_fini(&names);
		unusable++;
	}
	if (!unusable)
		printf("  usable on all %zu hosts\n", n);
	printf("features each host loses under %s\n", model->name);
	print_lost(hosts, n, &model->features);
}

/* The models just above the maximal ones, and which hosts hold them back. */
static void print_blocked(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts,
			  const struct gw_cpu_baseline *b)
{
	if (!b->n_blocked)
		return;
	printf("\nblocked just above them\n");
	for (size_t i = 0; i < b->n_blocked; i++) {
		const struct gw_cpu_blocked *bl = &b->blocked[i];
		printf("  %s (above %s)\n", db->models[bl->model].name, db->models[bl->maximal].name);
		for (size_t g = 0; g < bl->n_groups; g++) {
			struct gw_strv words;
			gw_strv_init(&words);
			gw_featset_names(&bl->groups[g].missing, &words);
			if (!words.n)
				gw_strv_push(&words, "(the hypervisor calls it unusable)");
			struct gw_buf who;
			gw_buf_init(&who);
			size_t shown = bl->groups[g].n_hosts < 3 ? bl->groups[g].n_hosts : 3;
			for (size_t h = 0; h < shown; h++)
				gw_buf_printf(&who, "%s%s", h ? ", " : "", hosts[bl->groups[g].hosts[h]]->name);
			if (bl->groups[g].n_hosts > shown)
				gw_buf_printf(&who, " and %zu more", bl->groups[g].n_hosts - shown);
			char *label = gw_asprintf("    %s lack%s: ", who.data, bl->groups[g].n_hosts == 1 ? "s" : "");
			gw_print_wrapped(stdout, label, &words, 100);
			free(label);
			gw_buf_fini(&who);
			gw_strv_fini(&words);
		}
	}
}

static void print_table(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
			const struct gw_cpu_baseline *b, int model)
{
	printf("hosts (%zu)\n", n);
	const char *head[] = {"HOST", "VENDOR", "FEATURES", "LEVEL", "FROM"};
	struct gw_table *t = gw_table_new(5, head);
	for (size_t i = 0; i < n; i++) {
		char count[16], level[16];
		snprintf(count, sizeof(count), "%u", gw_featset_count(&hosts[i]->features));
		snprintf(level, sizeof(level), "v%d", gw_cpu_level(&hosts[i]->features));
		const char *row[] = {hosts[i]->name, hosts[i]->vendor ? hosts[i]->vendor : "unknown", count, level,
				     hosts[i]->origin};
		gw_table_add(t, row);
	}
	gw_table_print(t, stdout);
	gw_table_free(t);
	if (b->mixed_vendors) {
		printf("\n!!! WARNING: MIXED VENDORS:");
		for (size_t i = 0; i < b->vendors.n; i++)
			printf(" %s", b->vendors.v[i]);
		printf("\n!!! Live migration between CPU vendors is not supported by QEMU/KVM; the common\n"
		       "!!! model below boots everywhere but guests must not migrate across vendors.\n");
	}

	printf("\ncommon features   %u\n", gw_featset_count(&b->common));
	if (b->level)
		printf("x86-64 level      x86-64-v%d\n", b->level);
	else
		printf("x86-64 level      none (below x86-64-v1)\n");

	printf("\nmaximal common models (%zu), best first\n", b->n_maximal);
	if (b->n_maximal) {
		const char *mhead[] = {"MODEL", "FEATURES", "LIBVIRT", "SAME FEATURES AS"};
		struct gw_table *mt = gw_table_new(4, mhead);
		for (size_t i = 0; i < b->n_maximal; i++) {
			const struct gw_cpu_model *m = &db->models[b->maximal[i]];
			char count[16];
			snprintf(count, sizeof(count), "%u", gw_featset_count(&m->features));
			struct gw_buf aliases;
			gw_buf_init(&aliases);
			for (size_t a = 0; b->aliases && a < b->aliases[i].n; a++)
				gw_buf_printf(&aliases, "%s%s", a ? " " : "", b->aliases[i].v[a]);
			const char *row[] = {m->name, count, m->libvirt_order > 0 ? "yes" : "no",
					     aliases.len ? aliases.data : "-"};
			gw_table_add(mt, row);
			gw_buf_fini(&aliases);
		}
		gw_table_print(mt, stdout);
		gw_table_free(mt);
	} else {
		printf("  none: no named model is usable on every host\n");
	}
	print_blocked(db, hosts, b);

	printf("\nrecommended       %s\n", b->recommended >= 0 ? db->models[b->recommended].name : "none");
	if (b->reason) {
		struct gw_strv words;
		gw_strv_init(&words);
		gw_str_split(b->reason, ' ', &words);
		gw_print_wrapped(stdout, "  because         ", &words, 100);
		gw_strv_fini(&words);
	}

	if (b->custom.model >= 0) {
		printf("\ncustom baseline   %s + %u features, - %u features\n", db->models[b->custom.model].name,
		       gw_featset_count(&b->custom.require), gw_featset_count(&b->custom.disable));
		printf("  require\n");
		gw_print_features_grouped(stdout, "    ", &b->custom.require);
		printf("  disable\n");
		gw_print_features_grouped(stdout, "    ", &b->custom.disable);
	} else {
		printf("\ncustom baseline   none: no model to build it on\n");
	}

	if (b->recommended >= 0) {
		printf("\nfeatures each host loses under %s\n", db->models[b->recommended].name);
		print_lost(hosts, n, &db->models[b->recommended].features);
	}
	if (b->custom.model >= 0) {
		struct gw_featset custom;
		guest_features(db, &b->custom, &custom);
		printf("\nfeatures each host loses under the custom baseline\n");
		print_lost(hosts, n, &custom);
	}
	if (model >= 0)
		print_model_report(db, model, hosts, n);
}

int gw_cmd_cpu_baseline(int argc, char **argv)
{
	static const struct option opts[] = {
		{"profile", required_argument, NULL, 'p'}, {"nodes", required_argument, NULL, 'n'},
		{"model", required_argument, NULL, 'M'},   {"model-db", required_argument, NULL, 'm'},
		{"output", required_argument, NULL, 'o'},  {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dbpath = NULL, *model_name = NULL;
	enum gw_output output = GW_OUTPUT_TABLE;
	struct gw_strv inputs;
	gw_strv_init(&inputs);
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
		case 'n':
			gw_strv_push_take(&inputs, gw_asprintf("%c:%s", c, optarg));
			break;
		case 'M':
			model_name = optarg;
			break;
		case 'm':
			dbpath = optarg;
			break;
		case 'o':
			if (gw_cli_parse_output(optarg, &output)) {
				gw_strv_fini(&inputs);
				return GW_EXIT_USAGE;
			}
			break;
		case 'h':
			gw_strv_fini(&inputs);
			fputs(usage, stdout);
			return GW_EXIT_OK;
		default:
			gw_strv_fini(&inputs);
			return gw_cli_usage(usage, "cpu baseline: bad option");
		}
	}
	if (optind < argc || inputs.n == 0) {
		gw_strv_fini(&inputs);
		if (optind < argc)
			return gw_cli_usage(usage, "cpu baseline: unexpected argument \"%s\"", argv[optind]);
		return gw_cli_usage(usage, "cpu baseline: give hosts with --profile or --nodes");
	}

	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	struct gw_cpu_baseline b;
	memset(&b, 0, sizeof(b));
	b.recommended = -1;
	b.custom.model = -1;
	int model = -1;
	int r = gw_cli_load_modeldb(dbpath, &db, &err);
	if (r == 0 && model_name) {
		model = gw_cpu_modeldb_lookup(db, model_name, &err);
		if (model < 0)
			r = gw_err_wrap(&err, "--model");
	}
	if (r == 0)
		r = load_inputs(db, &inputs, &hosts, &err);
	bool computed = false;
	if (r == 0) {
		r = gw_cpu_baseline(db, hosts.v, hosts.n, &b, &err);
		computed = r == 0;
	}
	if (r == 0) {
		if (output == GW_OUTPUT_JSON) {
			json_t *doc = gw_cpu_baseline_to_json(db, hosts.v, hosts.n, &b);
			if (model >= 0)
				json_object_set_new(doc, "model", model_report(db, model, hosts.v, hosts.n));
			gw_json_print(stdout, doc);
			json_decref(doc);
		} else {
			print_table(db, hosts.v, hosts.n, &b, model);
		}
		fflush(stdout);
		if (b.mixed_vendors)
			fprintf(stderr, "godwit: warning: mixed CPU vendors in the host set; guests must not migrate "
					"across vendors\n");
	}
	if (computed)
		gw_cpu_baseline_fini(&b);
	gw_cpu_profiles_fini(&hosts);
	gw_cpu_modeldb_free(db);
	gw_strv_fini(&inputs);
	return r < 0 ? gw_cli_fail(err) : GW_EXIT_OK;
}
