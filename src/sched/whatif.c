/* SPDX-License-Identifier: Apache-2.0 */
/* What-if changes to a loaded cluster (check, explain, plan): nodes added
 * from CPU profiles or Node documents, nodes removed, the cluster CPU
 * model set. The cluster is changed in place; the report then reads it
 * as it would a real one. */
#include <string.h>

#include "sched_int.h"

void gw_whatif_init(struct gw_whatif *w)
{
	gw_strv_init(&w->add_nodes);
	w->set_cpu_model = NULL;
	gw_strv_init(&w->remove_nodes);
}

void gw_whatif_fini(struct gw_whatif *w)
{
	gw_strv_fini(&w->add_nodes);
	free(w->set_cpu_model);
	w->set_cpu_model = NULL;
	gw_strv_fini(&w->remove_nodes);
}

bool gw_whatif_empty(const struct gw_whatif *w)
{
	return !w || (!w->add_nodes.n && !w->remove_nodes.n && !w->set_cpu_model);
}

/* "a, b or c": existing node names nearest to name, for messages. */
static char *suggest_nodes(const struct gw_cluster *c, const char *name)
{
	struct gw_buf b;
	gw_buf_init(&b);
	unsigned shown = 0;
	for (unsigned d = 0; d <= 3 && shown < 3; d++)
		for (size_t i = 0; i < c->n_nodes && shown < 3; i++)
			if (gw_str_distance(c->nodes[i]->meta.name, name, 3) == d)
				gw_buf_printf(&b, "%s%s", shown++ ? ", " : "", c->nodes[i]->meta.name);
	return gw_buf_steal(&b);
}

static int remove_node(struct gw_cluster *c, const char *name, struct gw_err **err)
{
	if (gw_cluster_remove_node(c, name) == 0)
		return 0;
	char *near = suggest_nodes(c, name);
	int r = gw_err_set(err, -EINVAL, "--remove-node: no node \"%s\" in the input%s%s%s", name,
			   near && *near ? " (did you mean " : "", near ? near : "", near && *near ? "?)" : "");
	free(near);
	return r;
}

/* The node whose allocatable an added node copies: most memory, then
 * most CPU, then the first. */
static const struct gw_node *largest_node(const struct gw_cluster *c)
{
	const struct gw_node *best = NULL;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct gw_node *n = c->nodes[i];
		if (!best || n->memory_bytes > best->memory_bytes ||
		    (n->memory_bytes == best->memory_bytes && n->cpu_millis > best->cpu_millis))
			best = n;
	}
	return best;
}

/* A label the added node takes from the template node: not one the
 * labeller owns (it writes those for the new CPU), not the vendor (the
 * new CPU's), not the node's own name. */
static bool template_label(const char *key)
{
	return !gw_cpu_label_owned(key) && !gw_str_has_prefix(key, SCHED_PREFIX_CPU_VENDOR) &&
	       strcmp(key, "kubernetes.io/hostname") != 0 && strcmp(key, SCHED_LABEL_SCHEDULABLE) != 0;
}

static json_t *quantity_json(int64_t v, bool millis)
{
	char buf[32];
	if (millis)
		snprintf(buf, sizeof(buf), "%lldm", (long long)v);
	else
		snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_string(buf);
}

