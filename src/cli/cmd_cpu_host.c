/* SPDX-License-Identifier: Apache-2.0 */
/* godwit cpu host: this host's CPU as the engine sees it. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit cpu host [--kvm] [--qemu BINARY] [--model-db FILE] [-o table|json]\n"
	"\n"
	"  --kvm           what this host's KVM offers a guest (KVM_GET_SUPPORTED_CPUID and\n"
	"                  KVM's feature MSRs) instead of the CPUID instruction; needs /dev/kvm\n"
	"  --qemu BINARY   QEMU's own view of this host over QMP: -cpu max under TCG, or\n"
	"                  -cpu host under KVM with --kvm; QEMU's usable models win\n"
	"  --model-db F    use a model database written by `cpu models --from-qemu -o tsv`\n"
	"  -o FORMAT       table (default) or json\n";

static const char *source_name(bool kvm, const char *qemu)
{
	if (qemu)
		return kvm ? "QEMU -cpu host, KVM" : "QEMU -cpu max, TCG";
	return kvm ? "KVM (KVM_GET_SUPPORTED_CPUID)" : "CPUID instruction";
}

static int load_host(const struct gw_cpu_modeldb *db, bool kvm, const char *qemu, struct gw_cpu_profile **p,
		     struct gw_err **err)
{
	/* Checked here so that a host without KVM gets a plain answer and
	 * exit code 4, whatever the reader would make of the open() error. */
	if (kvm && access("/dev/kvm", F_OK) != 0)
		return gw_err_set(err, -ENODEV,
				  "cpu host --kvm: this host has no /dev/kvm (KVM not loaded or not allowed here); "
				  "run without --kvm for the CPUID view");
	if (kvm && access("/dev/kvm", R_OK | W_OK) != 0)
		return gw_err_set(err, -EACCES,
				  "cpu host --kvm: /dev/kvm: permission denied (join group kvm or run as root)");
	if (qemu)
		return gw_cpu_profile_from_qemu(db, qemu, kvm, p, err);
	return gw_cpu_profile_from_host(kvm, p, err);
}

static void print_table(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p, const char *source,
			const int *usable, size_t n_usable, const struct gw_cpu_hostmodel *hm, const json_t *labels)
{
	printf("host          %s (%s)\n", p->name, source);
	printf("vendor        %s\n", p->vendor ? p->vendor : "unknown");
	if (p->family >= 0)
		printf("signature     family %d, model %d (0x%x), stepping %d\n", p->family, p->model, (unsigned)p->model,
		       p->stepping);
	int level = gw_cpu_level(&p->features);
	if (level)
		printf("x86-64 level  x86-64-v%d\n", level);
	else
		printf("x86-64 level  below x86-64-v1\n");
	printf("features      %u\n", gw_featset_count(&p->features));
	gw_print_features_grouped(stdout, "  ", &p->features);

	struct gw_strv names, obsolete;
	gw_strv_init(&names);
	gw_strv_init(&obsolete);
	for (size_t i = 0; i < n_usable; i++) {
		const char *name = db->models[usable[i]].name;
		gw_strv_push(gw_cpu_modeldb_is_obsolete(db, name) ? &obsolete : &names, name);
	}
	printf("\nusable models: %zu, highest first (%s)\n", n_usable,
	       p->has_usable ? "the hypervisor's answer" : "QEMU's model definitions");
	gw_print_wrapped(stdout, "  ", &names, 100);
	if (obsolete.n)
		gw_print_wrapped(stdout, "  obsolete in KubeVirt: ", &obsolete, 100);
	gw_strv_fini(&names);
	gw_strv_fini(&obsolete);

	printf("\nhost-model    %s\n", hm->name ? hm->name : "-");
	printf("  require     %u\n", gw_featset_count(&hm->require));
	gw_print_features_grouped(stdout, "    ", &hm->require);
	printf("  disable     %u\n", gw_featset_count(&hm->disable));
	gw_print_features_grouped(stdout, "    ", &hm->disable);

	printf("\nKubeVirt node labels: %zu (default obsoleteCPUModels)\n", json_object_size(labels));
	gw_print_label_counts(stdout, "  ", labels);
	/* The per-feature and per-known-model labels repeat what is above;
	 * the rest says what a scheduler matches on. */
	static const char *const repeated[] = {
		"cpu-feature.node.kubevirt.io/",
		"cpu-model-migration.node.kubevirt.io/",
		"host-model-required-features.node.kubevirt.io/",
	};
	struct gw_strv keys;
	gw_strv_init(&keys);
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)labels, key, v) {
		bool skip = false;
		for (size_t i = 0; i < GW_ARRAY_SIZE(repeated) && !skip; i++)
			skip = gw_str_has_prefix(key, repeated[i]);
		if (!skip)
			gw_strv_push(&keys, key);
	}
	gw_strv_sort(&keys);
	for (size_t i = 0; i < keys.n; i++)
		printf("  %s=%s\n", keys.v[i], json_string_value(json_object_get(labels, keys.v[i])));
	printf("  (the cpu-feature, cpu-model-migration and host-model-required-features labels\n"
	       "   repeat the lists above; all labels: godwit cpu host -o json)\n");
	gw_strv_fini(&keys);
}

