/* SPDX-License-Identifier: Apache-2.0 */
/* The node agent (`godwit node`): registers its Node (CPU labels from the
 * CPU engine, capacity, address), heartbeats, runs the VMIs placed on it as
 * detached QEMU processes and plays the agents' side of the migration
 * hand-off (docs/controllers.md, docs/node-agent.md). It talks to the
 * control plane only through the API (client), never to the store.
 *
 * The pure parts (a VMI as a VM description, the CPU definition, the
 * migration settings, the Node document) are public for the unit tests. */
#ifndef GODWIT_NODE_H
#define GODWIT_NODE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "godwit/api.h"
#include "godwit/cpu.h"
#include "godwit/qemu.h"
#include "godwit/util.h"

/* Annotations and labels the agent writes or respects. */
#define GW_NODE_ANN_HEARTBEAT "kubevirt.io/heartbeat"
#define GW_NODE_ANN_ADDRESS "godwit.io/agent-address"
#define GW_NODE_ANN_SKIP "node-labeller.kubevirt.io/skip-node"
#define GW_NODE_LABEL_VMI_NODE "kubevirt.io/nodeName"

/* ---- a VMI as a VM description ------------------------------------------ */

enum gw_node_cpu_mode {
	GW_NODE_CPU_NAMED,
	GW_NODE_CPU_HOST_MODEL,
	GW_NODE_CPU_PASSTHROUGH,
};

/* What the agent runs for a VMI, owning its strings. The CPU is the model
 * in effect (the VMI's, else the KubeVirt CR's, else host-model); the
 * node turns it into QEMU's -cpu string with gw_node_cpu_resolve. */
struct gw_node_vm {
	enum gw_node_cpu_mode cpu_mode;
	char *cpu_model;            /* the named model; NULL otherwise */
	/* spec.domain.cpu.features as QEMU flags: "+f" (require, force,
	 * optional, or no policy) and "-f" (disable, forbid). */
	struct gw_strv cpu_flags;
	unsigned vcpus;             /* sockets x cores x threads, at least 1 */
	uint64_t memory_mib;
	struct gw_vm_disk *disks;   /* paths owned (freed by _fini) */
	size_t n_disks;
	char *kernel, *initrd, *append;
	struct gw_strv ignored;     /* "devices.interfaces[0] (default): not supported", for the log */
};

void gw_node_vm_fini(struct gw_node_vm *vm);

/* Reads the VMI (its document and the decoded spec) into a VM description.
 * c gives the cluster's cpuModel (its KubeVirt CR; may hold nothing else).
 * Errors name the field and value: `spec.volumes[0].hostDisk.path:
 * "/x.img": No such file or directory`. Disk images must exist; their
 * format is read from their first bytes (qcow2 magic), else the name. */
int gw_node_vm_from_vmi(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_node_vm *out,
			struct gw_err **err);

/* The CPU definition recorded in status.godwit.cpu: {"mode": "host-model" |
 * "named" | "host-passthrough", "model": M, "qemu": "M,+f,-f"}. host-model
 * is resolved on `profile` (libvirt's guest decode), a named model must be
 * known to the database; the VMI's own feature flags come last (they win
 * in QEMU's left-to-right parsing).
 * qemu_features (may be NULL) are the CPU properties the local QEMU has
 * (`qom-list-properties` of max-x86_64-cpu): each feature is written in a
 * spelling QEMU knows (the engine's name or an alias), and a host-model
 * feature QEMU does not know at all (newer than the binary, or
 * libvirt-only like osxsave) is left out and listed in "dropped". */
int gw_node_cpu_resolve(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *profile,
			const struct gw_node_vm *vm, const struct gw_strv *qemu_features, json_t **cpu,
			struct gw_err **err);

/* ---- migration settings ---------------------------------------------- */
/* status.migrationState.migrationConfiguration (as the migration controller
 * writes it) into the executor's settings. completionTimeoutSeconds is the
 * whole acceptable time (the controller already multiplied it by the
 * size); allowWorkloadDisruption unset = allowPostCopy (KubeVirt's shim).
 * NULL = KubeVirt's defaults. memory_bytes is the guest's memory. */
int gw_node_migration_config(const json_t *configuration, uint64_t memory_bytes,
			     struct gw_qemu_migration_config *out, struct gw_err **err);

/* ---- the Node ------------------------------------------------------------ */
struct gw_node_identity {
	const char *name;
	const char *address;        /* InternalIP, and annotation godwit.io/agent-address */
	int64_t cpus;               /* capacity and allocatable */
	int64_t memory_bytes;
};

/* The Node as the agent leaves it: `node` is the stored document (NULL =
 * a new one), `labels` the labeller's labels (gw_cpu_labels). Labels the
 * labeller does not own are kept; with annotation
 * node-labeller.kubevirt.io/skip-node "true" no label is touched (but
 * kubernetes.io/hostname and kubevirt.io/schedulable are set when absent,
 * as virt-handler does). Capacity, allocatable, addresses and the address
 * annotation are always written. Returns a new document. */
int gw_node_document(const json_t *node, const json_t *labels, const struct gw_node_identity *id, json_t **out,
		     struct gw_err **err);

/* ---- the agent ----------------------------------------------------------- */
enum gw_node_accel { GW_NODE_ACCEL_AUTO, GW_NODE_ACCEL_KVM, GW_NODE_ACCEL_TCG };

struct gw_node_agent_options {
	const char *server, *token;   /* as for gw_client_new */
	const char *name;
	const char *profile;          /* NULL: this host through QEMU's view */
	const char *address;          /* NULL = 127.0.0.1 */
	const char *state_dir;        /* NULL = ./godwit-node-NAME */
	int64_t cpus, memory_bytes;   /* 0 = this host's */
	unsigned heartbeat_interval_s; /* 0 = 10 */
	unsigned resync_ms;           /* full list of VMIs; 0 = 2000 */
	const char *qemu;             /* NULL = qemu-system-x86_64 */
	enum gw_node_accel accel;
	const char *model_db;         /* NULL = built in */
	FILE *log;                    /* one timestamped line per action; NULL = stderr */
	/* Set (from a signal handler) to end gw_node_agent_run: VMs keep running. */
	const volatile sig_atomic_t *stop;
};

/* Runs the agent until *opts->stop: registration, heartbeats, the VMIs
 * placed on the node, migrations. Returns 0 after a stop, or an error
 * that keeps it from running (bad profile, server unreachable at start,
 * state directory not writable). */
int gw_node_agent_run(const struct gw_node_agent_options *opts, struct gw_err **err);

#endif
