/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark (a): the KubeVirt labels of one host, and reconciling a Node
 * with them. Prints one JSON line. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "godwit/cpu.h"

static int fail(const char *what, struct gw_err *err)
{
	json_t *line = json_pack("{s:s, s:s}", "bench", "cpu_labels", "error", "");
	json_object_set_new(line, "error", json_sprintf("%s: %s", what, gw_err_msg(err)));
	char *s = json_dumps(line, JSON_COMPACT);
	puts(s);
	free(s);
	json_decref(line);
	gw_err_free(err);
	return 1;
}

int main(int argc, char **argv)
{
	unsigned runs = 201;
	int c;
	while ((c = getopt(argc, argv, "r:")) != -1) {
		if (c == 'r')
			runs = (unsigned)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (optind + 1 != argc || runs == 0) {
		fprintf(stderr, "usage: bench_cpu_labels [-r RUNS] PROFILE\n");
		return 2;
	}
	const char *path = argv[optind];
	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	uint64_t t0 = gw_now_ns();
	if (gw_cpu_modeldb_builtin(&db, &err) < 0)
		return fail("model database", err);
	double db_ms = bench_ms_since(t0);
	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	t0 = gw_now_ns();
	if (gw_cpu_profile_load(db, path, &hosts, &err) < 0)
		return fail("load", err);
	double load_ms = bench_ms_since(t0);

	struct gw_cpu_label_config config;
	gw_cpu_label_config_init(&config);
	double *labels_us = gw_calloc(runs, sizeof(double)), *apply_us = gw_calloc(runs, sizeof(double));
	size_t n_labels = 0;
	int status = 0;
	for (unsigned r = 0; r < runs; r++) {
		json_t *labels = NULL;
		t0 = gw_now_ns();
		if (gw_cpu_labels(db, hosts.v[0], &config, &labels, &err) < 0) {
			status = fail("labels", err);
			break;
		}
		labels_us[r] = bench_ms_since(t0) * 1e3;
		n_labels = json_object_size(labels);
		/* A Node as the labeller finds it: a user label and a stale one. */
		json_t *node = json_pack("{s:s, s:{s:s, s:{s:s, s:s}}}", "kind", "Node", "metadata", "name", "n1",
					 "labels", "kubernetes.io/hostname", "n1", "cpu-model.node.kubevirt.io/Old",
					 "true");
		bool changed = false;
		t0 = gw_now_ns();
		if (gw_cpu_labels_apply(node, labels, &changed, &err) < 0) {
			json_decref(node);
			json_decref(labels);
			status = fail("apply", err);
			break;
		}
		apply_us[r] = bench_ms_since(t0) * 1e3;
		json_decref(node);
		json_decref(labels);
	}
	if (status == 0) {
		json_t *line = json_pack("{s:s, s:s, s:i, s:f, s:f, s:I, s:f, s:f, s:i}", "bench", "cpu_labels", "host",
					 hosts.v[0]->name, "features", (int)gw_featset_count(&hosts.v[0]->features),
					 "modeldb_ms", db_ms, "load_ms", load_ms, "labels", (json_int_t)n_labels,
					 "labels_us_median", bench_median(labels_us, runs), "apply_us_median",
					 bench_median(apply_us, runs), "runs", (int)runs);
		char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(4));
		puts(s);
		free(s);
		json_decref(line);
	}
	free(labels_us);
	free(apply_us);
	gw_cpu_label_config_fini(&config);
	gw_cpu_profiles_fini(&hosts);
	gw_cpu_modeldb_free(db);
	return status;
}
