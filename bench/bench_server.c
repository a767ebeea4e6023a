/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP-level figures of `godwit server` (JSON lines): creates per second
 * and their latency through the API (one client, keep-alive, and 4
 * concurrent clients), the latency of listing N objects, and how long a
 * change takes to reach a watcher. The server runs in this process on a
 * loopback port over a SQLite store in a temporary directory; requests go
 * through libcurl and HTTP like any client's.
 *   bench_server [-n OBJECTS]   (default 10000) */
#include <curl/curl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "bench.h"
#include "godwit/client.h"
#include "godwit/server.h"
#include "godwit/store.h"

#define TOKEN "bench-token-0123456789abcdef"
#define MAX_CLIENTS 64
#define WATCH_EVENTS 200

static char base_url[64];

static struct gw_client *client_new(void)
{
	struct gw_client_options o = {.server = base_url, .token = TOKEN};
	struct gw_client *c = NULL;
	struct gw_err *err = NULL;
	if (gw_client_new(&o, &c, &err) < 0) {
		fprintf(stderr, "bench_server: %s\n", gw_err_msg(err));
		exit(1);
	}
	return c;
}

static int create_object(struct gw_client *c, const char *kind, const char *path, const char *name,
			 const char *stamp)
{
	json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "v1", "kind", kind, "metadata",
				"name", name, "labels", "bench", "yes");
	if (stamp)
		json_object_set_new(json_object_get(doc, "metadata"), "annotations",
				    json_pack("{s:s}", "bench/sent-ns", stamp));
	long status = 0;
	json_t *reply = NULL;
	struct gw_err *err = NULL;
	int r = gw_client_request(c, "POST", path, NULL, doc, &status, &reply, &err);
	json_decref(doc);
	json_decref(reply);
	gw_err_free(err);
	return r == 0 && status == 201 ? 0 : -1;
}

struct worker {
	int id;
	size_t n;
	double *lat_ms;
	int failures;
};

static void *create_worker(void *arg)
{
	struct worker *w = arg;
	struct gw_client *c = client_new();
	for (size_t i = 0; i < w->n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "c%d-%06zu", w->id, i);
		uint64_t t0 = gw_now_ns();
		/* the concurrent phase writes namespaces, so that the
		 * node list below holds exactly the first phase's n */
		bool node = w->id == 0;
		if (create_object(c, node ? "Node" : "Namespace", node ? "/api/v1/nodes" : "/api/v1/namespaces", name,
				  NULL) < 0)
			w->failures++;
		w->lat_ms[i] = bench_ms_since(t0);
	}
	gw_client_free(c);
	return NULL;
}

static void report_creates(const char *name, int clients, size_t total, double wall_ms, double *lat, int failures)
{
	double p50 = bench_median(lat, total);
	double p99 = lat[(size_t)((double)total * 0.99)];
	printf("{\"bench\":\"%s\",\"clients\":%d,\"objects\":%zu,\"creates_per_s\":%.0f,\"p50_ms\":%.3f,"
	       "\"p99_ms\":%.3f,\"failures\":%d}\n",
	       name, clients, total, (double)total / (wall_ms / 1000.0), p50, p99, failures);
	fflush(stdout);
}

struct watcher {
	double lat_ms[WATCH_EVENTS];
	atomic_size_t seen;
	atomic_bool ready;
};

static int on_event(void *data, const json_t *ev)
{
	struct watcher *w = data;
	const char *sent = json_string_value(json_object_get(
		json_object_get(json_object_get(json_object_get(ev, "object"), "metadata"), "annotations"),
		"bench/sent-ns"));
	if (!sent)
		return 0;
	size_t i = atomic_load(&w->seen);
	w->lat_ms[i] = (double)(gw_now_ns() - strtoull(sent, NULL, 10)) / 1e6;
	atomic_store(&w->seen, i + 1);
	return i + 1 >= WATCH_EVENTS;
}

static void *watch_thread(void *arg)
{
	struct watcher *w = arg;
	struct gw_client *c = client_new();
	struct gw_err *err = NULL;
	/* From the current version: only the events to come. */
	long status = 0;
	json_t *reply = NULL;
	gw_client_request(c, "GET", "/api/v1/namespaces?labelSelector=none%3Dx", NULL, NULL, &status, &reply, &err);
	const char *rv = json_string_value(json_object_get(json_object_get(reply, "metadata"), "resourceVersion"));
	char *path = gw_asprintf("/api/v1/namespaces?watch=true&resourceVersion=%s", rv ? rv : "0");
	json_decref(reply);
	atomic_store(&w->ready, true);
	if (gw_client_watch(c, path, on_event, w, &err) < 0)
		fprintf(stderr, "bench_server: watch: %s\n", gw_err_msg(err));
	gw_err_free(err);
	free(path);
	gw_client_free(c);
	return NULL;
}

static size_t count_bytes(char *ptr, size_t size, size_t nmemb, void *data)
{
	*(size_t *)data += size * nmemb;
	return size * nmemb;
}

/* GET path up to the body's last byte, not decoded: the server's side of a
 * list (the store, the encoding, the transfer) without the client's JSON
 * parse. Returns ms, or -1. */
