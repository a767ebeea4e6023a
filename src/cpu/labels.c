/* SPDX-License-Identifier: Apache-2.0 */
/* KubeVirt node labels, x86 (kubevirt-behaviour.md section 1.3-1.5).
 *
 * Not produced here: hyperv.node.kubevirt.io labels (KubeVirt reads them from
 * /dev/kvm ioctls, not from anything a profile carries), SEV/TDX,
 * kubevirt.io/realtime and vm-arch labels (other capabilities). */
#include <ctype.h>
#include <string.h>

#include "godwit/cpu.h"
#include "engine.h"

#define P_FEATURE "cpu-feature.node.kubevirt.io/"
#define P_MODEL "cpu-model.node.kubevirt.io/"
#define P_MIGRATION "cpu-model-migration.node.kubevirt.io/"
#define P_HOST_MODEL "host-model-cpu.node.kubevirt.io/"
#define P_REQUIRED "host-model-required-features.node.kubevirt.io/"
#define P_VENDOR "cpu-vendor.node.kubevirt.io/"
#define P_MACHINE "machine-type.node.kubevirt.io/"
#define P_TIMER "cpu-timer.node.kubevirt.io/"
#define L_OBSOLETE_HOST_MODEL "node-labeller.kubevirt.io/obsolete-host-model"
#define A_SKIP_NODE "node-labeller.kubevirt.io/skip-node"

/* KubeVirt: the labeller's ownership list (section 1.5 step 4). Plain
 * prefix matching, so "kubevirt.io/sev" also owns "kubevirt.io/sev-foo".
 * cpu-vendor.* and kubevirt.io/s390-pv are NOT owned (QUIRK: stale vendor
 * labels are never removed). */
static const char *const owned_prefixes[] = {
	P_FEATURE, P_MODEL, P_MIGRATION, P_TIMER, "hyperv.node.kubevirt.io/", "kubevirt.io/realtime",
	"kubevirt.io/sev", "kubevirt.io/sev-es", "kubevirt.io/sev-snp", "kubevirt.io/tdx", P_HOST_MODEL,
	P_REQUIRED, L_OBSOLETE_HOST_MODEL, P_MACHINE, "kubevirt.io/vm-arch-",
};

bool gw_cpu_label_owned(const char *key)
{
	for (size_t i = 0; i < GW_ARRAY_SIZE(owned_prefixes); i++)
		if (gw_str_has_prefix(key, owned_prefixes[i]))
			return true;
	return false;
}

void gw_cpu_label_config_init(struct gw_cpu_label_config *c)
{
	c->obsolete_configured = false;
	gw_strv_init(&c->obsolete);
}

void gw_cpu_label_config_fini(struct gw_cpu_label_config *c)
{
	gw_strv_fini(&c->obsolete);
	c->obsolete_configured = false;
}

int gw_cpu_label_config_from_kubevirt(const json_t *kubevirt, const char *origin, struct gw_cpu_label_config *c,
				      struct gw_err **err)
{
	if (!json_is_object(kubevirt))
		return gw_err_set(err, -EINVAL, "%s: expected a KubeVirt object", origin);
	const char *kind = json_string_value(json_object_get(kubevirt, "kind"));
	if (kind && strcmp(kind, "KubeVirt") != 0)
		return gw_err_set(err, -EINVAL, "%s: kind: \"%s\": expected KubeVirt", origin, kind);
	json_t *spec = json_object_get(kubevirt, "spec");
	if (spec && !json_is_null(spec) && !json_is_object(spec))
		return gw_err_set(err, -EINVAL, "%s: spec: expected an object", origin);
	json_t *conf = json_object_get(spec, "configuration");
	if (conf && !json_is_null(conf) && !json_is_object(conf))
		return gw_err_set(err, -EINVAL, "%s: spec.configuration: expected an object", origin);
	json_t *obs = json_object_get(conf, "obsoleteCPUModels");
	gw_strv_fini(&c->obsolete);
	gw_strv_init(&c->obsolete);
	/* KubeVirt: an absent (nil) map means "not configured": the defaults
	 * filter the model labels, and nothing is obsolete for the host-model
	 * check (QUIRK, section 1.4 rule 2). */
	c->obsolete_configured = false;
	if (!obs || json_is_null(obs))
		return 0;
	if (!json_is_object(obs)) {
		_cleanup_free_ char *text = json_dumps(obs, JSON_ENCODE_ANY | JSON_COMPACT);
		return gw_err_set(err, -EINVAL,
				  "%s: spec.configuration.obsoleteCPUModels: %s: expected a map of model names to true/false",
				  origin, text ? text : "?");
	}
	const char *key;
	json_t *v;
	json_object_foreach(obs, key, v) {
		if (!json_is_boolean(v)) {
			_cleanup_free_ char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			gw_strv_fini(&c->obsolete);
			gw_strv_init(&c->obsolete);
			return gw_err_set(err, -EINVAL, "%s: spec.configuration.obsoleteCPUModels.%s: %s: expected true or false",
					  origin, key, text ? text : "?");
		}
		if (!key[0]) {
			gw_strv_fini(&c->obsolete);
			gw_strv_init(&c->obsolete);
			return gw_err_set(err, -EINVAL, "%s: spec.configuration.obsoleteCPUModels: empty model name", origin);
		}
		/* KubeVirt: only the keys matter; {"Penryn": false} still marks
		 * Penryn obsolete (section 1.4 rule 1). */
		gw_strv_push(&c->obsolete, key);
	}
	c->obsolete_configured = true;
	return 0;
}

