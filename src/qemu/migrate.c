/* SPDX-License-Identifier: Apache-2.0 */
/* The source side of a live migration over QMP, as KubeVirt's launcher
 * drives libvirt (spec/kubevirt-behaviour.md 4.2-4.5): capabilities and
 * bandwidth, `migrate`, then `query-migrate` every 400 ms. Each poll feeds
 * gw_qemu_migration_decide(), which says whether to switch to post-copy, pause
 * the guest or abort. Any failure before the switch-over leaves the VM
 * running on the source and kills the target.
 *
 * Phases (set_phase is the only place they change):
 *   NEW [-> MIRRORING] -> RUNNING -> COMPLETING -> COMPLETED
 *            |  \-> ABORTING -> FAILED (or COMPLETING: it finished first)
 *            \-> FAILED        COMPLETING -> FAILED (target never ran)
 *
 * The target may be remote (NULL: another agent's QEMU): COMPLETING then
 * ends with the source's "completed", and failures leave it alone. An
 * adopted migration (the agent restarted) sends nothing to start: its
 * first step reads QEMU's state and goes from NEW to RUNNING (or on to
 * its end) with the recorded start and mode.
 *
 * Block migration (cfg.mirror_devices), as libvirt's NON_SHARED_INC: the
 * source mirrors each listed drive's top layer into the target's NBD
 * export (drive-mirror, sync "top", mode "existing"; the target's overlay
 * sits on the same base) in MIRRORING; once every job is ready, the
 * memory migration starts with pause-before-switchover. At
 * "pre-switchover" the guest is stopped: the mirrors are ended with
 * block-job-cancel (a ready mirror then completes its last copy, leaving
 * the target consistent) and migrate-continue lets QEMU switch over. Any
 * failure cancels the mirrors; the source's own disk is never written. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "godwit/qemu.h"

#define MIB 1048576ull
#define NS_PER_S 1000000000ull
#define DEFAULT_POLL_INTERVAL_MS 400    /* KubeVirt's monitor loop */
#define DEFAULT_ABORT_TIMEOUT_MS 30000  /* KubeVirt's async abort */
#define DEFAULT_COMPLETING_TIMEOUT_MS 10000
/* Polls while aborting or completing: these wait on QEMU, not on policy. */
#define FAST_POLL_MS 50

struct gw_qemu_migration {
	/* Borrowed. target is NULL when the target QEMU belongs to another
	 * agent: then nothing here checks, resumes or kills it. */
	struct gw_vm *source, *target;
	char *uri;                     /* NULL when adopted */
	bool adopted;                  /* QEMU already runs the migration */
	bool events;                   /* the source sends MIGRATION events */
	struct gw_qemu_migration_config cfg;
	struct gw_qemu_migration_monitor mon;
	bool source_was_running;
	bool paused_by_us;
	uint64_t phase_since_ns;
	atomic_bool abort_requested;
	char **mirror_devices;         /* copies of cfg's; cfg points at them */
	char *nbd_host;
	bool mirrors_started;          /* drive-mirror was issued */
	bool mirrors_ended;            /* block-job-cancel completed at pre-switchover */
	pthread_mutex_t lock; /* guards status against readers in other threads */
	struct gw_qemu_migration_status status;
};

/* ---- settings (4.1-4.3) ------------------------------------------------- */

void gw_qemu_migration_config_defaults(struct gw_qemu_migration_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->completion_timeout_per_gib_s = 150;
	cfg->progress_timeout_s = 150;
}

uint64_t gw_qemu_migration_bandwidth_mib(uint64_t bytes_per_s)
{
	if (bytes_per_s == 0)
		return 0;
	if (bytes_per_s < MIB)
		return 1;
	/* round-half-up without overflowing near UINT64_MAX */
	return bytes_per_s / MIB + (bytes_per_s % MIB >= MIB / 2 ? 1 : 0);
}

uint64_t gw_qemu_migration_max_bandwidth(uint64_t bytes_per_s)
{
	uint64_t mib = gw_qemu_migration_bandwidth_mib(bytes_per_s);
	if (mib == 0 || mib > GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH / MIB)
		return GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH;
	return mib * MIB;
}

int64_t gw_qemu_migration_acceptable_completion_s(int64_t per_gib_s, uint64_t data_size_bytes)
{
	if (per_gib_s <= 0)
		return 0;
	/* Decimal GB rounded up, as Kubernetes' ScaledValue(Giga). */
	uint64_t gb = data_size_bytes / 1000000000ull + (data_size_bytes % 1000000000ull ? 1 : 0);
	if (gb > (uint64_t)(INT64_MAX / per_gib_s))
		return INT64_MAX;
	return per_gib_s * (int64_t)gb;
}

/* ---- the decision (4.4, 4.5) -------------------------------------------- */

void gw_qemu_migration_monitor_init(struct gw_qemu_migration_monitor *mon,
			       const struct gw_qemu_migration_config *cfg, uint64_t start_ns)
{
	memset(mon, 0, sizeof(*mon));
	mon->start_ns = start_ns;
	mon->last_progress_ns = start_ns;
	mon->mode = GW_QEMU_MIGRATION_MODE_PRECOPY;
	mon->acceptable_s = gw_qemu_migration_acceptable_completion_s(cfg->completion_timeout_per_gib_s,
								 cfg->data_size_bytes);
}

/* Whole seconds between two instants, as KubeVirt compares Unix seconds. */
static int64_t seconds_between(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? (int64_t)((to_ns - from_ns) / NS_PER_S) : 0;
}

enum gw_qemu_migration_action gw_qemu_migration_decide(const struct gw_qemu_migration_config *cfg,
					     struct gw_qemu_migration_monitor *mon,
					     const struct gw_qemu_migration_sample *sample,
					     uint64_t now_ns)
{
	/* 4.4: progress is "remaining below the previous sample" (not below the
	 * minimum), or no watermark yet. Unreported remaining counts as 0. */
	uint64_t remaining = sample && sample->has_remaining ? sample->remaining_bytes : 0;
	if (mon->progress_watermark == 0 || remaining < mon->progress_watermark)
		mon->last_progress_ns = now_ns;
	mon->progress_watermark = remaining;

	int64_t elapsed_s = seconds_between(mon->start_ns, now_ns);
	bool not_progressing = cfg->progress_timeout_s != 0 &&
			       seconds_between(mon->last_progress_ns, now_ns) > cfg->progress_timeout_s;
	/* A completionTimeoutPerGiB of 0 disables the completion timeout. */
	bool past_deadline = mon->acceptable_s != 0 && elapsed_s > mon->acceptable_s;

	/* 4.5, first matching case wins. */
	if (mon->mode == GW_QEMU_MIGRATION_MODE_POSTCOPY)
		return GW_QEMU_MIGRATION_ACTION_NONE;
	if (cfg->allow_workload_disruption && past_deadline && mon->mode != GW_QEMU_MIGRATION_MODE_PAUSED) {
		/* No VFIO devices here, so the VFIO max-downtime branch never applies. */
		if (cfg->allow_post_copy) {
			mon->mode = GW_QEMU_MIGRATION_MODE_POSTCOPY;
			return GW_QEMU_MIGRATION_ACTION_START_POSTCOPY;
		}
		mon->acceptable_s = mon->acceptable_s > INT64_MAX / 2 ? INT64_MAX : 2 * mon->acceptable_s;
		mon->mode = GW_QEMU_MIGRATION_MODE_PAUSED;
		return GW_QEMU_MIGRATION_ACTION_PAUSE;
	}
	if (not_progressing && !mon->aborting) {
		mon->aborting = true;
		return GW_QEMU_MIGRATION_ACTION_ABORT_STUCK;
	}
	if (past_deadline && !mon->aborting) {
		mon->aborting = true;
		return GW_QEMU_MIGRATION_ACTION_ABORT_TIMEOUT;
	}
	return GW_QEMU_MIGRATION_ACTION_NONE;
}

