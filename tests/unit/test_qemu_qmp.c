/* SPDX-License-Identifier: Apache-2.0 */
/* The QMP client against a peer that misbehaves in ways a real QEMU
 * rarely does: replies are hostile input, so malformed, oversized,
 * non-object and out-of-order messages, silence, a dropped connection and
 * a QEMU that ignores `quit` must each end in a clear error, in bounded
 * time, with the process reaped. The peer is this test program re-run as
 * a fake QEMU (`--fake-qmp MODE`); it connects to the socket the client
 * passes with `-qmp unix:PATH`, as QEMU does. Real QEMU is exercised by
 * tests/integration/test_qemu_probe.c. */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "godwit/qemu.h"
#include "helpers.h"

static const char *self_exe;

/* ---- the fake QEMU ------------------------------------------------------ */

static void fake_send(int fd, const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t n = write(fd, s, len);
		if (n <= 0)
			_exit(2);
		s += n;
		len -= (size_t)n;
	}
}

/* Sends `head` (an object without its closing brace) with the request's id. */
static void fake_reply(int fd, json_t *id, const char *head)
{
	char *idtext = json_dumps(id ? id : json_null(), JSON_ENCODE_ANY);
	char *msg = gw_asprintf("%s, \"id\": %s}\r\n", head, idtext);
	fake_send(fd, msg);
	free(msg);
	free(idtext);
}

static int fake_qemu(const char *mode, const char *qmp_arg)
{
	if (!strcmp(mode, "never-connects")) {
		sleep(30);
		return 0;
	}
	if (!strcmp(mode, "dies-at-start")) {
		fputs("fake-qemu: -accel bogus: invalid accelerator bogus\n", stderr);
		return 1;
	}
	if (!gw_str_has_prefix(qmp_arg, "unix:"))
		return 2;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", qmp_arg + 5);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return 2;
	if (!strcmp(mode, "bad-greeting")) {
		fake_send(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"ten\"}}}}\n");
		sleep(30);
		return 0;
	}
	fake_send(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 99}, "
		      "\"package\": \"fake\"}, \"capabilities\": []}}\r\n");
	FILE *in = fdopen(dup(fd), "r");
	char line[4096];
	int exit_code = 0;
	json_t *req = NULL;
	while (in && fgets(line, sizeof(line), in)) {
		json_decref(req);
		req = json_loads(line, 0, NULL);
		const char *cmd = json_string_value(json_object_get(req, "execute"));
		json_t *id = json_object_get(req, "id");
		if (!cmd)
			continue;
		if (!strcmp(cmd, "qmp_capabilities")) {
			fake_reply(fd, id, "{\"return\": {}");
		} else if (!strcmp(cmd, "quit")) {
			if (!strcmp(mode, "ignores-quit")) {
				fake_reply(fd, id, "{\"return\": {}");
				continue;
			}
			fake_reply(fd, id, "{\"return\": {}");
			exit_code = 0;
			break;
		} else if (!strcmp(cmd, "with-events")) {
			fake_send(fd, "{\"event\": \"A\", \"data\": {}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n");
			fake_send(fd, "\r\n"); /* blank lines are tolerated */
			fake_send(fd, "{\"event\": \"B\", \"data\": {\"n\": 2}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 1}}\n");
			fake_reply(fd, id, "{\"return\": {\"ok\": true}");
		} else if (!strcmp(cmd, "stale-reply-first")) {
			fake_send(fd, "{\"return\": {\"stale\": true}, \"id\": 424242}\n");
			fake_reply(fd, id, "{\"return\": {\"fresh\": true}");
		} else if (!strcmp(cmd, "big-integer")) {
			fake_reply(fd, id, "{\"return\": {\"lbr-fmt\": 18446744073709551552, \"s\": \"12345678901234567890\", "
					   "\"n\": -42}");
		} else if (!strcmp(cmd, "not-an-object")) {
			fake_send(fd, "[1, 2, 3]\n");
		} else if (!strcmp(cmd, "malformed")) {
			fake_send(fd, "{\"return\": {\"a\": }\n");
		} else if (!strcmp(cmd, "neither")) {
			fake_reply(fd, id, "{\"x\": 1");
		} else if (!strcmp(cmd, "error-without-desc")) {
			fake_reply(fd, id, "{\"error\": {\"class\": 42}");
		} else if (!strcmp(cmd, "huge")) {
			/* No newline within the client's limit. */
			char chunk[65536];
			memset(chunk, ' ', sizeof(chunk));
			for (unsigned i = 0; i < (GW_QMP_MAX_MESSAGE_BYTES / sizeof(chunk)) + 2; i++) {
				ssize_t n = write(fd, chunk, sizeof(chunk));
				if (n <= 0)
					break; /* the client hung up, as it should */
			}
			sleep(30);
		} else if (!strcmp(cmd, "silent")) {
			/* no answer */
		} else if (!strcmp(cmd, "hang-up")) {
			exit_code = 3;
			break;
		} else {
			fake_reply(fd, id, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}");
		}
	}
	json_decref(req);
	if (in)
		fclose(in);
	close(fd);
	return exit_code;
}

