/* SPDX-License-Identifier: Apache-2.0 */
/* Live migration between two local TCG QEMUs on 127.0.0.1, driven two
 * ways on the same guest in the same run: (a) "direct", the bench's own
 * QMP commands (migrate-set-capabilities, migrate-set-parameters with the
 * same max-bandwidth, migrate, query-migrate every 100 ms), and (b) Godwit's
 * executor (gw_qemu_migration_new + run, KubeVirt's 400 ms monitor). The
 * guest is the workload guest (guest/workload) with `rate=none`: "filled"
 * writes an incompressible pattern to every page of its RAM before
 * `ready` and then only reads, so pre-copy converges in one pass; "idle"
 * fills only `mem=16M` and leaves the rest of the RAM untouched (zero
 * pages). The guest moves back and forth between two state directories,
 * so it is filled once per kind. Methods alternate (a b b a a b ...) so
 * that drift of a shared machine falls on both.
 *
 * One JSON line per migration (QEMU's total-time, wall clock until the
 * target runs, downtime, bytes sent, MiB/s = sent / QEMU total) and one
 * summary per guest: medians and the ratios godwit/direct.
 *
 * bench_migrate [-m MEMORY_MIB] [-r RUNS] [-b MAX_BANDWIDTH_MIB_S] [-g filled,idle]
 *               [-p EXECUTOR_POLL_MS] [-w WARMUPS] [WORKLOAD_ELF]
 * WORKLOAD_ELF defaults to $GODWIT_GUEST_WORKLOAD; QEMU is $GODWIT_QEMU or
 * qemu-system-x86_64 from PATH. */
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "godwit/qemu.h"

#define MIB ((uint64_t)1048576)
#define DIRECT_POLL_MS 100
#define BOOT_LIMIT_S 300
#define MIGRATION_LIMIT_S 900
#define MAX_RUNS 100

/* QEMUs still running, killed on any exit (they are detached: nobody
 * else would). Written before a VM can be left behind; read by the
 * signal handler, which only calls kill(). */
static volatile pid_t live_pids[2] = {-1, -1};

static void kill_live(void)
{
	for (int i = 0; i < 2; i++)
		if (live_pids[i] > 0)
			kill(live_pids[i], SIGKILL);
}

static void on_signal(int sig)
{
	kill_live();
	signal(sig, SIG_DFL);
	raise(sig);
}

struct result {
	double start_ms; /* from the first command to `migrate` answered */
	double qemu_total_ms, wall_ms, downtime_ms, transferred_mib, throughput_mib_s;
};

struct bench {
	const char *qemu, *elf;
	char *dir;
	char *state_dir[2];
	struct gw_vm *vm[2];
	int src;                  /* index of the VM that runs the guest */
	uint64_t memory_mib;
	uint64_t bandwidth_bytes; /* 0 = unlimited */
	unsigned executor_poll_ms;
	int warmups;              /* unmeasured migrations before the runs */
	const char *append;
};

static struct gw_vm_spec spec_for(struct bench *b, int idx, bool incoming)
{
	struct gw_vm_spec spec = {
		.name = "bench",
		.qemu = b->qemu,
		.cpu = "qemu64",
		.vcpus = 1,
		.memory_mib = b->memory_mib,
		.accel = GW_VM_ACCEL_TCG,
		.kernel = b->elf,
		.append = b->append,
		.state_dir = b->state_dir[idx],
		.incoming = incoming,
	};
	return spec;
}

static int start_vm(struct bench *b, int idx, bool incoming, struct gw_err **err)
{
	struct gw_vm_spec spec = spec_for(b, idx, incoming);
	int r = gw_vm_start(&spec, 30000, &b->vm[idx], err);
	live_pids[idx] = r == 0 ? gw_vm_pid(b->vm[idx]) : -1;
	return r;
}

static void stop_vm(struct bench *b, int idx)
{
	gw_vm_stop(b->vm[idx], NULL);
	b->vm[idx] = NULL;
	live_pids[idx] = -1;
}

static bool file_contains(const char *path, const char *needle, char **line)
{
	char *text = NULL;
	if (gw_file_read(path, 1u << 20, &text, NULL, NULL) < 0)
		return false;
	/* Only a whole line counts: the guest may be half-way through it. */
	char *at = strstr(text, needle);
	size_t n = at ? strcspn(at, "\r\n") : 0;
	bool whole = at && at[n] != '\0';
	if (whole && line) {
		free(*line);
		*line = gw_strndup(at, n);
	}
	free(text);
	return whole;
}

