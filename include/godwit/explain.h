/* SPDX-License-Identifier: Apache-2.0 */
/* Offline reports over the placement engine: `godwit explain` (every
 * reason for every node, with the fixes of seed 004 that apply) and
 * `godwit plan drain` (where each VM of drained nodes would go under the
 * parallel limits). Both build a JSON document (docs/cli.md gives the
 * shapes) that the CLI renders as text and the server can return as is.
 * Pure: read a gw_cluster, no I/O. */
#ifndef GODWIT_EXPLAIN_H
#define GODWIT_EXPLAIN_H

#include "godwit/sched.h"

/* [{"reason", "subject", "message"}] (subject null when absent). */
json_t *gw_reasons_to_json(const struct gw_reasons *r);

/* "name" or "ns/name": the VMI of that name, else the VMI of the
 * VirtualMachine of that name. -ENOENT with the nearest names when
 * unknown, -EINVAL when a bare name is ambiguous across namespaces. */
int gw_sched_find_vmi(const struct gw_cluster *c, const char *ref, const struct gw_vmi **out,
		      struct gw_err **err);
/* -ENOENT with the nearest node names when absent. */
int gw_sched_find_node(const struct gw_cluster *c, const char *name, const struct gw_node **out,
		       struct gw_err **err);

struct gw_explain_opts {
	const struct gw_rule_set *rules;   /* NULL: godwit */
	const char *node;                  /* only this node; NULL: every node */
	/* Model database for the recommended common model; NULL: that fix is
	 * left out. */
	const struct gw_cpu_modeldb *db;
};
int gw_sched_explain(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_explain_opts *opts,
		     json_t **out, struct gw_err **err);

#define GW_PLAN_DEFAULT_BANDWIDTH (1ll << 30)  /* bytes/s: 1 GiB/s */
struct gw_plan_opts {
	const struct gw_rule_set *rules;   /* NULL: godwit */
	const char *const *nodes;          /* the nodes drained */
	size_t n_nodes;
	int64_t bandwidth_bytes_s;         /* per migration; <= 0: GW_PLAN_DEFAULT_BANDWIDTH */
};
int gw_sched_plan_drain(const struct gw_cluster *c, const struct gw_plan_opts *opts, json_t **out,
			struct gw_err **err);

#endif
