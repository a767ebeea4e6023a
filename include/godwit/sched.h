/* SPDX-License-Identifier: Apache-2.0 */
/* The placement engine: KubeVirt's rules for VM CPU models, launch and
 * migration-target node selectors, node eligibility with every failing
 * reason, migratability with every blocker, migration policies and the
 * settings in effect. Pure: reads a gw_cluster, does no I/O. The
 * controllers of the control plane and the offline reports (check,
 * explain, plan) use the same functions. */
#ifndef GODWIT_SCHED_H
#define GODWIT_SCHED_H

#include <sys/uio.h>
#include <time.h>

#include "godwit/api.h"
#include "godwit/cpu.h"

/* ---- rule sets --------------------------------------------------------------
 * Two sets: `godwit` (what the source documents describe) and `kubevirt`
 * (upstream KubeVirt as the spec describes it). Every difference between
 * them lives in this one table (src/sched/rules.c). */
enum gw_rules_id { GW_RULES_GODWIT, GW_RULES_KUBEVIRT };

enum gw_policy_tiebreak {
	/* most matching labels, then the alphabetical order of the matching
	 * label keys, then the policy name (003, OpenShift documentation) */
	GW_TIEBREAK_LABEL_KEYS,
	/* most matching labels, then more VMI labels, then the smaller name
	 * (KubeVirt matchMigrationPolicy, kubevirt-behaviour.md 5.3) */
	GW_TIEBREAK_VMI_COUNT_NAME,
};

struct gw_rule_set {
	const char *name;                   /* "godwit" / "kubevirt" */
	bool cdrom_blocks;                  /* a CD-ROM volume blocks migration (002) */
	bool containerdisk_blocks;          /* a container disk volume blocks migration (002) */
	enum gw_policy_tiebreak tiebreak;
	int64_t completion_timeout_per_gib; /* default: 800 (002, 003) / 150 (KubeVirt) */
	bool size_in_decimal_gb;            /* KubeVirt: ceil(bytes / 10^9); Godwit: bytes / 2^30 */
};
const struct gw_rule_set *gw_rules_get(enum gw_rules_id id);
/* "godwit" or "kubevirt"; NULL when unknown. */
const struct gw_rule_set *gw_rules_by_name(const char *name);

/* ---- reasons ----------------------------------------------------------------- */
enum gw_reason_code {
	/* why a node cannot take a VM */
	GW_R_SOURCE_NODE,          /* the VM runs there now */
	GW_R_SELECTOR_MISSING,     /* a node-selector label is absent (subject: key) */
	GW_R_SELECTOR_VALUE,       /* present with another value (subject: key) */
	GW_R_AFFINITY,             /* no required affinity term matches (subject: the failing requirement) */
	GW_R_NOT_SCHEDULABLE,      /* kubevirt.io/schedulable is not "true" */
	GW_R_CORDONED,             /* spec.unschedulable */
	GW_R_TAINT,                /* a NoSchedule/NoExecute taint not tolerated (subject: key) */
	GW_R_CPU_CAPACITY,         /* not enough free CPU */
	GW_R_MEMORY_CAPACITY,      /* not enough free memory */
	/* why a VM cannot migrate at all (KubeVirt reason names) */
	GW_R_INTERFACE,            /* InterfaceNotLiveMigratable */
	GW_R_CPU_MODE,             /* CPUModeLiveMigratable: host-model, node has no host model */
	GW_R_HOST_DEVICE,          /* HostDeviceNotLiveMigratable */
	GW_R_SEV,                  /* SEVNotLiveMigratable */
	GW_R_TDX,                  /* TDXNotLiveMigratable */
	GW_R_TSC,                  /* NoTSCFrequencyNotLiveMigratable */
	GW_R_HYPERV_PASSTHROUGH,   /* HypervPassthroughNotLiveMigratable */
	GW_R_DISKS,                /* DisksNotLiveMigratable (RWO PVC, non-shared hostDisk, ...) */
	GW_R_CDROM,                /* Godwit rules: CD-ROM volume (eject it first) */
	GW_R_CONTAINERDISK,        /* Godwit rules: container disk volume */
	GW_R_NOT_RUNNING,          /* the VMI does not run (no migration possible) */
	GW_R_IN_FLIGHT,            /* another migration of this VMI is in flight */
	GW_R_NO_HOST_MODEL_LABEL,  /* source node lacks host-model-cpu.* (S18) */
	GW_R_COUNT,
};
/* Stable name: "NodeSelectorMismatch", "InterfaceNotLiveMigratable", ... */
const char *gw_reason_name(enum gw_reason_code code);