/* Boots the guest on VM 0 and waits for `ready` (the fill is done). */
static int boot_guest(struct bench *b, double *boot_ms, char **ready_line, struct gw_err **err)
{
	uint64_t t0 = gw_now_ns();
	int r = start_vm(b, 0, false, err);
	if (r < 0)
		return r;
	b->src = 0;
	_cleanup_free_ char *log = gw_asprintf("%s/serial.log", b->state_dir[0]);
	while (!file_contains(log, "godwit-workload: ready", ready_line)) {
		if (!gw_vm_alive(b->vm[0]))
			return gw_err_set(err, -ECHILD, "the guest's QEMU ended before `ready` (%s)", log);
		if (file_contains(log, "godwit-workload: error", ready_line))
			return gw_err_set(err, -EIO, "the guest says: %s", *ready_line);
		if (bench_ms_since(t0) > BOOT_LIMIT_S * 1000.0)
			return gw_err_set(err, -ETIMEDOUT, "no `ready` from the guest within %d s (%s)",
					  BOOT_LIMIT_S, log);
		usleep(50 * 1000);
	}
	*boot_ms = bench_ms_since(t0);
	return 0;
}

/* A fresh target in the other state directory, listening on a free port. */
static int start_target(struct bench *b, char **uri, struct gw_err **err)
{
	int dst = 1 - b->src;
	int r = start_vm(b, dst, true, err);
	if (r < 0)
		return r;
	unsigned port = 0;
	r = gw_vm_listen_incoming(b->vm[dst], "127.0.0.1", 0, false, &port, err);
	if (r < 0)
		return r;
	*uri = gw_asprintf("tcp:127.0.0.1:%u", port);
	return 0;
}

static double count_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : 0;
}

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

/* Until the target's run state is "running", polling every 50 ms (what
 * the executor does in COMPLETING). */
static int wait_target_running(struct gw_vm *target, uint64_t t0, struct gw_err **err)
{
	for (;;) {
		bool running = false;
		int r = gw_vm_query_status(target, NULL, &running, err);
		if (r < 0)
			return r;
		if (running)
			return 0;
		if (bench_ms_since(t0) > MIGRATION_LIMIT_S * 1000.0)
			return gw_err_set(err, -ETIMEDOUT, "the target did not run within %d s",
					  MIGRATION_LIMIT_S);
		sleep_ms(50);
	}
}

/* (a) The same migration through plain QMP. */
static int migrate_direct(struct bench *b, const char *uri, struct result *res, struct gw_err **err)
{
	struct gw_qmp *q = gw_vm_qmp(b->vm[b->src]);
	uint64_t t0 = gw_now_ns();
	_cleanup_json_ json_t *caps = json_pack(
		"{s:[{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability", "postcopy-ram", "state", 0,
		"capability", "auto-converge", "state", 0);
	_cleanup_json_ json_t *params = json_pack(
		"{s:I}", "max-bandwidth", (json_int_t)gw_qemu_migration_max_bandwidth(b->bandwidth_bytes));
	_cleanup_json_ json_t *args = json_pack("{s:s}", "uri", uri);
	json_t *reply = NULL;
	int r = gw_qmp_execute(q, "migrate-set-capabilities", caps, &reply, err);
	json_decref(reply);
	if (r == 0) {
		r = gw_qmp_execute(q, "migrate-set-parameters", params, &reply, err);
		json_decref(reply);
	}
	if (r == 0) {
		r = gw_qmp_execute(q, "migrate", args, &reply, err);
		json_decref(reply);
	}
	if (r < 0)
		return r;
	res->start_ms = bench_ms_since(t0);
	for (;;) {
		_cleanup_json_ json_t *info = NULL;
		r = gw_qmp_execute(q, "query-migrate", NULL, &info, err);
		if (r < 0)
			return r;
		const char *st = json_string_value(json_object_get(info, "status"));
		/* QEMU says completed a moment before it computes total-time. */
		if (st && !strcmp(st, "completed") && count_of(info, "total-time") == 0 &&
		    bench_ms_since(t0) < MIGRATION_LIMIT_S * 1000.0) {
			sleep_ms(5);
			continue;
		}
		if (st && !strcmp(st, "completed")) {
			res->qemu_total_ms = count_of(info, "total-time");
			res->downtime_ms = count_of(info, "downtime");
			res->transferred_mib = count_of(json_object_get(info, "ram"), "transferred") / MIB;
			break;
		}
		if (!st || !strcmp(st, "failed") || !strcmp(st, "cancelled")) {
			const char *desc = json_string_value(json_object_get(info, "error-desc"));
			return gw_err_set(err, -EIO, "direct migration %s: %s", st ? st : "(no status)",
					  desc ? desc : "no reason given");
		}
		if (bench_ms_since(t0) > MIGRATION_LIMIT_S * 1000.0)
			return gw_err_set(err, -ETIMEDOUT, "direct migration not done within %d s",
					  MIGRATION_LIMIT_S);
		sleep_ms(DIRECT_POLL_MS);
	}
	r = wait_target_running(b->vm[1 - b->src], t0, err);
	if (r < 0)
		return r;
	res->wall_ms = bench_ms_since(t0);
	return 0;
}

