/* SPDX-License-Identifier: Apache-2.0 */
/* VirtualMachine: the template's spec decodes like a VMI's. */
#include <string.h>

#include "internal.h"

static const char *const run_strategies[] = {"Always", "RerunOnFailure", "Manual", "Halted", "Once",
					     "WaitAsReceiver", NULL};

void gw_vm_free(struct gw_vm *v)
{
	if (!v)
		return;
	meta_fini(&v->meta);
	gw_map_fini(&v->template_labels);
	vmi_spec_fini(&v->spec);
	free(v->run_strategy);
	json_decref(v->doc);
	free(v);
}

static int vm_body(const json_t *doc, struct gw_vm *v, struct gw_err **err)
{
	const json_t *spec, *tmpl, *md, *tspec;
	bool has_running = false, running = false;
	int r, rs;
	if ((r = meta_decode(doc, true, &v->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", true, &spec, err)) < 0 ||
	    (r = dec_bool(spec, "spec", "running", &has_running, &running, err)) < 0 ||
	    (r = dec_enum(spec, "spec", "runStrategy", run_strategies, &rs, err)) < 0)
		return r;
	/* KubeVirt refuses a VM that sets both. */
	if (has_running && rs >= 0)
		return dec_fail(err, "spec", "runStrategy", json_object_get(spec, "runStrategy"),
				"spec.running and spec.runStrategy are mutually exclusive");
	if (rs >= 0)
		v->run_strategy = gw_strdup(run_strategies[rs]);
	else if (has_running)
		v->run_strategy = gw_strdup(running ? "Always" : "Halted");
	if ((r = dec_object(spec, "spec", "template", true, &tmpl, err)) < 0 ||
	    (r = dec_object(tmpl, "spec.template", "metadata", false, &md, err)) < 0 ||
	    (md && (r = dec_map(md, "spec.template.metadata", "labels", NULL, &v->template_labels, err)) < 0) ||
	    (r = dec_object(tmpl, "spec.template", "spec", true, &tspec, err)) < 0 ||
	    (r = vmi_spec_decode(tspec, "spec.template.spec", &v->spec, err)) < 0)
		return r;
	return 0;
}

int gw_vm_decode(const json_t *doc, struct gw_vm **out, struct gw_err **err)
{
	struct gw_vm *v = gw_calloc(1, sizeof(*v));
	*out = NULL;
	int r = vm_body(doc, v, err);
	if (r < 0) {
		gw_vm_free(v);
		return r;
	}
	v->doc = json_incref((json_t *)doc);
	*out = v;
	return 0;
}
