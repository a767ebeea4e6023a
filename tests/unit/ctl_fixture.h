/* SPDX-License-Identifier: Apache-2.0 */
/* Controller tests and the controller bench: a real SQLite store in a
 * temporary directory, object builders, an injectable clock, a monitor
 * that replays every migration event (concurrency, order, phases), and a
 * test "agent".
 *
 * The agent is a STAND-IN for the node agent of the next issue: a thread
 * that plays the agent's side of the hand-off protocol (docs/controllers.md)
 * through the store only, as the real agent will through the API: the
 * target's targetNodeAddress, the source's startTimestamp, then completed
 * (and status.nodeName = target) or, on abortRequested, abortStatus
 * Succeeded + failed. It can hold migrations at a stage to let tests act
 * in each phase. Uses no cmocka: aborts on setup failure. */
#ifndef GODWIT_TEST_CTL_FIXTURE_H
#define GODWIT_TEST_CTL_FIXTURE_H

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "godwit/ctl.h"
#include "godwit/store.h"

#define FX_DIE(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

enum agent_stage {
	AGENT_COMPLETE = 0,   /* play the whole protocol at once */
	AGENT_HOLD_PREPARING, /* never publish targetNodeAddress */
	AGENT_HOLD_TARGET_READY, /* publish the address, never start */
	AGENT_HOLD_RUNNING,   /* start, never complete */
};

struct fx_agent {
	pthread_t thread;
	bool running;
	struct gw_store_watch *watch;  /* opened by fx_monitor_start, read by the thread */
	pthread_mutex_t lock;      /* guards everything below */
	bool stop;
	enum agent_stage hold;
	bool fail_migrations;      /* report failure instead of completing */
	char released[64][64];     /* VMIs allowed to finish despite hold */
	size_t n_released;
	long completed, aborted, failed;
	int sweep_ms;              /* 0 = 100; set before fx_agent_start */
};

struct fx_monitor {
	pthread_t thread;
	bool running;
	struct gw_store_watch *watch;  /* opened by fx_monitor_start, read by the thread */
	pthread_mutex_t lock;      /* guards everything below */
	bool stop;
	size_t n;                  /* migrations seen */
	char (*name)[80];
	char (*phase)[24];
	char (*source)[64];
	json_t **last;             /* last state seen (also after deletion) */
	size_t cap;
	int in_flight, max_in_flight;
	int max_per_source;        /* max outbound from one node */
	char order[2048][80];      /* migrations in the order they entered Scheduling */
	size_t n_order;
	int bad_transitions;       /* a phase sequence the state machine forbids */
};

struct fx {
	char *dir;
	char *path;
	struct gw_store *store;
	struct gw_ctl *ctl;
	bool fake_clock;
	pthread_mutex_t clock_lock;
	int64_t clock_ms;
	struct fx_agent agent;
	struct fx_monitor mon;
	int resync_ms;
};

static inline int64_t fx_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t fx_clock(void *p)
{
	struct fx *f = p;
	pthread_mutex_lock(&f->clock_lock);
	int64_t v = f->clock_ms;
	pthread_mutex_unlock(&f->clock_lock);
	return v;
}

static inline int64_t fx_now(struct fx *f)
{
	return f->fake_clock ? fx_clock(f) : fx_real_ms();
}

static inline void fx_advance(struct fx *f, int64_t ms)
{
	pthread_mutex_lock(&f->clock_lock);
	f->clock_ms += ms;
	pthread_mutex_unlock(&f->clock_lock);
	gw_ctl_kick(f->ctl);
}

static inline void fx_time(int64_t ms, char out[40])
{
	gw_time_format(ms, out);
}

/* The fixture open now, closed by fx_teardown when a failed assertion
 * left the test early (tests keep their struct fx static for this). */
static struct fx *fx_current;

