#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The node agent end to end (TAP): the real `godwit server` (with its
controllers) on a temporary SQLite data directory and a free loopback port,
two real `godwit node` processes standing in for a Skylake and a Cascade
Lake host, a VM booting the workload guest under TCG, a live migration
through `godwit migrate`, an agent restart, and the clean-up.

Every process it starts (server, agents, and every QEMU found through the
agents' pid files) is killed at exit, even on failure. Skips without QEMU or
the workload guest. Usage: test_node_agent.py GODWIT_BINARY SOURCE_ROOT"""
import atexit
import glob
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

GODWIT = sys.argv[1]
ROOT = sys.argv[2]
GUEST = os.environ.get("GODWIT_GUEST_WORKLOAD", "")
DEADLINE = time.monotonic() + 140   # the whole test; meson's timeout is above it
procs = []
tmp = None
results = []


def qemu_pids():
    pids = []
    for f in glob.glob(os.path.join(tmp or "/nonexistent", "*", "vms", "*", "qemu.pid")):
        try:
            pids.append(int(open(f).read().strip()))
        except (OSError, ValueError):
            pass
    return pids


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for pid in qemu_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def ok(cond, name, detail=""):
    results.append(bool(cond))
    print("%s %d - %s" % ("ok" if cond else "not ok", len(results), name))
    if not cond and detail:
        for line in str(detail).splitlines()[-25:]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def wait_for(fn, timeout, step=0.2):
    end = min(time.monotonic() + timeout, DEADLINE)
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


class Server:
    def __init__(self, data_dir):
        self.proc = subprocess.Popen([GODWIT, "server", "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=open(data_dir + ".log", "a"), text=True)
        procs.append(self.proc)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError("server did not start: %r" % line)
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.token_file = os.path.join(data_dir, "token")
        self.token = open(self.token_file).read().strip()

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            text = r.read()
        finally:
            c.close()
        return r.status, (json.loads(text) if text else None)

    def get(self, path):
        status, doc = self.request("GET", path)
        return doc if status == 200 else None


VMIS = "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances"


class Agent:
    def __init__(self, server, name, profile):
        self.name = name
        self.state = os.path.join(tmp, name)
        self.log = os.path.join(tmp, name + ".log")
        self.args = [GODWIT, "node", "--server", server.url, "--token-file", server.token_file, "--name", name,
                     "--profile", os.path.join(ROOT, "data", "hosts", profile), "--memory", "4Gi", "--cpus", "4",
                     "--state-dir", self.state, "--heartbeat-interval", "2"]
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "a"))
        procs.append(self.proc)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def text(self):
        try:
            return open(self.log).read()
        except OSError:
            return ""

    def vm_dirs(self):
        return sorted(glob.glob(os.path.join(self.state, "vms", "*")))


def pid_of(vm_dir):
    try:
        return int(open(os.path.join(vm_dir, "qemu.pid")).read().strip())
    except (OSError, ValueError):
        return None


def serial(vm_dir):
    try:
        return open(os.path.join(vm_dir, "serial.log"), errors="replace").read()
    except OSError:
        return ""


def status_lines(text):
    """The workload guest's `t=S pass=N ... corrupt=N` lines, as dicts."""
    out = []
    for line in text.splitlines():
        if line.startswith("godwit-workload: t="):
            out.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
    return out


def vm_manifest(name="vm-work", memory="128Mi"):
    return {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {
            "memory": {"guest": memory},
            "cpu": {"cores": 1},
            "firmware": {"kernelBoot": {
                "container": {"image": os.path.dirname(GUEST), "kernelPath": os.path.basename(GUEST)},
                "kernelArgs": "rate=1000"}},
            "devices": {}}}}},
    }


