/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the VM and migration integration tests: a private directory
 * with one state directory per VM, small TCG VMs without guest code, and
 * a teardown that kills whatever still runs, even after a failed test. */
#ifndef GODWIT_TEST_VM_FIXTURE_H
#define GODWIT_TEST_VM_FIXTURE_H

#include <ftw.h>
#include <signal.h>
#include <stdio.h>

#include "godwit/qemu.h"
#include "integration.h"

#define VM_FIXTURE_MAX 3

struct vm_fixture {
	char *dir;
	struct gw_vm *vm[VM_FIXTURE_MAX];
	pid_t stray_pid;     /* a VM started without a handle here */
	struct gw_err *err;
	char *state_dirs[VM_FIXTURE_MAX + 8];
	size_t n_state_dirs;
};

static inline int vm_fixture_setup(void **state)
{
	struct vm_fixture *f = gw_calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	f->dir = gw_asprintf("%s/gw-vm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		print_message("# mkdtemp %s: %s\n", f->dir, strerror(errno));
		return -1;
	}
	*state = f;
	return 0;
}

/* A 64 MiB TCG q35 VM with no disks and no guest code, in DIR/<sub>. */
static inline struct gw_vm_spec vm_fixture_spec(struct vm_fixture *f, const char *sub,
						const char *name)
{
	char *dir = gw_asprintf("%s/%s", f->dir, sub);
	if (f->n_state_dirs < GW_ARRAY_SIZE(f->state_dirs))
		f->state_dirs[f->n_state_dirs++] = dir;
	struct gw_vm_spec spec = {
		.name = name,
		.qemu = test_qemu_binary(),
		.cpu = "qemu64",
		.vcpus = 1,
		.memory_mib = 64,
		.accel = GW_VM_ACCEL_TCG,
		.state_dir = dir,
	};
	return spec;
}

static inline int vm_fixture_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Kills any QEMU whose pidfile is in one of our state directories. */
static inline void vm_fixture_kill_by_pidfile(const char *state_dir)
{
	char *pid_path = gw_asprintf("%s/qemu.pid", state_dir);
	char *text = NULL;
	if (gw_file_read(pid_path, 64, &text, NULL, NULL) == 0) {
		long pid = strtol(text, NULL, 10);
		if (pid > 0 && gw_qemu_process_alive((pid_t)pid))
			kill((pid_t)pid, SIGKILL);
	}
	free(text);
	free(pid_path);
}

static inline int vm_fixture_teardown(void **state)
{
	struct vm_fixture *f = *state;
	for (size_t i = 0; i < VM_FIXTURE_MAX; i++)
		gw_vm_kill(f->vm[i]);
	if (f->stray_pid > 0)
		kill(f->stray_pid, SIGKILL);
	for (size_t i = 0; i < f->n_state_dirs; i++) {
		vm_fixture_kill_by_pidfile(f->state_dirs[i]);
		free(f->state_dirs[i]);
	}
	if (getenv("GODWIT_KEEP_TEST_DIRS"))
		print_message("# kept %s\n", f->dir);
	else
		nftw(f->dir, vm_fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
	gw_err_free(f->err);
	free(f->dir);
	free(f);
	return 0;
}

#endif
