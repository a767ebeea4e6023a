/* SPDX-License-Identifier: Apache-2.0 */
/* Godwit's resources, shaped like KubeVirt's so existing manifests and a
 * real cluster's `kubectl get ... -o json` work: decoding with precise
 * errors (file, document index, field path, value) into typed structs
 * that the placement engine (sched) reads. The JSON documents are kept
 * beside the structs, so nothing a user wrote is lost. */
#ifndef GODWIT_API_H
#define GODWIT_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "godwit/util.h"

enum gw_kind {
	GW_KIND_NODE,
	GW_KIND_NAMESPACE,
	GW_KIND_VM,         /* kubevirt.io/v1 VirtualMachine */
	GW_KIND_VMI,        /* kubevirt.io/v1 VirtualMachineInstance */
	GW_KIND_VMIM,       /* kubevirt.io/v1 VirtualMachineInstanceMigration */
	GW_KIND_POLICY,     /* migrations.kubevirt.io/v1alpha1 MigrationPolicy */
	GW_KIND_KUBEVIRT,   /* kubevirt.io/v1 KubeVirt (cluster configuration) */
	GW_KIND_POD,        /* v1 Pod (virt-launcher pods carry remembered selectors) */
	GW_KIND_PVC,        /* v1 PersistentVolumeClaim (access modes) */
	GW_KIND_COUNT,
};
const char *gw_kind_name(enum gw_kind k);
/* Kind of a document from its `kind` (and `apiVersion` when given), or -1. */
int gw_kind_from_doc(const json_t *doc);

/* ---- small string map (labels, annotations, node selectors) ---------- */
struct gw_map {
	char **keys;   /* sorted, unique */
	char **values;
	size_t n;
	size_t cap;    /* slots allocated; gw_map_set grows them geometrically */
	/* The arrays and strings are not the map's own but its cluster's
	 * (interned while loading, freed with the cluster): gw_map_fini
	 * frees nothing, gw_map_set and gw_map_del first copy them into the
	 * map's own. Read-only users need not care; a map filled by hand or
	 * by gw_map_copy owns its strings (false). */
	bool borrowed;
};
void gw_map_init(struct gw_map *m);
void gw_map_fini(struct gw_map *m);
void gw_map_copy(struct gw_map *dst, const struct gw_map *src);
void gw_map_set(struct gw_map *m, const char *key, const char *value);
bool gw_map_del(struct gw_map *m, const char *key);
const char *gw_map_get(const struct gw_map *m, const char *key);  /* NULL if absent */
/* The index of the first key at or after key in byte order (m->n if
 * none): the keys with a given prefix follow there, one after another. */
size_t gw_map_lower_bound(const struct gw_map *m, const char *key);
json_t *gw_map_to_json(const struct gw_map *m);
/* An object of strings; `where` is the field path for errors. */
int gw_map_from_json(const json_t *obj, const char *where, struct gw_map *m, struct gw_err **err);

/* ---- quantities (Kubernetes resource.Quantity) ------------------------- */
/* "64Mi", "1G", "500Ki", "2", "1.5Gi", "1e3": bytes (or plain units),
 * rounded up. Negative values are refused. */
int gw_quantity_parse(const char *s, int64_t *out);
/* "500m", "2": CPU in millicores. */
int gw_quantity_parse_millis(const char *s, int64_t *out);
/* Both return -EINVAL (not a quantity), -EDOM (negative) or -ERANGE (does
 * not fit an int64); this names the failure for messages. */
const char *gw_quantity_strerror(int code);

/* ---- common parts -------------------------------------------------------- */
struct gw_meta {
	char *name;
	char *namespace;     /* NULL for cluster-scoped kinds */
	char *uid;
	char *creation_timestamp;
	struct gw_map labels;
	struct gw_map annotations;
};

enum gw_selector_op {
	GW_OP_IN,
	GW_OP_NOT_IN,
	GW_OP_EXISTS,
	GW_OP_DOES_NOT_EXIST,
	GW_OP_GT,
	GW_OP_LT,
};
struct gw_node_requirement {
	char *key;
	enum gw_selector_op op;
	struct gw_strv values;
};
struct gw_node_term {          /* requirements ANDed */
	struct gw_node_requirement *reqs;
	size_t n;
};
struct gw_node_affinity {      /* required terms, ORed; n == 0: no constraint */
	struct gw_node_term *terms;
	size_t n;
};
void gw_node_affinity_fini(struct gw_node_affinity *a);

struct gw_taint {
	char *key, *value, *effect;   /* effect: NoSchedule, PreferNoSchedule, NoExecute */
};
struct gw_toleration {
	char *key, *op, *value, *effect; /* op: Equal (default) or Exists; NULL key + Exists = all */
};

