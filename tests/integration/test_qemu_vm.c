/* SPDX-License-Identifier: Apache-2.0 */
/* Integration: VMs as real, detached QEMU processes (TCG, 64 MiB, no
 * guest code). A VM outlives the handle and the thread that started it,
 * is found again from its state directory, and stops when asked. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "godwit/qemu.h"
#include "integration.h"
#include "vm_fixture.h"

static void start_query_stop(void **state)
{
	struct vm_fixture *f = *state;
	struct gw_vm_spec spec = vm_fixture_spec(f, "a", "vm-a");
	if (gw_vm_start(&spec, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	pid_t pid = gw_vm_pid(f->vm[0]);
	assert_true(gw_vm_alive(f->vm[0]));
	/* Detached: not our child, in its own session. */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_not_equal(getsid(pid), getsid(0));
	char *status = NULL;
	bool running = false;
	assert_int_equal(gw_vm_query_status(f->vm[0], &status, &running, &f->err), 0);
	assert_string_equal(status, "running");
	assert_true(running);
	free(status);
	assert_int_equal(gw_vm_stop(f->vm[0], &f->err), 0);
	f->vm[0] = NULL;
	assert_false(gw_qemu_process_alive(pid));
}

static void *start_in_thread(void *arg)
{
	struct vm_fixture *f = arg;
	struct gw_vm_spec spec = vm_fixture_spec(f, "b", "vm-b");
	struct gw_vm *vm = NULL;
	if (gw_vm_start(&spec, 10000, &vm, &f->err) < 0)
		return NULL;
	pid_t *pid = gw_malloc(sizeof(*pid));
	*pid = gw_vm_pid(vm);
	gw_vm_detach(vm); /* the "agent" goes away; the VM must not */
	return pid;
}

/* The issue: the agent can restart without touching running VMs; it finds
 * them again through their QMP sockets. The VM is started by a thread
 * that then ends (a parent-death signal would kill QEMU here), the handle
 * is dropped, and a new handle comes from the state directory alone. */
