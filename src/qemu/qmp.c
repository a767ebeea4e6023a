/* SPDX-License-Identifier: Apache-2.0 */
/* A QMP client: starts QEMU with its monitor connected to us, then speaks
 * QMP (one JSON object per line) with a bounded wait on every read.
 *
 * We listen on a Unix socket in a private mkdtemp directory and QEMU
 * connects to it as a client (`-qmp unix:PATH`): the socket exists before
 * QEMU starts, so there is no race waiting for QEMU to create it, and a
 * QEMU that dies during start-up is noticed while we wait for accept. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "godwit/qemu.h"

/* How long close waits for QEMU to act on `quit` before SIGKILL. */
#define QMP_QUIT_GRACE_MS 3000
/* How much of QEMU's stderr an error quotes. */
#define QMP_STDERR_TAIL_BYTES 1500

struct gw_qmp {
	pid_t pid;        /* -1 once reaped (or seen gone) */
	bool child;       /* our child (spawned): reaped with waitpid */
	int status;       /* wait status once reaped */
	int fd;           /* the QMP connection */
	char *program;    /* argv[0], for messages */
	char *dir;        /* private directory: socket and QEMU's stderr */
	char *log_path;
	int timeout_ms;
	char *version;
	char *in;         /* bytes read but not yet consumed */
	size_t in_len, in_cap;
	json_t *events;   /* queued events, oldest first */
	json_int_t next_id;
};

static int64_t deadline_after(int timeout_ms)
{
	return (int64_t)(gw_now_ns() / 1000000u) + timeout_ms;
}

static int ms_left(int64_t deadline_ms)
{
	int64_t left = deadline_ms - (int64_t)(gw_now_ns() / 1000000u);
	if (left <= 0)
		return 0;
	return left > 1000000 ? 1000000 : (int)left;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reaps the child if it has exited; true when it is gone. A QEMU that is
 * not our child (a VM we attached to) is gone once it no longer exists or
 * is a zombie waiting for its own parent. */
static bool child_reaped(struct gw_qmp *q)
{
	if (q->pid <= 0)
		return true;
	if (!q->child) {
		if (gw_qemu_process_alive(q->pid))
			return false;
		q->status = -1;
		q->pid = -1;
		return true;
	}
	int status;
	pid_t r;
	do
		r = waitpid(q->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == q->pid || (r < 0 && errno == ECHILD)) {
		q->status = r == q->pid ? status : 0;
		q->pid = -1;
		return true;
	}
	return false;
}

static void kill_and_reap(struct gw_qmp *q)
{
	if (q->pid <= 0)
		return;
	kill(q->pid, SIGKILL);
	if (!q->child) {
		/* Not ours to reap: wait (bounded) until it is gone. */
		int64_t deadline = deadline_after(QMP_QUIT_GRACE_MS);
		while (!child_reaped(q) && ms_left(deadline) > 0)
			sleep_ms(5);
		q->pid = -1;
		return;
	}
	int status;
	pid_t r;
	do
		r = waitpid(q->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	q->status = r == q->pid ? status : 0;
	q->pid = -1;
}

/* "exited with status 1", "killed by signal 9", or "" while running. */
static char *exit_description(const struct gw_qmp *q)
{
	if (q->pid > 0 || q->status == -1)
		return gw_strdup("");
	if (WIFEXITED(q->status))
		return gw_asprintf(" (exited with status %d)", WEXITSTATUS(q->status));
	if (WIFSIGNALED(q->status))
		return gw_asprintf(" (killed by signal %d)", WTERMSIG(q->status));
	return gw_strdup("");
}

/* The end of QEMU's stderr, for messages: QEMU says there why it failed. */
static char *stderr_tail(const struct gw_qmp *q)
{
	if (!q->log_path)
		return gw_strdup("");
	_cleanup_close_ int fd = open(q->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gw_strdup("");
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0)
		return gw_strdup("");
	off_t from = st.st_size > QMP_STDERR_TAIL_BYTES ? st.st_size - QMP_STDERR_TAIL_BYTES : 0;
	char buf[QMP_STDERR_TAIL_BYTES + 1];
	ssize_t n = pread(fd, buf, QMP_STDERR_TAIL_BYTES, from);
	if (n <= 0)
		return gw_strdup("");
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	return n ? gw_asprintf(": QEMU said: %s%s", from ? "..." : "", buf) : gw_strdup("");
}

/* An error about QEMU having gone away, with its exit status and stderr. */
static int qemu_gone(struct gw_qmp *q, int code, const char *what, struct gw_err **err)
{
	/* Give a dying QEMU a moment so the message can say how it ended. */
	for (int i = 0; i < 50 && !child_reaped(q); i++)
		sleep_ms(10);
	_cleanup_free_ char *how = exit_description(q);
	_cleanup_free_ char *said = stderr_tail(q);
	return gw_err_set(err, code, "%s: %s%s%s", q->program, what, how, said);
}

static int send_all(struct gw_qmp *q, const char *data, size_t len, int64_t deadline,
		    struct gw_err **err)
{
	while (len) {
		ssize_t n = send(q->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = q->fd, .events = POLLOUT};
			int left = ms_left(deadline);
			if (left == 0)
				return gw_err_set(err, -ETIMEDOUT, "%s: QMP: could not send within %d ms",
						  q->program, q->timeout_ms);
			if (poll(&p, 1, left) < 0 && errno != EINTR)
				return gw_err_set(err, -errno, "%s: QMP: poll: %s", q->program, strerror(errno));
			continue;
		}
		return qemu_gone(q, -ECONNRESET, "QMP connection lost while sending", err);
	}
	return 0;
}

/* Jansson refuses integers beyond int64, but QEMU sends uint64 properties
 * (lbr-fmt is 0xffffffffffffffc0 in every x86 expansion). Integer
 * literals of 19 or more digits are made reals ("...0.0") so the message
 * still parses; such values are masks and sentinels, never counts. */
static json_t *parse_widening_big_integers(const char *text, size_t len, json_error_t *jerr)
{
	struct gw_buf b;
	gw_buf_init(&b);
	bool in_string = false;
	for (size_t i = 0; i < len;) {
		char c = text[i];
		if (in_string) {
			size_t n = c == '\\' && i + 1 < len ? 2 : 1;
			if (c == '"')
				in_string = false;
			gw_buf_add(&b, text + i, n);
			i += n;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t start = i, digits = 0;
			bool integer = true;
			if (c == '-')
				i++;
			while (i < len && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.' ||
					   text[i] == 'e' || text[i] == 'E' || text[i] == '+' || text[i] == '-')) {
				if (text[i] >= '0' && text[i] <= '9')
					digits++;
				else
					integer = false;
				i++;
			}
			gw_buf_add(&b, text + start, i - start);
			if (integer && digits >= 19)
				gw_buf_puts(&b, ".0");
			continue;
		}
		gw_buf_add(&b, &c, 1);
		i++;
	}
	json_t *v = b.data ? json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, jerr) : NULL;
	gw_buf_fini(&b);
	return v;
}

