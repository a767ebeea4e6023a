/* SPDX-License-Identifier: Apache-2.0 */
/* What the client commands share: connection options, kinds, calls. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

bool gw_cli_conn_option(struct gw_cli_conn *conn, int opt, const char *arg)
{
	switch (opt) {
	case 0x100: conn->server = arg; return true;
	case 0x101: conn->token = arg; return true;
	case 0x102: conn->config = arg; return true;
	default: return false;
	}
}

int gw_cli_connect(const struct gw_cli_conn *conn, struct gw_client **client, struct gw_err **err)
{
	struct gw_client_options o = {.server = conn->server, .token = conn->token, .config_path = conn->config};
	return gw_client_new(&o, client, err);
}

int gw_cli_resource(const char *name, const struct gw_server_resource **res, struct gw_err **err)
{
	*res = gw_server_resource_lookup(name);
	if (*res)
		return 0;
	struct gw_buf b;
	gw_buf_init(&b);
	for (size_t i = 0; i < gw_server_resources_count; i++)
		gw_buf_printf(&b, "%s%s", i ? ", " : "", gw_server_resources[i].plural);
	int r = gw_err_set(err, -EINVAL, "unknown kind \"%s\" (known: %s)", name, b.data);
	gw_buf_fini(&b);
	return r;
}

int gw_cli_call(struct gw_client *c, const char *method, const char *path, const char *content_type,
		const json_t *body, json_t **reply, struct gw_err **err)
{
	long status = 0;
	json_t *answer = NULL;
	int r = gw_client_request(c, method, path, content_type, body, &status, &answer, err);
	if (r < 0)
		return r;
	if (status < 200 || status > 299) {
		r = gw_client_error(status, answer, err);
		json_decref(answer);
		return r;
	}
	if (reply)
		*reply = answer;
	else
		json_decref(answer);
	return 0;
}

const char *gw_cli_namespace(const char *ns)
{
	return ns && *ns ? ns : "default";
}
