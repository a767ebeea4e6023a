/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes Node labels (kubectl get nodes -o json) as host profiles: what
 * KubeVirt's node labeller wrote is what its scheduler will use, so the
 * labels are read back as the hypervisor's answer (kubevirt-behaviour.md
 * 1.3). */
#include <string.h>

#include "godwit/cpu.h"

#define LABEL_FEATURE "cpu-feature.node.kubevirt.io/"
#define LABEL_MODEL "cpu-model.node.kubevirt.io/"
#define LABEL_MIGRATION "cpu-model-migration.node.kubevirt.io/"
#define LABEL_HOST_MODEL "host-model-cpu.node.kubevirt.io/"
#define LABEL_HOST_MODEL_REQUIRED "host-model-required-features.node.kubevirt.io/"
#define LABEL_VENDOR "cpu-vendor.node.kubevirt.io/"
#define LABEL_MACHINE "machine-type.node.kubevirt.io/"
#define LABEL_TSC_FREQUENCY "cpu-timer.node.kubevirt.io/tsc-frequency"
#define LABEL_TSC_SCALABLE "cpu-timer.node.kubevirt.io/tsc-scalable"

/* Kubernetes caps a label name at 63 characters after a prefix of 253. */
#define LABEL_NAME_MAX 63
/* A cluster beyond this is not a cluster Godwit can reason about anyway. */
#define NODES_MAX 100000

static void strv_push_unique(struct gw_strv *v, const char *s)
{
	if (!gw_strv_contains(v, s))
		gw_strv_push(v, s);
}


/* One label; `where` is "items[3].metadata.labels" (or "metadata.labels"). */
static int read_label(struct gw_cpu_profile *p, const char *key, const char *value, const char *where,
		      unsigned *vendors, struct gw_err **err)
{
	const char *suffix = NULL;
	int idx;
	if (gw_str_has_prefix(key, LABEL_TSC_FREQUENCY) && key[strlen(LABEL_TSC_FREQUENCY)] == '\0') {
		if (!gw_str_to_u64(value, &p->tsc_hz))
			return gw_err_set(err, -EINVAL, "%s[\"%s\"]: \"%.40s\": expected a frequency in Hz", where, key,
					  value);
		return 0;
	}
	if (gw_str_has_prefix(key, LABEL_TSC_SCALABLE) && key[strlen(LABEL_TSC_SCALABLE)] == '\0') {
		if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
			return gw_err_set(err, -EINVAL, "%s[\"%s\"]: \"%.40s\": expected true or false", where, key, value);
		p->tsc_scalable = strcmp(value, "true") == 0;
		return 0;
	}
	/* The labeller writes "true"; anything else is not its label. */
	if (strcmp(value, "true") != 0)
		return 0;
#define SUFFIX(prefix) (gw_str_has_prefix(key, prefix) ? (suffix = key + strlen(prefix)) : NULL)
	if (SUFFIX(LABEL_FEATURE) || SUFFIX(LABEL_HOST_MODEL_REQUIRED)) {
		bool required = gw_str_has_prefix(key, LABEL_HOST_MODEL_REQUIRED);
		if (!suffix[0])
			return 0;
		if ((idx = gw_cpu_feature_lookup(suffix, err)) < 0)
			return gw_err_wrap(err, "%s[\"%s\"]", where, key);
		gw_featset_set(required ? &p->host_model_require : &p->features, (unsigned)idx);
	} else if (SUFFIX(LABEL_MODEL) || SUFFIX(LABEL_MIGRATION)) {
		/* kubevirt-behaviour.md 1.6: cpu-model = usable, cpu-model-migration
		 * = known (usable, or usable only as the host-model) */
		if (!suffix[0] || strlen(suffix) > LABEL_NAME_MAX)
			return 0;
		strv_push_unique(gw_str_has_prefix(key, LABEL_MODEL) ? &p->usable : &p->known, suffix);
	} else if (SUFFIX(LABEL_HOST_MODEL)) {
		/* an empty name is KubeVirt's edge case without a host-model */
		if (!suffix[0])
			return 0;
		if (p->host_model && strcmp(p->host_model, suffix) != 0)
			return gw_err_set(err, -EINVAL, "%s[\"%s\"]: a second host-model label (the first names %s)", where,
					  key, p->host_model);
		free(p->host_model);
		p->host_model = gw_strdup(suffix);
	} else if (SUFFIX(LABEL_VENDOR)) {
		if (!suffix[0])
			return 0;
		const char *vendor = gw_cpu_vendor_canonical(suffix);
		if (!vendor)
			return gw_err_set(err, -EINVAL, "%s[\"%s\"]: unknown vendor \"%s\" (Intel, AMD or Hygon)", where, key,
					  suffix);
		if (!p->vendor || strcmp(p->vendor, vendor) != 0) {
			(*vendors)++;
			free(p->vendor);
			p->vendor = gw_strdup(vendor);
		}
	} else if (SUFFIX(LABEL_MACHINE)) {
		if (suffix[0])
			strv_push_unique(&p->machines, suffix);
	}
#undef SUFFIX
	return 0;
}

