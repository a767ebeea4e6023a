/* SPDX-License-Identifier: Apache-2.0 */
/* The migration controller on a real SQLite store, with the controller's
 * threads, a monitor replaying every migration event, and the test agent
 * (a stand-in for the node agent, see ctl_fixture.h). */
#include "helpers.h"

#include "ctl_fixture.h"

#define WAIT_MS 10000

static const char *const normal_sequence[] = {"Pending", "Scheduling", "Scheduled", "PreparingTarget",
					      "TargetReady", "Running", "Succeeded"};

/* Every phase of the normal path recorded once, in order, timestamps not
 * decreasing. */
static void assert_full_history(const json_t *m)
{
	const json_t *ts = json_object_get(json_object_get(m, "status"), "phaseTransitionTimestamps");
	assert_int_equal(json_array_size(ts), GW_ARRAY_SIZE(normal_sequence));
	char prev[40] = "";
	for (size_t i = 0; i < GW_ARRAY_SIZE(normal_sequence); i++) {
		const json_t *e = json_array_get(ts, i);
		assert_string_equal(fx_s(e, "phase", NULL, NULL), normal_sequence[i]);
		const char *t = fx_s(e, "phaseTransitionTimestamp", NULL, NULL);
		assert_non_null(t);
		assert_true(strcmp(prev, t) <= 0);
		snprintf(prev, sizeof(prev), "%s", t);
	}
}

static int count_phase(struct fx *f, const char *const *names, size_t n, const char *phase)
{
	int c = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(fx_phase(f, names[i]), phase) == 0)
			c++;
	return c;
}

struct count_want {
	const char *const *names;
	size_t n;
	const char *phase;
	int count;
};

static bool count_is(struct fx *f, void *arg)
{
	struct count_want *w = arg;
	return count_phase(f, w->names, w->n, w->phase) == w->count;
}

/* 6 migrations, limit 5 per cluster and 2 outbound per node: node-a has
 * three VMIs, node-b two, node-c one. 5 run, the third of node-a waits. */
static void test_limits(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_kubevirt(&f, 5, 2);
	const char *nodes[] = {"node-a", "node-b", "node-c", "node-d", "node-e"};
	for (size_t i = 0; i < 5; i++)
		fx_node(&f, nodes[i], "64", "256Gi");
	const char *vmis[] = {"a1", "a2", "a3", "b1", "b2", "c1"};
	const char *on[] = {"node-a", "node-a", "node-a", "node-b", "node-b", "node-c"};
	const char *migs[] = {"m-a1", "m-a2", "m-a3", "m-b1", "m-b2", "m-c1"};
	for (size_t i = 0; i < 6; i++)
		fx_vmi(&f, vmis[i], on[i]);
	fx_monitor_start(&f);
	fx_agent_start(&f, AGENT_HOLD_RUNNING);
	/* a3 is the newest: it is the one left waiting. */
	for (size_t i = 0; i < 6; i++) {
		if (i != 2)
			fx_vmim(&f, migs[i], vmis[i], NULL);
	}
	fx_start(&f, GW_CTL_MIGRATION);
	struct count_want w = {migs, 6, "Running", 5};
	assert_true(fx_wait(&f, count_is, &w, WAIT_MS));
	fx_vmim(&f, "m-a3", "a3", NULL);
	assert_true(fx_wait_phase(&f, "m-a3", "Pending", WAIT_MS));
	usleep(300 * 1000);   /* several passes */
	assert_string_equal(fx_phase(&f, "m-a3"), "Pending");
	assert_int_equal(count_phase(&f, migs, 6, "Running"), 5);
	/* node-b finishes one: the cluster has room, but node-a still has 2
	 * outbound, so m-a3 keeps waiting. */
	fx_agent_release(&f, "b1");
	assert_true(fx_wait_phase(&f, "m-b1", "Succeeded", WAIT_MS));
	usleep(300 * 1000);
	assert_string_equal(fx_phase(&f, "m-a3"), "Pending");
	/* node-a finishes one: m-a3 starts. */
	fx_agent_release(&f, "a1");
	assert_true(fx_wait_phase(&f, "m-a1", "Succeeded", WAIT_MS));
	assert_true(fx_wait_phase(&f, "m-a3", "Running", WAIT_MS));
	for (size_t i = 0; i < 6; i++)
		fx_agent_release(&f, vmis[i]);
	w = (struct count_want){migs, 6, "Succeeded", 6};
	assert_true(fx_wait(&f, count_is, &w, WAIT_MS));
	fx_monitor_stop(&f);
	assert_int_equal(f.mon.max_in_flight, 5);
	assert_int_equal(f.mon.max_per_source, 2);
	assert_int_equal(f.mon.bad_transitions, 0);
	for (size_t i = 0; i < 6; i++) {
		json_t *m = fx_get(&f, "virtualmachineinstancemigrations", "default", migs[i]);
		assert_full_history(m);
		/* The VMI moved to the chosen target, never to its source. */
		const char *target = fx_s(m, "status", "targetNode", NULL);
		assert_non_null(target);
		assert_string_not_equal(target, on[i]);
		json_t *vmi = fx_get(&f, "virtualmachineinstances", "default", vmis[i]);
		assert_string_equal(fx_s(vmi, "status", "nodeName", NULL), target);
		assert_string_equal(fx_s(vmi, "status", "migrationState", "migrationUid"),
				    fx_s(m, "metadata", "uid", NULL));
		assert_string_equal(fx_s(m, "status", "migrationState", "sourceNode"), on[i]);
		json_decref(vmi);
		json_decref(m);
	}
	fx_close(&f);
}

