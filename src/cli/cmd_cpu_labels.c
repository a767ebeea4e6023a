/* SPDX-License-Identifier: Apache-2.0 */
/* godwit cpu labels: the labels KubeVirt's node labeller would write. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit cpu labels --profile F [--node NODE.json] [--config KUBEVIRT.yaml]\n"
	"                         [--model-db FILE] [-o table|json]\n"
	"\n"
	"  --profile F     the host (JSON, domcapabilities XML, cpuid dump, Node); one host\n"
	"  --node N        a Node object (kubectl get node X -o json): print it as the labeller\n"
	"                  would leave it, and whether it would patch it\n"
	"  --config K      a KubeVirt CR (YAML or JSON): its spec.configuration.obsoleteCPUModels\n"
	"                  replaces KubeVirt's default obsolete list\n"
	"  --model-db F    use a model database written by `cpu models --from-qemu -o tsv`\n"
	"  -o FORMAT       table (default) or json\n";

#define SKIP_NODE_ANNOTATION "node-labeller.kubevirt.io/skip-node"

static void sorted_keys(const json_t *obj, struct gw_strv *keys)
{
	const char *key;
	json_t *v;
	gw_strv_init(keys);
	json_object_foreach((json_t *)obj, key, v)
		gw_strv_push(keys, key);
	gw_strv_sort(keys);
}

static json_t *node_labels(const json_t *node)
{
	return json_object_get(json_object_get(node, "metadata"), "labels");
}

/* KubeVirt takes obsoleteCPUModels as given; a name no QEMU model has is
 * most likely a typo, worth a warning but not a refusal. */
static void warn_unknown_obsolete(const struct gw_cpu_modeldb *db, const struct gw_cpu_label_config *c,
				  const char *path)
{
	for (size_t i = 0; i < c->obsolete.n; i++) {
		struct gw_err *e = NULL;
		if (gw_cpu_modeldb_lookup(db, c->obsolete.v[i], &e) < 0)
			fprintf(stderr, "godwit: warning: %s: obsoleteCPUModels: %s\n", path, gw_err_msg(e));
		gw_err_free(e);
	}
}

static void print_labels(const json_t *labels)
{
	struct gw_strv keys;
	sorted_keys(labels, &keys);
	/* The count per prefix first, as "#" comment lines: the shape before the detail. */
	gw_print_label_counts(stdout, "#   ", labels);
	for (size_t i = 0; i < keys.n; i++)
		printf("%s=%s\n", keys.v[i], json_string_value(json_object_get(labels, keys.v[i])));
	gw_strv_fini(&keys);
}

/* "+ key=value" for labels added or changed, "- key" for labels removed. */
static json_t *label_diff(const json_t *before, const json_t *after)
{
	json_t *added = json_object(), *removed = json_array();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)after, key, v) {
		json_t *old = json_object_get(before, key);
		if (!old || !json_equal(old, v))
			json_object_set(added, key, v);
	}
	json_object_foreach((json_t *)before, key, v)
		if (!json_object_get(after, key))
			json_array_append_new(removed, json_string(key));
	return json_pack("{s:o, s:o}", "set", added, "removed", removed);
}

static void print_diff(const json_t *diff)
{
	const json_t *set = json_object_get(diff, "set"), *removed = json_object_get(diff, "removed");
	struct gw_strv keys;
	sorted_keys(set, &keys);
	for (size_t i = 0; i < keys.n; i++)
		printf("  + %s=%s\n", keys.v[i], json_string_value(json_object_get(set, keys.v[i])));
	gw_strv_fini(&keys);
	size_t i;
	json_t *k;
	json_array_foreach(removed, i, k)
		printf("  - %s\n", json_string_value(k));
}