static int read_node(const json_t *node, const char *where, const char *origin, struct gw_cpu_profile **out,
		     struct gw_err **err)
{
	*out = NULL;
	const json_t *metadata = json_object_get(node, "metadata");
	if (!json_is_object(metadata))
		return gw_err_set(err, -EINVAL, "%s: %smetadata: %s", origin, where,
				  metadata ? "expected an object" : "missing");
	const json_t *name = json_object_get(metadata, "name");
	if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 253)
		return gw_err_set(err, -EINVAL, "%s: %smetadata.name: %s", origin, where,
				  name ? "expected a node name (1-253 characters)" : "missing");
	const char *node_name = json_string_value(name);
	if (strlen(node_name) != json_string_length(name))
		return gw_err_set(err, -EINVAL, "%s: %smetadata.name: contains a NUL character", origin, where);
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_NODE, node_name, origin);
	/* The labels are KubeVirt's answer: the models it labels are all the
	 * scheduler will ever use, even when there are none. */
	p->has_usable = true;
	const json_t *labels = json_object_get(metadata, "labels");
	_cleanup_free_ char *labels_where = gw_asprintf("%smetadata.labels", where);
	int r = 0;
	unsigned vendors = 0;
	if (labels && !json_is_object(labels) && !json_is_null(labels))
		r = gw_err_set(err, -EINVAL, "%s: node %s: %s: expected an object", origin, node_name, labels_where);
	const char *key;
	json_t *value;
	if (r == 0 && json_is_object(labels)) {
		json_object_foreach((json_t *)labels, key, value) {
			if (!json_is_string(value)) {
				r = gw_err_set(err, -EINVAL, "%s: node %s: %s[\"%s\"]: expected a string", origin, node_name,
					       labels_where, key);
				break;
			}
			if ((r = read_label(p, key, json_string_value(value), labels_where, &vendors, err)) < 0) {
				gw_err_wrap(err, "%s: node %s", origin, node_name);
				break;
			}
		}
	}
	/* The labeller never removes stale vendor labels (kubevirt-behaviour.md
	 * S5), so two of them cannot tell which vendor is current. */
	if (r == 0 && vendors > 1) {
		free(p->vendor);
		p->vendor = NULL;
	}
	/* The labeller's known models include its usable ones; keep that
	 * true even for hand-written labels. */
	for (size_t i = 0; r == 0 && i < p->usable.n; i++)
		strv_push_unique(&p->known, p->usable.v[i]);
	if (r < 0) {
		gw_cpu_profile_free(p);
		return r;
	}
	*out = p;
	return 0;
}

int gw_cpu_profile_from_nodes(const json_t *doc, const char *origin, struct gw_cpu_profiles *out,
			      struct gw_err **err)
{
	if (!origin)
		origin = "nodes";
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	if (!json_is_object(doc) || !kind)
		return gw_err_set(err, -EINVAL, "%s: expected a Node, NodeList or List object (kind)", origin);
	struct gw_cpu_profiles found;
	gw_cpu_profiles_init(&found);
	int r = 0;
	if (strcmp(kind, "Node") == 0) {
		struct gw_cpu_profile *p = NULL;
		r = read_node(doc, "", origin, &p, err);
		if (r == 0)
			gw_cpu_profiles_add(&found, p);
	} else if (strcmp(kind, "NodeList") == 0 || strcmp(kind, "List") == 0) {
		/* The API's NodeList leaves out each item's kind; kubectl's List
		 * names it, and mixes kinds for `kubectl get nodes,vmis`. */
		bool node_list = strcmp(kind, "NodeList") == 0;
		const json_t *items = json_object_get(doc, "items");
		if (!json_is_array(items))
			r = gw_err_set(err, -EINVAL, "%s: items: %s", origin, items ? "expected an array" : "missing");
		else if (json_array_size(items) > NODES_MAX)
			r = gw_err_set(err, -E2BIG, "%s: items: more than %d", origin, NODES_MAX);
		size_t i;
		json_t *item;
		json_array_foreach(r == 0 ? items : NULL, i, item) {
			if (!json_is_object(item)) {
				r = gw_err_set(err, -EINVAL, "%s: items[%zu]: expected an object", origin, i);
				break;
			}
			const json_t *item_kind = json_object_get(item, "kind");
			if (item_kind && !json_is_string(item_kind)) {
				r = gw_err_set(err, -EINVAL, "%s: items[%zu].kind: expected a string", origin, i);
				break;
			}
			bool is_node = item_kind ? strcmp(json_string_value(item_kind), "Node") == 0 : node_list;
			if (!is_node)
				continue;
			char where[48];
			snprintf(where, sizeof(where), "items[%zu].", i);
			struct gw_cpu_profile *p = NULL;
			if ((r = read_node(item, where, origin, &p, err)) < 0)
				break;
			for (size_t k = 0; k < found.n; k++)
				if (strcmp(found.v[k]->name, p->name) == 0)
					r = gw_err_set(err, -EINVAL, "%s: items[%zu].metadata.name: node %s appears twice",
						       origin, i, p->name);
			gw_cpu_profiles_add(&found, p);
			if (r < 0)
				break;
		}
		if (r == 0 && found.n == 0)
			r = gw_err_set(err, -ENOENT, "%s: no Node in the %s", origin, kind);
	} else {
		r = gw_err_set(err, -EINVAL, "%s: kind \"%.40s\": expected Node, NodeList or List", origin, kind);
	}
	if (r < 0) {
		gw_cpu_profiles_fini(&found);
		return r;
	}
	for (size_t k = 0; k < found.n; k++)
		gw_cpu_profiles_add(out, found.v[k]);
	free(found.v);
	return 0;
}