/* ---- tests ----------------------------------------------------------------- */

struct fixture {
	struct gw_qmp *q;
	struct gw_err *err;
};

static int setup(void **state)
{
	*state = gw_calloc(1, sizeof(struct fixture));
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	gw_qmp_close(f->q, NULL);
	gw_err_free(f->err);
	free(f);
	return 0;
}

static int spawn_fake(struct fixture *f, const char *mode, int timeout_ms)
{
	const char *argv[] = {self_exe, "--fake-qmp", mode, NULL};
	return gw_qmp_spawn(argv, timeout_ms, &f->q, &f->err);
}

static void spawn_fake_ok(struct fixture *f, const char *mode, int timeout_ms)
{
	if (spawn_fake(f, mode, timeout_ms) < 0)
		fail_msg("%s", gw_err_msg(f->err));
}

static void expect_error(struct fixture *f, int code, const char *needle)
{
	assert_non_null(f->err);
	if (f->err->code != code || !strstr(gw_err_msg(f->err), needle))
		fail_msg("expected %d with \"%s\", got %d: %s", code, needle, f->err->code, gw_err_msg(f->err));
	gw_err_free(f->err);
	f->err = NULL;
}

static void greeting_and_version(void **state)
{
	struct fixture *f = *state;
	spawn_fake_ok(f, "normal", 5000);
	assert_string_equal(gw_qmp_version(f->q), "99.0.0");
	assert_int_equal(gw_qmp_close(f->q, &f->err), 0);
	f->q = NULL;
}

static void events_are_queued_in_order(void **state)
{
	struct fixture *f = *state;
	spawn_fake_ok(f, "normal", 5000);
	json_t *reply = NULL, *ev = NULL;
	assert_int_equal(gw_qmp_execute(f->q, "with-events", NULL, &reply, &f->err), 0);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	/* Asking for B first leaves A queued. */
	assert_int_equal(gw_qmp_wait_event(f->q, "B", 100, &ev, &f->err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "n")), 2);
	json_decref(ev);
	assert_int_equal(gw_qmp_wait_event(f->q, NULL, 100, &ev, &f->err), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "event")), "A");
	json_decref(ev);
	assert_int_equal(gw_qmp_wait_event(f->q, NULL, 100, &ev, &f->err), -ETIMEDOUT);
	assert_null(ev);
	expect_error(f, -ETIMEDOUT, "within 100 ms");
}