static inline void fx_open(struct fx *f, bool fake_clock)
{
	memset(f, 0, sizeof(*f));
	fx_current = f;
	const char *base = getenv("TMPDIR");
	f->dir = gw_asprintf("%s/godwit-ctl-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(f->dir))
		FX_DIE("mkdtemp failed");
	f->path = gw_asprintf("sqlite:%s/store.db", f->dir);
	struct gw_err *err = NULL;
	if (gw_store_open(f->path, NULL, &f->store, &err) < 0)
		FX_DIE("store: %s", gw_err_msg(err));
	f->fake_clock = fake_clock;
	pthread_mutex_init(&f->clock_lock, NULL);
	f->clock_ms = 1800000000000LL;   /* 2027-01-15, far from the real clock */
	f->resync_ms = 50;
	pthread_mutex_init(&f->agent.lock, NULL);
	pthread_mutex_init(&f->mon.lock, NULL);
}

static inline void fx_log(void *ctx, enum gw_ctl_log_level level, const char *msg)
{
	(void)ctx;
	if (level >= GW_CTL_LOG_WARN || getenv("GODWIT_CTL_DEBUG"))
		fprintf(stderr, "# ctl: %s\n", msg);
}

static inline void fx_start(struct fx *f, unsigned controllers)
{
	struct gw_ctl_options o = {
		.resync_ms = f->resync_ms,
		.controllers = controllers,
		.node_heartbeat_timeout_s = 300,
		.log = fx_log,
	};
	if (f->fake_clock) {
		o.now_ms = fx_clock;
		o.clock_ctx = f;
	}
	struct gw_err *err = NULL;
	if (gw_ctl_start(f->store, &o, &f->ctl, &err) < 0)
		FX_DIE("ctl: %s", gw_err_msg(err));
}

static inline void fx_stop_ctl(struct fx *f)
{
	gw_ctl_stop(f->ctl);
	f->ctl = NULL;
}

static int fx_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

/* ---- objects --------------------------------------------------------------------- */
static inline void fx_create(struct fx *f, const char *kind, json_t *obj /* stolen */)
{
	struct gw_err *err = NULL;
	if (gw_store_create(f->store, kind, obj, NULL, &err) < 0)
		FX_DIE("create %s: %s", kind, gw_err_msg(err));
	json_decref(obj);
}

static inline json_t *fx_get(struct fx *f, const char *kind, const char *ns, const char *name)
{
	json_t *o = NULL;
	struct gw_err *err = NULL;
	if (gw_store_get(f->store, kind, ns, name, &o, &err) < 0) {
		gw_err_free(err);
		return NULL;
	}
	return o;
}

/* Read-modify-write with retry on conflict. */
static inline void fx_modify(struct fx *f, const char *kind, const char *ns, const char *name,
			     void (*edit)(json_t *obj, void *arg), void *arg)
{
	for (int i = 0; i < 1000; i++) {
		json_t *o = fx_get(f, kind, ns, name);
		if (!o)
			FX_DIE("modify %s %s: gone", kind, name);
		edit(o, arg);
		struct gw_err *err = NULL;
		int r = gw_store_update(f->store, kind, o, NULL, &err);
		json_decref(o);
		gw_err_free(err);
		if (r == 0)
			return;
		if (r != -EBUSY)
			FX_DIE("modify %s %s: %d", kind, name, r);
	}
	FX_DIE("modify %s %s: too many conflicts", kind, name);
}

static inline void fx_node(struct fx *f, const char *name, const char *cpu, const char *memory)
{
	fx_create(f, "nodes",
		  json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}}, s:{}, s:{s:{s:s, s:s}}}", "apiVersion", "v1", "kind",
			    "Node", "metadata", "name", name, "labels", "kubevirt.io/schedulable", "true",
			    "kubernetes.io/arch", "amd64", "machine-type.node.kubevirt.io/q35", "true", "spec", "status",
			    "allocatable", "cpu", cpu, "memory", memory));
}

/* A Running VMI on node (no status when node is NULL). */
static inline json_t *fx_vmi_doc(const char *name, const char *node, const char *memory, const char *eviction)
{
	json_t *v = json_pack("{s:s, s:s, s:{s:s, s:s, s:{}}, s:{s:{s:{s:s}, s:{s:{s:s}}, s:{}}}}", "apiVersion",
			      "kubevirt.io/v1", "kind", "VirtualMachineInstance", "metadata", "name", name,
			      "namespace", "default", "labels", "spec", "domain", "cpu", "model", "host-passthrough",
			      "resources", "requests", "memory", memory, "devices");
	if (eviction)
		json_object_set_new(json_object_get(v, "spec"), "evictionStrategy", json_string(eviction));
	if (node)
		json_object_set_new(v, "status", json_pack("{s:s, s:s}", "phase", "Running", "nodeName", node));
	return v;
}

static inline void fx_vmi(struct fx *f, const char *name, const char *node)
{
	fx_create(f, "virtualmachineinstances", fx_vmi_doc(name, node, "1Gi", NULL));
}