struct gw_reason {
	enum gw_reason_code code;
	char *subject;   /* label key, volume or interface name; may be NULL */
	char *message;   /* full sentence, KubeVirt's wording where it has one */
};
struct gw_reasons {
	struct gw_reason *v;
	size_t n;
	/* Set after gw_reasons_init by callers that only group reasons by
	 * code and subject (the cluster report judges ~10^6 pairs): the
	 * messages are not formatted and stay NULL. */
	bool codes_only;
};
void gw_reasons_init(struct gw_reasons *r);
void gw_reasons_fini(struct gw_reasons *r);
void gw_reasons_add(struct gw_reasons *r, enum gw_reason_code code, const char *subject, const char *fmt, ...)
	GW_PRINTF(4, 5);

/* ---- CPU model and selectors ---------------------------------------------------- */
enum gw_model_source { GW_MODEL_FROM_VM, GW_MODEL_FROM_CLUSTER, GW_MODEL_DEFAULT };
/* The CPU model in effect: the VM's cpu.model, else the cluster cpuModel,
 * else host-model (arm64: host-passthrough; the cluster model never
 * applies to arm64, kubevirt-behaviour.md 2.1). */
const char *gw_sched_cpu_model(const struct gw_cluster *c, const struct gw_vmi_spec *spec,
			       enum gw_model_source *source);

/* Launch pod selectors and required affinity (kubevirt-behaviour.md 2.2, 2.3). */
void gw_sched_launch_selector(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_map *selector,
			      struct gw_node_affinity *affinity);
/* Migration target selectors (2.5): named model, host-model (source node
 * labels or remembered launcher selectors, and the quirk), vendor pin,
 * addedNodeSelector under the VMI's own. vmim may be NULL. Fails with
 * GW_R_NO_HOST_MODEL_LABEL's message when the source node has no
 * host-model-cpu label (S18). */
int gw_sched_target_selector(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_vmim *vmim,
			     struct gw_map *selector, struct gw_node_affinity *affinity, struct gw_err **err);
/* Required terms as Kubernetes writes them: [[{key, operator, values}]]. */
json_t *gw_node_affinity_to_json(const struct gw_node_affinity *a);
/* Where the CPU part of the target selector comes from (report's
 * `selectorSource`): a named model, the source node's host-model labels,
 * selectors remembered from the launcher pod (or, QUIRK, the VMI's own
 * required features), or none (host-passthrough: vendor pin only). */
enum gw_selector_source {
	GW_SELECTOR_NONE,
	GW_SELECTOR_NAMED_MODEL,
	GW_SELECTOR_SOURCE_NODE,
	GW_SELECTOR_REMEMBERED,
};
enum gw_selector_source gw_sched_selector_source(const struct gw_cluster *c, const struct gw_vmi *vmi);
/* "none", "named-model", "source-node-labels", "remembered". */
const char *gw_selector_source_name(enum gw_selector_source s);

/* ---- capacity and eligibility ---------------------------------------------------- */
struct gw_usage {
	int64_t *cpu_millis;    /* requested by VMIs running on node i */
	int64_t *memory_bytes;
	size_t n;
};
void gw_sched_usage(const struct gw_cluster *c, struct gw_usage *u);
void gw_usage_fini(struct gw_usage *u);
/* Every reason `node` cannot take `vmi` under these selectors (none = eligible).
 * usage may be NULL (no capacity check). `source` is the node the VMI
 * runs on (NULL for a launch). */
void gw_sched_node_check(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_node *node,
			 const struct gw_node *source, const struct gw_map *selector,
			 const struct gw_node_affinity *affinity, const struct gw_usage *usage,
			 struct gw_reasons *out);

/* ---- migratability --------------------------------------------------------------- */
/* Every blocker, not only the first (sections 3.1, 3.2, 3.4 and 002), in
 * KubeVirt's check order (docs/sched.md). GW_R_IN_FLIGHT names each
 * unfinished migration of the VMI as its subject: a caller judging one
 * of those migrations ignores the reason that names it. rules NULL: godwit. */
void gw_sched_migratable(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules,
			 struct gw_reasons *out);
/* "LiveMigration" or "BlockMigration" (3.2). */
const char *gw_sched_migration_method(const struct gw_cluster *c, const struct gw_vmi *vmi);

/* ---- policies and settings --------------------------------------------------------- */
/* The winning MigrationPolicy for a VMI (index into c->policies) or -1. */
int gw_sched_policy(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules);

struct gw_migration_settings {
	struct gw_migration_config config;   /* cluster config with the policy applied */
	const char *policy;                  /* winning policy name or NULL (borrowed) */
	int64_t size_bytes;                  /* memory (+ disks copied by BlockMigration) */
	int64_t size_units;                  /* GiB or decimal GB, per the rule set */
	int64_t completion_deadline_s;       /* 0 = no completion timeout */
	int64_t bandwidth_mib_s;             /* what QEMU/libvirt gets; 0 = unlimited */
};
void gw_sched_settings(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules,
		       struct gw_migration_settings *out);

/* ---- what-if ------------------------------------------------------------------------ */
/* Changes to a loaded cluster before a report (check, explain, plan);
 * docs/report.md "What-if". */
