/* SPDX-License-Identifier: Apache-2.0 */
/* The QEMU command line of a VM, from its description alone (no QEMU). */
#include <string.h>

#include "godwit/qemu.h"
#include "helpers.h"

static char *joined(char **argv)
{
	struct gw_buf b;
	gw_buf_init(&b);
	for (char **a = argv; *a; a++)
		gw_buf_printf(&b, "%s%s", a == argv ? "" : " ", *a);
	return gw_buf_steal(&b);
}

/* The value following option `opt`, or NULL. */
static const char *option(char **argv, const char *opt)
{
	for (char **a = argv; *a; a++)
		if (!strcmp(*a, opt) && a[1])
			return a[1];
	return NULL;
}

static struct gw_vm_spec base_spec(void)
{
	struct gw_vm_spec s = {
		.name = "vmi-a",
		.qemu = "qemu-system-x86_64",
		.cpu = "Skylake-Client-IBRS,+vmx,-mpx",
		.vcpus = 2,
		.memory_mib = 256,
		.accel = GW_VM_ACCEL_TCG,
		.state_dir = "/run/godwit/vms/a",
	};
	return s;
}

static void basic_command_line(void **state)
{
	(void)state;
	struct gw_vm_spec s = base_spec();
	char **argv = NULL;
	assert_int_equal(gw_vm_command_line(&s, &argv, NULL), 0);
	assert_string_equal(argv[0], "qemu-system-x86_64");
	/* host-model resolved on the node is passed unchanged. */
	assert_string_equal(option(argv, "-cpu"), "Skylake-Client-IBRS,+vmx,-mpx");
	assert_string_equal(option(argv, "-machine"), "q35");
	assert_string_equal(option(argv, "-accel"), "tcg");
	assert_string_equal(option(argv, "-smp"), "2");
	assert_string_equal(option(argv, "-m"), "256M");
	assert_string_equal(option(argv, "-qmp"), "unix:/run/godwit/vms/a/qmp.sock,server=on,wait=off");
	assert_string_equal(option(argv, "-pidfile"), "/run/godwit/vms/a/qemu.pid");
	assert_string_equal(option(argv, "-chardev"), "file,id=serial0,path=/run/godwit/vms/a/serial.log");
	assert_string_equal(option(argv, "-serial"), "chardev:serial0");
	assert_string_equal(option(argv, "-name"), "guest=vmi-a,debug-threads=on");
	assert_null(option(argv, "-incoming"));
	char *all = joined(argv);
	assert_non_null(strstr(all, "-nodefaults"));
	assert_null(strstr(all, " -S"));
	free(all);
	gw_vm_argv_free(argv);
}

/* A target differs only by -incoming defer (the address comes later). */
static void incoming_and_paused(void **state)
{
	(void)state;
	struct gw_vm_spec s = base_spec();
	s.incoming = true;
	s.paused = true;
	char **argv = NULL;
	assert_int_equal(gw_vm_command_line(&s, &argv, NULL), 0);
	assert_string_equal(option(argv, "-incoming"), "defer");
	char *all = joined(argv);
	assert_non_null(strstr(all, " -S"));
	free(all);
	gw_vm_argv_free(argv);
}

static void disks_and_direct_boot(void **state)
{
	(void)state;
	struct gw_vm_disk disks[] = {
		{.path = "/data/root.qcow2", .format = GW_VM_DISK_QCOW2},
		{.path = "/data/install,1.iso", .format = GW_VM_DISK_RAW, .cdrom = true},
		{.path = "/images/container.raw", .format = GW_VM_DISK_RAW,
		 .readonly_base_with_overlay = true},
	};
	struct gw_vm_spec s = base_spec();
	s.disks = disks;
	s.n_disks = 3;
	s.kernel = "/k/guest.elf";
	s.append = "console=ttyS0";
	s.serial_log = "/logs/a.serial";
	char **argv = NULL;
	assert_int_equal(gw_vm_command_line(&s, &argv, NULL), 0);
	char *all = joined(argv);
	assert_non_null(strstr(all, "-drive file=/data/root.qcow2,format=qcow2,if=none,id=disk0 "
				    "-device virtio-blk-pci,drive=disk0,id=virtio-disk0"));
	/* A comma in a path is doubled, as QEMU's option syntax requires. */
	assert_non_null(strstr(all, "-drive file=/data/install,,1.iso,format=raw,if=none,id=disk1,"
				    "media=cdrom,readonly=on -device ide-cd,drive=disk1,bus=ide.0"));
	/* A container disk: the VM writes to an overlay in its state dir. */
	assert_non_null(strstr(all, "-drive file=/run/godwit/vms/a/disk2.qcow2,format=qcow2,if=none,"
				    "id=disk2 -device virtio-blk-pci,drive=disk2"));
	assert_null(strstr(all, "container.raw"));
	assert_string_equal(option(argv, "-kernel"), "/k/guest.elf");
	assert_string_equal(option(argv, "-append"), "console=ttyS0");
	assert_null(option(argv, "-initrd"));
	assert_string_equal(option(argv, "-chardev"), "file,id=serial0,path=/logs/a.serial");
	free(all);
	gw_vm_argv_free(argv);
}

static void refusals(void **state)
{
	(void)state;
	struct gw_err *err = NULL;
	char **argv = NULL;
	struct gw_vm_spec s = base_spec();
	s.cpu = "host";
	assert_int_equal(gw_vm_command_line(&s, &argv, &err), -EINVAL);
	assert_null(argv);
	assert_non_null(strstr(gw_err_msg(err), "KVM"));
	gw_err_free(err);
	err = NULL;

	/* Under KVM, host-passthrough is fine. */
	s.accel = GW_VM_ACCEL_KVM;
	assert_int_equal(gw_vm_command_line(&s, &argv, NULL), 0);
	assert_string_equal(option(argv, "-accel"), "kvm");
	assert_string_equal(option(argv, "-cpu"), "host");
	gw_vm_argv_free(argv);
	argv = NULL;

	s = base_spec();
	s.memory_mib = 0;
	assert_int_equal(gw_vm_command_line(&s, &argv, &err), -EINVAL);
	gw_err_free(err);
	err = NULL;

	s = base_spec();
	s.state_dir = NULL;
	assert_int_equal(gw_vm_command_line(&s, &argv, &err), -EINVAL);
	gw_err_free(err);
	err = NULL;

	struct gw_vm_disk bad = {.path = "/x.iso", .cdrom = true, .readonly_base_with_overlay = true};
	s = base_spec();
	s.disks = &bad;
	s.n_disks = 1;
	assert_int_equal(gw_vm_command_line(&s, &argv, &err), -EINVAL);
	gw_err_free(err);
}

/* auto: KVM exactly when /dev/kvm opens. */
static void auto_accel_follows_dev_kvm(void **state)
{
	(void)state;
	struct gw_vm_spec s = base_spec();
	s.accel = GW_VM_ACCEL_AUTO;
	char **argv = NULL;
	assert_int_equal(gw_vm_command_line(&s, &argv, NULL), 0);
	assert_string_equal(option(argv, "-accel"), gw_vm_kvm_available() ? "kvm" : "tcg");
	gw_vm_argv_free(argv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basic_command_line),
		cmocka_unit_test(incoming_and_paused),
		cmocka_unit_test(disks_and_direct_boot),
		cmocka_unit_test(refusals),
		cmocka_unit_test(auto_accel_follows_dev_kvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