/* ---- names -------------------------------------------------------------- */

const char *gw_qemu_migration_mode_name(enum gw_qemu_migration_mode mode)
{
	switch (mode) {
	case GW_QEMU_MIGRATION_MODE_POSTCOPY:
		return "PostCopy";
	case GW_QEMU_MIGRATION_MODE_PAUSED:
		return "Paused";
	default:
		return "PreCopy";
	}
}

const char *gw_qemu_migration_phase_name(enum gw_qemu_migration_phase phase)
{
	static const char *const names[] = {
		[GW_QEMU_MIGRATION_PHASE_NEW] = "New",
		[GW_QEMU_MIGRATION_PHASE_RUNNING] = "Running",
		[GW_QEMU_MIGRATION_PHASE_ABORTING] = "Aborting",
		[GW_QEMU_MIGRATION_PHASE_COMPLETING] = "Completing",
		[GW_QEMU_MIGRATION_PHASE_COMPLETED] = "Completed",
		[GW_QEMU_MIGRATION_PHASE_FAILED] = "Failed",
		[GW_QEMU_MIGRATION_PHASE_MIRRORING] = "Mirroring",
	};
	return (unsigned)phase < GW_ARRAY_SIZE(names) ? names[phase] : "Unknown";
}

/* ---- executor ----------------------------------------------------------- */

static uint64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool phase_change_allowed(enum gw_qemu_migration_phase from, enum gw_qemu_migration_phase to)
{
	switch (from) {
	case GW_QEMU_MIGRATION_PHASE_NEW:
		return to == GW_QEMU_MIGRATION_PHASE_RUNNING || to == GW_QEMU_MIGRATION_PHASE_MIRRORING ||
		       to == GW_QEMU_MIGRATION_PHASE_FAILED;
	case GW_QEMU_MIGRATION_PHASE_MIRRORING:
		return to == GW_QEMU_MIGRATION_PHASE_RUNNING || to == GW_QEMU_MIGRATION_PHASE_FAILED;
	case GW_QEMU_MIGRATION_PHASE_RUNNING:
		return to == GW_QEMU_MIGRATION_PHASE_ABORTING || to == GW_QEMU_MIGRATION_PHASE_COMPLETING ||
		       to == GW_QEMU_MIGRATION_PHASE_FAILED;
	case GW_QEMU_MIGRATION_PHASE_ABORTING:
		return to == GW_QEMU_MIGRATION_PHASE_FAILED || to == GW_QEMU_MIGRATION_PHASE_COMPLETING;
	case GW_QEMU_MIGRATION_PHASE_COMPLETING:
		return to == GW_QEMU_MIGRATION_PHASE_COMPLETED || to == GW_QEMU_MIGRATION_PHASE_FAILED;
	default:
		return false; /* COMPLETED and FAILED are final */
	}
}

/* The one place the phase changes: checked, timed, and the end recorded. */
static void set_phase(struct gw_qemu_migration *m, enum gw_qemu_migration_phase to, uint64_t now_ns)
{
	pthread_mutex_lock(&m->lock);
	if (phase_change_allowed(m->status.phase, to)) {
		m->status.phase = to;
		m->phase_since_ns = now_ns;
		if ((to == GW_QEMU_MIGRATION_PHASE_RUNNING || to == GW_QEMU_MIGRATION_PHASE_MIRRORING) &&
		    m->status.start_unix_ms == 0)
			m->status.start_unix_ms = unix_ms(); /* adopted: the recorded start stays */
		if (to == GW_QEMU_MIGRATION_PHASE_COMPLETED || to == GW_QEMU_MIGRATION_PHASE_FAILED)
			m->status.end_unix_ms = unix_ms();
	}
	pthread_mutex_unlock(&m->lock);
}

/* The first reason stays; later notes are appended after "; ". */
static void add_reason(struct gw_qemu_migration *m, const char *fmt, ...) GW_PRINTF(2, 3);
static void add_reason(struct gw_qemu_migration *m, const char *fmt, ...)
{
	char note[GW_QEMU_MIGRATION_REASON_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&m->lock);
	char *r = m->status.failure_reason;
	size_t len = strlen(r);
	if (len == 0) {
		memcpy(r, note, strlen(note) + 1);
	} else if (len + 3 < GW_QEMU_MIGRATION_REASON_MAX) {
		/* Truncated to fit: the first reason matters most. */
		size_t room = GW_QEMU_MIGRATION_REASON_MAX - len - 3, n = strlen(note);
		memcpy(r + len, "; ", 2);
		memcpy(r + len + 2, note, n < room ? n : room);
		r[len + 2 + (n < room ? n : room)] = '\0';
	}
	pthread_mutex_unlock(&m->lock);
}

static void set_mode(struct gw_qemu_migration *m, enum gw_qemu_migration_mode mode)
{
	pthread_mutex_lock(&m->lock);
	m->status.mode = mode;
	m->status.acceptable_completion_s = m->mon.acceptable_s;
	pthread_mutex_unlock(&m->lock);
}

static int qmp(struct gw_vm *vm, const char *command, json_t *args, struct gw_err **err)
{
	json_t *reply = NULL;
	int r = gw_qmp_execute(gw_vm_qmp(vm), command, args, &reply, err);
	json_decref(reply);
	return r;
}

/* A non-negative count from QEMU into *out; absent or malformed leaves
 * *out as it was (QEMU drops fields once a migration ends). */
static void get_count(json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_integer(v))
		*out = json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
	else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1.8e19)
		*out = (uint64_t)json_real_value(v);
}

