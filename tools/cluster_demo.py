#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The cluster demo (`./tools/demo.sh`): a Godwit control plane on SQLite,
three node agents on loopback addresses with CPU profiles of three Intel
generations, and a real QEMU guest that migrates between them.

The story of the two source articles on a common CPU model: a host-model VM
migrates once, then cannot reach the node whose CPU lacks a feature it was
started with (`godwit explain` names it); restarted with the recommended
common model, it migrates anywhere.

Every step checks its outcome; the script exits 1 at the first one that
does not turn out as told (the e2e test `e2e_story` runs it so). It stops
everything it started when done, on failure, and on Ctrl-C / SIGTERM.

Usage: cluster_demo.py --godwit BIN --workload ELF [--workdir DIR]
                       [--addresses A,B,C | random] [--keep]"""
import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import cluster as C  # noqa: E402

# Nodes A and B share everything a host-model guest started on A needs (Ice
# Lake has all of Cascade Lake's features); C, a Skylake, lacks avx512vnni,
# ibrs-all and rdctl-no, which Cascade Lake's host-model asks for.
NODES = [
    ("node-a", "clx-platinum-8268", "Cascade Lake (Xeon Platinum 8268)", "8Gi"),
    ("node-b", "icx-ice-lake-server", "Ice Lake (Xeon, Ice Lake server)", "4Gi"),
    ("node-c", "skx-gold-6130", "Skylake (Xeon Gold 6130)", "4Gi"),
]
VM = "demo-vm"


class StoryFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def step(n, title):
    say()
    say("== %d. %s" % (n, title))


def expect(cond, what):
    if not cond:
        raise StoryFailed(what)


def run(cl, *args, show=True, check=True):
    """godwit ARGS against the cluster, echoed as the reader would type it."""
    if show:
        say("   $ godwit " + " ".join(args))
    rc, out, err = cl.cli(*args, check=check)
    return rc, out, err


def guest_says(cl, node):
    lines = C.status_lines(cl.serial_text(VM, node))
    if not lines:
        return "no status line yet"
    s = lines[-1]
    return "t=%ds pass=%d checked=%d dirtied=%d corrupt=%d" % (s["t"], s["pass"], s["checked"],
                                                                s["dirtied"], s["corrupt"])


def wait_guest(cl, node, after_t=-1, timeout=60):
    def newer():
        lines = C.status_lines(cl.serial_text(VM, node))
        return lines if lines and lines[-1]["t"] > after_t else None
    return C.wait_for("guest status on %s" % node, newer, timeout)


def godwit_migrate(cl, target):
    """godwit migrate VM --selector kubernetes.io/hostname=TARGET; returns
    the VMIM's name."""
    _, out, _ = run(cl, "migrate", VM, "--selector", "kubernetes.io/hostname=" + target)
    say("   " + out.strip())
    m = re.match(r"virtualmachineinstancemigrations/(\S+) created", out.strip())
    expect(m, "godwit migrate said: %s" % out.strip())
    return m.group(1)


