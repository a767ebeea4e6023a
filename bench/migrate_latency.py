#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Start latency of a live migration through the whole control plane: the
time from `godwit migrate VM` to the moment the source QEMU received QMP's
`migrate`, on a real `godwit server` (SQLite in a temporary directory, a
free loopback port) with two real `godwit node` agents and the workload
guest booted by the agents under TCG.

The moment QEMU received `migrate` is the VMI's
status.migrationState.startTimestamp, which the source agent writes from
the executor's start (taken right after `migrate` returned). The time
before is broken down with the VMIM's status.phaseTransitionTimestamps
(Pending, Scheduling, Scheduled, PreparingTarget, TargetReady, Running),
all relative to the wall clock read just before `godwit migrate` runs (one
machine, one clock). The VM migrates back and forth; every run waits for
the previous migration to succeed.

Prints one JSON line per migration and a summary line (median and max,
and the median of each phase's offset); a readable summary on stderr.

usage: migrate_latency.py [--build build] [--runs 5] [--memory 128Mi]
                          [--profiles A.json,B.json] [--cpu-model Nehalem]
                          [--kernel-args "rate=1000 mem=16M"] [--keep]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASES = ["Pending", "Scheduling", "Scheduled", "PreparingTarget", "targetQemuExec", "TargetReady",
          "Running"]
NS = "default"
VM = "bench-latency"


def rfc3339_ms(s):
    """Unix ms of an RFC 3339 time (fraction and offset optional)."""
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s).timestamp() * 1000.0