/* Records what query-migrate said; returns QEMU's status (borrowed from
 * m->status) and the sample for the decision. */
static const char *record(struct gw_qemu_migration *m, json_t *info, struct gw_qemu_migration_sample *sample)
{
	json_t *ram = json_object_get(info, "ram");
	const char *st = json_string_value(json_object_get(info, "status"));
	pthread_mutex_lock(&m->lock);
	struct gw_qemu_migration_status *s = &m->status;
	snprintf(s->qemu_status, sizeof(s->qemu_status), "%s", st ? st : "");
	s->polls++;
	if (json_is_object(ram)) {
		get_count(ram, "transferred", &s->transferred_bytes);
		get_count(ram, "remaining", &s->remaining_bytes);
		get_count(ram, "total", &s->total_bytes);
		get_count(ram, "dirty-pages-rate", &s->dirty_pages_rate);
		uint64_t page = 4096;
		get_count(ram, "page-size", &page);
		if (page == 0 || page > (1u << 30))
			page = 4096;
		s->dirty_rate_bytes_per_s =
			s->dirty_pages_rate > UINT64_MAX / page ? UINT64_MAX : s->dirty_pages_rate * page;
	}
	get_count(info, "downtime", &s->downtime_ms);
	get_count(info, "total-time", &s->total_time_ms);
	pthread_mutex_unlock(&m->lock);
	sample->has_remaining = json_is_object(ram) && json_is_integer(json_object_get(ram, "remaining"));
	sample->remaining_bytes = 0;
	if (sample->has_remaining)
		get_count(ram, "remaining", &sample->remaining_bytes);
	return m->status.qemu_status;
}

/* Ends a failed migration: the VM goes on running on the source (unless
 * post-copy already moved it), the target's QEMU is killed. */
static void cancel_mirrors(struct gw_qemu_migration *m);

static void finish_failed(struct gw_qemu_migration *m, uint64_t now_ns)
{
	cancel_mirrors(m);
	if (m->mon.mode == GW_QEMU_MIGRATION_MODE_POSTCOPY) {
		if (m->target)
			add_reason(m, "the switch to post-copy had happened: the VM cannot resume on "
				      "the source; the target QEMU (pid %d) is left for recovery",
				   (int)gw_vm_pid(m->target));
		else
			add_reason(m, "the switch to post-copy had happened: the VM cannot resume on "
				      "the source; the target is left for recovery");
		set_phase(m, GW_QEMU_MIGRATION_PHASE_FAILED, now_ns);
		return;
	}
	/* A remote target is its own agent's to end (it sees the failure too). */
	if (m->target)
		gw_vm_terminate(m->target);
	struct gw_err *err = NULL;
	char *status = NULL;
	bool running = false;
	if (!gw_vm_alive(m->source)) {
		add_reason(m, "the source QEMU (pid %d) is gone: the VM is lost", (int)gw_vm_pid(m->source));
	} else if (m->source_was_running) {
		if (gw_vm_query_status(m->source, &status, &running, &err) == 0 && !running) {
			/* Paused by us, or stopped at the switch-over ("postmigrate"). */
			qmp(m->source, "cont", NULL, &err);
			free(status);
			status = NULL;
			gw_vm_query_status(m->source, &status, &running, &err);
		}
		if (!running)
			add_reason(m, "the source VM did not resume: %s",
				   err ? gw_err_msg(err) : status ? status : "unknown state");
	}
	free(status);
	gw_err_free(err);
	set_phase(m, GW_QEMU_MIGRATION_PHASE_FAILED, now_ns);
}

/* Cancels a running migration: migrate_cancel, then wait for QEMU. */
static void cancel(struct gw_qemu_migration *m, uint64_t now_ns)
{
	m->mon.aborting = true;
	pthread_mutex_lock(&m->lock);
	m->status.aborted = true;
	pthread_mutex_unlock(&m->lock);
	struct gw_err *err = NULL;
	if (qmp(m->source, "migrate_cancel", NULL, &err) < 0) {
		add_reason(m, "migrate_cancel: %s", gw_err_msg(err));
		gw_err_free(err);
		finish_failed(m, now_ns);
		return;
	}
	set_phase(m, GW_QEMU_MIGRATION_PHASE_ABORTING, now_ns);
}

static int start_mirrors(struct gw_qemu_migration *m);
static int issue_migrate(struct gw_qemu_migration *m);

static void start(struct gw_qemu_migration *m, uint64_t now_ns)
{
	struct gw_err *err = NULL;
	char *status = NULL;
	int r = gw_vm_query_status(m->source, &status, &m->source_was_running, &err);
	free(status);
	if (r < 0) {
		add_reason(m, "source QEMU: %s", gw_err_msg(err));
		goto fail;
	}
	if (m->target && !gw_vm_alive(m->target)) {
		add_reason(m, "the target QEMU (pid %d) is not running", (int)gw_vm_pid(m->target));
		goto fail;
	}
	/* `events`: QEMU says when the migration ends (MIGRATION events), so
	 * the end is seen at once rather than at the next poll, as libvirt's
	 * migration job ends for KubeVirt. The decisions keep the poll. */
	json_t *caps = json_pack("{s:[{s:s,s:b},{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability",
				 "postcopy-ram", "state", m->cfg.allow_post_copy, "capability",
				 "auto-converge", "state", m->cfg.allow_auto_converge, "capability",
				 "events", "state", 1);
	/* Block migration: stop at the switch-over until the mirrors end. */
	if (m->cfg.n_mirror_devices)
		json_array_append_new(json_object_get(caps, "capabilities"),
				      json_pack("{s:s,s:b}", "capability", "pause-before-switchover",
						"state", 1));
	r = qmp(m->source, "migrate-set-capabilities", caps, &err);
	json_decref(caps);
	if (r < 0) {
		add_reason(m, "setting migration capabilities: %s", gw_err_msg(err));
		goto fail;
	}
	m->events = true;
	json_t *params = json_pack("{s:I}", "max-bandwidth",
				   (json_int_t)gw_qemu_migration_max_bandwidth(m->cfg.bandwidth_bytes_per_s));
	r = qmp(m->source, "migrate-set-parameters", params, &err);
	json_decref(params);
	if (r < 0) {
		add_reason(m, "setting max-bandwidth: %s", gw_err_msg(err));
		goto fail;
	}
	/* The completion deadline and progress (4.3, 4.4) count from the
	 * start of the whole migration, disks included. */
	gw_qemu_migration_monitor_init(&m->mon, &m->cfg, now_ns);
	set_mode(m, GW_QEMU_MIGRATION_MODE_PRECOPY);
	if (m->cfg.n_mirror_devices) {
		if (start_mirrors(m) < 0)
			goto fail;
		set_phase(m, GW_QEMU_MIGRATION_PHASE_MIRRORING, now_ns);
		return;
	}
	if (issue_migrate(m) < 0)
		goto fail;
	set_phase(m, GW_QEMU_MIGRATION_PHASE_RUNNING, now_ns);
	return;
fail:
	gw_err_free(err);
	finish_failed(m, now_ns);
}

