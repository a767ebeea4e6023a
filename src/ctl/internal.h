/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the controllers: the loop framework, the snapshot of the store
 * each pass reads, time, and compare-and-swap writes. */
#ifndef GODWIT_CTL_INTERNAL_H
#define GODWIT_CTL_INTERNAL_H

#include <pthread.h>

#include "godwit/api.h"
#include "godwit/ctl.h"
#include "godwit/sched.h"
#include "godwit/store.h"

#define KIND_NODES "nodes"
#define KIND_NAMESPACES "namespaces"
#define KIND_VMS "virtualmachines"
#define KIND_VMIS "virtualmachineinstances"
#define KIND_VMIMS "virtualmachineinstancemigrations"
#define KIND_POLICIES "migrationpolicies"
#define KIND_KUBEVIRTS "kubevirts"

#define MIGRATION_FINALIZER "kubevirt.io/migrationJobFinalize"
/* On a Node whose agent sent no heartbeat within the timeout (node.c). */
#define ANN_LAPSED "godwit.io/heartbeat-lapsed"

struct gw_ctl;

/* One controller loop. `pass` reads a fresh snapshot and does one round of
 * work; it returns the ms until it wants to run again without events
 * (-1 = only on events or the resync tick). */
struct ctl_loop {
	const char *thread_name;
	unsigned which;
	unsigned kinds;            /* bit i: watched kind i (ctl.c's table) */
	int64_t (*pass)(struct gw_ctl *ctl, const struct gw_cluster *c);
	pthread_t thread;
	bool started;
	uint64_t dirty;            /* guarded by ctl->lock */
	struct gw_ctl *ctl;
};

struct ctl_watcher {
	struct gw_ctl *ctl;
	size_t kind;               /* index into ctl.c's table of kinds */
	pthread_t thread;
};

struct gw_ctl {
	struct gw_store *store;
	struct gw_ctl_options opts;
	const struct gw_rule_set *rules;
	/* lock guards: stopping, every loop's dirty counter */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	struct ctl_loop loops[4];
	size_t n_loops;
	struct ctl_watcher watchers[8];
	size_t n_watchers;
	uint64_t name_seq;         /* generated names; used by the node loop only */
};

int64_t ctl_now_ms(struct gw_ctl *ctl);
void ctl_log(struct gw_ctl *ctl, enum gw_ctl_log_level level, const char *fmt, ...) GW_PRINTF(3, 4);

/* Compare-and-swap update of obj (its metadata.resourceVersion); -EBUSY on
 * conflict (the next pass re-reads). Logs other failures. */
int ctl_update(struct gw_ctl *ctl, const char *kind, json_t *obj);

/* Small JSON helpers. */
json_t *ctl_obj(json_t *parent, const char *key);        /* get or create an object member */
const char *ctl_str(const json_t *obj, const char *path); /* "a.b.c" path; NULL if absent */
bool ctl_bool(const json_t *obj, const char *path);
/* Sets status.conditions[type] (replacing one of that type); returns true
 * when something changed. */
bool ctl_set_condition(json_t *obj, const char *type, const char *status, const char *reason,
		       const char *message, int64_t now_ms);
bool ctl_remove_condition(json_t *obj, const char *type);
bool ctl_has_condition(const json_t *obj, const char *type);
/* Appends {phase, phaseTransitionTimestamp} and sets status.phase. */
void ctl_record_phase(json_t *obj, const char *phase, int64_t now_ms);
/* ms of the last transition into phase, or -1. */
int64_t ctl_phase_time(const json_t *obj, const char *phase);
bool ctl_phase_final(const char *phase);

/* Capacity in use per node (VMIs on nodes + targets reserved by
 * migrations in flight), updated as a pass places things. */
struct ctl_capacity {
	struct gw_usage usage;
};
void ctl_capacity_init(struct ctl_capacity *cap, const struct gw_cluster *c);
void ctl_capacity_fini(struct ctl_capacity *cap);
void ctl_capacity_add(struct ctl_capacity *cap, const struct gw_cluster *c, const char *node,
		      const struct gw_vmi *vmi);
/* Picks, among c's nodes, the one passing every check with the most free
 * memory (then CPU, then name); NULL when none, with per-node reasons in
 * *why ("node-a: NodeSelectorMismatch: ...; node-b: ..."). */
const struct gw_node *ctl_pick_node(const struct gw_cluster *c, const struct gw_vmi *vmi,
				    const struct gw_node *source, const struct gw_map *selector,
				    const struct gw_node_affinity *affinity, const struct ctl_capacity *cap,
				    char **why);

int64_t ctl_pass_vm(struct gw_ctl *ctl, const struct gw_cluster *c);
int64_t ctl_pass_placement(struct gw_ctl *ctl, const struct gw_cluster *c);
int64_t ctl_pass_migration(struct gw_ctl *ctl, const struct gw_cluster *c);
int64_t ctl_pass_node(struct gw_ctl *ctl, const struct gw_cluster *c);

#endif
