/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the files of src/sched. Not installed, not public.
 * Lookups walk the cluster's arrays instead of its hash index, so the
 * engine also works on clusters built by hand (tests, the server's
 * admission of a single document). */
#ifndef GODWIT_SCHED_INT_H
#define GODWIT_SCHED_INT_H

#include "godwit/sched.h"

/* Sets every entry of src in dst: src wins on a shared key, dst keeps its
 * other entries (gw_map_copy would replace dst). */
void sched_map_overlay(struct gw_map *dst, const struct gw_map *src);
/* A selector entry key=want that asks for a schedulable node: its
 * mismatch is NodeNotSchedulable ("true" wanted; absent or another value
 * fails), not NodeSelectorMismatch. */
bool sched_selector_schedulable(const char *key, const char *want);
/* "key Op [v1, v2]": how an affinity reason names its requirement. */
char *sched_requirement_string(const struct gw_node_requirement *r);
/* The reason (if any) node `name` gets for selector key=want when its
 * label has value `have` (NULL: absent); gw_sched_node_check's rule. */
void sched_selector_reason(const char *name, const char *key, const char *want, const char *have,
			   struct gw_reasons *out);
/* true when some key of m starts with prefix. */
bool sched_map_has_prefix(const struct gw_map *m, const char *prefix);

/* gw_sched_target_selector in two steps: what does not depend on the
 * source node (launch selector, addedNodeSelector, remembered host-model
 * entries; *host_labels when the source node's host model is still to
 * come), then what does (its host-model labels, the vendor pin). */
void sched_target_selector_pre(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_vmim *vmim,
			       struct gw_map *selector, struct gw_node_affinity *affinity, bool *host_labels);
int sched_target_selector_node(const struct gw_vmi *vmi, const struct gw_node *source, bool host_labels,
			       struct gw_map *selector, struct gw_err **err);
/* Appends to key every input of sched_target_selector_pre(c, vmi, vmim)
 * and the VMI's tolerations (the rest of a placement signature): VMIs
 * with equal keys in clusters that differ at most in cpuModel get equal
 * selectors, affinities and host_labels, and have equal tolerations.
 * Maps are written as map_id(ctx, map), which must give equal ids only
 * to maps equal in content (0 to none and to empty ones). */
void sched_target_pre_key(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_vmim *vmim,
			  struct gw_buf *key, size_t (*map_id)(void *ctx, const struct gw_map *m), void *ctx);
/* m's content as key bytes (for map ids): its strings, or their
 * addresses when m is borrowed (interned). */
void sched_map_key(struct gw_buf *key, const struct gw_map *m);
/* true when the selector pins a CPU vendor: sched_target_selector_node
 * then does not read the source node's (the host-model labels it adds
 * never do). */
bool sched_selector_has_vendor(const struct gw_map *selector);
/* Appends to key all that sched_target_selector_node(vmi, source,
 * host_labels, selector) reads of the source node, vendor being
 * !sched_selector_has_vendor(selector): with equal keys (and equal
 * selector and host_labels) it adds the same entries or fails with the
 * same message. Nothing when it reads nothing; false when it would fail
 * for want of the source node (its message names the VMI: not to be
 * shared). */
bool sched_target_node_inputs(const struct gw_node *source, bool host_labels, bool vendor, struct gw_buf *key);
const struct gw_node *sched_find_node(const struct gw_cluster *c, const char *name);
const struct gw_namespace *sched_find_namespace(const struct gw_cluster *c, const char *name);
bool sched_feature_gate(const struct gw_cluster *c, const char *gate);
/* A nested member of a JSON document, NULL when any step is missing. */
const json_t *sched_json_path(const json_t *doc, const char *const *path);

void sched_affinity_copy(struct gw_node_affinity *dst, const struct gw_node_affinity *src);
/* Appends `key DoesNotExist` to every term, or creates one term (2.3). */
void sched_affinity_reject(struct gw_node_affinity *a, const char *key);

/* gw_sched_settings with the winning policy (index or -1) and the
 * migration method already known. */
void sched_settings_of(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules,
		       int pi, const char *method, struct gw_migration_settings *out);

/* gw_sched_policy memoized for one thread: VMIs equal in every input it
 * reads (policy.c: sched_policy_memo_get) share one evaluation. The
 * cluster's policies and namespaces must not change while it lives. */
struct sched_policy_slot {
	char *key;                         /* NULL: empty */
	size_t len;
	uint64_t hash;
	int policy;
};
struct sched_policy_memo {
	const struct gw_cluster *c;
	const struct gw_rule_set *rules;
	struct {
		char *name;                /* a label key some VMI selector names */
		struct gw_strv values;     /* the values selectors want for it, sorted */
	} *keys;
	size_t n_keys;
	struct sched_policy_slot *slots;
	size_t cap, n;                     /* cap: 0 or a power of two */
	struct gw_buf key;                 /* scratch */
};
void sched_policy_memo_init(struct sched_policy_memo *m, const struct gw_cluster *c,
			    const struct gw_rule_set *rules);
void sched_policy_memo_fini(struct sched_policy_memo *m);
int sched_policy_memo_get(struct sched_policy_memo *m, const struct gw_vmi *vmi);

#define SCHED_LABEL_SCHEDULABLE "kubevirt.io/schedulable"
#define SCHED_PREFIX_CPU_MODEL "cpu-model.node.kubevirt.io/"
#define SCHED_PREFIX_CPU_MODEL_MIGRATION "cpu-model-migration.node.kubevirt.io/"
#define SCHED_PREFIX_CPU_FEATURE "cpu-feature.node.kubevirt.io/"
#define SCHED_PREFIX_HOST_MODEL "host-model-cpu.node.kubevirt.io/"
#define SCHED_PREFIX_HOST_MODEL_FEATURE "host-model-required-features.node.kubevirt.io/"
#define SCHED_PREFIX_CPU_VENDOR "cpu-vendor.node.kubevirt.io/"
#define SCHED_LABEL_OBSOLETE_HOST_MODEL "node-labeller.kubevirt.io/obsolete-host-model"

#endif