class Cluster:
    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.godwit = os.path.join(args.build, "godwit")
        self.procs = []
        self.url = self.token = None

    def spawn(self, name, argv):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE if name == "server" else log,
                             stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, p))
        return p

    def start_server(self):
        data = os.path.join(self.tmp, "server")
        os.mkdir(data, 0o700)
        p = self.spawn("server", [self.godwit, "server", "--data-dir", data,
                                  "--listen", "127.0.0.1:0"])
        deadline = time.monotonic() + 30
        line = b""
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if line.startswith(b"listening "):
                self.url = line.split()[1].decode()
                break
            if not line and p.poll() is not None:
                break
        if not self.url:
            raise RuntimeError(f"godwit server did not say `listening` ({self.log('server')})")
        self.token_file = os.path.join(data, "token")
        with open(self.token_file) as f:
            self.token = f.read().strip()

    def start_node(self, name, profile):
        state = os.path.join(self.tmp, name)
        os.mkdir(state)
        self.spawn(name, [self.godwit, "node", "--server", self.url, "--token-file", self.token_file,
                          "--name", name, "--profile", profile, "--address", "127.0.0.1",
                          "--state-dir", state, "--memory", "4Gi"])

    def log(self, name):
        path = os.path.join(self.tmp, name + ".log")
        try:
            with open(path, "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
        except OSError:
            tail = ""
        return f"{name} log tail: {tail.strip()}"

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": "Bearer " + self.token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def get(self, path):
        try:
            return self.request("GET", path)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def cli(self, *argv):
        env = dict(os.environ, GODWIT_SERVER=self.url, GODWIT_TOKEN=self.token)
        return subprocess.run([self.godwit, *argv], env=env, capture_output=True, text=True,
                              timeout=60)

    def check_alive(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode} ({self.log(name)})")

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def boot_unix_ms():
    """The wall-clock time of boot, to 10 ms (/proc/uptime; /proc/stat's
    btime is whole seconds)."""
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return time.time() * 1000.0 - up * 1000.0


def process_start_unix_ms(pid):
    """When process pid was started (exec'd), wall clock, to 10 ms."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    ticks = int(stat[stat.rindex(")") + 2:].split()[19])  # field 22, starttime
    return boot_unix_ms() + ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


def newest_qemu_start(state_dir, after_ms):
    """The start of the newest QEMU running under state_dir (the target node's
    incoming QEMU of the last migration), if it started after after_ms."""
    best = None
    for dirpath, _, files in os.walk(state_dir):
        if "qemu.pid" not in files:
            continue
        try:
            with open(os.path.join(dirpath, "qemu.pid")) as f:
                start = process_start_unix_ms(int(f.read().strip()))
        except (OSError, ValueError):
            continue
        if start >= after_ms - 20 and (best is None or start > best):
            best = start
    return best


def kill_vms(tmp):
    """The agents start QEMUs detached (they outlive an agent): kill every
    QEMU whose pidfile is in one of our state directories."""
    for dirpath, _, files in os.walk(tmp):
        if "qemu.pid" in files:
            try:
                with open(os.path.join(dirpath, "qemu.pid")) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def vm_manifest(args):
    elf = os.path.abspath(args.workload)
    return {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": VM, "namespace": NS},
        "spec": {"runStrategy": "Always", "template": {
            "metadata": {"labels": {"kubevirt.io/domain": VM}},
            "spec": {
                "evictionStrategy": "LiveMigrate",
                "domain": {
                    "cpu": {"model": args.cpu_model, "cores": 1, "sockets": 1, "threads": 1},
                    "devices": {"autoattachPodInterface": False},
                    "firmware": {"kernelBoot": {
                        "container": {"image": os.path.dirname(elf),
                                      "kernelPath": os.path.basename(elf)},
                        "kernelArgs": args.kernel_args}},
                    "resources": {"requests": {"memory": args.memory}},
                }}}},
    }


def wait_for(cluster, what, fn, limit_s):
    deadline = time.monotonic() + limit_s
    while True:
        value = fn()
        if value:
            return value
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {limit_s} s")
        time.sleep(0.05)


def vmi_path():
    return f"/apis/kubevirt.io/v1/namespaces/{NS}/virtualmachineinstances/{VM}"


def vmim_path(name=""):
    return f"/apis/kubevirt.io/v1/namespaces/{NS}/virtualmachineinstancemigrations" + (
        f"/{name}" if name else "")


def one_migration(cluster, run, limit_s):
    vmi = cluster.get(vmi_path())
    source = vmi["status"].get("nodeName")
    t0 = time.time() * 1000.0
    r = cluster.cli("migrate", VM, "-n", NS)
    cli_ms = time.time() * 1000.0 - t0
    if r.returncode != 0:
        raise RuntimeError(f"godwit migrate {VM}: exit {r.returncode}: {r.stderr.strip()}")
    # "virtualmachineinstancemigrations/NAME created for ns/vm"
    name = r.stdout.split()[0].split("/", 1)[1]

    def started():
        m = cluster.get(vmim_path(name))
        if m and m.get("status", {}).get("phase") == "Failed":
            raise RuntimeError(f"migration {name} failed: {json.dumps(m['status'])[:600]}")
        v = cluster.get(vmi_path())
        ms = (v or {}).get("status", {}).get("migrationState") or {}
        uid = m and m["metadata"].get("uid")
        return ms.get("startTimestamp") if ms.get("migrationUid") == uid else None

    start_ts = wait_for(cluster, f"migration {name} start", started, limit_s)

    def done():
        m = cluster.get(vmim_path(name))
        phase = (m or {}).get("status", {}).get("phase")
        if phase == "Failed":
            raise RuntimeError(f"migration {name} failed: {json.dumps(m['status'])[:600]}")
        return m if phase == "Succeeded" else None

    m = wait_for(cluster, f"migration {name} success", done, limit_s)
    end_ms = time.time() * 1000.0 - t0
    vmi = cluster.get(vmi_path())
    offsets = {}
    for e in m["status"].get("phaseTransitionTimestamps", []):
        if e.get("phase") in PHASES and e["phase"] not in offsets:
            offsets[e["phase"]] = round(rfc3339_ms(e["phaseTransitionTimestamp"]) - t0, 1)
    ms = vmi["status"].get("migrationState") or {}
    target = vmi["status"].get("nodeName")
    qemu_start = newest_qemu_start(os.path.join(cluster.tmp, target or "none"), t0)
    if qemu_start is not None:
        # between PreparingTarget and TargetReady: the target agent's own work
        # before the exec, then QEMU's start, `migrate-incoming`, the write
        offsets["targetQemuExec"] = round(qemu_start - t0, 1)
    start_ms = rfc3339_ms(start_ts) - t0
    o = offsets
    steps = {}
    if all(p in o for p in ("Pending", "PreparingTarget", "TargetReady")):
        steps["cli_and_create"] = o["Pending"]
        steps["controller"] = o["PreparingTarget"] - o["Pending"]
        if "targetQemuExec" in o:
            steps["target_agent_before_exec"] = o["targetQemuExec"] - o["PreparingTarget"]
            steps["target_qemu_start_listen_write"] = o["TargetReady"] - o["targetQemuExec"]
        else:
            steps["target"] = o["TargetReady"] - o["PreparingTarget"]
        steps["source_agent_to_migrate"] = start_ms - o["TargetReady"]
    line = {
        "bench": "migrate_latency", "run": run, "vmim": name, "source": source,
        "target": target,
        "start_latency_ms": round(start_ms, 1),
        "steps_ms": {k: round(v, 1) for k, v in steps.items()},
        "cli_ms": round(cli_ms, 1),
        "phase_offsets_ms": offsets,
        "succeeded_seen_ms": round(end_ms, 1),
    }
    if ms.get("startTimestamp") and ms.get("endTimestamp"):
        line["qemu_migration_ms"] = round(rfc3339_ms(ms["endTimestamp"]) -
                                          rfc3339_ms(ms["startTimestamp"]), 1)
    # The target waits paused after the last byte until the source's
    # agent writes completed: the guest's pause beyond QEMU's downtime.
    def resumed():
        v = cluster.get(vmi_path())
        s = (v or {}).get("status", {}).get("migrationState") or {}
        return s.get("targetNodeDomainReadyTimestamp")
    ready = wait_for(cluster, f"migration {name}: the target runs", resumed, limit_s)
    if ms.get("endTimestamp"):
        line["target_resumed_after_end_ms"] = round(rfc3339_ms(ready) - rfc3339_ms(ms["endTimestamp"]), 1)
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--workload", help="the workload guest ELF (default BUILD/guest/workload/godwit-workload.elf)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--memory", default="128Mi", help="the VM's memory request")
    ap.add_argument("--profiles", default="data/hosts/skx-gold-6130.json,data/hosts/clx-platinum-8268.json")
    ap.add_argument("--cpu-model", default="Nehalem")
    ap.add_argument("--kernel-args", default="rate=1000 mem=16M")
    ap.add_argument("--timeout", type=int, default=180, help="bound on each wait, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs: at least 1")
    args.workload = args.workload or os.path.join(args.build, "guest", "workload", "godwit-workload.elf")
    godwit = os.path.join(args.build, "godwit")
    profiles = [os.path.join(ROOT, p) if not os.path.isabs(p) else p for p in args.profiles.split(",")]
    for path, what in [(godwit, "godwit"), (args.workload, "workload guest")] + [(p, "profile") for p in profiles]:
        if not os.path.exists(path):
            print(json.dumps({"bench": "migrate_latency", "skipped": f"{what} not found: {path}"}))
            return 0
    if len(profiles) != 2:
        ap.error("--profiles: two host profiles, comma-separated")
    h = subprocess.run([godwit, "node", "--help"], capture_output=True, text=True)
    help_text = h.stdout + h.stderr
    if "--token-file" not in help_text:
        print(json.dumps({"bench": "migrate_latency",
                          "skipped": "this godwit has no node agent (`godwit node --help` does not "
                                     "mention --token-file)"}))
        return 0

    # meson's timeout and kill send SIGTERM: unwind through `finally` so
    # that the server, the agents and their detached QEMUs are ended.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = os.environ.get("TMPDIR") or None
    tmp = tempfile.mkdtemp(prefix="gw-latency-", dir=base)
    cluster = Cluster(args, tmp)
    status = 0
    try:
        cluster.start_server()
        for i, profile in enumerate(profiles):
            cluster.start_node(f"node-{i + 1}", profile)
        wait_for(cluster, "both nodes registered",
                 lambda: len((cluster.get("/api/v1/nodes") or {}).get("items", [])) >= 2, 60)
        cluster.request("POST", f"/apis/kubevirt.io/v1/namespaces/{NS}/virtualmachines",
                        vm_manifest(args))
        t_boot = time.monotonic()
        wait_for(cluster, f"VMI {VM} Running",
                 lambda: ((cluster.get(vmi_path()) or {}).get("status", {}).get("phase") == "Running"),
                 args.timeout)
        print(json.dumps({"bench": "migrate_latency_boot",
                          "running_after_ms": round((time.monotonic() - t_boot) * 1000, 1)}), flush=True)
        lines = []
        for run in range(1, args.runs + 1):
            line = one_migration(cluster, run, args.timeout)
            lines.append(line)
            print(json.dumps(line), flush=True)
        lat = [l["start_latency_ms"] for l in lines]
        summary = {
            "bench": "migrate_latency_summary", "runs": len(lat),
            "start_latency_ms_median": round(statistics.median(lat), 1),
            "start_latency_ms_max": round(max(lat), 1),
            "goal_ms": 1000, "goal_met": max(lat) < 1000,
            "steps_ms_median": {
                k: round(statistics.median(l["steps_ms"][k] for l in lines), 1)
                for k in lines[0]["steps_ms"] if all(k in l["steps_ms"] for l in lines)},
            "target_resumed_after_end_ms_median": statistics.median(
                l["target_resumed_after_end_ms"] for l in lines if "target_resumed_after_end_ms" in l)
            if any("target_resumed_after_end_ms" in l for l in lines) else None,
            "phase_offsets_ms_median": {
                p: round(statistics.median(l["phase_offsets_ms"][p] for l in lines), 1)
                for p in PHASES if all(p in l["phase_offsets_ms"] for l in lines)},
        }
        print(json.dumps(summary), flush=True)
        steps = summary["steps_ms_median"]
        print("migrate -> QEMU migrate: median %.0f ms, max %.0f ms (goal under 1 s: %s); steps "
              "(median ms): %s" % (
                  summary["start_latency_ms_median"], summary["start_latency_ms_max"],
                  "met" if summary["goal_met"] else "MISSED",
                  ", ".join(f"{p} {v:.0f}" for p, v in steps.items())), file=sys.stderr)
    except (RuntimeError, OSError, urllib.error.URLError, subprocess.TimeoutExpired) as e:
        print(json.dumps({"bench": "migrate_latency", "error": str(e)}), flush=True)
        for name, _ in cluster.procs:
            print(cluster.log(name), file=sys.stderr)
        status = 1
    finally:
        cluster.stop()
        kill_vms(tmp)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