static inline void fx_kubevirt(struct fx *f, int per_cluster, int per_node)
{
	fx_create(f, "kubevirts",
		  json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:{s:i, s:i}}}}", "apiVersion", "kubevirt.io/v1", "kind",
			    "KubeVirt", "metadata", "name", "kubevirt", "namespace", "kubevirt", "spec", "configuration",
			    "migrations", "parallelMigrationsPerCluster", per_cluster, "parallelOutboundMigrationsPerNode",
			    per_node));
}

static inline json_t *fx_vmim_doc(const char *name, const char *vmi, const char *priority)
{
	json_t *m = json_pack("{s:s, s:s, s:{s:s, s:s, s:{}}, s:{s:s}}", "apiVersion", "kubevirt.io/v1", "kind",
			      "VirtualMachineInstanceMigration", "metadata", "name", name, "namespace", "default",
			      "annotations", "spec", "vmiName", vmi);
	if (priority)
		json_object_set_new(json_object_get(m, "spec"), "priority", json_string(priority));
	return m;
}

static inline void fx_vmim(struct fx *f, const char *name, const char *vmi, const char *priority)
{
	fx_create(f, "virtualmachineinstancemigrations", fx_vmim_doc(name, vmi, priority));
}

static inline void fx_set_deletion(json_t *o, void *arg)
{
	(void)arg;
	char ts[40];
	fx_time(fx_real_ms(), ts);
	json_object_set_new(json_object_get(o, "metadata"), "deletionTimestamp", json_string(ts));
}

/* The server's DELETE: with finalizers, mark; without, delete. */
static inline void fx_delete(struct fx *f, const char *kind, const char *ns, const char *name)
{
	json_t *o = fx_get(f, kind, ns, name);
	if (!o)
		return;
	size_t nf = json_array_size(json_object_get(json_object_get(o, "metadata"), "finalizers"));
	json_decref(o);
	if (nf) {
		fx_modify(f, kind, ns, name, fx_set_deletion, NULL);
		return;
	}
	struct gw_err *err = NULL;
	gw_store_delete(f->store, kind, ns, name, 0, NULL, &err);
	gw_err_free(err);
}

static inline const char *fx_s(const json_t *o, const char *a, const char *b, const char *c)
{
	const json_t *x = json_object_get(o, a);
	if (b)
		x = json_object_get(x, b);
	if (c)
		x = json_object_get(x, c);
	return json_string_value(x);
}

/* Phase of a migration now ("" without one, "<gone>" when deleted). Static buffer per call site is
 * not thread-safe: tests call it from the test thread only. */
static inline const char *fx_phase(struct fx *f, const char *name)
{
	static char buf[64];
	json_t *o = fx_get(f, "virtualmachineinstancemigrations", "default", name);
	if (!o)
		return "<gone>";
	const char *p = fx_s(o, "status", "phase", NULL);
	snprintf(buf, sizeof(buf), "%s", p ? p : "");
	json_decref(o);
	return buf;
}

/* Waits up to timeout_ms for cond(f, arg). */
static inline bool fx_wait(struct fx *f, bool (*cond)(struct fx *f, void *arg), void *arg, int timeout_ms)
{
	int64_t end = fx_real_ms() + timeout_ms;
	while (fx_real_ms() < end) {
		if (cond(f, arg))
			return true;
		usleep(5000);
	}
	return cond(f, arg);
}

struct fx_phase_want {
	const char *name;
	const char *phase;
};

static inline bool fx_phase_is(struct fx *f, void *arg)
{
	struct fx_phase_want *w = arg;
	return strcmp(fx_phase(f, w->name), w->phase) == 0;
}

static inline bool fx_wait_phase(struct fx *f, const char *name, const char *phase, int timeout_ms)
{
	struct fx_phase_want w = {name, phase};
	return fx_wait(f, fx_phase_is, &w, timeout_ms);
}

/* ---- the monitor -------------------------------------------------------------------- */
static const char *const fx_phases[] = {"", "Pending", "Scheduling", "Scheduled", "PreparingTarget",
					 "TargetReady", "Running", "Succeeded", "Failed"};

static inline int fx_phase_idx(const char *p)
{
	for (size_t i = 0; i < sizeof(fx_phases) / sizeof(fx_phases[0]); i++)
		if (strcmp(fx_phases[i], p ? p : "") == 0)
			return (int)i;
	return -1;
}

static inline bool fx_in_flight(const char *p)
{
	int i = fx_phase_idx(p);
	return i >= 2 && i <= 6;
}

