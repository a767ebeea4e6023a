/* SPDX-License-Identifier: Apache-2.0 */
/* Integration: QEMU's view of this host under KVM (`-cpu host`). Needs
 * /dev/kvm; without it the test checks that Godwit refuses with -ENODEV
 * and a clear message, then reports itself skipped. */
#include <string.h>
#include <unistd.h>

#include "godwit/cpu.h"
#include "integration.h"

struct fixture {
	struct gw_cpu_modeldb *db;
	struct gw_cpu_profile *profile;
	struct gw_err *err;
};

static int setup(void **state)
{
	struct fixture *f = gw_calloc(1, sizeof(*f));
	*state = f;
	struct gw_err *err = NULL;
	if (gw_cpu_modeldb_builtin(&f->db, &err) < 0) {
		print_message("# %s\n", gw_err_msg(err));
		gw_err_free(err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	gw_cpu_modeldb_free(f->db);
	gw_cpu_profile_free(f->profile);
	gw_err_free(f->err);
	free(f);
	return 0;
}

static void qemu_view_under_kvm(void **state)
{
	struct fixture *f = *state;
	if (gw_cpu_profile_from_qemu(f->db, test_qemu_binary(), true, &f->profile, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	struct gw_cpu_profile *p = f->profile;
	assert_int_equal(p->kind, GW_CPU_PROFILE_QEMU);
	assert_true(p->has_usable);
	assert_true(p->known.n >= 100);
	assert_true(p->usable.n <= p->known.n);
	/* KVM always offers these to its guests (cpu-models.md c.6). */
	assert_true(gw_featset_test(&p->features, (unsigned)gw_cpu_feature_find("hypervisor")));
	assert_true(gw_featset_test(&p->features, (unsigned)gw_cpu_feature_find("x2apic")));
	for (size_t i = 0; i < p->usable.n; i++)
		assert_true(gw_strv_contains(&p->known, p->usable.v[i]));
	print_message("# kvm: %u features, %zu of %zu models usable\n", gw_featset_count(&p->features),
		      p->usable.n, p->known.n);
}

/* Without /dev/kvm: refused before QEMU is started, naming the device.
 * Returns the message, or NULL (after printing why) when the refusal is
 * not what it should be. */
static char *check_refusal(const char *qemu)
{
	struct gw_cpu_modeldb *db = NULL;
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	int r = gw_cpu_modeldb_builtin(&db, &err);
	if (r == 0)
		r = gw_cpu_profile_from_qemu(db, qemu, true, &p, &err);
	char *msg = NULL;
	if (r == -ENODEV && !p && strstr(gw_err_msg(err), "/dev/kvm"))
		msg = gw_strdup(gw_err_msg(err));
	else
		printf("1..1\nnot ok 1 - without /dev/kvm expected -ENODEV naming it, got %d (%s)\n", r,
		       err ? gw_err_msg(err) : "no error");
	gw_err_free(err);
	gw_cpu_profile_free(p);
	gw_cpu_modeldb_free(db);
	return msg;
}

int main(void)
{
	const char *qemu = test_qemu_binary();
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		char *msg = check_refusal(qemu);
		if (!msg)
			return 1;
		int r = test_skip_all("no usable /dev/kvm on this machine, so QEMU's KVM view was not "
				      "tested (the refusal was: %s)", msg);
		free(msg);
		return r;
	}
	if (access(qemu, X_OK) < 0)
		return test_skip_all("no QEMU at %s (set GODWIT_QEMU, or install qemu-system-x86)", qemu);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(qemu_view_under_kvm, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
