/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's API calls: requests, and CAS updates of VMIs that re-read
 * on conflict. */
#include <string.h>

#include "node_int.h"

int node_call(struct gw_client *c, const char *method, const char *path, const char *content_type,
	      const json_t *body, json_t **reply, struct gw_err **err)
{
	int r = gw_client_call(c, method, path, content_type, body, reply, err);
	return r < 0 ? gw_err_wrap(err, "%s %s", method, path) : 0;
}

char *vmi_path(const char *ns, const char *name)
{
	return gw_asprintf("/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s", ns, name);
}

json_t *json_child(json_t *parent, const char *key)
{
	json_t *o = json_object_get(parent, key);
	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(parent, key, o);
	}
	return o;
}

const char *json_str_at(const json_t *o, const char *dotted)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", dotted);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save))
		o = json_object_get(o, tok);
	return json_string_value(o);
}

/* Enough for any number of writers the API serves at once; a conflict
 * means someone else wrote, so the next read is newer. */
#define CAS_ATTEMPTS 20

int vmi_update(struct gw_client *c, const char *ns, const char *name, bool object, vmi_edit_fn edit, void *arg,
	       struct gw_err **err)
{
	_cleanup_free_ char *path = vmi_path(ns, name);
	_cleanup_free_ char *status_path = gw_asprintf("%s/status", path);
	for (int attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
		_cleanup_json_ json_t *vmi = NULL;
		int r = node_call(c, "GET", path, NULL, NULL, &vmi, err);
		if (r < 0)
			return r;
		r = edit(vmi, arg);
		if (r <= 0)
			return r;
		struct gw_err *e = NULL;
		r = node_call(c, "PUT", object ? path : status_path, NULL, vmi, NULL, &e);
		if (r == -EBUSY) {
			gw_err_free(e);
			continue;
		}
		if (r < 0) {
			if (err && !*err)
				*err = e;
			else
				gw_err_free(e);
			return r;
		}
		return 0;
	}
	return gw_err_set(err, -EBUSY, "VMI %s/%s: still conflicting after %d attempts", ns, name, CAS_ATTEMPTS);
}
