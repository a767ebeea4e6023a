/* SPDX-License-Identifier: Apache-2.0 */
/* The migration controller: VirtualMachineInstanceMigration phases
 * (kubevirt-behaviour.md 6.2), the parallel limits and the priority queue
 * (4.2), target choice (Godwit has no target pod: the target is a node,
 * recorded in status.targetNode and the VMI's migrationState), timeouts
 * (6.5), abort (6.4), the in-flight guard (6.6) and evacuation backoff
 * (6.6). docs/controllers.md has the hand-off protocol with the agents. */
#include <string.h>

#include "internal.h"

#define ANN_UNSCHEDULABLE_TIMEOUT "kubevirt.io/migrationUnschedulablePodTimeoutSeconds"
#define ANN_PENDING_TIMEOUT "kubevirt.io/migrationPendingPodTimeoutSeconds"
#define ANN_EVACUATION "kubevirt.io/evacuationMigration"
#define ANN_WORKLOAD_UPDATE "kubevirt.io/workloadUpdateMigration"
#define ANN_IGNORE_BACKOFF "kubevirt.io/func-test-ignore-migration-backoff"
#define DEFAULT_UNSCHEDULABLE_TIMEOUT_S 300
#define DEFAULT_PENDING_TIMEOUT_S 900
#define BACKOFF_INITIAL_MS 20000

/* ---- the state machine: the one place a phase changes ----------------------------- */
static const char *const phases[] = {
	"", "Pending", "Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running", "Succeeded", "Failed",
};

static int phase_index(const char *p)
{
	for (size_t i = 0; i < GW_ARRAY_SIZE(phases); i++)
		if (strcmp(phases[i], p ? p : "") == 0)
			return (int)i;
	return -1;
}

/* KubeVirt 6.2: each phase moves to the next one, any non-final one to
 * Failed. Records {phase, phaseTransitionTimestamp}. */
static bool transition(struct gw_ctl *ctl, json_t *doc, const char *to, int64_t now)
{
	_cleanup_free_ char *from = gw_strdup(ctl_str(doc, "status.phase") ?: "");
	int f = phase_index(from), t = phase_index(to);
	bool ok = f >= 0 && t >= 0 && !ctl_phase_final(from) && (t == f + 1 || strcmp(to, "Failed") == 0);
	if (!ok) {
		ctl_log(ctl, GW_CTL_LOG_ERROR, "migration %s: refused transition %s -> %s", ctl_str(doc, "metadata.name"),
			*from ? from : "\"\"", to);
		return false;
	}
	ctl_record_phase(doc, to, now);
	ctl_log(ctl, GW_CTL_LOG_INFO, "migration %s/%s: %s -> %s", ctl_str(doc, "metadata.namespace"),
		ctl_str(doc, "metadata.name"), *from ? from : "\"\"", to);
	return true;
}

static bool in_flight_phase(const char *p)
{
	int i = phase_index(p);
	return i >= 2 && i <= 6;   /* Scheduling .. Running (4.2 step 3) */
}

static int priority_value(const char *p)
{
	if (!p)
		return 0;
	if (strcmp(p, "system-critical") == 0)
		return 100;
	if (strcmp(p, "user-triggered") == 0)
		return 50;
	if (strcmp(p, "system-maintenance") == 0)
		return 20;
	return 0;
}

static int64_t annotation_seconds(const struct gw_vmim *m, const char *key, int64_t dflt)
{
	const char *v = gw_map_get(&m->meta.annotations, key);
	if (!v)
		return dflt;
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	return (end && !*end && n >= 0) ? n : dflt;
}

/* ---- one pass ----------------------------------------------------------------------- */
struct pass {
	struct gw_ctl *ctl;
	const struct gw_cluster *c;
	int64_t now;
	int64_t next_ms;           /* earliest deadline, relative; -1 none */
	struct ctl_capacity cap;
	json_t **docs;             /* working copies, index = c->vmims */
	bool *changed;
	bool *gone;                /* deleted this pass */
	bool *admitted;            /* Pending -> Scheduling this pass */
};

static void want_again(struct pass *p, int64_t at_ms)
{
	int64_t rel = at_ms - p->now;
	if (rel < 1)
		rel = 1;
	if (p->next_ms < 0 || rel < p->next_ms)
		p->next_ms = rel;
}

