/* SPDX-License-Identifier: Apache-2.0 */
/* The VMI spec (shared with VirtualMachine templates) and VMIs. Only the
 * fields the placement rules read are decoded (kubevirt-behaviour.md
 * sections 2, 3 and 6); the document is kept for everything else. */
#include <string.h>

#include "internal.h"

#define P(buf, path, key) path_key(buf, sizeof(buf), path, key)

void gw_node_affinity_fini(struct gw_node_affinity *a)
{
	for (size_t t = 0; t < a->n; t++) {
		for (size_t r = 0; r < a->terms[t].n; r++) {
			free(a->terms[t].reqs[r].key);
			gw_strv_fini(&a->terms[t].reqs[r].values);
		}
		free(a->terms[t].reqs);
	}
	free(a->terms);
	a->terms = NULL;
	a->n = 0;
}

static const char *const selector_ops[] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", NULL};

static int requirement_decode(const json_t *req, const char *path, struct gw_node_requirement *out,
			      struct gw_err **err)
{
	if (!json_is_object(req))
		return dec_fail(err, path, NULL, req, "not an object");
	int op, r;
	if ((r = dec_string(req, path, "key", true, &out->key, err)) < 0 ||
	    (r = dec_enum(req, path, "operator", selector_ops, &op, err)) < 0 ||
	    (r = dec_strv(req, path, "values", &out->values, err)) < 0)
		return r;
	if (op < 0)
		return dec_fail(err, path, "operator", NULL, "missing");
	out->op = (enum gw_selector_op)op;
	const json_t *values = json_object_get(req, "values");
	switch (out->op) {
	case GW_OP_IN:
	case GW_OP_NOT_IN:
		if (!out->values.n)
			return dec_fail(err, path, "values", values, "must not be empty for In and NotIn");
		break;
	case GW_OP_EXISTS:
	case GW_OP_DOES_NOT_EXIST:
		if (out->values.n)
			return dec_fail(err, path, "values", values, "must be empty for Exists and DoesNotExist");
		break;
	case GW_OP_GT:
	case GW_OP_LT: {
		/* Kubernetes: exactly one value, an integer. */
		char *end = NULL;
		if (out->values.n == 1) {
			errno = 0;
			strtoll(out->values.v[0], &end, 10);
		}
		if (out->values.n != 1 || !*out->values.v[0] || *end || errno)
			return dec_fail(err, path, "values", values, "must be one integer for Gt and Lt");
		break;
	}
	}
	return 0;
}

int node_affinity_decode(const json_t *affinity, const char *path, struct gw_node_affinity *a,
			 struct gw_err **err)
{
	char p1[PATH_MAX_LEN], p2[PATH_MAX_LEN], p3[PATH_MAX_LEN];
	const json_t *na, *req, *terms;
	int r;
	if ((r = dec_object(affinity, path, "nodeAffinity", false, &na, err)) < 0 || !na)
		return r;
	P(p1, path, "nodeAffinity");
	if ((r = dec_object(na, p1, "requiredDuringSchedulingIgnoredDuringExecution", false, &req, err)) < 0 ||
	    !req)
		return r;
	P(p2, p1, "requiredDuringSchedulingIgnoredDuringExecution");
	if ((r = dec_array(req, p2, "nodeSelectorTerms", &terms, err)) < 0 || !terms)
		return r;
	P(p3, p2, "nodeSelectorTerms");
	size_t n = json_array_size(terms);
	a->terms = gw_calloc(n ? n : 1, sizeof(*a->terms));
	a->n = n;
	for (size_t t = 0; t < n; t++) {
		char pt[PATH_MAX_LEN], pe[PATH_MAX_LEN];
		const json_t *term = json_array_get(terms, t);
		const json_t *exprs;
		path_index(pt, sizeof(pt), p3, t);
		if (!json_is_object(term))
			return dec_fail(err, pt, NULL, term, "not an object");
		if ((r = dec_array(term, pt, "matchExpressions", &exprs, err)) < 0)
			return r;
		/* matchFields (metadata.name) is rare for VMs; it is kept in the document. */
		size_t m = exprs ? json_array_size(exprs) : 0;
		a->terms[t].reqs = gw_calloc(m ? m : 1, sizeof(struct gw_node_requirement));
		a->terms[t].n = m;
		P(pe, pt, "matchExpressions");
		for (size_t i = 0; i < m; i++) {
			char pi[PATH_MAX_LEN];
			gw_strv_init(&a->terms[t].reqs[i].values);
			if ((r = requirement_decode(json_array_get(exprs, i), path_index(pi, sizeof(pi), pe, i),
						    &a->terms[t].reqs[i], err)) < 0)
				return r;
		}
	}
	return 0;
}

