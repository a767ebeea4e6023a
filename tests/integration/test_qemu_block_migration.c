/* SPDX-License-Identifier: Apache-2.0 */
/* Integration: block migration (KubeVirt's BlockMigration) of a container
 * disk between two real QEMU processes (TCG, 64 MiB, q35) on 127.0.0.1.
 * Both VMs use the same read-only raw base, made here, each with its own
 * qcow2 overlay; the guest's writes are made in the source's overlay with
 * QEMU's qemu-io monitor command. After the migration the target's overlay
 * is read back (qemu-img convert of the stopped target's disk) and compared
 * byte by byte; the base must be unchanged. The fault case kills the
 * target while the mirror runs (throttled so that it takes seconds). */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "godwit/qemu.h"
#include "integration.h"
#include "vm_fixture.h"

#define MIB 1048576ull
#define BASE_MIB 32
#define BASE_BYTE 0x5a

struct blk {
	char *base;
	struct gw_vm_disk disk;
	struct gw_qemu_migration *m;
	unsigned nbd_port;
	char *uri;
};

/* The base image: BASE_MIB MiB of BASE_BYTE. */
static void write_base(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	char buf[65536];
	memset(buf, BASE_BYTE, sizeof(buf));
	for (size_t done = 0; done < BASE_MIB * MIB; done += sizeof(buf))
		assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
}

/* Runs argv (bounded to 30 s; stdout and stderr to /dev/null); its exit status. */
static int run(char *const *argv)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		alarm(30);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The guest-visible content of a disk image (qcow2 over its base) as raw
 * bytes, read with qemu-img; -U: the image may be in use by a running VM. */