/* Writes VMIM i now (CAS) and keeps the stored version as the working
 * copy, so a later write in the same pass builds on it. */
static int write_doc(struct pass *p, size_t i)
{
	json_t *updated = NULL;
	_cleanup_err_ struct gw_err *err = NULL;
	int r = gw_store_update(p->ctl->store, KIND_VMIMS, p->docs[i], &updated, &err);
	if (r == 0) {
		json_decref(p->docs[i]);
		p->docs[i] = json_deep_copy(updated);   /* stored objects may be shared */
		json_decref(updated);
		p->changed[i] = false;
	} else if (r != -EBUSY && r != -ENOENT) {
		ctl_log(p->ctl, GW_CTL_LOG_WARN, "update migration %s: %s", ctl_str(p->docs[i], "metadata.name"),
			gw_err_msg(err));
	}
	return r;
}

static json_t *vmi_state(const struct gw_vmi *vmi)
{
	return vmi ? json_object_get(json_object_get(vmi->doc, "status"), "migrationState") : NULL;
}

static bool state_is_mine(const struct gw_vmi *vmi, const char *uid)
{
	const char *u = ctl_str(vmi_state(vmi), "migrationUid");
	return u && uid && strcmp(u, uid) == 0;
}

/* Writes the VMI with a change to its migrationState (CAS on the snapshot's
 * version); the snapshot keeps the old document, so one VMI is written at
 * most once per pass (a second write would conflict anyway). */
static int write_vmi_state(struct pass *p, const struct gw_vmi *vmi, void (*edit)(json_t *vmi_doc, void *), void *arg)
{
	_cleanup_json_ json_t *doc = json_deep_copy(vmi->doc);
	edit(doc, arg);
	return ctl_update(p->ctl, KIND_VMIS, doc);
}

struct handoff {
	const char *uid, *source, *target, *policy;
	json_t *config;
	int64_t now;
};

static void edit_handoff(json_t *doc, void *a)
{
	struct handoff *h = a;
	json_t *st = ctl_obj(doc, "status");
	json_t *ms = json_pack("{s:s, s:s, s:s}", "migrationUid", h->uid, "sourceNode", h->source, "targetNode", h->target);
	if (h->policy)
		json_object_set_new(ms, "migrationPolicyName", json_string(h->policy));
	if (h->config)
		json_object_set(ms, "migrationConfiguration", h->config);
	json_object_set_new(st, "migrationState", ms);
	json_object_set_new(ctl_obj(ctl_obj(doc, "metadata"), "labels"), "kubevirt.io/migrationTargetNodeName",
			    json_string(h->target));
}

static void edit_abort(json_t *doc, void *a)
{
	(void)a;
	json_object_set_new(ctl_obj(ctl_obj(doc, "status"), "migrationState"), "abortRequested", json_true());
}

struct failure {
	const char *reason;
	int64_t now;
};

/* Before the agents took over (or when they never did): the controller
 * closes the migrationState itself (6.3: a failed migration always has
 * completed and failed true). */
static void edit_fail_state(json_t *doc, void *a)
{
	struct failure *f = a;
	json_t *ms = ctl_obj(ctl_obj(doc, "status"), "migrationState");
	char ts[40];
	gw_time_format(f->now, ts);
	json_object_set_new(ms, "completed", json_true());
	json_object_set_new(ms, "failed", json_true());
	json_object_set_new(ms, "failureReason", json_string(f->reason));
	if (!json_object_get(ms, "endTimestamp"))
		json_object_set_new(ms, "endTimestamp", json_string(ts));
	json_object_del(json_object_get(doc, "metadata") ? json_object_get(json_object_get(doc, "metadata"), "labels")
							   : NULL,
			"kubevirt.io/migrationTargetNodeName");
}

/* After hand-off the source's agent drives the migration. When it falls
 * silent (its node lapsed: no heartbeat within the timeout) nobody does,
 * and the migration would stay Running for ever. It is closed as failed
 * when the VM's whole state is still on the source: not started yet, or
 * started without post-copy allowed (a pre-copy guest runs on, or waits
 * paused, at the source; the target QEMU runs only when the source's agent
 * says completed, so the target agent may drop it). A post-copy migration
 * splits the memory between the two QEMUs: only the source's agent can
 * finish it, so it is left for that agent to adopt when it comes back. */