static const char *const feature_policies[] = {"", "require", "force", "optional", "disable", "forbid", NULL};
static const char *const eviction_strategies[] = {"None", "LiveMigrate", "LiveMigrateIfPossible", "External",
						  NULL};
static const char *const toleration_ops[] = {"Equal", "Exists", NULL};
static const char *const taint_effects[] = {"", "NoSchedule", "PreferNoSchedule", "NoExecute", NULL};

static int tolerations_decode(const json_t *spec, const char *path, struct gw_vmi_spec *s, struct gw_err **err)
{
	const json_t *a;
	char pa[PATH_MAX_LEN];
	int r = dec_array(spec, path, "tolerations", &a, err);
	if (r < 0 || !a)
		return r;
	P(pa, path, "tolerations");
	s->tolerations = gw_calloc(json_array_size(a) + 1, sizeof(*s->tolerations));
	for (size_t i = 0; i < json_array_size(a); i++) {
		char pi[PATH_MAX_LEN];
		const json_t *t = json_array_get(a, i);
		struct gw_toleration *out = &s->tolerations[i];
		int op, eff;
		path_index(pi, sizeof(pi), pa, i);
		s->n_tolerations = i + 1;
		if (!json_is_object(t))
			return dec_fail(err, pi, NULL, t, "not an object");
		if ((r = dec_string(t, pi, "key", false, &out->key, err)) < 0 ||
		    (r = dec_enum(t, pi, "operator", toleration_ops, &op, err)) < 0 ||
		    (r = dec_string(t, pi, "value", false, &out->value, err)) < 0 ||
		    (r = dec_enum(t, pi, "effect", taint_effects, &eff, err)) < 0)
			return r;
		out->op = gw_strdup(op < 0 ? "Equal" : toleration_ops[op]);
		if (eff > 0)
			out->effect = gw_strdup(taint_effects[eff]);
		/* Kubernetes: an empty key needs Exists (it tolerates everything). */
		if ((!out->key || !*out->key) && op != 1)
			return dec_fail(err, pi, "operator", json_object_get(t, "operator"),
					"must be Exists when key is empty");
		if (out->key && !*out->key) {
			free(out->key);
			out->key = NULL;
		}
	}
	return 0;
}

