#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests with real processes (TAP): `godwit server` on SQLite,
`godwit node` agents on loopback addresses and the workload guest
(guest/workload) under QEMU, migrated by the controllers and the agents.

Usage: test_e2e.py GODWIT WORKLOAD_ELF CASE   (cases: see CASES below)

Every case builds its own cluster in a fresh temporary directory, waits
with timeouts only, and tears everything down at exit, also on failure or
on SIGTERM (meson's timeout). GODWIT_E2E_KEEP=1 keeps the directory."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as C  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from godwit_qmp import Qmp  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HOSTS = os.path.join(ROOT, "data", "hosts")
# A named model every profile below can run (and QEMU 7.2's TCG starts it,
# warning about the features it cannot emulate).
MODEL = "Skylake-Server"

results = []


def ok(cond, name, detail=""):
    results.append(bool(cond))
    print("%s %d - %s" % ("ok" if cond else "not ok", len(results), name))
    if not cond and detail:
        for line in str(detail).splitlines()[:30]:
            print("#   " + line)
    sys.stdout.flush()
    return bool(cond)


def note(msg):
    print("# " + msg, flush=True)


def require(cond, name, detail=""):
    """An assertion the rest of the case depends on."""
    if not ok(cond, name, detail):
        raise AssertionError(name)


def profile(name):
    return os.path.join(HOSTS, name + ".json")


class Progress(threading.Thread):
    """Polls a VMI every 0.25 s during a migration and keeps what the
    source agent reported (modes, bytes, dirty rate) and the source's
    serial console."""

    def __init__(self, cl, vmi, source="node-a"):
        super().__init__(daemon=True)
        self.cl, self.vmi, self.source = cl, vmi, source
        self.source_text = ""
        self.modes = set()
        self.max_transferred = 0
        self.max_dirty = 0
        self.samples = 0
        self.stop_flag = False

    def run(self):
        while not self.stop_flag:
            try:
                v = self.cl.try_get("vmi", self.vmi)
            except Exception:
                v = None
            ms = C.dig(v or {}, "status.migrationState") or {}
            if ms.get("mode"):
                self.modes.add(ms["mode"])
            p = ms.get("godwitProgress") or {}
            if p:
                self.samples += 1
                self.max_transferred = max(self.max_transferred, p.get("transferredBytes") or 0)
                self.max_dirty = max(self.max_dirty, p.get("dirtyRateBytesPerSecond") or 0)
            # The source's console, while it exists: the agent may remove
            # the source's directory once the VM has left.
            text = self.cl.serial_text(self.vmi, self.source)
            if len(text) >= len(self.source_text):
                self.source_text = text
            time.sleep(0.25)

    def stop(self):
        self.stop_flag = True
        self.join(2)


def start_vm(cl, name, elf, memory_mib, args, model=MODEL, timeout=90, vm=False):
    cl.create(C.workload_vm(name, elf, memory_mib, args, cpu_model=model, vm=vm))
    v = cl.wait_running(name, timeout=timeout)
    node = v["status"]["nodeName"]
    C.wait_for("%s: guest ready on %s" % (name, node),
               lambda: len(C.status_lines(cl.serial_text(name, node))) >= 1, 60)
    return v


def wait_guest_progress(cl, name, node, after_t, count=1, timeout=60):
    """The guest on node printed `count` status lines newer than t=after_t;
    returns all its status lines."""
    def newer():
        lines = C.status_lines(cl.serial_text(name, node))
        return lines if len([s for s in lines if s["t"] > after_t]) >= count else None
    return C.wait_for("%s on %s: %d status line(s) after t=%d" % (name, node, count, after_t),
                      newer, timeout)


def check_continued(cl, name, dst, src_lines, passes=2):
    """After a migration: the target's checker carries on from the
    source's counters, does `passes` more full passes, finds nothing
    corrupt."""
    require(src_lines, "the source's console was read during the migration")
    last = src_lines[-1]

    def enough():
        lines = C.status_lines(cl.serial_text(name, dst))
        return lines if lines and lines[-1]["pass"] >= lines[0]["pass"] + passes else None
    dst_lines = C.wait_for("%s on %s: %d more passes" % (name, dst, passes), enough, 90)
    text = cl.serial_text(name, dst)
    first = dst_lines[0]
    # A correct migration carries the checker on: its first line on the
    # target is newer than the source's last. QEMU 7.2's TCG does not
    # always re-send a page the guest keeps writing once pre-copy has
    # made a full pass (docs/demo.md, "Known problems": reproduced with
    # QEMU alone), so the counters may resume up to a second behind when
    # the migration converges soon after its first pass; more than that
    # fails.
    if first["t"] <= last["t"]:
        note("the target's first status line (t=%d) is not newer than the source's last (t=%d): it "
             "resumed from an older state, the known QEMU TCG stale-page problem" % (first["t"], last["t"]))
    ok(first["t"] >= last["t"] - 1,
       "target continues the source's counters (source t=%d pass=%d, target first t=%d pass=%d)"
       % (last["t"], last["pass"], first["t"], first["pass"]))
    ok("godwit-workload: start" not in text, "the target did not boot the guest afresh", text[:400])
    ok(all(s["corrupt"] == 0 for s in dst_lines) and "CORRUPT" not in text,
       "no corrupt page on the target (%d status lines, last %s)" % (len(dst_lines), dst_lines[-1]),
       text[-1500:])
    return dst_lines


def migrated_state(vmim):
    return C.dig(vmim, "status.migrationState") or {}


# ---------------------------------------------------------------- cases
def case_integrity(godwit, elf):
    """Memory integrity: the guest dirties 2000 pages/s during a pre-copy
    migration; the target's checker finds no corrupt page. 64 MiB/s: the
    first pass over 128 MiB takes ~2 s and the rest ~0.25 s (the shorter
    that rest, the less QEMU's TCG stale-page problem can show)."""
    cl = C.Cluster(godwit, [("node-a", None, profile("clx-platinum-8268"), "8Gi"),
                            ("node-b", None, profile("clx-platinum-8268"), "4Gi")])
    cl.set_migrations(bandwidthPerMigration="64Mi")
    start_vm(cl, "vm-integrity", elf, 128, "rate=2000")
    v = cl.get("vmi", "vm-integrity")
    require(v["status"]["nodeName"] == "node-a", "VM placed on node-a (most free memory)")
    wait_guest_progress(cl, "vm-integrity", "node-a", 1, 1)
    prog = Progress(cl, "vm-integrity")
    prog.start()
    m = cl.migrate("vm-integrity", "node-b")
    vmim = cl.wait_vmim(m, timeout=120)
    prog.stop()
    src_lines = C.status_lines(prog.source_text)
    require(vmim["status"]["phase"] == "Succeeded", "migration succeeded",
            migrated_state(vmim).get("failureReason"))
    v = cl.get("vmi", "vm-integrity")
    ok(v["status"]["nodeName"] == "node-b", "VMI now on node-b")
    note("progress samples %d, max sent %s, max dirty rate %s/s" % (
        prog.samples, C.fmt_bytes(prog.max_transferred), C.fmt_bytes(prog.max_dirty)))
    ok(prog.max_transferred >= 64 * C.MIB, "the agent reported the bytes sent (%s)" %
       C.fmt_bytes(prog.max_transferred))
    check_continued(cl, "vm-integrity", "node-b", src_lines)
    C.wait_for("source QEMU gone", lambda: cl.vm_qemu("vm-integrity", "node-a") is None, 20)
    ok(True, "source QEMU quit after the migration")
    cl.close()


def slow_setup(godwit, bandwidth, **migrations):
    cl = C.Cluster(godwit, [("node-a", None, profile("clx-platinum-8268"), "8Gi"),
                            ("node-b", None, profile("icx-ice-lake-server"), "4Gi")])
    cl.set_migrations(bandwidthPerMigration=bandwidth, **migrations)
    return cl


def case_postcopy(godwit, elf):
    """A dirty rate pre-copy cannot follow (rate=0: the guest rewrites
    ~100,000 pages/s, 16 MiB/s on the wire) with allowPostCopy: at the
    completion deadline (5 s per GiB x 1) the migration switches to
    post-copy and completes, memory intact. The settings come from a
    MigrationPolicy selecting the VMI; the CR says otherwise.

    The switch comes within pre-copy's first pass over the 128 MiB (8 s at
    16 MiB/s): under QEMU 7.2's TCG a switch after a completed pass
    resumes the target from stale pages, with QEMU alone too (docs/demo.md,
    "Known problems")."""
    cl = slow_setup(godwit, "64Mi", completionTimeoutPerGiB=150, allowPostCopy=False)
    # The settings come from a MigrationPolicy, over the CR's.
    cl.set_policy("e2e-postcopy", {"app": "vm-postcopy"}, allowPostCopy=True, completionTimeoutPerGiB=5,
                  bandwidthPerMigration="16Mi")
    start_vm(cl, "vm-postcopy", elf, 128, "rate=0")
    wait_guest_progress(cl, "vm-postcopy", "node-a", 0, 1)
    prog = Progress(cl, "vm-postcopy")
    prog.start()
    t0 = time.monotonic()
    m = cl.migrate("vm-postcopy", "node-b")
    vmim = cl.wait_vmim(m, timeout=120)
    took = time.monotonic() - t0
    prog.stop()
    src_lines = C.status_lines(prog.source_text)
    ms = migrated_state(vmim)
    require(vmim["status"]["phase"] == "Succeeded", "migration succeeded (%.1f s)" % took,
            ms.get("failureReason"))
    conf = ms.get("migrationConfiguration") or {}
    ok(ms.get("migrationPolicyName") == "e2e-postcopy" and conf.get("allowPostCopy") is True and
       conf.get("bandwidthPerMigrationMiBs") == 16 and conf.get("completionTimeoutSeconds") == 5,
       "the policy's settings were handed to the agents", {"policy": ms.get("migrationPolicyName"), **conf})
    ok(ms.get("mode") == "PostCopy", "it switched to post-copy (final mode %s, seen %s)"
       % (ms.get("mode"), sorted(prog.modes)))
    ok(took >= 5, "not before the deadline of 5 s (%.1f s)" % took)
    guest_rate = max((s["rate"] for s in src_lines), default=0) * 4096
    ok(guest_rate > 16 * C.MIB, "the guest dirtied faster than the wire carries (%s/s > 16 MiB/s)"
       % C.fmt_bytes(guest_rate))
    ok(cl.get("vmi", "vm-postcopy")["status"]["nodeName"] == "node-b", "VMI now on node-b")
    check_continued(cl, "vm-postcopy", "node-b", src_lines)
    cl.close()


def case_no_postcopy(godwit, elf):
    """The same migration without post-copy: aborted at the deadline, the
    VM still running on the source, the target's QEMU gone."""
    cl = slow_setup(godwit, "16Mi", completionTimeoutPerGiB=5, allowPostCopy=False)
    start_vm(cl, "vm-nopc", elf, 128, "rate=0")
    wait_guest_progress(cl, "vm-nopc", "node-a", 0, 1)
    t0 = time.monotonic()
    m = cl.migrate("vm-nopc", "node-b")
    vmim = cl.wait_vmim(m, timeout=90)
    took = time.monotonic() - t0
    ms = migrated_state(vmim)
    require(vmim["status"]["phase"] == "Failed", "migration failed (%.1f s)" % took, vmim.get("status"))
    reason = ms.get("failureReason") or ""
    ok("not completed" in reason or "timed out" in reason.lower() or "deadline" in reason.lower(),
       "failed at the completion deadline: %s" % reason)
    ok(ms.get("mode") != "PostCopy", "never switched to post-copy (mode %s)" % ms.get("mode"))
    stayed_on_source(cl, "vm-nopc")
    cl.close()


def stayed_on_source(cl, name):
    """After a failed migration from node-a to node-b: the VMI Running on
    node-a, its QEMU alive there and gone from node-b, the guest running
    on with nothing corrupt."""
    v = cl.get("vmi", name)
    ok(v["status"]["nodeName"] == "node-a" and v["status"]["phase"] == "Running",
       "VMI still Running on node-a", v["status"])
    ok(cl.vm_qemu(name, "node-a") is not None, "source QEMU alive")
    C.wait_for("target QEMU gone", lambda: cl.vm_qemu(name, "node-b") is None, 20)
    ok(True, "target QEMU gone")
    t = C.status_lines(cl.serial_text(name, "node-a"))[-1]["t"]
    lines = wait_guest_progress(cl, name, "node-a", t, 2)
    ok(all(s["corrupt"] == 0 for s in lines), "the guest runs on in the source, nothing corrupt")


def start_slow_migration(cl, name, elf, args, min_sent=4 * C.MIB):
    start_vm(cl, name, elf, 128, args)
    wait_guest_progress(cl, name, "node-a", 0, 1)
    m = cl.migrate(name, "node-b")
    cl.wait_vmim(m, phases=("Running",) + C.FINAL_VMIM, timeout=60)

    def sent():
        v = cl.get("vmi", name)
        p = C.dig(v, "status.migrationState.godwitProgress") or {}
        return v if (p.get("transferredBytes") or 0) >= min_sent else None
    C.wait_for("%s: %s sent" % (name, C.fmt_bytes(min_sent)), sent, 60)
    return m


def case_abort_running(godwit, elf):
    """Abort in the Running phase (`godwit migrate-cancel`): the VMIM ends
    Failed (Aborted), the VM stays on the source and runs on."""
    cl = slow_setup(godwit, "8Mi")
    m = start_slow_migration(cl, "vm-abort", elf, "rate=0")
    require(cl.vmim(m)["status"]["phase"] == "Running", "migration in phase Running")
    rc, out, _ = cl.cli("migrate-cancel", "vm-abort")
    ok("cancel requested" in out, "godwit migrate-cancel: " + out.strip())
    vmim = cl.wait_vmim(m, timeout=60)
    ms = migrated_state(vmim)
    require(vmim["status"]["phase"] == "Failed", "VMIM Failed")
    conds = {c.get("type"): c for c in C.dig(vmim, "status.conditions", [])}
    ok(conds.get("migrationAbortRequested", {}).get("status") == "True",
       "condition migrationAbortRequested=True", conds)
    ok(ms.get("abortStatus") == "Succeeded" and ms.get("abortRequested") is True,
       "migrationState: abortRequested, abortStatus Succeeded", ms)
    ok("abort" in (ms.get("failureReason") or "").lower(), "failureReason: %s" % ms.get("failureReason"))
    stayed_on_source(cl, "vm-abort")
    cl.close()


def case_target_killed(godwit, elf):
    """The target's QEMU SIGKILLed mid-flight: the migration fails saying
    so, the VM runs on at the source."""
    cl = slow_setup(godwit, "8Mi")
    m = start_slow_migration(cl, "vm-tkill", elf, "rate=1000")
    target = cl.vm_qemu("vm-tkill", "node-b")
    require(target is not None, "target QEMU found by its pid file on node-b")
    os.kill(target[0], signal.SIGKILL)
    note("killed target QEMU %d" % target[0])
    vmim = cl.wait_vmim(m, timeout=60)
    ms = migrated_state(vmim)
    require(vmim["status"]["phase"] == "Failed", "VMIM Failed", vmim.get("status"))
    ok(ms.get("failureReason"), "failureReason: %s" % ms.get("failureReason"))
    stayed_on_source(cl, "vm-tkill")
    cl.close()


def case_agent_restart(godwit, elf):
    """SIGTERM the source agent mid-migration, start it again: it adopts the
    running migration, which completes; memory intact. 128 MiB at 24 MiB/s:
    the first pass takes ~5 s, time enough to restart the agent within it.
    The guest verifies without dirtying (rate=none), so the migration ends
    right after that pass: the longer the time between pre-copy's first
    pass and its end, the likelier QEMU's TCG leaves a stale stack page and
    the guest dies on the target (docs/demo.md, "Known problems")."""
    cl = slow_setup(godwit, "24Mi")
    m = start_slow_migration(cl, "vm-restart", elf, "rate=none", min_sent=2 * C.MIB)
    prog = Progress(cl, "vm-restart")
    prog.start()
    src_pid = cl.vm_qemu("vm-restart", "node-a")
    agent = cl.agent("node-a")
    rc = agent.stop(signal.SIGTERM)
    ok(rc == 0, "source agent exited 0 on SIGTERM (exit %s)" % rc)
    ok(src_pid is not None and C.pid_alive(src_pid[0]), "the source QEMU outlived its agent")
    back_at = time.time()
    agent.start()
    state = C.dig(cl.get("vmi", "vm-restart"), "status.migrationState") or {}
    sent = (state.get("godwitProgress") or {}).get("transferredBytes")
    ok(not state.get("completed") and C.pid_alive(src_pid[0]),
       "the agent came back before the migration was recorded complete (%s sent by then, phase %s)"
       % (C.fmt_bytes(sent), cl.vmim(m)["status"]["phase"]))
    vmim = cl.wait_vmim(m, timeout=120)
    prog.stop()
    ms = migrated_state(vmim)
    src_lines = C.status_lines(prog.source_text)
    require(vmim["status"]["phase"] == "Succeeded", "the restarted agent completed the migration",
            ms.get("failureReason"))
    updated = C.parse_time((ms.get("godwitProgress") or {}).get("updated"))
    ok(updated and updated >= back_at - 1 and ms.get("migrationUid") == C.dig(vmim, "metadata.uid"),
       "the same migration, its progress written by the restarted agent (updated %s)"
       % (ms.get("godwitProgress") or {}).get("updated"))
    ok(cl.get("vmi", "vm-restart")["status"]["nodeName"] == "node-b", "VMI now on node-b")
    check_continued(cl, "vm-restart", "node-b", src_lines)
    C.wait_for("source QEMU gone", lambda: cl.vm_qemu("vm-restart", "node-a") is None, 30)
    ok(True, "source QEMU quit")
    cl.close()


def case_source_silent(godwit, elf):
    """The source agent SIGKILLed mid-migration and silent from then on:
    QEMU completes the pre-copy by itself (128 MiB at 24 MiB/s, rate=none),
    the source waits in postmigrate and the target QEMU paused, never both
    running; once node-a's heartbeat lapses (12 s here) the controller closes
    the migration as failed, node-b's agent drops its target, and the agent
    of node-a, back, resumes the VM where it was, memory intact."""
    cl = C.Cluster(godwit, [("node-a", None, profile("clx-platinum-8268"), "8Gi"),
                            ("node-b", None, profile("icx-ice-lake-server"), "4Gi")],
                   server_args=["--node-heartbeat-timeout", "12"])
    cl.set_migrations(bandwidthPerMigration="24Mi")
    m = start_slow_migration(cl, "vm-silent", elf, "rate=none", min_sent=2 * C.MIB)
    src = cl.vm_qemu("vm-silent", "node-a")
    require(src is not None, "source QEMU found on node-a")
    cl.agent("node-a").stop(signal.SIGKILL)
    ok(C.pid_alive(src[0]), "the source QEMU outlived its agent (SIGKILL)")
    before = C.status_lines(cl.serial_text("vm-silent", "node-a"))

    qmp = Qmp(os.path.join(src[1], "qmp.sock"))
    try:
        def finished():
            st = qmp.cmd("query-migrate").get("status")
            return st if st in ("completed", "failed", "cancelled") else None
        st = C.wait_for("the source QEMU's migration to end", finished, 60)
        status = qmp.cmd("query-status")["status"]
    finally:
        qmp.close()
    ok(st == "completed" and status == "postmigrate",
       "QEMU completed the migration with no agent: source %s (%s)" % (status, st))
    # The guest prints a status line every pass: a target running it
    # would have printed some by now.
    time.sleep(3)
    target = cl.vm_qemu("vm-silent", "node-b")
    ok(cl.vmim(m)["status"]["phase"] == "Running" and target is not None,
       "the VMIM still Running while node-a is silent, the target QEMU alive")
    ok(not C.status_lines(cl.serial_text("vm-silent", "node-b")),
       "the target QEMU holds the VM paused: its serial log has no line from the guest")
    vmim = cl.wait_vmim(m, timeout=60)
    ms = migrated_state(vmim)
    conds = {c.get("type"): c for c in C.dig(vmim, "status.conditions", [])}
    require(vmim["status"]["phase"] == "Failed", "VMIM Failed", vmim.get("status"))
    ok(conds.get("Failed", {}).get("reason") == "SourceNodeUnresponsive",
       "reason SourceNodeUnresponsive: %s" % conds.get("Failed", {}).get("message"))
    C.wait_for("target QEMU gone", lambda: cl.vm_qemu("vm-silent", "node-b") is None, 20)
    v = cl.get("vmi", "vm-silent")
    ok(v["status"]["nodeName"] == "node-a" and C.dig(v, "status.migrationState.failed") is True,
       "VMI still on node-a, its migrationState failed", C.dig(v, "status.migrationState"))

    cl.agent("node-a").start()
    t = before[-1]["t"] if before else 0
    lines = wait_guest_progress(cl, "vm-silent", "node-a", t, 2)
    ok(all(s["corrupt"] == 0 for s in lines), "the agent back, the guest runs on at the source, nothing corrupt")
    v = cl.wait_running("vm-silent")
    ok(v["status"]["nodeName"] == "node-a", "VMI Running on node-a")
    C.wait_for("NodeReady condition cleared", lambda: not any(
        c.get("type") == "NodeReady" for c in C.dig(cl.get("vmi", "vm-silent"), "status.conditions", [])), 30)
    ok(True, "NodeReady condition cleared once node-a's heartbeat is back")
    cl.close()


IN_FLIGHT = ("Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running")


def most_in_flight(events):
    """From a VMIM watch's events: the most migrations in flight
    (Scheduling..Running) at once, per source node and in the cluster."""
    phase, source, per_node, cluster = {}, {}, {}, 0
    for _, typ, o in events:
        name = C.dig(o, "metadata.name")
        phase[name] = C.dig(o, "status.phase") if typ != "DELETED" else None
        source[name] = C.dig(o, "status.sourceNode")
        flying = [n for n, p in phase.items() if p in IN_FLIGHT]
        cluster = max(cluster, len(flying))
        for node in set(source[n] for n in flying):
            per_node[node] = max(per_node.get(node, 0), len([n for n in flying if source[n] == node]))
    return per_node, cluster


def case_drain(godwit, elf):
    """Drain of a node with 6 VMs under limits 5 / 2: all 6 move, never more
    than 2 out of the node at once."""
    cl = C.Cluster(godwit, [("node-a", None, profile("clx-platinum-8268"), "16Gi"),
                            ("node-b", None, profile("icx-ice-lake-server"), "4Gi"),
                            ("node-c", None, profile("skx-gold-6130"), "4Gi")])
    cl.set_migrations(parallelMigrationsPerCluster=5, parallelOutboundMigrationsPerNode=2,
                      bandwidthPerMigration="16Mi")
    names = ["vm-d%d" % i for i in range(6)]
    for n in names:
        # Verifying without dirtying: pre-copy then ends right after its first
        # pass (a dirtying guest died on its target once in ~3 runs: QEMU's
        # TCG stale stack page, docs/demo.md).
        cl.create(C.workload_vm(n, elf, 64, "rate=none", cpu_model=MODEL, vm=False))
    for n in names:
        v = cl.wait_running(n, timeout=120)
        require(v["status"]["nodeName"] == "node-a", "%s Running on node-a" % n, v["status"])
    _, out, _ = cl.cli("drain", "node-a")
    note("godwit drain node-a: " + out.strip())

    def all_moved():
        vs = [cl.get("vmi", n) for n in names]
        return vs if all(C.dig(v, "status.nodeName") not in (None, "node-a") and
                         C.dig(v, "status.phase") == "Running" for v in vs) else None
    vs = C.wait_for("6 VMIs moved off node-a", all_moved, 240, interval=1)
    ok(True, "all 6 VMIs Running off node-a: " + ", ".join(
        "%s->%s" % (v["metadata"]["name"], v["status"]["nodeName"]) for v in vs))
    # The controller records Succeeded shortly after the agent moved the VMI.
    def all_final():
        ms = [m for m in cl.list("vmim") if C.dig(m, "status.sourceNode") == "node-a"]
        return ms if ms and all(C.dig(m, "status.phase") in C.FINAL_VMIM for m in ms) else None
    vmims = C.wait_for("the evacuation migrations final", all_final, 30)
    done = [m for m in vmims if C.dig(m, "status.phase") == "Succeeded"]
    ok(len(done) >= 6, "%d evacuation migrations succeeded (of %d)" % (len(done), len(vmims)))
    ok(all(C.dig(m, "metadata.annotations", {}).get("kubevirt.io/evacuationMigration") == "node-a"
           for m in vmims), "they are evacuation migrations of node-a")
    # Overlaps from the recorded phase times, as a second witness.
    spans = []
    for m in vmims:
        ts = {t["phase"]: C.parse_time(t["phaseTransitionTimestamp"])
              for t in C.dig(m, "status.phaseTransitionTimestamps", [])}
        start = ts.get("Scheduling")
        end = ts.get("Succeeded") or ts.get("Failed")
        if start and end:
            spans.append((start, end))
    most = max((sum(1 for s, e in spans if s <= t < e) for t, _ in spans), default=0)
    time.sleep(1)
    events = cl.vmims.history()
    per_node, in_cluster = most_in_flight(events)
    note("watch: %d events, most in flight from node-a %s, in the cluster %d; from timestamps %d"
         % (len(events), per_node.get("node-a"), in_cluster, most))
    ok(per_node.get("node-a") == 2, "at most 2 outbound from node-a at once, and 2 reached (watch: %s)"
       % per_node.get("node-a"))
    ok(in_cluster <= 5, "at most 5 in the cluster (watch: %d)" % in_cluster)
    ok(most <= 2, "phase timestamps agree: at most %d overlapping" % most)
    node = cl.get("node", "node-a")
    status = C.dig(node, "metadata.annotations", {}).get("godwit.io/drain-status", "")
    ok(status.startswith("Complete"), "node-a drain-status: %s" % status)
    ok(not cl.agent("node-a").qemu_pids(), "no QEMU left on node-a")
    bad = []
    for v in vs:
        name, node = v["metadata"]["name"], v["status"]["nodeName"]
        try:
            wait_guest_progress(cl, name, node, 0, 1, timeout=30)
        except C.Timeout:
            pass
        text = cl.serial_text(name, node)
        lines = C.status_lines(text)
        if not lines or lines[-1]["corrupt"] or "CORRUPT" in text:
            bad.append("%s on %s: %s" % (name, node, lines[-1] if lines else "no status line"))
    ok(not bad, "every guest checks its memory on its new node, nothing corrupt", "\n".join(bad))
    cl.close()


def case_story(godwit, elf):
    """The demo's story, run by the demo itself (tools/cluster_demo.py),
    which exits non-zero when any step does not turn out as told."""
    # Short names: a VM's state directory must leave room for its QMP socket.
    work = C.tempfile.mkdtemp(prefix="gw-story-", dir=os.environ.get("TMPDIR"))
    try:
        argv = [sys.executable, os.path.join(ROOT, "tools", "cluster_demo.py"), "--godwit", godwit,
                "--workload", elf, "--workdir", work, "--addresses", "random"]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out_lines = []
        try:
            for line in p.stdout:
                out_lines.append(line.rstrip("\n"))
            p.wait(timeout=280)
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        out = "\n".join(out_lines)
        failed = [l for l in out_lines if l.startswith("demo: FAILED")]
        ok(p.returncode == 0, "the demo ran its story to the end (exit %s)" % p.returncode,
           "\n".join(failed) + "\n" + out[-3000:])
        for needle, what in (("migrated to node-b", "host-model VM migrated A -> B"),
                             ("cannot go to node-c", "blocked towards node-c, explain says why"),
                             ("avx512vnni", "the missing feature is named"),
                             ("recommended model", "the recommended common model"),
                             ("migrated to node-c", "restarted with it, migrated to node-c"),
                             ("sent ", "progress lines shown")):
            ok(needle in out, what + " (%r in the output)" % needle)
        left = []
        for pidfile in C.glob.glob(os.path.join(work, "**", "qemu.pid"), recursive=True):
            pid = C.read_pid(pidfile)
            if pid and C.pid_alive(pid) and C._names_dir(pid, os.path.dirname(pidfile)):
                left.append(pid)
        ok(not left, "no QEMU left behind by the demo", left)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def processes_naming(path):
    """Pids of live processes whose command line names path."""
    out = []
    for d in C.glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                if path.encode() in f.read() and C.pid_alive(int(d[6:])):
                    out.append(int(d[6:]))
        except (OSError, ValueError):
            pass
    return out


def case_demo_interrupt(godwit, elf):
    """Ctrl-C (SIGINT to the demo's process group) in the middle of its
    first migration: the demo stops everything it started (VM, agents,
    server), in order, and removes its directory."""
    work = C.tempfile.mkdtemp(prefix="gw-int-", dir=os.environ.get("TMPDIR"))
    p = None
    try:
        argv = [sys.executable, os.path.join(ROOT, "tools", "cluster_demo.py"), "--godwit", godwit,
                "--workload", elf, "--workdir", work, "--addresses", "random"]
        # A session of its own, so that the SIGINT below goes to its whole
        # process group, as a Ctrl-C at a terminal does.
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        out = []
        deadline = time.monotonic() + 120
        for line in p.stdout:
            out.append(line.rstrip("\n"))
            if " sent " in line and any(l.startswith("== 3.") for l in out):
                break
            if time.monotonic() > deadline:
                break
        require(any(" sent " in l for l in out), "the demo reached its first migration", "\n".join(out[-20:]))
        qemus = processes_naming(work)
        ok(len(qemus) >= 5, "server, 3 agents and 2 QEMUs running (%d processes)" % len(qemus))
        os.killpg(p.pid, signal.SIGINT)
        rest, _ = p.communicate(timeout=90)
        out += rest.splitlines()
        ok(p.returncode not in (0, None), "the demo exits non-zero when interrupted (exit %s)" % p.returncode)
        ok("demo: interrupted" in out and any(l.startswith("Stopping") for l in out),
           "it says so and stops what it started", "\n".join(out[-10:]))
        ok(not any("cleanup:" in l for l in out), "in order: VMs deleted through the API while the agents "
           "ran, nothing killed as a last resort", "\n".join(l for l in out if "cleanup:" in l))
        left = processes_naming(work)
        ok(not left, "no process of the demo left", left)
        ok(not os.listdir(work), "its directory removed", os.listdir(work))
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        for pid in processes_naming(work):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


CASES = {
    "demo_interrupt": case_demo_interrupt,
    "story": case_story,
    "integrity": case_integrity,
    "postcopy": case_postcopy,
    "no_postcopy": case_no_postcopy,
    "abort_running": case_abort_running,
    "target_killed": case_target_killed,
    "drain": case_drain,
    "agent_restart": case_agent_restart,
    "source_silent": case_source_silent,
}


def skip(reason):
    print("1..0 # SKIP %s" % reason)
    sys.exit(0)


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in CASES:
        print("usage: test_e2e.py GODWIT WORKLOAD_ELF CASE (%s)" % "|".join(CASES), file=sys.stderr)
        return 2
    godwit, elf, case = sys.argv[1:]
    if not shutil.which("qemu-system-x86_64"):
        skip("qemu-system-x86_64 is not installed")
    if not os.path.isfile(elf):
        skip("the workload guest is not built (%s)" % os.path.basename(elf))
    p = subprocess.run([godwit, "node", "--help"], capture_output=True, text=True)
    if p.returncode != 0:
        skip("this build has no node agent (`godwit node --help` exits %d)" % p.returncode)
    t0 = time.monotonic()
    try:
        CASES[case](godwit, elf)
    except BaseException as e:  # also SystemExit from SIGTERM: report, then clean up
        ok(False, "%s: %s: %s" % (case, type(e).__name__, e))
        for cl in list(C._live):
            cl.dump_logs()
    note("%s: %.1f s" % (case, time.monotonic() - t0))
    print("1..%d" % len(results))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