/* Reads one message (a JSON object on one line) before the deadline. */
static int read_message(struct gw_qmp *q, int64_t deadline, json_t **msg, struct gw_err **err)
{
	*msg = NULL;
	for (;;) {
		char *nl = q->in_len ? memchr(q->in, '\n', q->in_len) : NULL;
		if (nl) {
			size_t line_len = (size_t)(nl - q->in);
			json_error_t jerr;
			json_t *v = NULL;
			bool blank = true;
			for (size_t i = 0; i < line_len && blank; i++)
				blank = q->in[i] == ' ' || q->in[i] == '\r' || q->in[i] == '\t';
			if (!blank)
				v = json_loadb(q->in, line_len, JSON_REJECT_DUPLICATES, &jerr);
			if (!blank && !v && strstr(jerr.text, "too big integer"))
				v = parse_widening_big_integers(q->in, line_len, &jerr);
			q->in_len -= line_len + 1;
			memmove(q->in, nl + 1, q->in_len);
			if (blank)
				continue;
			if (!v)
				return gw_err_set(err, -EPROTO, "%s: QMP: malformed message: %s", q->program,
						  jerr.text);
			if (!json_is_object(v)) {
				json_decref(v);
				return gw_err_set(err, -EPROTO, "%s: QMP: message is not a JSON object",
						  q->program);
			}
			*msg = v;
			return 0;
		}
		if (q->in_len >= GW_QMP_MAX_MESSAGE_BYTES)
			return gw_err_set(err, -EMSGSIZE, "%s: QMP: message longer than %u bytes", q->program,
					  GW_QMP_MAX_MESSAGE_BYTES);
		if (q->in_cap - q->in_len < 4096) {
			q->in_cap = q->in_cap ? q->in_cap * 2 : 65536;
			q->in = gw_realloc(q->in, q->in_cap);
		}
		int left = ms_left(deadline);
		if (left == 0)
			return gw_err_set(err, -ETIMEDOUT, "%s: QMP: no answer from QEMU within %d ms",
					  q->program, q->timeout_ms);
		struct pollfd p = {.fd = q->fd, .events = POLLIN};
		int r = poll(&p, 1, left);
		if (r < 0 && errno != EINTR)
			return gw_err_set(err, -errno, "%s: QMP: poll: %s", q->program, strerror(errno));
		if (r <= 0)
			continue;
		size_t room = q->in_cap - q->in_len;
		if (room > GW_QMP_MAX_MESSAGE_BYTES + 1 - q->in_len)
			room = GW_QMP_MAX_MESSAGE_BYTES + 1 - q->in_len;
		ssize_t n = recv(q->fd, q->in + q->in_len, room, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0)
			return qemu_gone(q, -ECONNRESET, "QMP connection closed by QEMU", err);
		q->in_len += (size_t)n;
	}
}