static int run(const struct gw_cpu_modeldb *db, const char *profile, const char *node_path, const char *config_path,
	       enum gw_output output, struct gw_err **err)
{
	struct gw_cpu_profile *p = NULL;
	struct gw_cpu_label_config config;
	gw_cpu_label_config_init(&config);
	json_t *labels = NULL, *node = NULL, *before = NULL, *kubevirt = NULL;
	int r = gw_cli_load_one_profile(db, profile, &p, err);
	if (r == 0 && config_path) {
		r = gw_cli_load_doc(config_path, "KubeVirt", &kubevirt, err);
		if (r == 0)
			r = gw_cpu_label_config_from_kubevirt(kubevirt, config_path, &config, err);
		if (r == 0)
			warn_unknown_obsolete(db, &config, config_path);
	}
	if (r == 0 && node_path)
		r = gw_cli_load_doc(node_path, "Node", &node, err);
	if (r == 0)
		r = gw_cpu_labels(db, p, &config, &labels, err);
	bool changed = false, skipped = false;
	if (r == 0 && node) {
		json_t *annotations = json_object_get(json_object_get(node, "metadata"), "annotations");
		skipped = json_object_get(annotations, SKIP_NODE_ANNOTATION) != NULL;
		before = node_labels(node) ? json_deep_copy(node_labels(node)) : json_object();
		r = gw_cpu_labels_apply(node, labels, &changed, err);
		if (r < 0)
			gw_err_wrap(err, "%s", node_path);
	}
	if (r < 0)
		goto out;

	json_t *after = node ? node_labels(node) : NULL;
	json_t *empty = json_object();
	json_t *diff = node ? label_diff(before, after ? after : empty) : NULL;
	json_decref(empty);
	if (output == GW_OUTPUT_JSON) {
		json_t *doc = json_pack("{s:s, s:O}", "host", p->name, "labels", labels);
		if (node) {
			json_object_set_new(doc, "skipped", json_boolean(skipped));
			json_object_set_new(doc, "changed", json_boolean(changed));
			json_object_set(doc, "patch", diff);
			json_object_set(doc, "node", node);
		}
		gw_json_print(stdout, doc);
		json_decref(doc);
	} else {
		printf("# %zu labels for %s (%s obsoleteCPUModels)\n", json_object_size(labels), p->name,
		       config.obsolete_configured ? "configured" : "default");
		print_labels(labels);
		if (node) {
			const char *name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
			printf("\n# Node %s: ", name ? name : node_path);
			if (skipped)
				printf("annotation %s is set: the labeller leaves it alone\n", SKIP_NODE_ANNOTATION);
			else if (!changed)
				printf("labels already up to date: no patch\n");
			else
				printf("would patch its labels\n");
			print_diff(diff);
			printf("\n# the Node after the labeller's run\n");
			gw_json_print(stdout, node);
		}
	}
	json_decref(diff);
out:
	json_decref(before);
	json_decref(node);
	json_decref(kubevirt);
	json_decref(labels);
	gw_cpu_label_config_fini(&config);
	gw_cpu_profile_free(p);
	return r;
}

int gw_cmd_cpu_labels(int argc, char **argv)
{
	static const struct option opts[] = {
		{"profile", required_argument, NULL, 'p'},  {"node", required_argument, NULL, 'n'},
		{"config", required_argument, NULL, 'c'},   {"model-db", required_argument, NULL, 'm'},
		{"output", required_argument, NULL, 'o'},   {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *profile = NULL, *node = NULL, *config = NULL, *dbpath = NULL;
	enum gw_output output = GW_OUTPUT_TABLE;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			profile = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'c':
			config = optarg;
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
			return gw_cli_usage(usage, "cpu labels: bad option");
		}
	}
	if (optind < argc)
		return gw_cli_usage(usage, "cpu labels: unexpected argument \"%s\"", argv[optind]);
	if (!profile)
		return gw_cli_usage(usage, "cpu labels: --profile is required");

	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	int r = gw_cli_load_modeldb(dbpath, &db, &err);
	if (r == 0)
		r = run(db, profile, node, config, output, &err);
	gw_cpu_modeldb_free(db);
	return r < 0 ? gw_cli_fail(err) : GW_EXIT_OK;
}
