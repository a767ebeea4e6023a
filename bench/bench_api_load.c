/* SPDX-License-Identifier: Apache-2.0 */
/* Loads a cluster and prints one JSON line: documents per second, time
 * split into parsing (YAML/JSON -> jansson) and decoding (jansson ->
 * typed objects, index), linking, and peak RSS.
 * Usage: bench_api_load <file or directory>
 *        bench_api_load --stream <file or directory>   (as `godwit check` loads: gw_cluster_load,
 *                       JSON streamed, no documents kept; parse and decode interleave, so
 *                       only load_ms is given)
 *        bench_api_load --synthetic <vmis> [json|yaml]   (vmis/10 nodes, built in memory) */
#include <string.h>
#include <sys/resource.h>

#include "godwit/api.h"

static double ms(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1e6;
}

static char *synthetic(size_t n_vmis)
{
	size_t n_nodes = n_vmis / 10 ? n_vmis / 10 : 1;
	struct gw_buf b;
	gw_buf_init(&b);
	for (size_t i = 0; i < n_nodes; i++)
		gw_buf_printf(&b,
			      "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%05zu\",\"labels\":{"
			      "\"kubevirt.io/schedulable\":\"true\",\"cpu-model.node.kubevirt.io/Skylake-Server\":\"true\","
			      "\"host-model-cpu.node.kubevirt.io/Skylake-Server\":\"true\",\"kubernetes.io/hostname\":"
			      "\"node-%05zu\"}},\"status\":{\"allocatable\":{\"cpu\":\"63500m\",\"memory\":\"250Gi\"}}}\n",
			      i, i);
	for (size_t i = 0; i < n_vmis; i++)
		gw_buf_printf(&b,
			      "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\",\"metadata\":{"
			      "\"name\":\"vm-%06zu\",\"namespace\":\"ns-%zu\",\"uid\":\"uid-%06zu\",\"labels\":{\"app\":"
			      "\"web\"}},\"spec\":{\"domain\":{\"cpu\":{\"model\":\"host-model\",\"features\":[{\"name\":"
			      "\"pcid\",\"policy\":\"require\"}]},\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":"
			      "\"2Gi\"}},\"devices\":{\"interfaces\":[{\"name\":\"default\",\"masquerade\":{}}],\"disks\":[{"
			      "\"name\":\"root\",\"disk\":{}}]}},\"networks\":[{\"name\":\"default\",\"pod\":{}}],\"volumes\":"
			      "[{\"name\":\"root\",\"persistentVolumeClaim\":{\"claimName\":\"vm-%06zu-root\"}}],"
			      "\"nodeSelector\":{\"kubevirt.io/schedulable\":\"true\"}},\"status\":{\"phase\":\"Running\","
			      "\"nodeName\":\"node-%05zu\",\"volumeStatus\":[{\"name\":\"root\",\"persistentVolumeClaimInfo\":"
			      "{\"claimName\":\"vm-%06zu-root\",\"accessModes\":[\"ReadWriteMany\"]}}]}}\n",
			      i, i % 50, i, i, i % n_nodes, i);
	return gw_buf_steal(&b);
}