/* Limit 1: the queue takes the highest priority first, then the oldest. */
static void test_priorities(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_kubevirt(&f, 1, 2);
	const char *nodes[] = {"n1", "n2", "n3", "n4", "n5"};
	for (size_t i = 0; i < 5; i++)
		fx_node(&f, nodes[i], "64", "256Gi");
	const char *prio[] = {NULL, "system-maintenance", "user-triggered", "system-critical"};
	const char *migs[] = {"m-none", "m-maint", "m-user", "m-crit"};
	const char *vmis[] = {"v1", "v2", "v3", "v4"};
	for (size_t i = 0; i < 4; i++) {
		fx_vmi(&f, vmis[i], nodes[i]);
		fx_vmim(&f, migs[i], vmis[i], prio[i]);
	}
	fx_monitor_start(&f);
	fx_agent_start(&f, AGENT_COMPLETE);
	fx_start(&f, GW_CTL_MIGRATION);
	struct count_want w = {migs, 4, "Succeeded", 4};
	assert_true(fx_wait(&f, count_is, &w, WAIT_MS));
	fx_monitor_stop(&f);
	assert_int_equal(f.mon.max_in_flight, 1);
	assert_int_equal(f.mon.n_order, 4);
	assert_string_equal(f.mon.order[0], "m-crit");
	assert_string_equal(f.mon.order[1], "m-user");
	assert_string_equal(f.mon.order[2], "m-maint");
	assert_string_equal(f.mon.order[3], "m-none");
	fx_close(&f);
}

/* Abort = delete (deletionTimestamp: the finalizer keeps the object).
 * hold: where the agent stops; want: the phase the abort hits. */
