/* SPDX-License-Identifier: Apache-2.0 */
/* Both agents' sides of a live migration (docs/controllers.md "The
 * hand-off protocol with the node agents", docs/node-agent.md).
 * Source: one thread per migration drives the executor (src/qemu/migrate.c)
 * against a remote target and writes the progress to the VMI. Target: the
 * main loop starts QEMU -incoming, publishes its address, and takes the VM
 * over once the source says completed. */
#include <string.h>

#include "node_int.h"

/* KubeVirt writes progress to the VMI at most this often. */
#define PROGRESS_INTERVAL_MS 1000
/* How long the target waits for its QEMU to leave "inmigrate". */
#define TARGET_RUN_TIMEOUT_MS 10000
/* targetDirectMigrationNodePorts maps a node port to the launcher port it
 * stands for (KubeVirt's encoding): 0 is the memory migration, 49153 the
 * block migration's NBD server (libvirt's port for disks). */
#define LAUNCHER_PORT_MIGRATION 0
#define LAUNCHER_PORT_BLOCK 49153

struct source_mig {
	struct agent *a;
	pthread_t thread;
	char *ns, *name, *migration_uid, *target_node, *uri;
	char *nbd_host;                /* block migration: the target's NBD server */
	struct gw_strv copy_disks;     /* the drives mirrored there */
	struct gw_vm *vm;              /* the thread's while it runs; handed back on failure */
	struct gw_qemu_migration_config cfg;
	bool adopt;
	uint64_t adopt_start_ms;
	enum gw_qemu_migration_mode adopt_mode;

	pthread_mutex_t lock;          /* guards done and succeeded */
	bool done, succeeded;
};

static void source_mig_free(struct source_mig *s)
{
	if (!s)
		return;
	free(s->ns);
	free(s->name);
	free(s->migration_uid);
	free(s->target_node);
	free(s->uri);
	free(s->nbd_host);
	gw_strv_fini(&s->copy_disks);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static enum gw_qemu_migration_mode mode_from_name(const char *name)
{
	if (name && strcmp(name, "PostCopy") == 0)
		return GW_QEMU_MIGRATION_MODE_POSTCOPY;
	if (name && strcmp(name, "Paused") == 0)
		return GW_QEMU_MIGRATION_MODE_PAUSED;
	return GW_QEMU_MIGRATION_MODE_PRECOPY;
}

/* ---- source: writes ---------------------------------------------------- */

struct progress_edit {
	const struct source_mig *s;
	const struct gw_qemu_migration_status *st;
	bool start;                    /* write startTimestamp and mode */
	bool final;
	bool abort_requested;          /* out: the controller asked for an abort */
	bool lost;                     /* out: the migrationState is not ours any more */
};

static json_t *progress_json_memory(const struct gw_qemu_migration_status *st, bool final)
{
	char now[40];
	gw_time_format(gw_unix_ms(), now);
	json_t *p = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "qemuStatus", st->qemu_status[0] ? st->qemu_status : "none",
			      "transferredBytes", (json_int_t)st->transferred_bytes, "remainingBytes",
			      (json_int_t)st->remaining_bytes, "totalBytes", (json_int_t)st->total_bytes,
			      "dirtyRateBytesPerSecond", (json_int_t)st->dirty_rate_bytes_per_s, "polls",
			      (json_int_t)st->polls, "updated", now);
	if (final) {
		json_object_set_new(p, "downtimeMs", json_integer((json_int_t)st->downtime_ms));
		json_object_set_new(p, "totalTimeMs", json_integer((json_int_t)st->total_time_ms));
	}
	return p;
}

static json_t *progress_json(const struct gw_qemu_migration_status *st, bool final)
{
	json_t *p = progress_json_memory(st, final);
	if (st->disks_mirrored) {
		json_object_set_new(p, "disksMirrored", json_integer(st->disks_mirrored));
		json_object_set_new(p, "disksReady", json_integer(st->disks_ready));
		json_object_set_new(p, "diskTransferredBytes", json_integer((json_int_t)st->disk_transferred_bytes));
		json_object_set_new(p, "diskTotalBytes", json_integer((json_int_t)st->disk_total_bytes));
	}
	return p;
}

static json_t *our_state(json_t *vmi, const struct source_mig *s)
{
	json_t *ms = json_object_get(json_object_get(vmi, "status"), "migrationState");
	const char *uid = json_string_value(json_object_get(ms, "migrationUid"));
	if (!json_is_object(ms) || !uid || strcmp(uid, s->migration_uid) != 0)
		return NULL;
	return ms;
}

