/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's Node: labels from the CPU engine (the labeller's rules),
 * capacity, address; created or updated with CAS; heartbeats. */
#include <inttypes.h>
#include <string.h>

#include "node_int.h"

static char *memory_quantity(int64_t bytes)
{
	if (bytes % 1024 == 0)
		return gw_asprintf("%" PRId64 "Ki", bytes / 1024);
	return gw_asprintf("%" PRId64, bytes);
}

int gw_node_document(const json_t *node, const json_t *labels, const struct gw_node_identity *id, json_t **out,
		     struct gw_err **err)
{
	*out = NULL;
	if (!id->name || !*id->name)
		return gw_err_set(err, -EINVAL, "node name: required");
	if (id->cpus <= 0 || id->memory_bytes <= 0)
		return gw_err_set(err, -EINVAL, "node %s: capacity must be positive (cpu %" PRId64 ", memory %" PRId64 ")",
				  id->name, id->cpus, id->memory_bytes);
	json_t *doc = node ? json_deep_copy(node) : json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Node",
								"metadata", "name", id->name);
	if (!json_is_object(json_object_get(doc, "metadata"))) {
		json_decref(doc);
		return gw_err_set(err, -EINVAL, "node %s: metadata: expected an object", id->name);
	}
	/* The agent's VMs are q35 machines: say so when the profile names no
	 * machine types (JSON profiles do not; domcapabilities do). */
	_cleanup_json_ json_t *wanted = json_deep_copy(labels);
	bool has_machine = false;
	const char *key;
	json_t *v;
	json_object_foreach(wanted, key, v)
		has_machine |= gw_str_has_prefix(key, "machine-type.node.kubevirt.io/");
	if (!has_machine)
		json_object_set_new(wanted, "machine-type.node.kubevirt.io/q35", json_string("true"));
	bool changed = false;
	int r = gw_cpu_labels_apply(doc, wanted, &changed, err);
	if (r < 0) {
		json_decref(doc);
		return gw_err_wrap(err, "node %s", id->name);
	}
	json_t *meta = json_object_get(doc, "metadata");
	json_t *node_labels = json_child(meta, "labels");
	/* The kubelet's and virt-handler's own labels, whatever the labeller does. */
	if (!json_object_get(node_labels, "kubernetes.io/hostname"))
		json_object_set_new(node_labels, "kubernetes.io/hostname", json_string(id->name));
	if (!json_object_get(node_labels, "kubernetes.io/arch"))
		json_object_set_new(node_labels, "kubernetes.io/arch", json_string("amd64"));
	if (!json_object_get(node_labels, "kubernetes.io/os"))
		json_object_set_new(node_labels, "kubernetes.io/os", json_string("linux"));
	if (!json_object_get(node_labels, "kubevirt.io/schedulable"))
		json_object_set_new(node_labels, "kubevirt.io/schedulable", json_string("true"));
	json_t *ann = json_child(meta, "annotations");
	if (id->address)
		json_object_set_new(ann, GW_NODE_ANN_ADDRESS, json_string(id->address));

	json_t *status = json_child(doc, "status");
	_cleanup_free_ char *cpu = gw_asprintf("%" PRId64, id->cpus);
	_cleanup_free_ char *mem = memory_quantity(id->memory_bytes);
	json_object_set_new(status, "capacity", json_pack("{s:s, s:s}", "cpu", cpu, "memory", mem));
	json_object_set_new(status, "allocatable", json_pack("{s:s, s:s}", "cpu", cpu, "memory", mem));
	if (id->address)
		json_object_set_new(status, "addresses",
				    json_pack("[{s:s, s:s}]", "type", "InternalIP", "address", id->address));
	*out = doc;
	return 0;
}

