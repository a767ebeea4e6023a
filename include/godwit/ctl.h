/* SPDX-License-Identifier: Apache-2.0 */
/* The controllers of the control plane, run inside `godwit server`: one
 * loop (thread) each, driven by store watches, all state in the store.
 *   vm         VirtualMachine -> VirtualMachineInstance (runStrategy, restart)
 *   placement  a new VMI gets a node (launch selectors, affinity, taints,
 *              capacity) or says why not
 *   migration  VirtualMachineInstanceMigration phases (kubevirt-behaviour.md
 *              section 6): limits, priority queue, target choice, timeouts,
 *              abort, in-flight guard, evacuation backoff
 *   node       agent heartbeats (silent node -> unschedulable) and drain
 *              (`godwit drain NODE` -> evacuation migrations)
 * docs/controllers.md describes each, and the protocol with the node agent.
 *
 * Restart-safe: on start every loop lists, then watches from the list's
 * resourceVersion, and resumes each object from what the store records.
 * Writes are compare-and-swap on resourceVersion; a conflict is retried on
 * the next pass, from a fresh read. */
#ifndef GODWIT_CTL_H
#define GODWIT_CTL_H

#include <stdint.h>

#include "godwit/store.h"
#include "godwit/util.h"

struct gw_ctl;

enum gw_ctl_which {
	GW_CTL_VM = 1u << 0,
	GW_CTL_PLACEMENT = 1u << 1,
	GW_CTL_MIGRATION = 1u << 2,
	GW_CTL_NODE = 1u << 3,
	GW_CTL_ALL = 0xfu,
};

enum gw_ctl_log_level { GW_CTL_LOG_DEBUG, GW_CTL_LOG_INFO, GW_CTL_LOG_WARN, GW_CTL_LOG_ERROR };

struct gw_ctl_options {
	/* A node whose kubevirt.io/heartbeat annotation is older than this
	 * becomes unschedulable (0 = 300 s). */
	int64_t node_heartbeat_timeout_s;
	/* Periodic re-evaluation even without events (timeouts, backoff);
	 * 0 = 1000 ms. */
	int resync_ms;
	/* Wall clock in ms since the epoch; NULL = CLOCK_REALTIME. Tests
	 * inject a clock to run timeouts fast (then call gw_ctl_kick). */
	int64_t (*now_ms)(void *clock_ctx);
	void *clock_ctx;
	/* Log sink (the library never prints); NULL = silent. Called from
	 * the controller threads. */
	void (*log)(void *log_ctx, enum gw_ctl_log_level level, const char *msg);
	void *log_ctx;
	/* Which controllers run (GW_CTL_* bits); 0 = all. */
	unsigned controllers;
	/* Rule set for migratability and settings: "godwit" (NULL) or "kubevirt". */
	const char *rules;
};

/* Starts the controllers on store (borrowed; must outlive the controllers).
 * opts may be NULL (defaults). */
int gw_ctl_start(struct gw_store *store, const struct gw_ctl_options *opts, struct gw_ctl **out,
		 struct gw_err **err);
/* Wakes every loop for a pass now (after a test advanced its clock). */
void gw_ctl_kick(struct gw_ctl *ctl);
/* Stops and joins every thread, frees everything. Accepts NULL. Nothing
 * is lost: the next start resumes from the store. */
void gw_ctl_stop(struct gw_ctl *ctl);

#endif
