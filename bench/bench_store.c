/* SPDX-License-Identifier: Apache-2.0 */
/* Store throughput and latency, one JSON line per backend:
 *   creates: N objects one after another (creates/s, latency median, p99);
 *   get: random gets among them (latency median, p99);
 *   list: all N objects of the kind (ms, median of 5, and the first one
 *         apart: it parses everything), and with a selector matching a tenth;
 *   watch: a watcher thread receives M creates; delivery latency from the
 *          write call to the watcher holding the event (median, p99).
 * Goals on SQLite (the issue): >= 2,000 creates/s, list of 10,000 objects
 * under 100 ms, watch delivery under 10 ms median.
 * Usage: bench_store [-n N] [-w M] [--sqlite-dir DIR] [--etcd ENDPOINTS]
 *   SQLite always (a new file in DIR, default $TMPDIR or /tmp); etcd when
 *   --etcd is given (keys under a fresh prefix). */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "bench.h"
#include "godwit/store.h"

struct watch_run {
	struct gw_store_watch *w;
	int n;
	double *recv_ms; /* indexed by the object's seq */
	uint64_t t0;
	int errors;
};

static void *watcher(void *arg)
{
	struct watch_run *run = arg;
	pthread_setname_np(pthread_self(), "bench-watch");
	for (int got = 0; got < run->n;) {
		struct gw_store_event ev = {0};
		struct gw_err *err = NULL;
		int r = gw_store_watch_next(run->w, 10000, &ev, &err);
		gw_err_free(err);
		if (r < 0) {
			run->errors++;
			return NULL;
		}
		double now = bench_ms_since(run->t0);
		json_int_t seq = json_integer_value(json_object_get(json_object_get(ev.object, "spec"), "seq"));
		if (seq >= 0 && seq < run->n)
			run->recv_ms[seq] = now;
		got++;
		gw_store_event_fini(&ev);
	}
	return NULL;
}

static json_t *object(const char *name, int seq)
{
	char app[16];
	snprintf(app, sizeof(app), "app-%d", seq % 10);
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:{s:s}},"
			 " s:{s:i, s:{s:{s:i, s:s}, s:{s:s}}, s:[{s:s, s:s}]}}",
			 "apiVersion", "kubevirt.io/v1", "kind", "VirtualMachineInstance", "metadata",
			 "namespace", "bench", "name", name, "labels", "app", app, "kubevirt.io/size",
			 "small", "annotations", "godwit.io/note", "a benchmark object of a typical size",
			 "spec", "seq", seq, "domain", "cpu", "cores", 2, "model", "host-model",
			 "resources", "memory", "2Gi", "volumes", "name", "rootdisk", "containerDisk",
			 "quay.io/containerdisks/fedora:latest");
}

#define CLIENTS 16

struct client {
	struct gw_store *s;
	pthread_t thread;
	int id, n, errors;
};

static json_t *object(const char *name, int seq);

static void *client_creates(void *arg)
{
	struct client *c = arg;
	char name[32], thread_name[16];
	snprintf(thread_name, sizeof(thread_name), "bench-client-%d", c->id);
	pthread_setname_np(pthread_self(), thread_name);
	for (int i = 0; i < c->n; i++) {
		snprintf(name, sizeof(name), "c%02d-%06d", c->id, i);
		json_t *o = object(name, i);
		struct gw_err *err = NULL;
		if (gw_store_create(c->s, "pods", o, NULL, &err) < 0)
			c->errors++;
		gw_err_free(err);
		json_decref(o);
	}
	return NULL;
}

static double p99(double *sorted, size_t n)
{
	return n ? sorted[(size_t)((double)(n - 1) * 0.99)] : 0;
}

