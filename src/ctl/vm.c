/* SPDX-License-Identifier: Apache-2.0 */
/* The VirtualMachine controller (VM -> VMI by runStrategy, restarts) and
 * the placement controller (a new VMI gets a node, or says why not). */
#include <string.h>

#include "internal.h"

#define ANN_RESTART "godwit.io/restart"
#define ANN_RESTART_TOKEN "godwit.io/restart-token"

static bool wants_running(const struct gw_vm *vm)
{
	const char *rs = vm->run_strategy;
	return rs && (strcmp(rs, "Always") == 0 || strcmp(rs, "RerunOnFailure") == 0);
}

static bool wants_halted(const struct gw_vm *vm)
{
	return !vm->run_strategy || strcmp(vm->run_strategy, "Halted") == 0;
}

static int create_vmi(struct gw_ctl *ctl, const struct gw_vm *vm)
{
	const json_t *tmpl = json_object_get(json_object_get(vm->doc, "spec"), "template");
	json_t *labels = json_deep_copy(json_object_get(json_object_get(tmpl, "metadata"), "labels"));
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	json_object_set_new(labels, "kubevirt.io/vm", json_string(vm->meta.name));
	json_t *ann = json_object();
	const char *token = gw_map_get(&vm->meta.annotations, ANN_RESTART);
	if (token)
		json_object_set_new(ann, ANN_RESTART_TOKEN, json_string(token));
	json_t *owner = json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion", "kubevirt.io/v1", "kind",
				  "VirtualMachine", "name", vm->meta.name, "uid", vm->meta.uid ? vm->meta.uid : "",
				  "controller", 1, "blockOwnerDeletion", 1);
	_cleanup_json_ json_t *vmi = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o, s:o}, s:O, s:{s:s}}",
					       "apiVersion", "kubevirt.io/v1", "kind", "VirtualMachineInstance",
					       "metadata", "name", vm->meta.name, "namespace",
					       vm->meta.namespace ? vm->meta.namespace : "default", "labels", labels,
					       "annotations", ann, "ownerReferences", owner, "spec",
					       json_object_get(tmpl, "spec"), "status", "phase", "Pending");
	ctl_record_phase(vmi, "Pending", ctl_now_ms(ctl));
	_cleanup_err_ struct gw_err *err = NULL;
	int r = gw_store_create(ctl->store, KIND_VMIS, vmi, NULL, &err);
	if (r < 0 && r != -EEXIST)
		ctl_log(ctl, GW_CTL_LOG_WARN, "create VMI %s/%s: %s", vm->meta.namespace, vm->meta.name, gw_err_msg(err));
	else if (r == 0)
		ctl_log(ctl, GW_CTL_LOG_INFO, "VM %s/%s: created its VMI", vm->meta.namespace, vm->meta.name);
	return r;
}

static int delete_vmi(struct gw_ctl *ctl, const struct gw_vmi *vmi, const char *why)
{
	_cleanup_err_ struct gw_err *err = NULL;
	const char *rvs = ctl_str(vmi->doc, "metadata.resourceVersion");
	int r = gw_store_delete(ctl->store, KIND_VMIS, vmi->meta.namespace, vmi->meta.name, rvs ? strtoll(rvs, NULL, 10) : 0,
				NULL, &err);
	if (r == 0)
		ctl_log(ctl, GW_CTL_LOG_INFO, "VMI %s/%s deleted: %s", vmi->meta.namespace, vmi->meta.name, why);
	return r;
}

static bool owned_by(const struct gw_vmi *vmi, const struct gw_vm *vm)
{
	const json_t *refs = json_object_get(json_object_get(vmi->doc, "metadata"), "ownerReferences");
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref) {
		const char *kind = ctl_str(ref, "kind"), *uid = ctl_str(ref, "uid");
		if (kind && strcmp(kind, "VirtualMachine") == 0 && uid && vm->meta.uid && strcmp(uid, vm->meta.uid) == 0)
			return true;
	}
	return false;
}

static void update_vm_status(struct gw_ctl *ctl, const struct gw_vm *vm, const struct gw_vmi *vmi)
{
	const char *printable = "Stopped";
	bool ready = false;
	if (vmi) {
		const char *ph = vmi->phase ? vmi->phase : "Pending";
		ready = strcmp(ph, "Running") == 0;
		if (ready)
			printable = ctl_str(vmi->doc, "status.migrationState.migrationUid") &&
						    !ctl_bool(vmi->doc, "status.migrationState.completed")
					    ? "Migrating"
					    : "Running";
		else if (strcmp(ph, "Pending") == 0 && ctl_str(vmi->doc, "status.conditions") == NULL &&
			 !vmi->node_name)
			printable = "Starting";
		else if (strcmp(ph, "Pending") == 0)
			printable = vmi->node_name ? "Starting" : "ErrorUnschedulable";
		else if (strcmp(ph, "Scheduled") == 0 || strcmp(ph, "Scheduling") == 0)
			printable = "Starting";
		else
			printable = ph;
	}
	_cleanup_json_ json_t *doc = json_deep_copy(vm->doc);
	json_t *st = ctl_obj(doc, "status");
	json_object_set_new(st, "created", json_boolean(vmi != NULL));
	json_object_set_new(st, "ready", json_boolean(ready));
	json_object_set_new(st, "printableStatus", json_string(printable));
	if (!json_equal(doc, vm->doc))
		ctl_update(ctl, KIND_VMS, doc);
}

/* vmi's ownerReference to the VirtualMachine that controls it (controller:
 * true), or NULL. */