static int edit_progress(json_t *vmi, void *arg)
{
	struct progress_edit *e = arg;
	json_t *ms = our_state(vmi, e->s);
	if (!ms || json_is_true(json_object_get(ms, "completed"))) {
		e->lost = true;
		return 0;
	}
	e->abort_requested = json_is_true(json_object_get(ms, "abortRequested"));
	char ts[40];
	if (e->start && !json_object_get(ms, "startTimestamp")) {
		gw_time_format(e->st->start_unix_ms ? e->st->start_unix_ms : gw_unix_ms(), ts);
		json_object_set_new(ms, "startTimestamp", json_string(ts));
	}
	json_object_set_new(ms, "mode", json_string(gw_qemu_migration_mode_name(e->st->mode)));
	json_object_set_new(ms, "godwitProgress", progress_json(e->st, false));
	if (e->start)
		json_object_set_new(json_object_get(vmi, "status"), "migrationMethod",
				    json_string(e->s->copy_disks.n ? "BlockMigration" : "LiveMigration"));
	return 1;
}

struct final_edit {
	const struct source_mig *s;
	const struct gw_qemu_migration_status *st;
	bool succeeded;
};

static int edit_final(json_t *vmi, void *arg)
{
	struct final_edit *e = arg;
	json_t *ms = our_state(vmi, e->s);
	if (!ms || json_is_true(json_object_get(ms, "completed")))
		return 0;
	char ts[40];
	gw_time_format(e->st->end_unix_ms ? e->st->end_unix_ms : gw_unix_ms(), ts);
	if (!json_object_get(ms, "startTimestamp") && e->st->start_unix_ms) {
		char start[40];
		gw_time_format(e->st->start_unix_ms, start);
		json_object_set_new(ms, "startTimestamp", json_string(start));
	}
	json_object_set_new(ms, "completed", json_true());
	json_object_set_new(ms, "endTimestamp", json_string(ts));
	json_object_set_new(ms, "mode", json_string(gw_qemu_migration_mode_name(e->st->mode)));
	json_object_set_new(ms, "godwitProgress", progress_json(e->st, true));
	if (e->st->abort_requested)
		json_object_set_new(ms, "abortStatus", json_string(e->succeeded ? "Failed" : "Succeeded"));
	if (e->succeeded) {
		json_t *status = json_object_get(vmi, "status");
		json_object_set_new(status, "nodeName", json_string(e->s->target_node));
		json_object_del(status, "evacuationNodeName");   /* arrived (6.2) */
	} else {
		json_object_set_new(ms, "failed", json_true());
		const char *reason = e->st->abort_requested && e->st->aborted ? "Live migration has been aborted"
					: e->st->failure_reason[0] ? e->st->failure_reason
								   : "the migration failed";
		json_object_set_new(ms, "failureReason", json_string(reason));
	}
	return 1;
}

static int edit_node_label(json_t *vmi, void *arg)
{
	const char *node = arg;
	json_t *labels = json_child(json_child(vmi, "metadata"), "labels");
	const char *have = json_string_value(json_object_get(labels, GW_NODE_LABEL_VMI_NODE));
	if (have && strcmp(have, node) == 0)
		return 0;
	json_object_set_new(labels, GW_NODE_LABEL_VMI_NODE, json_string(node));
	return 1;
}

struct fail_edit {
	const char *migration_uid;
	const char *reason;
};

/* A migration that could not even start: closed as failed (4b). */
static int edit_fail(json_t *vmi, void *arg)
{
	struct fail_edit *e = arg;
	json_t *ms = json_object_get(json_object_get(vmi, "status"), "migrationState");
	const char *uid = json_string_value(json_object_get(ms, "migrationUid"));
	if (!uid || strcmp(uid, e->migration_uid) != 0 || json_is_true(json_object_get(ms, "completed")))
		return 0;
	char ts[40];
	gw_time_format(gw_unix_ms(), ts);
	json_object_set_new(ms, "completed", json_true());
	json_object_set_new(ms, "failed", json_true());
	json_object_set_new(ms, "failureReason", json_string(e->reason));
	json_object_set_new(ms, "endTimestamp", json_string(ts));
	return 1;
}

/* An abort that came before the migration started: nothing to cancel in
 * QEMU, the source answers at once (the controller waits for abortStatus). */