static int cpu_decode(const json_t *domain, struct gw_vmi_spec *s, const char *pd, struct gw_err **err)
{
	const json_t *cpu, *features;
	char pc[PATH_MAX_LEN], pf[PATH_MAX_LEN];
	int r;
	if ((r = dec_object(domain, pd, "cpu", false, &cpu, err)) < 0 || !cpu)
		return r;
	P(pc, pd, "cpu");
	if ((r = dec_string(cpu, pc, "model", false, &s->cpu_model, err)) < 0 ||
	    (r = dec_bool(cpu, pc, "dedicatedCpuPlacement", NULL, &s->dedicated_cpu, err)) < 0 ||
	    (r = dec_array(cpu, pc, "features", &features, err)) < 0)
		return r;
	/* Any value but null and false asks for realtime (KubeVirt: a
	 * Realtime object, empty or not). */
	const json_t *rt = json_object_get(cpu, "realtime");
	s->realtime = rt && !json_is_null(rt) && !json_is_false(rt);
	if (s->cpu_model && !*s->cpu_model) {
		free(s->cpu_model);
		s->cpu_model = NULL;
	}
	if (!features)
		return 0;
	P(pf, pc, "features");
	s->features = gw_calloc(json_array_size(features) + 1, sizeof(*s->features));
	for (size_t i = 0; i < json_array_size(features); i++) {
		char pi[PATH_MAX_LEN];
		const json_t *f = json_array_get(features, i);
		int pol;
		path_index(pi, sizeof(pi), pf, i);
		s->n_features = i + 1;
		if (!json_is_object(f))
			return dec_fail(err, pi, NULL, f, "not an object");
		if ((r = dec_string(f, pi, "name", true, &s->features[i].name, err)) < 0)
			return r;
		if ((r = dec_enum(f, pi, "policy", feature_policies, &pol, err)) < 0) {
			if (err && *err && json_is_string(json_object_get(f, "policy"))) {
				gw_err_free(*err);
				*err = NULL;
				return dec_fail(err, pi, "policy", json_object_get(f, "policy"),
						"unknown feature policy (require, force, optional, disable, forbid)");
			}
			return r;
		}
		/* KubeVirt: an absent policy means require. */
		s->features[i].policy = pol < 0 ? GW_POLICY_REQUIRE : (enum gw_feature_policy)pol;
	}
	return 0;
}

static int interfaces_decode(const json_t *devices, const char *pdev, struct gw_vmi_spec *s, struct gw_err **err)
{
	static const struct {
		const char *key;
		enum gw_binding binding;
	} bindings[] = {
		{"masquerade", GW_BINDING_MASQUERADE}, {"bridge", GW_BINDING_BRIDGE}, {"sriov", GW_BINDING_SRIOV},
		{"passt", GW_BINDING_PASST},           {"slirp", GW_BINDING_SLIRP},   {"binding", GW_BINDING_PLUGIN},
		{"macvtap", GW_BINDING_OTHER},
	};
	const json_t *a;
	char pa[PATH_MAX_LEN];
	int r = dec_array(devices, pdev, "interfaces", &a, err);
	if (r < 0 || !a)
		return r;
	P(pa, pdev, "interfaces");
	s->interfaces = gw_calloc(json_array_size(a) + 1, sizeof(*s->interfaces));
	for (size_t i = 0; i < json_array_size(a); i++) {
		char pi[PATH_MAX_LEN];
		const json_t *itf = json_array_get(a, i);
		struct gw_interface *out = &s->interfaces[i];
		path_index(pi, sizeof(pi), pa, i);
		s->n_interfaces = i + 1;
		if (!json_is_object(itf))
			return dec_fail(err, pi, NULL, itf, "not an object");
		if ((r = dec_string(itf, pi, "name", true, &out->name, err)) < 0)
			return r;
		/* KubeVirt defaults an interface without a binding to
		 * defaultNetworkInterface, which is bridge unless configured. */
		out->binding = GW_BINDING_BRIDGE;
		int found = 0;
		for (size_t b = 0; b < GW_ARRAY_SIZE(bindings); b++) {
			const json_t *o;
			if ((r = dec_object(itf, pi, bindings[b].key, false, &o, err)) < 0)
				return r;
			if (!o)
				continue;
			if (found++)
				return dec_fail(err, pi, bindings[b].key, o, "more than one binding method");
			out->binding = bindings[b].binding;
			if (out->binding == GW_BINDING_PLUGIN) {
				char pb[PATH_MAX_LEN];
				if ((r = dec_string(o, P(pb, pi, "binding"), "name", true, &out->plugin, err)) < 0)
					return r;
			}
		}
	}
	return 0;
}