static double raw_get_ms(CURL *h, const char *path, size_t *bytes)
{
	char *url = gw_asprintf("%s%s", base_url, path);
	struct curl_slist *headers = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	*bytes = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count_bytes);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, bytes);
	uint64_t t0 = gw_now_ns();
	CURLcode rc = curl_easy_perform(h);
	double ms = bench_ms_since(t0);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	free(url);
	return rc == CURLE_OK && status == 200 ? ms : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(int argc, char **argv)
{
	size_t n = 10000;
	int clients = 4;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-n"))
			n = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "-c"))
			clients = atoi(argv[i + 1]);
	}
	if (n < 100)
		n = 100;
	if (clients < 1 || clients > MAX_CLIENTS) {
		fprintf(stderr, "bench_server: -c %d: 1 to %d clients\n", clients, MAX_CLIENTS);
		return 2;
	}
	char dir[] = "/tmp/godwit-bench-server-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char *url = gw_asprintf("sqlite:%s/godwit.db", dir);
	struct gw_store *store = NULL;
	struct gw_server *server = NULL;
	struct gw_err *err = NULL;
	struct gw_server_options so = {.token = TOKEN};
	if (gw_store_open(url, NULL, &store, &err) < 0 || gw_server_start(store, &so, &server, &err) < 0) {
		fprintf(stderr, "bench_server: %s\n", gw_err_msg(err));
		return 1;
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", gw_server_port(server));

	/* 1. one client, sequential creates */
	struct worker one = {.id = 0, .n = n, .lat_ms = gw_calloc(n, sizeof(double))};
	uint64_t t0 = gw_now_ns();
	create_worker(&one);
	report_creates("http_create", 1, n, bench_ms_since(t0), one.lat_ms, one.failures);

	/* 2. concurrent clients */
	struct worker ws[MAX_CLIENTS];
	pthread_t th[MAX_CLIENTS];
	size_t per = n / (size_t)clients / 2;
	double *all = gw_calloc(per * (size_t)clients, sizeof(double));
	t0 = gw_now_ns();
	for (int i = 0; i < clients; i++) {
		ws[i] = (struct worker){.id = i + 1, .n = per, .lat_ms = all + (size_t)i * per};
		pthread_create(&th[i], NULL, create_worker, &ws[i]);
	}
	int fails = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		fails += ws[i].failures;
	}
	report_creates("http_create_concurrent", clients, per * (size_t)clients, bench_ms_since(t0), all, fails);

	/* 3. list of n objects (the first n nodes by selector would parse
	 * them all too; the whole kind is what a client asks for) */
	struct gw_client *c = client_new();
	double list_ms[5];
	size_t items = 0, bytes = 0;
	for (int i = 0; i < 5; i++) {
		long status = 0;
		json_t *reply = NULL;
		uint64_t s = gw_now_ns();
		gw_client_request(c, "GET", "/api/v1/nodes", NULL, NULL, &status, &reply, &err);
		list_ms[i] = bench_ms_since(s);
		items = json_array_size(json_object_get(reply, "items"));
		if (i == 0) {
			char *t = json_dumps(reply, JSON_COMPACT);
			bytes = t ? strlen(t) : 0;
			free(t);
		}
		json_decref(reply);
	}
	/* The same GET without decoding the answer: what the server and the
	 * transfer take, apart from the client's JSON parse (about half of
	 * median_ms for 2 MB on this machine). */
	double first_ms = list_ms[0], list_median = bench_median(list_ms, 5);  /* it sorts */
	double raw_ms[5];
	CURL *raw = curl_easy_init();
	size_t raw_bytes = 0;
	for (int i = 0; i < 5; i++)
		raw_ms[i] = raw_get_ms(raw, "/api/v1/nodes", &raw_bytes);
	curl_easy_cleanup(raw);
	printf("{\"bench\":\"http_list\",\"objects\":%zu,\"bytes\":%zu,\"first_ms\":%.1f,\"median_ms\":%.1f,"
	       "\"undecoded_median_ms\":%.1f,\"goal_ms\":100,\"goal_met\":%s}\n",
	       items, bytes, first_ms, list_median, bench_median(raw_ms, 5), list_median < 100 ? "true" : "false");
	fflush(stdout);

	/* 4. watch delivery: create -> event at a watcher, one at a time */
	struct watcher w = {0};
	pthread_t wt;
	pthread_create(&wt, NULL, watch_thread, &w);
	while (!atomic_load(&w.ready))
		usleep(1000);
	usleep(50000);
	for (size_t i = 0; i < WATCH_EVENTS; i++) {
		char name[64], stamp[32];
		snprintf(name, sizeof(name), "w-%06zu", i);
		snprintf(stamp, sizeof(stamp), "%llu", (unsigned long long)gw_now_ns());
		create_object(c, "Namespace", "/api/v1/namespaces", name, stamp);
		for (int spin = 0; spin < 2000 && atomic_load(&w.seen) <= i; spin++)
			usleep(500);
	}
	pthread_join(wt, NULL);
	size_t seen = atomic_load(&w.seen);
	double p50 = seen ? bench_median(w.lat_ms, seen) : 0;
	printf("{\"bench\":\"http_watch_delivery\",\"events\":%zu,\"median_ms\":%.3f,\"p99_ms\":%.3f}\n", seen, p50,
	       seen ? w.lat_ms[(size_t)((double)seen * 0.99)] : 0);
	gw_client_free(c);
	gw_server_stop(server);
	gw_store_close(store);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(url);
	free(one.lat_ms);
	free(all);
	gw_err_free(err);
	return 0;
}