/* The Node document KubeVirt would hold for a new host of this CPU. */
static int node_from_profile(const struct gw_cluster *c, const struct gw_cpu_modeldb *db,
			     const struct gw_cpu_profile *p, json_t **out, struct gw_err **err)
{
	struct gw_cpu_label_config cfg;
	gw_cpu_label_config_init(&cfg);
	if (c->kubevirt && c->kubevirt->obsolete_configured) {
		cfg.obsolete_configured = true;
		for (size_t i = 0; i < c->kubevirt->obsolete.n; i++)
			gw_strv_push(&cfg.obsolete, c->kubevirt->obsolete.v[i]);
	}
	json_t *cpu_labels = NULL;
	int r = gw_cpu_labels(db, p, &cfg, &cpu_labels, err);
	gw_cpu_label_config_fini(&cfg);
	if (r < 0)
		return r;
	json_t *labels = json_object();
	const struct gw_node *tpl = largest_node(c);
	for (size_t i = 0; tpl && i < tpl->meta.labels.n; i++)
		if (template_label(tpl->meta.labels.keys[i]))
			json_object_set_new(labels, tpl->meta.labels.keys[i], json_string(tpl->meta.labels.values[i]));
	/* A profile without machine types (Godwit's JSON, a cpuid dump) gets
	 * the template's: the same hypervisor as the largest node. */
	bool machines = false;
	const char *key;
	json_t *value;
	json_object_foreach(cpu_labels, key, value)
		machines = machines || gw_str_has_prefix(key, "machine-type.node.kubevirt.io/");
	for (size_t i = 0; !machines && tpl && i < tpl->meta.labels.n; i++)
		if (gw_str_has_prefix(tpl->meta.labels.keys[i], "machine-type.node.kubevirt.io/"))
			json_object_set_new(labels, tpl->meta.labels.keys[i], json_string(tpl->meta.labels.values[i]));
	json_object_update(labels, cpu_labels);
	json_decref(cpu_labels);
	json_object_set_new(labels, SCHED_LABEL_SCHEDULABLE, json_string("true"));
	json_object_set_new(labels, "kubernetes.io/hostname", json_string(p->name));
	if (!json_object_get(labels, "kubernetes.io/arch"))
		json_object_set_new(labels, "kubernetes.io/arch", json_string("amd64"));
	json_t *alloc = json_object();
	if (tpl && tpl->cpu_millis >= 0)
		json_object_set_new(alloc, "cpu", quantity_json(tpl->cpu_millis, true));
	if (tpl && tpl->memory_bytes >= 0)
		json_object_set_new(alloc, "memory", quantity_json(tpl->memory_bytes, false));
	*out = json_pack("{s:s, s:s, s:{s:s, s:o, s:{s:s}}, s:{s:o, s:O}}", "apiVersion", "v1", "kind", "Node",
			 "metadata", "name", p->name, "labels", labels, "annotations", "godwit.io/what-if",
			 p->origin ? p->origin : "--add-node", "status", "allocatable", alloc, "capacity", alloc);
	return *out ? 0 : gw_err_set(err, -EINVAL, "--add-node %s: cannot build a Node", p->name);
}

/* A document that is a Node, or a List whose items are all Nodes. */
static bool is_node_doc(const json_t *doc)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	if (!kind)
		return false;
	if (strcmp(kind, "Node") == 0)
		return true;
	if (strcmp(kind, "NodeList") != 0 && strcmp(kind, "List") != 0)
		return false;
	const json_t *items = json_object_get(doc, "items");
	if (!json_is_array(items) || !json_array_size(items))
		return false;
	size_t i;
	json_t *item;
	json_array_foreach(items, i, item) {
		const char *k = json_string_value(json_object_get(item, "kind"));
		if (k ? strcmp(k, "Node") != 0 : strcmp(kind, "NodeList") != 0)
			return false;
	}
	return true;
}

/* One file: Node documents as they are, else CPU profiles. */
static int add_file(struct gw_cluster *c, const struct gw_cpu_modeldb *db, const char *path, struct gw_err **err)
{
	json_t *docs = NULL;
	struct gw_err *parse_err = NULL;
	bool nodes = false;
	if (gw_doc_load_file(path, &docs, &parse_err) == 0 && json_array_size(docs) > 0) {
		nodes = true;
		size_t i;
		json_t *d;
		json_array_foreach(docs, i, d)
			nodes = nodes && is_node_doc(d);
	}
	gw_err_free(parse_err);
	int r = 0;
	if (nodes) {
		size_t i;
		json_t *d;
		json_array_foreach(docs, i, d) {
			if ((r = gw_cluster_add_doc(c, d, path, i, err)) < 0)
				break;
		}
		json_decref(docs);
		return r < 0 ? gw_err_wrap(err, "--add-node") : 0;
	}
	json_decref(docs);
	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	r = gw_cpu_profile_load(db, path, &hosts, err);
	if (r < 0) {
		gw_cpu_profiles_fini(&hosts);
		return gw_err_wrap(err, "--add-node");
	}
	for (size_t i = 0; r == 0 && i < hosts.n; i++) {
		json_t *doc = NULL;
		r = node_from_profile(c, db, hosts.v[i], &doc, err);
		if (r == 0)
			r = gw_cluster_add_doc(c, doc, path, i, err);
		json_decref(doc);
		if (r < 0)
			gw_err_wrap(err, "--add-node");
	}
	gw_cpu_profiles_fini(&hosts);
	return r;
}