/* (b) Godwit's executor, with KubeVirt's defaults and the same bandwidth. */
static int migrate_godwit(struct bench *b, const char *uri, struct result *res, struct gw_err **err)
{
	struct gw_qemu_migration_config cfg;
	gw_qemu_migration_config_defaults(&cfg);
	cfg.bandwidth_bytes_per_s = b->bandwidth_bytes;
	cfg.data_size_bytes = b->memory_mib * MIB;
	cfg.poll_interval_ms = b->executor_poll_ms;
	struct gw_qemu_migration *m = NULL;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	double t0_unix_ms = (double)wall.tv_sec * 1e3 + (double)wall.tv_nsec / 1e6;
	uint64_t t0 = gw_now_ns();
	int r = gw_qemu_migration_new(b->vm[b->src], b->vm[1 - b->src], uri, &cfg, &m, err);
	if (r < 0)
		return r;
	gw_qemu_migration_run(m);
	res->wall_ms = bench_ms_since(t0);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(m, &s);
	gw_qemu_migration_free(m);
	if (s.phase != GW_QEMU_MIGRATION_PHASE_COMPLETED)
		return gw_err_set(err, -EIO, "Godwit migration %s: %s",
				  gw_qemu_migration_phase_name(s.phase), s.failure_reason);
	/* The executor's start is taken right after `migrate` answered. */
	res->start_ms = (double)s.start_unix_ms - t0_unix_ms;
	res->qemu_total_ms = (double)s.total_time_ms;
	res->downtime_ms = (double)s.downtime_ms;
	res->transferred_mib = (double)s.transferred_bytes / MIB;
	return 0;
}

static void print_run(const char *guest, struct bench *b, const char *method, int run,
		      const struct result *r)
{
	printf("{\"bench\":\"migrate\",\"guest\":\"%s\",\"memory_mib\":%" PRIu64 ",\"method\":\"%s\","
	       "\"run\":%d,\"start_ms\":%.1f,\"qemu_total_ms\":%.0f,\"wall_ms\":%.1f,\"downtime_ms\":%.0f,"
	       "\"transferred_mib\":%.1f,\"throughput_mib_s\":%.1f,\"outside_qemu_ms\":%.1f}\n",
	       guest, b->memory_mib, method, run, r->start_ms, r->qemu_total_ms, r->wall_ms, r->downtime_ms,
	       r->transferred_mib, r->throughput_mib_s, r->wall_ms - r->qemu_total_ms);
	fflush(stdout);
}

struct medians {
	double start_ms, qemu_total_ms, wall_ms, downtime_ms, transferred_mib, throughput_mib_s;
	double outside_qemu_ms; /* wall - QEMU's total: what the driver and the target's start add */
};

