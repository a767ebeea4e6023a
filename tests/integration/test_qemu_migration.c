/* SPDX-License-Identifier: Apache-2.0 */
/* Integration: live migration between two real QEMU processes (TCG,
 * 64 MiB, q35) over TCP on 127.0.0.1, driven by the executor. Faults are
 * real: the target is SIGKILLed or SIGSTOPped, the bandwidth is throttled
 * so the deadline passes. To make a migration slow without guest code,
 * part of the guest's RAM is filled with random bytes by QEMU's generic
 * loader (zero pages cost almost nothing to migrate; random ones do). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "godwit/qemu.h"
#include "integration.h"
#include "vm_fixture.h"

#define MIB 1048576ull

static uint64_t wall_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct pair {
	struct gw_vm *source, *target;
	struct gw_qemu_migration *m;
	char *uri;
	char *loader_arg;
	const char *extra[3];
};

static void write_random_file(const char *path, size_t mib)
{
	int in = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(in >= 0 && out >= 0);
	char buf[65536];
	for (size_t done = 0; done < mib * MIB;) {
		ssize_t n = read(in, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(write(out, buf, (size_t)n), n);
		done += (size_t)n;
	}
	close(in);
	close(out);
}

/* Source (running) and target (incoming, listening on a free port). With
 * random_mib > 0, that much random data sits in guest RAM at 16 MiB. */