/* ---- block migration ---------------------------------------------------- */

static char *mirror_job_id(const char *device)
{
	return gw_asprintf("gw-mirror-%s", device);
}

/* drive-mirror of every listed drive into the target's export of the
 * same name; libvirt applies the migration bandwidth to the mirrors too. */
static int start_mirrors(struct gw_qemu_migration *m)
{
	uint64_t speed = m->cfg.bandwidth_bytes_per_s
				 ? gw_qemu_migration_bandwidth_mib(m->cfg.bandwidth_bytes_per_s) * MIB
				 : 0;
	bool v6 = strchr(m->nbd_host, ':') != NULL;
	for (size_t i = 0; i < m->cfg.n_mirror_devices; i++) {
		const char *dev = m->mirror_devices[i];
		_cleanup_free_ char *job = mirror_job_id(dev);
		_cleanup_free_ char *target = gw_asprintf("nbd://%s%s%s:%u/%s", v6 ? "[" : "",
							  m->nbd_host, v6 ? "]" : "", m->cfg.nbd_port,
							  dev);
		json_t *args = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "device", dev, "job-id", job,
					 "target", target, "sync", "top", "mode", "existing",
					 "format", "raw", "speed", (json_int_t)speed);
		struct gw_err *err = NULL;
		m->mirrors_started = true;
		int r = qmp(m->source, "drive-mirror", args, &err);
		json_decref(args);
		if (r < 0) {
			add_reason(m, "mirroring disk %s to %s: %s", dev, target, gw_err_msg(err));
			gw_err_free(err);
			return r;
		}
	}
	pthread_mutex_lock(&m->lock);
	m->status.disks_mirrored = (unsigned)m->cfg.n_mirror_devices;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* A failed migration's mirrors: cancelled at once (force), whatever their
 * state; the source's disk is untouched by them. */
static void cancel_mirrors(struct gw_qemu_migration *m)
{
	if (!m->mirrors_started || m->mirrors_ended)
		return;
	for (size_t i = 0; i < m->cfg.n_mirror_devices; i++) {
		_cleanup_free_ char *job = mirror_job_id(m->mirror_devices[i]);
		json_t *args = json_pack("{s:s,s:b}", "device", job, "force", 1);
		qmp(m->source, "block-job-cancel", args, NULL); /* gone already: fine */
		json_decref(args);
	}
	m->mirrors_ended = true;
}

/* The error a finished mirror job reported, from its queued
 * BLOCK_JOB_COMPLETED event (caller frees; NULL if none). */
static char *mirror_job_error(struct gw_qemu_migration *m, const char *job)
{
	char *msg = NULL;
	for (int i = 0; i < GW_QMP_MAX_QUEUED_EVENTS && !msg; i++) {
		json_t *ev = NULL;
		if (gw_qmp_wait_event(gw_vm_qmp(m->source), "BLOCK_JOB_COMPLETED", 1, &ev, NULL) < 0)
			break;
		json_t *data = json_object_get(ev, "data");
		const char *dev = json_string_value(json_object_get(data, "device"));
		const char *e = json_string_value(json_object_get(data, "error"));
		if (dev && !strcmp(dev, job))
			msg = gw_strdup(e ? e : "ended without error");
		json_decref(ev);
	}
	return msg;
}

/* query-block-jobs for our mirrors: records progress; returns how many
 * are ready, or -1 (and a reason) when one has gone or failed. */
static int poll_mirrors(struct gw_qemu_migration *m)
{
	json_t *jobs = NULL;
	struct gw_err *err = NULL;
	if (gw_qmp_execute(gw_vm_qmp(m->source), "query-block-jobs", NULL, &jobs, &err) < 0) {
		add_reason(m, "source QEMU: %s", gw_err_msg(err));
		gw_err_free(err);
		json_decref(jobs);
		return -1;
	}
	uint64_t done = 0, total = 0;
	int ready = 0, bad = 0;
	for (size_t i = 0; i < m->cfg.n_mirror_devices && !bad; i++) {
		_cleanup_free_ char *id = mirror_job_id(m->mirror_devices[i]);
		json_t *job = NULL, *j;
		size_t k;
		json_array_foreach(jobs, k, j) {
			const char *dev = json_string_value(json_object_get(j, "device"));
			if (dev && !strcmp(dev, id))
				job = j;
		}
		const char *st = job ? json_string_value(json_object_get(job, "status")) : NULL;
		const char *io = job ? json_string_value(json_object_get(job, "io-status")) : NULL;
		if (!job || (st && !strcmp(st, "concluded"))) {
			_cleanup_free_ char *e = mirror_job_error(m, id);
			add_reason(m, "the mirror of disk %s ended before the migration: %s",
				   m->mirror_devices[i], e ? e : "no reason given");
			bad = 1;
		} else if (io && strcmp(io, "ok") != 0) {
			add_reason(m, "the mirror of disk %s failed (io-status %s)", m->mirror_devices[i],
				   io);
			bad = 1;
		} else {
			uint64_t off = 0, len = 0;
			get_count(job, "offset", &off);
			get_count(job, "len", &len);
			done += off;
			total += len;
			if (json_is_true(json_object_get(job, "ready")))
				ready++;
		}
	}
	json_decref(jobs);
	pthread_mutex_lock(&m->lock);
	m->status.disk_transferred_bytes = done;
	m->status.disk_total_bytes = total;
	m->status.disks_ready = (unsigned)ready;
	pthread_mutex_unlock(&m->lock);
	return bad ? -1 : ready;
}

static int issue_migrate(struct gw_qemu_migration *m)
{
	struct gw_err *err = NULL;
	json_t *args = json_pack("{s:s}", "uri", m->uri);
	int r = qmp(m->source, "migrate", args, &err);
	json_decref(args);
	if (r < 0) {
		add_reason(m, "migrate %s: %s", m->uri, gw_err_msg(err));
		gw_err_free(err);
	}
	return r;
}