static int read_greeting(struct gw_qmp *q, struct gw_err **err)
{
	_cleanup_json_ json_t *msg = NULL;
	int64_t deadline = deadline_after(q->timeout_ms);
	/* The greeting comes first, but a client attaching right after
	 * another left may first get what QEMU still had queued for that one
	 * (seen once during a migration): events and replies before the
	 * greeting are skipped rather than taken for a bad greeting. */
	for (int skipped = 0;; skipped++) {
		json_decref(msg);
		msg = NULL;
		int r = read_message(q, deadline, &msg, err);
		if (r < 0)
			return gw_err_wrap(err, "waiting for the QMP greeting");
		bool stale = json_object_get(msg, "event") || json_object_get(msg, "return") ||
			     json_object_get(msg, "error");
		if (!stale || skipped >= 16)
			break;
	}
	json_t *ver = json_object_get(json_object_get(json_object_get(msg, "QMP"), "version"), "qemu");
	json_t *major = json_object_get(ver, "major"), *minor = json_object_get(ver, "minor"),
	       *micro = json_object_get(ver, "micro");
	if (!json_is_integer(major) || !json_is_integer(minor) || !json_is_integer(micro)) {
		_cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
		return gw_err_set(err, -EPROTO, "%s: QMP greeting: QMP.version.qemu: expected major, "
				  "minor and micro numbers, got %.200s", q->program, text ? text : "?");
	}
	q->version = gw_asprintf("%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT,
				 json_integer_value(major), json_integer_value(minor),
				 json_integer_value(micro));
	return 0;
}

/* Child side of fork: only async-signal-safe calls until exec. */
static void exec_child(char *const *argv, pid_t parent, int devnull, int log_fd, int errpipe)
{
	/* QEMU must not outlive us, even if we are killed before close. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	execvp(argv[0], argv);
	int e = errno;
	if (write(errpipe, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

static int start_process(struct gw_qmp *q, const char *const *argv, const char *sock_path,
			 struct gw_err **err)
{
	size_t argc = 0;
	while (argv[argc])
		argc++;
	char **full = gw_calloc(argc + 3, sizeof(*full));
	for (size_t i = 0; i < argc; i++)
		full[i] = (char *)argv[i];
	full[argc] = (char *)"-qmp";
	full[argc + 1] = gw_asprintf("unix:%s", sock_path);

	int r = 0;
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	_cleanup_close_ int log_fd = open(q->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int errpipe[2] = {-1, -1};
	if (devnull < 0 || log_fd < 0) {
		r = gw_err_set(err, -errno, "%s: %s", devnull < 0 ? "/dev/null" : q->log_path, strerror(errno));
		goto out;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		r = gw_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		r = gw_err_set(err, -errno, "start %s: fork: %s", q->program, strerror(errno));
		goto out;
	}
	if (pid == 0)
		exec_child(full, parent, devnull, log_fd, errpipe[1]);
	q->pid = pid;
	close(errpipe[1]);
	errpipe[1] = -1;
	/* The pipe closes on a successful exec; otherwise it carries errno. */
	int child_errno = 0;
	ssize_t n;
	do
		n = read(errpipe[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(child_errno)) {
		kill_and_reap(q);
		r = gw_err_set(err, -child_errno, "start %s: %s", q->program, strerror(child_errno));
	}
out:
	if (errpipe[0] >= 0)
		close(errpipe[0]);
	if (errpipe[1] >= 0)
		close(errpipe[1]);
	free(full[argc + 1]);
	free(full);
	return r;
}

static int accept_qemu(struct gw_qmp *q, int listen_fd, struct gw_err **err)
{
	int64_t deadline = deadline_after(q->timeout_ms);
	for (;;) {
		/* Short slices: a QEMU that exits on a bad option never connects. */
		struct pollfd p = {.fd = listen_fd, .events = POLLIN};
		int left = ms_left(deadline);
		int r = poll(&p, 1, left < 100 ? left : 100);
		if (r < 0 && errno != EINTR)
			return gw_err_set(err, -errno, "%s: poll: %s", q->program, strerror(errno));
		if (r > 0) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				q->fd = fd;
				return 0;
			}
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				return gw_err_set(err, -errno, "%s: accept: %s", q->program, strerror(errno));
		}
		if (child_reaped(q))
			return qemu_gone(q, -ECHILD, "QEMU ended before connecting to QMP", err);
		if (ms_left(deadline) == 0)
			return gw_err_set(err, -ETIMEDOUT, "%s: QEMU did not connect to QMP within %d ms",
					  q->program, q->timeout_ms);
	}
}

