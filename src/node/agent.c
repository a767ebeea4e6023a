/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's main loop: registration, heartbeats, a watch on VMIs plus a
 * periodic resync, and one pass over every VMI that concerns this node:
 * start, stop, report a VM that died, and both sides of migrations. Its
 * state lives in the VMIs and in STATE/vms; nothing important is only in
 * memory (docs/node-agent.md). */
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "node_int.h"

#define DEFAULT_HEARTBEAT_S 10
#define DEFAULT_RESYNC_MS 2000
/* The loop looks at the stop flag at least this often. */
#define STOP_CHECK_MS 200
#define START_CONNECT_TIMEOUT_MS 15000

/* ---- small helpers ------------------------------------------------------- */

void agent_log(struct agent *a, const char *fmt, ...)
{
	char ts[40];
	gw_time_format(gw_unix_ms(), ts);
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&a->log_lock);
	fprintf(a->log, "%s node %s: ", ts, a->name);
	vfprintf(a->log, fmt, ap);
	fputc('\n', a->log);
	fflush(a->log);
	pthread_mutex_unlock(&a->log_lock);
	va_end(ap);
}

bool agent_stopping(const struct agent *a)
{
	return a->o->stop && *a->o->stop;
}

static void wake_release(struct wake *w)
{
	pthread_mutex_lock(&w->lock);
	bool last = --w->refs == 0;
	pthread_mutex_unlock(&w->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->server);
	free(w->token);
	free(w->name);
	free(w);
}