static void poll_mirroring(struct gw_qemu_migration *m, uint64_t now_ns)
{
	if (atomic_load(&m->abort_requested)) {
		pthread_mutex_lock(&m->lock);
		m->status.aborted = true;
		pthread_mutex_unlock(&m->lock);
		add_reason(m, "Live migration has been aborted on request");
		finish_failed(m, now_ns);
		return;
	}
	if (m->target && !gw_vm_alive(m->target)) {
		add_reason(m, "the target QEMU (pid %d) ended while the disks were mirrored",
			   (int)gw_vm_pid(m->target));
		finish_failed(m, now_ns);
		return;
	}
	int ready = poll_mirrors(m);
	if (ready < 0) {
		finish_failed(m, now_ns);
		return;
	}
	if ((size_t)ready == m->cfg.n_mirror_devices) {
		if (issue_migrate(m) < 0) {
			finish_failed(m, now_ns);
			return;
		}
		set_phase(m, GW_QEMU_MIGRATION_PHASE_RUNNING, now_ns);
		return;
	}
	/* Deadline and progress (4.3, 4.4) on the disk bytes left; nothing
	 * but an abort applies before the memory migration. */
	struct gw_qemu_migration_config c = m->cfg;
	c.allow_workload_disruption = false;
	struct gw_qemu_migration_sample sample = {
		.has_remaining = true,
		.remaining_bytes = m->status.disk_total_bytes - m->status.disk_transferred_bytes,
	};
	enum gw_qemu_migration_action a = gw_qemu_migration_decide(&c, &m->mon, &sample, now_ns);
	if (a == GW_QEMU_MIGRATION_ACTION_ABORT_STUCK) {
		add_reason(m, "Aborting migration: disk mirror stuck for %lld seconds (progressTimeout "
			      "%lld s)",
			   (long long)seconds_between(m->mon.last_progress_ns, now_ns),
			   (long long)m->cfg.progress_timeout_s);
		finish_failed(m, now_ns);
	} else if (a == GW_QEMU_MIGRATION_ACTION_ABORT_TIMEOUT) {
		add_reason(m, "Aborting migration: disks not mirrored after %lld seconds",
			   (long long)m->mon.acceptable_s);
		finish_failed(m, now_ns);
	}
}

/* At "pre-switchover" (the guest is stopped): end every mirror with
 * block-job-cancel, which lets a ready mirror copy what is left and
 * complete, then let QEMU switch over. 0, or -1 with a reason. */
static int end_mirrors(struct gw_qemu_migration *m)
{
	if (poll_mirrors(m) < 0)
		return -1;
	for (size_t i = 0; i < m->cfg.n_mirror_devices; i++) {
		_cleanup_free_ char *job = mirror_job_id(m->mirror_devices[i]);
		json_t *args = json_pack("{s:s}", "device", job);
		struct gw_err *err = NULL;
		int r = qmp(m->source, "block-job-cancel", args, &err);
		json_decref(args);
		if (r < 0) {
			add_reason(m, "ending the mirror of disk %s: %s", m->mirror_devices[i],
				   gw_err_msg(err));
			gw_err_free(err);
			return -1;
		}
	}
	unsigned limit = m->cfg.abort_timeout_ms ? m->cfg.abort_timeout_ms : DEFAULT_ABORT_TIMEOUT_MS;
	size_t left = m->cfg.n_mirror_devices;
	uint64_t deadline = gw_now_ns() + (uint64_t)limit * 1000000u;
	while (left > 0) {
		json_t *ev = NULL;
		struct gw_err *err = NULL;
		uint64_t now = gw_now_ns();
		if (now >= deadline ||
		    gw_qmp_wait_event(gw_vm_qmp(m->source), "BLOCK_JOB_COMPLETED",
				      (int)((deadline - now) / 1000000u) + 1, &ev, &err) < 0) {
			add_reason(m, "the disk mirrors did not end within %u ms%s%s", limit,
				   err ? ": " : "", err ? gw_err_msg(err) : "");
			gw_err_free(err);
			return -1;
		}
		json_t *data = json_object_get(ev, "data");
		const char *dev = json_string_value(json_object_get(data, "device"));
		const char *e = json_string_value(json_object_get(data, "error"));
		for (size_t i = 0; dev && i < m->cfg.n_mirror_devices; i++) {
			_cleanup_free_ char *job = mirror_job_id(m->mirror_devices[i]);
			if (strcmp(job, dev) != 0)
				continue;
			if (e) {
				add_reason(m, "the mirror of disk %s failed at the switch-over: %s",
					   m->mirror_devices[i], e);
				json_decref(ev);
				return -1;
			}
			left--;
		}
		json_decref(ev);
	}
	m->mirrors_ended = true;
	return 0;
}

static void act(struct gw_qemu_migration *m, enum gw_qemu_migration_action action, uint64_t now_ns)
{
	struct gw_err *err = NULL;
	switch (action) {
	case GW_QEMU_MIGRATION_ACTION_START_POSTCOPY:
		set_mode(m, m->mon.mode);
		if (qmp(m->source, "migrate-start-postcopy", NULL, &err) < 0) {
			/* Not switched after all: still pre-copy, and it must end. */
			m->mon.mode = GW_QEMU_MIGRATION_MODE_PRECOPY;
			set_mode(m, m->mon.mode);
			add_reason(m, "migrate-start-postcopy: %s", gw_err_msg(err));
			cancel(m, now_ns);
		}
		break;
	case GW_QEMU_MIGRATION_ACTION_PAUSE:
		set_mode(m, m->mon.mode);
		if (qmp(m->source, "stop", NULL, &err) == 0)
			m->paused_by_us = true;
		else
			add_reason(m, "pausing the guest: %s", gw_err_msg(err));
		break;
	case GW_QEMU_MIGRATION_ACTION_ABORT_STUCK:
		add_reason(m, "Aborting migration: stuck for %lld seconds (progressTimeout %lld s)",
			   (long long)seconds_between(m->mon.last_progress_ns, now_ns),
			   (long long)m->cfg.progress_timeout_s);
		cancel(m, now_ns);
		break;
	case GW_QEMU_MIGRATION_ACTION_ABORT_TIMEOUT:
		add_reason(m, "Aborting migration: not completed after %lld seconds",
			   (long long)m->mon.acceptable_s);
		cancel(m, now_ns);
		break;
	default:
		break;
	}
	gw_err_free(err);
}

static void poll_completing(struct gw_qemu_migration *m, uint64_t now_ns);

/* query-migrate on the source; NULL (and the migration failed) if the
 * source cannot answer. */
static json_t *query(struct gw_qemu_migration *m, uint64_t now_ns)
{
	json_t *info = NULL;
	struct gw_err *err = NULL;
	if (gw_qmp_execute(gw_vm_qmp(m->source), "query-migrate", NULL, &info, &err) < 0 ||
	    !json_is_object(info)) {
		add_reason(m, "source QEMU: %s", err ? gw_err_msg(err) : "query-migrate: not an object");
		gw_err_free(err);
		json_decref(info);
		finish_failed(m, now_ns);
		return NULL;
	}
	return info;
}

static void note_target_gone(struct gw_qemu_migration *m)
{
	if (m->target && !gw_vm_alive(m->target))
		add_reason(m, "the target QEMU (pid %d) is gone", (int)gw_vm_pid(m->target));
}