static void abort_in(const char *want, enum agent_stage hold, bool two_nodes, bool vmi_running)
{
	static struct fx f;
	fx_open(&f, false);
	fx_node(&f, "src", "64", "256Gi");
	if (two_nodes)
		fx_node(&f, "dst", "64", "256Gi");
	json_t *v = fx_vmi_doc("vm1", "src", "1Gi", NULL);
	if (!vmi_running)
		json_object_set_new(json_object_get(v, "status"), "phase", json_string("Scheduled"));
	fx_create(&f, "virtualmachineinstances", v);
	fx_monitor_start(&f);
	fx_agent_start(&f, hold);
	fx_start(&f, GW_CTL_MIGRATION);
	fx_vmim(&f, "mig", "vm1", NULL);
	assert_true(fx_wait_phase(&f, "mig", want, WAIT_MS));
	usleep(200 * 1000);
	assert_string_equal(fx_phase(&f, "mig"), want);
	json_t *m = fx_get(&f, "virtualmachineinstancemigrations", "default", "mig");
	assert_int_equal(json_array_size(json_object_get(json_object_get(m, "metadata"), "finalizers")), 1);
	json_decref(m);
	fx_delete(&f, "virtualmachineinstancemigrations", "default", "mig");
	/* Final, finalizer removed, so gone. */
	assert_true(fx_wait_phase(&f, "mig", "<gone>", WAIT_MS));
	fx_monitor_stop(&f);
	json_t *last = fx_monitor_last(&f, "mig");
	assert_non_null(last);
	assert_string_equal(fx_s(last, "status", "phase", NULL), "Failed");
	json_t *conds = json_object_get(json_object_get(last, "status"), "conditions");
	bool abort_cond = false;
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c)
		if (strcmp(fx_s(c, "type", NULL, NULL), "migrationAbortRequested") == 0)
			abort_cond = true;
	assert_true(abort_cond);
	json_t *vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
	assert_string_equal(fx_s(vmi, "status", "nodeName", NULL), "src");
	int idx = fx_phase_idx(want);
	if (idx >= 4) {
		/* After hand-off: the agent was asked and answered. */
		json_t *ms = json_object_get(json_object_get(vmi, "status"), "migrationState");
		assert_true(json_is_true(json_object_get(ms, "abortRequested")));
		assert_string_equal(fx_s(ms, "abortStatus", NULL, NULL), "Succeeded");
		assert_int_equal(f.agent.aborted, 1);
		assert_string_equal(fx_s(last, "status", "migrationState", "abortStatus"), "Succeeded");
	} else {
		assert_int_equal(f.agent.aborted, 0);
	}
	json_decref(vmi);
	fx_close(&f);
}

static void test_abort_pending(void **state) { (void)state; abort_in("Pending", AGENT_COMPLETE, true, false); }
static void test_abort_scheduling(void **state) { (void)state; abort_in("Scheduling", AGENT_COMPLETE, false, true); }
static void test_abort_preparing(void **state) { (void)state; abort_in("PreparingTarget", AGENT_HOLD_PREPARING, true, true); }
static void test_abort_target_ready(void **state) { (void)state; abort_in("TargetReady", AGENT_HOLD_TARGET_READY, true, true); }
static void test_abort_running(void **state) { (void)state; abort_in("Running", AGENT_HOLD_RUNNING, true, true); }

/* Scheduled lasts one pass; abort it as a restarted controller finds it:
 * recorded Scheduled, target chosen, hand-off not written, deletion asked. */
