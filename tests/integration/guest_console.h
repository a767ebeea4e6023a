/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the guest tests: a guest's serial console as a unix socket
 * (QEMU `-chardev socket,server=on,wait=off`), read line by line with a
 * bound on every wait, and everything read kept for failure messages. */
#ifndef GODWIT_TEST_GUEST_CONSOLE_H
#define GODWIT_TEST_GUEST_CONSOLE_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "godwit/util.h"

struct test_console {
	int fd;
	struct gw_buf log;  /* all output so far */
	size_t line_start;  /* first byte of log not yet returned as a line */
	char *line;         /* the last line returned (owned) */
};

/* Connects to the console socket QEMU listens on. */
static inline int test_console_open(struct test_console *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	gw_buf_init(&c->log);
	c->fd = -1;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -errno;
	return 0;
}

static inline void test_console_close(struct test_console *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	gw_buf_fini(&c->log);
	free(c->line);
	c->line = NULL;
}

/* The next complete line (without CR/LF), waiting at most until
 * deadline_ns (gw_now_ns clock). NULL on timeout or end of output.
 * Borrowed until the next call. */
static inline const char *test_console_next_line(struct test_console *c, uint64_t deadline_ns)
{
	for (;;) {
		const char *start = c->log.data ? c->log.data + c->line_start : NULL;
		const char *nl = start ? memchr(start, '\n', c->log.len - c->line_start) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - start);
			while (n && (start[n - 1] == '\r'))
				n--;
			free(c->line);
			c->line = gw_strndup(start, n);
			c->line_start = (size_t)(nl - c->log.data) + 1;
			return c->line;
		}
		uint64_t now = gw_now_ns();
		if (now >= deadline_ns || c->fd < 0)
			return NULL;
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int ms = (int)((deadline_ns - now) / 1000000) + 1;
		int r = poll(&p, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		char buf[4096];
		ssize_t got = read(c->fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			close(c->fd);
			c->fd = -1;
			continue;
		}
		gw_buf_add(&c->log, buf, (size_t)got);
	}
}

/* The next line containing `needle`, skipping others, within timeout_ms. */
static inline const char *test_console_wait(struct test_console *c, const char *needle,
					    int timeout_ms)
{
	uint64_t deadline = gw_now_ns() + (uint64_t)timeout_ms * 1000000u;
	const char *line;
	while ((line = test_console_next_line(c, deadline)))
		if (strstr(line, needle))
			return line;
	return NULL;
}

static inline int test_console_send(struct test_console *c, const char *bytes)
{
	size_t n = strlen(bytes);
	return write(c->fd, bytes, n) == (ssize_t)n ? 0 : -EIO;
}

/* Everything the guest printed, for a failure message. */
static inline const char *test_console_output(const struct test_console *c)
{
	return c->log.data ? c->log.data : "(nothing)";
}

#endif
