# SPDX-License-Identifier: Apache-2.0
"""A whole Godwit cluster made of real processes, for the end-to-end tests
and the demo: `godwit server` on a SQLite file, `godwit node` agents on
loopback addresses, and the QEMU guests the agents start.

Python 3 standard library only. Everything lives in one temporary
directory. `Cluster.close()` (also run at exit and on SIGINT/SIGTERM)
deletes the VMs, waits for their QEMUs to go, stops the agents and the
server, and as a last resort kills the QEMUs named by the pid files in
the agents' state directories (a VM's QEMU is detached from its agent on
purpose: it outlives the agent, so killing our children is not enough)."""
import atexit
import glob
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

MIB = 1 << 20

# Short names -> (API path prefix, namespaced)
KINDS = {
    "node": ("/api/v1/nodes", False),
    "vm": ("/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines", True),
    "vmi": ("/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances", True),
    "vmim": ("/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachineinstancemigrations", True),
    "kubevirt": ("/apis/kubevirt.io/v1/namespaces/{ns}/kubevirts", True),
    "policy": ("/apis/migrations.kubevirt.io/v1alpha1/migrationpolicies", False),
}
KIND_OF = {
    "Node": "node", "VirtualMachine": "vm", "VirtualMachineInstance": "vmi",
    "VirtualMachineInstanceMigration": "vmim", "KubeVirt": "kubevirt", "MigrationPolicy": "policy",
}
FINAL_VMIM = ("Succeeded", "Failed")


class Timeout(AssertionError):
    pass


class ApiError(RuntimeError):
    def __init__(self, method, path, code, doc):
        msg = doc.get("error", {}).get("message") if isinstance(doc, dict) else doc
        super().__init__("%s %s: %s %s" % (method, path, code, msg))
        self.code = code
        self.doc = doc


_live = []  # clusters not closed yet, for the exit and signal handlers


def _close_all():
    for c in list(_live):
        try:
            c.close()
        except Exception as e:  # keep closing the others
            print("# cleanup: %s" % e, file=sys.stderr)


def _on_signal(signum, _frame):
    # SystemExit runs the atexit handler, which closes every cluster.
    raise SystemExit(128 + signum)


atexit.register(_close_all)
for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def wait_for(what, fn, timeout, interval=0.2):
    """Calls fn until it returns something true; returns it. Raises Timeout
    naming `what` and fn's last answer otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except (OSError, ApiError, KeyError, ValueError) as e:
            last = e
            value = None
        else:
            value = last
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout("%s: not within %g s (last: %s)" % (what, timeout, str(last)[:400]))
        time.sleep(interval)


def dig(doc, path, default=None):
    """dig(vmi, "status.migrationState.completed")"""
    cur = doc
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return default
        cur = cur[key]
    return cur


def parse_time(ts):
    """RFC 3339 (UTC, optional fraction) -> seconds since the epoch."""
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$", ts or "")
    if not m:
        return None
    import calendar
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return secs + (float(m.group(7)) if m.group(7) else 0.0)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def status_lines(text):
    """The workload guest's status lines (docs/guests.md) as dicts."""
    out = []
    for m in re.finditer(r"godwit-workload: t=(\d+) pass=(\d+) checked=(\d+) dirtied=(\d+) "
                         r"rate=(\d+) corrupt=(\d+)", text):
        out.append(dict(zip(("t", "pass", "checked", "dirtied", "rate", "corrupt"),
                            (int(x) for x in m.groups()))))
    return out