static void test_abort_scheduled(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_node(&f, "src", "64", "256Gi");
	fx_node(&f, "dst", "64", "256Gi");
	fx_vmi(&f, "vm1", "src");
	json_t *m = fx_vmim_doc("mig", "vm1", NULL);
	char ts[40];
	fx_time(fx_real_ms(), ts);
	json_object_set_new(json_object_get(m, "metadata"), "finalizers", json_pack("[s]", "kubevirt.io/migrationJobFinalize"));
	json_object_set_new(json_object_get(m, "metadata"), "deletionTimestamp", json_string(ts));
	json_object_set_new(m, "status", json_pack("{s:s, s:s, s:s, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "phase", "Scheduled",
						   "targetNode", "dst", "sourceNode", "src", "phaseTransitionTimestamps",
						   "phase", "Pending", "phaseTransitionTimestamp", ts, "phase", "Scheduling",
						   "phaseTransitionTimestamp", ts, "phase", "Scheduled",
						   "phaseTransitionTimestamp", ts));
	fx_create(&f, "virtualmachineinstancemigrations", m);
	fx_monitor_start(&f);
	fx_agent_start(&f, AGENT_COMPLETE);
	fx_start(&f, GW_CTL_MIGRATION);
	assert_true(fx_wait_phase(&f, "mig", "<gone>", WAIT_MS));
	fx_monitor_stop(&f);
	json_t *last = fx_monitor_last(&f, "mig");
	assert_non_null(last);
	assert_string_equal(fx_s(last, "status", "phase", NULL), "Failed");
	json_t *vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
	assert_null(json_object_get(json_object_get(vmi, "status"), "migrationState"));
	assert_string_equal(fx_s(vmi, "status", "nodeName", NULL), "src");
	json_decref(vmi);
	fx_close(&f);
}

/* An abort that comes after the agent finished loses the race (6.4): the
 * migration is Succeeded, the VM stays on the target, the object goes. */
static void test_abort_too_late(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_node(&f, "src", "64", "256Gi");
	fx_node(&f, "dst", "64", "256Gi");
	fx_vmi(&f, "vm1", "src");
	fx_monitor_start(&f);
	fx_agent_start(&f, AGENT_HOLD_RUNNING);
	fx_start(&f, GW_CTL_MIGRATION);
	fx_vmim(&f, "mig", "vm1", NULL);
	assert_true(fx_wait_phase(&f, "mig", "Running", WAIT_MS));
	fx_stop_ctl(&f);
	fx_agent_release(&f, "vm1");
	usleep(300 * 1000);   /* the agent completes while the controllers are down */
	fx_delete(&f, "virtualmachineinstancemigrations", "default", "mig");
	fx_start(&f, GW_CTL_MIGRATION);
	assert_true(fx_wait_phase(&f, "mig", "<gone>", WAIT_MS));
	fx_monitor_stop(&f);
	assert_non_null(fx_monitor_last(&f, "mig"));
	assert_string_equal(fx_s(fx_monitor_last(&f, "mig"), "status", "phase", NULL), "Succeeded");
	json_t *vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
	assert_string_equal(fx_s(vmi, "status", "nodeName", NULL), "dst");
	assert_false(json_is_true(json_object_get(json_object_get(json_object_get(vmi, "status"), "migrationState"), "abortRequested")));
	json_decref(vmi);
	assert_int_equal(f.agent.aborted, 0);
	fx_close(&f);
}

static bool has_condition(const json_t *o, const char *type, const char *reason)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(json_object_get(o, "status"), "conditions"), i, c)
		if (strcmp(fx_s(c, "type", NULL, NULL), type) == 0 &&
		    (!reason || strcmp(fx_s(c, "reason", NULL, NULL) ?: "", reason) == 0))
			return true;
	return false;
}

