/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of the controllers: time, CAS writes, conditions, phases, and
 * the choice of a node among the eligible ones. */
#include <string.h>
#include <time.h>

#include "internal.h"


int ctl_update(struct gw_ctl *ctl, const char *kind, json_t *obj)
{
	_cleanup_err_ struct gw_err *err = NULL;
	int r = gw_store_update(ctl->store, kind, obj, NULL, &err);
	if (r < 0 && r != -EBUSY && r != -ENOENT)
		ctl_log(ctl, GW_CTL_LOG_WARN, "update %s %s: %s", kind, ctl_str(obj, "metadata.name"), gw_err_msg(err));
	return r;
}

json_t *ctl_obj(json_t *parent, const char *key)
{
	json_t *o = json_object_get(parent, key);
	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(parent, key, o);
	}
	return o;
}

static const json_t *path_get(const json_t *obj, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	const json_t *cur = obj;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	return cur;
}

const char *ctl_str(const json_t *obj, const char *path)
{
	return json_string_value(path_get(obj, path));
}

bool ctl_bool(const json_t *obj, const char *path)
{
	return json_is_true(path_get(obj, path));
}

bool ctl_set_condition(json_t *obj, const char *type, const char *status, const char *reason,
		       const char *message, int64_t now_ms)
{
	json_t *st = ctl_obj(obj, "status");
	json_t *conds = json_object_get(st, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(st, "conditions", conds);
	}
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c) {
		if (strcmp(ctl_str(c, "type") ?: "", type) != 0)
			continue;
		if (strcmp(ctl_str(c, "status") ?: "", status) == 0 && strcmp(ctl_str(c, "reason") ?: "", reason) == 0 &&
		    strcmp(ctl_str(c, "message") ?: "", message) == 0)
			return false;
		json_array_remove(conds, i);
		break;
	}
	char ts[40];
	gw_time_format(now_ms, ts);
	json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status,
					       "reason", reason, "message", message, "lastTransitionTime", ts));
	return true;
}

bool ctl_has_condition(const json_t *obj, const char *type)
{
	const json_t *conds = path_get(obj, "status.conditions");
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c)
		if (strcmp(ctl_str(c, "type") ?: "", type) == 0)
			return true;
	return false;
}

bool ctl_remove_condition(json_t *obj, const char *type)
{
	json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c) {
		if (strcmp(ctl_str(c, "type") ?: "", type) == 0) {
			json_array_remove(conds, i);
			return true;
		}
	}
	return false;
}

void ctl_record_phase(json_t *obj, const char *phase, int64_t now_ms)
{
	json_t *st = ctl_obj(obj, "status");
	json_t *ts = json_object_get(st, "phaseTransitionTimestamps");
	if (!json_is_array(ts)) {
		ts = json_array();
		json_object_set_new(st, "phaseTransitionTimestamps", ts);
	}
	char t[40];
	gw_time_format(now_ms, t);
	json_array_append_new(ts, json_pack("{s:s, s:s}", "phase", phase, "phaseTransitionTimestamp", t));
	json_object_set_new(st, "phase", json_string(phase));
}

int64_t ctl_phase_time(const json_t *obj, const char *phase)
{
	const json_t *ts = path_get(obj, "status.phaseTransitionTimestamps");
	int64_t found = -1;
	size_t i;
	json_t *e;
	json_array_foreach(ts, i, e) {
		if (strcmp(ctl_str(e, "phase") ?: "", phase) == 0)
			found = gw_time_parse(ctl_str(e, "phaseTransitionTimestamp"));
	}
	return found;
}

bool ctl_phase_final(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* ---- capacity and the choice of a node ----------------------------------------- */
void ctl_capacity_init(struct ctl_capacity *cap, const struct gw_cluster *c)
{
	gw_sched_usage(c, &cap->usage);
}

void ctl_capacity_fini(struct ctl_capacity *cap)
{
	gw_usage_fini(&cap->usage);
}

static ssize_t node_index(const struct gw_cluster *c, const char *name)
{
	for (size_t i = 0; name && i < c->n_nodes; i++)
		if (strcmp(c->nodes[i]->meta.name, name) == 0)
			return (ssize_t)i;
	return -1;
}

void ctl_capacity_add(struct ctl_capacity *cap, const struct gw_cluster *c, const char *node,
		      const struct gw_vmi *vmi)
{
	ssize_t i = node_index(c, node);
	if (i < 0 || (size_t)i >= cap->usage.n)
		return;
	cap->usage.cpu_millis[i] += vmi->spec.cpu_request_millis;
	cap->usage.memory_bytes[i] += vmi->spec.memory_request_bytes;
}

const struct gw_node *ctl_pick_node(const struct gw_cluster *c, const struct gw_vmi *vmi,
				    const struct gw_node *source, const struct gw_map *selector,
				    const struct gw_node_affinity *affinity, const struct ctl_capacity *cap,
				    char **why)
{
	const struct gw_node *best = NULL;
	int64_t best_mem = 0, best_cpu = 0;
	struct gw_buf b;
	gw_buf_init(&b);
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *n = c->nodes[i];
		struct gw_reasons r;
		gw_reasons_init(&r);
		gw_sched_node_check(c, vmi, n, source, selector, affinity, &cap->usage, &r);
		if (r.n) {
			gw_buf_printf(&b, "%s%s:", b.len ? "; " : "", n->meta.name);
			for (size_t j = 0; j < r.n; j++)
				gw_buf_printf(&b, "%s %s: %s", j ? "," : "", gw_reason_name(r.v[j].code), r.v[j].message);
			gw_reasons_fini(&r);
			continue;
		}
		gw_reasons_fini(&r);
		/* Unknown capacity (-1) counts as plenty. */
		int64_t mem = n->memory_bytes < 0 ? INT64_MAX / 2 : n->memory_bytes - cap->usage.memory_bytes[i];
		int64_t cpu = n->cpu_millis < 0 ? INT64_MAX / 2 : n->cpu_millis - cap->usage.cpu_millis[i];
		if (!best || mem > best_mem || (mem == best_mem && cpu > best_cpu)) {
			best = n;
			best_mem = mem;
			best_cpu = cpu;
		}
	}
	if (why) {
		if (!c->n_nodes)
			gw_buf_puts(&b, "no nodes");
		*why = gw_buf_steal(&b);
	} else {
		gw_buf_fini(&b);
	}
	return best;
}