static void handle_running(struct gw_qemu_migration *m, json_t *info, uint64_t now_ns);

static void poll_running(struct gw_qemu_migration *m, uint64_t now_ns)
{
	if (atomic_load(&m->abort_requested) && m->mon.mode != GW_QEMU_MIGRATION_MODE_POSTCOPY &&
	    !m->mon.aborting) {
		add_reason(m, "Live migration has been aborted on request");
		cancel(m, now_ns);
		return;
	}
	json_t *info = query(m, now_ns);
	if (!info)
		return;
	handle_running(m, info, now_ns);
	json_decref(info);
}

/* QEMU 7.2 says "completed" (and sends the event) a moment before it
 * computes total-time and downtime, which read 0 until then: ask again a
 * few times, at most ~100 ms, for the figures the VMI reports. */
static void complete_times(struct gw_qemu_migration *m)
{
	for (int i = 0; i < 20 && m->status.total_time_ms == 0; i++) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
		nanosleep(&ts, NULL);
		json_t *info = NULL;
		if (gw_qmp_execute(gw_vm_qmp(m->source), "query-migrate", NULL, &info, NULL) < 0) {
			json_decref(info);
			return;
		}
		struct gw_qemu_migration_sample sample;
		record(m, info, &sample);
		json_decref(info);
	}
}

/* What RUNNING does with one query-migrate answer. */
static void handle_running(struct gw_qemu_migration *m, json_t *info, uint64_t now_ns)
{
	struct gw_qemu_migration_sample sample;
	const char *st = record(m, info, &sample);
	if (!strcmp(st, "pre-switchover")) {
		/* Block migration: the guest is stopped; end the mirrors, go on. */
		struct gw_err *err = NULL;
		json_t *args = json_pack("{s:s}", "state", "pre-switchover");
		if (end_mirrors(m) < 0) {
			cancel(m, now_ns);
		} else if (qmp(m->source, "migrate-continue", args, &err) < 0) {
			add_reason(m, "migrate-continue: %s", gw_err_msg(err));
			cancel(m, now_ns);
		}
		json_decref(args);
		gw_err_free(err);
	} else if (!strcmp(st, "completed")) {
		complete_times(m);
		set_phase(m, GW_QEMU_MIGRATION_PHASE_COMPLETING, now_ns);
		poll_completing(m, now_ns);
	} else if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
		const char *desc = json_string_value(json_object_get(info, "error-desc"));
		add_reason(m, "migration %s: %s", st, desc ? desc : "QEMU gave no reason");
		note_target_gone(m);
		finish_failed(m, now_ns);
	} else if (!strcmp(st, "postcopy-paused") || !strcmp(st, "postcopy-recover")) {
		add_reason(m, "post-copy interrupted (%s)", st);
		note_target_gone(m);
		finish_failed(m, now_ns);
	} else if (m->target && m->mon.mode != GW_QEMU_MIGRATION_MODE_POSTCOPY &&
		   !gw_vm_alive(m->target)) {
		/* The source may take a while to notice a dead peer. */
		add_reason(m, "the target QEMU (pid %d) ended during the migration",
			   (int)gw_vm_pid(m->target));
		cancel(m, now_ns);
	} else {
		act(m, gw_qemu_migration_decide(&m->cfg, &m->mon, &sample, now_ns), now_ns);
	}
}

static void poll_aborting(struct gw_qemu_migration *m, uint64_t now_ns)
{
	json_t *info = query(m, now_ns);
	if (!info)
		return;
	struct gw_qemu_migration_sample sample;
	const char *st = record(m, info, &sample);
	unsigned limit = m->cfg.abort_timeout_ms ? m->cfg.abort_timeout_ms : DEFAULT_ABORT_TIMEOUT_MS;
	if (!strcmp(st, "cancelled") || !strcmp(st, "failed")) {
		finish_failed(m, now_ns);
	} else if (!strcmp(st, "completed")) {
		/* It finished before the cancel took effect: a success after all. */
		pthread_mutex_lock(&m->lock);
		m->status.aborted = false;
		m->status.failure_reason[0] = '\0';
		pthread_mutex_unlock(&m->lock);
		set_phase(m, GW_QEMU_MIGRATION_PHASE_COMPLETING, now_ns);
		poll_completing(m, now_ns);
	} else if (now_ns - m->phase_since_ns > (uint64_t)limit * 1000000u) {
		add_reason(m, "QEMU did not finish cancelling within %u ms (status %s)", limit, st);
		finish_failed(m, now_ns);
	}
	json_decref(info);
}

static void poll_completing(struct gw_qemu_migration *m, uint64_t now_ns)
{
	struct gw_err *err = NULL;
	char *status = NULL;
	bool running = false;
	unsigned limit = m->cfg.completing_timeout_ms ? m->cfg.completing_timeout_ms
						      : DEFAULT_COMPLETING_TIMEOUT_MS;
	if (!m->target) {
		/* The source sent everything; the target's agent resumes its VM
		 * (and `cont`s a guest paused here: the mode says so). */
		set_phase(m, GW_QEMU_MIGRATION_PHASE_COMPLETED, now_ns);
		return;
	}
	if (gw_vm_query_status(m->target, &status, &running, &err) < 0) {
		add_reason(m, "the source completed but the target does not answer: %s",
			   gw_err_msg(err));
		finish_failed(m, now_ns);
	} else if (running || (!m->source_was_running && !strcmp(status, "paused"))) {
		/* The mirrors ended before the switch-over: no NBD client is left. */
		if (m->cfg.n_mirror_devices && gw_vm_nbd_stop(m->target, &err) < 0)
			add_reason(m, "stopping the target's NBD server: %s", gw_err_msg(err));
		set_phase(m, GW_QEMU_MIGRATION_PHASE_COMPLETED, now_ns);
	} else if (!strcmp(status, "paused") && m->paused_by_us) {
		/* The guest was paused on the source to converge: it resumes on the
		 * target (the run state travelled with it). */
		if (qmp(m->target, "cont", NULL, &err) < 0) {
			add_reason(m, "resuming the target: %s", gw_err_msg(err));
			finish_failed(m, now_ns);
		}
	} else if (now_ns - m->phase_since_ns > (uint64_t)limit * 1000000u) {
		add_reason(m, "the source completed but the target did not run within %u ms (status %s)",
			   limit, status);
		finish_failed(m, now_ns);
	}
	free(status);
	gw_err_free(err);
}

/* Whether the previous executor turned MIGRATION events on (capabilities
 * cannot be changed while a migration runs; reading them is fine). */
