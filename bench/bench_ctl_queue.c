/* SPDX-License-Identifier: Apache-2.0 */
/* A queue of N pending migrations (default 1,000) worked through by the
 * migration controller under the KubeVirt limits (5 per cluster, 2
 * outbound per node), on a real SQLite store, the test agent completing
 * each migration as soon as it is handed off. Prints one JSON line: total
 * time, migrations per second, the maximum concurrency observed (from a
 * watch replaying every migration event) and the limits.
 *
 * bench_ctl_queue [-n MIGRATIONS] [-N NODES] [-c PER_CLUSTER] [-o PER_NODE] */
#include <getopt.h>

#include "bench.h"
#include "../tests/unit/ctl_fixture.h"

static bool all_done(struct fx *f, void *arg)
{
	long n = *(long *)arg;
	pthread_mutex_lock(&f->mon.lock);
	long done = 0;
	for (size_t i = 0; i < f->mon.n; i++)
		if (strcmp(f->mon.phase[i], "Succeeded") == 0 || strcmp(f->mon.phase[i], "Failed") == 0)
			done++;
	pthread_mutex_unlock(&f->mon.lock);
	return done >= n;
}

int main(int argc, char **argv)
{
	long n = 1000, nodes = 4, per_cluster = 5, per_node = 2;
	int opt;
	while ((opt = getopt(argc, argv, "n:N:c:o:")) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'N': nodes = strtol(optarg, NULL, 10); break;
		case 'c': per_cluster = strtol(optarg, NULL, 10); break;
		case 'o': per_node = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s [-n MIGRATIONS] [-N NODES] [-c PER_CLUSTER] [-o PER_NODE]\n", argv[0]);
			return 2;
		}
	}
	if (n < 1 || nodes < 2 || per_cluster < 1 || per_node < 1) {
		fprintf(stderr, "bench_ctl_queue: sizes must be positive (nodes >= 2)\n");
		return 2;
	}
	struct fx f;
	fx_open(&f, false);
	f.resync_ms = 1000;
	fx_kubevirt(&f, (int)per_cluster, (int)per_node);
	char name[64], node[64];
	for (long i = 0; i < nodes; i++) {
		snprintf(node, sizeof(node), "node-%03ld", i);
		fx_node(&f, node, "100000", "100000Gi");
	}
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "vm-%05ld", i);
		snprintf(node, sizeof(node), "node-%03ld", i % nodes);
		fx_vmi(&f, name, node);
	}
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "mig-%05ld", i);
		char vmi[64];
		snprintf(vmi, sizeof(vmi), "vm-%05ld", i);
		fx_vmim(&f, name, vmi, NULL);
	}
	fx_monitor_start(&f);
	usleep(100 * 1000);   /* the monitor's watch is in place */
	f.agent.sweep_ms = 2000;   /* the watch does the work; no holds to release */
	fx_agent_start(&f, AGENT_COMPLETE);
	uint64_t t0 = gw_now_ns();
	fx_start(&f, GW_CTL_MIGRATION);
	bool ok = fx_wait(&f, all_done, &n, 1800 * 1000);
	double ms = bench_ms_since(t0);
	fx_agent_stop(&f);
	fx_stop_ctl(&f);
	fx_monitor_stop(&f);
	long succeeded = 0;
	for (size_t i = 0; i < f.mon.n; i++)
		if (strcmp(f.mon.phase[i], "Succeeded") == 0)
			succeeded++;
	printf("{\"bench\":\"ctl_queue\",\"migrations\":%ld,\"nodes\":%ld,\"succeeded\":%ld,\"total_ms\":%.0f,"
	       "\"migrations_per_s\":%.1f,\"max_in_flight\":%d,\"max_outbound_per_node\":%d,"
	       "\"parallel_migrations_per_cluster\":%ld,\"parallel_outbound_migrations_per_node\":%ld,"
	       "\"bad_transitions\":%d,\"within_limits\":%s,\"finished\":%s}\n",
	       n, nodes, succeeded, ms, succeeded / (ms / 1000), f.mon.max_in_flight, f.mon.max_per_source, per_cluster,
	       per_node, f.mon.bad_transitions,
	       f.mon.max_in_flight <= per_cluster && f.mon.max_per_source <= per_node ? "true" : "false",
	       ok ? "true" : "false");
	fx_close(&f);
	return ok && succeeded == n && f.mon.max_in_flight <= per_cluster ? 0 : 1;
}