static struct wake *wake_new(const struct gw_node_agent_options *o, FILE *log)
{
	struct wake *w = gw_calloc(1, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->refs = 1;
	w->stop = o->stop;
	w->server = o->server ? gw_strdup(o->server) : NULL;
	w->token = o->token ? gw_strdup(o->token) : NULL;
	w->name = gw_strdup(o->name ? o->name : "?");
	w->log = log;
	return w;
}

static bool wake_stopping(const struct wake *w)
{
	return w->stop && *w->stop;
}

static void mark_dirty(struct wake *w)
{
	pthread_mutex_lock(&w->lock);
	w->dirty = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* ---- the watcher ------------------------------------------------------------ */

static int on_event(void *data, const json_t *event)
{
	struct wake *w = data;
	(void)event;
	mark_dirty(w);
	return wake_stopping(w);
}

static void watch_log(struct wake *w, const char *what, const struct gw_err *err)
{
	if (wake_stopping(w))
		return;
	char ts[40];
	gw_time_format(gw_unix_ms(), ts);
	fprintf(w->log, "%s node %s: watch: %s (%s)\n", ts, w->name, gw_err_msg(err), what);
	fflush(w->log);
}

/* Marks the loop dirty on every VMI event. The resync catches whatever a
 * broken stream missed, so a failure here only costs latency. It has its
 * own client (a curl handle is one thread's). */
static void *watch_thread(void *arg)
{
	struct wake *w = arg;
	pthread_setname_np(pthread_self(), "gw-node-watch");
	struct gw_client_options co = {.server = w->server, .token = w->token};
	struct gw_client *c = NULL;
	struct gw_err *err = NULL;
	if (gw_client_new(&co, &c, &err) < 0) {
		watch_log(w, "resync only", err);
		gw_err_free(err);
		wake_release(w);
		return NULL;
	}
	bool failing = false;   /* say it once, not every second while the server is away */
	while (!wake_stopping(w)) {
		err = NULL;
		int r = gw_client_watch(c, VMI_COLLECTION "?watch=true", on_event, w, &err);
		if (r < 0 && !failing)
			watch_log(w, "retrying every second", err);
		failing = r < 0;
		gw_err_free(err);
		if (!wake_stopping(w))
			sleep(1);
	}
	gw_client_free(c);
	wake_release(w);
	return NULL;
}

/* ---- VMI status edits ------------------------------------------------------- */

static void append_transition(json_t *status, const char *phase)
{
	char ts[40];
	gw_time_format(gw_unix_ms(), ts);
	json_t *list = json_object_get(status, "phaseTransitionTimestamps");
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(status, "phaseTransitionTimestamps", list);
	}
	json_array_append_new(list, json_pack("{s:s, s:s}", "phase", phase, "phaseTransitionTimestamp", ts));
}

static void set_condition(json_t *status, const char *type, const char *value, const char *reason, const char *message)
{
	char ts[40];
	gw_time_format(gw_unix_ms(), ts);
	json_t *conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	json_t *c = json_pack("{s:s, s:s, s:s}", "type", type, "status", value, "lastTransitionTime", ts);
	if (reason)
		json_object_set_new(c, "reason", json_string(reason));
	if (message)
		json_object_set_new(c, "message", json_string(message));
	size_t i;
	json_t *old;
	json_array_foreach(conds, i, old) {
		const char *t = json_string_value(json_object_get(old, "type"));
		if (t && strcmp(t, type) == 0) {
			json_array_set_new(conds, i, c);
			return;
		}
	}
	json_array_append_new(conds, c);
}

static bool phase_final(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

struct phase_edit {
	const char *uid, *node;
	const char *phase;          /* Running or Failed */
	const char *reason, *message;
	json_t *cpu;                /* status.godwit.cpu to record (borrowed), or NULL */
	bool written;               /* out: the edit changed something */
};

static int edit_phase(json_t *vmi, void *arg)
{
	struct phase_edit *e = arg;
	const char *uid = json_str_at(vmi, "metadata.uid");
	json_t *status = json_child(vmi, "status");
	const char *node = json_string_value(json_object_get(status, "nodeName"));
	const char *phase = json_string_value(json_object_get(status, "phase"));
	/* Another VMI of the same name, or no longer ours: nothing to say. */
	if (!uid || strcmp(uid, e->uid) != 0 || !node || strcmp(node, e->node) != 0)
		return -ESTALE;
	if (phase_final(phase))
		return 0;
	if (phase && strcmp(phase, e->phase) == 0) {
		/* Already said; only a CPU definition may be missing. */
		if (!e->cpu || json_object_get(json_object_get(status, "godwit"), "cpu"))
			return 0;
		json_object_set(json_child(status, "godwit"), "cpu", e->cpu);
		e->written = true;
		return 1;
	}
	json_object_set_new(status, "phase", json_string(e->phase));
	append_transition(status, e->phase);
	if (strcmp(e->phase, "Running") == 0)
		set_condition(status, "Ready", "True", NULL, NULL);
	else
		set_condition(status, "Ready", "False", e->reason, e->message);
	if (e->cpu)
		json_object_set(json_child(status, "godwit"), "cpu", e->cpu);
	e->written = true;
	return 1;
}

static void write_phase(struct agent *a, const char *ns, const char *name, struct phase_edit *e)
{
	struct gw_err *err = NULL;
	int r = vmi_update(a->client, ns, name, false, edit_phase, e, &err);
	if (r < 0 && r != -ESTALE && r != -ENOENT)
		agent_log(a, "vm %s/%s: phase %s not written: %s", ns, name, e->phase, gw_err_msg(err));
	else if (r == 0 && e->written)
		agent_log(a, "vm %s/%s: phase %s%s%s", ns, name, e->phase, e->message ? ": " : "",
			  e->message ? e->message : "");
	gw_err_free(err);
}

/* ---- the pass ------------------------------------------------------------- */

static struct local_vm *find_run(struct agent *a, const char *uid)
{
	for (size_t i = 0; i < a->n_vms; i++)
		if (a->vms[i]->role == LV_RUN && strcmp(a->vms[i]->uid, uid) == 0)
			return a->vms[i];
	return NULL;
}

static void stop_vm(struct agent *a, struct local_vm *lv, const char *why)
{
	if (lv->vm)
		agent_log(a, "vm %s/%s: stopping QEMU pid %d: %s", lv->ns, lv->name, (int)gw_vm_pid(lv->vm), why);
	else
		agent_log(a, "vm %s/%s: cleaning up (QEMU already gone): %s", lv->ns, lv->name, why);
	if (lv->vm) {
		struct gw_err *err = NULL;
		if (gw_vm_stop(lv->vm, &err) < 0)
			agent_log(a, "vm %s/%s: QEMU did not quit by itself: %s", lv->ns, lv->name, gw_err_msg(err));
		gw_err_free(err);
		lv->vm = NULL;
	}
	local_vm_remove_dir(a, lv);
	agent_drop_vm(a, lv);
}

static void start_vm(struct agent *a, const json_t *doc, const struct gw_cluster *c, const char *uid, const char *ns,
		     const char *name)
{
	struct local_vm *lv = NULL;
	json_t *cpu = NULL;
	struct gw_err *err = NULL;
	int r = runtime_start(a, doc, c, LV_RUN, NULL, &lv, &cpu, &err);
	if (r < 0) {
		agent_log(a, "vm %s/%s: not started: %s", ns, name, gw_err_msg(err));
		struct phase_edit e = {uid, a->name, "Failed", "VMStartFailed", gw_err_msg(err), NULL, false};
		write_phase(a, ns, name, &e);
		gw_err_free(err);
		return;
	}
	agent_add_vm(a, lv);
	struct phase_edit e = {uid, a->name, "Running", NULL, NULL, cpu, false};
	write_phase(a, ns, name, &e);
	json_decref(cpu);
}

/* A migration of a VM of this node was closed as failed while no agent
 * here ran it (the controller gave up on this node while it was silent):
 * its QEMU may still be migrating, or have sent everything and be waiting
 * in postmigrate (the target QEMU never ran: it waits paused for the
 * source's word, and its agent dropped it). Either way the VM runs here:
 * the migration is cancelled and the guest resumed. */
static void settle_failed_source(struct agent *a, struct local_vm *lv, const char *muid)
{
	struct gw_err *err = NULL;
	json_t *reply = NULL;
	if (gw_qmp_execute(gw_vm_qmp(lv->vm), "query-migrate", NULL, &reply, &err) == 0) {
		const char *st = json_string_value(json_object_get(reply, "status"));
		if (st && (strcmp(st, "setup") == 0 || strcmp(st, "active") == 0 || strcmp(st, "pre-switchover") == 0 ||
			   strcmp(st, "device") == 0 || strcmp(st, "wait-unplug") == 0)) {
			json_t *r2 = NULL;
			if (gw_qmp_execute(gw_vm_qmp(lv->vm), "migrate_cancel", NULL, &r2, &err) == 0)
				agent_log(a, "vm %s/%s: migration %s was closed as failed: cancelled in QEMU (%s)",
					  lv->ns, lv->name, muid, st);
			json_decref(r2);
		}
	}
	json_decref(reply);
	reply = NULL;
	for (int i = 0; i < 50 && !err; i++) {
		_cleanup_free_ char *status = NULL;
		bool running = false;
		if (gw_vm_query_status(lv->vm, &status, &running, &err) < 0 || running)
			break;
		if (strcmp(status, "postmigrate") == 0 || strcmp(status, "paused") == 0) {
			if (gw_qmp_execute(gw_vm_qmp(lv->vm), "cont", NULL, &reply, &err) == 0)
				agent_log(a, "vm %s/%s: migration %s was closed as failed: resumed here (was %s)",
					  lv->ns, lv->name, muid, status);
			break;
		}
		/* finish-migrate, or a cancel under way: it settles within ms. */
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	json_decref(reply);
	if (err)
		agent_log(a, "vm %s/%s: after migration %s: %s", lv->ns, lv->name, muid, gw_err_msg(err));
	gw_err_free(err);
}

/* One VMI, outside of its migration's target side. */
static void lifecycle(struct agent *a, const json_t *doc, const struct gw_cluster *c)
{
	const char *uid = json_str_at(doc, "metadata.uid");
	const char *ns = json_str_at(doc, "metadata.namespace") ?: "default";
	const char *name = json_str_at(doc, "metadata.name");
	if (!uid || !name)
		return;
	const json_t *status = json_object_get(doc, "status");
	const char *node = json_string_value(json_object_get(status, "nodeName"));
	const char *phase = json_string_value(json_object_get(status, "phase"));
	bool deleting = json_object_get(json_object_get(doc, "metadata"), "deletionTimestamp") != NULL;
	bool mine = node && strcmp(node, a->name) == 0;
	bool final = deleting || phase_final(phase);
	struct local_vm *lv = find_run(a, uid);

	if (lv && lv->mig)
		return;   /* the migration thread owns it; it ends by itself */
	if (lv && (!mine || final)) {
		stop_vm(a, lv, deleting ? "the VMI is being deleted" : final ? "the VMI is final" : "the VMI is placed elsewhere");
		return;
	}
	if (!mine || final)
		return;
	if (!lv) {
		if (!phase || !*phase || strcmp(phase, "Pending") == 0 || strcmp(phase, "Scheduled") == 0) {
			start_vm(a, doc, c, uid, ns, name);
		} else if (strcmp(phase, "Running") == 0) {
			struct phase_edit e = {uid, a->name, "Failed", "QEMUExited",
					       "the QEMU process exited (no VM of this VMI runs on its node)", NULL, false};
			write_phase(a, ns, name, &e);
		}
		return;
	}
	if (!lv->vm || !gw_vm_alive(lv->vm)) {
		struct phase_edit e = {uid, a->name, "Failed", "QEMUExited", "the QEMU process exited", NULL, false};
		write_phase(a, ns, name, &e);
		return;
	}
	if (!phase || strcmp(phase, "Running") != 0 ||
	    (lv->cpu && !json_object_get(json_object_get(status, "godwit"), "cpu"))) {
		/* Started by an agent that stopped before it said so. */
		struct phase_edit e = {uid, a->name, "Running", NULL, NULL, lv->cpu, false};
		write_phase(a, ns, name, &e);
	}
	/* Source side of a migration (step 3 of the hand-off). */
	const json_t *ms = json_object_get(status, "migrationState");
	const char *muid = json_string_value(json_object_get(ms, "migrationUid"));
	const char *source = json_string_value(json_object_get(ms, "sourceNode"));
	if (!muid || !source || strcmp(source, a->name) != 0 || gw_strv_contains(&a->done_migrations, muid))
		return;
	if (json_is_true(json_object_get(ms, "completed"))) {
		/* Closed while no agent of this node ran it. */
		if (json_is_true(json_object_get(ms, "failed")))
			settle_failed_source(a, lv, muid);
		gw_strv_push(&a->done_migrations, muid);
		return;
	}
	bool adopt = json_string_value(json_object_get(ms, "startTimestamp")) != NULL;
	if (!adopt && json_is_true(json_object_get(ms, "abortRequested"))) {
		source_abort_unstarted(a, ns, name, muid);
		return;
	}
	if (!json_string_value(json_object_get(ms, "targetNodeAddress")))
		return;
	struct gw_err *err = NULL;
	if (source_start(a, lv, doc, adopt, &err) < 0) {
		agent_log(a, "migration %s of %s/%s: %s", muid, ns, name, gw_err_msg(err));
		gw_err_free(err);
		gw_strv_push(&a->done_migrations, muid);
	}
}

static void reap_migrations(struct agent *a)
{
	for (size_t i = 0; i < a->n_vms;) {
		struct local_vm *lv = a->vms[i];
		bool succeeded = false;
		if (source_reap(a, lv, &succeeded) && succeeded) {
			local_vm_remove_dir(a, lv);
			agent_drop_vm(a, lv);
			continue;
		}
		i++;
	}
}

static bool uid_listed(const json_t *items, const char *uid)
{
	size_t i;
	const json_t *v;
	json_array_foreach(items, i, v) {
		const char *u = json_str_at(v, "metadata.uid");
		if (u && strcmp(u, uid) == 0)
			return true;
	}
	return false;
}

static void pass(struct agent *a)
{
	struct gw_err *err = NULL;
	_cleanup_json_ json_t *list = NULL, *kubevirts = NULL;
	if (node_call(a->client, "GET", VMI_COLLECTION, NULL, NULL, &list, &err) < 0 ||
	    node_call(a->client, "GET", "/apis/kubevirt.io/v1/kubevirts", NULL, NULL, &kubevirts, &err) < 0) {
		/* Once per outage: the resync retries every 2 s. */
		if (!a->list_failing)
			agent_log(a, "list: %s (retrying)", gw_err_msg(err));
		a->list_failing = true;
		gw_err_free(err);
		return;
	}
	if (a->list_failing)
		agent_log(a, "list: the server answers again");
	a->list_failing = false;
	struct gw_cluster *c = gw_cluster_new();
	json_t *kv = json_array_get(json_object_get(kubevirts, "items"), 0);
	if (kv && gw_cluster_add_doc(c, kv, "the KubeVirt CR", 0, &err) < 0) {
		agent_log(a, "KubeVirt CR ignored: %s", gw_err_msg(err));
		gw_err_free(err);
		err = NULL;
	}
	reap_migrations(a);
	const json_t *items = json_object_get(list, "items");
	size_t i;
	const json_t *doc;
	json_array_foreach(items, i, doc) {
		if (agent_stopping(a))
			break;
		target_reconcile(a, doc, c);
		lifecycle(a, doc, c);
	}
	/* Local VMs whose VMI is gone. */
	for (size_t k = 0; k < a->n_vms && !agent_stopping(a);) {
		struct local_vm *lv = a->vms[k];
		if (lv->mig || uid_listed(items, lv->uid)) {
			k++;
			continue;
		}
		if (lv->role == LV_INCOMING && lv->vm) {
			/* A half-received VM has nothing to save: no quit. */
			gw_vm_kill(lv->vm);
			lv->vm = NULL;
		}
		stop_vm(a, lv, "its VMI is gone");
	}
	gw_cluster_free(c);
}

/* ---- set-up ------------------------------------------------------------------- */

/* The models this node can run are its own QEMU's, as KubeVirt's labeller
 * sees them through libvirt: labels and host-models never name a model the
 * binary lacks (QEMU 7.2 has no SapphireRapids). --model-db overrides; a
 * QEMU that cannot be asked leaves the built-in database, said in the log. */
static int load_model_db(struct agent *a, const char *path, struct gw_err **err)
{
	if (path)
		return gw_cpu_modeldb_load(path, &a->db, err);
	struct gw_err *probe_err = NULL;
	if (gw_cpu_modeldb_from_qemu(a->qemu, &a->db, &probe_err) == 0) {
		agent_log(a, "CPU models: %zu, from %s (%s)", a->db->n, a->qemu, a->db->source);
		return 0;
	}
	agent_log(a, "CPU models: the built-in database (%s could not be asked: %s)", a->qemu,
		  gw_err_msg(probe_err));
	gw_err_free(probe_err);
	return gw_cpu_modeldb_builtin(&a->db, err);
}

static int load_profile(struct agent *a, struct gw_err **err)
{
	const struct gw_node_agent_options *o = a->o;
	if (o->profile) {
		struct gw_cpu_profiles ps;
		gw_cpu_profiles_init(&ps);
		int r = gw_cpu_profile_load(a->db, o->profile, &ps, err);
		if (r == 0 && ps.n != 1)
			r = gw_err_set(err, -EINVAL, "--profile %s: %zu hosts in it; one expected", o->profile, ps.n);
		if (r == 0) {
			a->profile = ps.v[0];
			ps.v[0] = NULL;
			ps.n = 0;
		}
		gw_cpu_profiles_fini(&ps);
		a->stand_in = true;
		return r;
	}
	/* This host as QEMU sees it (what `godwit cpu host --qemu` shows). */
	bool kvm = o->accel != GW_NODE_ACCEL_TCG && gw_vm_kvm_available();
	int r = gw_cpu_profile_from_qemu(a->db, a->qemu, kvm, &a->profile, err);
	if (r < 0)
		return gw_err_wrap(err, "this host's CPU through %s", a->qemu);
	free(a->profile->name);
	a->profile->name = gw_strdup(a->name);
	return 0;
}

static int make_dir(const char *path, struct gw_err **err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return gw_err_set(err, -errno, "state directory %s: %s", path, strerror(errno));
	if (!gw_path_is_dir(path))
		return gw_err_set(err, -ENOTDIR, "state directory %s: not a directory", path);
	return 0;
}

static int setup(struct agent *a, struct gw_err **err)
{
	const struct gw_node_agent_options *o = a->o;
	if (!o->name || !*o->name)
		return gw_err_set(err, -EINVAL, "--name: required");
	a->name = o->name;
	a->address = o->address ? o->address : "127.0.0.1";
	a->qemu = o->qemu ? o->qemu : "qemu-system-x86_64";
	_cleanup_free_ char *dir = o->state_dir ? gw_strdup(o->state_dir) : gw_asprintf("godwit-node-%s", o->name);
	int r = make_dir(dir, err);
	if (r < 0)
		return r;
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return gw_err_set(err, -errno, "state directory %s: %s", dir, strerror(errno));
	a->state_dir = gw_strdup(real);
	a->vms_dir = gw_asprintf("%s/vms", a->state_dir);
	r = make_dir(a->vms_dir, err);
	if (r < 0)
		return r;
	r = load_model_db(a, o->model_db, err);
	if (r < 0)
		return r;
	r = load_profile(a, err);
	if (r < 0)
		return r;
	struct gw_err *probe_err = NULL;
	if (runtime_probe_qemu(a, &probe_err) < 0)
		agent_log(a, "%s: CPU features not known (%s): host-model flags written as the engine spells them", a->qemu,
			  gw_err_msg(probe_err));
	gw_err_free(probe_err);
	a->cpus = o->cpus > 0 ? o->cpus : sysconf(_SC_NPROCESSORS_ONLN);
	a->memory_bytes = o->memory_bytes > 0 ? o->memory_bytes
					      : (int64_t)sysconf(_SC_PHYS_PAGES) * (int64_t)sysconf(_SC_PAGESIZE);
	struct gw_client_options co = {.server = o->server, .token = o->token};
	return gw_client_new(&co, &a->client, err);
}

static void teardown(struct agent *a)
{
	for (size_t i = 0; i < a->n_vms; i++) {
		struct local_vm *lv = a->vms[i];
		source_stop(a, lv);
		if (lv->vm)
			gw_vm_detach(lv->vm);   /* VMs outlive the agent */
		local_vm_free(lv);
	}
	free(a->vms);
	gw_strv_fini(&a->done_migrations);
	gw_client_free(a->client);
	gw_cpu_profile_free(a->profile);
	if (a->qemu_features) {
		gw_strv_fini(a->qemu_features);
		free(a->qemu_features);
	}
	gw_cpu_modeldb_free(a->db);
	free(a->state_dir);
	free(a->vms_dir);
	if (a->wake)
		wake_release(a->wake);
	pthread_mutex_destroy(&a->log_lock);
}

/* Waits for a VMI event (or ms), and says whether one came. */
static bool wait_dirty(struct agent *a, unsigned ms)
{
	struct wake *w = a->wake;
	struct timespec deadline;
	gw_deadline_ms(CLOCK_MONOTONIC, (int)ms, &deadline);
	pthread_mutex_lock(&w->lock);
	while (!w->dirty) {
		if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != 0)
			break;
	}
	bool dirty = w->dirty;
	w->dirty = false;
	pthread_mutex_unlock(&w->lock);
	return dirty;
}

int gw_node_agent_run(const struct gw_node_agent_options *o, struct gw_err **err)
{
	struct agent a = {.o = o, .log = o->log ? o->log : stderr};
	pthread_mutex_init(&a.log_lock, NULL);
	a.wake = wake_new(o, a.log);
	gw_strv_init(&a.done_migrations);
	a.name = o->name ? o->name : "?";
	int r = setup(&a, err);
	if (r < 0)
		goto out;
	agent_log(&a, "starting: server %s, address %s, state %s, CPU %s (%s), %lld CPUs, %lld MiB", gw_client_server(a.client),
		  a.address, a.state_dir, a.profile->name, a.stand_in ? "profile, TCG" : "this host",
		  (long long)a.cpus, (long long)(a.memory_bytes >> 20));

	/* The server may still be starting: retry the registration a while. */
	uint64_t give_up = gw_unix_ms() + START_CONNECT_TIMEOUT_MS;
	for (;;) {
		struct gw_err *e = NULL;
		r = node_register(&a, &e);
		if (r == 0)
			break;
		if ((r != -ECONNREFUSED && r != -ETIMEDOUT && r != -EIO) || gw_unix_ms() > give_up || agent_stopping(&a)) {
			*err = e;
			goto out;
		}
		gw_err_free(e);
		wait_dirty(&a, 500);
	}
	runtime_attach_all(&a);

	pthread_t watcher;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	a.wake->refs++;
	if (pthread_create(&watcher, &attr, watch_thread, a.wake) != 0) {
		a.wake->refs--;
		agent_log(&a, "watch: no thread (resync only)");
	}
	pthread_attr_destroy(&attr);

	unsigned heartbeat_ms = (o->heartbeat_interval_s ? o->heartbeat_interval_s : DEFAULT_HEARTBEAT_S) * 1000;
	unsigned resync_ms = o->resync_ms ? o->resync_ms : DEFAULT_RESYNC_MS;
	uint64_t next_heartbeat = gw_unix_ms() + heartbeat_ms, next_pass = 0;
	bool dirty = true, heartbeat_failing = false;
	while (!agent_stopping(&a)) {
		uint64_t now = gw_unix_ms();
		if (now >= next_heartbeat) {
			struct gw_err *e = NULL;
			int hr = node_heartbeat(&a, &e);
			if (hr == -ENOENT) {
				agent_log(&a, "node %s is gone: registering again", a.name);
				gw_err_free(e);
				e = NULL;
				hr = node_register(&a, &e);
			}
			if (hr < 0 && !heartbeat_failing)
				agent_log(&a, "heartbeat: %s (retrying every interval)", gw_err_msg(e));
			else if (hr == 0 && heartbeat_failing)
				agent_log(&a, "heartbeat: sent again");
			heartbeat_failing = hr < 0;
			gw_err_free(e);
			next_heartbeat = now + heartbeat_ms;
		}
		/* A running migration thread ends by itself: look at it often. */
		bool migrating = false;
		for (size_t i = 0; i < a.n_vms; i++)
			migrating |= a.vms[i]->mig != NULL;
		if (dirty || now >= next_pass || migrating) {
			pass(&a);
			next_pass = gw_unix_ms() + resync_ms;
		}
		dirty = wait_dirty(&a, STOP_CHECK_MS);
	}
	agent_log(&a, "stopping: %zu VMs left running", a.n_vms);
	r = 0;
out:
	teardown(&a);
	return r;
}
