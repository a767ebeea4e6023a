#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Block migration through the node agents (TAP): the real `godwit server`
under `--rules kubevirt` (a writable containerDisk migrates by
BlockMigration instead of blocking the migration), two `godwit node`
agents, a VM booting the workload guest with a container disk (a raw base
image made here). The source's overlay gets data written into it (QEMU's
qemu-io monitor command, while the source agent is stopped: QEMU serves one
QMP client at a time), the VM migrates, and the target's disk is read back
with `qemu-img convert` and compared byte by byte; the base is unchanged.

Reuses test_node_agent.py's helpers; every process it starts is killed at
exit, even on failure. Usage: test_node_block_migration.py GODWIT_BINARY
SOURCE_ROOT"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_node_agent as t  # noqa: E402

MIB = 1 << 20
BASE_MIB = 16
BASE_BYTE = 0x5A


class KubeVirtRulesServer(t.Server):
    def __init__(self, data_dir):
        self.proc = subprocess.Popen([t.GODWIT, "server", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
                                      "--rules", "kubevirt"],
                                     stdout=subprocess.PIPE, stderr=open(data_dir + ".log", "a"), text=True)
        t.procs.append(self.proc)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError("server did not start: %r" % line)
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.token_file = os.path.join(data_dir, "token")
        self.token = open(self.token_file).read().strip()


