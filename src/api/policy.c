/* SPDX-License-Identifier: Apache-2.0 */
/* MigrationPolicy (kubevirt-behaviour.md 5.1) and the KubeVirt CR's
 * migration configuration (4.1), which share their fields. */
#include <string.h>

#include "internal.h"

/* maxDowntimeMs: KubeVirt's validation range. */
#define MAX_DOWNTIME_MIN 1
#define MAX_DOWNTIME_MAX 2000000

void gw_policy_free(struct gw_policy *p)
{
	if (!p)
		return;
	meta_fini(&p->meta);
	gw_map_fini(&p->ns_selector);
	gw_map_fini(&p->vmi_selector);
	json_decref(p->doc);
	free(p);
}

static int policy_body(const json_t *doc, struct gw_policy *p, struct gw_err **err)
{
	const json_t *spec, *sel;
	int64_t downtime = 0;
	int r;
	/* Cluster-scoped: a namespace in the document is ignored, as the API server does. */
	if ((r = meta_decode(doc, false, &p->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", true, &spec, err)) < 0 ||
	    (r = dec_object(spec, "spec", "selectors", false, &sel, err)) < 0)
		return r;
	p->has_selectors = sel != NULL;
	if (sel && ((r = dec_map(sel, "spec.selectors", "namespaceSelector", &p->has_ns_selector, &p->ns_selector,
				 err)) < 0 ||
		    (r = dec_map(sel, "spec.selectors", "virtualMachineInstanceSelector", &p->has_vmi_selector,
				 &p->vmi_selector, err)) < 0))
		return r;
	if ((r = dec_bool(spec, "spec", "allowAutoConverge", &p->has_allow_auto_converge, &p->allow_auto_converge,
			  err)) < 0 ||
	    (r = dec_quantity(spec, "spec", "bandwidthPerMigration", false, &p->has_bandwidth, &p->bandwidth_bytes,
			      err)) < 0 ||
	    (r = dec_int(spec, "spec", "completionTimeoutPerGiB", 0, INT64_MAX, &p->has_completion_timeout,
			 &p->completion_timeout_per_gib, err)) < 0 ||
	    (r = dec_int(spec, "spec", "maxDowntimeMs", MAX_DOWNTIME_MIN, MAX_DOWNTIME_MAX, &p->has_max_downtime,
			 &downtime, err)) < 0 ||
	    (r = dec_bool(spec, "spec", "allowPostCopy", &p->has_allow_post_copy, &p->allow_post_copy, err)) < 0 ||
	    (r = dec_bool(spec, "spec", "allowWorkloadDisruption", &p->has_allow_workload_disruption,
			  &p->allow_workload_disruption, err)) < 0)
		return r;
	p->max_downtime_ms = (uint64_t)downtime;
	return 0;
}

int gw_policy_decode(const json_t *doc, struct gw_policy **out, struct gw_err **err)
{
	struct gw_policy *p = gw_calloc(1, sizeof(*p));
	*out = NULL;
	int r = policy_body(doc, p, err);
	if (r < 0) {
		gw_policy_free(p);
		return r;
	}
	p->doc = json_incref((json_t *)doc);
	*out = p;
	return 0;
}

/* ---- KubeVirt CR ----------------------------------------------------------------------- */

void gw_migration_config_defaults(struct gw_migration_config *mc)
{
	memset(mc, 0, sizeof(*mc));
	mc->parallel_migrations_per_cluster = 5;
	mc->parallel_outbound_migrations_per_node = 2;
	mc->bandwidth_bytes = 0;
	/* KubeVirt's 150; completion_timeout_set tells a rule set with
	 * another default (Godwit: 800) that the CR did not choose it. */
	mc->completion_timeout_per_gib = 150;
	mc->progress_timeout_s = 150;
	mc->allow_workload_disruption = -1;
	mc->max_downtime_ms = 900;
}

static int migrations_decode(const json_t *m, const char *path, struct gw_migration_config *mc,
			     struct gw_err **err)
{
	int64_t pc = mc->parallel_migrations_per_cluster, po = mc->parallel_outbound_migrations_per_node;
	int64_t downtime = (int64_t)mc->max_downtime_ms;
	bool has_awd = false, awd = false;
	int r;
	if ((r = dec_int(m, path, "parallelMigrationsPerCluster", 0, UINT32_MAX, NULL, &pc, err)) < 0 ||
	    (r = dec_int(m, path, "parallelOutboundMigrationsPerNode", 0, UINT32_MAX, NULL, &po, err)) < 0 ||
	    (r = dec_quantity(m, path, "bandwidthPerMigration", false, NULL, &mc->bandwidth_bytes, err)) < 0 ||
	    (r = dec_int(m, path, "completionTimeoutPerGiB", 0, INT64_MAX, &mc->completion_timeout_set,
			 &mc->completion_timeout_per_gib, err)) < 0 ||
	    (r = dec_int(m, path, "progressTimeout", 0, INT64_MAX, NULL, &mc->progress_timeout_s, err)) < 0 ||
	    (r = dec_bool(m, path, "unsafeMigrationOverride", NULL, &mc->unsafe_migration_override, err)) < 0 ||
	    (r = dec_bool(m, path, "allowAutoConverge", NULL, &mc->allow_auto_converge, err)) < 0 ||
	    (r = dec_bool(m, path, "allowPostCopy", NULL, &mc->allow_post_copy, err)) < 0 ||
	    (r = dec_bool(m, path, "allowWorkloadDisruption", &has_awd, &awd, err)) < 0 ||
	    (r = dec_int(m, path, "maxDowntimeMs", MAX_DOWNTIME_MIN, MAX_DOWNTIME_MAX, NULL, &downtime, err)) < 0)
		return r;
	mc->parallel_migrations_per_cluster = (uint32_t)pc;
	mc->parallel_outbound_migrations_per_node = (uint32_t)po;
	mc->max_downtime_ms = (uint64_t)downtime;
	if (has_awd)
		mc->allow_workload_disruption = awd;
	return 0;
}

void gw_kubevirt_free(struct gw_kubevirt *k)
{
	if (!k)
		return;
	meta_fini(&k->meta);
	free(k->cpu_model);
	gw_strv_fini(&k->obsolete);
	free(k->eviction_strategy);
	gw_map_fini(&k->cluster_node_selectors);
	gw_strv_fini(&k->feature_gates);
	json_decref(k->doc);
	free(k);
}

static const char *const eviction_strategies[] = {"None", "LiveMigrate", "LiveMigrateIfPossible", "External",
						  NULL};

static int kubevirt_body(const json_t *doc, struct gw_kubevirt *k, struct gw_err **err)
{
	const json_t *spec, *conf, *o;
	int r, ev;
	gw_migration_config_defaults(&k->migrations);
	if ((r = meta_decode(doc, true, &k->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", false, &spec, err)) < 0 || !spec ||
	    (r = dec_object(spec, "spec", "configuration", false, &conf, err)) < 0 || !conf)
		return r;
	const char *pc = "spec.configuration";
	if ((r = dec_string(conf, pc, "cpuModel", false, &k->cpu_model, err)) < 0 ||
	    (r = dec_enum(conf, pc, "evictionStrategy", eviction_strategies, &ev, err)) < 0 ||
	    (r = dec_object(conf, pc, "migrations", false, &o, err)) < 0 ||
	    (o && (r = migrations_decode(o, "spec.configuration.migrations", &k->migrations, err)) < 0) ||
	    (r = dec_object(conf, pc, "obsoleteCPUModels", false, &o, err)) < 0)
		return r;
	if (k->cpu_model && !*k->cpu_model) {
		free(k->cpu_model);
		k->cpu_model = NULL;
	}
	if (ev >= 0)
		k->eviction_strategy = gw_strdup(eviction_strategies[ev]);
	if (o) {
		/* map[string]bool: the keys set to true are obsolete. */
		const char *key;
		json_t *value;
		k->obsolete_configured = true;
		json_object_foreach((json_t *)o, key, value) {
			if (!json_is_boolean(value))
				return dec_fail(err, "spec.configuration.obsoleteCPUModels", key, value,
						"not a boolean");
			if (json_is_true(value))
				gw_strv_push(&k->obsolete, key);
		}
		gw_strv_sort(&k->obsolete);
	}
	if ((r = dec_object(conf, pc, "developerConfiguration", false, &o, err)) < 0 ||
	    (o && ((r = dec_strv(o, "spec.configuration.developerConfiguration", "featureGates", &k->feature_gates,
				 err)) < 0 ||
		   (r = dec_map(o, "spec.configuration.developerConfiguration", "nodeSelectors", NULL,
				&k->cluster_node_selectors, err)) < 0)))
		return r;
	return 0;
}

int gw_kubevirt_decode(const json_t *doc, struct gw_kubevirt **out, struct gw_err **err)
{
	struct gw_kubevirt *k = gw_calloc(1, sizeof(*k));
	*out = NULL;
	int r = kubevirt_body(doc, k, err);
	if (r < 0) {
		gw_kubevirt_free(k);
		return r;
	}
	k->doc = json_incref((json_t *)doc);
	*out = k;
	return 0;
}