static char *disk_content(struct vm_fixture *f, const char *image, size_t *len)
{
	_cleanup_free_ char *out = gw_asprintf("%s/content.raw", f->dir);
	char *argv[] = {"qemu-img", "convert", "-U", "-O", "raw", (char *)image, out, NULL};
	assert_int_equal(run(argv), 0);
	char *data = NULL;
	if (gw_file_read(out, 64 * MIB, &data, len, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	unlink(out);
	return data;
}

static void assert_bytes(const char *data, size_t len, size_t from, size_t n, unsigned char want,
			 const char *what)
{
	assert_true(from + n <= len);
	for (size_t i = from; i < from + n; i++)
		if ((unsigned char)data[i] != want)
			fail_msg("%s: byte %zu is 0x%02x, expected 0x%02x", what, i,
				 (unsigned char)data[i], want);
}

/* A write by "the guest": qemu-io through the human monitor. */
static void guest_write(struct vm_fixture *f, struct gw_vm *vm, unsigned pattern, size_t off,
			size_t n)
{
	_cleanup_free_ char *cmd = gw_asprintf("qemu-io disk0 \"write -P 0x%02x %zu %zu\"", pattern,
					       off, n);
	json_t *args = json_pack("{s:s}", "command-line", cmd), *reply = NULL;
	if (gw_qmp_execute(gw_vm_qmp(vm), "human-monitor-command", args, &reply, &f->err) < 0)
		fail_msg("%s: %s", cmd, gw_err_msg(f->err));
	/* 7.2 prints qemu-io's own output on QEMU's stdout; errors would be here. */
	assert_true(json_is_string(reply));
	assert_string_equal(json_string_value(reply), "");
	json_decref(args);
	json_decref(reply);
}

static void start_vms(struct vm_fixture *f, struct blk *b)
{
	memset(b, 0, sizeof(*b));
	b->base = gw_asprintf("%s/base.raw", f->dir);
	write_base(b->base);
	b->disk = (struct gw_vm_disk){.path = b->base, .format = GW_VM_DISK_RAW,
				      .readonly_base_with_overlay = true};
	struct gw_vm_spec src = vm_fixture_spec(f, "src", "blk");
	src.disks = &b->disk;
	src.n_disks = 1;
	if (gw_vm_start(&src, 10000, &f->vm[0], &f->err) < 0)
		fail_msg("source: %s", gw_err_msg(f->err));
	struct gw_vm_spec dst = vm_fixture_spec(f, "dst", "blk");
	dst.disks = &b->disk;
	dst.n_disks = 1;
	dst.incoming = true;
	if (gw_vm_start(&dst, 10000, &f->vm[1], &f->err) < 0)
		fail_msg("target: %s", gw_err_msg(f->err));
	unsigned port = 0;
	if (gw_vm_listen_incoming(f->vm[1], "127.0.0.1", 0, false, &port, &f->err) < 0)
		fail_msg("target: %s", gw_err_msg(f->err));
	b->uri = gw_asprintf("tcp:127.0.0.1:%u", port);
	const char *devices[] = {"disk0"};
	if (gw_vm_nbd_export(f->vm[1], "127.0.0.1", 0, devices, 1, &b->nbd_port, &f->err) < 0)
		fail_msg("target NBD export: %s", gw_err_msg(f->err));
	assert_true(b->nbd_port > 0 && b->nbd_port < 65536);
	assert_true(b->nbd_port != port);
}

static void free_blk(struct blk *b)
{
	gw_qemu_migration_free(b->m);
	free(b->base);
	free(b->uri);
}

static struct gw_qemu_migration_config block_config(const struct blk *b, const char *const *devices)
{
	struct gw_qemu_migration_config c;
	gw_qemu_migration_config_defaults(&c);
	c.data_size_bytes = 64 * MIB + BASE_MIB * MIB;
	c.mirror_devices = devices;
	c.n_mirror_devices = 1;
	c.nbd_host = "127.0.0.1";
	c.nbd_port = b->nbd_port;
	return c;
}

static void print_status(const char *what, const struct gw_qemu_migration_status *s)
{
	print_message("# %s: phase %s, qemu %s, disks %u/%u ready, disk %" PRIu64 "/%" PRIu64
		      " KiB, RAM %" PRIu64 " KiB, downtime %" PRIu64 " ms%s%s\n",
		      what, gw_qemu_migration_phase_name(s->phase), s->qemu_status, s->disks_ready,
		      s->disks_mirrored, s->disk_transferred_bytes / 1024, s->disk_total_bytes / 1024,
		      s->transferred_bytes / 1024, s->downtime_ms, s->failure_reason[0] ? ", reason: " : "",
		      s->failure_reason);
}

static void assert_status(struct vm_fixture *f, struct gw_vm *vm, const char *want)
{
	char *status = NULL;
	bool running = false;
	if (gw_vm_query_status(vm, &status, &running, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	if (strcmp(status, want) != 0)
		fail_msg("VM status %s, expected %s", status, want);
	free(status);
}

static void assert_base_unchanged(struct vm_fixture *f, const struct blk *b)
{
	char *data = NULL;
	size_t len = 0;
	if (gw_file_read(b->base, 64 * MIB, &data, &len, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	assert_int_equal(len, BASE_MIB * MIB);
	assert_bytes(data, len, 0, len, BASE_BYTE, "base image");
	free(data);
}

static void checks_block_config(void **state)
{
	struct vm_fixture *f = *state;
	struct blk b;
	start_vms(f, &b);
	const char *bad[] = {"disk0:x"};
	struct gw_qemu_migration_config c = block_config(&b, bad);
	assert_int_equal(gw_qemu_migration_new(f->vm[0], f->vm[1], b.uri, &c, &b.m, &f->err), -EINVAL);
	gw_err_free(f->err);
	f->err = NULL;
	const char *good[] = {"disk0"};
	c = block_config(&b, good);
	c.nbd_port = 0;
	assert_int_equal(gw_qemu_migration_new(f->vm[0], f->vm[1], b.uri, &c, &b.m, &f->err), -EINVAL);
	gw_err_free(f->err);
	f->err = NULL;
	/* One NBD server per VM: a second export fails. */
	unsigned port = 0;
	assert_true(gw_vm_nbd_export(f->vm[1], "127.0.0.1", 0, good, 1, &port, &f->err) < 0);
	assert_int_equal(port, 0);
	gw_err_free(f->err);
	f->err = NULL;
	/* A drive the target lacks is refused, leaving no server behind. */
	assert_int_equal(gw_vm_nbd_stop(f->vm[1], &f->err), 0);
	const char *missing[] = {"disk7"};
	assert_int_equal(gw_vm_nbd_export(f->vm[1], "127.0.0.1", 0, missing, 1, &port, &f->err),
			 -ENOENT);
	assert_int_equal(port, 0);
	json_t *exports = NULL;
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(f->vm[1]), "query-block-exports", NULL, &exports,
					&f->err), 0);
	assert_int_equal(json_array_size(exports), 0);
	json_decref(exports);
	assert_true(gw_vm_nbd_stop(f->vm[1], &f->err) < 0); /* none runs */
	free_blk(&b);
}

/* Writes before and during the migration reach the target's disk. */
static void container_disk_writes_migrate(void **state)
{
	struct vm_fixture *f = *state;
	struct blk b;
	start_vms(f, &b);
	guest_write(f, f->vm[0], 0xab, 1 * MIB, 1 * MIB);
	const char *devices[] = {"disk0"};
	struct gw_qemu_migration_config c = block_config(&b, devices);
	if (gw_qemu_migration_new(f->vm[0], f->vm[1], b.uri, &c, &b.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	struct gw_qemu_migration_status s;
	bool wrote_during = false, saw_mirroring = false;
	uint64_t deadline = gw_now_ns() + 90 * 1000000000ull;
	while (!gw_qemu_migration_finished(b.m)) {
		if (gw_now_ns() > deadline)
			fail_msg("block migration still not finished after 90 s");
		gw_qemu_migration_step(b.m, gw_now_ns());
		gw_qemu_migration_get_status(b.m, &s);
		saw_mirroring |= s.phase == GW_QEMU_MIGRATION_PHASE_MIRRORING;
		if (!wrote_during && s.phase == GW_QEMU_MIGRATION_PHASE_RUNNING) {
			/* The mirror is ready, the memory is moving: a later write. */
			guest_write(f, f->vm[0], 0xcd, 3 * MIB, 64 * 1024);
			wrote_during = true;
		}
		gw_qemu_migration_wait(b.m);
	}
	gw_qemu_migration_get_status(b.m, &s);
	print_status("container disk, 1 MiB + 64 KiB written", &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_true(saw_mirroring);
	assert_true(wrote_during);
	assert_int_equal(s.disks_mirrored, 1);
	assert_int_equal(s.disks_ready, 1);
	/* sync "top": the overlay's 1 MiB went, not the 8 MiB base. */
	assert_true(s.disk_total_bytes >= 1 * MIB && s.disk_total_bytes < BASE_MIB * MIB);
	assert_true(s.disk_transferred_bytes == s.disk_total_bytes);
	assert_status(f, f->vm[1], "running");
	assert_status(f, f->vm[0], "postmigrate");

	/* No mirror job is left on the source, no export on the target. */
	json_t *jobs = NULL, *exports = NULL;
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(f->vm[0]), "query-block-jobs", NULL, &jobs, &f->err), 0);
	assert_int_equal(json_array_size(jobs), 0);
	json_decref(jobs);
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(f->vm[1]), "query-block-exports", NULL, &exports,
					&f->err), 0);
	assert_int_equal(json_array_size(exports), 0);
	json_decref(exports);

	assert_int_equal(gw_vm_stop(f->vm[0], &f->err), 0);
	f->vm[0] = NULL;
	assert_int_equal(gw_vm_stop(f->vm[1], &f->err), 0);
	f->vm[1] = NULL;
	_cleanup_free_ char *overlay = gw_asprintf("%s/dst/disk0.qcow2", f->dir);
	size_t len = 0;
	char *data = disk_content(f, overlay, &len);
	assert_int_equal(len, BASE_MIB * MIB);
	assert_bytes(data, len, 0, 1 * MIB, BASE_BYTE, "target disk before the write");
	assert_bytes(data, len, 1 * MIB, 1 * MIB, 0xab, "target disk, written before");
	assert_bytes(data, len, 2 * MIB, 1 * MIB, BASE_BYTE, "target disk between the writes");
	assert_bytes(data, len, 3 * MIB, 64 * 1024, 0xcd, "target disk, written during");
	assert_bytes(data, len, 3 * MIB + 64 * 1024, len - 3 * MIB - 64 * 1024, BASE_BYTE,
		     "target disk after the writes");
	free(data);
	assert_base_unchanged(f, &b);
	free_blk(&b);
}

/* Without the disk copy the same migration loses the writes: the check
 * above can fail. */
static void memory_only_loses_writes(void **state)
{
	struct vm_fixture *f = *state;
	struct blk b;
	start_vms(f, &b);
	guest_write(f, f->vm[0], 0xab, 1 * MIB, 1 * MIB);
	struct gw_qemu_migration_config c;
	gw_qemu_migration_config_defaults(&c);
	c.data_size_bytes = 64 * MIB;
	if (gw_qemu_migration_new(f->vm[0], f->vm[1], b.uri, &c, &b.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	gw_qemu_migration_run(b.m);
	struct gw_qemu_migration_status s;
	gw_qemu_migration_get_status(b.m, &s);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_COMPLETED);
	assert_int_equal(s.disks_mirrored, 0);
	assert_int_equal(gw_vm_stop(f->vm[1], &f->err), 0);
	f->vm[1] = NULL;
	_cleanup_free_ char *overlay = gw_asprintf("%s/dst/disk0.qcow2", f->dir);
	size_t len = 0;
	char *data = disk_content(f, overlay, &len);
	assert_bytes(data, len, 1 * MIB, 1 * MIB, BASE_BYTE, "target disk (no copy)");
	free(data);
	free_blk(&b);
}

/* The target dies while the (throttled) mirror runs: the migration fails,
 * the mirror is gone, the VM runs on the source with its data. */
static void target_killed_during_mirror(void **state)
{
	struct vm_fixture *f = *state;
	struct blk b;
	start_vms(f, &b);
	guest_write(f, f->vm[0], 0xab, 1 * MIB, 24 * MIB);
	const char *devices[] = {"disk0"};
	struct gw_qemu_migration_config c = block_config(&b, devices);
	c.bandwidth_bytes_per_s = MIB; /* the mirror too: seconds for the overlay */
	if (gw_qemu_migration_new(f->vm[0], f->vm[1], b.uri, &c, &b.m, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	struct gw_qemu_migration_status s;
	bool killed = false;
	uint64_t t0 = gw_now_ns(), deadline = t0 + 60 * 1000000000ull;
	while (!gw_qemu_migration_finished(b.m)) {
		if (gw_now_ns() > deadline)
			fail_msg("migration still not finished after 60 s");
		gw_qemu_migration_step(b.m, gw_now_ns());
		gw_qemu_migration_get_status(b.m, &s);
		if (!killed && gw_now_ns() - t0 > 1000000000ull) {
			print_status("1 s into the mirror", &s);
			assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_MIRRORING);
			assert_true(s.disk_total_bytes >= 24 * MIB);
			assert_true(s.disk_transferred_bytes < s.disk_total_bytes);
			kill(gw_vm_pid(f->vm[1]), SIGKILL);
			killed = true;
		}
		gw_qemu_migration_wait(b.m);
	}
	gw_qemu_migration_get_status(b.m, &s);
	print_status("target killed during the mirror", &s);
	assert_true(killed);
	assert_int_equal(s.phase, GW_QEMU_MIGRATION_PHASE_FAILED);
	assert_non_null(strstr(s.failure_reason, "target QEMU"));
	assert_false(gw_vm_alive(f->vm[1]));
	assert_status(f, f->vm[0], "running");
	json_t *jobs = NULL;
	assert_int_equal(gw_qmp_execute(gw_vm_qmp(f->vm[0]), "query-block-jobs", NULL, &jobs, &f->err), 0);
	assert_int_equal(json_array_size(jobs), 0);
	json_decref(jobs);
	/* The guest goes on writing to its disk. */
	guest_write(f, f->vm[0], 0xef, 28 * MIB, 64 * 1024);
	_cleanup_free_ char *overlay = gw_asprintf("%s/src/disk0.qcow2", f->dir);
	size_t len = 0;
	char *data = disk_content(f, overlay, &len);
	assert_bytes(data, len, 0, 1 * MIB, BASE_BYTE, "source disk before the write");
	assert_bytes(data, len, 1 * MIB, 24 * MIB, 0xab, "source disk, written before");
	assert_bytes(data, len, 28 * MIB, 64 * 1024, 0xef, "source disk, written after");
	free(data);
	assert_base_unchanged(f, &b);
	free_blk(&b);
}

int main(void)
{
	if (access(test_qemu_binary(), X_OK) != 0)
		return test_skip_all("%s not found", test_qemu_binary());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(checks_block_config, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(container_disk_writes_migrate, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(memory_only_loses_writes, vm_fixture_setup,
						vm_fixture_teardown),
		cmocka_unit_test_setup_teardown(target_killed_during_mirror, vm_fixture_setup,
						vm_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