static int disks_decode(const json_t *devices, const char *pdev, const char *key, struct gw_vmi_spec *s,
			struct gw_err **err)
{
	const json_t *a;
	char pa[PATH_MAX_LEN];
	int r = dec_array(devices, pdev, key, &a, err);
	if (r < 0 || !a)
		return r;
	P(pa, pdev, key);
	bool fs = strcmp(key, "filesystems") == 0;
	s->disks = gw_realloc(s->disks, (s->n_disks + json_array_size(a) + 1) * sizeof(*s->disks));
	for (size_t i = 0; i < json_array_size(a); i++) {
		char pi[PATH_MAX_LEN];
		const json_t *d = json_array_get(a, i);
		struct gw_disk *out = &s->disks[s->n_disks++];
		memset(out, 0, sizeof(*out));
		path_index(pi, sizeof(pi), pa, i);
		if (!json_is_object(d))
			return dec_fail(err, pi, NULL, d, "not an object");
		if ((r = dec_string(d, pi, "name", true, &out->name, err)) < 0)
			return r;
		if (fs) {
			out->type = GW_DISK_FILESYSTEM;
			continue;
		}
		const json_t *o;
		char pt[PATH_MAX_LEN];
		out->type = GW_DISK_DISK;
		if ((r = dec_object(d, pi, "cdrom", false, &o, err)) < 0)
			return r;
		if (o) {
			out->type = GW_DISK_CDROM;
			out->readonly = true;  /* KubeVirt: a CD-ROM is read-only unless it says otherwise */
			if ((r = dec_bool(o, P(pt, pi, "cdrom"), "readonly", NULL, &out->readonly, err)) < 0)
				return r;
		} else if ((r = dec_object(d, pi, "lun", false, &o, err)) < 0) {
			return r;
		} else if (o) {
			out->type = GW_DISK_LUN;
			if ((r = dec_bool(o, P(pt, pi, "lun"), "readonly", NULL, &out->readonly, err)) < 0)
				return r;
		} else if ((r = dec_object(d, pi, "disk", false, &o, err)) < 0) {
			return r;
		} else if (o) {
			if ((r = dec_bool(o, P(pt, pi, "disk"), "readonly", NULL, &out->readonly, err)) < 0)
				return r;
		}
	}
	return 0;
}

static int networks_decode(const json_t *spec, const char *path, struct gw_vmi_spec *s, struct gw_err **err)
{
	const json_t *a;
	char pa[PATH_MAX_LEN];
	int r = dec_array(spec, path, "networks", &a, err);
	if (r < 0 || !a)
		return r;
	P(pa, path, "networks");
	s->networks = gw_calloc(json_array_size(a) + 1, sizeof(*s->networks));
	for (size_t i = 0; i < json_array_size(a); i++) {
		char pi[PATH_MAX_LEN];
		const json_t *n = json_array_get(a, i), *o;
		path_index(pi, sizeof(pi), pa, i);
		s->n_networks = i + 1;
		if (!json_is_object(n))
			return dec_fail(err, pi, NULL, n, "not an object");
		if ((r = dec_string(n, pi, "name", true, &s->networks[i].name, err)) < 0 ||
		    (r = dec_object(n, pi, "pod", false, &o, err)) < 0)
			return r;
		s->networks[i].pod = o != NULL;
		if (!o && (r = dec_object(n, pi, "multus", false, &o, err)) < 0)
			return r;
	}
	return 0;
}

