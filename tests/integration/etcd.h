/* SPDX-License-Identifier: Apache-2.0 */
/* Real etcd processes for the store tests: loopback only, ports the test
 * picks, data in a mkdtemp directory; killed with the test (SIGTERM, then
 * SIGKILL; PR_SET_PDEATHSIG if the test itself dies) and their directories
 * removed at exit. */
#ifndef GODWIT_TEST_ETCD_H
#define GODWIT_TEST_ETCD_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "godwit/store.h"
#include "integration.h"

#define TEST_ETCD_MAX 8

struct test_etcd {
	pid_t pid;
	char *dir;
	char *name;
	int client_port, peer_port;
};

static struct test_etcd test_etcds[TEST_ETCD_MAX];
static size_t test_etcd_count;

/* $GODWIT_ETCD, else etcd on PATH (Debian's etcd-server). */
static inline const char *test_etcd_binary(void)
{
	const char *env = getenv("GODWIT_ETCD");
	if (env && *env)
		return env;
	return access("/usr/bin/etcd", X_OK) == 0 ? "/usr/bin/etcd" : NULL;
}

/* A free loopback TCP port (the kernel's choice). Two picks in a row are
 * distinct while the first socket is open, so callers keep them open. */
static inline int test_free_port(int *sock)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	*sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*sock < 0 || bind(*sock, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(*sock, (struct sockaddr *)&a, &len) < 0)
		return -1;
	return ntohs(a.sin_port);
}

static int test_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline void test_etcd_stop(struct test_etcd *e)
{
	if (e->pid <= 0)
		return;
	kill(e->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
			e->pid = 0;
			return;
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	kill(e->pid, SIGKILL);
	waitpid(e->pid, NULL, 0);
	e->pid = 0;
}

static void test_etcd_cleanup_all(void)
{
	for (size_t i = 0; i < test_etcd_count; i++) {
		test_etcd_stop(&test_etcds[i]);
		if (test_etcds[i].dir)
			nftw(test_etcds[i].dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(test_etcds[i].dir);
		free(test_etcds[i].name);
	}
	test_etcd_count = 0;
}

/* Starts n members of one cluster (n = 1: a single etcd); the client URLs,
 * comma-separated, in *endpoints (caller frees). 0 or -1 (message on
 * stderr). */
static inline int test_etcd_start_cluster(size_t n, char **endpoints)
{
	static bool registered;
	if (!registered) {
		atexit(test_etcd_cleanup_all);
		registered = true;
	}
	if (test_etcd_count + n > TEST_ETCD_MAX)
		return -1;
	const char *bin = test_etcd_binary();
	const char *tmp = getenv("TMPDIR");
	struct test_etcd *m = &test_etcds[test_etcd_count];
	int socks[2 * TEST_ETCD_MAX];
	struct gw_buf cluster, clients;
	gw_buf_init(&cluster);
	gw_buf_init(&clients);
	static int cluster_no;
	cluster_no++;
	for (size_t i = 0; i < n; i++) {
		m[i].client_port = test_free_port(&socks[2 * i]);
		m[i].peer_port = test_free_port(&socks[2 * i + 1]);
		m[i].name = gw_asprintf("c%d-m%zu", cluster_no, i);
		m[i].dir = gw_asprintf("%s/godwit-etcd-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (m[i].client_port < 0 || m[i].peer_port < 0 || !mkdtemp(m[i].dir)) {
			fprintf(stderr, "etcd: no port or directory\n");
			return -1;
		}
		gw_buf_printf(&cluster, "%s%s=http://127.0.0.1:%d", i ? "," : "", m[i].name,
			      m[i].peer_port);
		gw_buf_printf(&clients, "%shttp://127.0.0.1:%d", i ? "," : "", m[i].client_port);
	}
	for (size_t i = 0; i < 2 * n; i++)
		close(socks[i]);
	test_etcd_count += n;
	for (size_t i = 0; i < n; i++) {
		char client[64], peer[64];
		snprintf(client, sizeof(client), "http://127.0.0.1:%d", m[i].client_port);
		snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", m[i].peer_port);
		_cleanup_free_ char *data = gw_asprintf("%s/data", m[i].dir);
		_cleanup_free_ char *log = gw_asprintf("%s/etcd.log", m[i].dir);
		_cleanup_free_ char *token = gw_asprintf("godwit-test-%d-%d", (int)getpid(), cluster_no);
		pid_t pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execl(bin, bin, "--name", m[i].name, "--data-dir", data, "--listen-client-urls",
			      client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
			      "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster.data,
			      "--initial-cluster-state", "new", "--initial-cluster-token", token,
			      "--heartbeat-interval", "50", "--election-timeout", "500",
			      "--logger", "zap", "--log-level", "warn", (char *)NULL);
			_exit(127);
		}
		m[i].pid = pid;
	}
	gw_buf_fini(&cluster);
	/* Ready when the store can open it (it asks for the revision). */
	uint64_t deadline = gw_now_ns() + 20ull * 1000000000ull;
	for (;;) {
		struct gw_store *s = NULL;
		struct gw_err *err = NULL;
		_cleanup_free_ char *url = gw_asprintf("etcd:%s", clients.data);
		struct gw_store_options o = {.request_timeout_ms = 1000, .connect_timeout_ms = 200};
		if (gw_store_open(url, &o, &s, &err) == 0) {
			gw_store_close(s);
			break;
		}
		if (gw_now_ns() > deadline) {
			fprintf(stderr, "etcd did not come up in 20 s: %s (logs in %s)\n",
				gw_err_msg(err), m[0].dir);
			gw_err_free(err);
			gw_buf_fini(&clients);
			return -1;
		}
		gw_err_free(err);
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	*endpoints = gw_buf_steal(&clients);
	return 0;
}

#endif
