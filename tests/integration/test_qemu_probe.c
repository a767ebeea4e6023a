/* SPDX-License-Identifier: Apache-2.0 */
/* Integration: real QEMU processes. The QMP client against QEMU itself,
 * the model database generated from the installed QEMU (Debian 12: 7.2)
 * against the built-in one (QEMU 10.0), and QEMU's view of this host under
 * TCG (the KVM view is test_qemu_kvm.c).
 *
 * QEMU is $GODWIT_QEMU, else qemu-system-x86_64 in /usr/bin; without it
 * the whole test is skipped, saying why. Every QEMU started here
 * is closed in the teardown even when an assertion fails (and dies with
 * this process in any case: the client sets PR_SET_PDEATHSIG). */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "godwit/cpu.h"
#include "godwit/qemu.h"
#include "integration.h"

struct fixture {
	const char *qemu;
	struct gw_qmp *qmp;
	struct gw_cpu_modeldb *db, *builtin;
	struct gw_cpu_profile *profile;
	struct gw_err *err;
};

static int setup(void **state)
{
	struct fixture *f = gw_calloc(1, sizeof(*f));
	f->qemu = test_qemu_binary();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	gw_qmp_close(f->qmp, NULL);
	gw_cpu_modeldb_free(f->db);
	gw_cpu_modeldb_free(f->builtin);
	gw_cpu_profile_free(f->profile);
	gw_err_free(f->err);
	free(f);
	return 0;
}

static void spawn_tcg(struct fixture *f)
{
	const char *argv[] = {f->qemu, "-machine", "none", "-accel", "tcg", "-nodefaults",
			      "-nographic", "-S", NULL};
	if (gw_qmp_spawn(argv, 10000, &f->qmp, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
}

static void qmp_execute_and_errors(void **state)
{
	struct fixture *f = *state;
	spawn_tcg(f);
	assert_non_null(gw_qmp_version(f->qmp));
	pid_t pid = gw_qmp_pid(f->qmp);
	assert_true(pid > 0);

	json_t *reply = NULL;
	assert_int_equal(gw_qmp_execute_text(f->qmp, "query-status", NULL, &reply, &f->err), 0);
	assert_string_equal(json_string_value(json_object_get(reply, "status")), "prelaunch");
	json_decref(reply);

	/* QEMU's own error comes back with its class. */
	assert_int_equal(gw_qmp_execute(f->qmp, "no-such-command", NULL, &reply, &f->err), -EREMOTEIO);
	assert_null(reply);
	assert_non_null(strstr(gw_err_msg(f->err), "CommandNotFound"));
	gw_err_free(f->err);
	f->err = NULL;

	/* Arguments QEMU rejects, and arguments that are not JSON. */
	assert_int_equal(gw_qmp_execute_text(f->qmp, "query-cpu-model-expansion",
					     "{\"type\":\"full\",\"model\":{\"name\":\"no-such-cpu\"}}",
					     &reply, &f->err), -EREMOTEIO);
	gw_err_free(f->err);
	f->err = NULL;
	assert_int_equal(gw_qmp_execute_text(f->qmp, "query-status", "{not json", &reply, &f->err),
			 -EINVAL);
	gw_err_free(f->err);
	f->err = NULL;

	/* The connection is still good after errors. */
	assert_int_equal(gw_qmp_execute(f->qmp, "query-version", NULL, &reply, &f->err), 0);
	assert_true(json_is_object(json_object_get(reply, "qemu")));
	json_decref(reply);

	assert_int_equal(gw_qmp_close(f->qmp, &f->err), 0);
	f->qmp = NULL;
	/* Reaped: the pid is no longer our child. */
	assert_int_equal(kill(pid, 0), -1);
}

static void qmp_events(void **state)
{
	struct fixture *f = *state;
	spawn_tcg(f);
	json_t *ev = NULL;
	uint64_t t0 = gw_now_ns();
	assert_int_equal(gw_qmp_wait_event(f->qmp, "RESUME", 300, &ev, &f->err), -ETIMEDOUT);
	assert_true(gw_now_ns() - t0 < 3000000000ull);
	gw_err_free(f->err);
	f->err = NULL;

	/* Events that arrive during a command are queued, not lost. */
	json_t *reply = NULL;
	assert_int_equal(gw_qmp_execute(f->qmp, "cont", NULL, &reply, &f->err), 0);
	json_decref(reply);
	assert_int_equal(gw_qmp_execute(f->qmp, "stop", NULL, &reply, &f->err), 0);
	json_decref(reply);
	assert_int_equal(gw_qmp_wait_event(f->qmp, "STOP", 5000, &ev, &f->err), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "event")), "STOP");
	json_decref(ev);
	assert_int_equal(gw_qmp_wait_event(f->qmp, "RESUME", 5000, &ev, &f->err), 0);
	json_decref(ev);
}

static void spawn_failures_are_explained(void **state)
{
	struct fixture *f = *state;
	const char *missing[] = {"/nonexistent/qemu-system-x86_64", NULL};
	assert_int_equal(gw_qmp_spawn(missing, 5000, &f->qmp, &f->err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(f->err), "/nonexistent/qemu-system-x86_64"));
	gw_err_free(f->err);
	f->err = NULL;

	/* QEMU refuses the option and exits: its own message is quoted. */
	const char *bad[] = {f->qemu, "-machine", "none", "-accel", "no-such-accel", "-nodefaults",
			     "-nographic", "-S", NULL};
	assert_true(gw_qmp_spawn(bad, 5000, &f->qmp, &f->err) < 0);
	assert_null(f->qmp);
	assert_non_null(strstr(gw_err_msg(f->err), "no-such-accel"));
	assert_non_null(strstr(gw_err_msg(f->err), "exited with status"));
}