static void replies_checked(void **state)
{
	struct fixture *f = *state;
	spawn_fake_ok(f, "normal", 2000);
	json_t *reply = NULL;
	/* A reply with another id belongs to an abandoned command. */
	assert_int_equal(gw_qmp_execute(f->q, "stale-reply-first", NULL, &reply, &f->err), 0);
	assert_true(json_is_true(json_object_get(reply, "fresh")));
	json_decref(reply);
	/* uint64 values beyond int64 arrive as reals; strings untouched. */
	assert_int_equal(gw_qmp_execute(f->q, "big-integer", NULL, &reply, &f->err), 0);
	assert_true(json_is_real(json_object_get(reply, "lbr-fmt")));
	assert_string_equal(json_string_value(json_object_get(reply, "s")), "12345678901234567890");
	assert_int_equal(json_integer_value(json_object_get(reply, "n")), -42);
	json_decref(reply);
	assert_int_equal(gw_qmp_execute(f->q, "error-without-desc", NULL, &reply, &f->err), -EREMOTEIO);
	expect_error(f, -EREMOTEIO, "QMP error-without-desc: error: (no description)");
	assert_int_equal(gw_qmp_execute(f->q, "neither", NULL, &reply, &f->err), -EPROTO);
	expect_error(f, -EPROTO, "neither return nor error");
	assert_int_equal(gw_qmp_execute(f->q, "not-an-object", NULL, &reply, &f->err), -EPROTO);
	expect_error(f, -EPROTO, "not a JSON object");
	assert_int_equal(gw_qmp_execute(f->q, "malformed", NULL, &reply, &f->err), -EPROTO);
	expect_error(f, -EPROTO, "malformed message");
	assert_null(reply);
}

static void silence_times_out(void **state)
{
	struct fixture *f = *state;
	spawn_fake_ok(f, "normal", 300);
	json_t *reply = NULL;
	uint64_t t0 = gw_now_ns();
	assert_int_equal(gw_qmp_execute(f->q, "silent", NULL, &reply, &f->err), -ETIMEDOUT);
	assert_true(gw_now_ns() - t0 < 2000000000ull);
	expect_error(f, -ETIMEDOUT, "QMP silent");
}

static void oversized_message_refused(void **state)
{
	struct fixture *f = *state;
	spawn_fake_ok(f, "normal", 10000);
	json_t *reply = NULL;
	assert_int_equal(gw_qmp_execute(f->q, "huge", NULL, &reply, &f->err), -EMSGSIZE);
	expect_error(f, -EMSGSIZE, "longer than");
}

static void hang_up_is_explained(void **state)
{
	struct fixture *f = *state;
	spawn_fake_ok(f, "normal", 5000);
	json_t *reply = NULL;
	assert_int_equal(gw_qmp_execute(f->q, "hang-up", NULL, &reply, &f->err), -ECONNRESET);
	expect_error(f, -ECONNRESET, "exited with status 3");
	/* Later calls fail the same way instead of hanging. */
	assert_true(gw_qmp_execute(f->q, "anything", NULL, &reply, &f->err) < 0);
}

static void start_up_failures(void **state)
{
	struct fixture *f = *state;
	assert_true(spawn_fake(f, "dies-at-start", 5000) < 0);
	assert_null(f->q);
	expect_error(f, -ECHILD, "invalid accelerator bogus");
	uint64_t t0 = gw_now_ns();
	assert_int_equal(spawn_fake(f, "never-connects", 300), -ETIMEDOUT);
	assert_true(gw_now_ns() - t0 < 3000000000ull);
	expect_error(f, -ETIMEDOUT, "did not connect");
	assert_int_equal(spawn_fake(f, "bad-greeting", 2000), -EPROTO);
	expect_error(f, -EPROTO, "greeting");
}

static void close_kills_a_qemu_that_stays(void **state)
{
	struct fixture *f = *state;
	spawn_fake_ok(f, "ignores-quit", 5000);
	pid_t pid = gw_qmp_pid(f->q);
	assert_int_equal(gw_qmp_close(f->q, &f->err), -ETIMEDOUT);
	f->q = NULL;
	expect_error(f, -ETIMEDOUT, "killed");
	assert_int_equal(kill(pid, 0), -1);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "--fake-qmp"))
		return fake_qemu(argv[2], argc >= 5 ? argv[4] : "");
	self_exe = "/proc/self/exe";
	static char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = '\0';
		self_exe = path;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(greeting_and_version, setup, teardown),
		cmocka_unit_test_setup_teardown(events_are_queued_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(replies_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(silence_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_message_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(hang_up_is_explained, setup, teardown),
		cmocka_unit_test_setup_teardown(start_up_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(close_kills_a_qemu_that_stays, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
