/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark (b): baseline of 2, 100 and 10,000 hosts generated from the
 * sample hosts. Each generated host is a random sample host of one vendor
 * that, one time in four, lacks one random feature of those that firmware,
 * microcode and hypervisor settings hide on real fleets (TSX, speculation
 * controls, pku, AVX-512, VMX, ...). Dropping any feature at random would
 * leave 10,000 hosts nothing in common but SSE2. The hosts are written as JSON
 * profiles into a directory, loaded the way `godwit cpu baseline` loads
 * them (timed), then the baseline is computed several times (median).
 * One JSON line per size. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "godwit/cpu.h"

static void print_line(json_t *line)
{
	char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(5));
	puts(s);
	fflush(stdout);
	free(s);
	json_decref(line);
}

static int write_hosts(struct gw_cpu_profile *const *bases, size_t n_bases, size_t n, uint64_t *rng,
		       const char *dir, struct gw_err **err)
{
	static const char *const hideable_names[] = {
		"hle", "rtm", "spec-ctrl", "stibp", "ssbd", "md-clear", "pku", "ospke", "arch-capabilities",
		"invpcid", "pcid", "umip", "vmx", "mpx", "avx512f", "avx512vnni", "clwb", "rdseed",
	};
	struct gw_featset hideable = {{0}};
	for (size_t i = 0; i < GW_ARRAY_SIZE(hideable_names); i++) {
		int idx = gw_cpu_feature_find(hideable_names[i]);
		if (idx >= 0)
			gw_featset_set(&hideable, (unsigned)idx);
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return gw_err_set(err, -errno, "%s: %s", dir, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		const struct gw_cpu_profile *base = bases[bench_rand(rng) % n_bases];
		struct gw_featset f = base->features;
		if (bench_rand(rng) % 4 == 0) {
			struct gw_featset droppable;
			gw_featset_and(&droppable, &f, &hideable);
			unsigned count = gw_featset_count(&droppable);
			unsigned pick = count ? (unsigned)(bench_rand(rng) % count) : 0;
			for (unsigned b = 0; count && b < GW_CPU_FEATURE_MAX; b++)
				if (gw_featset_test(&droppable, b) && pick-- == 0) {
					gw_featset_clear(&f, b);
					break;
				}
		}
		char *name = gw_asprintf("gen-%05zu %s", i, base->name);
		json_t *doc = json_pack("{s:s, s:s?, s:o}", "name", name, "vendor", base->vendor, "features",
					gw_featset_to_json(&f));
		char *path = gw_asprintf("%s/host-%05zu.json", dir, i);
		int r = json_dump_file(doc, path, JSON_COMPACT);
		json_decref(doc);
		free(name);
		if (r < 0) {
			r = gw_err_set(err, -EIO, "%s: cannot write", path);
			free(path);
			return r;
		}
		free(path);
	}
	return 0;
}

static void remove_dir(const char *dir)
{
	struct gw_strv files;
	gw_strv_init(&files);
	struct gw_err *err = NULL;
	if (gw_dir_list(dir, &files, &err) == 0)
		for (size_t i = 0; i < files.n; i++)
			unlink(files.v[i]);
	gw_err_free(err);
	gw_strv_fini(&files);
	rmdir(dir);
}

static json_t *answer_json(const struct gw_cpu_modeldb *db, const struct gw_cpu_baseline *b)
{
	json_t *maximal = json_array();
	for (size_t i = 0; i < b->n_maximal; i++)
		json_array_append_new(maximal, json_string(db->models[b->maximal[i]].name));
	json_t *answer = json_pack("{s:s?, s:s?, s:i, s:o, s:{s:s?, s:o, s:o}, s:i, s:b}", "recommended",
			 b->recommended >= 0 ? db->models[b->recommended].name : NULL, "reason", b->reason, "level",
			 b->level, "maximal", maximal, "custom", "model", b->custom.name, "require",
			 gw_featset_to_json(&b->custom.require), "disable", gw_featset_to_json(&b->custom.disable),
			 "common_features", (int)gw_featset_count(&b->common), "mixed_vendors", b->mixed_vendors);
	json_object_set_new(answer, "common", gw_featset_to_json(&b->common));
	return answer;
}

static int bench_size(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *bases, size_t n_bases,
		      size_t n, unsigned runs, uint64_t seed, const char *dir, bool keep)
{
	struct gw_err *err = NULL;
	uint64_t rng = seed ^ (n * 0x9E3779B97F4A7C15ull);
	json_t *line = json_pack("{s:s, s:I, s:I}", "bench", "cpu_baseline", "hosts", (json_int_t)n, "seed",
				 (json_int_t)seed);
	uint64_t t0 = gw_now_ns();
	int r = write_hosts(bases, n_bases, n, &rng, dir, &err);
	json_object_set_new(line, "generate_ms", json_real(bench_ms_since(t0)));
	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	if (r == 0) {
		t0 = gw_now_ns();
		r = gw_cpu_profile_load(db, dir, &hosts, &err);
		json_object_set_new(line, "load_ms", json_real(bench_ms_since(t0)));
	}
	double *ms = gw_calloc(runs, sizeof(double));
	for (unsigned i = 0; r == 0 && i < runs; i++) {
		struct gw_cpu_baseline b;
		memset(&b, 0, sizeof(b));
		t0 = gw_now_ns();
		r = gw_cpu_baseline(db, hosts.v, hosts.n, &b, &err);
		ms[i] = bench_ms_since(t0);
		if (r == 0 && i + 1 == runs) {
			json_object_set_new(line, "answer", answer_json(db, &b));
			/* The report `cpu baseline -o json` prints, timed once. */
			t0 = gw_now_ns();
			json_t *report = gw_cpu_baseline_to_json(db, hosts.v, hosts.n, &b);
			json_object_set_new(line, "report_ms", json_real(bench_ms_since(t0)));
			json_decref(report);
		}
		if (r == 0)
			gw_cpu_baseline_fini(&b);
	}
	if (r == 0) {
		double median = bench_median(ms, runs); /* sorts ms */
		json_object_set_new(line, "compute_ms_min", json_real(ms[0]));
		json_object_set_new(line, "compute_ms_median", json_real(median));
		json_object_set_new(line, "runs", json_integer(runs));
		if (n >= 10000) {
			json_object_set_new(line, "goal_ms", json_integer(50));
			json_object_set_new(line, "goal_met", json_boolean(median < 50));
		}
	} else {
		json_object_set_new(line, "error", json_string(gw_err_msg(err)));
		gw_err_free(err);
	}
	if (keep)
		json_object_set_new(line, "dir", json_string(dir));
	else
		remove_dir(dir);
	print_line(line);
	free(ms);
	gw_cpu_profiles_fini(&hosts);
	return r;
}

int main(int argc, char **argv)
{
	const char *sizes = "2,100,10000", *vendor = "Intel", *keep_dir = NULL;
	unsigned runs = 9;
	uint64_t seed = 20261123;
	int c;
	while ((c = getopt(argc, argv, "s:r:S:v:k:")) != -1) {
		switch (c) {
		case 's':
			sizes = optarg;
			break;
		case 'r':
			runs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			vendor = optarg;
			break;
		case 'k':
			keep_dir = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || runs == 0 || seed == 0) {
		fprintf(stderr, "usage: bench_cpu_baseline [-s 2,100,10000] [-r RUNS] [-S SEED] [-v VENDOR]\n"
				"                          [-k KEEP_DIR] HOSTS_DIR\n");
		return 2;
	}
	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_cpu_profiles all, bases;
	gw_cpu_profiles_init(&all);
	gw_cpu_profiles_init(&bases);
	if (gw_cpu_modeldb_builtin(&db, &err) < 0 || gw_cpu_profile_load(db, argv[optind], &all, &err) < 0) {
		fprintf(stderr, "bench_cpu_baseline: %s\n", gw_err_msg(err));
		return 1;
	}
	for (size_t i = 0; i < all.n; i++)
		if (all.v[i]->vendor && !strcmp(all.v[i]->vendor, vendor))
			gw_cpu_profiles_add(&bases, all.v[i]);
	if (!bases.n) {
		fprintf(stderr, "bench_cpu_baseline: no %s host in %s\n", vendor, argv[optind]);
		return 1;
	}
	const char *tmp = getenv("TMPDIR");
	char *tmpl = gw_asprintf("%s/godwit-bench-XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	const char *root = keep_dir;
	if (!root) {
		if (!mkdtemp(tmpl)) {
			perror("mkdtemp");
			return 1;
		}
		root = tmpl;
	} else if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		perror(root);
		return 1;
	}
	int status = 0;
	struct gw_strv list;
	gw_strv_init(&list);
	gw_str_split(sizes, ',', &list);
	for (size_t i = 0; i < list.n; i++) {
		size_t n = strtoul(list.v[i], NULL, 10);
		if (n == 0)
			continue;
		char *dir = gw_asprintf("%s/hosts-%zu", root, n);
		if (bench_size(db, bases.v, bases.n, n, runs, seed, dir, keep_dir != NULL) < 0)
			status = 1;
		free(dir);
	}
	if (!keep_dir)
		rmdir(root);
	free(tmpl);
	gw_strv_fini(&list);
	free(bases.v); /* borrowed from `all` */
	gw_cpu_profiles_fini(&all);
	gw_cpu_modeldb_free(db);
	return status;
}