/* ---- Node, Namespace ------------------------------------------------------ */
struct gw_node {
	struct gw_meta meta;
	bool unschedulable;            /* spec.unschedulable (cordoned) */
	struct gw_taint *taints;
	size_t n_taints;
	int64_t cpu_millis;            /* status.allocatable, else capacity; -1 unknown */
	int64_t memory_bytes;          /* idem */
	json_t *doc;                   /* the document as read (owned reference) */
};

struct gw_namespace {
	struct gw_meta meta;
	json_t *doc;
};

/* ---- the VM spec shared by VirtualMachine templates and VMIs ------------- */
enum gw_feature_policy {
	GW_POLICY_EMPTY,     /* "" : treated as require for scheduling */
	GW_POLICY_REQUIRE,
	GW_POLICY_FORCE,
	GW_POLICY_OPTIONAL,
	GW_POLICY_DISABLE,
	GW_POLICY_FORBID,
};
struct gw_vm_feature {
	char *name;
	enum gw_feature_policy policy;
};

enum gw_binding {
	GW_BINDING_MASQUERADE,
	GW_BINDING_BRIDGE,
	GW_BINDING_SRIOV,
	GW_BINDING_PASST,
	GW_BINDING_SLIRP,
	GW_BINDING_PLUGIN,   /* binding: {name: ...} */
	GW_BINDING_OTHER,
};
struct gw_interface {
	char *name;
	enum gw_binding binding;
	char *plugin;        /* binding plugin name, or NULL */
};
struct gw_network {
	char *name;
	bool pod;            /* pod network (else multus) */
};

enum gw_volume_kind {
	GW_VOL_PVC,
	GW_VOL_DATAVOLUME,
	GW_VOL_CONTAINERDISK,
	GW_VOL_CLOUDINIT,
	GW_VOL_HOSTDISK,
	GW_VOL_EMPTYDISK,
	GW_VOL_EPHEMERAL,
	GW_VOL_CONFIG,        /* configMap, secret, serviceAccount, downwardAPI, ... */
	GW_VOL_OTHER,
};
struct gw_volume {
	char *name;
	enum gw_volume_kind kind;
	char *claim;          /* PVC / DataVolume name */
	bool hostdisk_shared;
	/* emptyDisk.capacity as written (a positive integer as its digits),
	 * whatever the volume's kind; NULL when unset */
	char *empty_disk_capacity;
};
enum gw_disk_type { GW_DISK_DISK, GW_DISK_CDROM, GW_DISK_LUN, GW_DISK_FILESYSTEM };
struct gw_disk {
	char *name;
	enum gw_disk_type type;
	bool readonly;        /* cdrom.readonly (default true) */
};

struct gw_vmi_spec {
	char *cpu_model;                 /* spec.domain.cpu.model; NULL when unset */
	struct gw_vm_feature *features;
	size_t n_features;
	char *architecture;              /* NULL when unset */
	char *machine_type;
	struct gw_map node_selector;
	struct gw_node_affinity affinity; /* required node affinity */
	struct gw_toleration *tolerations;
	size_t n_tolerations;
	int64_t cpu_request_millis;      /* 0 when unset */
	int64_t memory_request_bytes;    /* requests.memory, else memory.guest; 0 unset */
	int64_t memory_guest_bytes;      /* spec.domain.memory.guest; 0 unset */
	struct gw_interface *interfaces;
	size_t n_interfaces;
	struct gw_network *networks;
	size_t n_networks;
	struct gw_volume *volumes;
	size_t n_volumes;
	struct gw_disk *disks;
	size_t n_disks;
	size_t n_host_devices;           /* devices.hostDevices */
	size_t n_gpus;                   /* devices.gpus */
	bool sev, sev_snp, tdx;          /* launchSecurity */
	bool hyperv_reenlightenment, hyperv_passthrough;
	bool dedicated_cpu;
	bool realtime;                   /* spec.domain.cpu.realtime set (neither null nor false) */
	char *eviction_strategy;         /* NULL when unset */
};

/* ---- VirtualMachine, VMI, migration, policy, cluster config ------------- */
struct gw_vm {
	struct gw_meta meta;
	struct gw_map template_labels;   /* spec.template.metadata.labels */
	struct gw_vmi_spec spec;         /* spec.template.spec */
	char *run_strategy;              /* Always, Halted, ...; from spec.running when absent */
	json_t *doc;
};