static bool events_enabled(struct gw_vm *source)
{
	json_t *caps = NULL;
	struct gw_err *err = NULL;
	bool on = false;
	if (gw_qmp_execute(gw_vm_qmp(source), "query-migrate-capabilities", NULL, &caps, &err) == 0) {
		size_t i;
		json_t *cap;
		json_array_foreach(caps, i, cap) {
			const char *name = json_string_value(json_object_get(cap, "capability"));
			if (name && !strcmp(name, "events"))
				on = json_is_true(json_object_get(cap, "state"));
		}
	}
	json_decref(caps);
	gw_err_free(err);
	return on;
}

/* The first step of an adopted migration: the source's run state, then
 * QEMU's migration state, acted on at once (it may have ended meanwhile). */
static void take_over(struct gw_qemu_migration *m, uint64_t now_ns)
{
	struct gw_err *err = NULL;
	char *status = NULL;
	bool running = false;
	if (gw_vm_query_status(m->source, &status, &running, &err) < 0) {
		add_reason(m, "source QEMU: %s", gw_err_msg(err));
		gw_err_free(err);
		finish_failed(m, now_ns);
		return;
	}
	/* Whether to resume the source on failure. A guest paused to converge
	 * was running; "finish-migrate" and "postmigrate" are where QEMU puts a
	 * running source at the switch-over; a pre-copy source that is
	 * "paused" was paused before the migration and stays so. */
	m->paused_by_us = m->mon.mode == GW_QEMU_MIGRATION_MODE_PAUSED;
	m->source_was_running = running || m->mon.mode != GW_QEMU_MIGRATION_MODE_PRECOPY ||
				!strcmp(status, "finish-migrate") || !strcmp(status, "postmigrate");
	free(status);
	m->events = events_enabled(m->source);
	json_t *info = query(m, now_ns);
	if (!info)
		return;
	const char *st = json_string_value(json_object_get(info, "status"));
	set_phase(m, GW_QEMU_MIGRATION_PHASE_RUNNING, now_ns);
	if (!st || !strcmp(st, "none")) {
		/* QEMU was restarted, or `migrate` never reached it. */
		add_reason(m, "adopting the migration: the source QEMU runs no migration "
			      "(query-migrate status: %s)", st ? st : "none");
		finish_failed(m, now_ns);
	} else if (!strcmp(st, "cancelling")) {
		struct gw_qemu_migration_sample sample;
		record(m, info, &sample);
		m->mon.aborting = true;
		pthread_mutex_lock(&m->lock);
		m->status.aborted = true;
		pthread_mutex_unlock(&m->lock);
		add_reason(m, "the migration was being cancelled when it was adopted");
		set_phase(m, GW_QEMU_MIGRATION_PHASE_ABORTING, now_ns);
	} else {
		handle_running(m, info, now_ns);
	}
	json_decref(info);
}

void gw_qemu_migration_step(struct gw_qemu_migration *m, uint64_t now_ns)
{
	switch (m->status.phase) {
	case GW_QEMU_MIGRATION_PHASE_NEW:
		if (atomic_load(&m->abort_requested) && !m->adopted) {
			add_reason(m, "Live migration has been aborted on request");
			finish_failed(m, now_ns);
			return;
		}
		if (m->adopted)
			take_over(m, now_ns);
		else
			start(m, now_ns);
		break;
	case GW_QEMU_MIGRATION_PHASE_MIRRORING:
		poll_mirroring(m, now_ns);
		break;
	case GW_QEMU_MIGRATION_PHASE_RUNNING:
		poll_running(m, now_ns);
		break;
	case GW_QEMU_MIGRATION_PHASE_ABORTING:
		poll_aborting(m, now_ns);
		break;
	case GW_QEMU_MIGRATION_PHASE_COMPLETING:
		poll_completing(m, now_ns);
		break;
	default:
		break;
	}
}

unsigned gw_qemu_migration_poll_interval_ms(const struct gw_qemu_migration *m)
{
	if (m->status.phase == GW_QEMU_MIGRATION_PHASE_ABORTING ||
	    m->status.phase == GW_QEMU_MIGRATION_PHASE_COMPLETING)
		return FAST_POLL_MS;
	return m->cfg.poll_interval_ms ? m->cfg.poll_interval_ms : DEFAULT_POLL_INTERVAL_MS;
}

static bool migration_ended(const char *qemu_status)
{
	/* pre-switchover: the guest is stopped until the mirrors end. */
	static const char *const ends[] = {"completed", "failed", "cancelled", "postcopy-paused",
					   "pre-switchover"};
	for (size_t i = 0; qemu_status && i < GW_ARRAY_SIZE(ends); i++)
		if (!strcmp(qemu_status, ends[i]))
			return true;
	return false;
}