static int edit_abort_unstarted(json_t *vmi, void *arg)
{
	const char *migration_uid = arg;
	json_t *ms = json_object_get(json_object_get(vmi, "status"), "migrationState");
	const char *uid = json_string_value(json_object_get(ms, "migrationUid"));
	if (!uid || strcmp(uid, migration_uid) != 0 || json_is_true(json_object_get(ms, "completed")) ||
	    json_object_get(ms, "startTimestamp"))
		return 0;
	char ts[40];
	gw_time_format(gw_unix_ms(), ts);
	json_object_set_new(ms, "abortStatus", json_string("Succeeded"));
	json_object_set_new(ms, "completed", json_true());
	json_object_set_new(ms, "failed", json_true());
	json_object_set_new(ms, "failureReason", json_string("Live migration has been aborted"));
	json_object_set_new(ms, "endTimestamp", json_string(ts));
	return 1;
}

void source_abort_unstarted(struct agent *a, const char *ns, const char *name, const char *migration_uid)
{
	struct gw_err *err = NULL;
	gw_strv_push(&a->done_migrations, migration_uid);
	if (vmi_update(a->client, ns, name, false, edit_abort_unstarted, (void *)migration_uid, &err) < 0)
		agent_log(a, "migration %s: abort not written: %s", migration_uid, gw_err_msg(err));
	else
		agent_log(a, "migration %s of %s/%s: aborted before it started", migration_uid, ns, name);
	gw_err_free(err);
}

/* ---- source: the thread ----------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void write_progress(struct source_mig *s, struct gw_client *c, struct gw_qemu_migration *m, bool start,
			   bool *abort_requested, bool *lost)
{
	struct gw_qemu_migration_status st;
	gw_qemu_migration_get_status(m, &st);
	struct progress_edit e = {.s = s, .st = &st, .start = start};
	struct gw_err *err = NULL;
	if (vmi_update(c, s->ns, s->name, false, edit_progress, &e, &err) < 0) {
		agent_log(s->a, "migration %s: progress not written: %s", s->migration_uid, gw_err_msg(err));
		if (err && err->code == -ENOENT)
			e.lost = true;
	}
	gw_err_free(err);
	*abort_requested = e.abort_requested;
	*lost = e.lost;
}

static void *source_thread(void *arg)
{
	struct source_mig *s = arg;
	struct agent *a = s->a;
	pthread_setname_np(pthread_self(), "gw-node-mig");
	struct gw_client *c = NULL;
	struct gw_qemu_migration *m = NULL;
	struct gw_err *err = NULL;
	struct gw_client_options co = {.server = a->o->server, .token = a->o->token};
	bool succeeded = false, interrupted = false;
	int r = gw_client_new(&co, &c, &err);
	if (r == 0) {
		if (s->adopt)
			r = gw_qemu_migration_adopt(s->vm, NULL, &s->cfg, s->adopt_start_ms, s->adopt_mode, &m, &err);
		else
			r = gw_qemu_migration_new(s->vm, NULL, s->uri, &s->cfg, &m, &err);
	}
	if (r < 0) {
		agent_log(a, "migration %s of %s/%s: not started: %s", s->migration_uid, s->ns, s->name, gw_err_msg(err));
		if (c) {
			_cleanup_free_ char *reason = gw_asprintf("source node %s: %s", a->name, gw_err_msg(err));
			struct fail_edit fe = {s->migration_uid, reason};
			struct gw_err *e2 = NULL;
			vmi_update(c, s->ns, s->name, false, edit_fail, &fe, &e2);
			gw_err_free(e2);
		}
		gw_err_free(err);
		goto out;
	}
	agent_log(a, "migration %s of %s/%s: %s to %s (%s)", s->migration_uid, s->ns, s->name,
		  s->adopt ? "adopted, still going" : "started", s->target_node, s->adopt ? "after a restart" : s->uri);

	uint64_t last_write_ms = 0;
	bool started_written = s->adopt;
	while (!gw_qemu_migration_finished(m)) {
		gw_qemu_migration_step(m, gw_now_ns());
		if (gw_qemu_migration_finished(m))
			break;
		uint64_t now = gw_unix_ms();
		if (!started_written || now - last_write_ms >= PROGRESS_INTERVAL_MS) {
			bool abort_requested = false, lost = false;
			write_progress(s, c, m, !started_written, &abort_requested, &lost);
			started_written = true;
			last_write_ms = now;
			if (abort_requested || lost) {
				struct gw_qemu_migration_status st;
				gw_qemu_migration_get_status(m, &st);
				if (!st.abort_requested)
					agent_log(a, "migration %s: %s: cancelling", s->migration_uid,
						  lost ? "its migrationState is gone or closed" : "abort requested");
				gw_qemu_migration_request_abort(m);
			}
		}
		if (agent_stopping(a)) {
			/* QEMU carries on; the next agent adopts the migration. */
			interrupted = true;
			break;
		}
		/* Until the next poll, or at once when QEMU says the migration
		 * ended: a pre-copy target waits paused for our word. */
		gw_qemu_migration_wait(m);
	}
	if (interrupted) {
		agent_log(a, "migration %s: agent stopping: left running in QEMU", s->migration_uid);
		goto out;
	}

	struct gw_qemu_migration_status st;
	gw_qemu_migration_get_status(m, &st);
	succeeded = st.phase == GW_QEMU_MIGRATION_PHASE_COMPLETED;
	struct final_edit fe = {s, &st, succeeded};
	r = vmi_update(c, s->ns, s->name, false, edit_final, &fe, &err);
	if (r < 0)
		agent_log(a, "migration %s: final state not written: %s", s->migration_uid, gw_err_msg(err));
	gw_err_free(err);
	err = NULL;
	if (succeeded) {
		agent_log(a, "migration %s of %s/%s: completed in %llu ms (downtime %llu ms, %llu bytes sent); now on %s",
			  s->migration_uid, s->ns, s->name, (unsigned long long)st.total_time_ms,
			  (unsigned long long)st.downtime_ms, (unsigned long long)st.transferred_bytes, s->target_node);
		if (vmi_update(c, s->ns, s->name, true, edit_node_label, s->target_node, &err) < 0)
			agent_log(a, "vm %s/%s: label %s not written: %s", s->ns, s->name, GW_NODE_LABEL_VMI_NODE,
				  gw_err_msg(err));
		gw_err_free(err);
		err = NULL;
		/* The source QEMU is in postmigrate: it has nothing left to run. */
		gw_vm_stop(s->vm, NULL);
		s->vm = NULL;
	} else {
		agent_log(a, "migration %s of %s/%s: failed: %s%s", s->migration_uid, s->ns, s->name, st.failure_reason,
			  st.abort_requested ? " (abort requested)" : "");
	}