static int add_nodes(struct gw_cluster *c, const struct gw_cpu_modeldb *db, const char *path, struct gw_err **err)
{
	if (!gw_path_is_dir(path))
		return add_file(c, db, path, err);
	struct gw_strv files;
	gw_strv_init(&files);
	int r = gw_dir_list(path, &files, err);
	if (r < 0)
		r = gw_err_wrap(err, "--add-node");
	for (size_t i = 0; r == 0 && i < files.n; i++)
		r = add_file(c, db, files.v[i], err);
	gw_strv_fini(&files);
	return r;
}

/* A name the cluster can use as its cpuModel: host-model and
 * host-passthrough, a model of the database, or one a node is labelled
 * with (a hypervisor may know models this database does not). */
static int check_model(const struct gw_cluster *c, const struct gw_cpu_modeldb *db, const char *model,
		       struct gw_err **err)
{
	if (!*model)
		return gw_err_set(err, -EINVAL, "--set-cpu-model: empty model name");
	if (strcmp(model, "host-model") == 0 || strcmp(model, "host-passthrough") == 0)
		return 0;
	if (db && gw_cpu_modeldb_find(db, model) >= 0)
		return 0;
	char *key = gw_asprintf("%s%s", SCHED_PREFIX_CPU_MODEL, model);
	bool labelled = false;
	for (size_t i = 0; i < c->n_nodes && !labelled; i++)
		labelled = gw_map_get(&c->nodes[i]->meta.labels, key) != NULL;
	free(key);
	if (labelled)
		return 0;
	if (db) {
		gw_cpu_modeldb_lookup(db, model, err);
		return gw_err_wrap(err, "--set-cpu-model");
	}
	return gw_err_set(err, -EINVAL, "--set-cpu-model: unknown CPU model \"%s\"", model);
}

static int set_cpu_model(struct gw_cluster *c, const char *model, struct gw_err **err)
{
	if (!c->kubevirt) {
		json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}}}", "apiVersion", "kubevirt.io/v1", "kind",
					"KubeVirt", "metadata", "name", "kubevirt", "namespace", "kubevirt", "spec",
					"configuration", "cpuModel", model);
		int r = gw_cluster_add_doc(c, doc, "--set-cpu-model", 0, err);
		json_decref(doc);
		return r;
	}
	free(c->kubevirt->cpu_model);
	c->kubevirt->cpu_model = gw_strdup(model);
	/* Keep the document in step with the struct: readers of the doc
	 * (explain's output) see what the report uses. */
	json_t *doc = c->kubevirt->doc;
	if (json_is_object(doc)) {
		json_t *spec = json_object_get(doc, "spec");
		if (!json_is_object(spec)) {
			spec = json_object();
			json_object_set_new(doc, "spec", spec);
		}
		json_t *conf = json_object_get(spec, "configuration");
		if (!json_is_object(conf)) {
			conf = json_object();
			json_object_set_new(spec, "configuration", conf);
		}
		json_object_set_new(conf, "cpuModel", json_string(model));
	}
	return 0;
}

int gw_whatif_apply(struct gw_cluster *c, const struct gw_cpu_modeldb *db, const struct gw_whatif *w,
		    struct gw_err **err)
{
	int r = 0;
	if (gw_whatif_empty(w))
		return 0;
	for (size_t i = 0; r == 0 && i < w->remove_nodes.n; i++)
		r = remove_node(c, w->remove_nodes.v[i], err);
	for (size_t i = 0; r == 0 && i < w->add_nodes.n; i++)
		r = add_nodes(c, db, w->add_nodes.v[i], err);
	if (r == 0 && w->set_cpu_model) {
		r = check_model(c, db, w->set_cpu_model, err);
		if (r == 0)
			r = set_cpu_model(c, w->set_cpu_model, err);
	}
	gw_cluster_link(c);
	return r;
}