void gw_qemu_migration_wait(struct gw_qemu_migration *m)
{
	uint64_t deadline = gw_now_ns() + (uint64_t)gw_qemu_migration_poll_interval_ms(m) * 1000000u;
	if (m->events && m->status.phase == GW_QEMU_MIGRATION_PHASE_RUNNING) {
		for (uint64_t now = gw_now_ns(); now < deadline; now = gw_now_ns()) {
			json_t *ev = NULL;
			struct gw_err *err = NULL;
			int r = gw_qmp_wait_event(gw_vm_qmp(m->source), "MIGRATION",
						  (int)((deadline - now) / 1000000u) + 1, &ev, &err);
			gw_err_free(err);
			if (r < 0) {
				if (r == -ETIMEDOUT)
					return;
				break; /* the connection failed: the next step says so */
			}
			const char *st = json_string_value(
				json_object_get(json_object_get(ev, "data"), "status"));
			bool ended = migration_ended(st);
			json_decref(ev);
			if (ended)
				return;
		}
	}
	uint64_t now = gw_now_ns();
	if (now >= deadline)
		return;
	uint64_t left = deadline - now;
	struct timespec ts = {.tv_sec = (time_t)(left / NS_PER_S), .tv_nsec = (long)(left % NS_PER_S)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void gw_qemu_migration_run(struct gw_qemu_migration *m)
{
	while (!gw_qemu_migration_finished(m)) {
		gw_qemu_migration_step(m, gw_now_ns());
		if (gw_qemu_migration_finished(m))
			break;
		gw_qemu_migration_wait(m);
	}
}

void gw_qemu_migration_request_abort(struct gw_qemu_migration *m)
{
	atomic_store(&m->abort_requested, true);
	pthread_mutex_lock(&m->lock);
	m->status.abort_requested = true;
	pthread_mutex_unlock(&m->lock);
}

bool gw_qemu_migration_finished(struct gw_qemu_migration *m)
{
	pthread_mutex_lock(&m->lock);
	bool done = m->status.phase == GW_QEMU_MIGRATION_PHASE_COMPLETED ||
		    m->status.phase == GW_QEMU_MIGRATION_PHASE_FAILED;
	pthread_mutex_unlock(&m->lock);
	return done;
}

void gw_qemu_migration_get_status(struct gw_qemu_migration *m, struct gw_qemu_migration_status *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->status;
	pthread_mutex_unlock(&m->lock);
}

static int check_setup(struct gw_vm *source, struct gw_vm *target,
		       const struct gw_qemu_migration_config *cfg, struct gw_err **err)
{
	if (!source || !gw_vm_qmp(source))
		return gw_err_set(err, -EINVAL, "migration: a source VM is required");
	if (target && !gw_vm_qmp(target))
		return gw_err_set(err, -EINVAL, "migration: the target VM has no QMP connection");
	if (!cfg)
		return gw_err_set(err, -EINVAL, "migration: no configuration");
	if (cfg->completion_timeout_per_gib_s < 0 || cfg->progress_timeout_s < 0)
		return gw_err_set(err, -EINVAL, "migration: timeouts must not be negative");
	/* Without a size the acceptable time would be 0, silently disabling it. */
	if (cfg->completion_timeout_per_gib_s > 0 && cfg->data_size_bytes == 0)
		return gw_err_set(err, -EINVAL, "migration: the data size (guest memory) is needed for "
				  "the completion timeout");
	if (cfg->n_mirror_devices > 0) {
		if (!cfg->mirror_devices || !cfg->nbd_host || !*cfg->nbd_host || cfg->nbd_port == 0 ||
		    cfg->nbd_port > 65535)
			return gw_err_set(err, -EINVAL, "block migration: the target's NBD host and "
					  "port and the drives to mirror are needed");
		for (size_t i = 0; i < cfg->n_mirror_devices; i++)
			if (!cfg->mirror_devices[i] || !*cfg->mirror_devices[i] ||
			    strpbrk(cfg->mirror_devices[i], "/:?#[] "))
				return gw_err_set(err, -EINVAL, "block migration: drive %zu: "
						  "expected a drive id such as disk0", i);
	}
	return 0;
}

static struct gw_qemu_migration *migration_alloc(struct gw_vm *source, struct gw_vm *target,
						 const struct gw_qemu_migration_config *cfg)
{
	struct gw_qemu_migration *m = gw_calloc(1, sizeof(*m));
	m->source = source;
	m->target = target;
	m->cfg = *cfg;
	if (cfg->n_mirror_devices) {
		m->mirror_devices = gw_calloc(cfg->n_mirror_devices, sizeof(char *));
		for (size_t i = 0; i < cfg->n_mirror_devices; i++)
			m->mirror_devices[i] = gw_strdup(cfg->mirror_devices[i]);
		m->nbd_host = gw_strdup(cfg->nbd_host);
		m->cfg.mirror_devices = (const char *const *)m->mirror_devices;
		m->cfg.nbd_host = m->nbd_host;
	} else {
		m->cfg.mirror_devices = NULL;
		m->cfg.nbd_host = NULL;
	}
	atomic_init(&m->abort_requested, false);
	pthread_mutex_init(&m->lock, NULL);
	m->status.phase = GW_QEMU_MIGRATION_PHASE_NEW;
	m->status.acceptable_completion_s = gw_qemu_migration_acceptable_completion_s(
		cfg->completion_timeout_per_gib_s, cfg->data_size_bytes);
	return m;
}

int gw_qemu_migration_new(struct gw_vm *source, struct gw_vm *target, const char *uri,
		     const struct gw_qemu_migration_config *cfg, struct gw_qemu_migration **out,
		     struct gw_err **err)
{
	*out = NULL;
	if (!uri || !gw_str_has_prefix(uri, "tcp:"))
		return gw_err_set(err, -EINVAL, "migration: URI \"%s\": expected tcp:HOST:PORT",
				  uri ? uri : "");
	int r = check_setup(source, target, cfg, err);
	if (r < 0)
		return r;
	struct gw_qemu_migration *m = migration_alloc(source, target, cfg);
	m->uri = gw_strdup(uri);
	*out = m;
	return 0;
}

int gw_qemu_migration_adopt(struct gw_vm *source, struct gw_vm *target,
			    const struct gw_qemu_migration_config *cfg, uint64_t start_unix_ms,
			    enum gw_qemu_migration_mode mode, struct gw_qemu_migration **out,
			    struct gw_err **err)
{
	*out = NULL;
	int r = check_setup(source, target, cfg, err);
	if (r < 0)
		return r;
	if ((unsigned)mode > GW_QEMU_MIGRATION_MODE_PAUSED)
		return gw_err_set(err, -EINVAL, "adopt migration: mode %d is not a migration mode",
				  (int)mode);
	uint64_t wall_now = unix_ms();
	if (start_unix_ms == 0 || start_unix_ms > wall_now + 60000)
		return gw_err_set(err, -EINVAL, "adopt migration: start %" PRIu64 " ms (Unix) is %s",
				  start_unix_ms, start_unix_ms ? "in the future" : "missing");
	struct gw_qemu_migration *m = migration_alloc(source, target, cfg);
	m->adopted = true;
	/* Block migration: the mirrors may still run in QEMU; a failure ends them. */
	m->mirrors_started = cfg->n_mirror_devices > 0;
	/* The monitor counts from `migrate`, on the monotonic clock: place
	 * the recorded wall-clock start on it (a start slightly ahead of this
	 * clock, from another host's agent, counts as now). */
	uint64_t now_ns = gw_now_ns();
	uint64_t ago_ns = start_unix_ms < wall_now ? (wall_now - start_unix_ms) * 1000000ull : 0;
	gw_qemu_migration_monitor_init(&m->mon, cfg, ago_ns < now_ns ? now_ns - ago_ns : 0);
	/* Progress (4.4) is watched afresh from the adoption: the watermark
	 * was in the previous agent's memory. */
	m->mon.last_progress_ns = now_ns;
	m->mon.mode = mode;
	if (mode == GW_QEMU_MIGRATION_MODE_PAUSED) /* the pause doubled T (4.5) */
		m->mon.acceptable_s = m->mon.acceptable_s > INT64_MAX / 2 ? INT64_MAX
									    : 2 * m->mon.acceptable_s;
	m->status.start_unix_ms = start_unix_ms;
	m->status.mode = mode;
	m->status.acceptable_completion_s = m->mon.acceptable_s;
	*out = m;
	return 0;
}

void gw_qemu_migration_free(struct gw_qemu_migration *m)
{
	/* QEMU's migration is left as it is: an agent shutting down mid-way
	 * adopts it after its restart (gw_qemu_migration_adopt). */
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	for (size_t i = 0; i < m->cfg.n_mirror_devices; i++)
		free(m->mirror_devices[i]);
	free(m->mirror_devices);
	free(m->nbd_host);
	free(m->uri);
	free(m);
}
