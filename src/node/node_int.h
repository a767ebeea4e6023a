/* SPDX-License-Identifier: Apache-2.0 */
/* The node agent's private parts: the agent, its local VMs, the API calls
 * it makes. Threads: the main loop (`gw-node`) owns the agent and every
 * local VM; the watcher (`gw-node-watch`) only marks the loop dirty; a
 * source migration thread (`gw-node-mig`) owns its VM's QEMU handle while
 * it runs (QMP is one client, one user) and shares only `struct
 * source_mig`, under its lock. */
#ifndef GODWIT_NODE_INT_H
#define GODWIT_NODE_INT_H

#include <pthread.h>

#include "godwit/client.h"
#include "godwit/node.h"

#define VMI_COLLECTION "/apis/kubevirt.io/v1/virtualmachineinstances"

enum lv_role {
	LV_RUN,       /* the VMI's VM on this node */
	LV_INCOMING,  /* a migration target: QEMU -incoming */
};

struct source_mig;

/* What the main loop shares with the watcher thread, which is never
 * joined (a watch stream blocks until the server sends something): it
 * lives on the heap until both have let go of it. */
struct wake {
	pthread_mutex_t lock;      /* guards dirty and refs */
	pthread_cond_t cond;
	bool dirty;
	int refs;
	const volatile sig_atomic_t *stop;
	char *server, *token, *name;
	FILE *log;
};

struct local_vm {
	char *ns, *name, *uid;
	char *dir;                 /* STATE/vms/<ns>_<name>_<uid8>[_in] */
	enum lv_role role;
	char *migration_uid;       /* LV_INCOMING: the migration it receives */
	struct gw_vm *vm;          /* NULL while a migration thread owns it, or when gone */
	uint64_t memory_bytes;
	json_t *cpu;               /* the CPU definition it runs with (status.godwit.cpu), or NULL */
	struct source_mig *mig;    /* a source migration in flight, or NULL */
	/* Drives a migration copies (block migration): the container disks'
	 * writable overlays, as QEMU drive ids ("disk0"); saved with the VM. */
	struct gw_strv copy_disks;
};

struct agent {
	const struct gw_node_agent_options *o;
	const char *name, *address, *qemu;
	char *state_dir, *vms_dir;
	struct gw_client *client;  /* the main loop's */
	struct gw_cpu_modeldb *db;
	struct gw_cpu_profile *profile;
	bool stand_in;             /* --profile: another host's CPU, always TCG */
	/* CPU properties of the local QEMU (feature spellings it takes);
	 * NULL when it could not be asked. */
	struct gw_strv *qemu_features;
	int64_t cpus, memory_bytes;
	FILE *log;
	pthread_mutex_t log_lock;

	struct wake *wake;         /* shared with the watcher */

	struct local_vm **vms;
	size_t n_vms;
	struct gw_strv done_migrations; /* uids this agent finished, either role */
	bool list_failing;         /* the last list failed (logged once) */
};

void agent_log(struct agent *a, const char *fmt, ...) GW_PRINTF(2, 3);
/* RFC 3339 UTC with milliseconds. */
bool agent_stopping(const struct agent *a);

/* ---- API calls (api_io.c) ---- */
/* Any 2xx: 0 and *reply (may be NULL); else the server's error. */
int node_call(struct gw_client *c, const char *method, const char *path, const char *content_type,
	      const json_t *body, json_t **reply, struct gw_err **err);
char *vmi_path(const char *ns, const char *name);
/* Changes a VMI through its status subresource (or the object itself when
 * `object` is true) with CAS on resourceVersion, re-reading on conflict.
 * edit returns 1 (write), 0 (nothing to write: done) or a negative errno
 * (give up). -ENOENT when the VMI is gone. */
typedef int (*vmi_edit_fn)(json_t *vmi, void *arg);
int vmi_update(struct gw_client *c, const char *ns, const char *name, bool object, vmi_edit_fn edit, void *arg,
	       struct gw_err **err);
json_t *json_child(json_t *parent, const char *key);   /* creates an object when absent */
const char *json_str_at(const json_t *o, const char *dotted);

/* ---- registration (register.c) ---- */
int node_register(struct agent *a, struct gw_err **err);
int node_heartbeat(struct agent *a, struct gw_err **err);

/* ---- local VMs (runtime.c) ---- */
void local_vm_free(struct local_vm *lv);
int local_vm_save(const struct local_vm *lv, struct gw_err **err);
/* Removes the VM's directory and everything in it. */
void local_vm_remove_dir(struct agent *a, struct local_vm *lv);
/* Asks the local QEMU which CPU feature properties it has. */
int runtime_probe_qemu(struct agent *a, struct gw_err **err);
/* Finds the VMs left in STATE/vms by an earlier run. */
void runtime_attach_all(struct agent *a);
/* Starts the VMI's VM (role RUN) or a migration target (INCOMING). On
 * success *out is a new local VM holding the handle. cpu_qemu NULL =
 * resolve (and return the definition in *cpu). */
int runtime_start(struct agent *a, const json_t *vmi_doc, const struct gw_cluster *c, enum lv_role role,
		  const char *migration_uid, struct local_vm **out, json_t **cpu, struct gw_err **err);
void agent_add_vm(struct agent *a, struct local_vm *lv);
void agent_drop_vm(struct agent *a, struct local_vm *lv);  /* removes from the list and frees */

/* ---- migrations (migration.c) ---- */
/* Source: starts a thread for the VMI's migration (adopt = it was already
 * running in QEMU before the agent restarted). */
int source_start(struct agent *a, struct local_vm *lv, const json_t *vmi_doc, bool adopt, struct gw_err **err);
/* The controller asked for an abort before the source started: closes
 * the migrationState as aborted. */
void source_abort_unstarted(struct agent *a, const char *ns, const char *name, const char *migration_uid);
/* If lv's migration thread ended: joins it, and returns true with the VM
 * back in lv->vm (failure) or gone (success: lv should be dropped). */
bool source_reap(struct agent *a, struct local_vm *lv, bool *succeeded);
/* The agent is stopping: the threads are left to finish their step and
 * write their state; joined with a bound. */
void source_stop(struct agent *a, struct local_vm *lv);
/* Target side of one VMI's migrationState (in the main loop). */
void target_reconcile(struct agent *a, const json_t *vmi_doc, const struct gw_cluster *c);

#endif