static int volumes_decode(const json_t *spec, const char *path, struct gw_vmi_spec *s, struct gw_err **err)
{
	static const struct {
		const char *key;
		enum gw_volume_kind kind;
		const char *claim_key;   /* field naming the claim, or NULL */
	} kinds[] = {
		{"persistentVolumeClaim", GW_VOL_PVC, "claimName"},
		{"dataVolume", GW_VOL_DATAVOLUME, "name"},
		{"containerDisk", GW_VOL_CONTAINERDISK, NULL},
		{"cloudInitNoCloud", GW_VOL_CLOUDINIT, NULL},
		{"cloudInitConfigDrive", GW_VOL_CLOUDINIT, NULL},
		{"hostDisk", GW_VOL_HOSTDISK, NULL},
		{"emptyDisk", GW_VOL_EMPTYDISK, NULL},
		{"ephemeral", GW_VOL_EPHEMERAL, NULL},
		{"configMap", GW_VOL_CONFIG, NULL},
		{"secret", GW_VOL_CONFIG, NULL},
		{"serviceAccount", GW_VOL_CONFIG, NULL},
		{"downwardAPI", GW_VOL_CONFIG, NULL},
		{"downwardMetrics", GW_VOL_CONFIG, NULL},
		{"sysprep", GW_VOL_CONFIG, NULL},
	};
	const json_t *a;
	char pa[PATH_MAX_LEN];
	int r = dec_array(spec, path, "volumes", &a, err);
	if (r < 0 || !a)
		return r;
	P(pa, path, "volumes");
	s->volumes = gw_calloc(json_array_size(a) + 1, sizeof(*s->volumes));
	for (size_t i = 0; i < json_array_size(a); i++) {
		char pi[PATH_MAX_LEN], pk[PATH_MAX_LEN];
		const json_t *v = json_array_get(a, i), *o = NULL;
		struct gw_volume *out = &s->volumes[i];
		path_index(pi, sizeof(pi), pa, i);
		s->n_volumes = i + 1;
		if (!json_is_object(v))
			return dec_fail(err, pi, NULL, v, "not an object");
		if ((r = dec_string(v, pi, "name", true, &out->name, err)) < 0)
			return r;
		/* Read leniently, as the migration size uses it (sched/policy.c). */
		const json_t *cap = json_object_get(json_object_get(v, "emptyDisk"), "capacity");
		if (json_is_string(cap))
			out->empty_disk_capacity = gw_strdup(json_string_value(cap));
		else if (json_is_integer(cap) && json_integer_value(cap) > 0)
			out->empty_disk_capacity = gw_asprintf("%lld", (long long)json_integer_value(cap));
		out->kind = GW_VOL_OTHER;
		for (size_t k = 0; k < GW_ARRAY_SIZE(kinds); k++) {
			if ((r = dec_object(v, pi, kinds[k].key, false, &o, err)) < 0)
				return r;
			if (!o)
				continue;
			out->kind = kinds[k].kind;
			P(pk, pi, kinds[k].key);
			if (kinds[k].claim_key &&
			    (r = dec_string(o, pk, kinds[k].claim_key, true, &out->claim, err)) < 0)
				return r;
			if (out->kind == GW_VOL_HOSTDISK &&
			    (r = dec_bool(o, pk, "shared", NULL, &out->hostdisk_shared, err)) < 0)
				return r;
			if (out->kind == GW_VOL_EPHEMERAL) {
				const json_t *pvc;
				char pp[PATH_MAX_LEN];
				if ((r = dec_object(o, pk, "persistentVolumeClaim", false, &pvc, err)) < 0)
					return r;
				if (pvc && (r = dec_string(pvc, P(pp, pk, "persistentVolumeClaim"), "claimName", true,
							   &out->claim, err)) < 0)
					return r;
			}
			break;
		}
	}
	return 0;
}

/* KubeVirt FeatureState: an object present with `enabled` unset is on. */
static int feature_state(const json_t *parent, const char *path, const char *key, bool *out, struct gw_err **err)
{
	const json_t *o;
	char pk[PATH_MAX_LEN];
	int r = dec_object(parent, path, key, false, &o, err);
	if (r < 0 || !o)
		return r;
	*out = true;
	return dec_bool(o, P(pk, path, key), "enabled", NULL, out, err);
}

static size_t count_array(const json_t *parent, const char *path, const char *key, int *r, struct gw_err **err)
{
	const json_t *a;
	*r = dec_array(parent, path, key, &a, err);
	return a ? json_array_size(a) : 0;
}