static bool source_silent(const struct gw_cluster *c, const json_t *ms)
{
	const char *source = ctl_str(ms, "sourceNode");
	const struct gw_node *n = source ? gw_cluster_node(c, source) : NULL;
	if (!n || !gw_map_get(&n->meta.annotations, ANN_LAPSED) || ctl_bool(ms, "completed"))
		return false;
	return !ctl_str(ms, "startTimestamp") || !ctl_bool(ms, "migrationConfiguration.allowPostCopy");
}

static void copy_state(json_t *doc, const struct gw_vmi *vmi)
{
	const char *uid = ctl_str(doc, "metadata.uid");
	if (vmi && state_is_mine(vmi, uid))
		json_object_set_new(ctl_obj(doc, "status"), "migrationState", json_deep_copy(vmi_state(vmi)));
}

static void fail(struct pass *p, json_t *doc, const struct gw_vmi *vmi, const char *reason, const char *message)
{
	if (!transition(p->ctl, doc, "Failed", p->now))
		return;
	ctl_set_condition(doc, "Failed", "True", reason, message, p->now);
	copy_state(doc, vmi);
}

/* The last finalizer goes: the object goes (the server's rule for API
 * writes; the controllers write the store directly, so they apply it). */
static void finalize(struct pass *p, size_t i)
{
	json_t *doc = p->docs[i];
	json_t *fins = json_object_get(json_object_get(doc, "metadata"), "finalizers");
	size_t j;
	json_t *f;
	size_t others = 0;
	json_array_foreach(fins, j, f)
		if (strcmp(json_string_value(f) ?: "", MIGRATION_FINALIZER) != 0)
			others++;
	if (p->changed[i]) {
		/* Record the final phase first; the next pass removes the finalizer. */
		return;
	}
	if (others == 0) {
		_cleanup_err_ struct gw_err *err = NULL;
		int64_t rv = json_integer_value(json_object_get(json_object_get(doc, "metadata"), "resourceVersion"));
		const char *rvs = ctl_str(doc, "metadata.resourceVersion");
		if (rvs)
			rv = strtoll(rvs, NULL, 10);
		int r = gw_store_delete(p->ctl->store, KIND_VMIMS, ctl_str(doc, "metadata.namespace"),
					ctl_str(doc, "metadata.name"), rv, NULL, &err);
		if (r == 0)
			p->gone[i] = true;
		return;
	}
	for (j = 0; j < json_array_size(fins); j++)
		if (strcmp(json_string_value(json_array_get(fins, j)) ?: "", MIGRATION_FINALIZER) == 0) {
			json_array_remove(fins, j);
			p->changed[i] = true;
			break;
		}
}

static bool another_in_flight(struct pass *p, size_t self, const struct gw_vmim *m)
{
	for (size_t i = 0; i < p->c->n_vmims; i++) {
		const struct gw_vmim *o = p->c->vmims[i];
		if (i == self || strcmp(o->vmi_name ? o->vmi_name : "", m->vmi_name ? m->vmi_name : "") != 0 ||
		    strcmp(o->meta.namespace ? o->meta.namespace : "", m->meta.namespace ? m->meta.namespace : "") != 0)
			continue;
		const char *ph = ctl_str(p->docs[i], "status.phase");
		if (ph && *ph && !ctl_phase_final(ph))
			return true;
	}
	return false;
}

static const struct gw_vmim *vmim_by_uid(const struct gw_cluster *c, const char *uid)
{
	for (size_t i = 0; uid && i < c->n_vmims; i++)
		if (c->vmims[i]->meta.uid && strcmp(c->vmims[i]->meta.uid, uid) == 0)
			return c->vmims[i];
	return NULL;
}

static void add_string(json_t *parent, const char *key, const char *value)
{
	json_t *a = json_object_get(parent, key);
	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(parent, key, a);
	}
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (strcmp(json_string_value(v) ?: "", value) == 0)
			return;
	json_array_append_new(a, json_string(value));
}

/* Scheduling: the target among eligible nodes with capacity, or a
 * condition saying why none, until a timeout (6.5). */
