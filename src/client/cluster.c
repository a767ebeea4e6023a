/* SPDX-License-Identifier: Apache-2.0 */
/* Every resource of a server into a gw_cluster, for `godwit check|explain|plan
 * --server` (the placement engine over the live state instead of files). */
#include <string.h>

#include "godwit/api.h"
#include "godwit/client.h"
#include "godwit/server.h"

int gw_client_load_cluster(struct gw_client *c, struct gw_cluster *cluster, struct gw_err **err)
{
	for (size_t k = 0; k < gw_server_resources_count; k++) {
		const struct gw_server_resource *res = &gw_server_resources[k];
		char *path = gw_server_resource_path(res, NULL, NULL);
		long status = 0;
		json_t *reply = NULL;
		int r = gw_client_request(c, "GET", path, NULL, NULL, &status, &reply, err);
		if (r == 0 && status != 200)
			r = gw_client_error(status, reply, err);
		if (r < 0) {
			gw_err_wrap(err, "GET %s", path);
			free(path);
			json_decref(reply);
			return r;
		}
		size_t i;
		json_t *item;
		json_array_foreach(json_object_get(reply, "items"), i, item) {
			/* A list's items carry no kind, as in Kubernetes. */
			if (!json_object_get(item, "kind")) {
				json_object_set_new(item, "kind", json_string(res->kind));
				json_object_set_new(item, "apiVersion", json_string(res->api_version));
			}
			r = gw_cluster_add_doc(cluster, item, path, i, err);
			if (r < 0) {
				free(path);
				json_decref(reply);
				return r;
			}
		}
		free(path);
		json_decref(reply);
	}
	gw_cluster_link(cluster);
	return 0;
}