static inline int fx_source_count(struct fx_monitor *m, const char *src)
{
	int n = 0;
	for (size_t i = 0; i < m->n; i++)
		if (fx_in_flight(m->phase[i]) && strcmp(m->source[i], src) == 0)
			n++;
	return n;
}

static inline void fx_monitor_event(struct fx_monitor *m, const struct gw_store_event *ev)
{
	const char *name = fx_s(ev->object, "metadata", "name", NULL);
	const char *phase = fx_s(ev->object, "status", "phase", NULL);
	const char *src = fx_s(ev->object, "status", "sourceNode", NULL);
	size_t i;
	for (i = 0; i < m->n; i++)
		if (strcmp(m->name[i], name) == 0)
			break;
	if (i == m->n) {
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 64;
			m->name = gw_realloc(m->name, m->cap * sizeof(*m->name));
			m->phase = gw_realloc(m->phase, m->cap * sizeof(*m->phase));
			m->source = gw_realloc(m->source, m->cap * sizeof(*m->source));
			m->last = gw_realloc(m->last, m->cap * sizeof(*m->last));
		}
		snprintf(m->name[i], 80, "%s", name);
		m->phase[i][0] = 0;
		m->source[i][0] = 0;
		m->last[i] = NULL;
		m->n++;
	}
	if (ev->type == GW_STORE_DELETED) {
		if (fx_in_flight(m->phase[i]))
			m->in_flight--;
		snprintf(m->phase[i], 24, "<gone>");
		return;
	}
	json_decref(m->last[i]);
	m->last[i] = json_incref(ev->object);
	const char *old = m->phase[i];
	int from = fx_phase_idx(old), to = fx_phase_idx(phase);
	if (getenv("GODWIT_CTL_DEBUG"))
		fprintf(stderr, "# monitor: rv %lld %s %s -> %s (in flight %d)\n", (long long)ev->rv, name, old,
			phase ? phase : "", m->in_flight);
	if (from != to) {
		/* Allowed: the next phase (possibly several recorded at once:
		 * each in phaseTransitionTimestamps) or Failed. */
		if (to < from || from < 0 || to < 0)
			m->bad_transitions++;
		if (!fx_in_flight(old) && fx_in_flight(phase))
			m->in_flight++;
		if (fx_in_flight(old) && !fx_in_flight(phase))
			m->in_flight--;
		if (to == 2 || (from < 2 && to > 2 && to != 8)) {
			if (m->n_order < 2048)
				snprintf(m->order[m->n_order++], 80, "%s", name);
		}
		snprintf(m->phase[i], 24, "%s", phase ? phase : "");
		if (src)
			snprintf(m->source[i], 64, "%s", src);
		if (m->in_flight > m->max_in_flight)
			m->max_in_flight = m->in_flight;
		if (src && fx_in_flight(phase)) {
			int c = fx_source_count(m, src);
			if (c > m->max_per_source)
				m->max_per_source = c;
		}
	}
}

static void *fx_monitor_main(void *p)
{
	struct fx *f = p;
	struct fx_monitor *m = &f->mon;
	struct gw_store_watch *w = m->watch;
	struct gw_err *err = NULL;
	for (;;) {
		pthread_mutex_lock(&m->lock);
		bool stop = m->stop;
		pthread_mutex_unlock(&m->lock);
		struct gw_store_event ev = {0};
		int r = gw_store_watch_next(w, stop ? 0 : 50, &ev, &err);
		if (r == -ETIMEDOUT) {
			gw_err_free(err);
			err = NULL;
			if (stop)
				break;
			continue;
		}
		if (r < 0)
			FX_DIE("monitor: %s", gw_err_msg(err));
		pthread_mutex_lock(&m->lock);
		fx_monitor_event(m, &ev);
		pthread_mutex_unlock(&m->lock);
		gw_store_event_fini(&ev);
	}
	gw_store_watch_free(w);
	return NULL;
}

/* The watch starts here, before the caller goes on: a thread that opened
 * it itself could miss what the controllers do first (under load it saw
 * nothing of a migration failed and deleted in the first pass). */
static inline void fx_monitor_start(struct fx *f)
{
	struct gw_err *err = NULL;
	int64_t rv = 0;
	if (gw_store_current_rv(f->store, &rv, &err) < 0 ||
	    gw_store_watch(f->store, "virtualmachineinstancemigrations", NULL, rv, &f->mon.watch, &err) < 0)
		FX_DIE("monitor watch: %s", gw_err_msg(err));
	f->mon.running = pthread_create(&f->mon.thread, NULL, fx_monitor_main, f) == 0;
	if (!f->mon.running)
		FX_DIE("monitor thread");
	if (f->mon.running)
		pthread_setname_np(f->mon.thread, "test-monitor");
}