static struct medians medians_of(const struct result *r, int n)
{
	double v[7][MAX_RUNS];
	for (int i = 0; i < n; i++) {
		v[5][i] = r[i].start_ms;
		v[6][i] = r[i].wall_ms - r[i].qemu_total_ms;
		v[0][i] = r[i].qemu_total_ms;
		v[1][i] = r[i].wall_ms;
		v[2][i] = r[i].downtime_ms;
		v[3][i] = r[i].transferred_mib;
		v[4][i] = r[i].throughput_mib_s;
	}
	return (struct medians){bench_median(v[5], (size_t)n), bench_median(v[0], (size_t)n), bench_median(v[1], (size_t)n),
				bench_median(v[2], (size_t)n), bench_median(v[3], (size_t)n),
				bench_median(v[4], (size_t)n), bench_median(v[6], (size_t)n)};
}

static void print_medians(const char *name, const struct medians *m)
{
	printf("\"%s\":{\"start_ms\":%.1f,\"qemu_total_ms\":%.0f,\"wall_ms\":%.1f,\"downtime_ms\":%.0f,"
	       "\"transferred_mib\":%.1f,\"throughput_mib_s\":%.1f,\"outside_qemu_ms\":%.1f}",
	       name, m->start_ms, m->qemu_total_ms, m->wall_ms, m->downtime_ms, m->transferred_mib,
	       m->throughput_mib_s, m->outside_qemu_ms);
}

/* One guest kind: boot, then RUNS migrations each way, alternating. */
static int bench_guest(struct bench *b, const char *guest, int runs, struct gw_err **err)
{
	b->append = !strcmp(guest, "idle") ? "rate=none mem=16M" : "rate=none";
	double boot_ms = 0;
	_cleanup_free_ char *ready = NULL;
	int r = boot_guest(b, &boot_ms, &ready, err);
	if (r < 0)
		return r;
	printf("{\"bench\":\"migrate_boot\",\"guest\":\"%s\",\"memory_mib\":%" PRIu64
	       ",\"append\":\"%s\",\"boot_ms\":%.0f}\n", guest, b->memory_mib, b->append, boot_ms);
	fprintf(stderr, "bench_migrate: %s guest: %s (%.1f s)\n", guest, ready, boot_ms / 1000);
	struct result direct[MAX_RUNS], godwit[MAX_RUNS];
	/* The first migration of a freshly booted guest is slower (3-5x here,
	 * whichever way it is driven): it is run first and reported apart. */
	for (int i = 0; i < b->warmups; i++) {
		struct result res = {0};
		_cleanup_free_ char *uri = NULL;
		r = start_target(b, &uri, err);
		if (r == 0)
			r = migrate_direct(b, uri, &res, err);
		if (r < 0)
			return r;
		res.throughput_mib_s = res.qemu_total_ms > 0 ? res.transferred_mib / (res.qemu_total_ms / 1000) : 0;
		print_run(guest, b, "warmup", i + 1, &res);
		stop_vm(b, b->src);
		b->src = 1 - b->src;
	}
	for (int i = 0; i < 2 * runs; i++) {
		/* a b b a a b b a ...: pair k is in order when k is even */
		bool use_godwit = ((i / 2) % 2 == 0) == (i % 2 == 1);
		struct result *res = use_godwit ? &godwit[i / 2] : &direct[i / 2];
		memset(res, 0, sizeof(*res));
		_cleanup_free_ char *uri = NULL;
		r = start_target(b, &uri, err);
		if (r < 0)
			return r;
		r = use_godwit ? migrate_godwit(b, uri, res, err) : migrate_direct(b, uri, res, err);
		if (r < 0)
			return r;
		res->throughput_mib_s = res->qemu_total_ms > 0 ? res->transferred_mib /
									 (res->qemu_total_ms / 1000)
							       : 0;
		print_run(guest, b, use_godwit ? "godwit" : "direct", i / 2 + 1, res);
		stop_vm(b, b->src);
		b->src = 1 - b->src;
	}
	stop_vm(b, b->src);
	struct medians md = medians_of(direct, runs), mg = medians_of(godwit, runs);
	double ratio_total = md.qemu_total_ms > 0 ? mg.qemu_total_ms / md.qemu_total_ms : 0;
	double ratio_wall = md.wall_ms > 0 ? mg.wall_ms / md.wall_ms : 0;
	printf("{\"bench\":\"migrate_summary\",\"guest\":\"%s\",\"memory_mib\":%" PRIu64
	       ",\"runs\":%d,\"max_bandwidth_mib_s\":%" PRIu64 ",\"executor_poll_ms\":%u,",
	       guest, b->memory_mib, runs, b->bandwidth_bytes / MIB,
	       b->executor_poll_ms ? b->executor_poll_ms : 400);
	print_medians("direct", &md);
	printf(",");
	print_medians("godwit", &mg);
	printf(",\"ratio_qemu_total\":%.3f,\"ratio_wall\":%.3f,\"goal_ratio\":1.10,"
	       "\"goal_met_wall\":%s}\n",
	       ratio_total, ratio_wall, ratio_wall <= 1.10 ? "true" : "false");
	fflush(stdout);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-m MEMORY_MIB] [-r RUNS] [-b MAX_BANDWIDTH_MIB_S] "
		"[-g filled,idle] [-p EXECUTOR_POLL_MS] [-w WARMUPS] [WORKLOAD_ELF]\n", argv0);
}

