/* SPDX-License-Identifier: Apache-2.0 */
/* The node controller: agents' heartbeats (a silent node becomes
 * unschedulable and its VMIs say so) and drains (evacuation migrations for
 * the VMIs whose eviction strategy asks for it; the migration controller's
 * limits and backoff throttle them). */
#include <string.h>

#include "internal.h"

#define ANN_HEARTBEAT "kubevirt.io/heartbeat"
#define ANN_DRAIN "godwit.io/drain"
#define ANN_DRAIN_STATUS "godwit.io/drain-status"
#define LABEL_SCHEDULABLE "kubevirt.io/schedulable"
#define COND_NODE_READY "NodeReady"

/* A node's readiness changes here only: ready -> lapsed records when and
 * why (annotation), lapsed -> ready when a heartbeat is fresh again. */
static void set_node_lapsed(struct gw_ctl *ctl, const struct gw_node *n, bool lapsed, int64_t now, int64_t age_s)
{
	_cleanup_json_ json_t *doc = json_deep_copy(n->doc);
	json_t *md = ctl_obj(doc, "metadata");
	json_t *ann = ctl_obj(md, "annotations");
	json_t *labels = ctl_obj(md, "labels");
	if (lapsed) {
		char ts[40];
		gw_time_format(now, ts);
		json_object_set_new(ann, ANN_LAPSED, json_string(ts));
		json_object_set_new(labels, LABEL_SCHEDULABLE, json_string("false"));
		ctl_log(ctl, GW_CTL_LOG_WARN, "node %s: no heartbeat for %llds, unschedulable", n->meta.name,
			(long long)age_s);
	} else {
		json_object_del(ann, ANN_LAPSED);
		json_object_set_new(labels, LABEL_SCHEDULABLE, json_string("true"));
		ctl_log(ctl, GW_CTL_LOG_INFO, "node %s: heartbeat again, schedulable", n->meta.name);
	}
	ctl_update(ctl, KIND_NODES, doc);
}

static void mark_vmis(struct gw_ctl *ctl, const struct gw_cluster *c, const char *node, bool lapsed, int64_t now)
{
	for (size_t i = 0; i < c->n_vmis; i++) {
		const struct gw_vmi *vmi = c->vmis[i];
		if (!vmi->node_name || strcmp(vmi->node_name, node) != 0 || ctl_phase_final(vmi->phase))
			continue;
		if (!lapsed && !ctl_has_condition(vmi->doc, COND_NODE_READY))
			continue;   /* the common case: nothing to undo, no copy */
		_cleanup_json_ json_t *doc = json_deep_copy(vmi->doc);
		bool changed;
		if (lapsed) {
			_cleanup_free_ char *msg =
				gw_asprintf("node %s is not ready: its agent sent no heartbeat within %llds", node,
					    (long long)ctl->opts.node_heartbeat_timeout_s);
			changed = ctl_set_condition(doc, COND_NODE_READY, "False", "NodeUnresponsive", msg, now);
		} else {
			changed = ctl_remove_condition(doc, COND_NODE_READY);
		}
		if (changed)
			ctl_update(ctl, KIND_VMIS, doc);
	}
}

static int64_t heartbeats(struct gw_ctl *ctl, const struct gw_cluster *c, int64_t now)
{
	int64_t next = -1;
	int64_t timeout_ms = ctl->opts.node_heartbeat_timeout_s * 1000;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *n = c->nodes[i];
		const char *hb = gw_map_get(&n->meta.annotations, ANN_HEARTBEAT);
		if (!hb)
			continue;   /* no agent reports for this node: not ours to judge */
		int64_t at = gw_time_parse(hb);
		bool lapsed = at < 0 || now - at > timeout_ms;
		bool marked = gw_map_get(&n->meta.annotations, ANN_LAPSED) != NULL;
		if (lapsed != marked)
			set_node_lapsed(ctl, n, lapsed, now, at < 0 ? -1 : (now - at) / 1000);
		mark_vmis(ctl, c, n->meta.name, lapsed, now);
		if (!lapsed) {
			int64_t rel = at + timeout_ms + 1 - now;
			if (next < 0 || rel < next)
				next = rel;
		}
	}
	return next;
}

/* ---- drain ------------------------------------------------------------------------------ */
static const char *eviction_strategy(const struct gw_cluster *c, const struct gw_vmi *vmi)
{
	if (vmi->spec.eviction_strategy)
		return vmi->spec.eviction_strategy;
	if (c->kubevirt && c->kubevirt->eviction_strategy)
		return c->kubevirt->eviction_strategy;
	return "None";
}

static bool has_unfinished_vmim(const struct gw_cluster *c, const struct gw_vmi *vmi)
{
	for (size_t i = 0; i < c->n_vmims; i++) {
		const struct gw_vmim *m = c->vmims[i];
		if (m->vmi_name && strcmp(m->vmi_name, vmi->meta.name) == 0 && m->meta.namespace &&
		    vmi->meta.namespace && strcmp(m->meta.namespace, vmi->meta.namespace) == 0 &&
		    !ctl_phase_final(m->phase))
			return true;
	}
	return false;
}

