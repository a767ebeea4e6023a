/* SPDX-License-Identifier: Apache-2.0 */
/* Talking to QEMU: the QMP client (probe QEMUs spawned on a private
 * socket, or a running VM's QMP server socket), VMs as detached QEMU
 * processes (vm.c), and the source side of a live migration (migrate.c,
 * KubeVirt's launcher rules; docs/migration.md). Knows nothing of CPUs: a
 * host-model arrives as a resolved -cpu string. Only util is used. */
#ifndef GODWIT_QEMU_H
#define GODWIT_QEMU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "godwit/util.h"

/* Every wait on QEMU (greeting, a reply, an event, its exit) is bounded. */
#define GW_QMP_DEFAULT_TIMEOUT_MS 10000
/* A QMP message larger than this is refused (QEMU's largest replies, e.g.
 * query-cpu-definitions, are well under 1 MiB). */
#define GW_QMP_MAX_MESSAGE_BYTES (16u << 20)

/* Events nobody waited for are kept up to this many, oldest dropped. */
#define GW_QMP_MAX_QUEUED_EVENTS 256

struct gw_qmp;

/* Starts argv[0] with argv[1..] (NULL-terminated) plus a QMP monitor on a
 * private socket, reads the greeting and negotiates capabilities. The
 * caller chooses the rest (`-machine none -accel tcg -nodefaults
 * -nographic -S`, ...). QEMU's stdin and stdout are /dev/null; its stderr
 * is kept and quoted in errors when it fails to start. QEMU is killed if
 * the calling thread ends (PR_SET_PDEATHSIG follows the thread, not the
 * process): spawn long-lived QEMUs from a thread that outlives them.
 * timeout_ms bounds start-up and each later read (0 =
 * GW_QMP_DEFAULT_TIMEOUT_MS). Not thread-safe: one user at a time. */
int gw_qmp_spawn(const char *const *argv, int timeout_ms, struct gw_qmp **out, struct gw_err **err);

/* Connects to the QMP server socket of a QEMU that is already running and
 * not our child (a VM started detached, found again after an agent
 * restart): `-qmp unix:PATH,server=on,wait=off`. pid (or 0 if unknown) is
 * watched while connecting, so a QEMU that dies is noticed at once, and
 * is the process gw_qmp_close() stops. log_path (may be NULL) is QEMU's
 * stderr, quoted in errors. Retries a missing or refusing socket until
 * timeout_ms. QEMU serves one QMP client at a time: a second connection
 * waits for the first to close and then times out here. */
int gw_qmp_connect(const char *sock_path, pid_t pid, const char *log_path, int timeout_ms,
		   struct gw_qmp **out, struct gw_err **err);

/* Closes the connection and frees q, leaving a QEMU reached through
 * gw_qmp_connect() running (a spawned one is killed: it never outlives its
 * client). NULL is accepted. */
void gw_qmp_disconnect(struct gw_qmp *q);

/* True while q's QEMU process exists (not a zombie). */
bool gw_qmp_alive(struct gw_qmp *q);
/* True while process pid exists and is not a zombie. */
bool gw_qemu_process_alive(pid_t pid);

/* Runs a command and waits for its reply, queueing any events that arrive
 * meanwhile. args may be NULL (borrowed). On success *reply holds a new
 * reference to the "return" value; a QMP error becomes -EREMOTEIO with
 * QEMU's class and description. */
int gw_qmp_execute(struct gw_qmp *q, const char *command, json_t *args, json_t **reply,
		   struct gw_err **err);
/* Same, with the arguments as JSON text (e.g. "{\"type\":\"full\"}"), or NULL. */
int gw_qmp_execute_text(struct gw_qmp *q, const char *command, const char *args_json,
			json_t **reply, struct gw_err **err);

/* The next event named `name` (any event if NULL), oldest first, waiting
 * at most timeout_ms (0 = the connection's timeout). Events of other names
 * stay queued. -ETIMEDOUT when none arrives. *event is a new reference to
 * the whole message ({"event","data","timestamp"}). */
int gw_qmp_wait_event(struct gw_qmp *q, const char *name, int timeout_ms, json_t **event,
		      struct gw_err **err);

/* QEMU's version from the greeting, e.g. "10.0.2" (borrowed). */
const char *gw_qmp_version(const struct gw_qmp *q);
pid_t gw_qmp_pid(const struct gw_qmp *q);
void gw_qmp_set_timeout(struct gw_qmp *q, int timeout_ms);