class Agent:
    def __init__(self, cluster, name, address, profile, memory, cpus):
        self.cluster = cluster
        self.name = name
        self.address = address
        self.profile = profile
        self.memory = memory
        self.cpus = cpus
        self.state_dir = os.path.join(cluster.dir, "nodes", name)
        self.log_path = self.state_dir + ".log"
        self.proc = None
        self.exit_codes = []
        os.makedirs(self.state_dir, exist_ok=True)

    def start(self):
        c = self.cluster
        argv = [c.godwit, "node", "--server", c.url, "--token-file", c.token_file,
                "--name", self.name, "--address", self.address, "--state-dir", self.state_dir,
                "--memory", self.memory, "--cpus", str(self.cpus),
                "--heartbeat-interval", str(c.heartbeat_s), "--qemu", c.qemu, "--accel", c.accel]
        if self.profile:
            argv += ["--profile", self.profile]
        log = open(self.log_path, "a")
        log.write("=== %s %s\n" % (time.strftime("%H:%M:%S"), " ".join(argv)))
        log.flush()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        log.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the agent (its VMs keep running); returns its exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.exit_codes.append(rc)
        self.proc = None
        return rc

    def vm_dirs(self):
        return sorted(glob.glob(os.path.join(self.state_dir, "vms", "*")))

    def qemu_pids(self):
        """Live QEMUs of this node: (pid, state dir)."""
        out = []
        for d in self.vm_dirs():
            pid = read_pid(os.path.join(d, "qemu.pid"))
            if pid and pid_alive(pid) and _names_dir(pid, d):
                out.append((pid, d))
        return out


def _die_with_parent():
    """In the child before exec: SIGTERM when the harness dies. The server
    and the agents run in sessions of their own, so that a Ctrl-C at the
    terminal reaches only the harness, which then stops them in order
    (VMs first, while the agents still run)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _names_dir(pid, state_dir):
    """Whether process pid is the QEMU of this state directory (a stale pid
    file may name a reused pid)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return os.path.basename(state_dir).encode() in f.read()
    except OSError:
        return False


class Watch(threading.Thread):
    """A watch stream on one kind, every namespace: keeps every event, and
    the last state of each object (also of deleted ones: a cancelled
    migration goes once its finalizer is done, and its DELETED event
    carries its final status)."""

    def __init__(self, cluster, kind):
        super().__init__(daemon=True, name="watch-" + kind)
        self.events = []   # (monotonic time, type, object)
        self.objects = {}  # "ns/name" -> last object
        self.lock = threading.Lock()
        self.conn = http.client.HTTPConnection(cluster.host, cluster.port, timeout=600)
        self.conn.request("GET", KINDS[kind][0].replace("/namespaces/{ns}", "") + "?watch=true",
                          headers={"Authorization": "Bearer " + cluster.token})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise ApiError("GET", "watch " + kind, self.resp.status, None)
        self.start()

    def run(self):
        while True:
            try:
                line = self.resp.readline()
            except Exception:
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            o = ev.get("object") or {}
            key = "%s/%s" % (dig(o, "metadata.namespace", ""), dig(o, "metadata.name"))
            with self.lock:
                self.events.append((time.monotonic(), ev.get("type"), o))
                self.objects[key] = o

    def last(self, name, ns="default"):
        with self.lock:
            return self.objects.get("%s/%s" % (ns, name))

    def history(self):
        with self.lock:
            return list(self.events)

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