static void survives_its_starter_and_is_reattached(void **state)
{
	struct vm_fixture *f = *state;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, start_in_thread, f), 0);
	void *ret = NULL;
	pthread_join(t, &ret);
	if (!ret)
		fail_msg("%s", gw_err_msg(f->err));
	pid_t pid = *(pid_t *)ret;
	free(ret);
	f->stray_pid = pid;
	usleep(300 * 1000);
	assert_true(gw_qemu_process_alive(pid));

	_cleanup_free_ char *dir = gw_asprintf("%s/b", f->dir);
	if (gw_vm_attach(dir, 5000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	assert_int_equal(gw_vm_pid(f->vm[0]), pid);
	char *status = NULL;
	bool running = false;
	assert_int_equal(gw_vm_query_status(f->vm[0], &status, &running, &f->err), 0);
	assert_string_equal(status, "running");
	free(status);
	/* Detach and attach again: still the same VM. */
	gw_vm_detach(f->vm[0]);
	f->vm[0] = NULL;
	if (gw_vm_attach(dir, 5000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	assert_int_equal(gw_vm_stop(f->vm[0], &f->err), 0);
	f->vm[0] = NULL;
	assert_false(gw_qemu_process_alive(pid));
	f->stray_pid = 0;

	/* Nothing runs there any more: attach says so. */
	assert_int_equal(gw_vm_attach(dir, 2000, &f->vm[0], &f->err), -ESRCH);
	assert_non_null(strstr(gw_err_msg(f->err), "no QEMU"));
}

/* The agent process is killed outright (SIGKILL, no clean-up) after
 * starting a VM; a new process finds the VM running and attaches. */
static void survives_a_killed_agent(void **state)
{
	struct vm_fixture *f = *state;
	struct gw_vm_spec spec = vm_fixture_spec(f, "g", "vm-g");
	fflush(NULL);
	pid_t agent = fork();
	assert_true(agent >= 0);
	if (agent == 0) {
		struct gw_vm *vm = NULL;
		if (gw_vm_start(&spec, 10000, &vm, NULL) < 0)
			_exit(3);
		raise(SIGKILL);
		_exit(4);
	}
	int status = 0;
	assert_int_equal(waitpid(agent, &status, 0), agent);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	usleep(300 * 1000);
	if (gw_vm_attach(spec.state_dir, 5000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	char *st = NULL;
	bool running = false;
	assert_int_equal(gw_vm_query_status(f->vm[0], &st, &running, &f->err), 0);
	assert_string_equal(st, "running");
	free(st);
}

/* A second start in a state directory whose VM runs is refused. */
static void second_start_in_same_dir_is_refused(void **state)
{
	struct vm_fixture *f = *state;
	struct gw_vm_spec spec = vm_fixture_spec(f, "c", "vm-c");
	if (gw_vm_start(&spec, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	assert_int_equal(gw_vm_start(&spec, 10000, &f->vm[1], &f->err), -EBUSY);
	assert_null(f->vm[1]);
	assert_true(gw_vm_alive(f->vm[0]));
}

/* QEMU refusing its command line is reported with QEMU's own words. */
static void start_failure_quotes_qemu(void **state)
{
	struct vm_fixture *f = *state;
	struct gw_vm_spec spec = vm_fixture_spec(f, "d", "vm-d");
	spec.cpu = "NoSuchCpuModel";
	assert_true(gw_vm_start(&spec, 10000, &f->vm[0], &f->err) < 0);
	assert_null(f->vm[0]);
	print_message("# %s\n", gw_err_msg(f->err));
	assert_non_null(strstr(gw_err_msg(f->err), "NoSuchCpuModel"));
}

/* A container disk: the base stays read-only and untouched, the VM gets
 * a qcow2 overlay backed by it in its state directory. */
static void container_disk_gets_an_overlay(void **state)
{
	struct vm_fixture *f = *state;
	_cleanup_free_ char *base = gw_asprintf("%s/base.raw", f->dir);
	FILE *b = fopen(base, "we");
	assert_non_null(b);
	assert_int_equal(ftruncate(fileno(b), 1 << 20), 0);
	fclose(b);
	assert_int_equal(chmod(base, 0444), 0);
	struct gw_vm_disk disk = {.path = base, .format = GW_VM_DISK_RAW,
				  .readonly_base_with_overlay = true};
	struct gw_vm_spec spec = vm_fixture_spec(f, "e", "vm-e");
	spec.disks = &disk;
	spec.n_disks = 1;
	if (gw_vm_start(&spec, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	_cleanup_free_ char *overlay = gw_asprintf("%s/e/disk0.qcow2", f->dir);
	struct stat st;
	assert_int_equal(stat(overlay, &st), 0);
	json_t *reply = NULL;
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(f->vm[0]), "query-block", NULL, &reply, &f->err), 0);
	_cleanup_free_ char *text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	assert_non_null(strstr(text, "disk0.qcow2"));
	assert_non_null(strstr(text, "\"backing_file_depth\":1"));
	assert_non_null(strstr(text, "base.raw"));
}

/* Under KVM when this host has it; without /dev/kvm the start is refused
 * before QEMU runs, naming the device, and the KVM start is skipped. */
static void kvm_start_or_clear_refusal(void **state)
{
	struct vm_fixture *f = *state;
	struct gw_vm_spec spec = vm_fixture_spec(f, "k", "vm-k");
	spec.accel = GW_VM_ACCEL_KVM;
	spec.cpu = "host";
	if (!gw_vm_kvm_available()) {
		assert_int_equal(gw_vm_start(&spec, 10000, &f->vm[0], &f->err), -ENODEV);
		assert_null(f->vm[0]);
		assert_non_null(strstr(gw_err_msg(f->err), "/dev/kvm"));
		print_message("# KVM start skipped: no usable /dev/kvm here; the refusal was checked\n");
		return;
	}
	if (gw_vm_start(&spec, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	char *status = NULL;
	bool running = false;
	assert_int_equal(gw_vm_query_status(f->vm[0], &status, &running, &f->err), 0);
	assert_true(running);
	free(status);
}

int main(void)
{
	if (access(test_qemu_binary(), X_OK) != 0)
		return test_skip_all("%s not found", test_qemu_binary());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(start_query_stop, vm_fixture_setup, vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(survives_its_starter_and_is_reattached, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(survives_a_killed_agent, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(second_start_in_same_dir_is_refused, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(start_failure_quotes_qemu, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(container_disk_gets_an_overlay, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(kvm_start_or_clear_refusal, vm_fixture_setup,
						vm_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