static void start_pair(struct vm_fixture *f, struct pair *p, size_t random_mib, bool postcopy)
{
	memset(p, 0, sizeof(*p));
	if (random_mib) {
		_cleanup_free_ char *data = gw_asprintf("%s/random.bin", f->dir);
		write_random_file(data, random_mib);
		p->loader_arg = gw_asprintf("loader,file=%s,addr=0x1000000,force-raw=on", data);
		p->extra[0] = "-device";
		p->extra[1] = p->loader_arg;
	}
	struct gw_vm_spec src = vm_fixture_spec(f, "src", "mig");
	src.extra_args = p->extra;
	if (gw_vm_start(&src, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("source: %s", gw_err_msg(f->err));
	struct gw_vm_spec dst = vm_fixture_spec(f, "dst", "mig");
	dst.extra_args = p->extra;
	dst.incoming = true;
	if (gw_vm_start(&dst, 10000, &f->vm[1], &f->err) < 0)
		fail_msg("target: %s", gw_err_msg(f->err));
	unsigned port = 0;
	if (gw_vm_listen_incoming(f->vm[1], "127.0.0.1", 0, postcopy, &port, &f->err) < 0)
		fail_msg("target: %s", gw_err_msg(f->err));
	assert_true(port > 0 && port < 65536);
	p->source = f->vm[0];
	p->target = f->vm[1];
	p->uri = gw_asprintf("tcp:127.0.0.1:%u", port);
}

static void free_pair(struct pair *p)
{
	gw_qemu_migration_free(p->m);
	free(p->uri);
	free(p->loader_arg);
}

static struct gw_qemu_migration_config small_vm_config(void)
{
	struct gw_qemu_migration_config c;
	gw_qemu_migration_config_defaults(&c);
	c.data_size_bytes = 64 * MIB;
	return c;
}

static void config_is_checked(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.data_size_bytes = 0;
	assert_int_equal(gw_qemu_migration_new(p.source, p.target, p.uri, &c, &p.m, &f->err), -EINVAL);
	gw_err_free(f->err);
	f->err = NULL;
	c = small_vm_config();
	c.progress_timeout_s = -1;
	assert_int_equal(gw_qemu_migration_new(p.source, p.target, p.uri, &c, &p.m, &f->err), -EINVAL);
	gw_err_free(f->err);
	f->err = NULL;
	c = small_vm_config();
	assert_int_equal(gw_qemu_migration_new(p.source, p.target, "unix:/x", &c, &p.m, &f->err),
			 -EINVAL);
	assert_null(p.m);
	free_pair(&p);
}

static void new_migration(struct vm_fixture *f, struct pair *p, const struct gw_qemu_migration_config *c)
{
	if (gw_qemu_migration_new(p->source, p->target, p->uri, c, &p->m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
}

static void print_status(const char *what, const struct gw_qemu_migration_status *s)
{
	print_message("# %s: phase %s, mode %s, qemu %s, %.1f s (QEMU total %" PRIu64
		      " ms, downtime %" PRIu64 " ms), transferred %" PRIu64 " KiB, remaining %" PRIu64
		      " KiB, dirty rate %" PRIu64 " B/s, polls %" PRIu64 "%s%s\n",
		      what, gw_qemu_migration_phase_name(s->phase), gw_qemu_migration_mode_name(s->mode),
		      s->qemu_status, (double)(s->end_unix_ms - s->start_unix_ms) / 1000.0,
		      s->total_time_ms, s->downtime_ms, s->transferred_bytes / 1024,
		      s->remaining_bytes / 1024, s->dirty_rate_bytes_per_s, s->polls,
		      s->failure_reason[0] ? ", reason: " : "", s->failure_reason);
}

static void assert_running(struct vm_fixture *f, struct gw_vm *vm, const char *want)
{
	char *status = NULL;
	bool running = false;
	if (gw_vm_query_status(vm, &status, &running, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	if (strcmp(status, want) != 0)
		fail_msg("VM status %s, expected %s", status, want);
	free(status);
}

/* After any failure: the VM runs on the source; the target is gone. */
static void assert_failed_safely(struct vm_fixture *f, struct pair *p,
				 const struct gw_qemu_migration_status *s)
{
	assert_int_equal(s->phase, GW_QEMU_MIGRATION_PHASE_FAILED);
	assert_true(s->failure_reason[0] != '\0');
	assert_true(s->end_unix_ms >= s->start_unix_ms);
	assert_running(f, p->source, "running");
	assert_false(gw_vm_alive(p->target));
}

/* Runs the migration, stepping until done within limit_s. */
static void run_bounded(struct pair *p, unsigned limit_s)
{
	uint64_t deadline = gw_now_ns() + (uint64_t)limit_s * 1000000000ull;
	while (!gw_qemu_migration_finished(p->m)) {
		if (gw_now_ns() > deadline)
			fail_msg("migration still not finished after %u s", limit_s);
		gw_qemu_migration_step(p->m, gw_now_ns());
		usleep(gw_qemu_migration_poll_interval_ms(p->m) * 1000);
	}
}

static void idle_vm_migrates(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	struct gw_qemu_migration_config c = small_vm_config();
	new_migration(f, &p, &c);
	pid_t source_pid = gw_vm_pid(p.source);
	run_bounded(&p, 60);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("idle 64 MiB", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_string_equal(s.qemu_status, "completed");
	assert_int_equal(s.mode, GW_QEMU_MIGRATION_MODE_PRECOPY);
	assert_true(s.transferred_bytes > 0);
	assert_true(s.total_bytes >= 64 * MIB);
	assert_true(s.start_unix_ms > 0 && s.end_unix_ms >= s.start_unix_ms);
	assert_true(s.polls >= 1);
	assert_false(s.aborted);

	/* Unlimited was set explicitly: QEMU's default would be 128 MiB/s. */
	json_t *params = NULL;
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(p.source), "query-migrate-parameters", NULL,
					&params, &f->err), 0);
	assert_int_equal((uint64_t)json_integer_value(json_object_get(params, "max-bandwidth")),
			 GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH);
	json_decref(params);

	assert_running(f, p.target, "running");
	assert_running(f, p.source, "postmigrate");
	/* The caller ends the source; the VM lives on in the target. */
	assert_int_equal(gw_vm_stop(p.source, &f->err), 0);
	f->vm[0] = NULL;
	assert_false(gw_qemu_process_alive(source_pid));
	assert_running(f, p.target, "running");
	free_pair(&p);
}

/* bandwidthPerMigration is applied with KubeVirt's rounding. */
static void bandwidth_is_applied(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = 1500 * 1024; /* 1.46 MiB -> 1 MiB/s */
	c.allow_auto_converge = true;
	new_migration(f, &p, &c);
	gw_qemu_migration_step(p.m, gw_now_ns());
	json_t *params = NULL, *caps = NULL;
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(p.source), "query-migrate-parameters", NULL,
					&params, &f->err), 0);
	assert_int_equal(json_integer_value(json_object_get(params, "max-bandwidth")), MIB);
	json_decref(params);
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(p.source), "query-migrate-capabilities", NULL,
					&caps, &f->err), 0);
	size_t i;
	json_t *cap;
	int seen = 0;
	json_array_foreach(caps, i, cap) {
		const char *name = json_string_value(json_object_get(cap, "capability"));
		bool on = json_is_true(json_object_get(cap, "state"));
		if (!strcmp(name, "auto-converge")) {
			assert_true(on);
			seen++;
		} else if (!strcmp(name, "postcopy-ram")) {
			assert_false(on);
			seen++;
		}
	}
	json_decref(caps);
	assert_int_equal(seen, 2);
	run_bounded(&p, 60);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("idle 64 MiB at 1 MiB/s", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	free_pair(&p);
}

static void *run_migration_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "gw-migrate");
	gw_qemu_migration_run(arg);
	return NULL;
}