out:
	gw_qemu_migration_free(m);
	gw_client_free(c);
	pthread_mutex_lock(&s->lock);
	s->done = true;
	s->succeeded = succeeded;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int source_start(struct agent *a, struct local_vm *lv, const json_t *vmi_doc, bool adopt, struct gw_err **err)
{
	const json_t *ms = json_object_get(json_object_get(vmi_doc, "status"), "migrationState");
	const char *uid = json_string_value(json_object_get(ms, "migrationUid"));
	const char *target = json_string_value(json_object_get(ms, "targetNode"));
	const char *address = json_string_value(json_object_get(ms, "targetNodeAddress"));
	const json_t *ports = json_object_get(ms, "targetDirectMigrationNodePorts");
	const char *port = NULL, *first = NULL, *nbd_port = NULL;
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)ports, key, v) {
		if (!first)
			first = key;
		if (json_is_integer(v) && json_integer_value(v) == LAUNCHER_PORT_MIGRATION && !port)
			port = key;
		else if (json_is_integer(v) && json_integer_value(v) == LAUNCHER_PORT_BLOCK && !nbd_port)
			nbd_port = key;
	}
	if (!port && !nbd_port)
		port = first; /* a single port, whatever it maps to */
	if (!uid || !target || !address)
		return gw_err_set(err, -EINVAL, "migrationState: migrationUid, targetNode and targetNodeAddress are required");
	uint64_t port_n = 0;
	if (!port || !gw_str_to_u64(port, &port_n) || port_n == 0 || port_n > 65535)
		return gw_err_set(err, -EINVAL, "migrationState.targetDirectMigrationNodePorts: \"%s\": not a port",
				  port ? port : "(none)");
	uint64_t nbd_port_n = 0;
	if (lv->copy_disks.n) {
		/* Block migration: without the target's NBD server the disks'
		 * writes would be lost; no migration rather than that. */
		if (!nbd_port)
			return gw_err_set(err, -EINVAL, "migrationState.targetDirectMigrationNodePorts: no port for "
					  "%d (the block migration's NBD server), and %zu disk(s) must be copied",
					  LAUNCHER_PORT_BLOCK, lv->copy_disks.n);
		if (!gw_str_to_u64(nbd_port, &nbd_port_n) || nbd_port_n == 0 || nbd_port_n > 65535)
			return gw_err_set(err, -EINVAL, "migrationState.targetDirectMigrationNodePorts: \"%s\": not a port",
					  nbd_port);
	}
	struct source_mig *s = gw_calloc(1, sizeof(*s));
	int r = gw_node_migration_config(json_object_get(ms, "migrationConfiguration"), lv->memory_bytes, &s->cfg, err);
	if (r < 0) {
		free(s);
		return gw_err_wrap(err, "status.migrationState");
	}
	s->a = a;
	s->ns = gw_strdup(lv->ns);
	s->name = gw_strdup(lv->name);
	s->migration_uid = gw_strdup(uid);
	s->target_node = gw_strdup(target);
	s->uri = strchr(address, ':') ? gw_asprintf("tcp:[%s]:%s", address, port) : gw_asprintf("tcp:%s:%s", address, port);
	if (lv->copy_disks.n) {
		s->nbd_host = gw_strdup(address);
		for (size_t i = 0; i < lv->copy_disks.n; i++)
			gw_strv_push(&s->copy_disks, lv->copy_disks.v[i]);
		s->cfg.mirror_devices = (const char *const *)s->copy_disks.v;
		s->cfg.n_mirror_devices = s->copy_disks.n;
		s->cfg.nbd_host = s->nbd_host;
		s->cfg.nbd_port = (unsigned)nbd_port_n;
	}
	s->adopt = adopt;
	if (adopt) {
		int64_t start = gw_time_parse(json_string_value(json_object_get(ms, "startTimestamp")));
		s->adopt_start_ms = start > 0 ? (uint64_t)start : gw_unix_ms();
		s->adopt_mode = mode_from_name(json_string_value(json_object_get(ms, "mode")));
	}
	pthread_mutex_init(&s->lock, NULL);
	s->vm = lv->vm;
	lv->vm = NULL;
	lv->mig = s;
	r = pthread_create(&s->thread, NULL, source_thread, s);
	if (r != 0) {
		lv->vm = s->vm;
		lv->mig = NULL;
		source_mig_free(s);
		return gw_err_set(err, -r, "migration thread: %s", strerror(r));
	}
	gw_strv_push(&a->done_migrations, uid);
	return 0;
}

