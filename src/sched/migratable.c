/* SPDX-License-Identifier: Apache-2.0 */
/* Migratability: every blocker, in the order KubeVirt evaluates its checks
 * (3.1: network, CPU mode, host devices, SEV, TDX, TSC, Hyper-V
 * passthrough, disks last), framed by the admission checks (3.4: a VMI
 * that does not run first, an in-flight migration last). KubeVirt stops at
 * the first failing check and the first failing volume; Godwit reports
 * them all. The Godwit rule set adds the CD-ROM and container disk
 * blockers of 002, reported with the disks. */
#include <string.h>

#include "sched_int.h"

static bool is_running(const struct gw_vmi *vmi)
{
	/* A manifest without status has no phase: a VMI placed on a node
	 * counts as running then. */
	if (!vmi->node_name || !vmi->node_name[0])
		return false;
	return !vmi->phase || strcmp(vmi->phase, "Running") == 0;
}

/* Cluster config: spec.configuration.network.binding.<name>.migration
 * declares a binding plugin migratable (3.1 #1). */
static bool plugin_migratable(const struct gw_cluster *c, const char *plugin)
{
	if (!c->kubevirt || !c->kubevirt->doc || !plugin)
		return false;
	const char *const path[] = {"spec", "configuration", "network", "binding", plugin, "migration", NULL};
	const json_t *m = sched_json_path(c->kubevirt->doc, path);
	return m && !json_is_null(m);
}

static void check_network(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_reasons *out)
{
	const struct gw_vmi_spec *s = &vmi->spec;
	if (s->n_interfaces == 0)
		return;
	for (size_t n = 0; n < s->n_networks; n++) {
		if (!s->networks[n].pod)
			continue;
		const struct gw_interface *ifc = NULL;
		for (size_t i = 0; i < s->n_interfaces && !ifc; i++)
			if (s->interfaces[i].name && s->networks[n].name &&
			    strcmp(s->interfaces[i].name, s->networks[n].name) == 0)
				ifc = &s->interfaces[i];
		if (!ifc) {
			gw_reasons_add(out, GW_R_INTERFACE, s->networks[n].name, "no primary interface found for network %s",
				       s->networks[n].name);
			continue;
		}
		bool ok = ifc->binding == GW_BINDING_MASQUERADE || ifc->binding == GW_BINDING_PASST ||
			  (ifc->binding == GW_BINDING_BRIDGE &&
			   gw_map_get(&vmi->meta.annotations, "kubevirt.io/allow-pod-bridge-network-live-migration")) ||
			  (ifc->binding == GW_BINDING_PLUGIN && plugin_migratable(c, ifc->plugin));
		/* 002: a bridge on the management (pod) network blocks; this is
		 * KubeVirt's rule too, with the same annotation exception. */
		if (!ok)
			gw_reasons_add(out, GW_R_INTERFACE, ifc->name,
				       "cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network");
	}
}

static bool source_has_host_model(const struct gw_node *source)
{
	if (!source)
		return true;   /* unknown node: reported as a finding, not here */
	for (size_t i = 0; i < source->meta.labels.n; i++)
		if (gw_str_has_prefix(source->meta.labels.keys[i], SCHED_PREFIX_HOST_MODEL) &&
		    source->meta.labels.keys[i][strlen(SCHED_PREFIX_HOST_MODEL)])
			return true;
	return false;
}

static void check_cpu_mode(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_reasons *out)
{
	if (strcmp(gw_sched_cpu_model(c, &vmi->spec, NULL), "host-model") != 0)
		return;
	const struct gw_node *source = sched_find_node(c, vmi->node_name);
	/* 3.1 #2: the labeller found no host model. Offline we only see the
	 * labels: an arm64 node never has one. */
	const char *arch = source ? gw_map_get(&source->meta.labels, "kubernetes.io/arch") : NULL;
	if (arch && strcmp(arch, "arm64") == 0) {
		gw_reasons_add(out, GW_R_CPU_MODE, vmi->node_name, "the node \"%s\" does not allow migration with host-model",
			       vmi->node_name);
		return;
	}
	/* S18: no remembered selectors and no host-model-cpu label on the
	 * source: no target pod can be created. */
	if (gw_sched_selector_source(c, vmi) == GW_SELECTOR_SOURCE_NODE && !source_has_host_model(source))
		gw_reasons_add(out, GW_R_NO_HOST_MODEL_LABEL, vmi->node_name,
			       "unable to locate host cpu model, does not contain label \"%s\" with information",
			       SCHED_PREFIX_HOST_MODEL);
}

