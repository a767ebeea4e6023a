/* SPDX-License-Identifier: Apache-2.0 */
/* Integration: live migration of the workload guest (guest/workload: a
 * bare-metal checker that dirties its RAM and verifies every page against
 * a generation table, printing `godwit-workload: ...` on COM1) while it
 * runs. After the migration the target's serial log must show the checker
 * carrying on from the source's state: more passes, corrupt=0. Pre-copy
 * at a gentle dirty rate, post-copy and pause-to-converge at a dirty rate
 * pre-copy cannot follow. Skipped when the guest is not built. */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "godwit/qemu.h"
#include "integration.h"
#include "vm_fixture.h"

#define MIB ((uint64_t)1048576)

static const char *workload_elf(void)
{
	const char *p = getenv("GODWIT_GUEST_WORKLOAD");
	struct stat st;
	return p && *p && stat(p, &st) == 0 && S_ISREG(st.st_mode) ? p : NULL;
}

struct status_line {
	long long t, pass, checked, dirtied, corrupt;
};

/* The serial log's status lines; *corrupt_lines counts CORRUPT reports. */
static size_t read_status(const char *log, struct status_line *first, struct status_line *last,
			  size_t *corrupt_lines, long long *max_corrupt)
{
	char *text = NULL;
	size_t n = 0;
	*corrupt_lines = 0;
	*max_corrupt = 0;
	memset(last, 0, sizeof(*last));
	memset(first, 0, sizeof(*first));
	if (gw_file_read(log, 64u << 20, &text, NULL, NULL) < 0)
		return 0;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		struct status_line s;
		if (sscanf(line, "godwit-workload: t=%lld pass=%lld checked=%lld dirtied=%lld %*s "
			   "corrupt=%lld", &s.t, &s.pass, &s.checked, &s.dirtied, &s.corrupt) == 5) {
			if (n == 0)
				*first = s;
			*last = s;
			if (s.corrupt > *max_corrupt)
				*max_corrupt = s.corrupt;
			n++;
		}
		if (strstr(line, "godwit-workload: CORRUPT"))
			(*corrupt_lines)++;
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return n;
}

