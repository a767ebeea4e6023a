/* SPDX-License-Identifier: Apache-2.0 */
/* A VM is one QEMU process started detached from its starter: its own
 * session (setsid), no parent-death signal, re-parented away from us by a
 * double fork. The agent that started it may restart; the VM goes on and
 * is found again through the QMP server socket in its state directory.
 * (Probe QEMUs, by contrast, use gw_qmp_spawn and die with their caller.) */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "godwit/qemu.h"

#define VM_DEFAULT_QEMU "qemu-system-x86_64"
#define VM_QEMU_IMG "qemu-img"
/* How long qemu-img may take to write an overlay header. */
#define VM_QEMU_IMG_TIMEOUT_MS 30000
/* How long `quit` may take before SIGKILL. */
#define VM_QUIT_GRACE_MS 5000

struct gw_vm {
	char *state_dir;  /* canonical */
	char *sock_path;
	char *pid_path;
	char *log_path;
	pid_t pid;
	struct gw_qmp *qmp;
};

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t now_ms(void)
{
	return gw_now_ns() / 1000000u;
}

bool gw_vm_kvm_available(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* QEMU option values separate keys with ','; a literal ',' is ",,". */
static char *opt_escape(const char *s)
{
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_puts(&b, "");
	for (; *s; s++)
		gw_buf_puts(&b, *s == ',' ? ",," : (char[]){*s, '\0'});
	return gw_buf_steal(&b);
}

static char *overlay_path(const char *state_dir, size_t index)
{
	return gw_asprintf("%s/disk%zu.qcow2", state_dir, index);
}

static const char *format_name(enum gw_vm_disk_format f)
{
	return f == GW_VM_DISK_QCOW2 ? "qcow2" : "raw";
}

void gw_vm_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int gw_vm_command_line(const struct gw_vm_spec *spec, char ***argv_out, struct gw_err **err)
{
	*argv_out = NULL;
	if (!spec->state_dir || !*spec->state_dir)
		return gw_err_set(err, -EINVAL, "VM %s: no state directory", spec->name ? spec->name : "");
	const char *name = spec->name && *spec->name ? spec->name : "vm";
	if (spec->memory_mib == 0)
		return gw_err_set(err, -EINVAL, "VM %s: memory must be at least 1 MiB", name);
	if (spec->memory_mib > (UINT64_C(1) << 32))
		return gw_err_set(err, -EINVAL, "VM %s: memory %" PRIu64 " MiB is out of range", name,
				  spec->memory_mib);
	if (spec->vcpus > 1024)
		return gw_err_set(err, -EINVAL, "VM %s: %u vCPUs is out of range", name, spec->vcpus);
	bool kvm;
	switch (spec->accel) {
	case GW_VM_ACCEL_KVM:
		kvm = true;
		break;
	case GW_VM_ACCEL_TCG:
		kvm = false;
		break;
	default:
		kvm = gw_vm_kvm_available();
		break;
	}
	/* host-passthrough exists only under KVM: TCG has no host CPU to pass. */
	if (!kvm && spec->cpu && (!strcmp(spec->cpu, "host") || gw_str_has_prefix(spec->cpu, "host,")))
		return gw_err_set(err, -EINVAL, "VM %s: -cpu host (host-passthrough) needs KVM; this VM "
				  "runs under TCG", name);
	for (size_t i = 0; i < spec->n_disks; i++) {
		const struct gw_vm_disk *d = &spec->disks[i];
		if (!d->path || !*d->path)
			return gw_err_set(err, -EINVAL, "VM %s: disk %zu: no path", name, i);
		if (d->cdrom && d->readonly_base_with_overlay)
			return gw_err_set(err, -EINVAL, "VM %s: disk %zu: a CD-ROM cannot have an overlay",
					  name, i);
	}

	struct gw_strv a;
	gw_strv_init(&a);
	gw_strv_push(&a, spec->qemu && *spec->qemu ? spec->qemu : VM_DEFAULT_QEMU);
	_cleanup_free_ char *ename = opt_escape(name);
	gw_strv_push(&a, "-name");
	gw_strv_push_take(&a, gw_asprintf("guest=%s,debug-threads=on", ename));
	gw_strv_push(&a, "-machine");
	gw_strv_push(&a, spec->machine && *spec->machine ? spec->machine : "q35");
	gw_strv_push(&a, "-accel");
	gw_strv_push(&a, kvm ? "kvm" : "tcg");
	if (spec->cpu && *spec->cpu) {
		gw_strv_push(&a, "-cpu");
		gw_strv_push(&a, spec->cpu);
	}
	gw_strv_push(&a, "-smp");
	gw_strv_push_take(&a, gw_asprintf("%u", spec->vcpus ? spec->vcpus : 1));
	gw_strv_push(&a, "-m");
	gw_strv_push_take(&a, gw_asprintf("%" PRIu64 "M", spec->memory_mib));
	gw_strv_push(&a, "-nodefaults");
	gw_strv_push(&a, "-no-user-config");
	gw_strv_push(&a, "-display");
	gw_strv_push(&a, "none");

	_cleanup_free_ char *edir = opt_escape(spec->state_dir);
	_cleanup_free_ char *serial = spec->serial_log && *spec->serial_log
					      ? opt_escape(spec->serial_log)
					      : gw_asprintf("%s/serial.log", edir);
	gw_strv_push(&a, "-chardev");
	gw_strv_push_take(&a, gw_asprintf("file,id=serial0,path=%s", serial));
	gw_strv_push(&a, "-serial");
	gw_strv_push(&a, "chardev:serial0");
	gw_strv_push(&a, "-qmp");
	gw_strv_push_take(&a, gw_asprintf("unix:%s/qmp.sock,server=on,wait=off", edir));
	gw_strv_push(&a, "-pidfile");
	gw_strv_push_take(&a, gw_asprintf("%s/qemu.pid", spec->state_dir));

	unsigned cdroms = 0;
	for (size_t i = 0; i < spec->n_disks; i++) {
		const struct gw_vm_disk *d = &spec->disks[i];
		_cleanup_free_ char *file = NULL;
		const char *format = format_name(d->format);
		if (d->readonly_base_with_overlay) {
			_cleanup_free_ char *o = overlay_path(spec->state_dir, i);
			file = opt_escape(o);
			format = "qcow2";
		} else {
			file = opt_escape(d->path);
		}
		gw_strv_push(&a, "-drive");
		gw_strv_push_take(&a, gw_asprintf("file=%s,format=%s,if=none,id=disk%zu%s", file, format,
						  i, d->cdrom ? ",media=cdrom,readonly=on" : ""));
		gw_strv_push(&a, "-device");
		if (d->cdrom)
			gw_strv_push_take(&a, gw_asprintf("ide-cd,drive=disk%zu,bus=ide.%u", i, cdroms++));
		else
			gw_strv_push_take(&a, gw_asprintf("virtio-blk-pci,drive=disk%zu,id=virtio-disk%zu", i,
							  i));
	}
	if (spec->kernel && *spec->kernel) {
		gw_strv_push(&a, "-kernel");
		gw_strv_push(&a, spec->kernel);
	}
	if (spec->initrd && *spec->initrd) {
		gw_strv_push(&a, "-initrd");
		gw_strv_push(&a, spec->initrd);
	}
	if (spec->append && *spec->append) {
		gw_strv_push(&a, "-append");
		gw_strv_push(&a, spec->append);
	}
	if (spec->incoming) {
		/* The address comes later (migrate-incoming), after capabilities. */
		gw_strv_push(&a, "-incoming");
		gw_strv_push(&a, "defer");
	}
	if (spec->paused)
		gw_strv_push(&a, "-S");
	for (const char *const *e = spec->extra_args; e && *e; e++)
		gw_strv_push(&a, *e);
	gw_strv_push_take(&a, NULL);
	*argv_out = a.v;
	return 0;
}

/* ---- processes ---------------------------------------------------------- */

/* Runs argv to completion within timeout_ms, its stderr into log_path. */
static int run_tool(char *const *argv, const char *log_path, int timeout_ms, struct gw_err **err)
{
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	_cleanup_close_ int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (devnull < 0 || log_fd < 0)
		return gw_err_set(err, -errno, "%s: %s", devnull < 0 ? "/dev/null" : log_path,
				  strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return gw_err_set(err, -errno, "%s: fork: %s", argv[0], strerror(errno));
	if (pid == 0) {
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(log_fd, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return gw_err_set(err, -errno, "%s: waitpid: %s", argv[0], strerror(errno));
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return gw_err_set(err, -ETIMEDOUT, "%s: did not finish within %d ms", argv[0],
					  timeout_ms);
		}
		sleep_ms(10);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char *said = NULL;
	size_t len = 0;
	gw_file_read(log_path, 4096, &said, &len, NULL);
	while (said && len && (said[len - 1] == '\n' || said[len - 1] == ' '))
		said[--len] = '\0';
	int r = gw_err_set(err, -EIO, "%s %s%s%s", argv[0],
			   WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "could not be run"
									: "failed",
			   said && *said ? ": " : "", said ? said : "");
	free(said);
	return r;
}

static int create_overlay(const char *base, enum gw_vm_disk_format format, const char *overlay,
			  const char *log_path, struct gw_err **err)
{
	char abs_base[PATH_MAX];
	if (!realpath(base, abs_base))
		return gw_err_set(err, -errno, "container disk %s: %s", base, strerror(errno));
	/* qemu-img refuses to replace an image; a fresh VM gets a fresh overlay. */
	if (unlink(overlay) < 0 && errno != ENOENT)
		return gw_err_set(err, -errno, "%s: %s", overlay, strerror(errno));
	char *argv[] = {(char *)VM_QEMU_IMG, (char *)"create", (char *)"-q", (char *)"-f",
			(char *)"qcow2", (char *)"-b", abs_base, (char *)"-F",
			(char *)format_name(format), (char *)overlay, NULL};
	int r = run_tool(argv, log_path, VM_QEMU_IMG_TIMEOUT_MS, err);
	if (r < 0)
		gw_err_wrap(err, "overlay for container disk %s", base);
	return r;
}

/* Child side of the double fork: only async-signal-safe calls until exec.
 * The middle process starts a new session and exits, so the VM's QEMU is
 * nobody's child here and gets no signal when we die. */
static void exec_detached(char *const *argv, int devnull, int log_fd, int pid_pipe, int errpipe)
{
	if (setsid() < 0)
		_exit(127);
	pid_t pid = fork();
	if (pid < 0)
		_exit(127);
	if (pid > 0) {
		ssize_t n = write(pid_pipe, &pid, sizeof(pid));
		_exit(n == (ssize_t)sizeof(pid) ? 0 : 126);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD};
	for (size_t i = 0; i < GW_ARRAY_SIZE(sigs); i++)
		signal(sigs[i], SIG_DFL);
	if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	execvp(argv[0], argv);
	int e = errno;
	if (write(errpipe, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

static int read_full(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

static int spawn_detached(char *const *argv, const char *log_path, pid_t *pid_out,
			  struct gw_err **err)
{
	*pid_out = -1;
	int r = 0;
	int pid_pipe[2] = {-1, -1}, errpipe[2] = {-1, -1};
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	_cleanup_close_ int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (devnull < 0 || log_fd < 0)
		return gw_err_set(err, -errno, "%s: %s", devnull < 0 ? "/dev/null" : log_path,
				  strerror(errno));
	if (pipe2(pid_pipe, O_CLOEXEC) < 0 || pipe2(errpipe, O_CLOEXEC) < 0) {
		r = gw_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	pid_t middle = fork();
	if (middle < 0) {
		r = gw_err_set(err, -errno, "start %s: fork: %s", argv[0], strerror(errno));
		goto out;
	}
	if (middle == 0)
		exec_detached(argv, devnull, log_fd, pid_pipe[1], errpipe[1]);
	int status;
	while (waitpid(middle, &status, 0) < 0 && errno == EINTR)
		;
	close(pid_pipe[1]);
	close(errpipe[1]);
	pid_pipe[1] = errpipe[1] = -1;
	pid_t pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || read_full(pid_pipe[0], &pid, sizeof(pid)) < 0 ||
	    pid <= 0) {
		r = gw_err_set(err, -ECHILD, "start %s: the detaching process failed", argv[0]);
		goto out;
	}
	/* The pipe closes on a successful exec; otherwise it carries errno. */
	int child_errno = 0;
	if (read_full(errpipe[0], &child_errno, sizeof(child_errno)) == 0) {
		r = gw_err_set(err, -child_errno, "start %s: %s", argv[0], strerror(child_errno));
		goto out;
	}
	*pid_out = pid;
out:
	for (int i = 0; i < 2; i++) {
		if (pid_pipe[i] >= 0)
			close(pid_pipe[i]);
		if (errpipe[i] >= 0)
			close(errpipe[i]);
	}
	return r;
}

/* SIGKILL and wait (bounded) until the process is gone. */
static void kill_process(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	uint64_t deadline = now_ms() + 5000;
	while (gw_qemu_process_alive(pid) && now_ms() < deadline)
		sleep_ms(5);
}

/* ---- handles ------------------------------------------------------------ */

static struct gw_vm *vm_new(const char *canonical_dir)
{
	struct gw_vm *vm = gw_calloc(1, sizeof(*vm));
	vm->state_dir = gw_strdup(canonical_dir);
	vm->sock_path = gw_asprintf("%s/qmp.sock", canonical_dir);
	vm->pid_path = gw_asprintf("%s/qemu.pid", canonical_dir);
	vm->log_path = gw_asprintf("%s/qemu.log", canonical_dir);
	vm->pid = -1;
	return vm;
}

static void vm_free(struct gw_vm *vm)
{
	if (!vm)
		return;
	gw_qmp_disconnect(vm->qmp);
	free(vm->state_dir);
	free(vm->sock_path);
	free(vm->pid_path);
	free(vm->log_path);
	free(vm);
}

/* The pid in STATE/qemu.pid, if that process is the QEMU of this state
 * directory (its command line names our QMP socket): a stale pidfile's
 * number may have been reused by anything. */
static pid_t running_vm_pid(const struct gw_vm *vm)
{
	char *text = NULL;
	if (gw_file_read(vm->pid_path, 64, &text, NULL, NULL) < 0)
		return -1;
	char *end;
	errno = 0;
	long pid = strtol(text, &end, 10);
	bool ok = errno == 0 && end != text && (*end == '\0' || *end == '\n') && pid > 0 &&
		  pid <= INT_MAX;
	free(text);
	if (!ok || !gw_qemu_process_alive((pid_t)pid))
		return -1;
	_cleanup_free_ char *cmdline_path = gw_asprintf("/proc/%ld/cmdline", pid);
	char *cmdline = NULL;
	size_t len = 0;
	if (gw_file_read(cmdline_path, 1 << 20, &cmdline, &len, NULL) < 0)
		return -1;
	_cleanup_free_ char *want = gw_asprintf("unix:%s,", vm->sock_path);
	bool ours = false;
	for (size_t off = 0; off < len && !ours; off += strlen(cmdline + off) + 1) {
		/* opt_escape doubled commas in the path; compare unescaped prefix. */
		ours = gw_str_has_prefix(cmdline + off, want);
		if (!ours && strchr(vm->sock_path, ',')) {
			_cleanup_free_ char *esc = opt_escape(vm->sock_path);
			_cleanup_free_ char *want_esc = gw_asprintf("unix:%s,", esc);
			ours = gw_str_has_prefix(cmdline + off, want_esc);
		}
	}
	free(cmdline);
	return ours ? (pid_t)pid : -1;
}

static int canonical_state_dir(const char *state_dir, bool create, char **out, struct gw_err **err)
{
	*out = NULL;
	if (create && mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return gw_err_set(err, -errno, "state directory %s: %s", state_dir, strerror(errno));
	char buf[PATH_MAX];
	if (!realpath(state_dir, buf))
		return gw_err_set(err, errno == ENOENT ? -ESRCH : -errno, "state directory %s: %s",
				  state_dir, strerror(errno));
	struct sockaddr_un addr;
	if (strlen(buf) + strlen("/qmp.sock") >= sizeof(addr.sun_path))
		return gw_err_set(err, -ENAMETOOLONG, "state directory %s: too long for a QMP socket "
				  "path (at most %zu bytes)", buf,
				  sizeof(addr.sun_path) - 1 - strlen("/qmp.sock"));
	*out = gw_strdup(buf);
	return 0;
}

int gw_vm_start(const struct gw_vm_spec *spec, int timeout_ms, struct gw_vm **out,
		struct gw_err **err)
{
	*out = NULL;
	const char *name = spec->name && *spec->name ? spec->name : "vm";
	if (!spec->state_dir || !*spec->state_dir)
		return gw_err_set(err, -EINVAL, "start VM %s: no state directory", name);
	_cleanup_free_ char *dir = NULL;
	int r = canonical_state_dir(spec->state_dir, true, &dir, err);
	if (r < 0) {
		gw_err_wrap(err, "start VM %s", name);
		return r;
	}
	struct gw_vm *vm = vm_new(dir);
	char **argv = NULL;
	if (running_vm_pid(vm) > 0) {
		r = gw_err_set(err, -EBUSY, "start VM %s: a QEMU already runs in %s (pid file %s)", name,
			       dir, vm->pid_path);
		goto fail;
	}
	if (spec->accel == GW_VM_ACCEL_KVM && !gw_vm_kvm_available()) {
		r = gw_err_set(err, -ENODEV, "start VM %s: KVM asked for but /dev/kvm cannot be opened "
			       "(%s)", name, strerror(errno));
		vm_free(vm);
		return r;
	}
	struct gw_vm_spec canon = *spec;
	canon.state_dir = dir;
	r = gw_vm_command_line(&canon, &argv, err);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < spec->n_disks; i++) {
		if (!spec->disks[i].readonly_base_with_overlay)
			continue;
		_cleanup_free_ char *overlay = overlay_path(dir, i);
		_cleanup_free_ char *log = gw_asprintf("%s/qemu-img.log", dir);
		r = create_overlay(spec->disks[i].path, spec->disks[i].format, overlay, log, err);
		if (r < 0)
			goto fail;
	}
	unlink(vm->sock_path);
	unlink(vm->pid_path);
	r = spawn_detached(argv, vm->log_path, &vm->pid, err);
	if (r < 0)
		goto fail;
	r = gw_qmp_connect(vm->sock_path, vm->pid, vm->log_path, timeout_ms, &vm->qmp, err);
	if (r < 0)
		goto fail;
	gw_vm_argv_free(argv);
	*out = vm;
	return 0;
fail:
	gw_err_wrap(err, "start VM %s", name);
	kill_process(vm->pid);
	gw_vm_argv_free(argv);
	vm_free(vm);
	return r;
}

int gw_vm_attach(const char *state_dir, int timeout_ms, struct gw_vm **out, struct gw_err **err)
{
	*out = NULL;
	_cleanup_free_ char *dir = NULL;
	int r = canonical_state_dir(state_dir, false, &dir, err);
	if (r < 0)
		return r;
	struct gw_vm *vm = vm_new(dir);
	vm->pid = running_vm_pid(vm);
	if (vm->pid <= 0) {
		r = gw_err_set(err, -ESRCH, "attach to VM in %s: no QEMU of this state directory runs "
			       "(%s)", dir, vm->pid_path);
		vm_free(vm);
		return r;
	}
	r = gw_qmp_connect(vm->sock_path, vm->pid, vm->log_path, timeout_ms, &vm->qmp, err);
	if (r < 0) {
		gw_err_wrap(err, "attach to VM in %s", dir);
		vm_free(vm);
		return r;
	}
	*out = vm;
	return 0;
}

int gw_vm_listen_incoming(struct gw_vm *vm, const char *address, unsigned port, bool postcopy,
			  unsigned *bound_port, struct gw_err **err)
{
	*bound_port = 0;
	if (!address || !*address || port > 65535)
		return gw_err_set(err, -EINVAL, "incoming migration: bad address %s:%u",
				  address ? address : "", port);
	_cleanup_json_ json_t *reply = NULL;
	int r;
	if (postcopy) {
		r = gw_qmp_execute_text(vm->qmp, "migrate-set-capabilities",
					"{\"capabilities\":[{\"capability\":\"postcopy-ram\",\"state\":true}]}",
					&reply, err);
		if (r < 0)
			return r;
		json_decref(reply);
		reply = NULL;
	}
	_cleanup_free_ char *uri = strchr(address, ':') ? gw_asprintf("tcp:[%s]:%u", address, port)
							: gw_asprintf("tcp:%s:%u", address, port);
	_cleanup_json_ json_t *args = json_pack("{s:s}", "uri", uri);
	r = gw_qmp_execute(vm->qmp, "migrate-incoming", args, &reply, err);
	if (r < 0)
		return r;
	json_decref(reply);
	reply = NULL;
	r = gw_qmp_execute(vm->qmp, "query-migrate", NULL, &reply, err);
	if (r < 0)
		return r;
	/* {"socket-address": [{"type": "inet", "host": ..., "port": "44587"}]} */
	json_t *addrs = json_object_get(reply, "socket-address");
	json_t *p = json_object_get(json_array_get(addrs, 0), "port");
	long long value = -1;
	if (json_is_string(p)) {
		char *end;
		errno = 0;
		value = strtoll(json_string_value(p), &end, 10);
		if (errno || end == json_string_value(p) || *end)
			value = -1;
	} else if (json_is_integer(p)) {
		value = json_integer_value(p);
	}
	if (value <= 0 || value > 65535)
		return gw_err_set(err, -EPROTO, "incoming migration on %s: query-migrate: "
				  "socket-address[0].port: expected a port number", uri);
	*bound_port = (unsigned)value;
	return 0;
}

/* A port that is free on address now: bound to port 0, read, closed.
 * Another process may take it before QEMU does; the caller retries. */
static int free_port(const char *address, unsigned *port, struct gw_err **err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *ai = NULL;
	int r = getaddrinfo(address, "0", &hints, &ai);
	if (r != 0)
		return gw_err_set(err, -EINVAL, "NBD server address %s: %s", address, gai_strerror(r));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		r = gw_err_set(err, -errno, "NBD server address %s: %s", address, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	r = getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	if (r < 0)
		return gw_err_set(err, -errno, "NBD server address %s: %s", address, strerror(errno));
	*port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
					       : ((struct sockaddr_in *)&sa)->sin_port);
	return 0;
}

/* The node name QEMU gave the drive `device` (-drive id=...): exports
 * take a node, not a device. */
static int drive_node_name(struct gw_vm *vm, const char *device, char **node, struct gw_err **err)
{
	*node = NULL;
	_cleanup_json_ json_t *reply = NULL;
	int r = gw_qmp_execute(vm->qmp, "query-block", NULL, &reply, err);
	if (r < 0)
		return r;
	size_t i;
	json_t *b;
	json_array_foreach(reply, i, b) {
		const char *name = json_string_value(json_object_get(b, "device"));
		if (!name || strcmp(name, device) != 0)
			continue;
		const char *n = json_string_value(
			json_object_get(json_object_get(b, "inserted"), "node-name"));
		if (!n)
			return gw_err_set(err, -ENOMEDIUM, "drive %s has no medium", device);
		*node = gw_strdup(n);
		return 0;
	}
	return gw_err_set(err, -ENOENT, "no drive %s in this VM", device);
}

int gw_vm_nbd_export(struct gw_vm *vm, const char *address, unsigned port,
		     const char *const *devices, size_t n_devices, unsigned *bound_port,
		     struct gw_err **err)
{
	*bound_port = 0;
	if (!address || !*address || port > 65535 || n_devices == 0)
		return gw_err_set(err, -EINVAL, "NBD export: bad address %s:%u or no disks",
				  address ? address : "", port);
	int r = -EADDRINUSE;
	/* QEMU 7.2 does not say which port a port-0 server got: choose one. */
	for (int attempt = 0; attempt < 5 && r < 0; attempt++) {
		unsigned p = port;
		if (p == 0 && (r = free_port(address, &p, err)) < 0)
			return r;
		_cleanup_free_ char *ps = gw_asprintf("%u", p);
		_cleanup_json_ json_t *args = json_pack(
			"{s:{s:s,s:{s:s,s:s}}}", "addr", "type", "inet", "data", "host", address, "port", ps);
		_cleanup_json_ json_t *reply = NULL;
		struct gw_err *e = NULL;
		r = gw_qmp_execute(vm->qmp, "nbd-server-start", args, &reply, &e);
		if (r == 0) {
			*bound_port = p;
		} else if (port != 0 || attempt == 4) {
			gw_err_set(err, r, "NBD server on %s:%u: %s", address, p, gw_err_msg(e));
			gw_err_free(e);
			return r;
		} else {
			gw_err_free(e);
		}
	}
	for (size_t i = 0; i < n_devices; i++) {
		_cleanup_free_ char *node = NULL;
		r = drive_node_name(vm, devices[i], &node, err);
		if (r == 0) {
			/* Export name = drive id: the source mirrors disk0 to disk0. */
			_cleanup_json_ json_t *args = json_pack("{s:s,s:s,s:s,s:s,s:b}", "type", "nbd", "id",
								devices[i], "node-name", node, "name",
								devices[i], "writable", 1);
			_cleanup_json_ json_t *reply = NULL;
			r = gw_qmp_execute(vm->qmp, "block-export-add", args, &reply, err);
		}
		if (r < 0) {
			gw_err_wrap(err, "NBD export of %s", devices[i]);
			gw_vm_nbd_stop(vm, NULL);
			*bound_port = 0;
			return r;
		}
	}
	return 0;
}

int gw_vm_nbd_stop(struct gw_vm *vm, struct gw_err **err)
{
	_cleanup_json_ json_t *reply = NULL;
	return gw_qmp_execute(vm->qmp, "nbd-server-stop", NULL, &reply, err);
}

int gw_vm_query_status(struct gw_vm *vm, char **status, bool *running, struct gw_err **err)
{
	if (status)
		*status = NULL;
	if (running)
		*running = false;
	_cleanup_json_ json_t *reply = NULL;
	int r = gw_qmp_execute(vm->qmp, "query-status", NULL, &reply, err);
	if (r < 0)
		return r;
	json_t *s = json_object_get(reply, "status"), *run = json_object_get(reply, "running");
	if (!json_is_string(s) || !json_is_boolean(run))
		return gw_err_set(err, -EPROTO, "query-status: expected status (string) and running "
				  "(boolean)");
	if (status)
		*status = gw_strdup(json_string_value(s));
	if (running)
		*running = json_is_true(run);
	return 0;
}

int gw_vm_stop(struct gw_vm *vm, struct gw_err **err)
{
	if (!vm)
		return 0;
	int r = 0;
	if (vm->qmp) {
		r = gw_qmp_close(vm->qmp, err);
		vm->qmp = NULL;
	}
	uint64_t deadline = now_ms() + VM_QUIT_GRACE_MS;
	while (gw_qemu_process_alive(vm->pid) && now_ms() < deadline)
		sleep_ms(10);
	if (gw_qemu_process_alive(vm->pid)) {
		r = gw_err_set(err, -ETIMEDOUT, "VM in %s: QEMU (pid %d) did not quit; killed",
			       vm->state_dir, (int)vm->pid);
		kill_process(vm->pid);
	}
	unlink(vm->sock_path);
	vm_free(vm);
	return r;
}

void gw_vm_kill(struct gw_vm *vm)
{
	if (!vm)
		return;
	kill_process(vm->pid);
	unlink(vm->sock_path);
	vm_free(vm);
}

void gw_vm_detach(struct gw_vm *vm)
{
	vm_free(vm);
}

struct gw_qmp *gw_vm_qmp(struct gw_vm *vm)
{
	return vm->qmp;
}

pid_t gw_vm_pid(const struct gw_vm *vm)
{
	return vm->pid;
}

const char *gw_vm_state_dir(const struct gw_vm *vm)
{
	return vm->state_dir;
}

bool gw_vm_alive(const struct gw_vm *vm)
{
	return vm && gw_qemu_process_alive(vm->pid);
}

void gw_vm_terminate(struct gw_vm *vm)
{
	if (vm)
		kill_process(vm->pid);
}