static const json_t *controller_ref(const struct gw_vmi *vmi)
{
	const json_t *refs = json_object_get(json_object_get(vmi->doc, "metadata"), "ownerReferences");
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref) {
		const char *kind = ctl_str(ref, "kind");
		if (kind && strcmp(kind, "VirtualMachine") == 0 && json_is_true(json_object_get(ref, "controller")))
			return ref;
	}
	return NULL;
}

/* Kubernetes' garbage collector for the VMIs of VMs: a VMI whose
 * controlling VM is gone (or was made again with another uid) or is being
 * deleted is deleted too, as KubeVirt stops the VMI of a VM being
 * deleted. Its agent then stops the QEMU. */
static void collect_orphans(struct gw_ctl *ctl, const struct gw_cluster *c)
{
	for (size_t i = 0; i < c->n_vmis; i++) {
		const struct gw_vmi *vmi = c->vmis[i];
		const json_t *ref = controller_ref(vmi);
		if (!ref || ctl_str(vmi->doc, "metadata.deletionTimestamp"))
			continue;
		const char *name = ctl_str(ref, "name"), *uid = ctl_str(ref, "uid");
		const struct gw_vm *vm = name ? gw_cluster_vm(c, vmi->meta.namespace, name) : NULL;
		if (!vm || (uid && vm->meta.uid && strcmp(uid, vm->meta.uid) != 0))
			delete_vmi(ctl, vmi, "its VirtualMachine is gone");
		else if (ctl_str(vm->doc, "metadata.deletionTimestamp"))
			delete_vmi(ctl, vmi, "its VirtualMachine is being deleted");
	}
}

int64_t ctl_pass_vm(struct gw_ctl *ctl, const struct gw_cluster *c)
{
	for (size_t i = 0; i < c->n_vms; i++) {
		const struct gw_vm *vm = c->vms[i];
		if (ctl_str(vm->doc, "metadata.deletionTimestamp"))
			continue;
		struct gw_vmi *vmi = gw_cluster_vmi(c, vm->meta.namespace, vm->meta.name);
		if (vmi && !owned_by(vmi, vm))
			vmi = NULL;   /* not ours: leave it alone */
		if (vmi && wants_halted(vm)) {
			delete_vmi(ctl, vmi, "runStrategy Halted");
			vmi = NULL;
		} else if (vmi && wants_running(vm)) {
			const char *want = gw_map_get(&vm->meta.annotations, ANN_RESTART);
			const char *have = gw_map_get(&vmi->meta.annotations, ANN_RESTART_TOKEN);
			if (want && (!have || strcmp(want, have) != 0)) {
				/* A restart is a new VMI: nothing remembered from the
				 * old launcher (status.launcherNodeSelector) survives. */
				delete_vmi(ctl, vmi, "restart requested");
				vmi = NULL;
			} else if (ctl_phase_final(vmi->phase)) {
				delete_vmi(ctl, vmi, "VMI finished, runStrategy Always");
				vmi = NULL;
			}
		}
		if (!vmi && wants_running(vm) && !gw_cluster_vmi(c, vm->meta.namespace, vm->meta.name))
			create_vmi(ctl, vm);
		update_vm_status(ctl, vm, vmi);
	}
	collect_orphans(ctl, c);
	return -1;
}

/* ---- placement ------------------------------------------------------------------------ */
int64_t ctl_pass_placement(struct gw_ctl *ctl, const struct gw_cluster *c)
{
	int64_t now = ctl_now_ms(ctl);
	struct ctl_capacity cap;
	ctl_capacity_init(&cap, c);
	for (size_t i = 0; i < c->n_vmis; i++) {
		const struct gw_vmi *vmi = c->vmis[i];
		if (vmi->node_name || ctl_str(vmi->doc, "metadata.deletionTimestamp") ||
		    (vmi->phase && strcmp(vmi->phase, "Pending") != 0))
			continue;
		struct gw_map sel;
		struct gw_node_affinity aff = {0};
		gw_map_init(&sel);
		gw_sched_launch_selector(c, vmi, &sel, &aff);
		_cleanup_free_ char *why = NULL;
		const struct gw_node *node = ctl_pick_node(c, vmi, NULL, &sel, &aff, &cap, &why);
		_cleanup_json_ json_t *doc = json_deep_copy(vmi->doc);
		json_t *st = ctl_obj(doc, "status");
		if (node) {
			json_object_set_new(st, "nodeName", json_string(node->meta.name));
			json_object_set_new(st, "launcherNodeSelector", gw_map_to_json(&sel));
			json_object_set_new(ctl_obj(ctl_obj(doc, "metadata"), "labels"), "kubevirt.io/nodeName",
					    json_string(node->meta.name));
			ctl_set_condition(doc, "PodScheduled", "True", "", "", now);
			ctl_record_phase(doc, "Scheduled", now);
			if (ctl_update(ctl, KIND_VMIS, doc) == 0) {
				ctl_capacity_add(&cap, c, node->meta.name, vmi);
				ctl_log(ctl, GW_CTL_LOG_INFO, "VMI %s/%s placed on %s", vmi->meta.namespace,
					vmi->meta.name, node->meta.name);
			}
		} else {
			_cleanup_free_ char *msg = gw_asprintf("0/%zu nodes are available: %s", c->n_nodes, why);
			bool changed = ctl_set_condition(doc, "PodScheduled", "False", "Unschedulable", msg, now);
			if (!vmi->phase) {
				ctl_record_phase(doc, "Pending", now);
				changed = true;
			}
			if (changed)
				ctl_update(ctl, KIND_VMIS, doc);
		}
		gw_map_fini(&sel);
		gw_node_affinity_fini(&aff);
	}
	ctl_capacity_fini(&cap);
	return -1;
}