static bool migratable(struct gw_ctl *ctl, const struct gw_cluster *c, const struct gw_vmi *vmi)
{
	struct gw_reasons r;
	gw_reasons_init(&r);
	gw_sched_migratable(c, vmi, ctl->rules, &r);
	bool ok = true;
	for (size_t i = 0; i < r.n; i++)
		if (r.v[i].code != GW_R_IN_FLIGHT)
			ok = false;
	gw_reasons_fini(&r);
	return ok;
}

static void evacuate(struct gw_ctl *ctl, const struct gw_vmi *vmi, const char *node, int64_t now)
{
	char name[96];
	/* Fixed-width: names sort as they were made (backoff's tie-break). */
	snprintf(name, sizeof(name), "kubevirt-evacuation-%011llx-%06llx", (unsigned long long)now,
		 (unsigned long long)++ctl->name_seq);
	char created[40];
	gw_time_format(now, created);
	_cleanup_json_ json_t *m = json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:{s:s}}, s:{s:s, s:s}}", "apiVersion", "kubevirt.io/v1", "kind",
		"VirtualMachineInstanceMigration", "metadata", "name", name, "namespace", vmi->meta.namespace,
		"labels", "kubevirt.io/vmi-name", vmi->meta.name, "annotations", "kubevirt.io/evacuationMigration", node,
		"spec", "vmiName", vmi->meta.name, "priority", "system-critical");
	/* The controllers' clock, in ms: the backoff orders by it (6.6). */
	json_object_set_new(json_object_get(m, "metadata"), "creationTimestamp", json_string(created));
	_cleanup_err_ struct gw_err *err = NULL;
	if (gw_store_create(ctl->store, KIND_VMIMS, m, NULL, &err) < 0)
		ctl_log(ctl, GW_CTL_LOG_WARN, "drain %s: create migration for %s/%s: %s", node, vmi->meta.namespace,
			vmi->meta.name, gw_err_msg(err));
	else
		ctl_log(ctl, GW_CTL_LOG_INFO, "drain %s: migrating %s/%s (%s)", node, vmi->meta.namespace, vmi->meta.name,
			name);
}

/* KubeVirt's mark of a VMI to leave its node (6.7); the agent clears it
 * when the VMI arrives. Retried each pass: the migration controller and
 * the agents write the same VMI. */
static void mark_evacuation(struct gw_ctl *ctl, const struct gw_vmi *vmi, const char *node)
{
	const char *have = ctl_str(vmi->doc, "status.evacuationNodeName");
	if (have && strcmp(have, node) == 0)
		return;
	_cleanup_json_ json_t *doc = json_deep_copy(vmi->doc);
	json_object_set_new(ctl_obj(doc, "status"), "evacuationNodeName", json_string(node));
	ctl_update(ctl, KIND_VMIS, doc);
}

static void drain(struct gw_ctl *ctl, const struct gw_cluster *c, const struct gw_node *n, int64_t now)
{
	size_t moving = 0, staying = 0;
	for (size_t i = 0; i < c->n_vmis; i++) {
		const struct gw_vmi *vmi = c->vmis[i];
		if (!vmi->node_name || strcmp(vmi->node_name, n->meta.name) != 0 || ctl_phase_final(vmi->phase) ||
		    ctl_str(vmi->doc, "metadata.deletionTimestamp"))
			continue;
		const char *strategy = eviction_strategy(c, vmi);
		bool live = strcmp(strategy, "LiveMigrate") == 0 ||
			    (strcmp(strategy, "LiveMigrateIfPossible") == 0 && migratable(ctl, c, vmi));
		if (!live) {
			staying++;
			continue;
		}
		moving++;
		if (!has_unfinished_vmim(c, vmi))
			evacuate(ctl, vmi, n->meta.name, now);
		mark_evacuation(ctl, vmi, n->meta.name);
	}
	_cleanup_free_ char *status = moving ? gw_asprintf("InProgress: %zu VMIs to migrate, %zu stay", moving, staying)
					     : gw_asprintf("Complete: %zu VMIs stay (eviction strategy)", staying);
	const char *have = gw_map_get(&n->meta.annotations, ANN_DRAIN_STATUS);
	if (!have || strcmp(have, status) != 0) {
		_cleanup_json_ json_t *doc = json_deep_copy(n->doc);
		json_object_set_new(ctl_obj(ctl_obj(doc, "metadata"), "annotations"), ANN_DRAIN_STATUS, json_string(status));
		ctl_update(ctl, KIND_NODES, doc);
	}
}

int64_t ctl_pass_node(struct gw_ctl *ctl, const struct gw_cluster *c)
{
	int64_t now = ctl_now_ms(ctl);
	int64_t next = heartbeats(ctl, c, now);
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *n = c->nodes[i];
		const char *d = gw_map_get(&n->meta.annotations, ANN_DRAIN);
		if (d && strcmp(d, "requested") == 0 && n->unschedulable) {
			drain(ctl, c, n, now);
		} else if (gw_map_get(&n->meta.annotations, ANN_DRAIN_STATUS)) {
			/* Uncordoned: the drain's status goes with it. Migrations
			 * already created run to their end. */
			_cleanup_json_ json_t *doc = json_deep_copy(n->doc);
			json_object_del(json_object_get(json_object_get(doc, "metadata"), "annotations"), ANN_DRAIN_STATUS);
			ctl_update(ctl, KIND_NODES, doc);
		}
	}
	return next;
}
