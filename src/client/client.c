/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl client of the API. One handle per client, used by one thread. */
#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#include "godwit/client.h"

#define MAX_REPLY_BYTES (256u << 20)

struct gw_client {
	CURL *curl;
	char *server;   /* no trailing slash */
	char *token;
	char *ca_file;
	long timeout_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* key=value lines; '#' comments. */
static void read_config(const char *path, char **server, char **token, char **ca)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || !*p)
			continue;
		char *eq = strchr(p, '=');
		if (!eq)
			continue;
		*eq = '\0';
		char *key = p, *value = eq + 1;
		for (char *e = key + strlen(key); e > key && (e[-1] == ' ' || e[-1] == '\t'); e--)
			e[-1] = '\0';
		while (*value == ' ' || *value == '\t')
			value++;
		if (!strcmp(key, "server") && !*server)
			*server = gw_strdup(value);
		else if (!strcmp(key, "token") && !*token)
			*token = gw_strdup(value);
		else if (!strcmp(key, "ca") && !*ca)
			*ca = gw_strdup(value);
	}
	fclose(f);
}

int gw_client_new(const struct gw_client_options *opts, struct gw_client **out, struct gw_err **err)
{
	struct gw_client_options none = {0};
	if (!opts)
		opts = &none;
	char *server = opts->server && *opts->server ? gw_strdup(opts->server) : NULL;
	char *token = opts->token && *opts->token ? gw_strdup(opts->token) : NULL;
	char *ca = opts->ca_file && *opts->ca_file ? gw_strdup(opts->ca_file) : NULL;
	const char *env;
	if (!ca && (env = getenv("GODWIT_CA")) && *env)
		ca = gw_strdup(env);
	if (!server && (env = getenv("GODWIT_SERVER")) && *env)
		server = gw_strdup(env);
	if (!token && (env = getenv("GODWIT_TOKEN")) && *env)
		token = gw_strdup(env);
	if (!server || !token) {
		_cleanup_free_ char *path = NULL;
		if (opts->config_path)
			path = gw_strdup(opts->config_path);
		else if ((env = getenv("XDG_CONFIG_HOME")) && *env)
			path = gw_asprintf("%s/godwit/config", env);
		else if ((env = getenv("HOME")) && *env)
			path = gw_asprintf("%s/.config/godwit/config", env);
		if (path)
			read_config(path, &server, &token, &ca);
	}
	if (!server) {
		free(token);
		free(ca);
		return gw_err_set(err, -EINVAL,
				  "no server: give --server URL, set GODWIT_SERVER, or write server=URL in ~/.config/godwit/config");
	}
	if (!token) {
		free(server);
		free(ca);
		return gw_err_set(err, -EINVAL,
				  "no token: give --token, set GODWIT_TOKEN, or write token=... in ~/.config/godwit/config (the server wrote it to DATA-DIR/token)");
	}
	size_t n = strlen(server);
	while (n > 0 && server[n - 1] == '/')
		server[--n] = '\0';
	if (!strstr(server, "://")) {
		char *with = gw_asprintf("http://%s", server);
		free(server);
		server = with;
	}
	pthread_once(&curl_once, curl_init_once);
	struct gw_client *c = gw_calloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	c->server = server;
	c->token = token;
	c->ca_file = ca;
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
	if (!c->curl) {
		gw_client_free(c);
		return gw_err_set(err, -ENOMEM, "curl_easy_init failed");
	}
	*out = c;
	return 0;
}

void gw_client_free(struct gw_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->server);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	free(c->ca_file);
	free(c);
}

const char *gw_client_server(const struct gw_client *c)
{
	return c->server;
}

struct sink {
	struct gw_buf buf;
	bool overflow;
	/* watch mode */
	gw_client_event_fn fn;
	void *data;
	bool stopped;
	bool bad_line;
	long status;
	CURL *curl;
};

static void handle_lines(struct sink *s)
{
	char *start = s->buf.data;
	char *nl;
	while (!s->stopped && (nl = memchr(start, '\n', s->buf.len - (size_t)(start - s->buf.data)))) {
		*nl = '\0';
		if (*start) {
			json_error_t je;
			json_t *ev = json_loads(start, 0, &je);
			if (!ev)
				s->bad_line = true;
			else if (s->fn(s->data, ev))
				s->stopped = true;
			json_decref(ev);
		}
		start = nl + 1;
	}
	size_t left = s->buf.len - (size_t)(start - s->buf.data);
	memmove(s->buf.data, start, left);
	s->buf.len = left;
	s->buf.data[left] = '\0';
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	if (s->buf.len + n > MAX_REPLY_BYTES) {
		s->overflow = true;
		return 0;
	}
	gw_buf_add(&s->buf, ptr, n);
	if (s->fn) {
		if (!s->status)
			curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
		if (s->status == 200) {
			handle_lines(s);
			if (s->stopped)
				return 0;
		}
	}
	return n;
}