static json_t *to_json(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p, const char *source,
		       const int *usable, size_t n_usable, const struct gw_cpu_hostmodel *hm, json_t *labels)
{
	json_t *models = json_array();
	for (size_t i = 0; i < n_usable; i++)
		json_array_append_new(models, json_string(db->models[usable[i]].name));
	json_t *o = json_pack("{s:s, s:s, s:s?, s:i, s:i, s:i, s:i, s:I, s:o, s:o, s:o, s:{s:s?, s:o, s:o}, s:O}",
			      "name", p->name, "source", source, "vendor", p->vendor, "family", p->family, "model",
			      p->model, "stepping", p->stepping, "level", gw_cpu_level(&p->features), "featureCount",
			      (json_int_t)gw_featset_count(&p->features), "features", gw_featset_to_json(&p->features),
			      "featureGroups", gw_cli_features_grouped_json(&p->features), "usable", models,
			      "hostModel", "name", hm->name, "require", gw_featset_to_json(&hm->require), "disable",
			      gw_featset_to_json(&hm->disable), "labels", labels);
	return o;
}

int gw_cmd_cpu_host(int argc, char **argv)
{
	static const struct option opts[] = {
		{"kvm", no_argument, NULL, 'k'},	  {"qemu", required_argument, NULL, 'q'},
		{"model-db", required_argument, NULL, 'm'}, {"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	const char *qemu = NULL, *dbpath = NULL;
	enum gw_output output = GW_OUTPUT_TABLE;
	bool kvm = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kvm = true;
			break;
		case 'q':
			qemu = optarg;
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
			return gw_cli_usage(usage, "cpu host: bad option");
		}
	}
	if (optind < argc)
		return gw_cli_usage(usage, "cpu host: unexpected argument \"%s\"", argv[optind]);

	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_cpu_profile *p = NULL;
	struct gw_cpu_hostmodel hm = {.model = -1};
	json_t *labels = NULL;
	int *usable = NULL;
	size_t n_usable = 0;
	struct gw_cpu_label_config config;
	gw_cpu_label_config_init(&config);
	int r = gw_cli_load_modeldb(dbpath, &db, &err);
	if (r == 0)
		r = load_host(db, kvm, qemu, &p, &err);
	if (r == 0)
		r = gw_cpu_host_model(db, p, &hm, &err);
	if (r == 0)
		r = gw_cpu_labels(db, p, &config, &labels, &err);
	if (r == 0) {
		struct gw_modelset set;
		gw_cpu_usable(db, p, &set);
		gw_cli_models_highest_first(db, &set, &usable, &n_usable);
		const char *source = source_name(kvm, qemu);
		if (output == GW_OUTPUT_JSON) {
			json_t *doc = to_json(db, p, source, usable, n_usable, &hm, labels);
			gw_json_print(stdout, doc);
			json_decref(doc);
		} else {
			print_table(db, p, source, usable, n_usable, &hm, labels);
		}
	}
	free(usable);
	json_decref(labels);
	gw_cpu_label_config_fini(&config);
	gw_cpu_hostmodel_fini(&hm);
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
	return r < 0 ? gw_cli_fail(err) : GW_EXIT_OK;
}