static bool try_schedule(struct pass *p, json_t *doc, const struct gw_vmim *m, const struct gw_vmi *vmi)
{
	const struct gw_cluster *c = p->c;
	struct gw_map sel;
	struct gw_node_affinity aff = {0};
	gw_map_init(&sel);
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_free_ char *why = NULL;
	const struct gw_node *target = NULL;
	if (gw_sched_target_selector(c, vmi, m, &sel, &aff, &err) < 0) {
		why = gw_strdup(gw_err_msg(err));
	} else {
		const struct gw_node *source = gw_cluster_node(c, vmi->node_name);
		target = ctl_pick_node(c, vmi, source, &sel, &aff, &p->cap, &why);
	}
	gw_map_fini(&sel);
	gw_node_affinity_fini(&aff);
	if (target) {
		json_object_set_new(ctl_obj(doc, "status"), "targetNode", json_string(target->meta.name));
		ctl_remove_condition(doc, "TargetScheduled");
		ctl_capacity_add(&p->cap, c, target->meta.name, vmi);
		return transition(p->ctl, doc, "Scheduled", p->now);
	}
	_cleanup_free_ char *msg = gw_asprintf("0/%zu nodes are available: %s", c->n_nodes, why);
	ctl_log(p->ctl, GW_CTL_LOG_DEBUG, "migration %s: no target: %s", m->meta.name, msg);
	ctl_set_condition(doc, "TargetScheduled", "False", "Unschedulable", msg, p->now);
	int64_t since = ctl_phase_time(doc, "Scheduling");
	int64_t unsched = annotation_seconds(m, ANN_UNSCHEDULABLE_TIMEOUT, DEFAULT_UNSCHEDULABLE_TIMEOUT_S) * 1000;
	int64_t pending = annotation_seconds(m, ANN_PENDING_TIMEOUT, DEFAULT_PENDING_TIMEOUT_S) * 1000;
	if (since >= 0 && p->now - since >= unsched) {
		_cleanup_free_ char *t = gw_asprintf("unschedulable target timeout period exceeded: %s", msg);
		fail(p, doc, vmi, "UnschedulableTimeout", t);
		return true;
	}
	if (since >= 0 && p->now - since >= pending) {
		_cleanup_free_ char *t = gw_asprintf("pending target timeout period exceeded: %s", msg);
		fail(p, doc, vmi, "PendingTimeout", t);
		return true;
	}
	if (since >= 0)
		want_again(p, since + (unsched < pending ? unsched : pending));
	return false;
}

/* One VMIM, walked through as many transitions as the store's state
 * allows now (every intermediate phase recorded). Pending waits for the
 * queue. */
