/* SPDX-License-Identifier: Apache-2.0 */
/* `godwit plan drain`: what happens to the VMs of drained nodes
 * (kubevirt-behaviour.md 6.7), where each migrating VM would go, in which
 * wave under the parallel limits (4.1, 6.6), and how long it would take. */
#include <errno.h>
#include <string.h>

#include "godwit/explain.h"
#include "sched_int.h"

static bool phase_is_final(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static int64_t memory_request(const struct gw_vmi_spec *s)
{
	return s->memory_request_bytes ? s->memory_request_bytes : s->memory_guest_bytes;
}

static ssize_t node_index(const struct gw_cluster *c, const char *name)
{
	for (size_t i = 0; name && i < c->n_nodes; i++)
		if (c->nodes[i]->meta.name && strcmp(c->nodes[i]->meta.name, name) == 0)
			return (ssize_t)i;
	return -1;
}

struct planned {
	const struct gw_vmi *vmi;
	size_t source;          /* node index */
	ssize_t target;         /* node index, -1 none */
	double seconds;
	size_t wave;            /* 1-based, 0: not migrating */
	json_t *doc;            /* borrowed: owned by the vms list */
};

/* Free capacity left on node i (memory first, then CPU; -1 unknown =
 * unlimited). */
static void free_capacity(const struct gw_cluster *c, const struct gw_usage *u, size_t i, int64_t *mem,
			  int64_t *cpu)
{
	*mem = c->nodes[i]->memory_bytes >= 0 ? c->nodes[i]->memory_bytes - u->memory_bytes[i] : INT64_MAX;
	*cpu = c->nodes[i]->cpu_millis >= 0 ? c->nodes[i]->cpu_millis - u->cpu_millis[i] : INT64_MAX;
}

/* The eligible node with the most free memory, then CPU, then the first
 * by name; the drained nodes never. Rejected nodes and their reasons go to
 * `rejected`. */
static ssize_t choose_target(const struct gw_cluster *c, const struct gw_vmi *vmi, const bool *drained,
			     const struct gw_usage *usage, json_t *rejected, struct gw_err **err)
{
	struct gw_map selector = {0};
	struct gw_node_affinity affinity = {0};
	if (gw_sched_target_selector(c, vmi, NULL, &selector, &affinity, err) < 0) {
		gw_map_fini(&selector);
		return -1;
	}
	const struct gw_node *source = sched_find_node(c, vmi->node_name);
	ssize_t best = -1;
	int64_t best_mem = 0, best_cpu = 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *node = c->nodes[i];
		struct gw_reasons r;
		gw_reasons_init(&r);
		gw_sched_node_check(c, vmi, node, source, &selector, &affinity, usage, &r);
		bool draining = drained[i] && node != source;
		if (r.n || draining) {
			json_t *reasons = gw_reasons_to_json(&r);
			/* a drained node is cordoned first: never a target */
			if (draining)
				json_array_append_new(reasons, json_pack("{s:s, s:s, s:s+}", "reason", "NodeDraining",
									 "subject", node->meta.name, "message", node->meta.name,
									 " is being drained too"));
			json_array_append_new(rejected, json_pack("{s:s, s:o}", "node", node->meta.name, "reasons",
								  reasons));
		} else {
			int64_t mem, cpu;
			free_capacity(c, usage, i, &mem, &cpu);
			if (best < 0 || mem > best_mem || (mem == best_mem && cpu > best_cpu)) {
				best = (ssize_t)i;
				best_mem = mem;
				best_cpu = cpu;
			}
		}
		gw_reasons_fini(&r);
	}
	gw_map_fini(&selector);
	gw_node_affinity_fini(&affinity);
	return best;
}

static const char *eviction_strategy(const struct gw_cluster *c, const struct gw_vmi *vmi)
{
	if (vmi->spec.eviction_strategy && vmi->spec.eviction_strategy[0])
		return vmi->spec.eviction_strategy;
	if (c->kubevirt && c->kubevirt->eviction_strategy && c->kubevirt->eviction_strategy[0])
		return c->kubevirt->eviction_strategy;
	return "None";
}