/* The executor runs in its own thread (as in the agent); another thread
 * reads its status while it runs and asks for the abort. */
static void abort_on_request(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 16, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = MIB;
	new_migration(f, &p, &c);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, run_migration_thread, p.m), 0);
	struct gw_qemu_migration_status s;
	uint64_t t0 = gw_now_ns(), seen_transferred = 0;
	while (gw_now_ns() - t0 < 1500000000ull) {
		gw_qemu_migration_get_status(p.m, &s);
		seen_transferred = s.transferred_bytes;
		usleep(100 * 1000);
	}
	gw_qemu_migration_get_status(p.m, &s);
	bool was_running = s.phase == GW_QEMU_MIGRATION_PHASE_RUNNING && s.remaining_bytes > 0;
	gw_qemu_migration_request_abort(p.m);
	/* run() ends by itself: bounded by the abort timeout and QMP timeouts. */
	pthread_join(t, NULL);
	assert_true(was_running);
	assert_true(seen_transferred > 0);
	gw_qemu_migration_get_status(p.m, &s);
	print_status("abort on request", &s);
	assert_true(s.abort_requested);
	assert_true(s.aborted);
	assert_non_null(strstr(s.failure_reason, "aborted on request"));
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

static void target_killed_mid_flight(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 16, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = MIB;
	new_migration(f, &p, &c);
	uint64_t t0 = gw_now_ns();
	bool killed = false;
	uint64_t deadline = t0 + 40000000000ull;
	while (!gw_qemu_migration_finished(p.m) && gw_now_ns() < deadline) {
		gw_qemu_migration_step(p.m, gw_now_ns());
		if (!killed && gw_now_ns() - t0 > 1000000000ull) {
			kill(gw_vm_pid(p.target), SIGKILL);
			killed = true;
		}
		usleep(gw_qemu_migration_poll_interval_ms(p.m) * 1000);
	}
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("target killed", &s);
	assert_true(killed);
	assert_failed_safely(f, &p, &s);
	assert_non_null(strstr(s.failure_reason, "target QEMU"));
	free_pair(&p);
}

/* Nothing listens where the source connects (a blocked or wrong port):
 * QEMU fails at once, the reason is QEMU's, the VM stays on the source. */