static bool parse_number(const char *flag, const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "bench_migrate: %s \"%s\": expected a whole number from %ld to %ld\n",
			flag, s, min, max);
		return false;
	}
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	long memory_mib = 1024, runs = 3, bandwidth_mib = 0, poll_ms = 0, warmups = 1;
	const char *guests = "filled,idle";
	int opt;
	while ((opt = getopt(argc, argv, "m:r:b:g:p:w:h")) != -1) {
		bool ok = true;
		switch (opt) {
		case 'm': ok = parse_number("-m", optarg, 32, 16384, &memory_mib); break;
		case 'r': ok = parse_number("-r", optarg, 1, MAX_RUNS, &runs); break;
		case 'b': ok = parse_number("-b", optarg, 0, 1L << 20, &bandwidth_mib); break;
		case 'p': ok = parse_number("-p", optarg, 10, 10000, &poll_ms); break;
		case 'w': ok = parse_number("-w", optarg, 0, 10, &warmups); break;
		case 'g': guests = optarg; break;
		default:
			usage(argv[0]);
			return 2;
		}
		if (!ok)
			return 2;
	}
	struct bench b = {
		.qemu = getenv("GODWIT_QEMU") && *getenv("GODWIT_QEMU") ? getenv("GODWIT_QEMU") : NULL,
		.elf = optind < argc ? argv[optind] : getenv("GODWIT_GUEST_WORKLOAD"),
		.memory_mib = (uint64_t)memory_mib,
		.bandwidth_bytes = (uint64_t)bandwidth_mib * MIB,
		.executor_poll_ms = (unsigned)poll_ms,
		.warmups = (int)warmups,
	};
	if (!b.elf || access(b.elf, R_OK) != 0) {
		printf("{\"bench\":\"migrate\",\"skipped\":\"workload guest not found (%s): build it with "
		       "ninja -C build\"}\n", b.elf ? b.elf : "no WORKLOAD_ELF, $GODWIT_GUEST_WORKLOAD unset");
		return 0;
	}
	const char *tmp = getenv("TMPDIR");
	b.dir = gw_asprintf("%s/gw-bench-migrate-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(b.dir)) {
		fprintf(stderr, "bench_migrate: mkdtemp %s: %s\n", b.dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < 2; i++)
		b.state_dir[i] = gw_asprintf("%s/%c", b.dir, 'a' + i);
	atexit(kill_live);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	int status = 0;
	_cleanup_free_ char *list = gw_strdup(guests);
	char *save = NULL;
	for (char *g = strtok_r(list, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
		struct gw_err *err = NULL;
		if (strcmp(g, "filled") != 0 && strcmp(g, "idle") != 0) {
			fprintf(stderr, "bench_migrate: -g: unknown guest \"%s\" (filled, idle)\n", g);
			status = 2;
			break;
		}
		if (bench_guest(&b, g, (int)runs, &err) < 0) {
			_cleanup_json_ json_t *line = json_pack("{s:s,s:s,s:s}", "bench", "migrate", "guest", g,
								"error", gw_err_msg(err));
			_cleanup_free_ char *text = json_dumps(line, JSON_COMPACT);
			printf("%s\n", text);
			gw_err_free(err);
			status = 1;
		}
		for (int i = 0; i < 2; i++) {
			gw_vm_kill(b.vm[i]);
			b.vm[i] = NULL;
			live_pids[i] = -1;
		}
	}
	nftw(b.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(b.dir);
	free(b.state_dir[0]);
	free(b.state_dir[1]);
	return status;
}