def migrate_with_progress(cl, target):
    """Creates the VMIM and prints the agent's progress every 0.5 s."""
    src_lines = C.status_lines(cl.serial_text(VM, cl.get("vmi", VM)["status"]["nodeName"]))
    name = godwit_migrate(cl, target)
    say("   progress as the source agent reports it:")
    t0 = time.monotonic()
    last, last_phase, phase = None, None, None
    deadline = t0 + 120
    while time.monotonic() < deadline:
        m = cl.get("vmim", name)
        vmi = cl.get("vmi", VM)
        phase = C.dig(m, "status.phase")
        ms = C.dig(vmi, "status.migrationState") or {}
        p = ms.get("godwitProgress") if ms.get("migrationUid") == C.dig(m, "metadata.uid") else None
        p = p if p and p.get("polls") else None
        if p and (last is None or p.get("updated") != last.get("updated")):
            # The agent updates the numbers about once a second; the rate
            # is between two of its updates, by its own clock.
            sent = p.get("transferredBytes") or 0
            rate = ""
            t_now, t_last = C.parse_time(p.get("updated")), C.parse_time((last or {}).get("updated"))
            if last and t_now and t_last and t_now > t_last:
                rate = "  at %5.1f MiB/s" % ((sent - (last.get("transferredBytes") or 0)) / (t_now - t_last) / C.MIB)
            dirty = p.get("dirtyRateBytesPerSecond") or 0
            say("   %5.1fs  %-9s %-8s sent %9s  remaining %9s of %s%s%s" % (
                time.monotonic() - t0, phase, ms.get("mode") or "-", C.fmt_bytes(sent),
                C.fmt_bytes(p.get("remainingBytes")), C.fmt_bytes(p.get("totalBytes")), rate,
                "  guest dirtying %s/s" % C.fmt_bytes(dirty) if dirty else ""))
            last = p
        elif not p and phase != last_phase:
            say("   %5.1fs  %s" % (time.monotonic() - t0, phase or "(new)"))
        last_phase = phase
        if phase in C.FINAL_VMIM:
            break
        time.sleep(0.5)
    m = cl.get("vmim", name)
    ms = C.dig(m, "status.migrationState") or {}
    expect(C.dig(m, "status.phase") == "Succeeded", "migration to %s: %s (%s)" % (
        target, C.dig(m, "status.phase"), ms.get("failureReason")))
    vmi = cl.get("vmi", VM)
    expect(vmi["status"]["nodeName"] == target, "VMI not on %s after the migration" % target)
    took = ""
    start, end = C.parse_time(ms.get("startTimestamp")), C.parse_time(ms.get("endTimestamp"))
    if start and end:
        took = " in %.1f s" % (end - start)
    say("   migrated to %s%s (mode %s)." % (target, took, ms.get("mode") or "PreCopy"))
    last_t = src_lines[-1]["t"] if src_lines else -1
    lines = wait_guest(cl, target, last_t)
    expect(all(s["corrupt"] == 0 for s in lines), "the guest found corrupt pages on %s" % target)
    say("   the guest carries on there, checking its memory: %s" % guest_says(cl, target))
    return m


def explain(cl, *args):
    """godwit explain VM ARGS --server URL (the token from the environment).
    Returns (the command as shown, its output)."""
    cmd = ["explain", VM, *args, "--server", cl.url]
    return " ".join(cmd), cl.cli(*cmd)[1]