static void step(struct pass *p, size_t i)
{
	const struct gw_cluster *c = p->c;
	const struct gw_vmim *m = c->vmims[i];
	json_t *doc = p->docs[i];
	const struct gw_vmi *vmi = m->vmi_name ? gw_cluster_vmi(c, m->meta.namespace, m->vmi_name) : NULL;
	const char *uid = m->meta.uid;
	bool deleting = ctl_str(doc, "metadata.deletionTimestamp") != NULL;
	bool vmi_written = false;
	int64_t pending_timeout = annotation_seconds(m, ANN_PENDING_TIMEOUT, DEFAULT_PENDING_TIMEOUT_S) * 1000;

	for (int guard = 0; guard < 16; guard++) {
		const char *phase = ctl_str(doc, "status.phase");
		if (!phase)
			phase = "";
		if (ctl_phase_final(phase)) {
			if (deleting)
				finalize(p, i);
			return;
		}
		if (!*phase) {
			if (!vmi) {
				p->changed[i] = true;
				fail(p, doc, vmi, "VMINotFound", "Migration failed because vmi does not exist.");
				continue;
			}
			const char *other = ctl_str(vmi_state(vmi), "migrationUid");
			const struct gw_vmim *om = other && strcmp(other, uid) != 0 ? vmim_by_uid(c, other) : NULL;
			if ((om && !ctl_phase_final(om->phase) && !ctl_bool(vmi_state(vmi), "completed")) ||
			    another_in_flight(p, i, m)) {
				p->changed[i] = true;
				fail(p, doc, vmi, "InFlight",
				     "VMI is not eligible for migration because another migration job is in progress.");
				continue;
			}
			json_t *md = ctl_obj(doc, "metadata");
			add_string(md, "finalizers", MIGRATION_FINALIZER);
			json_object_set_new(ctl_obj(md, "labels"), "kubevirt.io/vmi-name", json_string(m->vmi_name));
			p->changed[i] = transition(p->ctl, doc, "Pending", p->now);
			continue;
		}
		int pi = phase_index(phase);
		/* Abort before hand-off (6.4): Pending, Scheduling, Scheduled. */
		if (deleting && pi >= 1 && pi <= 3) {
			ctl_set_condition(doc, "migrationAbortRequested", "True", "Canceled", "migration canceled", p->now);
			if (vmi && state_is_mine(vmi, uid) && !vmi_written) {
				struct failure f = {"Migration canceled before hand-off", p->now};
				write_vmi_state(p, vmi, edit_fail_state, &f);
				vmi_written = true;
			}
			p->changed[i] = true;
			fail(p, doc, vmi, "Canceled", "Migration failed due to being canceled");
			continue;
		}
		if (!vmi) {
			p->changed[i] = true;
			fail(p, doc, vmi, "VMINotFound", "Migration failed because vmi does not exist.");
			continue;
		}
		if (ctl_phase_final(vmi->phase)) {
			p->changed[i] = true;
			fail(p, doc, vmi, "VMIShutdown", "Migration failed vmi shutdown during migration.");
			continue;
		}
		int64_t since = ctl_phase_time(doc, "Scheduling");
		switch (pi) {
		case 1: /* Pending: the queue decides */
			return;
		case 2: /* Scheduling */
			if (try_schedule(p, doc, m, vmi)) {
				p->changed[i] = true;
				continue;
			}
			/* A condition may have changed. */
			if (!json_equal(doc, m->doc))
				p->changed[i] = true;
			return;
		case 3: { /* Scheduled: hand-off */
			if (since >= 0 && p->now - since >= pending_timeout) {
				p->changed[i] = true;
				fail(p, doc, vmi, "PendingTimeout", "pending target timeout period exceeded");
				continue;
			}
			/* Admitted in this pass: its admission is not in the store
			 * yet (and may conflict); the agents hear of it only once
			 * it is. */
			if (p->admitted[i])
				return;
			if (!state_is_mine(vmi, uid)) {
				if (vmi_written)
					return;
				struct gw_migration_settings s;
				gw_sched_settings(c, vmi, p->ctl->rules, &s);
				json_t *config = json_pack("{s:b, s:b, s:I, s:I, s:I, s:I}", "allowAutoConverge",
							   s.config.allow_auto_converge, "allowPostCopy",
							   s.config.allow_post_copy, "bandwidthPerMigrationMiBs",
							   (json_int_t)s.bandwidth_mib_s, "completionTimeoutSeconds",
							   (json_int_t)s.completion_deadline_s, "progressTimeout",
							   (json_int_t)s.config.progress_timeout_s, "maxDowntimeMs",
							   (json_int_t)s.config.max_downtime_ms);
				struct handoff h = {uid, vmi->node_name ? vmi->node_name : "",
						    ctl_str(doc, "status.targetNode") ?: "", s.policy, config, p->now};
				int r = write_vmi_state(p, vmi, edit_handoff, &h);
				json_decref(config);
				vmi_written = true;
				if (r < 0)
					return;
			}
			p->changed[i] = true;
			transition(p->ctl, doc, "PreparingTarget", p->now);
			continue;
		}
		default:
			break;
		}
		/* After hand-off: the agents report through the VMI. vmi_written
		 * means the snapshot's VMI predates our own write. */
		if (vmi_written)
			return;
		json_t *ms = vmi_state(vmi);
		if (!state_is_mine(vmi, uid)) {
			p->changed[i] = true;
			fail(p, doc, vmi, "MigrationStateLost", "VMI migrationState cleared or taken over by another migration");
			continue;
		}
		if (deleting) {
			if (ctl_set_condition(doc, "migrationAbortRequested", "True", "Canceled", "migration canceled", p->now))
				p->changed[i] = true;
			if (!ctl_bool(ms, "abortRequested") && !ctl_bool(ms, "completed")) {
				write_vmi_state(p, vmi, edit_abort, NULL);
				vmi_written = true;
				return;
			}
		}
		if (ctl_bool(ms, "failed")) {
			p->changed[i] = true;
			const char *reason = ctl_str(ms, "failureReason");
			fail(p, doc, vmi, ctl_str(ms, "abortStatus") ? "Aborted" : "SourceFailed",
			     reason ? reason : "source node reported migration failed");
			continue;
		}
		if (source_silent(c, ms)) {
			_cleanup_free_ char *msg = gw_asprintf(
				"source node %s is not ready: its agent sent no heartbeat within %llds",
				ctl_str(ms, "sourceNode"), (long long)p->ctl->opts.node_heartbeat_timeout_s);
			struct failure f = {msg, p->now};
			/* The VMI first: the target's agent drops its QEMU on the
			 * VMI's word. A conflict (the node controller marks the
			 * same VMI NodeReady=False) is retried next pass. */
			if (write_vmi_state(p, vmi, edit_fail_state, &f) < 0)
				return;
			vmi_written = true;
			p->changed[i] = true;
			fail(p, doc, NULL, "SourceNodeUnresponsive", msg);
			continue;
		}
		if (pi == 4) { /* PreparingTarget */
			if (ctl_str(ms, "targetNodeAddress")) {
				p->changed[i] = transition(p->ctl, doc, "TargetReady", p->now);
				continue;
			}
			if (since >= 0 && p->now - since >= pending_timeout) {
				struct failure f = {"Target preparation timed out", p->now};
				if (write_vmi_state(p, vmi, edit_fail_state, &f) < 0)
					return;   /* retried next pass */
				vmi_written = true;
				p->changed[i] = true;
				fail(p, doc, NULL, "PendingTimeout", "pending target timeout period exceeded");
				continue;
			}
			if (since >= 0)
				want_again(p, since + pending_timeout);
			return;
		}
		if (pi == 5) { /* TargetReady */
			if (ctl_str(ms, "startTimestamp")) {
				p->changed[i] = transition(p->ctl, doc, "Running", p->now);
				continue;
			}
			return;
		}
		if (pi == 6) { /* Running */
			if (ctl_bool(ms, "completed")) {
				p->changed[i] = transition(p->ctl, doc, "Succeeded", p->now);
				copy_state(doc, vmi);
				continue;
			}
			return;
		}
		return;
	}
}