def hmp(sock_path, command):
    """One human-monitor-command over a VM's QMP socket; its reply."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    f = s.makefile("rw")
    try:
        f.readline()   # greeting
        replies = []
        for msg in ({"execute": "qmp_capabilities"},
                    {"execute": "human-monitor-command", "arguments": {"command-line": command}}):
            f.write(json.dumps(msg) + "\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "event" not in reply:
                    replies.append(reply)
                    break
        return replies[-1]
    finally:
        f.close()
        s.close()


def disk_bytes(image, out):
    """The guest-visible content of a (running VM's) disk image."""
    r = subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", image, out], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        return None
    with open(out, "rb") as f:
        return f.read()


def main():
    if not t.shutil.which("qemu-system-x86_64") or not t.shutil.which("qemu-img"):
        print("1..0 # SKIP qemu-system-x86_64 or qemu-img not installed")
        return 0
    if not t.GUEST or not os.path.exists(t.GUEST):
        print("1..0 # SKIP the workload guest is not built (GODWIT_GUEST_WORKLOAD)")
        return 0
    t.tmp = tempfile.mkdtemp(prefix="gwb-")
    ok = t.ok
    wait_for = t.wait_for
    server = KubeVirtRulesServer(os.path.join(t.tmp, "data"))
    a = t.Agent(server, "node-a", "skx-gold-6130.json")
    b = t.Agent(server, "node-b", "clx-ap-platinum-9242.json")
    ok(wait_for(lambda: server.get("/api/v1/nodes/node-a") and server.get("/api/v1/nodes/node-b"), 20),
       "two agents register", a.text() + b.text())

    base = os.path.join(t.tmp, "base.raw")
    with open(base, "wb") as f:
        f.write(bytes([BASE_BYTE]) * (BASE_MIB * MIB))
    vm = t.vm_manifest("vm-blk", "64Mi")
    spec = vm["spec"]["template"]["spec"]
    spec["domain"]["devices"] = {"disks": [{"name": "root", "disk": {"bus": "virtio"}}]}
    spec["volumes"] = [{"name": "root", "containerDisk": {"image": base}}]
    status, doc = server.request("POST", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines", vm)
    ok(status == 201, "a VM with a container disk is created", (status, doc))

    def vmi():
        return server.get(t.VMIS + "/vm-blk") or {}

    def state():
        return vmi().get("status", {}).get("migrationState") or {}

    running = wait_for(lambda: vmi().get("status", {}).get("phase") == "Running", 30)
    node = vmi().get("status", {}).get("nodeName")
    src, dst = (a, b) if node == "node-a" else (b, a)
    src_dir = (src.vm_dirs() or [""])[0]
    ok(running and src_dir and os.path.exists(os.path.join(src_dir, "disk0.qcow2")),
       "it runs on %s with an overlay over the base" % node, src.text()[-800:])
    ok(wait_for(lambda: len(t.status_lines(t.serial(src_dir))) >= 2, 30), "its guest runs",
       t.serial(src_dir)[-500:])

    # Data in the overlay, written through QEMU while the source agent is away.
    ok(src.stop() == 0, "the source agent stops (its VM runs on)")
    reply = hmp(os.path.join(src_dir, "qmp.sock"), 'qemu-io disk0 "write -P 0xab 1M 1M"')
    ok(reply.get("return") == "", "1 MiB of 0xab written into the overlay at 1 MiB", reply)
    src.start()
    src_pid = t.pid_of(src_dir)
    ok(wait_for(lambda: "found again (pid %d" % src_pid in src.text(), 20), "the agent finds its VM again",
       src.text()[-800:])

    env = dict(os.environ, GODWIT_SERVER=server.url, GODWIT_TOKEN=server.token)
    m = subprocess.run([t.GODWIT, "migrate", "vm-blk"], env=env, capture_output=True, text=True, timeout=20)
    words = m.stdout.split()
    vmim_name = words[0].split("/", 1)[1] if words and "/" in words[0] else ""
    ok(m.returncode == 0 and vmim_name, "godwit migrate vm-blk", m.stdout + m.stderr)

    def vmim_phase():
        doc = server.get("/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstancemigrations/" +
                         vmim_name) or {}
        return doc.get("status", {}).get("phase")

    wait_for(lambda: vmim_phase() in ("Succeeded", "Failed"), 60)
    ms = state()
    ok(vmim_phase() == "Succeeded" and vmi().get("status", {}).get("nodeName") == dst.name,
       "the migration succeeds: the VM is on %s" % dst.name,
       json.dumps(ms, indent=1) + src.text()[-1500:] + dst.text()[-1500:])
    ports = ms.get("targetDirectMigrationNodePorts") or {}
    ok(sorted(ports.values()) == [0, 49153] and all(k.isdigit() for k in ports),
       "the target published its migration and NBD ports (0 and 49153)", ports)
    prog = ms.get("godwitProgress", {})
    ok(vmi().get("status", {}).get("migrationMethod") == "BlockMigration" and prog.get("disksMirrored") == 1 and
       MIB <= prog.get("diskTotalBytes", 0) < BASE_MIB * MIB and
       prog.get("diskTransferredBytes") == prog.get("diskTotalBytes"),
       "BlockMigration: the overlay was copied, not the base (%s of %s bytes)" %
       (prog.get("diskTransferredBytes"), prog.get("diskTotalBytes")), json.dumps(vmi().get("status"), indent=1))

    dst_dir = (dst.vm_dirs() or [""])[0]
    ok(wait_for(lambda: len(t.status_lines(t.serial(dst_dir))) >= 2, 20) and "CORRUPT" not in t.serial(dst_dir),
       "the guest carries on on %s" % dst.name, t.serial(dst_dir)[-500:])
    data = disk_bytes(os.path.join(dst_dir, "disk0.qcow2"), os.path.join(t.tmp, "content.raw"))
    want = bytes([BASE_BYTE]) * MIB + b"\xab" * MIB + bytes([BASE_BYTE]) * ((BASE_MIB - 2) * MIB)
    ok(data == want, "the target's disk holds the source's write, the base elsewhere",
       "read %s bytes; first difference at %s" % (
           None if data is None else len(data),
           None if data is None else next((i for i in range(min(len(data), len(want))) if data[i] != want[i]),
                                          "length")))
    with open(base, "rb") as f:
        ok(f.read() == bytes([BASE_BYTE]) * (BASE_MIB * MIB), "the base image is unchanged")
    ok("disks on NBD port" in dst.text(), "the target agent says it exported the disks", dst.text()[-800:])

    server.request("DELETE", "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm-blk")
    server.request("DELETE", t.VMIS + "/vm-blk")
    ok(wait_for(lambda: not any(t.alive(p) for p in t.qemu_pids()), 20), "every QEMU is gone after the delete")
    ok(a.stop() == 0 and b.stop() == 0, "both agents exit 0 on SIGTERM")
    print("1..%d" % len(t.results))
    return 0 if all(t.results) else 1


if __name__ == "__main__":
    sys.exit(main())