static void remove_private_dir(struct gw_qmp *q)
{
	if (!q->dir || !q->child)
		return;
	_cleanup_free_ char *sock = gw_asprintf("%s/qmp.sock", q->dir);
	unlink(sock);
	if (q->log_path)
		unlink(q->log_path);
	rmdir(q->dir);
}

static void qmp_free(struct gw_qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	remove_private_dir(q);
	free(q->dir);
	free(q->log_path);
	free(q->program);
	free(q->version);
	free(q->in);
	json_decref(q->events);
	free(q);
}

int gw_qmp_spawn(const char *const *argv, int timeout_ms, struct gw_qmp **out, struct gw_err **err)
{
	*out = NULL;
	if (!argv || !argv[0] || !argv[0][0])
		return gw_err_set(err, -EINVAL, "start QEMU: no program given");
	struct gw_qmp *q = gw_calloc(1, sizeof(*q));
	q->pid = -1;
	q->child = true;
	q->fd = -1;
	q->program = gw_strdup(argv[0]);
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : GW_QMP_DEFAULT_TIMEOUT_MS;
	q->events = json_array();
	q->next_id = 1;

	int r;
	_cleanup_close_ int listen_fd = -1;
	_cleanup_free_ char *sock_path = NULL;
	_cleanup_json_ json_t *caps = NULL;
	const char *tmp = getenv("TMPDIR");
	char *dir = gw_asprintf("%s/godwit-qmp-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		r = gw_err_set(err, -errno, "%s: mkdtemp: %s", dir, strerror(errno));
		free(dir);
		goto fail;
	}
	q->dir = dir;
	q->log_path = gw_asprintf("%s/qemu.stderr", dir);
	sock_path = gw_asprintf("%s/qmp.sock", dir);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(addr.sun_path)) {
		r = gw_err_set(err, -ENAMETOOLONG, "%s: socket path too long for a Unix socket (TMPDIR)",
			       sock_path);
		goto fail;
	}
	memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listen_fd, 1) < 0) {
		r = gw_err_set(err, -errno, "%s: %s", sock_path, strerror(errno));
		goto fail;
	}
	r = start_process(q, argv, sock_path, err);
	if (r < 0)
		goto fail;
	r = accept_qemu(q, listen_fd, err);
	if (r < 0)
		goto fail;
	/* Nobody else may connect; the path is no longer needed. */
	unlink(sock_path);
	r = read_greeting(q, err);
	if (r < 0)
		goto fail;
	r = gw_qmp_execute(q, "qmp_capabilities", NULL, &caps, err);
	if (r < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	kill_and_reap(q);
	qmp_free(q);
	return r;
}

/* Queues an event; a long-lived connection whose events nobody waits for
 * (a VM's STOP/RESUME over days) keeps only the newest ones. */
static void queue_event(struct gw_qmp *q, json_t *msg)
{
	while (json_array_size(q->events) >= GW_QMP_MAX_QUEUED_EVENTS)
		json_array_remove(q->events, 0);
	json_array_append_new(q->events, msg);
}

bool gw_qemu_process_alive(pid_t pid)
{
	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	/* A zombie still answers kill(0); its state in /proc says it is gone. */
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces or parentheses. */
	char *close_paren = strrchr(buf, ')');
	if (!close_paren || close_paren[1] != ' ')
		return true;
	char state = close_paren[2];
	return state != 'Z' && state != 'X';
}

