/* SPDX-License-Identifier: Apache-2.0 */
/* Admission: every object is decoded by its api decoder (the same
 * validation the offline commands apply to files), and a new
 * VirtualMachineInstanceMigration is checked against kubevirt-behaviour.md
 * 3.4 with every reason listed, not only the first. */
#include <string.h>

#include "godwit/sched.h"
#include "godwit/store.h"
#include "server_int.h"

#define VMI_NAME_LABEL "kubevirt.io/vmi-name"
#define VMIM_FINALIZER "kubevirt.io/migrationJobFinalize"

/* The decoders' messages start with the field path: "spec.x[2].y: ...". */
static char *field_of(const char *msg)
{
	const char *colon = strstr(msg, ": ");
	if (!colon || colon == msg)
		return NULL;
	for (const char *p = msg; p < colon; p++)
		if (*p == ' ')
			return NULL;
	return gw_strndup(msg, (size_t)(colon - msg));
}

int gw_admit_validate(const struct gw_server_resource *k, const json_t *obj, struct gw_reply *r)
{
	_cleanup_err_ struct gw_err *err = NULL;
	int ret = 0;
	switch (k->gw_kind) {
	case GW_KIND_NODE: {
		struct gw_node *x = NULL;
		ret = gw_node_decode(obj, &x, &err);
		gw_node_free(x);
		break;
	}
	case GW_KIND_NAMESPACE: {
		struct gw_namespace *x = NULL;
		ret = gw_namespace_decode(obj, &x, &err);
		gw_namespace_free(x);
		break;
	}
	case GW_KIND_VM: {
		struct gw_vm *x = NULL;
		ret = gw_vm_decode(obj, &x, &err);
		gw_vm_free(x);
		break;
	}
	case GW_KIND_VMI: {
		struct gw_vmi *x = NULL;
		ret = gw_vmi_decode(obj, &x, &err);
		gw_vmi_free(x);
		break;
	}
	case GW_KIND_VMIM: {
		struct gw_vmim *x = NULL;
		ret = gw_vmim_decode(obj, &x, &err);
		gw_vmim_free(x);
		break;
	}
	case GW_KIND_POLICY: {
		struct gw_policy *x = NULL;
		ret = gw_policy_decode(obj, &x, &err);
		gw_policy_free(x);
		break;
	}
	case GW_KIND_KUBEVIRT: {
		struct gw_kubevirt *x = NULL;
		ret = gw_kubevirt_decode(obj, &x, &err);
		gw_kubevirt_free(x);
		break;
	}
	case GW_KIND_POD: {
		struct gw_pod *x = NULL;
		ret = gw_pod_decode(obj, &x, &err);
		gw_pod_free(x);
		break;
	}
	case GW_KIND_PVC: {
		struct gw_pvc *x = NULL;
		ret = gw_pvc_decode(obj, &x, &err);
		gw_pvc_free(x);
		break;
	}
	default:
		break;
	}
	if (ret >= 0)
		return 0;
	const char *msg = gw_err_msg(err);
	_cleanup_free_ char *field = field_of(msg);
	gw_reply_error(r, 422, "Invalid", field, "%s %s: %s", k->kind,
		       json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")) ?: "?", msg);
	return -EINVAL;
}

/* Adds every object of `plural` (in ns; NULL = all) to the cluster. */
static int add_all(struct gw_server *s, struct gw_cluster *c, const char *plural, const char *ns,
		   struct gw_err **err)
{
	_cleanup_json_ json_t *items = NULL;
	int ret = gw_store_list(s->store, plural, ns, NULL, &items, NULL, err);
	if (ret < 0)
		return ret;
	size_t i;
	json_t *item;
	json_array_foreach(items, i, item) {
		/* Objects were validated when written; one that no longer
		 * decodes (older server) is left out rather than blocking. */
		_cleanup_err_ struct gw_err *ignored = NULL;
		gw_cluster_add_doc(c, item, plural, i, &ignored);
	}
	return 0;
}

static json_t *reasons_json(const struct gw_reasons *rs, const char *skip_subject)
{
	json_t *a = json_array();
	for (size_t i = 0; i < rs->n; i++) {
		const struct gw_reason *x = &rs->v[i];
		if (skip_subject && x->code == GW_R_IN_FLIGHT && x->subject && !strcmp(x->subject, skip_subject))
			continue;
		json_t *o = json_pack("{s:s, s:s}", "reason", gw_reason_name(x->code), "message", x->message);
		if (x->subject)
			json_object_set_new(o, "subject", json_string(x->subject));
		json_array_append_new(a, o);
	}
	return a;
}

int gw_admit_vmim_create(struct gw_server *s, json_t *obj, struct gw_reply *r)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *spec = json_object_get(obj, "spec");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *vmi_name = json_string_value(json_object_get(spec, "vmiName"));
	/* 3.4 #1 */
	if (!vmi_name || !*vmi_name) {
		gw_reply_error(r, 422, "Invalid", "spec.vmiName", "spec.vmiName: vmiName is missing");
		return -EINVAL;
	}
	/* 3.4 #2: the API has no service accounts; priorities belong to the
	 * controllers, which write to the store directly. */
	if (json_object_get(spec, "priority") && !json_is_null(json_object_get(spec, "priority"))) {
		gw_reply_error(r, 422, "Invalid", "spec.priority",
			       "spec.priority: Migration priority queue, only virt-controller is allowed to set priority field");
		return -EINVAL;
	}
	/* 3.4 #7: decentralized migration is not supported. */
	if (json_object_get(spec, "sendTo") || json_object_get(spec, "receive")) {
		gw_reply_error(r, 422, "Invalid", json_object_get(spec, "sendTo") ? "spec.sendTo" : "spec.receive",
			       "decentralized live migration (sendTo/receive) is not supported");
		return -EINVAL;
	}
	_cleanup_err_ struct gw_err *err = NULL;
	_cleanup_json_ json_t *vmi_doc = NULL;
	int ret = gw_store_get(s->store, "virtualmachineinstances", ns, vmi_name, &vmi_doc, &err);
	if (ret == -ENOENT) {
		/* 3.4 #3 */
		gw_reply_error(r, 422, "Invalid", "spec.vmiName", "the VMI \"%s/%s\" does not exist", ns, vmi_name);
		return -EINVAL;
	}
	if (ret < 0) {
		gw_reply_from_err(r, err);
		return ret;
	}
	/* The part of the cluster migratability depends on: the VMI, every
	 * node (the source's host model), the namespace's migrations, claims
	 * and launcher pods, and the cluster configuration. */
	struct gw_cluster *c = gw_cluster_new();
	ret = gw_cluster_add_doc(c, vmi_doc, "virtualmachineinstances", 0, &err);
	if (!ret)
		ret = add_all(s, c, "nodes", NULL, &err);
	if (!ret)
		ret = add_all(s, c, "virtualmachineinstancemigrations", ns, &err);
	if (!ret)
		ret = add_all(s, c, "persistentvolumeclaims", ns, &err);
	if (!ret)
		ret = add_all(s, c, "pods", ns, &err);
	if (!ret)
		ret = add_all(s, c, "kubevirts", NULL, &err);
	if (ret < 0) {
		gw_cluster_free(c);
		gw_reply_from_err(r, err);
		return ret;
	}
	gw_cluster_link(c);
	struct gw_vmi *vmi = gw_cluster_vmi(c, ns, vmi_name);
	struct gw_reasons rs;
	gw_reasons_init(&rs);
	if (vmi)
		gw_sched_migratable(c, vmi, s->rules, &rs);
	bool only_in_flight = rs.n > 0;
	for (size_t i = 0; i < rs.n; i++)
		if (rs.v[i].code != GW_R_IN_FLIGHT)
			only_in_flight = false;
	if (rs.n > 0) {
		struct gw_buf b;
		gw_buf_init(&b);
		gw_buf_printf(&b, "VirtualMachineInstanceMigration %s: cannot migrate VMI %s/%s: ", name ? name : "?",
			      ns, vmi_name);
		for (size_t i = 0; i < rs.n; i++)
			gw_buf_printf(&b, "%s%s: %s", i ? "; " : "", gw_reason_name(rs.v[i].code), rs.v[i].message);
		/* A migration in flight is a conflict with existing state
		 * (409); anything about the VMI itself makes the request
		 * invalid (422). Both list every reason. */
		if (only_in_flight)
			gw_reply_error(r, 409, "Conflict", "spec.vmiName", "%s", b.data);
		else
			gw_reply_error(r, 422, "Invalid", "spec.vmiName", "%s", b.data);
		json_object_set_new(json_object_get(r->body, "error"), "reasons", reasons_json(&rs, NULL));
		gw_buf_fini(&b);
		gw_reasons_fini(&rs);
		gw_cluster_free(c);
		return -EINVAL;
	}
	gw_reasons_fini(&rs);
	gw_cluster_free(c);
	/* The mutating webhook's part (6.1): label and finalizer. */
	json_t *labels = json_object_get(meta, "labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	json_object_set_new(labels, VMI_NAME_LABEL, json_string(vmi_name));
	json_t *fin = json_object_get(meta, "finalizers");
	if (!json_is_array(fin)) {
		fin = json_array();
		json_object_set_new(meta, "finalizers", fin);
	}
	bool have = false;
	size_t i;
	json_t *f;
	json_array_foreach(fin, i, f)
		if (json_is_string(f) && !strcmp(json_string_value(f), VMIM_FINALIZER))
			have = true;
	if (!have)
		json_array_append_new(fin, json_string(VMIM_FINALIZER));
	return 0;
}

static bool phase_final(const json_t *obj)
{
	const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
	return phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
}

int gw_admit_update(const struct gw_server_resource *k, const json_t *old, const json_t *obj, struct gw_reply *r)
{
	if (k->gw_kind != GW_KIND_VMIM)
		return 0;
	/* 6.1: spec immutable; the vmi-name label stays while not final. */
	if (!json_equal(json_object_get(old, "spec"), json_object_get(obj, "spec"))) {
		gw_reply_error(r, 422, "Invalid", "spec", "spec: update of Migration object's spec is restricted");
		return -EINVAL;
	}
	const char *was = json_string_value(
		json_object_get(json_object_get(json_object_get(old, "metadata"), "labels"), VMI_NAME_LABEL));
	const char *now = json_string_value(
		json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), VMI_NAME_LABEL));
	if (was && !phase_final(old) && (!now || strcmp(was, now) != 0)) {
		gw_reply_error(r, 422, "Invalid", "metadata.labels",
			       "metadata.labels: %s cannot be removed or changed while the migration is not final",
			       VMI_NAME_LABEL);
		return -EINVAL;
	}
	return 0;
}
