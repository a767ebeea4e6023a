/* SPDX-License-Identifier: Apache-2.0 */
/* VirtualMachineInstanceMigration (kubevirt-behaviour.md 6.1). */
#include <string.h>

#include "internal.h"

static const char *const priorities[] = {"system-critical", "user-triggered", "system-maintenance", NULL};

void gw_vmim_free(struct gw_vmim *m)
{
	if (!m)
		return;
	meta_fini(&m->meta);
	free(m->vmi_name);
	gw_map_fini(&m->added_node_selector);
	free(m->priority);
	free(m->phase);
	json_decref(m->doc);
	free(m);
}

static int vmim_body(const json_t *doc, struct gw_vmim *m, struct gw_err **err)
{
	const json_t *spec, *status;
	int r, prio;
	if ((r = meta_decode(doc, true, &m->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", true, &spec, err)) < 0 ||
	    (r = dec_string(spec, "spec", "vmiName", true, &m->vmi_name, err)) < 0 ||
	    (r = dec_map(spec, "spec", "addedNodeSelector", NULL, &m->added_node_selector, err)) < 0 ||
	    (r = dec_enum(spec, "spec", "priority", priorities, &prio, err)) < 0 ||
	    (r = dec_object(doc, "", "status", false, &status, err)) < 0 ||
	    (status && (r = dec_string(status, "status", "phase", false, &m->phase, err)) < 0))
		return r;
	if (prio >= 0)
		m->priority = gw_strdup(priorities[prio]);
	return 0;
}

int gw_vmim_decode(const json_t *doc, struct gw_vmim **out, struct gw_err **err)
{
	struct gw_vmim *m = gw_calloc(1, sizeof(*m));
	*out = NULL;
	int r = vmim_body(doc, m, err);
	if (r < 0) {
		gw_vmim_free(m);
		return r;
	}
	m->doc = json_incref((json_t *)doc);
	*out = m;
	return 0;
}