/* Real clock, short timeouts through the annotations. */
static void test_unschedulable_timeout_annotation(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_node(&f, "src", "64", "256Gi");
	fx_node(&f, "small", "1", "512Mi");   /* too small for 1Gi */
	fx_vmi(&f, "vm1", "src");
	json_t *m = fx_vmim_doc("mig", "vm1", NULL);
	json_object_set_new(json_object_get(json_object_get(m, "metadata"), "annotations"),
			    "kubevirt.io/migrationUnschedulablePodTimeoutSeconds", json_string("1"));
	fx_create(&f, "virtualmachineinstancemigrations", m);
	fx_start(&f, GW_CTL_MIGRATION);
	assert_true(fx_wait_phase(&f, "mig", "Scheduling", WAIT_MS));
	json_t *s = fx_get(&f, "virtualmachineinstancemigrations", "default", "mig");
	/* Why: every node, with its reasons. */
	usleep(100 * 1000);
	json_decref(s);
	s = fx_get(&f, "virtualmachineinstancemigrations", "default", "mig");
	if (strcmp(fx_s(s, "status", "phase", NULL), "Scheduling") == 0) {
		assert_true(has_condition(s, "TargetScheduled", "Unschedulable"));
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(json_object_get(s, "status"), "conditions"), i, c) {
			if (strcmp(fx_s(c, "type", NULL, NULL), "TargetScheduled") == 0) {
				const char *msg = fx_s(c, "message", NULL, NULL);
				assert_non_null(strstr(msg, "src:"));
				assert_non_null(strstr(msg, "small:"));
				assert_non_null(strstr(msg, "Memory"));
			}
		}
	}
	json_decref(s);
	int64_t t0 = fx_real_ms();
	assert_true(fx_wait_phase(&f, "mig", "Failed", WAIT_MS));
	assert_true(fx_real_ms() - t0 >= 500);
	s = fx_get(&f, "virtualmachineinstancemigrations", "default", "mig");
	assert_true(has_condition(s, "Failed", "UnschedulableTimeout"));
	json_decref(s);
	fx_close(&f);
}

static void test_pending_timeout_annotation(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_node(&f, "src", "64", "256Gi");
	fx_node(&f, "dst", "64", "256Gi");
	fx_vmi(&f, "vm1", "src");
	json_t *m = fx_vmim_doc("mig", "vm1", NULL);
	json_object_set_new(json_object_get(json_object_get(m, "metadata"), "annotations"),
			    "kubevirt.io/migrationPendingPodTimeoutSeconds", json_string("1"));
	fx_create(&f, "virtualmachineinstancemigrations", m);
	fx_agent_start(&f, AGENT_HOLD_PREPARING);   /* the target never gets ready */
	fx_start(&f, GW_CTL_MIGRATION);
	assert_true(fx_wait_phase(&f, "mig", "PreparingTarget", WAIT_MS));
	assert_true(fx_wait_phase(&f, "mig", "Failed", WAIT_MS));
	json_t *s = fx_get(&f, "virtualmachineinstancemigrations", "default", "mig");
	assert_true(has_condition(s, "Failed", "PendingTimeout"));
	json_decref(s);
	json_t *vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
	assert_true(json_is_true(json_object_get(json_object_get(json_object_get(vmi, "status"), "migrationState"), "failed")));
	assert_string_equal(fx_s(vmi, "status", "nodeName", NULL), "src");
	json_decref(vmi);
	fx_close(&f);
}

/* Injected clock: the default 300 s, no annotation. */
static void test_unschedulable_timeout_default_clock(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, true);
	fx_node(&f, "src", "64", "256Gi");
	fx_vmi(&f, "vm1", "src");
	fx_vmim(&f, "mig", "vm1", NULL);
	fx_start(&f, GW_CTL_MIGRATION);
	assert_true(fx_wait_phase(&f, "mig", "Scheduling", WAIT_MS));
	fx_advance(&f, 299 * 1000);
	usleep(200 * 1000);
	assert_string_equal(fx_phase(&f, "mig"), "Scheduling");
	fx_advance(&f, 2 * 1000);
	assert_true(fx_wait_phase(&f, "mig", "Failed", WAIT_MS));
	fx_close(&f);
}

/* vm1 on node src migrating to dst: the migration `name` Running, the
 * agent holding it there. */
static void migration_running(struct fx *f, const char *name)
{
	fx_node(f, "src", "64", "256Gi");
	fx_node(f, "dst", "64", "256Gi");
	fx_vmi(f, "vm1", "src");
	fx_agent_start(f, AGENT_HOLD_RUNNING);
	fx_start(f, GW_CTL_MIGRATION);
	fx_vmim(f, name, "vm1", NULL);
	assert_true(fx_wait_phase(f, name, "Running", WAIT_MS));
}