static void check_devices(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_reasons *out)
{
	const struct gw_vmi_spec *s = &vmi->spec;
	/* 3.1 #3; 002: "any PCIDevice passthrough enabled" */
	if (s->n_host_devices)
		gw_reasons_add(out, GW_R_HOST_DEVICE, NULL, "VMI specifies non-migratable generic PCI host device");
	if (s->n_gpus > 1)
		gw_reasons_add(out, GW_R_HOST_DEVICE, NULL, "VMI specifies too many GPUs");
	else if (s->n_gpus == 1 && !sched_feature_gate(c, "VGPULiveMigration"))
		gw_reasons_add(out, GW_R_HOST_DEVICE, NULL,
			       "VMI specifies a GPU but feature gate VGPULiveMigration is not enabled");
	/* #4, #4b */
	if (s->sev || s->sev_snp)
		gw_reasons_add(out, GW_R_SEV, NULL, "VMI uses SEV");
	if (s->tdx)
		gw_reasons_add(out, GW_R_TDX, NULL, "VMI uses TDX");
	/* #6 */
	if (s->hyperv_reenlightenment && !(vmi->tsc_frequency && vmi->tsc_frequency[0]))
		gw_reasons_add(out, GW_R_TSC, NULL,
			       "HyperV Reenlightenment VMIs cannot migrate when TSC Frequency is not exposed on the cluster: guest timers might be inconsistent");
	/* #7 */
	if (s->hyperv_passthrough)
		gw_reasons_add(out, GW_R_HYPERV_PASSTHROUGH, NULL, "VMI uses hyperv passthrough");
}

/* Access modes of a claim: the VMI's volume status, else the PVC object.
 * NULL when unknown. *rwx is set when ReadWriteMany is among them. */
static bool claim_access(const struct gw_cluster *c, const struct gw_vmi *vmi, const char *claim, bool *rwx)
{
	const char *modes = claim ? gw_map_get(&vmi->pvc_access_modes, claim) : NULL;
	if (modes) {
		*rwx = strstr(modes, "ReadWriteMany") || strstr(modes, "RWX");
		return true;
	}
	for (size_t i = 0; claim && i < c->n_pvcs; i++) {
		const struct gw_pvc *p = c->pvcs[i];
		if (!p->meta.name || strcmp(p->meta.name, claim) != 0)
			continue;
		if (vmi->meta.namespace && p->meta.namespace && strcmp(p->meta.namespace, vmi->meta.namespace) != 0)
			continue;
		*rwx = gw_strv_contains(&p->access_modes, "ReadWriteMany");
		return true;
	}
	return false;
}

static const struct gw_disk *disk_of(const struct gw_vmi_spec *s, const char *volume)
{
	for (size_t i = 0; i < s->n_disks; i++)
		if (s->disks[i].name && volume && strcmp(s->disks[i].name, volume) == 0)
			return &s->disks[i];
	return NULL;
}

static void check_pvc(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_volume *v,
		      const char *claim, struct gw_reasons *out)
{
	bool rwx = false;
	if (!claim_access(c, vmi, claim, &rwx))
		gw_reasons_add(out, GW_R_DISKS, v->name,
			       "cannot migrate VMI: Unable to determine if PVC %s is shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)",
			       claim);
	else if (!rwx && !gw_strv_contains(&vmi->migrated_volumes, v->name))
		gw_reasons_add(out, GW_R_DISKS, v->name,
			       "cannot migrate VMI: PVC %s is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)",
			       claim);
}

/* 3.2 volume scan; *copy is set when a volume must be copied. Every
 * failing volume is reported, in volume order. */