static int add_docs(struct gw_cluster *c, json_t *docs, const char *name, struct gw_err **err)
{
	for (size_t i = 0; i < json_array_size(docs); i++) {
		int r = gw_cluster_add_doc(c, json_array_get(docs, i), name, i, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <file or directory> | --synthetic <vmis>\n", argv[0]);
		return 2;
	}
	struct gw_cluster *c = gw_cluster_new();
	struct gw_err *err = NULL;
	struct gw_strv files;
	gw_strv_init(&files);
	uint64_t parse_ns = 0, decode_ns = 0, t0 = gw_now_ns();
	int r = 0;
	bool stream = strcmp(argv[1], "--stream") == 0;
	if (stream) {
		if (argc < 3) {
			fprintf(stderr, "usage: %s --stream <file or directory>\n", argv[0]);
			return 2;
		}
		c->drop_docs = true;
		r = gw_cluster_load(c, argv[2], &err);
	} else if (strcmp(argv[1], "--synthetic") == 0) {
		size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
		bool yaml = argc > 3 && strcmp(argv[3], "yaml") == 0;
		char *text = synthetic(n);
		json_t *docs = NULL;
		/* json: one kubectl List (jansson's parser); yaml: one YAML
		 * document per object (libyaml's parser). */
		struct gw_buf y;
		gw_buf_init(&y);
		gw_buf_puts(&y, yaml ? "" : "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
		bool first = true;
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			if (yaml)
				gw_buf_printf(&y, "--- %s\n", line);
			else
				gw_buf_printf(&y, "%s%s\n", first ? "" : ",", line);
			first = false;
		}
		if (!yaml)
			gw_buf_puts(&y, "]}\n");
		free(text);
		uint64_t a = gw_now_ns();
		r = gw_doc_load_string("synthetic", y.data, y.len, &docs, &err);
		gw_buf_fini(&y);
		uint64_t b = gw_now_ns();
		if (r == 0)
			r = add_docs(c, docs, "synthetic", &err);
		json_decref(docs);
		parse_ns += b - a;
		decode_ns += gw_now_ns() - b;
	} else if (gw_path_is_dir(argv[1])) {
		r = gw_dir_list(argv[1], &files, &err);
	} else {
		gw_strv_push(&files, argv[1]);
	}
	for (size_t i = 0; r == 0 && i < files.n; i++) {
		json_t *docs = NULL;
		uint64_t a = gw_now_ns();
		r = gw_doc_load_file(files.v[i], &docs, &err);
		uint64_t b = gw_now_ns();
		if (r == 0)
			r = add_docs(c, docs, files.v[i], &err);
		json_decref(docs);
		parse_ns += b - a;
		decode_ns += gw_now_ns() - b;
	}
	gw_strv_fini(&files);
	if (r < 0) {
		fprintf(stderr, "%s\n", gw_err_msg(err));
		gw_err_free(err);
		gw_cluster_free(c);
		return 1;
	}
	uint64_t t1 = gw_now_ns();
	gw_cluster_link(c);
	uint64_t t2 = gw_now_ns();
	/* A lookup per VMI: the index must keep this flat. */
	size_t found = 0;
	for (size_t i = 0; i < c->n_vmis; i++)
		found += gw_cluster_vmi(c, c->vmis[i]->meta.namespace, c->vmis[i]->meta.name) != NULL;
	uint64_t t3 = gw_now_ns();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double total_s = (double)(t1 - t0) / 1e9;
	if (stream) {
		printf("{\"bench\":\"api_load\",\"mode\":\"stream\",\"docs\":%zu,\"skipped\":%zu,\"nodes\":%zu,"
		       "\"vmis\":%zu,\"findings\":%zu,\"load_ms\":%.1f,\"link_ms\":%.1f,\"docs_per_s\":%.0f,"
		       "\"max_rss_mib\":%.1f}\n",
		       c->n_docs, c->n_skipped, c->n_nodes, c->n_vmis, c->n_findings, ms(t0, t1), ms(t1, t2),
		       total_s > 0 ? (double)c->n_docs / total_s : 0.0, (double)ru.ru_maxrss / 1024.0);
		bool ok = found == c->n_vmis;
		gw_cluster_free(c);
		return ok ? 0 : 1;
	}
	printf("{\"bench\":\"api_load\",\"mode\":\"whole\",\"docs\":%zu,\"skipped\":%zu,\"nodes\":%zu,\"vmis\":%zu,\"findings\":%zu,"
	       "\"load_ms\":%.1f,\"parse_ms\":%.1f,\"decode_ms\":%.1f,\"link_ms\":%.1f,\"lookup_ns_per_vmi\":%.1f,"
	       "\"docs_per_s\":%.0f,\"max_rss_mib\":%.1f}\n",
	       c->n_docs, c->n_skipped, c->n_nodes, c->n_vmis, c->n_findings, ms(t0, t1), (double)parse_ns / 1e6,
	       (double)decode_ns / 1e6, ms(t1, t2), c->n_vmis ? (double)(t3 - t2) / (double)c->n_vmis : 0.0,
	       total_s > 0 ? (double)c->n_docs / total_s : 0.0, (double)ru.ru_maxrss / 1024.0);
	bool all_found = found == c->n_vmis;
	gw_cluster_free(c);
	return all_found ? 0 : 1;
}