int gw_qmp_connect(const char *sock_path, pid_t pid, const char *log_path, int timeout_ms,
		   struct gw_qmp **out, struct gw_err **err)
{
	*out = NULL;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (!sock_path || !*sock_path)
		return gw_err_set(err, -EINVAL, "QMP connect: no socket path given");
	if (strlen(sock_path) >= sizeof(addr.sun_path))
		return gw_err_set(err, -ENAMETOOLONG, "%s: path too long for a Unix socket", sock_path);
	memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
	struct gw_qmp *q = gw_calloc(1, sizeof(*q));
	q->pid = pid > 0 ? pid : -1;
	q->child = false;
	q->fd = -1;
	q->program = pid > 0 ? gw_asprintf("QEMU (pid %d)", (int)pid) : gw_strdup("QEMU");
	q->log_path = log_path ? gw_strdup(log_path) : NULL;
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : GW_QMP_DEFAULT_TIMEOUT_MS;
	q->events = json_array();
	q->next_id = 1;

	int r;
	_cleanup_json_ json_t *caps = NULL;
	int64_t deadline = deadline_after(q->timeout_ms);
	/* A QEMU just started creates its socket a little later: retry while
	 * it lives, within the timeout. */
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = gw_err_set(err, -errno, "socket: %s", strerror(errno));
			goto fail;
		}
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			q->fd = fd;
			break;
		}
		int e = errno;
		close(fd);
		if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN && e != EINTR) {
			r = gw_err_set(err, -e, "%s: connect: %s", sock_path, strerror(e));
			goto fail;
		}
		if (pid > 0 && child_reaped(q)) {
			r = qemu_gone(q, -ECHILD, "QEMU ended before its QMP socket accepted a connection",
				      err);
			goto fail;
		}
		if (ms_left(deadline) == 0) {
			r = gw_err_set(err, -ETIMEDOUT, "%s: connect: %s (for %d ms)", sock_path,
				       strerror(e), q->timeout_ms);
			goto fail;
		}
		sleep_ms(20);
	}
	r = read_greeting(q, err);
	if (r < 0)
		goto fail;
	r = gw_qmp_execute(q, "qmp_capabilities", NULL, &caps, err);
	if (r < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	qmp_free(q);
	gw_err_wrap(err, "QMP %s", sock_path);
	return r;
}

void gw_qmp_disconnect(struct gw_qmp *q)
{
	if (!q)
		return;
	if (q->child)
		kill_and_reap(q); /* a spawned QEMU never outlives its client */
	qmp_free(q);
}

bool gw_qmp_alive(struct gw_qmp *q)
{
	return q && !child_reaped(q);
}

int gw_qmp_execute(struct gw_qmp *q, const char *command, json_t *args, json_t **reply,
		   struct gw_err **err)
{
	*reply = NULL;
	if (q->fd < 0)
		return gw_err_set(err, -ENOTCONN, "%s: QMP %s: not connected", q->program, command);
	json_int_t id = q->next_id++;
	json_t *req = json_pack("{s:s, s:I}", "execute", command, "id", id);
	if (args)
		json_object_set(req, "arguments", args);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return gw_err_set(err, -EINVAL, "QMP %s: arguments cannot be encoded", command);
	struct gw_buf line;
	gw_buf_init(&line);
	gw_buf_puts(&line, text);
	gw_buf_puts(&line, "\n");
	free(text);
	int64_t deadline = deadline_after(q->timeout_ms);
	int r = send_all(q, line.data, line.len, deadline, err);
	gw_buf_fini(&line);
	if (r < 0)
		return gw_err_wrap(err, "QMP %s", command);
	for (;;) {
		json_t *msg;
		r = read_message(q, deadline, &msg, err);
		if (r < 0)
			return gw_err_wrap(err, "QMP %s", command);
		if (json_object_get(msg, "event")) {
			queue_event(q, msg);
			continue;
		}
		json_t *got_id = json_object_get(msg, "id");
		json_t *ret = json_object_get(msg, "return");
		json_t *error = json_object_get(msg, "error");
		if (!ret && !error) {
			json_decref(msg);
			return gw_err_set(err, -EPROTO, "%s: QMP %s: reply has neither return nor error",
					  q->program, command);
		}
		/* A late reply to an earlier command that timed out: not ours. */
		if (!json_is_integer(got_id) || json_integer_value(got_id) != id) {
			json_decref(msg);
			continue;
		}
		if (error) {
			const char *cls = json_string_value(json_object_get(error, "class"));
			const char *desc = json_string_value(json_object_get(error, "desc"));
			r = gw_err_set(err, -EREMOTEIO, "%s: QMP %s: %s: %s", q->program, command,
				       cls ? cls : "error", desc ? desc : "(no description)");
			json_decref(msg);
			return r;
		}
		*reply = json_incref(ret);
		json_decref(msg);
		return 0;
	}
}