int vmi_spec_decode(const json_t *spec, const char *path, struct gw_vmi_spec *s, struct gw_err **err)
{
	char pd[PATH_MAX_LEN], px[PATH_MAX_LEN], py[PATH_MAX_LEN];
	const json_t *domain, *o, *o2;
	int r, ev;
	if (!json_is_object(spec))
		return dec_fail(err, path, NULL, spec, "not an object");
	if ((r = dec_string(spec, path, "architecture", false, &s->architecture, err)) < 0 ||
	    (r = dec_map(spec, path, "nodeSelector", NULL, &s->node_selector, err)) < 0 ||
	    (r = dec_enum(spec, path, "evictionStrategy", eviction_strategies, &ev, err)) < 0 ||
	    (r = tolerations_decode(spec, path, s, err)) < 0 ||
	    (r = networks_decode(spec, path, s, err)) < 0 || (r = volumes_decode(spec, path, s, err)) < 0 ||
	    (r = dec_object(spec, path, "affinity", false, &o, err)) < 0)
		return r;
	if (ev >= 0)
		s->eviction_strategy = gw_strdup(eviction_strategies[ev]);
	if (o && (r = node_affinity_decode(o, P(px, path, "affinity"), &s->affinity, err)) < 0)
		return r;
	if ((r = dec_object(spec, path, "domain", false, &domain, err)) < 0 || !domain)
		return r;
	P(pd, path, "domain");
	if ((r = cpu_decode(domain, s, pd, err)) < 0)
		return r;
	/* machine.type */
	if ((r = dec_object(domain, pd, "machine", false, &o, err)) < 0 ||
	    (o && (r = dec_string(o, P(px, pd, "machine"), "type", false, &s->machine_type, err)) < 0))
		return r;
	/* resources.requests.{cpu,memory} */
	if ((r = dec_object(domain, pd, "resources", false, &o, err)) < 0)
		return r;
	if (o) {
		P(px, pd, "resources");
		if ((r = dec_object(o, px, "requests", false, &o2, err)) < 0)
			return r;
		P(py, px, "requests");
		if (o2 && ((r = dec_quantity(o2, py, "cpu", true, NULL, &s->cpu_request_millis, err)) < 0 ||
			   (r = dec_quantity(o2, py, "memory", false, NULL, &s->memory_request_bytes, err)) < 0))
			return r;
	}
	if ((r = dec_object(domain, pd, "memory", false, &o, err)) < 0 ||
	    (o && (r = dec_quantity(o, P(px, pd, "memory"), "guest", false, NULL, &s->memory_guest_bytes, err)) < 0))
		return r;
	if (!s->memory_request_bytes)
		s->memory_request_bytes = s->memory_guest_bytes;
	/* devices */
	if ((r = dec_object(domain, pd, "devices", false, &o, err)) < 0)
		return r;
	if (o) {
		P(px, pd, "devices");
		if ((r = interfaces_decode(o, px, s, err)) < 0 || (r = disks_decode(o, px, "disks", s, err)) < 0 ||
		    (r = disks_decode(o, px, "filesystems", s, err)) < 0)
			return r;
		s->n_host_devices = count_array(o, px, "hostDevices", &r, err);
		if (r < 0)
			return r;
		s->n_gpus = count_array(o, px, "gpus", &r, err);
		if (r < 0)
			return r;
	}
	/* launchSecurity */
	if ((r = dec_object(domain, pd, "launchSecurity", false, &o, err)) < 0)
		return r;
	if (o) {
		P(px, pd, "launchSecurity");
		if ((r = dec_object(o, px, "sev", false, &o2, err)) < 0)
			return r;
		s->sev = o2 != NULL;
		if ((r = dec_object(o, px, "snp", false, &o2, err)) < 0)
			return r;
		s->sev_snp = o2 != NULL;
		if ((r = dec_object(o, px, "tdx", false, &o2, err)) < 0)
			return r;
		s->tdx = o2 != NULL;
	}
	/* features.hyperv.reenlightenment, features.hypervPassthrough */
	if ((r = dec_object(domain, pd, "features", false, &o, err)) < 0)
		return r;
	if (o) {
		P(px, pd, "features");
		if ((r = feature_state(o, px, "hypervPassthrough", &s->hyperv_passthrough, err)) < 0 ||
		    (r = dec_object(o, px, "hyperv", false, &o2, err)) < 0)
			return r;
		if (o2 && (r = feature_state(o2, P(py, px, "hyperv"), "reenlightenment", &s->hyperv_reenlightenment,
					     err)) < 0)
			return r;
	}
	return 0;
}