struct gw_vmi {
	struct gw_meta meta;
	struct gw_vmi_spec spec;
	char *phase;                     /* status.phase; NULL when absent */
	char *node_name;                 /* status.nodeName */
	char *machine_type_status;       /* status.machine.type (canonical, after boot); NULL unset */
	/* claim -> access modes as Kubernetes spells them, comma-joined
	 * ("ReadWriteMany", "ReadWriteOnce,ReadOnlyMany"): from
	 * status.volumeStatus[].persistentVolumeClaimInfo, else (gw_cluster_link)
	 * from the PersistentVolumeClaim object of the same name. */
	struct gw_map pvc_access_modes;
	struct gw_strv migrated_volumes; /* status.migratedVolumes[].volumeName */
	char *tsc_frequency;             /* status.topologyHints.tscFrequency */
	/* Selectors remembered from the VMI's current launcher pod (a Pod
	 * document with label kubevirt.io/created-by=<uid>, or Godwit's own
	 * status.launcherNodeSelector). */
	bool has_launcher_selector;
	struct gw_map launcher_selector;
	char *migration_uid;             /* status.migrationState.migrationUid */
	json_t *doc;
};

struct gw_vmim {
	struct gw_meta meta;
	char *vmi_name;                  /* spec.vmiName */
	struct gw_map added_node_selector;
	char *priority;                  /* NULL, system-critical, user-triggered, system-maintenance */
	char *phase;                     /* status.phase */
	json_t *doc;
};

/* Fields a policy may set: `has_*` says it did (null and absent = not set). */
struct gw_policy {
	struct gw_meta meta;
	bool has_selectors;              /* spec.selectors present */
	bool has_ns_selector, has_vmi_selector;
	struct gw_map ns_selector;       /* namespaceSelector (plain map) */
	struct gw_map vmi_selector;      /* virtualMachineInstanceSelector */
	bool has_allow_auto_converge, allow_auto_converge;
	bool has_bandwidth, has_completion_timeout, has_max_downtime;
	int64_t bandwidth_bytes, completion_timeout_per_gib;
	uint64_t max_downtime_ms;
	bool has_allow_post_copy, allow_post_copy;
	bool has_allow_workload_disruption, allow_workload_disruption;
	json_t *doc;
};

/* spec.configuration.migrations with KubeVirt's defaults applied. */
struct gw_migration_config {
	uint32_t parallel_migrations_per_cluster;      /* 5 */
	uint32_t parallel_outbound_migrations_per_node; /* 2 */
	int64_t bandwidth_bytes;                       /* 0 = unlimited */
	int64_t completion_timeout_per_gib;            /* rule set's default */
	int64_t progress_timeout_s;                    /* 150 */
	bool unsafe_migration_override;
	bool allow_auto_converge;
	bool allow_post_copy;
	int allow_workload_disruption;                 /* -1 unset = same as allow_post_copy */
	uint64_t max_downtime_ms;                      /* 900 */
	bool completion_timeout_set;                   /* the CR set completionTimeoutPerGiB */
};

struct gw_kubevirt {
	struct gw_meta meta;
	char *cpu_model;                 /* spec.configuration.cpuModel; NULL unset */
	struct gw_migration_config migrations;
	bool obsolete_configured;
	struct gw_strv obsolete;         /* obsoleteCPUModels keys */
	char *eviction_strategy;         /* spec.configuration.evictionStrategy */
	struct gw_map cluster_node_selectors; /* developerConfiguration.nodeSelectors */
	struct gw_strv feature_gates;    /* developerConfiguration.featureGates */
	json_t *doc;
};

struct gw_pod {
	struct gw_meta meta;
	char *node_name;                 /* spec.nodeName */
	struct gw_map node_selector;
	char *phase;
	json_t *doc;
};

struct gw_pvc {
	struct gw_meta meta;
	struct gw_strv access_modes;     /* spec.accessModes (status.accessModes when bound) */
	json_t *doc;
};

/* A finding about the input that is not fatal (a VMI on a node that does
 * not exist, a migration for a VMI that does not exist, ...). */
struct gw_finding {
	char *where;                     /* "vmis.yaml: document 3 (VirtualMachineInstance default/vm1)" */
	char *message;
};

/* Everything read from the inputs. Arrays of pointers so indexes stay
 * valid while loading; lookups by name are hashed. */
