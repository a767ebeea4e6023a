/* SPDX-License-Identifier: Apache-2.0 */
/* Pods (virt-launcher pods remember the selectors a VMI was placed with)
 * and PersistentVolumeClaims (access modes decide migratability). */
#include <string.h>

#include "internal.h"

void gw_pod_free(struct gw_pod *p)
{
	if (!p)
		return;
	meta_fini(&p->meta);
	free(p->node_name);
	gw_map_fini(&p->node_selector);
	free(p->phase);
	json_decref(p->doc);
	free(p);
}

static int pod_body(const json_t *doc, struct gw_pod *p, struct gw_err **err)
{
	const json_t *spec, *status;
	int r;
	if ((r = meta_decode(doc, true, &p->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", false, &spec, err)) < 0 ||
	    (r = dec_object(doc, "", "status", false, &status, err)) < 0)
		return r;
	if (spec && ((r = dec_string(spec, "spec", "nodeName", false, &p->node_name, err)) < 0 ||
		     (r = dec_map(spec, "spec", "nodeSelector", NULL, &p->node_selector, err)) < 0))
		return r;
	if (status && (r = dec_string(status, "status", "phase", false, &p->phase, err)) < 0)
		return r;
	return 0;
}

int gw_pod_decode(const json_t *doc, struct gw_pod **out, struct gw_err **err)
{
	struct gw_pod *p = gw_calloc(1, sizeof(*p));
	*out = NULL;
	int r = pod_body(doc, p, err);
	if (r < 0) {
		gw_pod_free(p);
		return r;
	}
	p->doc = json_incref((json_t *)doc);
	*out = p;
	return 0;
}

void gw_pvc_free(struct gw_pvc *p)
{
	if (!p)
		return;
	meta_fini(&p->meta);
	gw_strv_fini(&p->access_modes);
	json_decref(p->doc);
	free(p);
}

static const char *const access_modes[] = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod",
					   NULL};

static int modes_decode(const json_t *parent, const char *path, struct gw_strv *out, struct gw_err **err)
{
	int r = dec_strv(parent, path, "accessModes", out, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < out->n; i++) {
		bool known = false;
		for (size_t k = 0; access_modes[k]; k++)
			known |= strcmp(out->v[i], access_modes[k]) == 0;
		if (!known) {
			char p[PATH_MAX_LEN], pi[PATH_MAX_LEN];
			path_key(p, sizeof(p), path, "accessModes");
			return dec_fail(err, path_index(pi, sizeof(pi), p, i), NULL,
					json_array_get(json_object_get(parent, "accessModes"), i),
					"not an access mode (ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod)");
		}
	}
	return 0;
}

static int pvc_body(const json_t *doc, struct gw_pvc *p, struct gw_err **err)
{
	const json_t *spec, *status;
	int r;
	if ((r = meta_decode(doc, true, &p->meta, err)) < 0 ||
	    (r = dec_object(doc, "", "spec", false, &spec, err)) < 0 ||
	    (r = dec_object(doc, "", "status", false, &status, err)) < 0)
		return r;
	if (status) {
		/* Once bound, status says what the volume really offers. */
		if ((r = modes_decode(status, "status", &p->access_modes, err)) < 0)
			return r;
	}
	if (!p->access_modes.n && spec && (r = modes_decode(spec, "spec", &p->access_modes, err)) < 0)
		return r;
	return 0;
}

int gw_pvc_decode(const json_t *doc, struct gw_pvc **out, struct gw_err **err)
{
	struct gw_pvc *p = gw_calloc(1, sizeof(*p));
	*out = NULL;
	int r = pvc_body(doc, p, err);
	if (r < 0) {
		gw_pvc_free(p);
		return r;
	}
	p->doc = json_incref((json_t *)doc);
	*out = p;
	return 0;
}