/* A second migration of a VMI while one is in flight fails at once. */
static void test_in_flight_guard(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	migration_running(&f, "first");
	fx_vmim(&f, "second", "vm1", NULL);
	assert_true(fx_wait_phase(&f, "second", "Failed", WAIT_MS));
	json_t *s = fx_get(&f, "virtualmachineinstancemigrations", "default", "second");
	assert_true(has_condition(s, "Failed", "InFlight"));
	json_decref(s);
	assert_string_equal(fx_phase(&f, "first"), "Running");
	fx_agent_release(&f, "vm1");
	assert_true(fx_wait_phase(&f, "first", "Succeeded", WAIT_MS));

	/* Before any hand-off: vm2 is not Running, so its first migration
	 * waits in Pending; a second one still fails (no migrationState yet,
	 * the other VMIM is what counts). */
	json_t *v = fx_vmi_doc("vm2", "src", "1Gi", NULL);
	json_object_set_new(json_object_get(v, "status"), "phase", json_string("Scheduled"));
	fx_create(&f, "virtualmachineinstances", v);
	fx_vmim(&f, "early", "vm2", NULL);
	assert_true(fx_wait_phase(&f, "early", "Pending", WAIT_MS));
	fx_vmim(&f, "late", "vm2", NULL);
	assert_true(fx_wait_phase(&f, "late", "Failed", WAIT_MS));
	assert_string_equal(fx_phase(&f, "early"), "Pending");
	fx_close(&f);
}

static json_t *evac_doc(const char *name, int64_t created_ms, const char *phase, int64_t failed_ms)
{
	json_t *m = fx_vmim_doc(name, "vm1", "system-critical");
	char ts[40];
	fx_time(created_ms, ts);
	json_t *md = json_object_get(m, "metadata");
	json_object_set_new(md, "creationTimestamp", json_string(ts));
	json_object_set_new(json_object_get(md, "annotations"), "kubevirt.io/evacuationMigration", json_string("src"));
	if (phase) {
		char fts[40];
		fx_time(failed_ms, fts);
		json_object_set_new(m, "status", json_pack("{s:s, s:[{s:s, s:s}]}", "phase", phase, "phaseTransitionTimestamps",
							   "phase", phase, "phaseTransitionTimestamp", fts));
	}
	return m;
}

/* 6.6: after one failed evacuation migration the next waits 20 s after
 * that failure, after two 40 s. */
static void test_evacuation_backoff(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, true);
	int64_t t = f.clock_ms;
	fx_node(&f, "src", "64", "256Gi");
	fx_node(&f, "dst", "64", "256Gi");
	fx_vmi(&f, "vm1", "src");
	fx_create(&f, "virtualmachineinstancemigrations", evac_doc("e1", t - 60000, "Failed", t - 1000));
	fx_create(&f, "virtualmachineinstancemigrations", evac_doc("e2", t - 30000, NULL, 0));
	fx_agent_start(&f, AGENT_COMPLETE);
	fx_start(&f, GW_CTL_MIGRATION);
	assert_true(fx_wait_phase(&f, "e2", "Pending", WAIT_MS));
	usleep(300 * 1000);
	assert_string_equal(fx_phase(&f, "e2"), "Pending");
	json_t *s = fx_get(&f, "virtualmachineinstancemigrations", "default", "e2");
	assert_true(has_condition(s, "MigrationBackoff", "MigrationBackoff"));
	json_decref(s);
	fx_advance(&f, 18000);   /* 19 s after the failure */
	usleep(300 * 1000);
	assert_string_equal(fx_phase(&f, "e2"), "Pending");
	fx_advance(&f, 2000);    /* 21 s */
	assert_true(fx_wait_phase(&f, "e2", "Succeeded", WAIT_MS));
	fx_stop_ctl(&f);

	/* Two failures: 40 s. The VMI moved back to src for the test. */
	t = f.clock_ms;
	fx_create(&f, "virtualmachineinstancemigrations", evac_doc("f1", t - 48000, "Failed", t - 45000));
	fx_create(&f, "virtualmachineinstancemigrations", evac_doc("f2", t - 40000, "Failed", t - 1000));
	fx_create(&f, "virtualmachineinstancemigrations", evac_doc("f3", t - 20000, NULL, 0));
	/* e1/e2 are older than f1: e2 Succeeded would stop the count, but
	 * it comes after f1 and f2 in L (newest first). */
	fx_start(&f, GW_CTL_MIGRATION);
	assert_true(fx_wait_phase(&f, "f3", "Pending", WAIT_MS));
	fx_advance(&f, 25000);   /* 26 s after the last failure: 20 s would have passed */
	usleep(300 * 1000);
	assert_string_equal(fx_phase(&f, "f3"), "Pending");
	fx_advance(&f, 15000);   /* 41 s */
	assert_true(fx_wait_phase(&f, "f3", "Succeeded", WAIT_MS));
	fx_close(&f);
}