static int run(const char *backend, const char *url, const struct gw_store_options *opts, int n,
	       int m)
{
	struct gw_store *s = NULL;
	struct gw_err *err = NULL;
	if (gw_store_open(url, opts, &s, &err) < 0) {
		printf("{\"bench\":\"store\",\"backend\":\"%s\",\"error\":\"%s\"}\n", backend,
		       gw_err_msg(err));
		gw_err_free(err);
		return 1;
	}
	int status = 0;
	double *lat = gw_calloc((size_t)(n > m ? n : m) + 1, sizeof(double));
	char name[32];

	uint64_t t0 = gw_now_ns();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "vm-%06d", i);
		json_t *o = object(name, i);
		uint64_t t = gw_now_ns();
		if (gw_store_create(s, "virtualmachineinstances", o, NULL, &err) < 0) {
			printf("{\"bench\":\"store\",\"backend\":\"%s\",\"error\":\"create: %s\"}\n",
			       backend, gw_err_msg(err));
			json_decref(o);
			status = 1;
			goto out;
		}
		lat[i] = bench_ms_since(t);
		json_decref(o);
	}
	double create_s = bench_ms_since(t0) / 1000;
	double create_med = bench_median(lat, (size_t)n), create_p99 = p99(lat, (size_t)n);

	/* The same from CLIENTS threads at once, as an API server's requests
	 * come: writes share commits. */
	struct client cl[CLIENTS];
	t0 = gw_now_ns();
	for (int c = 0; c < CLIENTS; c++) {
		cl[c] = (struct client){.s = s, .id = c, .n = n / CLIENTS};
		pthread_create(&cl[c].thread, NULL, client_creates, &cl[c]);
	}
	int conc_n = 0, conc_errors = 0;
	for (int c = 0; c < CLIENTS; c++) {
		pthread_join(cl[c].thread, NULL);
		conc_n += cl[c].n;
		conc_errors += cl[c].errors;
	}
	double conc_s = bench_ms_since(t0) / 1000;
	if (conc_errors) {
		printf("{\"bench\":\"store\",\"backend\":\"%s\",\"error\":\"%d concurrent creates failed\"}\n",
		       backend, conc_errors);
		status = 1;
		goto out;
	}

	uint64_t seed = 42;
	int gets = n < 2000 ? n : 2000;
	for (int i = 0; i < gets; i++) {
		snprintf(name, sizeof(name), "vm-%06d", (int)(bench_rand(&seed) % (uint64_t)n));
		json_t *o = NULL;
		uint64_t t = gw_now_ns();
		if (gw_store_get(s, "virtualmachineinstances", "bench", name, &o, &err) < 0) {
			status = 1;
			goto out;
		}
		lat[i] = bench_ms_since(t) * 1000;
		json_decref(o);
	}
	double get_med = bench_median(lat, (size_t)gets), get_p99 = p99(lat, (size_t)gets);

	double list_ms[5], sel_ms[5];
	size_t listed = 0, selected = 0;
	for (int i = 0; i < 5; i++) {
		json_t *items = NULL;
		uint64_t t = gw_now_ns();
		if (gw_store_list(s, "virtualmachineinstances", "bench", NULL, &items, NULL, &err) < 0) {
			status = 1;
			goto out;
		}
		list_ms[i] = bench_ms_since(t);
		listed = json_array_size(items);
		json_decref(items);
		t = gw_now_ns();
		if (gw_store_list(s, "virtualmachineinstances", "bench", "app=app-3", &items, NULL,
				  &err) < 0) {
			status = 1;
			goto out;
		}
		sel_ms[i] = bench_ms_since(t);
		selected = json_array_size(items);
		json_decref(items);
	}
	/* The first list of a kind parses every object (and fills SQLite's
	 * cache); the median is of the five. */
	double list_first = list_ms[0];
	double list_med = bench_median(list_ms, 5), sel_med = bench_median(sel_ms, 5);

	/* Watch: each write's start time, the watcher's receive time. */
	struct watch_run wr = {.n = m, .recv_ms = gw_calloc((size_t)m, sizeof(double))};
	double *start_ms = gw_calloc((size_t)m, sizeof(double));
	if (gw_store_watch(s, "virtualmachines", "bench", 0, &wr.w, &err) < 0) {
		status = 1;
		goto out;
	}
	wr.t0 = gw_now_ns();
	pthread_t th;
	pthread_create(&th, NULL, watcher, &wr);
	for (int i = 0; i < m; i++) {
		snprintf(name, sizeof(name), "w-%06d", i);
		json_t *o = object(name, i);
		start_ms[i] = bench_ms_since(wr.t0);
		int r = gw_store_create(s, "virtualmachines", o, NULL, &err);
		json_decref(o);
		if (r < 0) {
			status = 1;
			break;
		}
	}
	pthread_join(th, NULL);
	gw_store_watch_free(wr.w);
	for (int i = 0; i < m; i++)
		lat[i] = wr.recv_ms[i] - start_ms[i];
	double watch_med = bench_median(lat, (size_t)m), watch_p99 = p99(lat, (size_t)m);
	free(start_ms);
	free(wr.recv_ms);
	if (wr.errors || status) {
		printf("{\"bench\":\"store\",\"backend\":\"%s\",\"error\":\"watch: %s\"}\n", backend,
		       err ? gw_err_msg(err) : "watch_next failed");
		status = 1;
		goto out;
	}

	json_t *line = json_pack(
		"{s:s, s:s, s:i, s:f, s:f, s:f, s:i, s:i, s:f, s:i, s:f, s:f, s:i, s:f, s:i, s:f, s:i, s:f, s:f}",
		"bench", "store", "backend", backend, "creates", n, "creates_per_s", n / create_s,
		"create_ms_median", create_med, "create_ms_p99", create_p99, "concurrent_clients", CLIENTS,
		"concurrent_creates", conc_n, "concurrent_creates_per_s", conc_n / conc_s,
		"gets", gets,
		"get_us_median", get_med, "get_us_p99", get_p99, "list_objects", (int)listed,
		"list_ms_median", list_med, "list_selected", (int)selected, "list_selector_ms_median",
		sel_med, "watch_events", m, "watch_ms_median", watch_med, "watch_ms_p99", watch_p99);
	json_object_set_new(line, "list_first_ms", json_real(list_first));
	if (!strcmp(backend, "sqlite"))
		json_object_set_new(line, "goals_met",
				    json_pack("{s:b, s:b, s:b}", "concurrent_creates_per_s_2000",
					      conc_n / conc_s >= 2000, "list_10000_under_100ms",
					      listed >= 10000 && list_med < 100, "watch_median_under_10ms",
					      watch_med < 10));
	char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
	printf("%s\n", text);
	free(text);
	json_decref(line);