def main():
    global tmp
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("1..0 # SKIP qemu-system-x86_64 not installed")
        return 0
    if not GUEST or not os.path.exists(GUEST):
        print("1..0 # SKIP the workload guest is not built (GODWIT_GUEST_WORKLOAD)")
        return 0
    # Short: a VM's QMP socket path must fit in 107 bytes.
    tmp = tempfile.mkdtemp(prefix="gwn-")
    server = Server(os.path.join(tmp, "data"))

    # ---- registration and heartbeat
    a = Agent(server, "node-a", "skx-gold-6130.json")
    node = wait_for(lambda: server.get("/api/v1/nodes/node-a"), 20)
    ok(node, "node-a registers its Node", a.text())
    node = node or {}
    labels = node.get("metadata", {}).get("labels", {})
    ann = node.get("metadata", {}).get("annotations", {})
    st = node.get("status", {})
    ok(labels.get("cpu-model.node.kubevirt.io/Skylake-Server-IBRS") == "true" and
       any(k.startswith("host-model-cpu.node.kubevirt.io/") for k in labels) and
       labels.get("kubevirt.io/schedulable") == "true",
       "the Node carries the labeller's labels of its profile", json.dumps(labels)[:2000])
    # The labels name only models this node's QEMU has (its own model list, as libvirt would
    # give it), whatever the profile's generation.
    tsv = subprocess.run([GODWIT, "cpu", "models", "--from-qemu", qemu, "-o", "tsv"], capture_output=True,
                         text=True, timeout=60).stdout
    local = {line.split("\t")[0] for line in tsv.splitlines() if line and not line.startswith("#")}
    named = {k.split("/", 1)[1] for k in labels
             if k.startswith(("cpu-model.node.kubevirt.io/", "host-model-cpu.node.kubevirt.io/"))}
    ok(local and named and named <= local and "CPU models: %d, from" % len(local) in a.text(),
       "labels name only the local QEMU's models (%d of them)" % len(local), (sorted(named - local), a.text()[:600]))
    ok(st.get("capacity") == {"cpu": "4", "memory": "4194304Ki"} and st.get("allocatable") == st.get("capacity"),
       "capacity and allocatable from --cpus/--memory", st)
    ok(st.get("addresses") == [{"type": "InternalIP", "address": "127.0.0.1"}] and
       ann.get("godwit.io/agent-address") == "127.0.0.1", "address in status and annotation", (st, ann))
    first_beat = ann.get("kubevirt.io/heartbeat")
    beat = wait_for(lambda: (server.get("/api/v1/nodes/node-a") or {}).get("metadata", {}).get(
        "annotations", {}).get("kubevirt.io/heartbeat", first_beat) != first_beat, 8)
    ok(first_beat and beat, "heartbeat annotation written, then renewed", first_beat)
    status, _ = server.request("DELETE", "/api/v1/nodes/node-a")
    ok(status == 200 and wait_for(lambda: server.get("/api/v1/nodes/node-a"), 10) and
       "registering again" in a.text(), "a deleted Node is registered again at the next heartbeat", a.text()[-500:])

    # ---- a VM on node-a
    status, doc = server.request("POST", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines", vm_manifest())
    ok(status == 201, "VM created", (status, doc))

    def vmi():
        return server.get(VMIS + "/vm-work") or {}

    running = wait_for(lambda: vmi().get("status", {}).get("phase") == "Running", 30)
    v = vmi()
    ok(running and v["status"].get("nodeName") == "node-a", "VMI Running on node-a", json.dumps(v.get("status"))[:1500]
       + "\n" + a.text())
    cpu = v.get("status", {}).get("godwit", {}).get("cpu", {})
    ok(cpu.get("mode") == "host-model" and cpu.get("qemu", "").startswith(cpu.get("model", "?") + ","),
       "host-model resolved on the node and recorded", cpu)
    src_dirs = a.vm_dirs()
    src_dir = src_dirs[0] if src_dirs else ""
    src_pid = pid_of(src_dir) if src_dir else None
    ready = wait_for(lambda: "godwit-workload: ready" in serial(src_dir), 30)
    ok(src_pid and alive(src_pid) and ready, "the guest boots to ready on node-a (pid %s)" % src_pid,
       serial(src_dir)[-800:])
    cmd = open("/proc/%d/cmdline" % src_pid).read().split("\0") if src_pid and alive(src_pid) else []
    ok("-cpu" in cmd and cmd[cmd.index("-cpu") + 1] == cpu.get("qemu") and "-accel" in cmd and
       cmd[cmd.index("-accel") + 1] == "tcg", "QEMU runs with the recorded -cpu under TCG (profile)", cmd)
    wait_for(lambda: len(status_lines(serial(src_dir))) >= 2, 10)

    # ---- a second node joins; migrate the VM there
    b = Agent(server, "node-b", "clx-ap-platinum-9242.json")
    ok(wait_for(lambda: server.get("/api/v1/nodes/node-b"), 20), "node-b registers", b.text())

    def vmi():
        return server.get(VMIS + "/vm-work") or {}
    env = dict(os.environ, GODWIT_SERVER=server.url, GODWIT_TOKEN=server.token)

    def migrate(*extra, vm="vm-work"):
        m = subprocess.run([GODWIT, *extra, vm], env=env, capture_output=True, text=True, timeout=20)
        words = m.stdout.split()
        if extra[0] == "migrate" and words and words[0].startswith("virtualmachineinstancemigrations/"):
            current[0] = words[0].split("/", 1)[1]
        return m.returncode == 0, m.stdout + m.stderr

    current = [None]   # the VMIM `godwit migrate` created last

    def vmim():
        if not current[0]:
            return {}
        return server.get("/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstancemigrations/" +
                          current[0]) or {}

    def vmim_phase():
        return vmim().get("status", {}).get("phase")

    def state():
        return vmi().get("status", {}).get("migrationState") or {}

    def incoming_dirs():
        return [d for d in b.vm_dirs() if d.endswith("_in")]

    # Slow migrations first: 2 MiB/s for 128 MiB of guest RAM that keeps
    # changing never converges, so each can be interrupted on purpose.
    KV = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts"
    status, _ = server.request("POST", KV, {"metadata": {"name": "kubevirt", "namespace": "kubevirt"},
                                           "spec": {"configuration": {"migrations": {"bandwidthPerMigration": "2Mi"}}}})
    ok(status == 201, "KubeVirt CR with bandwidthPerMigration 2Mi")

    # 1. The target QEMU dies: the migration fails, the VM stays on node-a.
    res = migrate("migrate")
    ok(res[0], "godwit migrate vm-work (slow)", res[1])
    started = wait_for(lambda: state().get("godwitProgress", {}).get("transferredBytes", 0) > 0 and incoming_dirs(), 30)
    ms = state()
    ok(started and ms.get("startTimestamp") and ms.get("targetNodeAddress") == "127.0.0.1" and
       ms.get("migrationConfiguration", {}).get("bandwidthPerMigrationMiBs") == 2,
       "progress in the VMI while it runs", json.dumps(ms, indent=1) + a.text()[-800:] + b.text()[-800:])
    target_pid = pid_of(incoming_dirs()[0]) if incoming_dirs() else None
    if target_pid:
        os.kill(target_pid, signal.SIGKILL)
    wait_for(lambda: vmim_phase() in ("Succeeded", "Failed"), 20)
    ms = state()
    cond = (vmim().get("status", {}).get("conditions") or [{}])[-1]
    ok(vmim_phase() == "Failed" and ms.get("failed") is True and ms.get("completed") is True and
       ms.get("failureReason") and cond.get("reason") == "SourceFailed",
       "a killed target fails the migration, saying why: %s" % ms.get("failureReason"), json.dumps(ms, indent=1))
    n = len(status_lines(serial(src_dir)))
    ok(vmi().get("status", {}).get("nodeName") == "node-a" and alive(src_pid) and
       wait_for(lambda: len(status_lines(serial(src_dir))) >= n + 2, 10) and "CORRUPT" not in serial(src_dir),
       "the VM keeps running on node-a", serial(src_dir)[-500:])
    ok(wait_for(lambda: not incoming_dirs(), 10), "node-b removed the dead target's directory", b.vm_dirs())

    # 2. The source agent restarts mid-migration and adopts it; then an abort.
    previous_uid = state().get("migrationUid")
    res = migrate("migrate")
    ok(res[0], "godwit migrate vm-work (slow, again)", res[1])
    started = wait_for(lambda: state().get("migrationUid") != previous_uid and not state().get("completed") and
                       state().get("godwitProgress", {}).get("transferredBytes", 0) > 0, 30)
    ok(started and a.stop() == 0, "node-a stops during the migration (exit 0)", a.text()[-800:])
    ok(alive(src_pid), "the source VM outlives its agent")
    a.start()
    adopted = wait_for(lambda: "adopted, still going" in a.text(), 20)
    ok(adopted, "the restarted agent adopts the migration QEMU still runs", a.text()[-1200:])
    polls = state().get("godwitProgress", {}).get("polls", 0)
    ok(wait_for(lambda: state().get("godwitProgress", {}).get("polls", 0) > polls, 10) and
       not state().get("completed"), "and goes on reporting its progress")
    res = migrate("migrate-cancel")
    ok(res[0], "godwit migrate-cancel vm-work", res[1])
    # Cancel = delete: the VMIM is gone once its controller has recorded
    # the end, so its last state is caught on the way.
    last = [{}]

    def ended():
        doc = vmim()
        if doc:
            last[0] = doc
        return not doc or doc.get("status", {}).get("phase") in ("Succeeded", "Failed")

    wait_for(ended, 30, step=0.05)
    ms = state()
    seen = last[0].get("status", {})
    reasons = [c.get("reason") for c in seen.get("conditions") or []]
    ok(ms.get("abortStatus") == "Succeeded" and ms.get("failed") is True and
       ms.get("failureReason") == "Live migration has been aborted" and
       (not vmim() or (seen.get("phase") == "Failed" and "Aborted" in reasons)),
       "the abort ends it: abortStatus Succeeded, the VMIM Failed (Aborted)",
       json.dumps(ms, indent=1) + "\n" + json.dumps(seen))
    n = len(status_lines(serial(src_dir)))
    ok(vmi().get("status", {}).get("nodeName") == "node-a" and alive(src_pid) and
       wait_for(lambda: len(status_lines(serial(src_dir))) >= n + 2, 10) and "CORRUPT" not in serial(src_dir),
       "the VM keeps running on node-a after the abort", serial(src_dir)[-500:])
    ok(wait_for(lambda: not incoming_dirs(), 10), "node-b stopped its target QEMU", b.vm_dirs())

    # 2b. An abort before the target is ready (its agent is down): the
    # source agent closes the migration itself, nothing was started.
    ok(b.stop() == 0, "node-b's agent stops")
    previous_uid = state().get("migrationUid")
    res = migrate("migrate")
    ok(res[0], "godwit migrate vm-work (target agent down)", res[1])
    handed = wait_for(lambda: state().get("migrationUid") not in (None, previous_uid) and
                      state().get("targetNode") == "node-b", 20)
    res = migrate("migrate-cancel")
    ok(handed and res[0], "godwit migrate-cancel vm-work after the hand-off", res[1])
    wait_for(lambda: state().get("completed"), 20)
    ms = state()
    ok(ms.get("abortStatus") == "Succeeded" and ms.get("failed") is True and not ms.get("startTimestamp") and
       not ms.get("targetNodeAddress") and "aborted before it started" in a.text(),
       "the source agent answers the abort of a migration that never started", json.dumps(ms, indent=1))
    ok(vmi().get("status", {}).get("nodeName") == "node-a" and alive(src_pid), "the VM stays on node-a")
    b.start()
    ok(wait_for(lambda: b.text().count("Node updated") >= 1, 20), "node-b's agent is back")

    # 3. Unlimited bandwidth: the migration completes.
    status, _ = server.request("PUT", KV + "/kubevirt", {"metadata": {"name": "kubevirt", "namespace": "kubevirt"},
                                                      "spec": {"configuration": {}}})
    ok(status == 200, "KubeVirt CR without a bandwidth limit")
    res = migrate("migrate")
    ok(res[0], "godwit migrate vm-work", res[1])
    phase = wait_for(lambda: vmim_phase() in ("Succeeded", "Failed"), 45)
    v = vmi()
    ms = v.get("status", {}).get("migrationState", {})
    ok(vmim_phase() == "Succeeded", "the migration succeeds", "%s\n%s\n%s\n%s" % (
        phase, json.dumps(ms, indent=1), a.text()[-1500:], b.text()[-1500:]))
    ok(v.get("status", {}).get("nodeName") == "node-b" and
       v.get("metadata", {}).get("labels", {}).get("kubevirt.io/nodeName") == "node-b",
       "the VMI's node is node-b (status and label)", v.get("status", {}).get("nodeName"))
    prog = ms.get("godwitProgress", {})
    ok(ms.get("completed") is True and not ms.get("failed") and ms.get("startTimestamp") and
       ms.get("endTimestamp") and ms.get("mode") == "PreCopy" and prog.get("transferredBytes", 0) > 64 << 20 and
       prog.get("qemuStatus") == "completed" and "downtimeMs" in prog,
       "migrationState: times, mode, bytes transferred", json.dumps(ms, indent=1))
    ok(wait_for(lambda: state().get("targetNodeDomainReadyTimestamp"), 10) and
       state().get("targetNodeDomainDetected") is True,
       "the target agent reports its domain ready", json.dumps(ms, indent=1))
    ok(wait_for(lambda: not alive(src_pid), 15), "the source QEMU exited (pid %s)" % src_pid)
    ok(wait_for(lambda: not a.vm_dirs(), 10), "node-a removed the VM's state directory", a.vm_dirs())
    dst_dirs = b.vm_dirs()
    dst_dir = dst_dirs[0] if dst_dirs else ""
    dst_pid = pid_of(dst_dir) if dst_dir else None
    ok(dst_pid and alive(dst_pid), "the target QEMU runs (pid %s)" % dst_pid, b.text()[-1500:])
    src_last = status_lines(serial(src_dir) if os.path.exists(src_dir) else "")
    more = wait_for(lambda: len(status_lines(serial(dst_dir))) >= 3, 20)
    lines = status_lines(serial(dst_dir))
    ok(more and all(x.get("corrupt") == "0" for x in lines) and "CORRUPT" not in serial(dst_dir) and
       "ready" not in serial(dst_dir),
       "the guest carries on on node-b with no bad page", serial(dst_dir)[-800:])
    ok(lines and int(lines[0].get("t", "0")) >= 2, "its counters continue the source's (first t=%s)" %
       (lines[0].get("t") if lines else "?"), src_last[-1:] if src_last else "")

    # ---- the agent restarts without touching its VM
    ok(b.stop() == 0, "node-b stops on SIGTERM (exit 0)")
    ok(alive(dst_pid), "its VM keeps running without the agent")
    b.start()
    found = wait_for(lambda: "found again (pid %d" % dst_pid in b.text(), 20)
    ok(found, "the restarted agent finds its VM again", b.text()[-1000:])
    time.sleep(2.5)
    ok(alive(dst_pid) and vmi().get("status", {}).get("phase") == "Running", "the VMI stays Running after it")

    # ---- deleting the VM (and its VMI) stops every QEMU
    server.request("DELETE", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm-work")
    # No garbage collection of owned VMIs yet: the VMI goes explicitly.
    server.request("DELETE", VMIS + "/vm-work")
    gone = wait_for(lambda: not any(alive(p) for p in qemu_pids() + [dst_pid, src_pid] if p), 20)
    ok(gone, "every QEMU is gone after the delete", b.text()[-1000:])
    ok(wait_for(lambda: not b.vm_dirs(), 10), "node-b removed the VM's state directory", b.vm_dirs())

    # ---- post-copy: allowed, and forced by a 1 s deadline at 8 MiB/s
    status, _ = server.request("PUT", KV + "/kubevirt", {
        "metadata": {"name": "kubevirt", "namespace": "kubevirt"},
        "spec": {"configuration": {"migrations": {"allowPostCopy": True, "completionTimeoutPerGiB": 1,
                                                  "bandwidthPerMigration": "8Mi"}}}})
    ok(status == 200, "KubeVirt CR: post-copy allowed, 1 s per GiB, 8 MiB/s")
    status, _ = server.request("POST", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines",
                               vm_manifest("vm-pc", "64Mi"))

    def pc():
        return server.get(VMIS + "/vm-pc") or {}

    ok(status == 201 and wait_for(lambda: pc().get("status", {}).get("phase") == "Running", 30) and
       pc()["status"].get("nodeName") == "node-a", "a second VM runs on node-a", a.text()[-800:])
    pc_dir = (a.vm_dirs() or [""])[0]
    ok(wait_for(lambda: len(status_lines(serial(pc_dir))) >= 2, 20), "its guest is ready", serial(pc_dir)[-300:])
    res = migrate("migrate", vm="vm-pc")
    ok(res[0], "godwit migrate vm-pc", res[1])
    seen_modes = set()

    def pc_done():
        st = pc().get("status", {}).get("migrationState") or {}
        if st.get("mode"):
            seen_modes.add(st["mode"])
        return vmim_phase() in ("Succeeded", "Failed")

    wait_for(pc_done, 40, step=0.1)
    ms = pc().get("status", {}).get("migrationState") or {}
    ok(vmim_phase() == "Succeeded" and ms.get("mode") == "PostCopy" and
       ms.get("migrationConfiguration", {}).get("allowPostCopy") is True and
       pc().get("status", {}).get("nodeName") == "node-b",
       "it completes in post-copy on node-b (modes seen: %s)" % ", ".join(sorted(seen_modes)),
       json.dumps(ms, indent=1) + a.text()[-800:] + b.text()[-800:])
    pc_dst = (b.vm_dirs() or [""])[0]
    more = wait_for(lambda: len(status_lines(serial(pc_dst))) >= 2, 20)
    ok(more and "CORRUPT" not in serial(pc_dst) and all(x.get("corrupt") == "0" for x in status_lines(serial(pc_dst))),
       "the guest carries on on node-b after post-copy with no bad page", serial(pc_dst)[-500:])

    # A QEMU that dies by itself: the VMI fails saying so, and runStrategy
    # Always brings a new VMI that an agent starts again.
    old_uid = pc().get("metadata", {}).get("uid")
    pc_pid = pid_of(pc_dst) if pc_dst else None
    if pc_pid:
        os.kill(pc_pid, signal.SIGKILL)
    ok(wait_for(lambda: "vm default/vm-pc: phase Failed: the QEMU process exited" in b.text(), 10),
       "a QEMU killed from outside makes its VMI Failed (QEMUExited)", b.text()[-800:])
    again = wait_for(lambda: pc().get("metadata", {}).get("uid") not in (None, old_uid) and
                     pc().get("status", {}).get("phase") == "Running", 30)
    ok(again, "the VM's new VMI runs again (on %s)" % pc().get("status", {}).get("nodeName"),
       json.dumps(pc().get("status"))[:800])
    server.request("DELETE", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm-pc")
    server.request("DELETE", VMIS + "/vm-pc")
    ok(wait_for(lambda: not b.vm_dirs() and not a.vm_dirs(), 20), "its QEMU is stopped after the delete",
       b.vm_dirs() + a.vm_dirs())
    ok(not any(alive(p) for p in qemu_pids()), "no QEMU left")
    ok(a.stop() == 0 and b.stop() == 0, "both agents exit 0 on SIGTERM")
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
