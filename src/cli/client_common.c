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
	case 0x103: conn->token_file = arg; return true;
	default: return false;
	}
}

int gw_cli_read_token_file(const char *path, char **token, struct gw_err **err)
{
	char *text = NULL;
	size_t len = 0;
	int r = gw_file_read(path, 64 * 1024, &text, &len, err);
	if (r < 0)
		return gw_err_wrap(err, "--token-file");
	char *start = text;
	while (*start == ' ' || *start == '\t')
		start++;
	size_t n = strcspn(start, "\r\n");
	while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t'))
		n--;
	if (n == 0 || strlen(start) != len - (size_t)(start - text)) {
		free(text);
		return gw_err_set(err, -EINVAL, "--token-file %s: %s", path,
				  n == 0 ? "empty first line: no token" : "a NUL byte in the file: not a token");
	}
	*token = gw_strndup(start, n);
	explicit_bzero(text, len);
	free(text);
	return 0;
}

int gw_cli_connect(const struct gw_cli_conn *conn, struct gw_client **client, struct gw_err **err)
{
	if (conn->token && conn->token_file)
		return gw_err_set(err, -EINVAL, "--token and --token-file: give one of them");
	_cleanup_free_ char *file_token = NULL;
	if (conn->token_file) {
		int r = gw_cli_read_token_file(conn->token_file, &file_token, err);
		if (r < 0)
			return r;
	}
	struct gw_client_options o = {.server = conn->server, .token = file_token ? file_token : conn->token,
				      .config_path = conn->config};
	int r = gw_client_new(&o, client, err);
	if (file_token)
		explicit_bzero(file_token, strlen(file_token));
	return r;
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

const char *gw_cli_namespace(const char *ns)
{
	return ns && *ns ? ns : "default";
}