/* The labeller's obsolete list comes from the KubeVirt CR, when there is one. */
static int label_config(struct agent *a, struct gw_cpu_label_config *config, struct gw_err **err)
{
	_cleanup_json_ json_t *list = NULL;
	int r = node_call(a->client, "GET", "/apis/kubevirt.io/v1/kubevirts", NULL, NULL, &list, err);
	if (r < 0)
		return r;
	json_t *kv = json_array_get(json_object_get(list, "items"), 0);
	if (!kv)
		return 0;
	return gw_cpu_label_config_from_kubevirt(kv, "the KubeVirt CR", config, err);
}

#define REGISTER_ATTEMPTS 20

int node_register(struct agent *a, struct gw_err **err)
{
	struct gw_cpu_label_config config;
	gw_cpu_label_config_init(&config);
	_cleanup_json_ json_t *labels = NULL;
	int r = label_config(a, &config, err);
	if (r < 0) {
		gw_cpu_label_config_fini(&config);
		return gw_err_wrap(err, "registering node %s", a->name);
	}
	r = gw_cpu_labels(a->db, a->profile, &config, &labels, err);
	gw_cpu_label_config_fini(&config);
	if (r < 0)
		return gw_err_wrap(err, "node %s: labels", a->name);

	struct gw_node_identity id = {a->name, a->address, a->cpus, a->memory_bytes};
	_cleanup_free_ char *path = gw_asprintf("/api/v1/nodes/%s", a->name);
	_cleanup_free_ char *status_path = gw_asprintf("%s/status", path);
	char now[40];
	gw_time_format(gw_unix_ms(), now);
	for (int attempt = 0; attempt < REGISTER_ATTEMPTS; attempt++) {
		_cleanup_json_ json_t *old = NULL, *doc = NULL, *stored = NULL;
		struct gw_err *e = NULL;
		r = node_call(a->client, "GET", path, NULL, NULL, &old, &e);
		if (r < 0 && r != -ENOENT) {
			*err = e;
			return r;
		}
		gw_err_free(e);
		e = NULL;
		r = gw_node_document(old, labels, &id, &doc, err);
		if (r < 0)
			return r;
		json_object_set_new(json_child(json_child(doc, "metadata"), "annotations"), GW_NODE_ANN_HEARTBEAT,
				    json_string(now));
		if (!old) {
			/* A status written on create is kept. */
			r = node_call(a->client, "POST", "/api/v1/nodes", NULL, doc, NULL, &e);
			if (r == -EBUSY) {   /* created meanwhile */
				gw_err_free(e);
				continue;
			}
			if (r < 0) {
				*err = e;
				return r;
			}
			agent_log(a, "registered (%zu labels)",
				  json_object_size(json_object_get(json_object_get(doc, "metadata"), "labels")));
			return 0;
		}
		r = node_call(a->client, "PUT", path, NULL, doc, &stored, &e);
		if (r == -EBUSY) {
			gw_err_free(e);
			continue;
		}
		if (r < 0) {
			*err = e;
			return r;
		}
		/* The object's PUT keeps the stored status: the status goes
		 * through its subresource, on the version just written. */
		json_object_set(stored, "status", json_object_get(doc, "status"));
		r = node_call(a->client, "PUT", status_path, NULL, stored, NULL, &e);
		if (r == -EBUSY) {
			gw_err_free(e);
			continue;
		}
		if (r < 0) {
			*err = e;
			return r;
		}
		const json_t *ann = json_object_get(json_object_get(doc, "metadata"), "annotations");
		agent_log(a, "Node updated%s",
			  json_object_get(ann, GW_NODE_ANN_SKIP) ? " (labels left alone: skip-node annotation)" : "");
		return 0;
	}
	return gw_err_set(err, -EBUSY, "node %s: still conflicting after %d attempts", a->name, REGISTER_ATTEMPTS);
}

int node_heartbeat(struct agent *a, struct gw_err **err)
{
	char now[40];
	gw_time_format(gw_unix_ms(), now);
	_cleanup_free_ char *path = gw_asprintf("/api/v1/nodes/%s", a->name);
	_cleanup_json_ json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", GW_NODE_ANN_HEARTBEAT, now);
	return node_call(a->client, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
}