bool source_reap(struct agent *a, struct local_vm *lv, bool *succeeded)
{
	(void)a;
	struct source_mig *s = lv->mig;
	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	bool done = s->done;
	*succeeded = s->succeeded;
	pthread_mutex_unlock(&s->lock);
	if (!done)
		return false;
	pthread_join(s->thread, NULL);
	lv->vm = s->vm;   /* NULL after success: the thread stopped it */
	lv->mig = NULL;
	source_mig_free(s);
	return true;
}

void source_stop(struct agent *a, struct local_vm *lv)
{
	(void)a;
	struct source_mig *s = lv->mig;
	if (!s)
		return;
	/* The thread sees the stop flag within one poll and a write. After a
	 * success its VM is gone (s->vm NULL); otherwise the handle comes back
	 * to be detached. */
	pthread_join(s->thread, NULL);
	lv->vm = s->vm;
	lv->mig = NULL;
	source_mig_free(s);
}

/* ---- target ------------------------------------------------------------- */

static struct local_vm *find_incoming(struct agent *a, const char *uid)
{
	for (size_t i = 0; i < a->n_vms; i++)
		if (a->vms[i]->role == LV_INCOMING && strcmp(a->vms[i]->uid, uid) == 0)
			return a->vms[i];
	return NULL;
}

static void drop_incoming(struct agent *a, struct local_vm *lv, const char *why)
{
	agent_log(a, "vm %s/%s: migration target for %s stopped: %s", lv->ns, lv->name,
		  lv->migration_uid ? lv->migration_uid : "?", why);
	if (lv->vm)
		gw_vm_kill(lv->vm);
	lv->vm = NULL;
	local_vm_remove_dir(a, lv);
	agent_drop_vm(a, lv);
}