static bool log_contains(const char *log, const char *needle)
{
	char *text = NULL;
	if (gw_file_read(log, 64u << 20, &text, NULL, NULL) < 0)
		return false;
	bool found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

static void wait_for_text(const char *log, const char *needle, unsigned limit_s)
{
	uint64_t deadline = gw_now_ns() + (uint64_t)limit_s * 1000000000ull;
	while (!log_contains(log, needle)) {
		if (gw_now_ns() > deadline)
			fail_msg("%s: no \"%s\" within %u s", log, needle, limit_s);
		usleep(100 * 1000);
	}
}

struct run {
	struct gw_qemu_migration_config cfg;
	bool tolerate_tcg_stop_bug;
	unsigned memory_mib;
	const char *append;
	enum gw_qemu_migration_mode want_mode;
};

static void migrate_workload(struct vm_fixture *f, const struct run *run, const char *what)
{
	const char *elf = workload_elf();
	struct gw_vm_spec src = vm_fixture_spec(f, "src", "workload");
	src.kernel = elf;
	src.append = run->append;
	src.memory_mib = run->memory_mib;
	_cleanup_free_ char *src_log = gw_asprintf("%s/src/serial.log", f->dir);
	_cleanup_free_ char *dst_log = gw_asprintf("%s/dst/serial.log", f->dir);
	if (gw_vm_start(&src, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("source: %s", gw_err_msg(f->err));
	wait_for_text(src_log, "godwit-workload: ready", 60);
	wait_for_text(src_log, "godwit-workload: t=", 30);

	struct gw_vm_spec dst = src;
	dst.state_dir = gw_asprintf("%s/dst", f->dir);
	f->state_dirs[f->n_state_dirs++] = (char *)dst.state_dir;
	dst.incoming = true;
	if (gw_vm_start(&dst, 10000, &f->vm[1], &f->err) < 0)
		fail_msg("target: %s", gw_err_msg(f->err));
	unsigned port;
	if (gw_vm_listen_incoming(f->vm[1], "127.0.0.1", 0, run->cfg.allow_post_copy, &port,
				  &f->err) < 0)
		fail_msg("target: %s", gw_err_msg(f->err));
	_cleanup_free_ char *uri = gw_asprintf("tcp:127.0.0.1:%u", port);
	struct gw_qemu_migration *m = NULL;
	struct gw_qemu_migration_config cfg = run->cfg;
	cfg.data_size_bytes = (uint64_t)run->memory_mib * MIB;
	if (gw_qemu_migration_new(f->vm[0], f->vm[1], uri, &cfg, &m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	uint64_t deadline = gw_now_ns() + 120000000000ull, max_dirty_rate = 0;
	struct gw_qemu_migration_status s;
	while (!gw_qemu_migration_finished(m) && gw_now_ns() < deadline) {
		gw_qemu_migration_step(m, gw_now_ns());
		gw_qemu_migration_get_status(m, &s);
		if (s.dirty_rate_bytes_per_s > max_dirty_rate)
			max_dirty_rate = s.dirty_rate_bytes_per_s;
		usleep(gw_qemu_migration_poll_interval_ms(m) * 1000);
	}
	gw_qemu_migration_get_status(m, &s);
	gw_qemu_migration_free(m);
	print_message("# %s: phase %s, mode %s, %.1f s (QEMU total %" PRIu64 " ms, downtime %" PRIu64
		      " ms), transferred %" PRIu64 " MiB, dirty rate %" PRIu64 " MiB/s (peak %" PRIu64 " MiB/s)%s%s\n",
		      what, gw_qemu_migration_phase_name(s.phase), gw_qemu_migration_mode_name(s.mode),
		      (double)(s.end_unix_ms - s.start_unix_ms) / 1000.0, s.total_time_ms,
		      s.downtime_ms, s.transferred_bytes / MIB, s.dirty_rate_bytes_per_s / MIB, max_dirty_rate / MIB,
		      s.failure_reason[0] ? ", reason: " : "", s.failure_reason);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_int_equal(s.mode, run->want_mode);
	/* The guest dirtied memory during the migration, and it was seen. QEMU
	 * measures the dirty rate at the end of a pass over RAM: only the
	 * paused run makes several passes before it ends. */
	if (run->want_mode == GW_QEMU_MIGRATION_MODE_PAUSED)
		assert_true(max_dirty_rate > 0);

	/* The source's last word, then the caller's part: quit the source. */
	struct status_line src_first, src_last;
	size_t corrupt_lines;
	long long max_corrupt;
	assert_true(read_status(src_log, &src_first, &src_last, &corrupt_lines, &max_corrupt) >= 1);
	assert_int_equal(corrupt_lines, 0);
	assert_int_equal(gw_vm_stop(f->vm[0], &f->err), 0);
	f->vm[0] = NULL;

	/* The target carries on with the source's counters: two full passes
	 * more than the source had reached, every page matching. */
	struct status_line dst_first = {0}, dst_last = {0};
	size_t lines = 0;
	deadline = gw_now_ns() + 60000000000ull;
	while (gw_now_ns() < deadline) {
		lines = read_status(dst_log, &dst_first, &dst_last, &corrupt_lines, &max_corrupt);
		if (lines >= 2 && dst_last.pass >= src_last.pass + 2)
			break;
		usleep(200 * 1000);
	}
	print_message("# %s: source's last t=%lld pass=%lld checked=%lld dirtied=%lld; target's first "
		      "t=%lld pass=%lld checked=%lld dirtied=%lld, last t=%lld pass=%lld corrupt=%lld "
		      "(%zu status lines)\n", what, src_last.t, src_last.pass, src_last.checked,
		      src_last.dirtied, dst_first.t, dst_first.pass, dst_first.checked,
		      dst_first.dirtied, dst_last.t, dst_last.pass, dst_last.corrupt, lines);
	/* The counters live in guest RAM (the checker's stack): the target
	 * continues from where the source stopped, never from an older copy
	 * of a page that the migration failed to resend. */
	bool counters_continue = lines > 0 && dst_first.t >= src_last.t &&
				 dst_first.checked >= src_last.checked &&
				 dst_first.dirtied >= src_last.dirtied;
	if (!counters_continue && run->tolerate_tcg_stop_bug) {
		/* A stale stack page may also leave the guest silent. */
		print_message("# %s: KNOWN QEMU BUG: the target resumed from a stale page (%s); QEMU 7.2 "
			      "under TCG loses pages written just before a `stop` during pre-copy "
			      "(docs/migration.md). Not counted as a failure here.\n", what,
			      lines ? "counters went back" : "no status line at all");
		return;
	}
	assert_true(lines >= 2);
	assert_true(counters_continue);
	assert_true(dst_last.t >= src_last.t);
	assert_true(dst_last.pass >= src_last.pass + 2);
	assert_int_equal(corrupt_lines, 0);
	assert_int_equal(max_corrupt, 0);
	char *status = NULL;
	bool running = false;
	assert_int_equal(gw_vm_query_status(f->vm[1], &status, &running, &f->err), 0);
	assert_true(running);
	free(status);
}

/* A gentle dirty rate: pre-copy converges with KubeVirt's defaults. */
static void precopy_keeps_memory_intact(void **state)
{
	struct run r = {.memory_mib = 128, .append = "rate=2000", .want_mode = GW_QEMU_MIGRATION_MODE_PRECOPY};
	gw_qemu_migration_config_defaults(&r.cfg);
	migrate_workload(*state, &r, "workload pre-copy, 128 MiB, 2000 pages/s");
}

/* Dirtying as fast as it can (~1 GiB/s) against 32 MiB/s: pre-copy cannot
 * converge; at the deadline (1 s/GiB -> 1 s) post-copy finishes it. */
static void postcopy_keeps_memory_intact(void **state)
{
	struct run r = {.memory_mib = 128, .append = "rate=0", .want_mode = GW_QEMU_MIGRATION_MODE_POSTCOPY};
	gw_qemu_migration_config_defaults(&r.cfg);
	r.cfg.bandwidth_bytes_per_s = 32 * MIB;
	r.cfg.completion_timeout_per_gib_s = 1;
	r.cfg.allow_post_copy = true;
	r.cfg.allow_workload_disruption = true;
	migrate_workload(*state, &r, "workload post-copy, 128 MiB, max dirty rate");
}

/* Disruption without post-copy: the guest is paused at T (5 s; abort
 * would come at 2T = 10 s, while converging takes ~1 s once paused), the
 * migration converges while it is paused, and the guest runs on the
 * target (resumed there: it arrives paused). */
static void pause_converges_and_resumes_on_target(void **state)
{
	struct run r = {.memory_mib = 64, .append = "rate=0", .want_mode = GW_QEMU_MIGRATION_MODE_PAUSED};
	gw_qemu_migration_config_defaults(&r.cfg);
	r.cfg.bandwidth_bytes_per_s = 64 * MIB;
	r.cfg.completion_timeout_per_gib_s = 5;
	r.cfg.allow_workload_disruption = true;
	r.tolerate_tcg_stop_bug = true;
	migrate_workload(*state, &r, "workload paused, 64 MiB, max dirty rate");
}

int main(void)
{
	if (access(test_qemu_binary(), X_OK) != 0)
		return test_skip_all("%s not found", test_qemu_binary());
	if (!workload_elf())
		return test_skip_all("the workload guest is not built ($GODWIT_GUEST_WORKLOAD unset or "
				     "missing)");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(precopy_keeps_memory_intact, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(postcopy_keeps_memory_intact, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(pause_converges_and_resumes_on_target, vm_fixture_setup,
						vm_fixture_teardown),
	};
	const char *filter = getenv("GODWIT_TEST_FILTER");
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