struct gw_whatif {
	struct gw_strv add_nodes;    /* CPU profile files/dirs or Node documents */
	char *set_cpu_model;         /* cluster cpuModel (KubeVirt CR; created if absent) */
	struct gw_strv remove_nodes; /* node names */
};
void gw_whatif_init(struct gw_whatif *w);
void gw_whatif_fini(struct gw_whatif *w);
/* Applies, in this order: --remove-node, --add-node, --set-cpu-model,
 * then relinks the cluster (findings recomputed). --add-node: a file of
 * Node documents (or Node lists) adds them as they are; any other file a
 * gw_cpu_profile_load reads becomes one Node per host, named after the
 * profile, labelled as KubeVirt's node labeller would (gw_cpu_labels, the
 * cluster's obsoleteCPUModels) plus kubevirt.io/schedulable=true, with the
 * allocatable CPU and memory and the labels the labeller does not own
 * (arch, zones, ...) of the largest existing node, and its machine types
 * when the profile has none. --remove-node: the node is
 * gone; VMIs that ran there are on a missing node (findings; no target).
 * --set-cpu-model: a model of the database, a model some node is labelled
 * with (cpu-model.node.kubevirt.io/M), host-model or host-passthrough;
 * an unknown name is -EINVAL with suggestions. Errors name the option. */
int gw_whatif_apply(struct gw_cluster *c, const struct gw_cpu_modeldb *db, const struct gw_whatif *w,
		    struct gw_err **err);
/* True when w changes nothing. */
bool gw_whatif_empty(const struct gw_whatif *w);

/* ---- the pre-flight report (docs/report.md) ----------------------------------------- */
struct gw_check_options {
	/* Cap of every node list of the whole-cluster report (eligible
	 * targets, rejected groups); "count" always has the full number.
	 * 0 = no cap (explain). */
	size_t max_nodes_listed;
	/* The cluster cpuModel before --set-cpu-model (NULL: none); with
	 * whatif_set_cpu_model the report adds cluster.whatIf (VMs whose
	 * model changes on restart, those it frees). */
	const char *previous_cpu_model;
	bool whatif_set_cpu_model;
	/* Skip the recommended cluster model (CPU engine baseline). */
	bool no_recommendation;
	/* gw_sched_check_stream_text: threads writing the VMs' text (at most
	 * 8), 0 = one per online CPU, 1 = none but the caller's; and VMs per
	 * chunk of text (0 = 512). Reports of one chunk or less are written
	 * by the caller alone. The text is the same whatever these are. */
	unsigned threads;
	size_t text_chunk;
	/* gw_sched_check_stream_text: when set, emit() may get several VMs'
	 * texts at once, with text_join between two (what the caller writes
	 * between two VMs): a few big writes instead of one per VM. */
	const char *text_join;
	/* With text_join: when set, runs of VMs written by threads come as
	 * pieces through text_iov instead of emit() (the caller writes them
	 * in order), some of them texts that many VMs share, not copied. */
	void (*text_iov)(const struct iovec *iov, size_t n, void *ctx);
	/* Print each phase's wall time to stderr ("godwit: timing: ..."). */
	bool timings;
};
#define GW_CHECK_MAX_NODES_LISTED 20
/* Streaming form of gw_sched_check for big clusters: emit() gets each
 * VM's object (a new reference it must release), in input order; the
 * result holds the rest ("rules", "cluster", "findings", no "vms"). */
json_t *gw_sched_check_stream(const struct gw_cluster *c, const struct gw_cpu_modeldb *db,
			      const struct gw_rule_set *rules, const struct gw_check_options *o,
			      void (*emit)(json_t *vm, void *ctx), void *ctx);
/* As gw_sched_check_stream, with each VM as compact JSON text (what
 * gw_json_write_compact writes of the object emit() would get), valid
 * during the call only: no jansson values are built per VM. */
json_t *gw_sched_check_stream_text(const struct gw_cluster *c, const struct gw_cpu_modeldb *db,
				   const struct gw_rule_set *rules, const struct gw_check_options *o,
				   void (*emit)(const char *vm, size_t len, void *ctx), void *ctx);
void gw_check_options_init(struct gw_check_options *o);
/* The wall time since *last (none when *last is zero) to stderr as
 * "godwit: timing: PHASE SECONDS s"; *last becomes now. */
void gw_check_timing(struct timespec *last, const char *phase);
/* The whole report: per VM (migratable, blockers, model, selectors,
 * eligible targets, rejected nodes grouped by reason and subject,
 * settings) and for the cluster (VMs without target, drain strands,
 * CPU domains, recommended model), and the loader's findings. Nodes are
 * judged once per class of nodes with the same relevant labels, taints
 * and cordon, per placement signature: the cost grows with VMs x classes,
 * not VMs x nodes. db may be NULL (no recommendation). */
json_t *gw_sched_check(const struct gw_cluster *c, const struct gw_cpu_modeldb *db,
		       const struct gw_rule_set *rules, const struct gw_check_options *o);

#endif