/* Kubernetes label key name part: at most 63 characters, alphanumeric at
 * both ends, '-', '_' or '.' inside. KubeVirt would write an empty name
 * (no host-model, no vendor) and have the patch rejected; we skip it. */
static bool valid_name_part(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static void put(json_t *labels, const char *prefix, const char *name, const char *value)
{
	if (!valid_name_part(name))
		return;
	_cleanup_free_ char *key = gw_asprintf("%s%s", prefix, name);
	json_object_set_new(labels, key, json_string(value));
}

static void put_models(json_t *labels, const char *prefix, const struct gw_cpu_modeldb *db,
		       const struct gw_modelset *set, const struct gw_strv *obsolete)
{
	for (size_t i = 0; i < db->n; i++)
		if (gw_modelset_test(set, (unsigned)i) && !gw_strv_contains(obsolete, db->models[i].name))
			put(labels, prefix, db->models[i].name, "true");
}

static void put_names(json_t *labels, const char *prefix, const struct gw_strv *names, const struct gw_strv *obsolete)
{
	for (size_t i = 0; i < names->n; i++)
		if (!gw_strv_contains(obsolete, names->v[i]))
			put(labels, prefix, names->v[i], "true");
}

static void put_features(json_t *labels, const char *prefix, const struct gw_featset *s)
{
	struct gw_strv names;
	gw_strv_init(&names);
	gw_featset_names(s, &names);
	for (size_t i = 0; i < names.n; i++)
		put(labels, prefix, names.v[i], "true");
	gw_strv_fini(&names);
}

int gw_cpu_labels(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p,
		  const struct gw_cpu_label_config *c, json_t **labels, struct gw_err **err)
{
	/* KubeVirt: a configured obsoleteCPUModels replaces the defaults
	 * entirely; {} disables filtering (section 1.4 rule 1). The database
	 * carries the defaults unless a caller replaced them. */
	const struct gw_strv *filter = c && c->obsolete_configured ? &c->obsolete : &db->obsolete;
	json_t *out = json_object();

	if (p->has_usable) {
		/* KubeVirt mirrors domcapabilities verbatim: names it lists are
		 * labelled even when the database does not know them. */
		put_names(out, P_MODEL, &p->usable, filter);
		/* Since v1.7 cpu-model-migration is every known model (usable
		 * or not), not the usable ones plus the host-model (section 1.6). */
		put_names(out, P_MIGRATION, &p->known, filter);
	} else {
		struct gw_modelset usable, known;
		gw_cpu_usable(db, p, &usable);
		gw_cpu_known(db, p, &known);
		/* Only models libvirt also knows reach domcapabilities' custom
		 * mode, so only those can be labelled (cpu-models.md e.7). */
		for (size_t i = 0; i < db->n; i++)
			if (db->models[i].libvirt_order <= 0)
				usable.w[i / 64] &= ~(1ull << (i % 64));
		put_models(out, P_MODEL, db, &usable, filter);
		put_models(out, P_MIGRATION, db, &known, filter);
	}

	/* A hypervisor answer without a host-model (domcapabilities had no
	 * host-model mode): KubeVirt would write host-model labels with an
	 * empty name, which the API server rejects; we write none. */
	if (p->has_usable && !p->host_model)
		goto host_done;
	struct gw_cpu_hostmodel hm;
	int r = gw_cpu_host_model(db, p, &hm, err);
	if (r < 0) {
		json_decref(out);
		return gw_err_wrap(err, "labels");
	}
	/* KubeVirt: written even when the host-model is obsolete. */
	put(out, P_HOST_MODEL, hm.name, "true");
	if (p->host_model) {
		/* The hypervisor's require list as it gave it: deltas with an
		 * older libvirt, every feature with --expand-cpu-features. */
		put_features(out, P_REQUIRED, &hm.require);
	} else {
		/* Our own decode: current KubeVirt asks libvirt for expanded
		 * features (commit ffa45939), so the required features are all
		 * features of the host-model guest: model - disable + require.
		 * The Harvester story (seed 000) shows cpu-feature/fpu in a
		 * migration selector, which only the expanded list produces. */
		struct gw_featset all;
		gw_featset_andnot(&all, &db->models[hm.model].features, &hm.disable);
		gw_featset_or(&all, &all, &hm.require);
		put_features(out, P_REQUIRED, &all);
	}
	/* KubeVirt: the host-model obsolescence check uses the configured
	 * map only; unset never yields the label (QUIRK, section 1.4 rule 2). */
	if (c && c->obsolete_configured && gw_strv_contains(&c->obsolete, hm.name))
		json_object_set_new(out, L_OBSOLETE_HOST_MODEL, json_string("true"));
	gw_cpu_hostmodel_fini(&hm);

host_done:
	put_features(out, P_FEATURE, &p->features);
	if (p->vendor)
		put(out, P_VENDOR, p->vendor, "true");
	for (size_t i = 0; i < p->machines.n; i++)
		put(out, P_MACHINE, p->machines.v[i], "true");
	if (p->tsc_hz > 0) {
		/* KubeVirt: both timer labels when the capabilities counter is
		 * tsc; scalable is "true" only for scaling='yes'. */
		char hz[32];
		snprintf(hz, sizeof(hz), "%llu", (unsigned long long)p->tsc_hz);
		json_object_set_new(out, P_TIMER "tsc-frequency", json_string(hz));
		json_object_set_new(out, P_TIMER "tsc-scalable", json_string(p->tsc_scalable == 1 ? "true" : "false"));
	}
	*labels = out;
	return 0;
}

int gw_cpu_labels_apply(json_t *node, const json_t *labels, bool *changed, struct gw_err **err)
{
	*changed = false;
	if (!json_is_object(node))
		return gw_err_set(err, -EINVAL, "node: expected a Node object");
	if (!json_is_object(labels))
		return gw_err_set(err, -EINVAL, "labels: expected an object of strings");
	json_t *meta = json_object_get(node, "metadata");
	if (meta && !json_is_object(meta))
		return gw_err_set(err, -EINVAL, "node: metadata: expected an object");
	json_t *ann = json_object_get(meta, "annotations");
	if (ann && !json_is_null(ann) && !json_is_object(ann))
		return gw_err_set(err, -EINVAL, "node: metadata.annotations: expected an object");
	/* KubeVirt: the skip annotation, with any value (even "false"), leaves
	 * the node alone: nothing added, nothing removed (section 1.5 step 2). */
	if (json_object_get(ann, A_SKIP_NODE))
		return 0;
	json_t *old = json_object_get(meta, "labels");
	if (old && !json_is_null(old) && !json_is_object(old))
		return gw_err_set(err, -EINVAL, "node: metadata.labels: expected an object");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)labels, key, v) {
		if (!json_is_string(v))
			return gw_err_set(err, -EINVAL, "labels: %s: expected a string value", key);
	}
	json_t *next = json_object();
	json_object_foreach(old, key, v) {
		if (!gw_cpu_label_owned(key))
			json_object_set(next, key, v);
	}
	json_object_update(next, (json_t *)labels);
	json_t *empty = json_object();
	*changed = !json_equal(next, old && json_is_object(old) ? old : empty);
	json_decref(empty);
	if (!meta) {
		meta = json_object();
		json_object_set_new(node, "metadata", meta);
	}
	json_object_set_new(meta, "labels", next);
	return 0;
}
