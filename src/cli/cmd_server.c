/* SPDX-License-Identifier: Apache-2.0 */
/* godwit server: the REST API over the store (and the controllers once
 * they are built in). Logs to stderr, one timestamped line per request. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "godwit/server.h"
#include "godwit/store.h"
#if __has_include("godwit/ctl.h")
#include "godwit/ctl.h"
#define GODWIT_HAVE_CTL 1
#endif

static const char usage[] =
	"usage: godwit server --data-dir DIR [--listen ADDR:PORT] [--store sqlite|etcd] [--etcd URL,...]\n"
	"                     [--tls-cert FILE --tls-key FILE] [--max-body BYTES] [--no-controllers]\n"
	"                     [--rules godwit|kubevirt] [--node-heartbeat-timeout S]\n"
	"\n"
	"  --data-dir DIR     state: DIR/token (created at first start, mode 0600), DIR/godwit.db\n"
	"  --listen A:P       address and port (default 127.0.0.1:8443; port 0 = any, printed)\n"
	"  --store KIND       sqlite (default: DIR/godwit.db) or etcd (needs --etcd)\n"
	"  --etcd URLS        comma-separated etcd client URLs\n"
	"  --etcd-prefix P    key prefix in etcd (default /godwit)\n"
	"  --tls-cert/--tls-key  serve HTTPS with this PEM certificate and key\n"
	"  --max-body BYTES   largest request body (default 4194304)\n"
	"  --history-events N SQLite: watch history kept (default 100000); older resourceVersions get 410\n"
	"  --rules R          the controllers' rule set: godwit (default) or kubevirt (e.g. container\n"
	"                     disks migrate by block migration instead of blocking it)\n"
	"  --node-heartbeat-timeout S  a node whose agent sent no heartbeat for S seconds (default\n"
	"                     300) becomes unschedulable, and a migration it is the source of fails\n"
	"                     unless post-copy may have started\n"
	"\n"
	"Clients: GODWIT_SERVER=http://ADDR:PORT GODWIT_TOKEN=$(cat DIR/token) godwit get nodes\n";

static void log_line(void *data, const char *fmt, va_list ap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[40];
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_printf(&b, "%s.%03ldZ ", stamp, ts.tv_nsec / 1000000);
	gw_buf_vprintf(&b, fmt, ap);
	if (b.len && b.data[b.len - 1] != '\n')
		gw_buf_puts(&b, "\n");
	/* one write per line, so lines of concurrent requests do not mix */
	fputs(b.data, stderr);
	gw_buf_fini(&b);
}

static void logf_(const char *fmt, ...) GW_PRINTF(1, 2);
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(NULL, fmt, ap);
	va_end(ap);
}

#ifdef GODWIT_HAVE_CTL
static void ctl_log(void *ctx, enum gw_ctl_log_level level, const char *msg)
{
	if (level == GW_CTL_LOG_DEBUG)
		return;
	static const char *const names[] = {"debug", "info", "warn", "error"};
	logf_("ctl %s: %s", names[level <= GW_CTL_LOG_ERROR ? level : GW_CTL_LOG_ERROR], msg);
}
#endif

static int split_listen(const char *listen, char **addr, int *port)
{
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return -1;
	uint64_t p;
	if (!gw_str_to_u64(colon + 1, &p) || p > 65535)
		return -1;
	const char *a = listen;
	size_t n = (size_t)(colon - listen);
	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		a++;
		n -= 2;
	}
	*addr = gw_strndup(a, n);
	*port = (int)p;
	return 0;
}