/* Asks QEMU to quit, waits a bounded time, then SIGKILLs it; always reaps
 * the process and removes the private directory. Returns 0 when QEMU quit
 * by itself, or a negative errno (the process is gone either way). NULL is
 * accepted. */
int gw_qmp_close(struct gw_qmp *q, struct gw_err **err);
void gw_qmp_closep(struct gw_qmp **q);
#define _cleanup_qmp_ _cleanup_(gw_qmp_closep)

/* ---- VMs ---------------------------------------------------------------
 * One QEMU per VM, started detached (its own session, no parent-death
 * signal): it survives the process that started it, and is found again
 * through the QMP socket in its state directory. The state directory
 * holds qmp.sock, qemu.pid (written by QEMU), qemu.log (QEMU's stderr),
 * serial.log unless the spec names another, and disk overlays. Keep its
 * path short: a Unix socket path is limited to 107 bytes. */

enum gw_vm_accel {
	GW_VM_ACCEL_AUTO, /* kvm when /dev/kvm can be opened, else tcg */
	GW_VM_ACCEL_KVM,
	GW_VM_ACCEL_TCG,
};

enum gw_vm_disk_format {
	GW_VM_DISK_RAW,
	GW_VM_DISK_QCOW2,
};

struct gw_vm_disk {
	const char *path;
	enum gw_vm_disk_format format;
	bool cdrom;                      /* read-only IDE CD-ROM */
	/* A container disk: path is a read-only base; the VM writes to a qcow2
	 * overlay in its state directory (disk<N>.qcow2), created at start. */
	bool readonly_base_with_overlay;
};

struct gw_vm_spec {
	const char *name;
	const char *qemu;          /* NULL: qemu-system-x86_64 from PATH */
	/* QEMU's -cpu argument: "Skylake-Client-IBRS", "host", or a resolved
	 * host-model "Model,+feat,-feat" used unchanged on every target. */
	const char *cpu;
	unsigned vcpus;            /* 0 = 1 */
	uint64_t memory_mib;
	const char *machine;       /* NULL = "q35" */
	enum gw_vm_accel accel;
	const struct gw_vm_disk *disks;
	size_t n_disks;
	const char *kernel, *initrd, *append; /* direct boot (test guests) */
	const char *serial_log;    /* COM1 to this file; NULL = STATE/serial.log */
	const char *state_dir;     /* created if missing */
	bool incoming;             /* migration target: `-incoming defer` */
	bool paused;               /* -S: start with the CPUs stopped */
	const char *const *extra_args; /* appended as is (NULL-terminated), or NULL */
};

struct gw_vm;

/* True when /dev/kvm can be opened read-write. */
bool gw_vm_kvm_available(void);

/* The QEMU command line for spec (NULL-terminated; free with
 * gw_vm_argv_free). Pure apart from resolving GW_VM_ACCEL_AUTO. Refuses
 * a spec QEMU would refuse later, with the reason (-EINVAL): no state
 * directory, zero memory, `-cpu host` without KVM, a disk without path. */
int gw_vm_command_line(const struct gw_vm_spec *spec, char ***argv, struct gw_err **err);
void gw_vm_argv_free(char **argv);

/* Starts the VM detached and connects to its QMP socket. Container disks
 * get a fresh overlay first (`qemu-img create -f qcow2 -b BASE -F FMT`).
 * timeout_ms bounds start-up and later QMP waits (0 = default). */
int gw_vm_start(const struct gw_vm_spec *spec, int timeout_ms, struct gw_vm **out,
		struct gw_err **err);

/* A migration target started with spec->incoming: sets the migration
 * capabilities the source will use on this side too (QEMU requires
 * postcopy-ram on both ends) and listens on tcp:ADDRESS:PORT (port 0 =
 * any free port). *bound_port is the port QEMU listens on: the target is
 * ready for the source once this returns. */
int gw_vm_listen_incoming(struct gw_vm *vm, const char *address, unsigned port, bool postcopy,
			  unsigned *bound_port, struct gw_err **err);

/* Block migration, target side: starts QEMU's NBD server on
 * ADDRESS:PORT (port 0 = a free port, chosen here: QEMU 7.2 does not
 * report the port it bound) and exports each listed drive (the -drive id
 * gw_vm_command_line gives it, "disk<N>") writable under the same export
 * name. Call it on a VM started with spec->incoming, whose container disk
 * overlays are fresh over the same base: the source mirrors only its
 * overlay into them. *bound_port is the NBD port. On failure nothing is
 * left exported. */