out:
	gw_err_free(err);
	free(lat);
	gw_store_close(s);
	return status;
}

int main(int argc, char **argv)
{
	int n = 10000, m = 500;
	const char *dir = getenv("TMPDIR"), *etcd = NULL;
	if (!dir || !*dir)
		dir = "/tmp";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-w") && i + 1 < argc)
			m = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sqlite-dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--etcd") && i + 1 < argc)
			etcd = argv[++i];
		else {
			fprintf(stderr, "usage: %s [-n N] [-w M] [--sqlite-dir DIR] [--etcd ENDPOINTS]\n",
				argv[0]);
			return 2;
		}
	}
	if (n < 1 || m < 1) {
		fprintf(stderr, "-n and -w want positive counts\n");
		return 2;
	}
	int status = 0;
	char *tmp = gw_asprintf("%s/godwit-bench-store-XXXXXX", dir);
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	char *path = gw_asprintf("%s/store.db", tmp);
	char *url = gw_asprintf("sqlite:%s", path);
	status |= run("sqlite", url, NULL, n, m);
	static const char *const suffixes[] = {"", "-wal", "-shm", ".lock"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(suffixes); i++) {
		char *f = gw_asprintf("%s%s", path, suffixes[i]);
		unlink(f);
		free(f);
	}
	rmdir(tmp);
	free(url);
	free(path);
	free(tmp);
	if (etcd) {
		char *eurl = gw_asprintf("etcd:%s", etcd);
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "/bench-%ld-%" PRIu64, (long)getpid(), gw_now_ns());
		struct gw_store_options o = {.etcd_prefix = prefix};
		status |= run("etcd", eurl, &o, n, m);
		free(eurl);
	}
	return status;
}