/* Evacuation backoff (6.6): ms when m may leave Pending, or 0. */
static int64_t backoff_until(struct pass *p, size_t self)
{
	const struct gw_cluster *c = p->c;
	const struct gw_vmim *m = c->vmims[self];
	bool retried = gw_map_get(&m->meta.annotations, ANN_EVACUATION) ||
		       gw_map_get(&m->meta.annotations, ANN_WORKLOAD_UPDATE);
	if (!retried || gw_map_get(&m->meta.annotations, ANN_IGNORE_BACKOFF))
		return 0;
	/* L: such VMIMs of the VMI, newest first. */
	size_t n = 0;
	size_t *l = gw_calloc(c->n_vmims, sizeof(*l));
	for (size_t i = 0; i < c->n_vmims; i++) {
		const struct gw_vmim *o = c->vmims[i];
		if (strcmp(o->vmi_name ?: "", m->vmi_name ?: "") != 0 ||
		    strcmp(o->meta.namespace ?: "", m->meta.namespace ?: "") != 0)
			continue;
		if (!gw_map_get(&o->meta.annotations, ANN_EVACUATION) && !gw_map_get(&o->meta.annotations, ANN_WORKLOAD_UPDATE))
			continue;
		l[n++] = i;
	}
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0; b--) {
			const struct gw_vmim *x = c->vmims[l[b - 1]], *y = c->vmims[l[b]];
			int64_t tx = gw_time_parse(x->meta.creation_timestamp), ty = gw_time_parse(y->meta.creation_timestamp);
			if (tx > ty || (tx == ty && strcmp(x->meta.name, y->meta.name) > 0))
				break;
			size_t t = l[b - 1];
			l[b - 1] = l[b];
			l[b] = t;
		}
	int64_t until = 0;
	if (n >= 2 && l[0] == self) {
		int64_t b = 0;
		for (size_t k = 1; k < n; k++) {
			const char *ph = ctl_str(p->docs[l[k]], "status.phase");
			if (ph && strcmp(ph, "Succeeded") == 0)
				break;
			if (ctl_str(p->docs[l[k]], "metadata.deletionTimestamp"))
				continue;
			if (ph && strcmp(ph, "Failed") == 0)
				b = b == 0 ? BACKOFF_INITIAL_MS : 2 * b;
		}
		int64_t failed_at = ctl_phase_time(p->docs[l[1]], "Failed");
		if (b > 0 && failed_at >= 0 && p->now < failed_at + b)
			until = failed_at + b;
	}
	free(l);
	return until;
}