struct ready_edit {
	const char *migration_uid;
	const char *address;
	unsigned port;
	unsigned nbd_port;             /* 0: no disks to copy */
	bool domain_ready;
};

static int edit_target(json_t *vmi, void *arg)
{
	struct ready_edit *e = arg;
	json_t *ms = json_object_get(json_object_get(vmi, "status"), "migrationState");
	const char *uid = json_string_value(json_object_get(ms, "migrationUid"));
	if (!uid || strcmp(uid, e->migration_uid) != 0)
		return -ESTALE;
	if (e->domain_ready) {
		if (json_object_get(ms, "targetNodeDomainReadyTimestamp"))
			return 0;
		char ts[40];
		gw_time_format(gw_unix_ms(), ts);
		json_object_set_new(ms, "targetNodeDomainDetected", json_true());
		json_object_set_new(ms, "targetNodeDomainReadyTimestamp", json_string(ts));
		return 1;
	}
	if (json_is_true(json_object_get(ms, "completed")))
		return -ESTALE;
	if (json_object_get(ms, "targetNodeAddress"))
		return 0;
	char port[16];
	snprintf(port, sizeof(port), "%u", e->port);
	json_object_set_new(ms, "targetNodeAddress", json_string(e->address));
	json_t *ports = json_pack("{s:i}", port, LAUNCHER_PORT_MIGRATION);
	if (e->nbd_port) {
		snprintf(port, sizeof(port), "%u", e->nbd_port);
		json_object_set_new(ports, port, json_integer(LAUNCHER_PORT_BLOCK));
	}
	json_object_set_new(ms, "targetDirectMigrationNodePorts", ports);
	return 1;
}

static void target_prepare(struct agent *a, const json_t *vmi_doc, const struct gw_cluster *c, const char *ns,
			   const char *name, const json_t *ms, const char *migration_uid)
{
	struct local_vm *lv = NULL;
	struct gw_err *err = NULL;
	gw_strv_push(&a->done_migrations, migration_uid);
	int r = runtime_start(a, vmi_doc, c, LV_INCOMING, migration_uid, &lv, NULL, &err);
	unsigned port = 0;
	if (r == 0) {
		agent_add_vm(a, lv);
		bool postcopy = json_is_true(json_object_get(json_object_get(ms, "migrationConfiguration"), "allowPostCopy"));
		r = gw_vm_listen_incoming(lv->vm, a->address, 0, postcopy, &port, &err);
	}
	unsigned nbd_port = 0;
	if (r == 0 && lv->copy_disks.n)
		r = gw_vm_nbd_export(lv->vm, a->address, 0, (const char *const *)lv->copy_disks.v, lv->copy_disks.n,
				     &nbd_port, &err);
	if (r == 0) {
		struct ready_edit e = {migration_uid, a->address, port, nbd_port, false};
		r = vmi_update(a->client, ns, name, false, edit_target, &e, &err);
		if (r == 0) {
			if (nbd_port)
				agent_log(a, "migration %s of %s/%s: target ready on %s:%u, disks on NBD port %u",
					  migration_uid, ns, name, a->address, port, nbd_port);
			else
				agent_log(a, "migration %s of %s/%s: target ready on %s:%u", migration_uid, ns, name,
					  a->address, port);
			gw_err_free(err);
			return;
		}
		if (r == -ESTALE && !err)
			gw_err_set(&err, r, "the migration changed meanwhile");
	}
	agent_log(a, "migration %s of %s/%s: target not ready: %s", migration_uid, ns, name, gw_err_msg(err));
	_cleanup_free_ char *reason = gw_asprintf("target node %s: %s", a->name, gw_err_msg(err));
	gw_err_free(err);
	err = NULL;
	if (lv)
		drop_incoming(a, lv, "preparation failed");
	struct fail_edit fe = {migration_uid, reason};
	if (vmi_update(a->client, ns, name, false, edit_fail, &fe, &err) < 0)
		agent_log(a, "migration %s: failure not written: %s", migration_uid, gw_err_msg(err));
	gw_err_free(err);
}

/* The source says completed: the incoming QEMU must run (a guest paused to
 * converge arrives paused and is resumed here). */