/* cpu-models.md b.1: a QEMU model version never changes once released. */
static void installed_qemu_agrees_with_builtin(void **state)
{
	struct fixture *f = *state;
	if (gw_cpu_modeldb_from_qemu(f->qemu, &f->db, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	assert_int_equal(gw_cpu_modeldb_builtin(&f->builtin, &f->err), 0);
	print_message("# %s: %zu models; built-in (%s): %zu\n", f->db->source, f->db->n,
		      f->builtin->source, f->builtin->n);
	size_t common = 0;
	for (size_t i = 0; i < f->db->n; i++) {
		const struct gw_cpu_model *m = &f->db->models[i];
		int b = gw_cpu_modeldb_find(f->builtin, m->name);
		if (b < 0)
			continue;
		common++;
		const struct gw_cpu_model *w = &f->builtin->models[b];
		if (!gw_featset_equal(&m->features, &w->features)) {
			struct gw_featset only_here, only_builtin;
			gw_featset_andnot(&only_here, &m->features, &w->features);
			gw_featset_andnot(&only_builtin, &w->features, &m->features);
			fail_msg("%s: %s has %u features the built-in lacks, lacks %u it has", m->name,
				 f->db->source, gw_featset_count(&only_here), gw_featset_count(&only_builtin));
		}
		assert_int_equal(m->family, w->family);
		assert_int_equal(m->model, w->model);
		assert_int_equal(m->stepping, w->stepping);
		if ((m->vendor == NULL) != (w->vendor == NULL) ||
		    (m->vendor && strcmp(m->vendor, w->vendor) != 0))
			fail_msg("%s: vendor %s vs built-in %s", m->name, m->vendor ? m->vendor : "-",
				 w->vendor ? w->vendor : "-");
	}
	/* Any QEMU since 4.1 shares well over a hundred names with 10.0. */
	assert_true(common >= 100);
	print_message("# %zu common models have identical definitions\n", common);
}

static void qemu_view_under_tcg(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(gw_cpu_modeldb_builtin(&f->builtin, &f->err), 0);
	if (gw_cpu_profile_from_qemu(f->builtin, f->qemu, false, &f->profile, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	struct gw_cpu_profile *p = f->profile;
	assert_int_equal(p->kind, GW_CPU_PROFILE_QEMU);
	assert_non_null(p->vendor);
	assert_true(p->has_usable);
	/* `max` under TCG is at least an x86-64-v1 CPU. */
	assert_true(gw_cpu_level(&p->features) >= 1);
	assert_true(p->known.n >= 100);
	assert_true(p->usable.n >= 1 && p->usable.n <= p->known.n);
	assert_false(gw_strv_contains(&p->known, "max"));
	assert_false(gw_strv_contains(&p->known, "host"));
	/* TCG emulates the old generic models. */
	assert_true(gw_strv_contains(&p->usable, "qemu64"));
	/* TCG turns vme off in every model before checking it, so vme is
	 * the one feature the database (KVM's view) has and TCG's `max` lacks. */
	struct gw_featset tcg_features = p->features;
	gw_featset_set(&tcg_features, (unsigned)gw_cpu_feature_find("vme"));
	for (size_t i = 0; i < p->usable.n; i++) {
		assert_true(gw_strv_contains(&p->known, p->usable.v[i]));
		/* What QEMU calls usable, `max` must have every feature of. */
		int m = gw_cpu_modeldb_find(f->builtin, p->usable.v[i]);
		if (m >= 0 && !gw_featset_subset(&f->builtin->models[m].features, &tcg_features))
			fail_msg("QEMU calls %s usable but max lacks some of its features", p->usable.v[i]);
	}
	print_message("# tcg: %u features, %zu of %zu models usable\n", gw_featset_count(&p->features),
		      p->usable.n, p->known.n);
}

/* `godwit cpu models --from-qemu B -o tsv` writes exactly the database
 * the library generates, and it loads back (the --model-db path). */
static void cli_writes_a_loadable_database(void **state)
{
	struct fixture *f = *state;
	const char *godwit = getenv("GODWIT_BIN");
	if (!godwit || access(godwit, X_OK) < 0)
		fail_msg("GODWIT_BIN is not set to the godwit executable (meson sets it)");
	if (gw_cpu_modeldb_from_qemu(f->qemu, &f->db, &f->err) < 0)
		fail_msg("%s", gw_err_msg(f->err));
	_cleanup_free_ char *cmd = gw_asprintf("'%s' cpu models --from-qemu '%s' -o tsv", godwit, f->qemu);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	struct gw_buf out;
	gw_buf_init(&out);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		gw_buf_add(&out, chunk, n);
	int status = pclose(p);
	assert_int_equal(status, 0);
	assert_non_null(out.data);
	_cleanup_free_ char *expected = gw_cpu_modeldb_format(f->db);
	assert_string_equal(out.data, expected);
	assert_int_equal(gw_cpu_modeldb_parse("godwit output", out.data, &f->builtin, &f->err), 0);
	assert_int_equal(f->builtin->n, f->db->n);
	assert_string_equal(f->builtin->source, f->db->source);
	gw_buf_fini(&out);
}

int main(void)
{
	const char *qemu = test_qemu_binary();
	if (access(qemu, X_OK) < 0)
		return test_skip_all("no QEMU at %s (set GODWIT_QEMU, or install qemu-system-x86)", qemu);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(qmp_execute_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(qmp_events, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_failures_are_explained, setup, teardown),
		cmocka_unit_test_setup_teardown(installed_qemu_agrees_with_builtin, setup, teardown),
		cmocka_unit_test_setup_teardown(qemu_view_under_tcg, setup, teardown),
		cmocka_unit_test_setup_teardown(cli_writes_a_loadable_database, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