int gw_sched_plan_drain(const struct gw_cluster *c, const struct gw_plan_opts *opts, json_t **out,
			struct gw_err **err)
{
	*out = NULL;
	if (!opts || opts->n_nodes == 0)
		return gw_err_set(err, -EINVAL, "plan drain: no node named");
	const struct gw_rule_set *rules = opts->rules ? opts->rules : gw_rules_get(GW_RULES_GODWIT);
	int64_t bandwidth = opts->bandwidth_bytes_s > 0 ? opts->bandwidth_bytes_s : GW_PLAN_DEFAULT_BANDWIDTH;
	bool *drained = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*drained));
	json_t *drain_names = json_array();
	for (size_t i = 0; i < opts->n_nodes; i++) {
		const struct gw_node *node;
		int r = gw_sched_find_node(c, opts->nodes[i], &node, err);
		if (r < 0) {
			free(drained);
			json_decref(drain_names);
			return r;
		}
		ssize_t idx = node_index(c, node->meta.name);
		if (!drained[idx])
			json_array_append_new(drain_names, json_string(node->meta.name));
		drained[idx] = true;
	}
	struct gw_migration_config config;
	if (c->kubevirt)
		config = c->kubevirt->migrations;
	else
		gw_migration_config_defaults(&config);
	uint32_t per_cluster = config.parallel_migrations_per_cluster ? config.parallel_migrations_per_cluster : 5;
	uint32_t per_node =
		config.parallel_outbound_migrations_per_node ? config.parallel_outbound_migrations_per_node : 2;

	struct gw_usage usage;
	gw_sched_usage(c, &usage);
	struct planned *plan = gw_calloc(c->n_vmis ? c->n_vmis : 1, sizeof(*plan));
	size_t n_plan = 0, n_migrating = 0;
	json_t *vms = json_array(), *cannot_move = json_array(), *stops = json_array();
	bool drain_blocked = false;

	/* drained nodes and their VMIs in the input's order */
	for (size_t d = 0; d < c->n_nodes; d++) {
		for (size_t v = 0; v < c->n_vmis; v++) {
			const struct gw_vmi *vmi = c->vmis[v];
			if (!drained[d] || phase_is_final(vmi->phase) || node_index(c, vmi->node_name) != (ssize_t)d)
				continue;
			const char *strategy = eviction_strategy(c, vmi);
			const char *ns = vmi->meta.namespace ? vmi->meta.namespace : "default";
			char *ref = gw_asprintf("%s/%s", ns, vmi->meta.name);
			struct gw_reasons blockers;
			gw_reasons_init(&blockers);
			gw_sched_migratable(c, vmi, rules, &blockers);
			bool migratable = blockers.n == 0;
			struct gw_migration_settings settings;
			gw_sched_settings(c, vmi, rules, &settings);
			int64_t bw = bandwidth;
			if (settings.config.bandwidth_bytes > 0 && settings.config.bandwidth_bytes < bw)
				bw = settings.config.bandwidth_bytes;
			json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "namespace", ns, "name",
						vmi->meta.name, "node", vmi->node_name, "evictionStrategy", strategy,
						"migratable", migratable, "blockers", gw_reasons_to_json(&blockers));
			struct planned *p = &plan[n_plan++];
			p->vmi = vmi;
			p->source = d;
			p->target = -1;
			p->doc = doc;
			const char *action, *why;
			bool migrates = strcmp(strategy, "LiveMigrate") == 0 ||
					(strcmp(strategy, "LiveMigrateIfPossible") == 0 && migratable);
			if (strcmp(strategy, "External") == 0) {
				action = "external";
				why = "evictionStrategy External: the eviction is marked and an external controller "
				      "decides what happens to the VM";
			} else if (!migrates && strcmp(strategy, "LiveMigrateIfPossible") == 0) {
				action = "stop";
				why = "evictionStrategy LiveMigrateIfPossible and not live-migratable: the eviction is "
				      "allowed and the VM is shut down";
			} else if (!migrates) {
				action = "stop";
				why = "evictionStrategy None: the eviction is allowed and the VM stops (it is not "
				      "migrated)";
			} else if (!migratable) {
				action = "blocked";
				why = "evictionStrategy LiveMigrate and not live-migratable: the eviction is denied "
				      "(\"is configured with an eviction strategy but is not live-migratable\"); the "
				      "drain does not finish";
				drain_blocked = true;
			} else {
				json_t *rejected = json_array();
				_cleanup_err_ struct gw_err *e = NULL;
				p->target = choose_target(c, vmi, drained, &usage, rejected, &e);
				json_object_set_new(doc, "rejected", rejected);
				if (p->target >= 0) {
					action = "migrate";
					why = "migrates to the eligible node with the most free capacity";
					usage.cpu_millis[p->target] += vmi->spec.cpu_request_millis;
					usage.memory_bytes[p->target] += memory_request(&vmi->spec);
					p->seconds = (double)settings.size_bytes / (double)bw;
					n_migrating++;
				} else {
					action = "no-target";
					why = e ? gw_err_msg(e)
						: "no eligible target: the evacuation migration's target pod stays "
						  "Pending and the drain does not finish";
					if (e)
						json_object_set_new(doc, "selectorError", json_string(gw_err_msg(e)));
					drain_blocked = true;
				}
			}
			json_object_set_new(doc, "action", json_string(action));
			json_object_set_new(doc, "message", json_string(why));
			json_object_set_new(doc, "target",
					    p->target >= 0 ? json_string(c->nodes[p->target]->meta.name) : json_null());
			if (p->target >= 0) {
				json_object_set_new(doc, "sizeBytes", json_integer(settings.size_bytes));
				json_object_set_new(doc, "bandwidthBytesPerSecond", json_integer(bw));
				json_object_set_new(doc, "estimatedSeconds", json_real(p->seconds));
				json_object_set_new(doc, "migrationMethod",
						    json_string(gw_sched_migration_method(c, vmi)));
			} else if (strcmp(action, "stop") == 0) {
				json_array_append_new(stops, json_string(ref));
			}
			if (p->target < 0 && strcmp(action, "external") != 0)
				json_array_append_new(cannot_move, json_string(ref));
			json_array_append_new(vms, doc);
			gw_reasons_fini(&blockers);
			free(ref);
		}
	}

	/* waves: in order, each takes what the limits allow (a migration
	 * counts against the cluster and its source node) */
	json_t *waves = json_array();
	size_t placed = 0, wave = 0;
	size_t *out_per_node = gw_calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*out_per_node));
	double total = 0;
	while (placed < n_migrating) {
		wave++;
		memset(out_per_node, 0, (c->n_nodes ? c->n_nodes : 1) * sizeof(*out_per_node));
		size_t in_wave = 0;
		double longest = 0;
		json_t *members = json_array();
		for (size_t i = 0; i < n_plan && in_wave < per_cluster; i++) {
			struct planned *p = &plan[i];
			if (p->target < 0 || p->wave || out_per_node[p->source] >= per_node)
				continue;
			p->wave = wave;
			out_per_node[p->source]++;
			in_wave++;
			placed++;
			if (p->seconds > longest)
				longest = p->seconds;
			json_object_set_new(p->doc, "wave", json_integer((json_int_t)wave));
			json_array_append_new(members, json_sprintf("%s/%s", p->vmi->meta.namespace
										 ? p->vmi->meta.namespace
										 : "default",
								    p->vmi->meta.name));
		}
		total += longest;
		json_array_append_new(waves, json_pack("{s:I, s:o, s:f}", "wave", (json_int_t)wave, "vms", members,
						       "estimatedSeconds", longest));
	}
	free(out_per_node);

	*out = json_pack("{s:s, s:o, s:{s:i, s:i}, s:I, s:o, s:o, s:o, s:o, s:b, s:f}", "rules", rules->name,
			 "drain", drain_names, "limits", "parallelMigrationsPerCluster", (int)per_cluster,
			 "parallelOutboundMigrationsPerNode", (int)per_node, "bandwidthBytesPerSecond",
			 (json_int_t)bandwidth, "vms", vms, "waves", waves, "cannotMove", cannot_move, "stopped", stops,
			 "drainBlocked", drain_blocked, "estimatedSeconds", total);
	free(plan);
	free(drained);
	gw_usage_fini(&usage);
	return 0;
}