def story(cl, args):
    profiles = {name: os.path.join(ROOT, "data", "hosts", prof + ".json") for name, prof, _, _ in NODES}

    step(1, "A control plane and three nodes of three CPU generations")
    say("   godwit server on %s, its store a SQLite file in %s" % (cl.url, os.path.join(cl.dir, "server")))
    for name, prof, desc, _ in NODES:
        a = cl.agent(name)
        say("   %s  agent on %-15s %s, labelled from data/hosts/%s.json" % (name, a.address, desc, prof))
    say("   The guests run under QEMU's emulator (TCG): the profiles describe other machines.")
    say("   " + run(cl, "get", "nodes")[1].rstrip().replace("\n", "\n   "))
    cl.set_migrations(bandwidthPerMigration="32Mi")
    say("   Migrations are capped at 32 MiB/s (KubeVirt CR, bandwidthPerMigration) so you can watch them.")

    step(2, "A VM with CPU model host-model starts on node-a")
    # A gentle dirty rate: the longer pre-copy runs after its first pass,
    # the likelier QEMU's TCG leaves a stale page behind (docs/demo.md).
    cl.create(C.workload_vm(VM, args.workload, 128, "rate=100", cpu_model="host-model"))
    say("   VirtualMachine %s: 128 MiB, the workload guest (it rewrites 100 pages/s and checks every page)." % VM)
    vmi = cl.wait_running(VM, timeout=90)
    expect(vmi["status"]["nodeName"] == "node-a", "placed on %s, not node-a" % vmi["status"]["nodeName"])
    cpu = C.dig(vmi, "status.godwit.cpu") or {}
    say("   Running on node-a; host-model resolved there as: %s" % (cpu.get("qemu") or cpu.get("model")))
    wait_guest(cl, "node-a")
    say("   guest: %s" % guest_says(cl, "node-a"))

    step(3, "Live migration to node-b (Ice Lake has every feature of Cascade Lake)")
    migrate_with_progress(cl, "node-b")

    step(4, "Can it go on to node-c?")
    shown, out = explain(cl, "--node", "node-c")
    say("   $ godwit " + shown)
    shown, reasons = False, []
    for line in out.splitlines():
        if line.startswith("Nodes"):
            shown = True
        if line.startswith("Fixes"):
            break
        if shown and line.strip():
            if "NodeSelectorMismatch" in line:
                reasons.append(line)
                if len(reasons) > 3:
                    continue
            elif len(reasons) > 3:
                say("   %s... and %d more like these" % (" " * 6, len(reasons) - 3))
                reasons = reasons[:3]
            say("   " + line)
    _, out_json = explain(cl, "-o", "json")
    doc = json.loads(out_json)
    node_c = next(n for n in doc["nodes"] if n["name"] == "node-c")
    missing = [r["subject"].rsplit("/", 1)[-1] for r in node_c["reasons"]]
    expect(not node_c["eligible"] and missing, "explain says node-c is eligible")
    here = doc["vm"]["node"]
    say("   No: a host-model VM may only move to nodes that have the CPU model and every feature")
    say("   its current host (%s) offers it (selectors from %s); node-c's CPU lacks" % (here, doc["vm"].get(
        "selectorSource", "the source node's labels")))
    for line in textwrap.wrap(", ".join(missing) + ".", 96):
        say("   " + line)
    say("   So it cannot go to node-c (seed 000: the node selectors of a host-model VM).")
    node_a = next(n for n in doc["nodes"] if n["name"] == "node-a")
    if here != "node-a" and not node_a["eligible"]:
        say("   Nor back to node-a, where it started: node-a lacks %d features of node-b's host model." %
            len(node_a["reasons"]))
    name = godwit_migrate(cl, "node-c")

    def unschedulable():
        m = cl.get("vmim", name)
        for c in C.dig(m, "status.conditions", []):
            if c.get("type") == "TargetScheduled" and c.get("status") == "False":
                return c
        return None
    cond = C.wait_for("the controller's verdict on node-c", unschedulable, 30)
    msg = cond.get("message") or ""
    verdict = msg[msg.find("node-c:"):] if "node-c:" in msg else msg
    verdict = verdict.split("; node-")[0]
    parts = verdict.split(", NodeSelectorMismatch")
    say("   The migration controller agrees (VMIM %s, TargetScheduled=False):" % name)
    say("     %s%s" % (parts[0], " (and %d more)" % (len(parts) - 1) if len(parts) > 1 else ""))
    cl.cli("migrate-cancel", VM)

    def cancelled():
        m = cl.try_get("vmim", name)   # gone once its finalizer is done
        return m is None or C.dig(m, "status.phase") in C.FINAL_VMIM
    C.wait_for("VMIM %s cancelled" % name, cancelled, 30)
    say("   $ godwit migrate-cancel %s   (cancelled)" % VM)

    step(5, "The recommended common CPU model")
    fix = next((f for f in doc.get("fixes", []) if f.get("fix") == "common-model"), None)
    expect(fix and fix.get("model"), "explain offers no common-model fix")
    model = fix["model"]
    _, rep, _ = run(cl, "check", "--server", cl.url, "-o", "json", show=False)
    rec = json.loads(rep)["cluster"]["recommendedCpuModel"] or {}
    say("   $ godwit check --server %s  ->  recommended cluster CPU model: %s" % (cl.url, rec.get("model")))
    expect(rec.get("model") == model, "check (%s) and explain (%s) disagree" % (rec.get("model"), model))
    _, bl, _ = cl.cli("cpu", "baseline", *sum((["--profile", p] for p in profiles.values()), []), "-o", "json")
    bl = json.loads(bl)
    say("   $ godwit explain %s  ->  fix: set a common CPU model: %s (frees %s)" % (
        VM, model, ", ".join(fix.get("frees") or [])))
    say("   $ godwit cpu baseline --profile <node-a> --profile <node-b> --profile <node-c>")
    say("   recommended model: %s (%s)" % (bl["recommended"], bl["reason"].split(".")[0]))
    expect(bl["recommended"] == model, "baseline (%s) and explain (%s) disagree" % (bl["recommended"], model))
    say("   With it, a VM needs only cpu-model.node.kubevirt.io/%s, which all three nodes have (seed 004:" % model)
    say("   reboot with a common CPU model, the recommended approach when a restart is acceptable).")

    step(6, "Restart the VM with CPU model %s" % model)
    old_uid = cl.get("vmi", VM)["metadata"]["uid"]
    cl.patch("vm", VM, {"spec": {"template": {"spec": {"domain": {"cpu": {"model": model}}}}}})
    cl.patch("vm", VM, {"metadata": {"annotations": {"godwit.io/restart": str(int(time.time()))}}})
    say("   spec.template.spec.domain.cpu.model = %s, annotation godwit.io/restart (a restart)" % model)
    vmi = cl.wait_vmi(VM, lambda v: v["metadata"]["uid"] != old_uid and C.dig(v, "status.phase") == "Running",
                      "restarted and Running", timeout=90)
    node = vmi["status"]["nodeName"]
    say("   Running again on %s with -cpu %s" % (node, (C.dig(vmi, "status.godwit.cpu") or {}).get("qemu", model)))
    wait_guest(cl, node)
    _, out_json = explain(cl, "-o", "json")
    eligible = json.loads(out_json)["eligibleNodes"]
    say("   $ godwit explain %s: eligible targets now %s" % (VM, ", ".join(eligible)))
    expect(set(eligible) == {n for n, _, _, _ in NODES} - {node}, "not every other node is eligible")

    step(7, "Live migration to node-c, and back")
    first = "node-c" if node != "node-c" else "node-a"
    migrate_with_progress(cl, first)
    back = node if node != first else "node-b"
    migrate_with_progress(cl, back)

    step(8, "Done")
    say("   The host-model VM was pinned to nodes like its first host; with the common model %s" % model)
    say("   it moved freely across all three generations, its memory intact.")