/* Stop the controllers in the middle of migrations, start them again on the
 * same store: every migration finishes, none lost, none repeated. */
static void test_restart_resumes(void **state)
{
	(void)state;
	static struct fx f;
	fx_open(&f, false);
	fx_kubevirt(&f, 4, 2);
	const char *nodes[] = {"n1", "n2", "n3", "n4", "n5", "n6"};
	for (size_t i = 0; i < 6; i++)
		fx_node(&f, nodes[i], "64", "256Gi");
	char vmis[8][16], migs[8][16];
	const char *mig_names[8];
	for (size_t i = 0; i < 8; i++) {
		snprintf(vmis[i], 16, "v%zu", i);
		snprintf(migs[i], 16, "m%zu", i);
		mig_names[i] = migs[i];
		fx_vmi(&f, vmis[i], nodes[i % 3]);
		fx_vmim(&f, migs[i], vmis[i], NULL);
	}
	fx_monitor_start(&f);
	fx_agent_start(&f, AGENT_HOLD_TARGET_READY);
	fx_start(&f, GW_CTL_MIGRATION);
	struct count_want w = {mig_names, 8, "TargetReady", 4};
	assert_true(fx_wait(&f, count_is, &w, WAIT_MS));
	fx_stop_ctl(&f);
	/* While the controllers are down, the agents carry on. */
	fx_agent_set_hold(&f, AGENT_COMPLETE);
	usleep(200 * 1000);
	assert_int_equal(count_phase(&f, mig_names, 8, "TargetReady"), 4);
	assert_int_equal(count_phase(&f, mig_names, 8, "Pending"), 4);
	fx_start(&f, GW_CTL_MIGRATION);
	w = (struct count_want){mig_names, 8, "Succeeded", 8};
	assert_true(fx_wait(&f, count_is, &w, WAIT_MS));
	fx_monitor_stop(&f);
	assert_true(f.mon.max_in_flight <= 4);
	assert_int_equal(f.mon.bad_transitions, 0);
	assert_int_equal(f.mon.n, 8);
	assert_int_equal(f.agent.completed, 8);
	for (size_t i = 0; i < 8; i++) {
		json_t *m = fx_get(&f, "virtualmachineinstancemigrations", "default", migs[i]);
		assert_full_history(m);
		json_decref(m);
	}
	fx_close(&f);
}

static void set_lapsed(json_t *node, void *arg)
{
	(void)arg;
	json_t *md = json_object_get(node, "metadata");
	if (!json_object_get(md, "annotations"))
		json_object_set_new(md, "annotations", json_object());
	json_object_set_new(json_object_get(md, "annotations"), "godwit.io/heartbeat-lapsed",
			    json_string("2026-01-01T00:00:00Z"));
}

/* The source's agent falls silent (its node lapsed) while the migration
 * runs: closed as failed when no post-copy can have started, left to the
 * agent when one may have. */