void vmi_spec_fini(struct gw_vmi_spec *s)
{
	free(s->cpu_model);
	for (size_t i = 0; i < s->n_features; i++)
		free(s->features[i].name);
	free(s->features);
	free(s->architecture);
	free(s->machine_type);
	gw_map_fini(&s->node_selector);
	gw_node_affinity_fini(&s->affinity);
	for (size_t i = 0; i < s->n_tolerations; i++) {
		free(s->tolerations[i].key);
		free(s->tolerations[i].op);
		free(s->tolerations[i].value);
		free(s->tolerations[i].effect);
	}
	free(s->tolerations);
	for (size_t i = 0; i < s->n_interfaces; i++) {
		free(s->interfaces[i].name);
		free(s->interfaces[i].plugin);
	}
	free(s->interfaces);
	for (size_t i = 0; i < s->n_networks; i++)
		free(s->networks[i].name);
	free(s->networks);
	for (size_t i = 0; i < s->n_volumes; i++) {
		free(s->volumes[i].name);
		free(s->volumes[i].claim);
		free(s->volumes[i].empty_disk_capacity);
	}
	free(s->volumes);
	for (size_t i = 0; i < s->n_disks; i++)
		free(s->disks[i].name);
	free(s->disks);
	free(s->eviction_strategy);
	memset(s, 0, sizeof(*s));
}

/* ---- VirtualMachineInstance ------------------------------------------------------ */

void gw_vmi_free(struct gw_vmi *v)
{
	if (!v)
		return;
	meta_fini(&v->meta);
	vmi_spec_fini(&v->spec);
	free(v->phase);
	free(v->node_name);
	gw_map_fini(&v->pvc_access_modes);
	gw_strv_fini(&v->migrated_volumes);
	free(v->tsc_frequency);
	free(v->machine_type_status);
	gw_map_fini(&v->launcher_selector);
	free(v->migration_uid);
	json_decref(v->doc);
	free(v);
}

static int volume_status_decode(const json_t *status, struct gw_vmi *v, struct gw_err **err)
{
	const json_t *a;
	int r = dec_array(status, "status", "volumeStatus", &a, err);
	if (r < 0 || !a)
		return r;
	for (size_t i = 0; i < json_array_size(a); i++) {
		char pi[PATH_MAX_LEN], pp[PATH_MAX_LEN];
		const json_t *vs = json_array_get(a, i), *info;
		path_index(pi, sizeof(pi), "status.volumeStatus", i);
		if (!json_is_object(vs))
			return dec_fail(err, pi, NULL, vs, "not an object");
		if ((r = dec_object(vs, pi, "persistentVolumeClaimInfo", false, &info, err)) < 0)
			return r;
		if (!info)
			continue;
		P(pp, pi, "persistentVolumeClaimInfo");
		_cleanup_free_ char *claim = NULL;
		struct gw_strv modes;
		gw_strv_init(&modes);
		if ((r = dec_string(info, pp, "claimName", false, &claim, err)) < 0 ||
		    (r = dec_strv(info, pp, "accessModes", &modes, err)) < 0) {
			gw_strv_fini(&modes);
			return r;
		}
		if (!claim) {
			/* Older KubeVirt leaves claimName out: the volume names the claim. */
			const json_t *name = json_object_get(vs, "name");
			if (json_is_string(name))
				claim = gw_strdup(json_string_value(name));
		}
		if (claim && modes.n) {
			struct gw_buf b;
			gw_buf_init(&b);
			for (size_t m = 0; m < modes.n; m++)
				gw_buf_printf(&b, "%s%s", m ? "," : "", modes.v[m]);
			gw_map_set(&v->pvc_access_modes, claim, b.data);
			gw_buf_fini(&b);
		}
		gw_strv_fini(&modes);
	}
	/* Built key by key; kept as the labels are, when loading a cluster. */
	map_intern(&v->pvc_access_modes, dec_strings);
	return 0;
}