int gw_cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data-dir", required_argument, NULL, 'd'}, {"listen", required_argument, NULL, 'l'},
		{"store", required_argument, NULL, 's'},    {"etcd", required_argument, NULL, 'e'},
		{"etcd-prefix", required_argument, NULL, 'P'},
		{"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
		{"max-body", required_argument, NULL, 'm'}, {"no-controllers", no_argument, NULL, 'n'},
		{"history-events", required_argument, NULL, 'H'}, {"rules", required_argument, NULL, 'r'},
		{"node-heartbeat-timeout", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	const char *data_dir = NULL, *listen = "127.0.0.1:8443", *store_kind = "sqlite", *etcd = NULL;
	const char *etcd_prefix = NULL, *cert_path = NULL, *key_path = NULL, *rules = NULL;
	uint64_t max_body = 0, history = 0, heartbeat_timeout = 0;
	bool controllers = true;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data_dir = optarg; break;
		case 'l': listen = optarg; break;
		case 's': store_kind = optarg; break;
		case 'e': etcd = optarg; break;
		case 'P': etcd_prefix = optarg; break;
		case 'c': cert_path = optarg; break;
		case 'k': key_path = optarg; break;
		case 'n': controllers = false; break;
		case 'r':
			if (strcmp(optarg, "godwit") != 0 && strcmp(optarg, "kubevirt") != 0)
				return gw_cli_usage(usage, "--rules \"%s\": expected godwit or kubevirt", optarg);
			rules = optarg;
			break;
		case 'm':
			if (!gw_str_to_u64(optarg, &max_body) || max_body == 0 || max_body > (1u << 30))
				return gw_cli_usage(usage, "--max-body \"%s\": 1..1073741824 bytes", optarg);
			break;
		case 'H':
			if (!gw_str_to_u64(optarg, &history) || history == 0 || history > INT64_MAX)
				return gw_cli_usage(usage, "--history-events \"%s\": a positive number", optarg);
			break;
		case 'T':
			if (!gw_str_to_u64(optarg, &heartbeat_timeout) || heartbeat_timeout == 0 ||
			    heartbeat_timeout > 86400)
				return gw_cli_usage(usage, "--node-heartbeat-timeout \"%s\": seconds from 1 to 86400",
						    optarg);
			break;
		case 'h': fputs(usage, stdout); return GW_EXIT_OK;
		default: return gw_cli_usage(usage, "server: bad option");
		}
	}
	if (optind < argc)
		return gw_cli_usage(usage, "server: unexpected argument \"%s\"", argv[optind]);
	if (!data_dir)
		return gw_cli_usage(usage, "server: --data-dir is required");
	if (strcmp(store_kind, "sqlite") && strcmp(store_kind, "etcd"))
		return gw_cli_usage(usage, "server: --store \"%s\": sqlite or etcd", store_kind);
	if (!strcmp(store_kind, "etcd") && !etcd)
		return gw_cli_usage(usage, "server: --store etcd needs --etcd URL,...");
	if (!cert_path != !key_path)
		return gw_cli_usage(usage, "server: --tls-cert and --tls-key go together");
	_cleanup_free_ char *addr = NULL;
	int port = 0;
	if (split_listen(listen, &addr, &port) < 0)
		return gw_cli_usage(usage, "server: --listen \"%s\": ADDR:PORT expected", listen);
	(void)controllers;
	(void)rules;
	(void)heartbeat_timeout;

	struct gw_err *err = NULL;
	if (mkdir(data_dir, 0700) < 0 && errno != EEXIST) {
		gw_err_set(&err, -errno, "%s: %s", data_dir, strerror(errno));
		return gw_cli_fail(err);
	}
	_cleanup_free_ char *token = NULL;
	if (gw_server_token_init(data_dir, &token, &err) < 0)
		return gw_cli_fail(err);
	_cleanup_free_ char *cert = NULL, *key = NULL;
	size_t len;
	if (cert_path && (gw_file_read(cert_path, 1 << 20, &cert, &len, &err) < 0 ||
			  gw_file_read(key_path, 1 << 20, &key, &len, &err) < 0))
		return gw_cli_fail(err);

	_cleanup_free_ char *url = !strcmp(store_kind, "etcd") ? gw_asprintf("etcd:%s", etcd)
							       : gw_asprintf("sqlite:%s/godwit.db", data_dir);
	struct gw_store_options sopts = {.etcd_prefix = etcd_prefix, .history_events = (int64_t)history};
	struct gw_store *store = NULL;
	if (gw_store_open(url, &sopts, &store, &err) < 0)
		return gw_cli_fail(err);

	/* Signals are taken by sigwait in this thread: block them before any
	 * thread starts, so every thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct gw_server_options o = {
		.listen_addr = addr,
		.port = port,
		.token = token,
		.max_body_bytes = (size_t)max_body,
		.tls_cert_pem = cert,
		.tls_key_pem = key,
		.log = log_line,
		.rules = rules,
	};
	struct gw_server *server = NULL;
	if (gw_server_start(store, &o, &server, &err) < 0) {
		gw_store_close(store);
		return gw_cli_fail(err);
	}
#ifdef GODWIT_HAVE_CTL
	struct gw_ctl *ctl = NULL;
	if (controllers) {
		struct gw_ctl_options copts = {.log = ctl_log, .rules = rules,
					       .node_heartbeat_timeout_s = (int64_t)heartbeat_timeout};
		if (gw_ctl_start(store, &copts, &ctl, &err) < 0) {
			gw_server_stop(server);
			gw_store_close(store);
			return gw_cli_fail(err);
		}
	}
#endif
	logf_("godwit server %s: listening on %s://%s:%d, store %s (%s), token in %s/token", GODWIT_VERSION,
	      cert ? "https" : "http", addr, gw_server_port(server), gw_store_backend(store), url, data_dir);
	/* The line tests and scripts wait for (port 0 picks a free port). */
	printf("listening %s://%s:%d\n", cert ? "https" : "http", addr, gw_server_port(server));
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	logf_("signal %d: stopping", sig);
#ifdef GODWIT_HAVE_CTL
	gw_ctl_stop(ctl);
#endif
	gw_server_stop(server);
	gw_store_close(store);
	logf_("stopped");
	return GW_EXIT_OK;
}