int gw_vm_nbd_export(struct gw_vm *vm, const char *address, unsigned port,
		     const char *const *devices, size_t n_devices, unsigned *bound_port,
		     struct gw_err **err);
/* Stops the NBD server and its exports (once the source's mirrors ended). */
int gw_vm_nbd_stop(struct gw_vm *vm, struct gw_err **err);

/* Reconnects to a VM that is still running, from its state directory
 * alone (e.g. after the agent restarted): reads qemu.pid, checks that the
 * process is that VM's QEMU, connects to qmp.sock. -ESRCH when no VM runs
 * there. */
int gw_vm_attach(const char *state_dir, int timeout_ms, struct gw_vm **out, struct gw_err **err);

/* QEMU's run state from query-status ("running", "paused", "inmigrate",
 * "postmigrate", ...) into *status (caller frees), and whether it runs. */
int gw_vm_query_status(struct gw_vm *vm, char **status, bool *running, struct gw_err **err);

/* Asks QEMU to quit, waits a bounded time, then SIGKILLs it; frees vm.
 * Returns 0 when QEMU quit by itself. NULL is accepted. */
int gw_vm_stop(struct gw_vm *vm, struct gw_err **err);
/* SIGKILLs the VM's QEMU at once (a failed migration's target); frees vm. */
void gw_vm_kill(struct gw_vm *vm);
/* Frees the handle and leaves the VM running (an agent shutting down). */
void gw_vm_detach(struct gw_vm *vm);

struct gw_qmp *gw_vm_qmp(struct gw_vm *vm);  /* borrowed */
pid_t gw_vm_pid(const struct gw_vm *vm);
const char *gw_vm_state_dir(const struct gw_vm *vm);
bool gw_vm_alive(const struct gw_vm *vm);
/* SIGKILLs the VM's QEMU and waits (bounded) until it is gone; the handle
 * stays valid (its QMP calls then fail) and is still freed by the owner. */
void gw_vm_terminate(struct gw_vm *vm);

/* ---- migration (source side) -------------------------------------------
 * KubeVirt's launcher behaviour (spec/kubevirt-behaviour.md section 4)
 * over QMP: capabilities and parameters, `migrate`, then `query-migrate`
 * every 400 ms with the progress timeout (4.4) and the convergence
 * algorithm (4.5). The decision logic is a function of (config, monitor
 * state, sample, now) so it is tested without QEMU; the executor is a
 * state machine driven by gw_qemu_migration_step(). */

enum gw_qemu_migration_mode {
	GW_QEMU_MIGRATION_MODE_PRECOPY,
	GW_QEMU_MIGRATION_MODE_POSTCOPY,
	GW_QEMU_MIGRATION_MODE_PAUSED,   /* the source guest was paused to converge */
};

enum gw_qemu_migration_phase {
	GW_QEMU_MIGRATION_PHASE_NEW,        /* nothing sent to QEMU yet */
	GW_QEMU_MIGRATION_PHASE_RUNNING,    /* `migrate` issued; polling */
	GW_QEMU_MIGRATION_PHASE_ABORTING,   /* migrate_cancel issued; waiting for QEMU */
	GW_QEMU_MIGRATION_PHASE_COMPLETING, /* source done; waiting for the target to run */
	GW_QEMU_MIGRATION_PHASE_COMPLETED,  /* target runs; the caller quits the source */
	GW_QEMU_MIGRATION_PHASE_FAILED,     /* reason says why; source runs unless post-copy */
	/* Block migration: the disks are being mirrored to the target; the
	 * memory migration starts once every mirror is ready. */
	GW_QEMU_MIGRATION_PHASE_MIRRORING,
};