int gw_qmp_execute_text(struct gw_qmp *q, const char *command, const char *args_json,
			json_t **reply, struct gw_err **err)
{
	*reply = NULL;
	_cleanup_json_ json_t *args = NULL;
	if (args_json) {
		json_error_t jerr;
		args = json_loads(args_json, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(args))
			return gw_err_set(err, -EINVAL, "QMP %s: arguments \"%s\": %s", command, args_json,
					  args ? "expected a JSON object" : jerr.text);
	}
	return gw_qmp_execute(q, command, args, reply, err);
}

static json_t *take_queued_event(struct gw_qmp *q, const char *name)
{
	for (size_t i = 0; i < json_array_size(q->events); i++) {
		json_t *ev = json_array_get(q->events, i);
		const char *n = json_string_value(json_object_get(ev, "event"));
		if (!name || (n && strcmp(n, name) == 0)) {
			json_incref(ev);
			json_array_remove(q->events, i);
			return ev;
		}
	}
	return NULL;
}

int gw_qmp_wait_event(struct gw_qmp *q, const char *name, int timeout_ms, json_t **event,
		      struct gw_err **err)
{
	*event = NULL;
	json_t *ev = take_queued_event(q, name);
	if (ev) {
		*event = ev;
		return 0;
	}
	if (q->fd < 0)
		return gw_err_set(err, -ENOTCONN, "%s: QMP: not connected", q->program);
	int wait_ms = timeout_ms > 0 ? timeout_ms : q->timeout_ms;
	int64_t deadline = deadline_after(wait_ms);
	for (;;) {
		json_t *msg;
		struct gw_err *read_err = NULL;
		int r = read_message(q, deadline, &msg, &read_err);
		if (r == -ETIMEDOUT) {
			gw_err_free(read_err);
			return gw_err_set(err, r, "%s: QMP: no %s event within %d ms", q->program,
					  name ? name : "", wait_ms);
		}
		if (r < 0) {
			if (err && !*err)
				*err = read_err;
			else
				gw_err_free(read_err);
			return r;
		}
		if (!json_object_get(msg, "event")) {
			json_decref(msg); /* a reply to a command abandoned after a timeout */
			continue;
		}
		const char *n = json_string_value(json_object_get(msg, "event"));
		if (!name || (n && strcmp(n, name) == 0)) {
			*event = msg;
			return 0;
		}
		queue_event(q, msg);
	}
}

const char *gw_qmp_version(const struct gw_qmp *q)
{
	return q->version;
}

pid_t gw_qmp_pid(const struct gw_qmp *q)
{
	return q->pid;
}

void gw_qmp_set_timeout(struct gw_qmp *q, int timeout_ms)
{
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : GW_QMP_DEFAULT_TIMEOUT_MS;
}

int gw_qmp_close(struct gw_qmp *q, struct gw_err **err)
{
	if (!q)
		return 0;
	int r = 0;
	if (q->pid > 0 && q->fd >= 0) {
		int saved = q->timeout_ms;
		q->timeout_ms = saved < QMP_QUIT_GRACE_MS ? saved : QMP_QUIT_GRACE_MS;
		json_t *reply = NULL;
		struct gw_err *quit_err = NULL;
		/* QEMU may close the socket before its reply arrives: not an error. */
		gw_qmp_execute(q, "quit", NULL, &reply, &quit_err);
		json_decref(reply);
		gw_err_free(quit_err);
		q->timeout_ms = saved;
	}
	int64_t deadline = deadline_after(QMP_QUIT_GRACE_MS);
	while (!child_reaped(q) && ms_left(deadline) > 0)
		sleep_ms(10);
	if (q->pid > 0) {
		r = gw_err_set(err, -ETIMEDOUT, "%s: QEMU (pid %d) did not quit within %d ms; killed",
			       q->program, (int)q->pid, QMP_QUIT_GRACE_MS);
		kill_and_reap(q);
	}
	qmp_free(q);
	return r;
}

void gw_qmp_closep(struct gw_qmp **q)
{
	if (q && *q) {
		gw_qmp_close(*q, NULL);
		*q = NULL;
	}
}