static int target_resume(struct local_vm *lv, struct gw_err **err)
{
	uint64_t deadline = gw_unix_ms() + TARGET_RUN_TIMEOUT_MS;
	bool just_resumed = false;
	for (;;) {
		_cleanup_free_ char *status = NULL;
		bool running = false;
		int r = gw_vm_query_status(lv->vm, &status, &running, err);
		if (r < 0)
			return r;
		if (running)
			return 0;
		if (strcmp(status, "inmigrate") != 0 && !just_resumed) {
			json_t *reply = NULL;
			r = gw_qmp_execute(gw_vm_qmp(lv->vm), "cont", NULL, &reply, err);
			json_decref(reply);
			if (r < 0)
				return gw_err_wrap(err, "cont (status %s)", status);
			just_resumed = true;
			continue;   /* running at once, as a rule: no sleep first */
		}
		just_resumed = false;
		if (gw_unix_ms() > deadline)
			return gw_err_set(err, -ETIMEDOUT, "the incoming QEMU did not run within %d ms (status %s)",
					  TARGET_RUN_TIMEOUT_MS, status);
		sleep_ms(20);   /* the last pages still loading: a moment */
	}
}

void target_reconcile(struct agent *a, const json_t *vmi_doc, const struct gw_cluster *c)
{
	const char *uid = json_str_at(vmi_doc, "metadata.uid");
	const char *ns = json_str_at(vmi_doc, "metadata.namespace");
	const char *name = json_str_at(vmi_doc, "metadata.name");
	if (!uid || !name)
		return;
	if (!ns)
		ns = "default";
	const json_t *ms = json_object_get(json_object_get(vmi_doc, "status"), "migrationState");
	const char *muid = json_string_value(json_object_get(ms, "migrationUid"));
	const char *target = json_string_value(json_object_get(ms, "targetNode"));
	bool completed = json_is_true(json_object_get(ms, "completed"));
	bool failed = json_is_true(json_object_get(ms, "failed"));
	bool deleting = json_object_get(json_object_get(vmi_doc, "metadata"), "deletionTimestamp") != NULL;

	struct local_vm *lv = find_incoming(a, uid);
	if (lv && (!muid || !lv->migration_uid || strcmp(lv->migration_uid, muid) != 0 || deleting ||
		   !target || strcmp(target, a->name) != 0)) {
		drop_incoming(a, lv, "the migration is no longer this one");
		lv = NULL;
	}
	if (!muid || !target || strcmp(target, a->name) != 0 || deleting)
		return;
	if (!completed) {
		if (!lv && !json_object_get(ms, "targetNodeAddress") && !gw_strv_contains(&a->done_migrations, muid))
			target_prepare(a, vmi_doc, c, ns, name, ms, muid);
		else if (lv && (!lv->vm || !gw_vm_alive(lv->vm)))
			drop_incoming(a, lv, "its QEMU exited");
		return;
	}
	if (!lv)
		return;
	if (failed) {
		drop_incoming(a, lv, json_string_value(json_object_get(ms, "failureReason")) ?: "the migration failed");
		return;
	}
	struct gw_err *err = NULL;
	/* The source ended its mirrors before the switch-over: the NBD server
	 * has no client left and goes before the VM is taken over. */
	if (lv->vm && lv->copy_disks.n && gw_vm_nbd_stop(lv->vm, &err) < 0) {
		agent_log(a, "migration %s of %s/%s: stopping the NBD server: %s", muid, ns, name, gw_err_msg(err));
		gw_err_free(err);
		err = NULL;
	}
	int r = lv->vm ? target_resume(lv, &err) : gw_err_set(&err, -ESRCH, "the incoming QEMU is gone");
	if (r < 0) {
		/* The VM was lost on the way: the lifecycle marks the VMI Failed. */
		agent_log(a, "migration %s of %s/%s: completed but the VM does not run here: %s", muid, ns, name,
			  gw_err_msg(err));
		gw_err_free(err);
		drop_incoming(a, lv, "it does not run");
		return;
	}
	lv->role = LV_RUN;
	if (local_vm_save(lv, &err) < 0)
		agent_log(a, "vm %s/%s: %s", ns, name, gw_err_msg(err));
	gw_err_free(err);
	err = NULL;
	agent_log(a, "migration %s of %s/%s: the VM runs here now (pid %d)", muid, ns, name, (int)gw_vm_pid(lv->vm));
	struct ready_edit e = {muid, NULL, 0, 0, true};
	if (vmi_update(a->client, ns, name, false, edit_target, &e, &err) < 0)
		agent_log(a, "migration %s: targetNodeDomainReadyTimestamp not written: %s", muid, gw_err_msg(err));
	gw_err_free(err);
}