struct candidate {
	size_t i;
	int priority;
	int64_t created;
};

static int cmp_candidate(const void *a, const void *b, void *arg)
{
	const struct candidate *x = a, *y = b;
	const struct gw_cluster *c = arg;
	if (x->priority != y->priority)
		return y->priority - x->priority;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(c->vmims[x->i]->meta.name, c->vmims[y->i]->meta.name);
}

static const char *source_of(struct pass *p, size_t i)
{
	const char *s = ctl_str(p->docs[i], "status.sourceNode");
	if (s)
		return s;
	const struct gw_vmim *m = p->c->vmims[i];
	const struct gw_vmi *vmi = m->vmi_name ? gw_cluster_vmi(p->c, m->meta.namespace, m->vmi_name) : NULL;
	return vmi ? vmi->node_name : NULL;
}

/* Pending -> Scheduling under parallelMigrationsPerCluster and
 * parallelOutboundMigrationsPerNode, highest priority first (4.2). */
static void run_queue(struct pass *p, const struct gw_migration_config *cfg)
{
	const struct gw_cluster *c = p->c;
	size_t running = 0;
	struct gw_map outbound;   /* node -> count, as decimal text */
	gw_map_init(&outbound);
	struct candidate *cand = gw_calloc(c->n_vmims ? c->n_vmims : 1, sizeof(*cand));
	size_t n = 0;
	for (size_t i = 0; i < c->n_vmims; i++) {
		if (p->gone[i])
			continue;
		const char *ph = ctl_str(p->docs[i], "status.phase");
		if (in_flight_phase(ph)) {
			running++;
			const char *src = source_of(p, i);
			if (src) {
				const char *v = gw_map_get(&outbound, src);
				char buf[24];
				snprintf(buf, sizeof(buf), "%ld", (v ? strtol(v, NULL, 10) : 0) + 1);
				gw_map_set(&outbound, src, buf);
			}
			continue;
		}
		if (!ph || strcmp(ph, "Pending") != 0 || ctl_str(p->docs[i], "metadata.deletionTimestamp"))
			continue;
		const struct gw_vmim *m = c->vmims[i];
		cand[n++] = (struct candidate){i, priority_value(m->priority), gw_time_parse(m->meta.creation_timestamp)};
	}
	qsort_r(cand, n, sizeof(*cand), cmp_candidate, (void *)c);
	for (size_t k = 0; k < n; k++) {
		size_t i = cand[k].i;
		const struct gw_vmim *m = c->vmims[i];
		json_t *doc = p->docs[i];
		const struct gw_vmi *vmi = gw_cluster_vmi(c, m->meta.namespace, m->vmi_name);
		/* KubeVirt starts a target only for a Running VMI. */
		if (!vmi || !vmi->phase || strcmp(vmi->phase, "Running") != 0 || !vmi->node_name)
			continue;
		int64_t until = backoff_until(p, i);
		if (until) {
			char ts[40];
			gw_time_format(until, ts);
			_cleanup_free_ char *msg = gw_asprintf("backoff migrating vmi %s/%s until %s", m->meta.namespace,
							       m->vmi_name, ts);
			if (ctl_set_condition(doc, "MigrationBackoff", "True", "MigrationBackoff", msg, p->now))
				p->changed[i] = true;
			want_again(p, until);
			continue;
		}
		/* Limits first: a pass then costs nothing per migration that
		 * waits behind a full cluster. */
		if (running >= cfg->parallel_migrations_per_cluster)
			break;
		const char *v = gw_map_get(&outbound, vmi->node_name);
		long out = v ? strtol(v, NULL, 10) : 0;
		if (out >= (long)cfg->parallel_outbound_migrations_per_node)
			continue;
		struct gw_reasons r;
		gw_reasons_init(&r);
		gw_sched_migratable(c, vmi, p->ctl->rules, &r);
		struct gw_buf why;
		gw_buf_init(&why);
		bool waiting = false;
		for (size_t j = 0; j < r.n; j++) {
			if (r.v[j].code == GW_R_IN_FLIGHT) {
				if (!r.v[j].subject || strcmp(r.v[j].subject, m->meta.name) != 0)
					waiting = true;
				continue;
			}
			gw_buf_printf(&why, "%s%s: %s", why.len ? "; " : "", gw_reason_name(r.v[j].code), r.v[j].message);
		}
		gw_reasons_fini(&r);
		if (why.len) {
			_cleanup_free_ char *msg = gw_asprintf("VMI is not live-migratable: %s", why.data);
			p->changed[i] = true;
			fail(p, doc, vmi, "NotLiveMigratable", msg);
			gw_buf_fini(&why);
			continue;
		}
		gw_buf_fini(&why);
		if (waiting)
			continue;
		char buf[24];
		snprintf(buf, sizeof(buf), "%ld", out + 1);
		gw_map_set(&outbound, vmi->node_name, buf);
		running++;
		ctl_remove_condition(doc, "MigrationBackoff");
		json_object_set_new(ctl_obj(doc, "status"), "sourceNode", json_string(vmi->node_name));
		if (transition(p->ctl, doc, "Scheduling", p->now)) {
			p->changed[i] = true;
			p->admitted[i] = true;
			step(p, i);   /* to Scheduled at most */
			/* The admission is in the store before any agent hears of it;
			 * then the hand-off, in this same pass. */
			if (write_doc(p, i) == 0) {
				p->admitted[i] = false;
				step(p, i);
			}
		}
	}
	free(cand);
	gw_map_fini(&outbound);
}