/* Stops after replaying everything up to now. */
static inline void fx_monitor_stop(struct fx *f)
{
	if (!f->mon.running)
		return;
	usleep(100 * 1000);
	pthread_mutex_lock(&f->mon.lock);
	f->mon.stop = true;
	pthread_mutex_unlock(&f->mon.lock);
	pthread_join(f->mon.thread, NULL);
	f->mon.running = false;
}

/* Last state the monitor saw of a migration (borrowed), also after deletion. */
static inline json_t *fx_monitor_last(struct fx *f, const char *name)
{
	for (size_t i = 0; i < f->mon.n; i++)
		if (strcmp(f->mon.name[i], name) == 0)
			return f->mon.last[i];
	return NULL;
}

/* ---- the test agent (stand-in for the node agent) --------------------------------------- */
static inline bool fx_agent_released(struct fx_agent *a, const char *vmi)
{
	for (size_t i = 0; i < a->n_released; i++)
		if (strcmp(a->released[i], vmi) == 0)
			return true;
	return false;
}

static inline void fx_agent_release(struct fx *f, const char *vmi)
{
	pthread_mutex_lock(&f->agent.lock);
	if (f->agent.n_released < 64)
		snprintf(f->agent.released[f->agent.n_released++], 64, "%s", vmi);
	pthread_mutex_unlock(&f->agent.lock);
}

static inline void fx_agent_set_hold(struct fx *f, enum agent_stage hold)
{
	pthread_mutex_lock(&f->agent.lock);
	f->agent.hold = hold;
	pthread_mutex_unlock(&f->agent.lock);
}

/* What one play ended, counted once its write is stored. */
struct fx_play_end {
	bool completed, failed, aborted;
};

/* One VMI: advance its migrationState as far as the agent may. Returns
 * true when it changed the document; *end says whether that ends it. */
static inline bool fx_agent_play(struct fx *f, json_t *vmi, struct fx_play_end *end)
{
	struct fx_agent *a = &f->agent;
	json_t *st = json_object_get(vmi, "status");
	json_t *ms = json_object_get(st, "migrationState");
	if (!json_is_object(ms) || json_is_true(json_object_get(ms, "completed")) ||
	    !json_string_value(json_object_get(ms, "targetNode")))
		return false;
	const char *name = fx_s(vmi, "metadata", "name", NULL);
	pthread_mutex_lock(&a->lock);
	enum agent_stage hold = fx_agent_released(a, name) ? AGENT_COMPLETE : a->hold;
	bool fail = a->fail_migrations;
	pthread_mutex_unlock(&a->lock);
	char ts[40];
	fx_time(fx_now(f), ts);
	bool changed = false;
	bool started = json_string_value(json_object_get(ms, "startTimestamp")) != NULL;
	if (json_is_true(json_object_get(ms, "abortRequested"))) {
		/* Source agent: cancel the job; the VM stays on the source. */
		json_object_set_new(ms, "abortStatus", json_string("Succeeded"));
		json_object_set_new(ms, "completed", json_true());
		json_object_set_new(ms, "failed", json_true());
		json_object_set_new(ms, "failureReason", json_string("Live migration has been aborted"));
		json_object_set_new(ms, "endTimestamp", json_string(ts));
		end->aborted = true;
		return true;
	}
	if (hold == AGENT_HOLD_PREPARING)
		return false;
	if (!json_string_value(json_object_get(ms, "targetNodeAddress"))) {
		/* Target agent: QEMU -incoming is listening. */
		json_object_set_new(ms, "targetNodeAddress", json_string("192.0.2.10"));
		changed = true;
	}
	if (hold == AGENT_HOLD_TARGET_READY)
		return changed;
	if (!started) {
		json_object_set_new(ms, "startTimestamp", json_string(ts));
		json_object_set_new(ms, "mode", json_string("PreCopy"));
		changed = true;
	}
	if (hold == AGENT_HOLD_RUNNING)
		return changed;
	json_object_set_new(ms, "completed", json_true());
	json_object_set_new(ms, "endTimestamp", json_string(ts));
	if (fail) {
		json_object_set_new(ms, "failed", json_true());
		json_object_set_new(ms, "failureReason", json_string("test agent: migration failed"));
		end->failed = true;
	} else {
		json_object_set(st, "nodeName", json_object_get(ms, "targetNode"));
		json_object_del(st, "evacuationNodeName");   /* arrived (6.2) */
		end->completed = true;
	}
	return true;
}

