/* SPDX-License-Identifier: Apache-2.0 */
/* KubeVirt's migration settings and monitor rules (kubevirt-behaviour.md
 * 4.2-4.5) as pure functions: bandwidth rounding, the acceptable
 * completion time, the progress watermark and the convergence cases, with
 * time given by the test. */
#include "godwit/qemu.h"
#include "helpers.h"

#define S 1000000000ull
#define MIB 1048576ull
#define T0 (1000 * S) /* an arbitrary monotonic start */

/* 4.2: 0 -> unset; below 1 MiB -> 1; else round-half-up. */
static void bandwidth_rounding(void **state)
{
	(void)state;
	assert_int_equal(gw_qemu_migration_bandwidth_mib(0), 0);
	assert_int_equal(gw_qemu_migration_bandwidth_mib(1), 1);
	assert_int_equal(gw_qemu_migration_bandwidth_mib(500 * 1024), 1);       /* 500Ki */
	assert_int_equal(gw_qemu_migration_bandwidth_mib(64 * MIB), 64);        /* 64Mi */
	assert_int_equal(gw_qemu_migration_bandwidth_mib(1000000000ull), 954);  /* 1G */
	assert_int_equal(gw_qemu_migration_bandwidth_mib(MIB + MIB / 2), 2);    /* half rounds up */
	assert_int_equal(gw_qemu_migration_bandwidth_mib(MIB + MIB / 2 - 1), 1);
	assert_int_equal(gw_qemu_migration_bandwidth_mib(UINT64_MAX), UINT64_MAX / MIB + 1);
}

/* QEMU's max-bandwidth: MiB in bytes; unlimited is explicit, not QEMU's
 * 128 MiB/s default. */
static void max_bandwidth_for_qemu(void **state)
{
	(void)state;
	assert_int_equal(gw_qemu_migration_max_bandwidth(64 * MIB), 64 * MIB);
	assert_int_equal(gw_qemu_migration_max_bandwidth(500 * 1024), MIB);
	assert_int_equal(gw_qemu_migration_max_bandwidth(1000000000ull), 954 * MIB);
	assert_true(gw_qemu_migration_max_bandwidth(0) > 1000000 * MIB);
	assert_int_equal(gw_qemu_migration_max_bandwidth(0), GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH);
	assert_true(GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH <= (uint64_t)INT64_MAX);
	assert_int_equal(gw_qemu_migration_max_bandwidth(UINT64_MAX), GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH);
}

/* 4.3: per-GiB x ceil(bytes / 10^9), decimal; 0 disables. */
static void acceptable_completion_time(void **state)
{
	(void)state;
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(150, 1024 * MIB), 300);     /* 1Gi -> 2 */
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(150, 2048 * MIB), 450);     /* 2Gi -> 3 */
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(150, 512 * MIB), 150);      /* 512Mi -> 1 */
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(150, 8192 * MIB), 1350);    /* 8Gi -> 9 */
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(150, 8000000000ull), 1200); /* 8G -> 8 */
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(0, 8192 * MIB), 0);
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(1, 64 * MIB), 1);
}

static struct gw_qemu_migration_config config(int64_t per_gib, int64_t progress, bool postcopy,
					 bool disruption)
{
	struct gw_qemu_migration_config c;
	gw_qemu_migration_config_defaults(&c);
	c.completion_timeout_per_gib_s = per_gib;
	c.progress_timeout_s = progress;
	c.allow_post_copy = postcopy;
	c.allow_workload_disruption = disruption;
	c.data_size_bytes = 512 * MIB; /* S = 1 */
	return c;
}

static enum gw_qemu_migration_action poll_at(const struct gw_qemu_migration_config *c,
					struct gw_qemu_migration_monitor *mon, uint64_t remaining,
					uint64_t now)
{
	struct gw_qemu_migration_sample s = {.has_remaining = true, .remaining_bytes = remaining};
	return gw_qemu_migration_decide(c, mon, &s, now);
}

static void defaults_are_kubevirts(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c;
	gw_qemu_migration_config_defaults(&c);
	assert_int_equal(c.bandwidth_bytes_per_s, 0);
	assert_int_equal(c.completion_timeout_per_gib_s, 150);
	assert_int_equal(c.progress_timeout_s, 150);
	assert_false(c.allow_auto_converge);
	assert_false(c.allow_post_copy);
	assert_false(c.allow_workload_disruption);
}

/* 4.5 case 4: no disruption allowed -> abort once elapsed > T (strictly,
 * in whole seconds). */
static void abort_after_completion_deadline(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(10, 0, false, false);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	assert_int_equal(mon.acceptable_s, 10);
	uint64_t remaining = 1000 * MIB;
	for (uint64_t t = 0; t <= 10; t++)
		assert_int_equal(poll_at(&c, &mon, remaining -= MIB, T0 + t * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, remaining -= MIB, T0 + 10 * S + S / 2),
			 GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, remaining -= MIB, T0 + 11 * S),
			 GW_QEMU_MIGRATION_ACTION_ABORT_TIMEOUT);
	assert_true(mon.aborting);
	/* An abort in progress is not repeated. */
	assert_int_equal(poll_at(&c, &mon, remaining -= MIB, T0 + 12 * S), GW_QEMU_MIGRATION_ACTION_NONE);
}

/* allowPostCopy without disruption: post-copy permitted but never
 * triggered; abort at the deadline. */
static void postcopy_without_disruption_aborts(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(10, 0, true, false);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	assert_int_equal(poll_at(&c, &mon, MIB, T0 + 11 * S), GW_QEMU_MIGRATION_ACTION_ABORT_TIMEOUT);
	assert_int_equal(mon.mode, GW_QEMU_MIGRATION_MODE_PRECOPY);
}