/* KubeVirt's MigrationConfiguration, as the launcher applies it. */
struct gw_qemu_migration_config {
	uint64_t bandwidth_bytes_per_s;      /* bandwidthPerMigration; 0 = unlimited */
	int64_t completion_timeout_per_gib_s; /* completionTimeoutPerGiB; 0 disables */
	int64_t progress_timeout_s;          /* progressTimeout; 0 disables */
	bool allow_auto_converge;
	bool allow_post_copy;
	/* allowWorkloadDisruption after KubeVirt's shim (unset = allowPostCopy):
	 * the caller resolves it. */
	bool allow_workload_disruption;
	/* 4.3's data size: guest memory (+ copied disks, + migrated volumes). */
	uint64_t data_size_bytes;
	unsigned poll_interval_ms;           /* 0 = 400 (KubeVirt) */
	unsigned abort_timeout_ms;           /* 0 = 30000 (KubeVirt) */
	unsigned completing_timeout_ms;      /* target must run within; 0 = 10000 */
	/* Block migration (KubeVirt's BlockMigration, libvirt's NON_SHARED_INC):
	 * the source's drives (-drive ids, "disk0") whose top layer (the
	 * container disk's overlay) is mirrored (drive-mirror, sync "top")
	 * into the target's NBD exports of the same names (gw_vm_nbd_export)
	 * at nbd_host:nbd_port before the memory goes. Borrowed here; the
	 * executor copies them. None: memory only, as before. */
	const char *const *mirror_devices;
	size_t n_mirror_devices;
	const char *nbd_host;
	unsigned nbd_port;
};

/* KubeVirt's defaults (4.1): unlimited bandwidth, 150 s/GiB, 150 s
 * progress timeout, no auto-converge, no post-copy, no disruption. */
void gw_qemu_migration_config_defaults(struct gw_qemu_migration_config *cfg);

/* 4.2: bandwidthPerMigration bytes/s -> libvirt's MiB/s: 0 -> 0 (not
 * set); below 1 MiB -> 1; else round-half-up(bytes / 1 MiB). */
uint64_t gw_qemu_migration_bandwidth_mib(uint64_t bytes_per_s);
/* QEMU's max-bandwidth (bytes/s) for bandwidthPerMigration: the MiB value
 * above in bytes, or for 0 (unlimited) GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH,
 * because QEMU's own default is a limit (128 MiB/s). */
#define GW_QEMU_MIGRATION_UNLIMITED_BANDWIDTH ((uint64_t)(INT64_MAX / 1048576) * 1048576)
uint64_t gw_qemu_migration_max_bandwidth(uint64_t bytes_per_s);
/* 4.3: completionTimeoutPerGiB x ceil(bytes / 10^9). */
int64_t gw_qemu_migration_acceptable_completion_s(int64_t per_gib_s, uint64_t data_size_bytes);

/* The launcher monitor's memory between polls (4.4, 4.5). */
struct gw_qemu_migration_monitor {
	uint64_t start_ns;              /* when `migrate` was issued */
	int64_t acceptable_s;           /* doubled once the guest is paused */
	uint64_t progress_watermark;    /* remaining bytes at the previous poll */
	uint64_t last_progress_ns;
	enum gw_qemu_migration_mode mode;
	bool aborting;                  /* an abort is in progress */
};

/* One poll of an active migration. */
struct gw_qemu_migration_sample {
	bool has_remaining;
	uint64_t remaining_bytes;
};

enum gw_qemu_migration_action {
	GW_QEMU_MIGRATION_ACTION_NONE,
	GW_QEMU_MIGRATION_ACTION_START_POSTCOPY,
	GW_QEMU_MIGRATION_ACTION_PAUSE,
	GW_QEMU_MIGRATION_ACTION_ABORT_STUCK,    /* not progressing for > progressTimeout */
	GW_QEMU_MIGRATION_ACTION_ABORT_TIMEOUT,  /* not completed within the acceptable time */
};

void gw_qemu_migration_monitor_init(struct gw_qemu_migration_monitor *mon,
			       const struct gw_qemu_migration_config *cfg, uint64_t start_ns);
/* One poll of KubeVirt's monitor: updates the progress watermark (4.4) and
 * returns the first matching case of 4.5. START_POSTCOPY and PAUSE also
 * change mon->mode (and PAUSE doubles mon->acceptable_s), as KubeVirt does
 * when it takes the action; ABORT_* set mon->aborting. Nothing else is
 * read or written: time is `now_ns` (a monotonic clock). */
enum gw_qemu_migration_action gw_qemu_migration_decide(const struct gw_qemu_migration_config *cfg,
					     struct gw_qemu_migration_monitor *mon,
					     const struct gw_qemu_migration_sample *sample,
					     uint64_t now_ns);

#define GW_QEMU_MIGRATION_REASON_MAX 512