static void scan_volumes(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules,
			 struct gw_reasons *out, bool *copy)
{
	const struct gw_vmi_spec *s = &vmi->spec;
	*copy = vmi->migrated_volumes.n > 0;
	for (size_t i = 0; i < s->n_volumes; i++) {
		const struct gw_volume *v = &s->volumes[i];
		const struct gw_disk *d = disk_of(s, v->name);
		bool rwx;
		if (rules && rules->cdrom_blocks && d && d->type == GW_DISK_CDROM)
			gw_reasons_add(out, GW_R_CDROM, v->name,
				       "VMI has CD-ROM volume %s; eject it before live migration", v->name);
		if (rules && rules->containerdisk_blocks && v->kind == GW_VOL_CONTAINERDISK)
			gw_reasons_add(out, GW_R_CONTAINERDISK, v->name,
				       "VMI has container disk volume %s; remove it before live migration", v->name);
		switch (v->kind) {
		case GW_VOL_PVC:
		case GW_VOL_DATAVOLUME:
			check_pvc(c, vmi, v, v->claim ? v->claim : v->name, out);
			break;
		case GW_VOL_HOSTDISK:
			/* a translated PVC has PVC information under the volume's name */
			if (claim_access(c, vmi, v->name, &rwx))
				check_pvc(c, vmi, v, v->name, out);
			else if (!v->hostdisk_shared)
				gw_reasons_add(out, GW_R_DISKS, v->name, "cannot migrate VMI with non-shared HostDisk");
			break;
		default:
			if (d && d->type == GW_DISK_FILESYSTEM)
				break;   /* virtiofs: not copied */
			if (d && d->type == GW_DISK_CDROM && d->readonly)
				break;   /* read-only CD-ROM: not copied */
			*copy = true;
			break;
		}
	}
}

static void check_in_flight(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_reasons *out)
{
	for (size_t i = 0; i < c->n_vmims; i++) {
		const struct gw_vmim *m = c->vmims[i];
		const char *target = m->vmi_name ? m->vmi_name : gw_map_get(&m->meta.labels, "kubevirt.io/vmi-name");
		if (!target || strcmp(target, vmi->meta.name) != 0)
			continue;
		if (vmi->meta.namespace && m->meta.namespace && strcmp(vmi->meta.namespace, m->meta.namespace) != 0)
			continue;
		if (m->phase && (strcmp(m->phase, "Succeeded") == 0 || strcmp(m->phase, "Failed") == 0))
			continue;
		/* 3.4 #6 */
		gw_reasons_add(out, GW_R_IN_FLIGHT, m->meta.name,
			       "in-flight migration detected. Active migration job (%s) is currently already in progress for VMI %s.",
			       m->meta.uid ? m->meta.uid : m->meta.name, vmi->meta.name);
	}
}

void gw_sched_migratable(const struct gw_cluster *c, const struct gw_vmi *vmi, const struct gw_rule_set *rules,
			 struct gw_reasons *out)
{
	bool copy;
	if (!rules)
		rules = gw_rules_get(GW_RULES_GODWIT);
	if (!is_running(vmi)) {
		if (vmi->phase && (strcmp(vmi->phase, "Succeeded") == 0 || strcmp(vmi->phase, "Failed") == 0))
			gw_reasons_add(out, GW_R_NOT_RUNNING, vmi->phase, "Cannot migrate VMI in finalized state.");
		else
			gw_reasons_add(out, GW_R_NOT_RUNNING, vmi->phase, "VMI is not running (phase %s, node %s)",
				       vmi->phase ? vmi->phase : "unknown", vmi->node_name ? vmi->node_name : "none");
	}
	check_network(c, vmi, out);
	check_cpu_mode(c, vmi, out);
	check_devices(c, vmi, out);
	/* KubeVirt scans volumes first but reports their error last (3.1 #8). */
	scan_volumes(c, vmi, rules, out, &copy);
	check_in_flight(c, vmi, out);
}

const char *gw_sched_migration_method(const struct gw_cluster *c, const struct gw_vmi *vmi)
{
	struct gw_reasons ignored;
	bool copy;
	gw_reasons_init(&ignored);
	scan_volumes(c, vmi, NULL, &ignored, &copy);
	gw_reasons_fini(&ignored);
	return copy ? "BlockMigration" : "LiveMigration";
}