/* Case 2, post-copy: at the deadline switch; afterwards nothing, ever
 * (case 1), not even a stuck migration. */
static void postcopy_at_deadline_then_never_abort(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(10, 5, true, true);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	assert_int_equal(poll_at(&c, &mon, 100 * MIB, T0 + 5 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 99 * MIB, T0 + 11 * S), GW_QEMU_MIGRATION_ACTION_START_POSTCOPY);
	assert_int_equal(mon.mode, GW_QEMU_MIGRATION_MODE_POSTCOPY);
	for (uint64_t t = 12; t < 1000; t += 7)
		assert_int_equal(poll_at(&c, &mon, 99 * MIB, T0 + t * S), GW_QEMU_MIGRATION_ACTION_NONE);
}

/* Case 2, pause: at T pause and double T; at 2T abort. */
static void pause_then_abort_at_double_deadline(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(10, 0, false, true);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	assert_int_equal(poll_at(&c, &mon, 100 * MIB, T0 + 10 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 99 * MIB, T0 + 11 * S), GW_QEMU_MIGRATION_ACTION_PAUSE);
	assert_int_equal(mon.mode, GW_QEMU_MIGRATION_MODE_PAUSED);
	assert_int_equal(mon.acceptable_s, 20);
	assert_int_equal(poll_at(&c, &mon, 98 * MIB, T0 + 15 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 97 * MIB, T0 + 20 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 96 * MIB, T0 + 21 * S), GW_QEMU_MIGRATION_ACTION_ABORT_TIMEOUT);
}

/* 4.4: progress = remaining below the previous sample. A stuck migration
 * aborts once now - lastProgress > progressTimeout. */
static void stuck_migration_aborts(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(0, 5, false, false); /* no deadline */
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	assert_int_equal(mon.acceptable_s, 0);
	assert_int_equal(poll_at(&c, &mon, 50 * MIB, T0 + 1 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	/* Same remaining: no progress from t=1 on. */
	for (uint64_t t = 2; t <= 6; t++)
		assert_int_equal(poll_at(&c, &mon, 50 * MIB, T0 + t * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 50 * MIB, T0 + 7 * S), GW_QEMU_MIGRATION_ACTION_ABORT_STUCK);
}

/* Fluctuating remaining never trips the timer: each drop below the
 * previous sample is progress, even if it never reaches a new minimum. */
static void fluctuating_remaining_is_progress(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(0, 3, false, false);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	for (uint64_t t = 1; t < 100; t++) {
		uint64_t remaining = (t % 2 ? 60 : 50) * MIB; /* 60, 50, 60, 50... min stays 50 */
		assert_int_equal(poll_at(&c, &mon, remaining, T0 + t * S), GW_QEMU_MIGRATION_ACTION_NONE);
	}
}

/* A watermark of 0 (no remaining reported yet) always counts as progress. */
static void unreported_remaining_is_progress(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(0, 2, false, false);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	for (uint64_t t = 1; t < 20; t++)
		assert_int_equal(gw_qemu_migration_decide(&c, &mon, NULL, T0 + t * S), GW_QEMU_MIGRATION_ACTION_NONE);
	/* The timer starts at the first real sample. */
	assert_int_equal(poll_at(&c, &mon, 9 * MIB, T0 + 20 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 9 * MIB, T0 + 22 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 9 * MIB, T0 + 23 * S), GW_QEMU_MIGRATION_ACTION_ABORT_STUCK);
}

/* Case order: disruption (case 2) wins over stuck (case 3) at the deadline;
 * stuck (3) wins over the deadline abort (4), and the reason says so. */
static void first_matching_case_wins(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(10, 2, true, true);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	assert_int_equal(poll_at(&c, &mon, 9 * MIB, T0 + 1 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 9 * MIB, T0 + 11 * S), GW_QEMU_MIGRATION_ACTION_START_POSTCOPY);

	c = config(10, 2, false, false);
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	assert_int_equal(poll_at(&c, &mon, 9 * MIB, T0 + 1 * S), GW_QEMU_MIGRATION_ACTION_NONE);
	assert_int_equal(poll_at(&c, &mon, 9 * MIB, T0 + 11 * S), GW_QEMU_MIGRATION_ACTION_ABORT_STUCK);
}

/* progressTimeout 0 disables the stuck check. */
static void zero_progress_timeout_disables(void **state)
{
	(void)state;
	struct gw_qemu_migration_config c = config(0, 0, false, false);
	struct gw_qemu_migration_monitor mon;
	gw_qemu_migration_monitor_init(&mon, &c, T0);
	for (uint64_t t = 1; t < 10000; t += 100)
		assert_int_equal(poll_at(&c, &mon, MIB, T0 + t * S), GW_QEMU_MIGRATION_ACTION_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bandwidth_rounding),
		cmocka_unit_test(max_bandwidth_for_qemu),
		cmocka_unit_test(acceptable_completion_time),
		cmocka_unit_test(defaults_are_kubevirts),
		cmocka_unit_test(abort_after_completion_deadline),
		cmocka_unit_test(postcopy_without_disruption_aborts),
		cmocka_unit_test(postcopy_at_deadline_then_never_abort),
		cmocka_unit_test(pause_then_abort_at_double_deadline),
		cmocka_unit_test(stuck_migration_aborts),
		cmocka_unit_test(fluctuating_remaining_is_progress),
		cmocka_unit_test(unreported_remaining_is_progress),
		cmocka_unit_test(first_matching_case_wins),
		cmocka_unit_test(zero_progress_timeout_disables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