static int perform(struct gw_client *c, const char *method, const char *path, const char *content_type,
		   const json_t *body, long timeout_ms, struct sink *sink, long *status, struct gw_err **err)
{
	CURL *h = c->curl;
	curl_easy_reset(h);
	_cleanup_free_ char *url = gw_asprintf("%s%s", c->server, path);
	_cleanup_free_ char *auth = gw_asprintf("Authorization: Bearer %s", c->token);
	_cleanup_free_ char *ct = gw_asprintf("Content-Type: %s", content_type ? content_type : "application/json");
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *headers = NULL;
	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body)
		headers = curl_slist_append(headers, ct);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (text) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
	sink->curl = h;
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(headers);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (rc == CURLE_WRITE_ERROR && sink->stopped)
		return 0;
	if (rc != CURLE_OK) {
		int code = rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
			   : rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
							    : -EIO;
		return gw_err_set(err, code, "%s %s: %s", method, url,
				  sink->overflow ? "answer too large" : curl_easy_strerror(rc));
	}
	return 0;
}

int gw_client_request(struct gw_client *c, const char *method, const char *path, const char *content_type,
		      const json_t *body, long *status, json_t **reply, struct gw_err **err)
{
	struct sink sink = {0};
	gw_buf_init(&sink.buf);
	*reply = NULL;
	int r = perform(c, method, path, content_type, body, c->timeout_ms, &sink, status, err);
	if (r == 0 && sink.buf.len) {
		json_error_t je;
		*reply = json_loadb(sink.buf.data, sink.buf.len, 0, &je);
	}
	gw_buf_fini(&sink.buf);
	return r;
}

int gw_client_error(long status, const json_t *reply, struct gw_err **err)
{
	const json_t *e = json_object_get(reply, "error");
	const char *reason = json_string_value(json_object_get(e, "reason"));
	const char *message = json_string_value(json_object_get(e, "message"));
	int code = status == 404   ? -ENOENT
		   : status == 409 ? -EBUSY
		   : status == 401 ? -EACCES
		   : status == 400 || status == 422 ? -EINVAL
						    : -EIO;
	struct gw_buf b;
	gw_buf_init(&b);
	const json_t *reasons = json_object_get(e, "reasons");
	/* The message repeats the reasons listed below it: keep its head. */
	const char *first = json_string_value(json_object_get(json_array_get(reasons, 0), "reason"));
	const char *cut = first && message ? strstr(message, first) : NULL;
	int head = cut ? (int)(cut - message) : -1;
	while (head > 0 && (message[head - 1] == ' ' || message[head - 1] == ':'))
		head--;
	if (head > 0)
		gw_buf_printf(&b, "%ld %s: %.*s:", status, reason ? reason : "Error", head, message);
	else
		gw_buf_printf(&b, "%ld %s: %s", status, reason ? reason : "Error", message ? message : "(no message)");
	size_t i;
	const json_t *x;
	json_array_foreach(reasons, i, x)
		gw_buf_printf(&b, "\n  - %s: %s", json_string_value(json_object_get(x, "reason")) ?: "?",
			      json_string_value(json_object_get(x, "message")) ?: "");
	gw_err_set(err, code, "%s", b.data);
	gw_buf_fini(&b);
	return code;
}

int gw_client_watch(struct gw_client *c, const char *path, gw_client_event_fn fn, void *data,
		    struct gw_err **err)
{
	struct sink sink = {0};
	gw_buf_init(&sink.buf);
	sink.fn = fn;
	sink.data = data;
	long status = 0;
	int r = perform(c, "GET", path, NULL, NULL, 0, &sink, &status, err);
	if (r == 0 && status != 200) {
		json_error_t je;
		_cleanup_json_ json_t *reply = sink.buf.len ? json_loadb(sink.buf.data, sink.buf.len, 0, &je) : NULL;
		r = gw_client_error(status, reply, err);
	} else if (r == 0 && sink.bad_line) {
		r = gw_err_set(err, -EIO, "watch %s: a line of the stream was not JSON", path);
	}
	gw_buf_fini(&sink.buf);
	return r;
}

int gw_client_call(struct gw_client *c, const char *method, const char *path, const char *content_type,
		   const json_t *body, json_t **reply, struct gw_err **err)
{
	long status = 0;
	json_t *answer = NULL;
	if (reply)
		*reply = NULL;
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