int64_t ctl_pass_migration(struct gw_ctl *ctl, const struct gw_cluster *c)
{
	struct pass p = {.ctl = ctl, .c = c, .now = ctl_now_ms(ctl), .next_ms = -1};
	struct gw_migration_config cfg;
	if (c->kubevirt)
		cfg = c->kubevirt->migrations;
	else
		gw_migration_config_defaults(&cfg);
	ctl_capacity_init(&p.cap, c);
	size_t n = c->n_vmims;
	p.docs = gw_calloc(n ? n : 1, sizeof(*p.docs));
	p.changed = gw_calloc(n ? n : 1, sizeof(*p.changed));
	p.gone = gw_calloc(n ? n : 1, sizeof(*p.gone));
	p.admitted = gw_calloc(n ? n : 1, sizeof(*p.admitted));
	/* Targets of migrations in flight hold their capacity. */
	for (size_t i = 0; i < n; i++) {
		const struct gw_vmim *m = c->vmims[i];
		p.docs[i] = json_deep_copy(m->doc);
		const char *target = ctl_str(m->doc, "status.targetNode");
		if (target && in_flight_phase(m->phase) && phase_index(m->phase) >= 3) {
			const struct gw_vmi *vmi = gw_cluster_vmi(c, m->meta.namespace, m->vmi_name);
			if (vmi)
				ctl_capacity_add(&p.cap, c, target, vmi);
		}
	}
	for (size_t i = 0; i < n; i++)
		step(&p, i);
	/* Migrations leaving flight are written before the queue admits
	 * others in their place, and the queue runs only if all of them went
	 * through: the store never shows more in flight than the limits. */
	bool all_written = true;
	for (size_t i = 0; i < n; i++)
		if (p.changed[i] && !p.gone[i] && write_doc(&p, i) < 0)
			all_written = false;
	if (all_written)
		run_queue(&p, &cfg);
	else
		p.next_ms = 10;
	for (size_t i = 0; i < n; i++) {
		if (p.changed[i] && !p.gone[i] && !p.admitted[i])
			write_doc(&p, i);
		json_decref(p.docs[i]);
	}
	free(p.admitted);
	free(p.docs);
	free(p.changed);
	free(p.gone);
	ctl_capacity_fini(&p.cap);
	return p.next_ms;
}