/* What goes to the VMI's migrationState as the migration runs. */
struct gw_qemu_migration_status {
	enum gw_qemu_migration_phase phase;
	enum gw_qemu_migration_mode mode;
	char qemu_status[32];            /* query-migrate's status */
	uint64_t start_unix_ms, end_unix_ms; /* wall clock; 0 = not yet */
	uint64_t transferred_bytes, remaining_bytes, total_bytes;
	uint64_t dirty_pages_rate;       /* pages/s */
	uint64_t dirty_rate_bytes_per_s; /* pages/s x page size */
	uint64_t downtime_ms, total_time_ms; /* once completed */
	int64_t acceptable_completion_s;
	uint64_t polls;
	/* Block migration: bytes of the mirrored disks copied so far and to
	 * copy in all (QEMU's block job offset and len, summed; the total
	 * grows while the guest writes), and how many mirrors are ready. */
	uint64_t disk_transferred_bytes, disk_total_bytes;
	unsigned disks_mirrored, disks_ready;
	bool abort_requested;
	bool aborted;                    /* ended by migrate_cancel (request or rule) */
	char failure_reason[GW_QEMU_MIGRATION_REASON_MAX];
};

struct gw_qemu_migration;

/* A migration of source's VM to the target (started with spec->incoming
 * and listening: gw_vm_listen_incoming) at uri ("tcp:HOST:PORT"). Both
 * handles are borrowed and must outlive the migration; on failure the
 * executor SIGKILLs the target's QEMU (gw_vm_terminate).
 * target may be NULL: the target QEMU belongs to another agent. Then
 * COMPLETING ends when the source's query-migrate says completed (the
 * target's agent resumes its VM); failures never touch a remote target,
 * and its death is seen through query-migrate failing on the source. */
int gw_qemu_migration_new(struct gw_vm *source, struct gw_vm *target, const char *uri,
		     const struct gw_qemu_migration_config *cfg, struct gw_qemu_migration **out,
		     struct gw_err **err);
/* Takes over a migration QEMU is already running (after an agent restart):
 * sends no capabilities or migrate; start_unix_ms is when it began (wall
 * clock, from the VMI's migrationState.startTimestamp) and sets the
 * monitor's start so the completion deadline counts from then; mode is the
 * recorded mode (Paused: the acceptable time is already doubled, and the
 * guest is resumed if the migration fails). target may be NULL as above.
 * If QEMU says the migration already completed, failed or was cancelled,
 * the first step ends the executor accordingly; no migration at all in
 * QEMU ("none") is a failure. Progress (4.4) is watched from the adoption. */
int gw_qemu_migration_adopt(struct gw_vm *source, struct gw_vm *target,
			    const struct gw_qemu_migration_config *cfg, uint64_t start_unix_ms,
			    enum gw_qemu_migration_mode mode, struct gw_qemu_migration **out,
			    struct gw_err **err);
/* Frees the executor and leaves QEMU's migration as it is (never cancels
 * it): a restarted agent adopts it. NULL is accepted. */
void gw_qemu_migration_free(struct gw_qemu_migration *m);

/* Advances the migration by one poll: the first call sets capabilities
 * and parameters and issues `migrate`, later ones `query-migrate` and act.
 * now_ns is the monotonic time. The migration's own failures are not
 * errors: they end in GW_QEMU_MIGRATION_PHASE_FAILED with a reason. */
void gw_qemu_migration_step(struct gw_qemu_migration *m, uint64_t now_ns);
/* Until the next step is due: the poll interval, cut short when the
 * source's MIGRATION event says the migration ended (completed, failed,
 * cancelled, post-copy paused), so that the end is seen at once. Events
 * are turned on with the capabilities (adopted: if the previous executor
 * did). Uses the source's QMP connection: call it from the stepping thread. */
void gw_qemu_migration_wait(struct gw_qemu_migration *m);
/* Steps, then waits (gw_qemu_migration_wait), until the migration is
 * completed or failed. */
void gw_qemu_migration_run(struct gw_qemu_migration *m);
/* Asks for an abort (migrate_cancel at the next step); any thread may
 * call it. Ignored in post-copy, which cannot be undone. */
void gw_qemu_migration_request_abort(struct gw_qemu_migration *m);
bool gw_qemu_migration_finished(struct gw_qemu_migration *m);
/* A consistent copy of the status; any thread may call it. */
void gw_qemu_migration_get_status(struct gw_qemu_migration *m, struct gw_qemu_migration_status *out);
unsigned gw_qemu_migration_poll_interval_ms(const struct gw_qemu_migration *m);

const char *gw_qemu_migration_mode_name(enum gw_qemu_migration_mode mode);   /* "PreCopy", ... */
const char *gw_qemu_migration_phase_name(enum gw_qemu_migration_phase phase);

#endif