def main():
    ap = argparse.ArgumentParser(description="Godwit cluster demo")
    ap.add_argument("--godwit", default=os.path.join(ROOT, "build", "godwit"))
    ap.add_argument("--workload", default=os.path.join(ROOT, "build", "guest", "workload",
                                                       "godwit-workload.elf"))
    ap.add_argument("--workdir", help="where the demo's temporary directory goes (default $TMPDIR)")
    ap.add_argument("--addresses", default="127.0.0.11,127.0.0.12,127.0.0.13",
                    help="the agents' loopback addresses, or 'random'")
    ap.add_argument("--keep", action="store_true", help="keep the directory (logs, serial consoles)")
    args = ap.parse_args()
    addresses = [None] * 3 if args.addresses == "random" else args.addresses.split(",")
    say("Godwit cluster demo: a server, three node agents, a real QEMU guest (about 30 s under TCG).")
    t0 = time.monotonic()
    cl = None
    try:
        cl = C.Cluster(args.godwit, [(n, addr, os.path.join(ROOT, "data", "hosts", p + ".json"), mem)
                                     for (n, p, _, mem), addr in zip(NODES, addresses)],
                       log=lambda m: say("   (%s)" % m), keep=args.keep, parent=args.workdir)
        story(cl, args)
    except SystemExit:
        say()
        say("demo: interrupted")
        raise
    except (StoryFailed, C.Timeout, C.ApiError, RuntimeError) as e:
        say()
        say("demo: FAILED: %s" % e)
        if cl:
            cl.dump_logs(15)
        return 1
    finally:
        if cl:
            say()
            say("Stopping the VM, the agents and the server...")
            cl.close()
    say("demo: done in %.0f s. More: docs/demo.md, docs/cli.md." % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