/* vmi is borrowed, read-only (list items are shared with the store's cache). */
static inline void fx_agent_write(struct fx *f, const json_t *shared)
{
	json_t *vmi = json_deep_copy(shared);
	struct fx_play_end end = {0};
	if (!fx_agent_play(f, vmi, &end)) {
		json_decref(vmi);
		return;
	}
	struct gw_err *err = NULL;
	/* A conflict: the newer version comes as an event, or the next sweep,
	 * which plays it again; only a stored end counts. */
	if (gw_store_update(f->store, "virtualmachineinstances", vmi, NULL, &err) == 0) {
		struct fx_agent *a = &f->agent;
		pthread_mutex_lock(&a->lock);
		a->completed += end.completed;
		a->failed += end.failed;
		a->aborted += end.aborted;
		pthread_mutex_unlock(&a->lock);
	}
	gw_err_free(err);
	json_decref(vmi);
}

/* Driven by a watch of the VMIs, as the real agent will be, with a sweep
 * every 100 ms (holds released by the test change nothing in the store). */
static void *fx_agent_main(void *p)
{
	struct fx *f = p;
	struct fx_agent *a = &f->agent;
	struct gw_store_watch *w = NULL;
	struct gw_err *err = NULL;
	int64_t rv = 0, last_sweep = 0;
	if (gw_store_current_rv(f->store, &rv, &err) < 0 ||
	    gw_store_watch(f->store, "virtualmachineinstances", NULL, rv, &w, &err) < 0)
		FX_DIE("agent watch: %s", gw_err_msg(err));
	for (;;) {
		pthread_mutex_lock(&a->lock);
		bool stop = a->stop;
		pthread_mutex_unlock(&a->lock);
		if (stop)
			break;
		if (fx_real_ms() - last_sweep >= (a->sweep_ms ? a->sweep_ms : 100)) {
			json_t *items = NULL;
			if (gw_store_list(f->store, "virtualmachineinstances", NULL, NULL, &items, NULL, &err) < 0)
				FX_DIE("agent list: %s", gw_err_msg(err));
			size_t i;
			json_t *vmi;
			json_array_foreach(items, i, vmi)
				fx_agent_write(f, vmi);
			json_decref(items);
			last_sweep = fx_real_ms();
		}
		struct gw_store_event ev = {0};
		int r = gw_store_watch_next(w, 20, &ev, &err);
		if (r == -ETIMEDOUT) {
			gw_err_free(err);
			err = NULL;
			continue;
		}
		if (r < 0)
			FX_DIE("agent watch: %s", gw_err_msg(err));
		if (ev.type != GW_STORE_DELETED)
			fx_agent_write(f, ev.object);
		gw_store_event_fini(&ev);
	}
	gw_store_watch_free(w);
	return NULL;
}

static inline void fx_agent_start(struct fx *f, enum agent_stage hold)
{
	f->agent.hold = hold;
	f->agent.running = pthread_create(&f->agent.thread, NULL, fx_agent_main, f) == 0;
	if (f->agent.running)
		pthread_setname_np(f->agent.thread, "test-agent");
}

static inline void fx_agent_stop(struct fx *f)
{
	if (!f->agent.running)
		return;
	pthread_mutex_lock(&f->agent.lock);
	f->agent.stop = true;
	pthread_mutex_unlock(&f->agent.lock);
	pthread_join(f->agent.thread, NULL);
	f->agent.running = false;
	f->agent.stop = false;
}

static inline void fx_close(struct fx *f)
{
	fx_agent_stop(f);
	if (f->ctl)
		fx_stop_ctl(f);
	fx_monitor_stop(f);
	for (size_t i = 0; i < f->mon.n; i++)
		json_decref(f->mon.last[i]);
	free(f->mon.name);
	free(f->mon.phase);
	free(f->mon.source);
	free(f->mon.last);
	gw_store_close(f->store);
	nftw(f->dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f->path);
	fx_current = NULL;
}

/* cmocka teardown: threads stopped, store closed, files removed, even
 * after a failure. */
static inline int fx_teardown(void **state)
{
	(void)state;
	if (fx_current)
		fx_close(fx_current);
	return 0;
}

#endif