static void source_silent(bool post_copy)
{
	static struct fx f;
	fx_open(&f, false);
	if (post_copy)
		fx_create(&f, "kubevirts",
			  json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:{s:b}}}}", "apiVersion", "kubevirt.io/v1", "kind",
				    "KubeVirt", "metadata", "name", "kubevirt", "namespace", "kubevirt", "spec",
				    "configuration", "migrations", "allowPostCopy", 1));
	migration_running(&f, "mig");
	fx_modify(&f, "nodes", NULL, "src", set_lapsed, NULL);
	json_t *vmi;
	if (post_copy) {
		/* Two resync periods: the controller saw the node and let it be. */
		usleep(2500 * 1000);
		assert_string_equal(fx_phase(&f, "mig"), "Running");
		vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
		json_t *ms = json_object_get(json_object_get(vmi, "status"), "migrationState");
		assert_true(json_is_true(json_object_get(json_object_get(ms, "migrationConfiguration"), "allowPostCopy")));
		assert_false(json_is_true(json_object_get(ms, "completed")));
	} else {
		assert_true(fx_wait_phase(&f, "mig", "Failed", WAIT_MS));
		json_t *m = fx_get(&f, "virtualmachineinstancemigrations", "default", "mig");
		json_t *conds = json_object_get(json_object_get(m, "status"), "conditions");
		const char *reason = NULL;
		size_t i;
		json_t *c;
		json_array_foreach(conds, i, c)
			if (strcmp(fx_s(c, "type", NULL, NULL), "Failed") == 0)
				reason = fx_s(c, "reason", NULL, NULL);
		assert_non_null(reason);
		assert_string_equal(reason, "SourceNodeUnresponsive");
		json_decref(m);
		vmi = fx_get(&f, "virtualmachineinstances", "default", "vm1");
		json_t *ms = json_object_get(json_object_get(vmi, "status"), "migrationState");
		assert_true(json_is_true(json_object_get(ms, "completed")));
		assert_true(json_is_true(json_object_get(ms, "failed")));
		assert_non_null(strstr(fx_s(ms, "failureReason", NULL, NULL), "source node src is not ready"));
		assert_string_equal(fx_s(vmi, "status", "nodeName", NULL), "src");
	}
	json_decref(vmi);
	fx_close(&f);
}

static void test_source_silent_precopy(void **state) { (void)state; source_silent(false); }
static void test_source_silent_postcopy(void **state) { (void)state; source_silent(true); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_limits, fx_teardown),
		cmocka_unit_test_teardown(test_priorities, fx_teardown),
		cmocka_unit_test_teardown(test_abort_pending, fx_teardown),
		cmocka_unit_test_teardown(test_abort_scheduling, fx_teardown),
		cmocka_unit_test_teardown(test_abort_scheduled, fx_teardown),
		cmocka_unit_test_teardown(test_abort_preparing, fx_teardown),
		cmocka_unit_test_teardown(test_abort_target_ready, fx_teardown),
		cmocka_unit_test_teardown(test_abort_running, fx_teardown),
		cmocka_unit_test_teardown(test_abort_too_late, fx_teardown),
		cmocka_unit_test_teardown(test_unschedulable_timeout_annotation, fx_teardown),
		cmocka_unit_test_teardown(test_pending_timeout_annotation, fx_teardown),
		cmocka_unit_test_teardown(test_unschedulable_timeout_default_clock, fx_teardown),
		cmocka_unit_test_teardown(test_in_flight_guard, fx_teardown),
		cmocka_unit_test_teardown(test_evacuation_backoff, fx_teardown),
		cmocka_unit_test_teardown(test_restart_resumes, fx_teardown),
		cmocka_unit_test_teardown(test_source_silent_precopy, fx_teardown),
		cmocka_unit_test_teardown(test_source_silent_postcopy, fx_teardown),
	};
	if (getenv("CTL_TEST"))
		cmocka_set_test_filter(getenv("CTL_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