static int vmi_status_decode(const json_t *doc, struct gw_vmi *v, struct gw_err **err)
{
	const json_t *status, *o, *a;
	int r;
	if ((r = dec_object(doc, "", "status", false, &status, err)) < 0 || !status)
		return r;
	if ((r = dec_string(status, "status", "phase", false, &v->phase, err)) < 0 ||
	    (r = dec_string(status, "status", "nodeName", false, &v->node_name, err)) < 0 ||
	    (r = volume_status_decode(status, v, err)) < 0 ||
	    (r = dec_map(status, "status", "launcherNodeSelector", &v->has_launcher_selector, &v->launcher_selector,
			 err)) < 0)
		return r;
	const json_t *mt = json_object_get(json_object_get(status, "machine"), "type");
	if (json_is_string(mt) && json_string_value(mt)[0])
		v->machine_type_status = gw_strdup(json_string_value(mt));
	if (v->node_name && !*v->node_name) {
		free(v->node_name);
		v->node_name = NULL;
	}
	/* migratedVolumes: [{volumeName, ...}] */
	if ((r = dec_array(status, "status", "migratedVolumes", &a, err)) < 0)
		return r;
	for (size_t i = 0; a && i < json_array_size(a); i++) {
		char pi[PATH_MAX_LEN];
		_cleanup_free_ char *name = NULL;
		const json_t *mv = json_array_get(a, i);
		path_index(pi, sizeof(pi), "status.migratedVolumes", i);
		if (!json_is_object(mv))
			return dec_fail(err, pi, NULL, mv, "not an object");
		if ((r = dec_string(mv, pi, "volumeName", false, &name, err)) < 0)
			return r;
		if (name)
			gw_strv_push(&v->migrated_volumes, name);
	}
	if ((r = dec_object(status, "status", "topologyHints", false, &o, err)) < 0)
		return r;
	if (o) {
		const json_t *tsc = json_object_get(o, "tscFrequency");
		if (json_is_integer(tsc)) {
			if (json_integer_value(tsc) < 0)
				return dec_fail(err, "status.topologyHints", "tscFrequency", tsc, "must not be negative");
			v->tsc_frequency = gw_asprintf("%lld", (long long)json_integer_value(tsc));
		} else if ((r = dec_string(o, "status.topologyHints", "tscFrequency", false, &v->tsc_frequency,
					   err)) < 0) {
			return r;
		}
	}
	if ((r = dec_object(status, "status", "migrationState", false, &o, err)) < 0 ||
	    (o && (r = dec_string(o, "status.migrationState", "migrationUid", false, &v->migration_uid, err)) < 0))
		return r;
	return 0;
}

int gw_vmi_decode(const json_t *doc, struct gw_vmi **out, struct gw_err **err)
{
	struct gw_vmi *v = gw_calloc(1, sizeof(*v));
	const json_t *spec;
	int r;
	*out = NULL;
	if ((r = meta_decode(doc, true, &v->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", true, &spec, err)) < 0 ||
	    (r = vmi_spec_decode(spec, "spec", &v->spec, err)) < 0 || (r = vmi_status_decode(doc, v, err)) < 0) {
		gw_vmi_free(v);
		return r;
	}
	v->doc = json_incref((json_t *)doc);
	*out = v;
	return 0;
}