class Cluster:
    """server + agents in a fresh temporary directory.

    nodes: [(name, address or None, profile path or None, memory, cpus)]"""

    def __init__(self, godwit, nodes, qemu="qemu-system-x86_64", accel="tcg", heartbeat_s=1,
                 log=None, keep=None, parent=None, server_args=()):
        self.godwit = os.path.abspath(godwit)
        self.qemu = qemu
        self.accel = accel
        self.heartbeat_s = heartbeat_s
        self.server_args = list(server_args)
        self.log = log or (lambda msg: print("# " + msg, flush=True))
        self.keep = os.environ.get("GODWIT_E2E_KEEP") == "1" if keep is None else keep
        # Short: a VM's state directory must leave room for its QMP socket
        # (a Unix socket path, at most 107 bytes).
        self.dir = tempfile.mkdtemp(prefix="gw-", dir=parent or os.environ.get("TMPDIR"))
        self.server = None
        self.url = None
        self.token = None
        self.token_file = None
        self.agents = {}
        self.closed = False
        # Loopback addresses of their own per cluster, so that two clusters
        # on one machine (parallel test runs) do not meet.
        net = "127.%d.%d." % (random.randint(100, 254), random.randint(1, 254))
        self.net = net
        _live.append(self)
        self._start_server()
        for i, n in enumerate(nodes):
            name, address, profile, memory, cpus = (tuple(n) + (None,) * 5)[:5]
            self.agents[name] = Agent(self, name, address or net + str(11 + i), profile,
                                      memory or "4Gi", cpus or 8)
        for a in self.agents.values():
            a.start()
        for a in self.agents.values():
            self.wait_node(a.name)
        self.vmims = Watch(self, "vmim")

    # -- processes
    def _start_server(self):
        data = os.path.join(self.dir, "server")
        os.makedirs(data)
        self.server_log = os.path.join(self.dir, "server.log")
        log = open(self.server_log, "a")
        self.server = subprocess.Popen(
            [self.godwit, "server", "--data-dir", data, "--listen", "127.0.0.1:0"] + self.server_args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
            start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        line = self.server.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError("godwit server did not start: %r (exit %s); see %s"
                               % (line, self.server.poll(), self.server_log))
        self.url = line.split()[1].strip()
        self.host, self.port = self.url.rsplit("/", 1)[1].rsplit(":", 1)
        self.port = int(self.port)
        self.token_file = os.path.join(data, "token")
        with open(self.token_file) as f:
            self.token = f.read().strip()
        # Drain the rest of stdout so the server never blocks on it.
        threading.Thread(target=self.server.stdout.read, daemon=True).start()

    def env(self):
        """Environment for the godwit CLI as a client of this cluster."""
        e = dict(os.environ)
        e["GODWIT_SERVER"] = self.url
        e["GODWIT_TOKEN"] = self.token
        return e

    def cli(self, *args, check=True, timeout=60):
        """Runs `godwit ARGS` against this cluster; returns (rc, stdout, stderr)."""
        p = subprocess.run([self.godwit, *args], env=self.env(), capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("godwit %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                          (p.stderr or p.stdout).strip()))
        return p.returncode, p.stdout, p.stderr

    def agent(self, name):
        return self.agents[name]

    def qemu_pids(self):
        return [p for a in self.agents.values() for p in a.qemu_pids()]

    # -- HTTP
    def request(self, method, path, body=None, ctype="application/json", timeout=15):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = ctype
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            text = r.read()
        finally:
            c.close()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = text
        if r.status >= 300:
            raise ApiError(method, path, r.status, doc)
        return doc

    @staticmethod
    def _path(kind, ns):
        base, namespaced = KINDS[kind]
        return base.format(ns=ns) if namespaced else base

    def get(self, kind, name, ns="default"):
        return self.request("GET", "%s/%s" % (self._path(kind, ns), name))

    def try_get(self, kind, name, ns="default"):
        try:
            return self.get(kind, name, ns)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def list(self, kind, ns="default", selector=None):
        path = self._path(kind, ns)
        if selector:
            from urllib.parse import quote
            path += "?labelSelector=" + quote(selector)
        return self.request("GET", path)["items"]

    def create(self, doc):
        kind = KIND_OF[doc["kind"]]
        ns = dig(doc, "metadata.namespace", "default")
        return self.request("POST", self._path(kind, ns), doc)

    def apply(self, doc):
        """Create, or replace the spec of an existing object of that name."""
        kind = KIND_OF[doc["kind"]]
        ns = dig(doc, "metadata.namespace", "default")
        cur = self.try_get(kind, doc["metadata"]["name"], ns)
        if cur is None:
            return self.create(doc)
        doc = json.loads(json.dumps(doc))
        doc["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        return self.request("PUT", "%s/%s" % (self._path(kind, ns), doc["metadata"]["name"]), doc)

    def patch(self, kind, name, patch, ns="default", status=False):
        path = "%s/%s%s" % (self._path(kind, ns), name, "/status" if status else "")
        return self.request("PATCH", path, patch, ctype="application/merge-patch+json")

    def delete(self, kind, name, ns="default"):
        try:
            return self.request("DELETE", "%s/%s" % (self._path(kind, ns), name))
        except ApiError as e:
            if e.code != 404:
                raise
            return None

    # -- cluster settings
    def set_migrations(self, **migrations):
        """spec.configuration.migrations of the KubeVirt CR (created when
        missing), as the controllers read it: parallelMigrationsPerCluster,
        parallelOutboundMigrationsPerNode, bandwidthPerMigration,
        completionTimeoutPerGiB, progressTimeout, allowPostCopy, ..."""
        cur = self.try_get("kubevirt", "kubevirt", "kubevirt")
        if cur is None:
            self.create({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
                         "metadata": {"name": "kubevirt", "namespace": "kubevirt"},
                         "spec": {"configuration": {"migrations": migrations}}})
        else:
            self.patch("kubevirt", "kubevirt", {"spec": {"configuration": {"migrations": migrations}}},
                       ns="kubevirt")

    def set_policy(self, name, vmi_labels, **spec):
        """A MigrationPolicy for the VMIs with these labels: allowPostCopy,
        bandwidthPerMigration, completionTimeoutPerGiB, ... (they win over
        the KubeVirt CR's, kubevirt-behaviour.md section 5)."""
        spec = dict(spec)
        spec["selectors"] = {"virtualMachineInstanceSelector": dict(vmi_labels)}
        return self.apply({"apiVersion": "migrations.kubevirt.io/v1alpha1", "kind": "MigrationPolicy",
                           "metadata": {"name": name}, "spec": spec})

    # -- nodes
    def wait_node(self, name, timeout=30):
        """The agent registered its Node (and it is schedulable)."""
        agent = self.agents[name]

        def registered():
            if agent.proc is not None and agent.proc.poll() is not None:
                raise RuntimeError("agent %s exited with %s; log %s:\n%s" % (
                    name, agent.proc.returncode, agent.log_path, tail(agent.log_path)))
            n = self.try_get("node", name)
            return n if n and dig(n, "metadata.annotations", {}).get("kubevirt.io/heartbeat") else None
        return wait_for("node %s registered by its agent" % name, registered, timeout)

    # -- VMs
    def wait_vmi(self, name, pred, what, timeout=60, ns="default"):
        def check():
            v = self.try_get("vmi", name, ns)
            return v if v is not None and pred(v) else None
        return wait_for("VMI %s: %s" % (name, what), check, timeout)

    def wait_running(self, name, timeout=60, ns="default"):
        return self.wait_vmi(name, lambda v: dig(v, "status.phase") == "Running" and
                             dig(v, "status.nodeName"), "Running on a node", timeout, ns)

    def migrate(self, vmi, node=None, ns="default", name=None):
        """Creates a VMIM (to `node` when given); returns its name."""
        doc = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
               "metadata": {"namespace": ns}, "spec": {"vmiName": vmi}}
        if name:
            doc["metadata"]["name"] = name
        else:
            doc["metadata"]["generateName"] = "e2e-migrate-%s-" % vmi
        if node:
            doc["spec"]["addedNodeSelector"] = {"kubernetes.io/hostname": node}
        return self.create(doc)["metadata"]["name"]

    def vmim(self, name, ns="default"):
        """A VMIM as stored, or its last state from the watch once deleted."""
        m = self.try_get("vmim", name, ns)
        return m if m is not None else self.vmims.last(name, ns)

    def wait_vmim(self, name, phases=FINAL_VMIM, timeout=120, ns="default"):
        def check():
            m = self.vmim(name, ns)
            return m if m is not None and dig(m, "status.phase") in phases else None
        return wait_for("VMIM %s in %s" % (name, "/".join(phases)), check, timeout)

    def serial_logs(self, vmi_name, ns="default", node=None):
        """Serial logs of a VM on every node (or one), oldest first."""
        agents = [self.agents[node]] if node else list(self.agents.values())
        paths = []
        for a in agents:
            paths += glob.glob(os.path.join(a.state_dir, "vms", "%s_%s_*" % (ns, vmi_name), "serial.log"))
        return sorted(paths, key=lambda p: os.stat(p).st_mtime)

    def serial_text(self, vmi_name, node, ns="default"):
        """The newest serial log of the VM on a node."""
        logs = self.serial_logs(vmi_name, ns, node)
        if not logs:
            return ""
        with open(logs[-1], errors="replace") as f:
            return f.read()

    def vm_qemu(self, vmi_name, node, ns="default"):
        """(pid, state dir) of the VM's live QEMU on a node, or None."""
        for pid, d in self.agents[node].qemu_pids():
            if os.path.basename(d).startswith("%s_%s_" % (ns, vmi_name)):
                return pid, d
        return None

    # -- teardown
    def dump_logs(self, lines=30):
        """Prints the tails of the server's and agents' logs (TAP comments)."""
        for path in [self.server_log] + [a.log_path for a in self.agents.values()]:
            print("# --- %s" % os.path.basename(path))
            for line in tail(path, lines).splitlines():
                print("#   " + line)
        sys.stdout.flush()

    def close(self, timeout=20):
        if self.closed:
            return
        self.closed = True
        if self in _live:
            _live.remove(self)
        # A second Ctrl-C (or meson's SIGTERM) must not cut the clean-up short.
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
        try:
            self._close(timeout)
        finally:
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(sig, _on_signal)

    def _close(self, timeout):
        if getattr(self, "vmims", None):
            self.vmims.close()
        deadline = time.monotonic() + timeout
        # 1. Ask the control plane to stop the VMs, while the agents run.
        if self.server and self.server.poll() is None and any(a.running() for a in self.agents.values()):
            try:
                for kind in ("vmim", "vm", "vmi"):
                    for o in self.request("GET", KINDS[kind][0].replace("/namespaces/{ns}", ""))["items"]:
                        self.delete(kind, o["metadata"]["name"], o["metadata"].get("namespace", "default"))
                while self.qemu_pids() and time.monotonic() < deadline:
                    time.sleep(0.2)
            except Exception as e:
                self.log("cleanup: deleting the VMs: %s" % e)
        # 2. The agents, then the server.
        for a in self.agents.values():
            a.stop(timeout=10)
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        # 3. Last resort: QEMUs left behind, by their pid files.
        left = self.qemu_pids()
        for pid, d in left:
            self.log("cleanup: killing QEMU %d left in %s" % (pid, os.path.relpath(d, self.dir)))
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid, _ in left:
            wait_for("QEMU %d gone" % pid, lambda: not pid_alive(pid), 5)
        if self.keep:
            self.log("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# -- manifests
def workload_vm(name, elf, memory_mib=128, args="rate=1000", cpu_model="host-model", vm=True,
                eviction="LiveMigrate", labels=None, ns="default"):
    """The workload guest (guest/workload) as a VirtualMachine (vm=True,
    runStrategy Always) or a bare VirtualMachineInstance. The kernel is
    booted directly: KubeVirt's kernelBoot, whose container image is a
    local directory here."""
    spec = {
        "domain": {
            "cpu": {"model": cpu_model, "sockets": 1, "cores": 1, "threads": 1},
            "memory": {"guest": "%dMi" % memory_mib},
            "resources": {"requests": {"memory": "%dMi" % memory_mib}},
            "firmware": {"kernelBoot": {
                "container": {"image": os.path.dirname(os.path.abspath(elf)),
                              "kernelPath": os.path.basename(elf)},
                "kernelArgs": args}},
            "devices": {},
        },
        "evictionStrategy": eviction,
    }
    meta_labels = {"app": name}
    meta_labels.update(labels or {})
    if not vm:
        return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": name, "namespace": ns, "labels": meta_labels}, "spec": spec}
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"runStrategy": "Always",
                     "template": {"metadata": {"labels": meta_labels}, "spec": spec}}}


def fmt_bytes(n):
    if n is None:
        return "?"
    return "%.1f MiB" % (n / MIB)
