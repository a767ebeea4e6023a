#!/usr/bin/env python3
"""Migrates the workload guest (docs/guests.md) from one local QEMU to
another, again and again, and reports every run whose target finds a
corrupt page: a stress test of QEMU's pre-copy migration, not part of
`meson test` (it takes minutes and hunts for rare events).

    tools/guest-migrate-stress.py [--runs N] [--rate PAGES_S] [--memory MIB]
        [--bandwidth BYTES_S] [--elf PATH] [--keep DIR] [--qemu BINARY]
        [--accel tcg|tcg,thread=single|kvm]

Each run: boot the source (TCG unless --accel says otherwise), wait for `ready` plus a second of
dirtying, migrate to a target started with -incoming, then read the
target's console until it has printed two status lines (or 30 s). A run is
bad when the target prints CORRUPT or a status line with corrupt > 0, or
never prints a status line. Consoles of bad runs are kept under --keep.
Prints one line per run and a summary; exits 1 if any run was bad."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from godwit_qmp import Qmp


def start(opts, workdir, name, incoming):
    argv = [opts.qemu, "-accel", opts.accel, "-m", str(opts.memory), "-nodefaults",
            "-display", "none", "-kernel", opts.elf, "-append", f"rate={opts.rate}",
            "-serial", f"file:{workdir}/{name}.log",
            "-qmp", f"unix:{workdir}/{name}.qmp,server=on,wait=off"]
    if incoming:
        argv += ["-incoming", "defer"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    return proc, Qmp(f"{workdir}/{name}.qmp")


def console(workdir, name):
    try:
        with open(f"{workdir}/{name}.log", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(pred, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def one_run(opts, workdir):
    src = dst = None
    try:
        src, src_qmp = start(opts, workdir, "src", False)
        dst, dst_qmp = start(opts, workdir, "dst", True)
        if not wait_for(lambda: "godwit-workload: t=" in console(workdir, "src"), 60):
            return "no status on the source", {}
        dst_qmp.cmd("migrate-incoming", {"uri": f"unix:{workdir}/migration.sock"})
        src_qmp.cmd("migrate-set-parameters", {"max-bandwidth": opts.bandwidth})
        src_qmp.cmd("migrate", {"uri": f"unix:{workdir}/migration.sock"})
        info = {}
        ok = wait_for(lambda: info.update(src_qmp.cmd("query-migrate")) or
                      info.get("status") in ("completed", "failed", "cancelled"), 300)
        if not ok or info.get("status") != "completed":
            return f"migration {info.get('status', 'timed out')}", info
        status_lines = lambda: [l for l in console(workdir, "dst").splitlines()
                                if l.startswith("godwit-workload: t=")]
        wait_for(lambda: len(status_lines()) >= 2, 30)
        text = console(workdir, "dst")
        lines = status_lines()
        if "CORRUPT" in text or any("corrupt=0" not in l for l in lines):
            return "CORRUPT on the target", info
        if not lines:
            return "no status on the target", info
        return None, info
    finally:
        for p in (src, dst):
            if p:
                p.kill()
                p.wait()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rate", default="30000", help="the guest's rate= (pages/s, 0 = max)")
    ap.add_argument("--memory", type=int, default=128, help="guest RAM, MiB")
    ap.add_argument("--bandwidth", type=int, default=1 << 30, help="max-bandwidth, bytes/s")
    ap.add_argument("--elf", default=os.path.join(here, "..", "build", "guest", "workload",
                                                  "godwit-workload.elf"))
    ap.add_argument("--accel", default="tcg", help="QEMU's -accel for both sides")
    ap.add_argument("--qemu", default=os.environ.get("GODWIT_QEMU") or "qemu-system-x86_64")
    ap.add_argument("--keep", default="guest-stress-failures",
                    help="directory for the consoles of bad runs")
    opts = ap.parse_args()
    if not os.path.exists(opts.elf):
        sys.exit(f"{opts.elf}: not built (ninja -C build)")
    bad = 0
    for run in range(opts.runs):
        workdir = tempfile.mkdtemp(prefix="godwit-stress-")
        try:
            problem, info = one_run(opts, workdir)
            ram = info.get("ram", {})
            print(f"run {run}: {problem or 'ok'}; rounds={ram.get('dirty-sync-count')} "
                  f"total_ms={info.get('total-time')} downtime_ms={info.get('downtime')}",
                  flush=True)
            if problem:
                bad += 1
                keep = os.path.join(opts.keep, f"run-{run}")
                os.makedirs(keep, exist_ok=True)
                for name in ("src.log", "dst.log"):
                    if os.path.exists(os.path.join(workdir, name)):
                        shutil.copy(os.path.join(workdir, name), keep)
                print(f"  consoles kept in {keep}", flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{bad} of {opts.runs} runs bad (accel {opts.accel}, rate={opts.rate}, {opts.memory} MiB, "
          f"bandwidth {opts.bandwidth} B/s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
