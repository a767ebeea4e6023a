#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reproduces, with two QEMUs and plain QMP (no Godwit code), the stale page
QEMU 7.2's TCG leaves on a migration target once pre-copy has completed a
pass (docs/demo.md, "Known problems").

The workload guest migrates from one local QEMU to another at a capped
bandwidth, by pre-copy alone or switching to post-copy after S seconds;
then the script compares the source's last status line with the target's
first. A target that carries on prints a newer t=; a stale counters page
makes it print an older (or the same) one.

Usage: tcg-stale-page.py ELF [--mem MIB] [--rate R] [--bandwidth MIB_S]
                         [--postcopy-after S] [--accel tcg]
Exit 0: the target continued; 1: it resumed from an older state (or died)."""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from godwit_qmp import Qmp


def status_lines(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    return [(int(t), int(p)) for t, p in re.findall(r"godwit-workload: t=(\d+) pass=(\d+)", text)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elf")
    ap.add_argument("--mem", type=int, default=128)
    ap.add_argument("--rate", default="1000")
    ap.add_argument("--bandwidth", type=int, default=8, help="MiB/s")
    ap.add_argument("--postcopy-after", type=float, default=0, help="seconds; 0: pre-copy only")
    ap.add_argument("--accel", default="tcg")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="gw-stale-")
    procs = []
    try:
        def qemu(tag, incoming):
            argv = ["qemu-system-x86_64", "-accel", a.accel, "-m", str(a.mem), "-nodefaults", "-display",
                    "none", "-machine", "q35", "-cpu", "Skylake-Server", "-kernel", a.elf,
                    "-append", "rate=" + a.rate, "-chardev",
                    "file,id=s0,path=%s/%s.log" % (work, tag), "-serial", "chardev:s0",
                    "-qmp", "unix:%s/%s.sock,server=on,wait=off" % (work, tag)]
            if incoming:
                argv += ["-incoming", "defer"]
            procs.append(subprocess.Popen(argv, stderr=subprocess.DEVNULL))
            return Qmp("%s/%s.sock" % (work, tag))

        src, dst = qemu("src", False), qemu("dst", True)
        caps = [{"capability": "postcopy-ram", "state": a.postcopy_after > 0}]
        src.cmd("migrate-set-capabilities", capabilities=caps)
        dst.cmd("migrate-set-capabilities", capabilities=caps)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        dst.cmd("migrate-incoming", uri="tcp:127.0.0.1:%d" % port)
        time.sleep(2)  # the guest fills its memory and starts checking
        src.cmd("migrate-set-parameters", **{"max-bandwidth": a.bandwidth << 20})
        src.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
        t0 = time.monotonic()
        switched = False
        while True:
            time.sleep(0.2)
            r = src.cmd("query-migrate")
            if r.get("status") in ("completed", "failed", "cancelled"):
                break
            if a.postcopy_after > 0 and not switched and time.monotonic() - t0 >= a.postcopy_after:
                src.cmd("migrate-start-postcopy")
                switched = True
            if time.monotonic() - t0 > 300:
                print("no end after 300 s")
                return 1
        syncs = (r.get("ram") or {}).get("dirty-sync-count")
        print("migration %s in %.1f s, %s dirty syncs%s" % (r.get("status"), time.monotonic() - t0, syncs,
                                                           ", post-copy" if switched else ""))
        time.sleep(3)
        before, after = status_lines(work + "/src.log"), status_lines(work + "/dst.log")
        if not before or not after:
            print("source lines %d, target lines %d: the guest died on the target" % (len(before), len(after)))
            return 1
        print("source's last: t=%d pass=%d; target's first: t=%d pass=%d" % (before[-1] + after[0]))
        return 0 if after[0][0] > before[-1][0] else 1
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
