/* SPDX-License-Identifier: Apache-2.0 */
/* Reasons a node cannot take a VM and a VM cannot migrate. The names are
 * stable (they appear in reports): KubeVirt's own reason names where it has
 * one (3.1), Godwit's names otherwise. A missing selector label and one
 * with another value share the name NodeSelectorMismatch; the code and the
 * message tell them apart. */
#include <stdarg.h>

#include "godwit/sched.h"

static const char *const reason_names[GW_R_COUNT] = {
	[GW_R_SOURCE_NODE] = "SourceNode",
	[GW_R_SELECTOR_MISSING] = "NodeSelectorMismatch",
	[GW_R_SELECTOR_VALUE] = "NodeSelectorMismatch",
	[GW_R_AFFINITY] = "NodeAffinityMismatch",
	[GW_R_NOT_SCHEDULABLE] = "NodeNotSchedulable",
	[GW_R_CORDONED] = "NodeCordoned",
	[GW_R_TAINT] = "TaintNotTolerated",
	[GW_R_CPU_CAPACITY] = "InsufficientCPU",
	[GW_R_MEMORY_CAPACITY] = "InsufficientMemory",
	[GW_R_INTERFACE] = "InterfaceNotLiveMigratable",
	[GW_R_CPU_MODE] = "CPUModeLiveMigratable",
	[GW_R_HOST_DEVICE] = "HostDeviceNotLiveMigratable",
	[GW_R_SEV] = "SEVNotLiveMigratable",
	[GW_R_TDX] = "TDXNotLiveMigratable",
	[GW_R_TSC] = "NoTSCFrequencyNotLiveMigratable",
	[GW_R_HYPERV_PASSTHROUGH] = "HypervPassthroughNotLiveMigratable",
	[GW_R_DISKS] = "DisksNotLiveMigratable",
	[GW_R_CDROM] = "CDROMNotLiveMigratable",
	[GW_R_CONTAINERDISK] = "ContainerDiskNotLiveMigratable",
	[GW_R_NOT_RUNNING] = "VMINotRunning",
	[GW_R_IN_FLIGHT] = "MigrationInFlight",
	[GW_R_NO_HOST_MODEL_LABEL] = "HostModelLabelMissing",
};

const char *gw_reason_name(enum gw_reason_code code)
{
	if ((size_t)code >= GW_R_COUNT || !reason_names[code])
		return "Unknown";
	return reason_names[code];
}

void gw_reasons_init(struct gw_reasons *r)
{
	r->v = NULL;
	r->n = 0;
	r->codes_only = false;
}

void gw_reasons_fini(struct gw_reasons *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].subject);
		free(r->v[i].message);
	}
	free(r->v);
	bool codes_only = r->codes_only;
	gw_reasons_init(r);
	r->codes_only = codes_only;
}

void gw_reasons_add(struct gw_reasons *r, enum gw_reason_code code, const char *subject, const char *fmt, ...)
{
	struct gw_buf b;
	va_list ap;

	if (r->codes_only) {
		r->v = gw_realloc(r->v, (r->n + 1) * sizeof(*r->v));
		r->v[r->n].code = code;
		r->v[r->n].subject = subject ? gw_strdup(subject) : NULL;
		r->v[r->n].message = NULL;
		r->n++;
		return;
	}
	gw_buf_init(&b);
	va_start(ap, fmt);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	r->v = gw_realloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n].code = code;
	r->v[r->n].subject = subject ? gw_strdup(subject) : NULL;
	r->v[r->n].message = b.data ? gw_buf_steal(&b) : gw_strdup("");
	r->n++;
	gw_buf_fini(&b);
}