struct gw_cluster {
	struct gw_node **nodes;
	size_t n_nodes;
	struct gw_namespace **namespaces;
	size_t n_namespaces;
	struct gw_vm **vms;
	size_t n_vms;
	struct gw_vmi **vmis;
	size_t n_vmis;
	struct gw_vmim **vmims;
	size_t n_vmims;
	struct gw_policy **policies;
	size_t n_policies;
	struct gw_kubevirt *kubevirt;    /* NULL: KubeVirt's defaults */
	struct gw_pod **pods;
	size_t n_pods;
	struct gw_pvc **pvcs;
	size_t n_pvcs;
	struct gw_finding *findings;
	size_t n_findings;
	size_t n_docs;                   /* objects decoded (List items counted one by one) */
	size_t n_skipped;                /* documents and List items of kinds Godwit does not use */
	/* Set before loading: decoded objects keep no JSON document (`doc`
	 * NULL) except the KubeVirt CR and MigrationPolicies. For a big
	 * cluster read only to be judged (`godwit check`): the placement
	 * rules read the typed fields, and the documents would be most of the
	 * memory. */
	bool drop_docs;
	struct gw_cluster_index *index;  /* private: name -> object */
};

struct gw_cluster *gw_cluster_new(void);
void gw_cluster_free(struct gw_cluster *c);
/* A file (YAML or JSON, multi-document, `List` kinds) or a directory of
 * such files (sorted, recursively). Errors name file, document index,
 * field path and value: `a.yaml: document 2 (VirtualMachineInstance
 * default/vm1): spec.domain.resources.requests.memory: "12Zi": not a
 * quantity`. */
int gw_cluster_load(struct gw_cluster *c, const char *path, struct gw_err **err);
/* One decoded document; `file` and `index` name it in errors (`index`
 * counts from 0, messages from 1: "document 1" is the first). Kinds not
 * in enum gw_kind are skipped inside a List and, at the top level, when
 * they are well-known Kubernetes/KubeVirt kinds Godwit has no use for
 * (Service, ConfigMap, Deployment, DataVolume, ...); any other kind is
 * an error listing the supported kinds (docs/api.md). Empty documents
 * are skipped. */
int gw_cluster_add_doc(struct gw_cluster *c, const json_t *doc, const char *file, size_t index,
		       struct gw_err **err);
/* After loading: resolve references (launcher pods to VMIs, PVC access
 * modes to VMI volumes), record dangling ones as findings. Idempotent:
 * findings are recomputed on each call. */
void gw_cluster_link(struct gw_cluster *c);
/* Removes a Node (what-if: the node is gone) and frees it; -ENOENT when
 * there is none of that name. VMIs naming it become findings at the next
 * gw_cluster_link. */
int gw_cluster_remove_node(struct gw_cluster *c, const char *name);

struct gw_node *gw_cluster_node(const struct gw_cluster *c, const char *name);
struct gw_namespace *gw_cluster_namespace(const struct gw_cluster *c, const char *name);
struct gw_vmi *gw_cluster_vmi(const struct gw_cluster *c, const char *ns, const char *name);
struct gw_vm *gw_cluster_vm(const struct gw_cluster *c, const char *ns, const char *name);
struct gw_pvc *gw_cluster_pvc(const struct gw_cluster *c, const char *ns, const char *name);
struct gw_pod *gw_cluster_pod(const struct gw_cluster *c, const char *ns, const char *name);
/* By metadata.uid; filled by gw_cluster_link. */
struct gw_vmi *gw_cluster_vmi_by_uid(const struct gw_cluster *c, const char *uid);

/* Decoders of single documents (also used by the server's admission). */
int gw_node_decode(const json_t *doc, struct gw_node **out, struct gw_err **err);
int gw_vmi_decode(const json_t *doc, struct gw_vmi **out, struct gw_err **err);
int gw_vm_decode(const json_t *doc, struct gw_vm **out, struct gw_err **err);
int gw_vmim_decode(const json_t *doc, struct gw_vmim **out, struct gw_err **err);
int gw_policy_decode(const json_t *doc, struct gw_policy **out, struct gw_err **err);
int gw_kubevirt_decode(const json_t *doc, struct gw_kubevirt **out, struct gw_err **err);
int gw_namespace_decode(const json_t *doc, struct gw_namespace **out, struct gw_err **err);
int gw_pod_decode(const json_t *doc, struct gw_pod **out, struct gw_err **err);
int gw_pvc_decode(const json_t *doc, struct gw_pvc **out, struct gw_err **err);
void gw_node_free(struct gw_node *n);
void gw_namespace_free(struct gw_namespace *ns);
void gw_pod_free(struct gw_pod *p);
void gw_pvc_free(struct gw_pvc *p);
void gw_vmi_free(struct gw_vmi *v);
void gw_vm_free(struct gw_vm *v);
void gw_vmim_free(struct gw_vmim *m);
void gw_policy_free(struct gw_policy *p);
void gw_kubevirt_free(struct gw_kubevirt *k);
/* KubeVirt's defaults for spec.configuration.migrations. */
void gw_migration_config_defaults(struct gw_migration_config *mc);

#endif
