/* SPDX-License-Identifier: Apache-2.0 */
/* Talking to QEMU: start a QEMU process and hold a QMP connection to it.
 * Knows nothing of CPUs, VMs or migrations; those modules build on the
 * client (execute commands, wait for events, close). Only util is used. */
#ifndef GODWIT_QEMU_H
#define GODWIT_QEMU_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "godwit/util.h"

/* Every wait on QEMU (greeting, a reply, an event, its exit) is bounded. */
#define GW_QMP_DEFAULT_TIMEOUT_MS 10000
/* A QMP message larger than this is refused (QEMU's largest replies, e.g.
 * query-cpu-definitions, are well under 1 MiB). */
#define GW_QMP_MAX_MESSAGE_BYTES (16u << 20)

struct gw_qmp;

/* Starts argv[0] with argv[1..] (NULL-terminated) plus a QMP monitor on a
 * private socket, reads the greeting and negotiates capabilities. The
 * caller chooses the rest (`-machine none -accel tcg -nodefaults
 * -nographic -S`, ...). QEMU's stdin and stdout are /dev/null; its stderr
 * is kept and quoted in errors when it fails to start. QEMU is killed if
 * the calling thread ends (PR_SET_PDEATHSIG follows the thread, not the
 * process): spawn long-lived QEMUs from a thread that outlives them.
 * timeout_ms bounds start-up and each later read (0 =
 * GW_QMP_DEFAULT_TIMEOUT_MS). Not thread-safe: one user at a time. */
int gw_qmp_spawn(const char *const *argv, int timeout_ms, struct gw_qmp **out, struct gw_err **err);

/* Connects to the QMP server socket of a QEMU that is already running and
 * not our child (a VM started detached, found again after an agent
 * restart): `-qmp unix:PATH,server=on,wait=off`. pid (or 0 if unknown) is
 * watched while connecting, so a QEMU that dies is noticed at once, and
 * is the process gw_qmp_close() stops. log_path (may be NULL) is QEMU's
 * stderr, quoted in errors. Retries a missing or refusing socket until
 * timeout_ms. QEMU serves one QMP client at a time: a second connection
 * waits for the first to close and then times out here. */
int gw_qmp_connect(const char *sock_path, pid_t pid, const char *log_path, int timeout_ms,
		   struct gw_qmp **out, struct gw_err **err);

/* Closes the connection and frees q, leaving a QEMU reached through
 * gw_qmp_connect() running (a spawned one is killed: it never outlives its
 * client). NULL is accepted. */
void gw_qmp_disconnect(struct gw_qmp *q);

/* True while q's QEMU process exists (not a zombie). */
bool gw_qmp_alive(struct gw_qmp *q);
/* True while process pid exists and is not a zombie. */
bool gw_qemu_process_alive(pid_t pid);

/* Runs a command and waits for its reply, queueing any events that arrive
 * meanwhile. args may be NULL (borrowed). On success *reply holds a new
 * reference to the "return" value; a QMP error becomes -EREMOTEIO with
 * QEMU's class and description. */
int gw_qmp_execute(struct gw_qmp *q, const char *command, json_t *args, json_t **reply,
		   struct gw_err **err);
/* Same, with the arguments as JSON text (e.g. "{\"type\":\"full\"}"), or NULL. */
int gw_qmp_execute_text(struct gw_qmp *q, const char *command, const char *args_json,
			json_t **reply, struct gw_err **err);

/* The next event named `name` (any event if NULL), oldest first, waiting
 * at most timeout_ms (0 = the connection's timeout). Events of other names
 * stay queued. -ETIMEDOUT when none arrives. *event is a new reference to
 * the whole message ({"event","data","timestamp"}). */
int gw_qmp_wait_event(struct gw_qmp *q, const char *name, int timeout_ms, json_t **event,
		      struct gw_err **err);

/* QEMU's version from the greeting, e.g. "10.0.2" (borrowed). */
const char *gw_qmp_version(const struct gw_qmp *q);
pid_t gw_qmp_pid(const struct gw_qmp *q);
void gw_qmp_set_timeout(struct gw_qmp *q, int timeout_ms);

/* Asks QEMU to quit, waits a bounded time, then SIGKILLs it; always reaps
 * the process and removes the private directory. Returns 0 when QEMU quit
 * by itself, or a negative errno (the process is gone either way). NULL is
 * accepted. */
int gw_qmp_close(struct gw_qmp *q, struct gw_err **err);
void gw_qmp_closep(struct gw_qmp **q);
#define _cleanup_qmp_ _cleanup_(gw_qmp_closep)

#endif