static void unreachable_target_fails(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	/* A port that was free a moment ago and is closed now. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	free(p.uri);
	p.uri = gw_asprintf("tcp:127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	struct gw_qemu_migration_config c = small_vm_config();
	new_migration(f, &p, &c);
	run_bounded(&p, 30);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("unreachable target", &s);
	assert_non_null(strstr(s.failure_reason, "refused"));
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

/* The source QEMU dies mid-flight: the migration fails saying so and the
 * target (which holds no complete VM) is killed. */
static void source_killed_mid_flight(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 16, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = MIB;
	new_migration(f, &p, &c);
	uint64_t t0 = gw_now_ns();
	bool killed = false;
	uint64_t deadline = t0 + 40000000000ull;
	while (!gw_qemu_migration_finished(p.m) && gw_now_ns() < deadline) {
		gw_qemu_migration_step(p.m, gw_now_ns());
		if (!killed && gw_now_ns() - t0 > 1000000000ull) {
			kill(gw_vm_pid(p.source), SIGKILL);
			killed = true;
		}
		usleep(gw_qemu_migration_poll_interval_ms(p.m) * 1000);
	}
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("source killed", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_FAILED);
	assert_non_null(strstr(s.failure_reason, "source QEMU"));
	assert_false(gw_vm_alive(p.source));
	assert_false(gw_vm_alive(p.target));
	free_pair(&p);
}

/* completionTimeoutPerGiB 1 x ceil(64 MiB / 1 GB) = 1 s, at 1 MiB/s with
 * 16 MiB of random RAM: the deadline passes; without disruption allowed
 * the migration is aborted and the VM stays on the source. */
static void deadline_aborts(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 16, true);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = MIB;
	c.completion_timeout_per_gib_s = 1;
	c.allow_post_copy = true; /* permitted, but never triggered without disruption */
	new_migration(f, &p, &c);
	run_bounded(&p, 40);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("deadline, no disruption", &s);
	assert_int_equal(s.acceptable_completion_s, 1);
	assert_int_equal(s.mode, GW_QEMU_MIGRATION_MODE_PRECOPY);
	assert_non_null(strstr(s.failure_reason, "not completed after 1 seconds"));
	assert_true(s.aborted);
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

/* The same with allowPostCopy and disruption: post-copy at the deadline,
 * and the migration completes on the target. */
static void deadline_switches_to_postcopy(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 16, true);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = MIB;
	c.completion_timeout_per_gib_s = 1;
	c.allow_post_copy = true;
	c.allow_workload_disruption = true;
	new_migration(f, &p, &c);
	run_bounded(&p, 60);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("deadline, post-copy", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_int_equal(s.mode, GW_QEMU_MIGRATION_MODE_POSTCOPY);
	assert_running(f, p.target, "running");
	assert_running(f, p.source, "postmigrate");
	free_pair(&p);
}

/* Disruption without post-copy: pause at T, abort at 2T, and the paused
 * guest is resumed on the source. */
static void deadline_pauses_then_aborts(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 16, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = MIB;
	c.completion_timeout_per_gib_s = 1;
	c.allow_workload_disruption = true;
	new_migration(f, &p, &c);
	bool saw_paused = false;
	uint64_t deadline = gw_now_ns() + 40000000000ull;
	while (!gw_qemu_migration_finished(p.m) && gw_now_ns() < deadline) {
		gw_qemu_migration_step(p.m, gw_now_ns());
		struct gw_qemu_migration_status s;
		gw_qemu_migration_get_status(p.m, &s);
		if (s.mode == GW_QEMU_MIGRATION_MODE_PAUSED && !saw_paused &&
		    s.phase == GW_QEMU_MIGRATION_PHASE_RUNNING) {
			saw_paused = true;
			assert_running(f, p.source, "paused");
			assert_int_equal(s.acceptable_completion_s, 2);
		}
		usleep(gw_qemu_migration_poll_interval_ms(p.m) * 1000);
	}
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("deadline, pause", &s);
	assert_true(saw_paused);
	assert_non_null(strstr(s.failure_reason, "not completed after 2 seconds"));
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

/* The target stops reading (SIGSTOP: as if the network went silent); the
 * socket buffers fill, remaining stops falling, progressTimeout aborts. */
static void stuck_migration_aborts(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 40, false);
	kill(gw_vm_pid(p.target), SIGSTOP);
	struct gw_qemu_migration_config c = small_vm_config();
	c.progress_timeout_s = 2;
	c.completion_timeout_per_gib_s = 0;
	new_migration(f, &p, &c);
	run_bounded(&p, 40);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("target silent", &s);
	assert_non_null(strstr(s.failure_reason, "stuck for"));
	assert_true(s.remaining_bytes > 0);
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

/* Waits (bounded) until vm's run state is `want`. */
static void wait_status(struct vm_fixture *f, struct gw_vm *vm, const char *want, unsigned limit_s)
{
	uint64_t deadline = gw_now_ns() + (uint64_t)limit_s * 1000000000ull;
	for (;;) {
		char *status = NULL;
		if (gw_vm_query_status(vm, &status, NULL, &f->err) < 0)
			fail_msg("%s", gw_err_msg(f->err));
		bool done = !strcmp(status, want);
		if (!done && gw_now_ns() > deadline)
			fail_msg("VM status still %s after %u s, expected %s", status, limit_s, want);
		free(status);
		if (done)
			return;
		usleep(50 * 1000);
	}
}

/* QEMU's own migration status on vm (query-migrate), caller frees. */
static char *qemu_migration_status(struct vm_fixture *f, struct gw_vm *vm)
{
	json_t *info = NULL;
	if (gw_qmp_execute(gw_vm_qmp(vm), "query-migrate", NULL, &info, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	const char *st = json_string_value(json_object_get(info, "status"));
	char *out = gw_strdup(st ? st : "");
	json_decref(info);
	return out;
}

/* run() waits on QEMU's MIGRATION events between polls: with a 10 s poll
 * interval an idle migration is still seen completed within a few seconds
 * (without the events the first query would come after 10 s). */
static void migration_end_seen_at_once(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.poll_interval_ms = 10000;
	new_migration(f, &p, &c);
	uint64_t t0 = gw_now_ns();
	gw_qemu_migration_run(p.m);
	double s_taken = (double)(gw_now_ns() - t0) / 1e9;
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("10 s poll, events", &s);
	print_message("# seen completed after %.2f s\n", s_taken);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_true(s_taken < 6.0);
	assert_running(f, p.target, "running");
	free_pair(&p);
}

/* The target QEMU belongs to another agent (NULL here); this test holds
 * it as a separate handle, as that agent would. COMPLETED comes with the
 * source's "completed"; the target runs by itself. */
static void remote_target_migrates(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	struct gw_qemu_migration_config c = small_vm_config();
	if (gw_qemu_migration_new(p.source, NULL, p.uri, &c, &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	run_bounded(&p, 60);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("remote target", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_string_equal(s.qemu_status, "completed");
	assert_true(s.transferred_bytes > 0);
	assert_running(f, p.source, "postmigrate");
	wait_status(f, p.target, "running", 10);
	free_pair(&p);
}

/* A remote target dies mid-flight: the executor knows it only through the
 * source's query-migrate failing; the VM goes on on the source. */
static void remote_target_killed(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 16, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = MIB;
	if (gw_qemu_migration_new(p.source, NULL, p.uri, &c, &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	uint64_t t0 = gw_now_ns(), deadline = t0 + 40000000000ull;
	bool killed = false;
	while (!gw_qemu_migration_finished(p.m) && gw_now_ns() < deadline) {
		gw_qemu_migration_step(p.m, gw_now_ns());
		if (!killed && gw_now_ns() - t0 > 1000000000ull) {
			kill(gw_vm_pid(p.target), SIGKILL);
			killed = true;
		}
		usleep(gw_qemu_migration_poll_interval_ms(p.m) * 1000);
	}
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("remote target killed", &s);
	assert_true(killed);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_FAILED);
	assert_non_null(strstr(s.failure_reason, "migration failed"));
	assert_null(strstr(s.failure_reason, "target QEMU (pid"));
	assert_running(f, p.source, "running");
	free_pair(&p);
}

/* Starts a migration through the executor (16 MiB of random RAM at
 * 4 MiB/s: a few seconds), then drops the executor and the source's
 * handle as an agent shutting down would, and attaches to the source
 * again. Returns the recorded start (wall clock, ms). */
static uint64_t start_then_restart_agent(struct vm_fixture *f, struct pair *p)
{
	start_pair(f, p, 16, false);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = 4 * MIB;
	new_migration(f, p, &c);
	gw_qemu_migration_step(p->m, gw_now_ns());
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p->m, &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_RUNNING);
	gw_qemu_migration_free(p->m);
	p->m = NULL;
	_cleanup_free_ char *dir = gw_strdup(gw_vm_state_dir(p->source));
	gw_vm_detach(p->source);
	f->vm[0] = p->source = NULL;
	if (gw_vm_attach(dir, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	p->source = f->vm[0];
	/* Neither the executor nor the closed connection cancelled it. */
	_cleanup_free_ char *st = qemu_migration_status(f, p->source);
	if (strcmp(st, "setup") != 0 && strcmp(st, "active") != 0)
		fail_msg("QEMU's migration is %s after the executor and connection closed", st);
	return s.start_unix_ms;
}

/* After an agent restart: adopt the running migration and see it through. */
static void adopt_running_migration(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	uint64_t start_ms = start_then_restart_agent(f, &p);
	struct gw_qemu_migration_config c = small_vm_config();
	c.bandwidth_bytes_per_s = 4 * MIB;
	if (gw_qemu_migration_adopt(p.source, p.target, &c, start_ms, GW_QEMU_MIGRATION_MODE_PRECOPY,
				    &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	run_bounded(&p, 60);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("adopted", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_true(s.start_unix_ms == start_ms);
	assert_true(s.transferred_bytes > 16 * MIB);
	assert_true(s.polls >= 2);
	assert_running(f, p.target, "running");
	assert_running(f, p.source, "postmigrate");
	free_pair(&p);
}

/* The completion deadline counts from the recorded start, not from the
 * adoption: T = 5 s, started 20 s ago -> aborted at the first step,
 * although the migration itself would finish within T of the adoption. */
static void adopt_deadline_counts_from_start(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	uint64_t start_ms = start_then_restart_agent(f, &p);
	struct gw_qemu_migration_config c = small_vm_config();
	c.completion_timeout_per_gib_s = 5;
	if (gw_qemu_migration_adopt(p.source, p.target, &c, start_ms - 20000,
				    GW_QEMU_MIGRATION_MODE_PRECOPY, &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	gw_qemu_migration_step(p.m, gw_now_ns());
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	assert_true(s.phase == GW_QEMU_MIGRATION_PHASE_ABORTING ||
		    s.phase == GW_QEMU_MIGRATION_PHASE_FAILED);
	run_bounded(&p, 40);
	gw_qemu_migration_get_status(p.m, &s);
	print_status("adopted past its deadline", &s);
	assert_non_null(strstr(s.failure_reason, "not completed after 5 seconds"));
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

/* Adopting what QEMU already finished ends at the first step: "none" (no
 * migration: failed, the remote target untouched), then a completed one. */
static void adopt_finished_migration(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	struct gw_qemu_migration_config c = small_vm_config();
	struct gw_qemu_migration_status s;
	if (gw_qemu_migration_adopt(p.source, NULL, &c, wall_clock_ms(),
				    GW_QEMU_MIGRATION_MODE_PRECOPY, &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	gw_qemu_migration_step(p.m, gw_now_ns());
	gw_qemu_migration_get_status(p.m, &s);
	print_status("adopted nothing", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_FAILED);
	assert_non_null(strstr(s.failure_reason, "runs no migration"));
	assert_running(f, p.source, "running");
	assert_true(gw_vm_alive(p.target));
	gw_qemu_migration_free(p.m);

	new_migration(f, &p, &c);
	gw_qemu_migration_step(p.m, gw_now_ns());
	gw_qemu_migration_get_status(p.m, &s);
	uint64_t start_ms = s.start_unix_ms;
	gw_qemu_migration_free(p.m);
	p.m = NULL;
	uint64_t deadline = gw_now_ns() + 30000000000ull;
	for (;;) {
		_cleanup_free_ char *st = qemu_migration_status(f, p.source);
		if (!strcmp(st, "completed"))
			break;
		if (gw_now_ns() > deadline)
			fail_msg("QEMU's migration still %s after 30 s", st);
		usleep(50 * 1000);
	}
	wait_status(f, p.target, "running", 10);
	if (gw_qemu_migration_adopt(p.source, p.target, &c, start_ms, GW_QEMU_MIGRATION_MODE_PRECOPY,
				    &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	gw_qemu_migration_step(p.m, gw_now_ns());
	gw_qemu_migration_get_status(p.m, &s);
	print_status("adopted after completion", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_true(s.start_unix_ms == start_ms);
	free_pair(&p);
}

/* The previous executor had paused the guest to converge (mode Paused):
 * the adopted migration knows T was doubled, and when it is aborted the
 * guest is resumed on the source although it was paused when adopted. */
static void adopt_paused_migration_resumes_on_abort(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	uint64_t start_ms = start_then_restart_agent(f, &p);
	json_t *reply = NULL;
	if (gw_qmp_execute(gw_vm_qmp(p.source), "stop", NULL, &reply, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	json_decref(reply);
	struct gw_qemu_migration_config c = small_vm_config();
	c.allow_workload_disruption = true;
	if (gw_qemu_migration_adopt(p.source, p.target, &c, start_ms, GW_QEMU_MIGRATION_MODE_PAUSED,
				    &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	assert_int_equal(s.mode, GW_QEMU_MIGRATION_MODE_PAUSED);
	assert_int_equal(s.acceptable_completion_s, 2 * 150);
	gw_qemu_migration_step(p.m, gw_now_ns());
	gw_qemu_migration_get_status(p.m, &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_RUNNING);
	assert_running(f, p.source, "paused");
	gw_qemu_migration_request_abort(p.m);
	run_bounded(&p, 40);
	gw_qemu_migration_get_status(p.m, &s);
	print_status("adopted while paused, aborted", &s);
	assert_non_null(strstr(s.failure_reason, "aborted on request"));
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

/* QEMU's migration was cancelled while no executor watched: adopting it
 * fails at the first step with QEMU's status; the VM runs on the source. */
static void adopt_cancelled_migration(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	uint64_t start_ms = start_then_restart_agent(f, &p);
	json_t *reply = NULL;
	if (gw_qmp_execute(gw_vm_qmp(p.source), "migrate_cancel", NULL, &reply, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	json_decref(reply);
	uint64_t deadline = gw_now_ns() + 30000000000ull;
	for (;;) {
		_cleanup_free_ char *st = qemu_migration_status(f, p.source);
		if (!strcmp(st, "cancelled"))
			break;
		if (gw_now_ns() > deadline)
			fail_msg("QEMU's migration still %s after 30 s", st);
		usleep(50 * 1000);
	}
	struct gw_qemu_migration_config c = small_vm_config();
	if (gw_qemu_migration_adopt(p.source, p.target, &c, start_ms, GW_QEMU_MIGRATION_MODE_PRECOPY,
				    &p.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	gw_qemu_migration_step(p.m, gw_now_ns());
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(p.m, &s);
	print_status("adopted after a cancel", &s);
	assert_non_null(strstr(s.failure_reason, "migration cancelled"));
	assert_failed_safely(f, &p, &s);
	free_pair(&p);
}

/* Bad input to adopt: a start in the future or missing, an unknown mode. */
static void adopt_is_checked(void **state)
{
	struct vm_fixture *f = *state;
	struct pair p;
	start_pair(f, &p, 0, false);
	struct gw_qemu_migration_config c = small_vm_config();
	uint64_t now_ms = wall_clock_ms();
	assert_int_equal(gw_qemu_migration_adopt(p.source, NULL, &c, now_ms + 3600000,
						 GW_QEMU_MIGRATION_MODE_PRECOPY, &p.m, &f->err),
			 -EINVAL);
	assert_non_null(strstr(gw_err_msg(f->err), "future"));
	gw_err_free(f->err);
	f->err = NULL;
	assert_int_equal(gw_qemu_migration_adopt(p.source, NULL, &c, 0, GW_QEMU_MIGRATION_MODE_PRECOPY,
						 &p.m, &f->err),
			 -EINVAL);
	gw_err_free(f->err);
	f->err = NULL;
	assert_int_equal(gw_qemu_migration_adopt(p.source, NULL, &c, now_ms,
						 (enum gw_qemu_migration_mode)7, &p.m, &f->err),
			 -EINVAL);
	gw_err_free(f->err);
	f->err = NULL;
	assert_int_equal(gw_qemu_migration_adopt(NULL, NULL, &c, now_ms, GW_QEMU_MIGRATION_MODE_PRECOPY,
						 &p.m, &f->err),
			 -EINVAL);
	assert_null(p.m);
	free_pair(&p);
}

int main(void)
{
	if (access(test_qemu_binary(), X_OK) != 0)
		return test_skip_all("%s not found", test_qemu_binary());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(config_is_checked, vm_fixture_setup, vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(idle_vm_migrates, vm_fixture_setup, vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(bandwidth_is_applied, vm_fixture_setup, vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(abort_on_request, vm_fixture_setup, vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(target_killed_mid_flight, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(unreachable_target_fails, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(source_killed_mid_flight, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(deadline_aborts, vm_fixture_setup, vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(deadline_switches_to_postcopy, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(deadline_pauses_then_aborts, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(stuck_migration_aborts, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(migration_end_seen_at_once, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(remote_target_migrates, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(remote_target_killed, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(adopt_is_checked, vm_fixture_setup, vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(adopt_running_migration, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(adopt_deadline_counts_from_start, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(adopt_finished_migration, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(adopt_paused_migration_resumes_on_abort, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(adopt_cancelled_migration, vm_fixture_setup,
						vm_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
