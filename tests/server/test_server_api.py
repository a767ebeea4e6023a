#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Integration tests of `godwit server` over real HTTP (TAP).

Starts the real binary as a process on 127.0.0.1 with a free port and a
temporary data directory (and, for the etcd part, a real etcd), drives it
with http.client, and kills every process it started at exit, even on
failure. Usage: test_server_api.py GODWIT_BINARY [sqlite|etcd|cli|tls|report|control|control_etcd]"""
import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

GODWIT = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
procs = []
dirs = []
results = []
exit_codes = []  # of every server stopped with SIGTERM


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, data_dir, extra=()):
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            # The API part checks the API's own semantics (finalizers kept
            # until removed, objects as written): the controllers, which
            # act on them, stay off there.
            [GODWIT, "server", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
             *(["--no-controllers"] if MODE in ("sqlite", "report") else []), *extra],
            stdout=subprocess.PIPE, stderr=open(data_dir + ".log", "a"),
            text=True)
        procs.append(self.proc)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError("server did not start: %r (exit %s)" % (line, self.proc.poll()))
        self.port = int(line.strip().rsplit(":", 1)[1])
        with open(os.path.join(data_dir, "token")) as f:
            self.token = f.read().strip()

    def request(self, method, path, body=None, token=True, ctype=None, raw=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {}
        if token is True:
            headers["Authorization"] = "Bearer " + self.token
        elif token:
            headers["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            headers["Content-Type"] = ctype or "application/json"
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            text = r.read()
        finally:
            c.close()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        return r.status, doc

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        exit_codes.append(rc)
        return rc


class Watch:
    """A raw watch stream: reads newline-delimited events."""

    def __init__(self, server, path):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        self.conn.request("GET", path, headers={"Authorization": "Bearer " + server.token})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status

    def next(self):
        while True:
            line = self.resp.readline()
            if not line:
                return None
            if line.strip():
                return json.loads(line)

    def close(self):
        self.conn.close()


def ok(cond, name, detail=""):
    results.append((bool(cond), name, detail))
    n = len(results)
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name))
    if not cond and detail:
        for line in str(detail).splitlines()[:20]:
            print("#   " + line)
    sys.stdout.flush()


def meta(name, ns=None, **extra):
    m = {"name": name}
    if ns:
        m["namespace"] = ns
    m.update(extra)
    return m


def vmi(name, iface="masquerade", volumes=(), phase="Running", node="n1"):
    doc = {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": meta(name, "default", labels={"app": name}),
        "spec": {
            "domain": {
                "cpu": {"model": "Haswell-noTSX"},
                "devices": {"interfaces": [{"name": "default", iface: {}}],
                            "disks": [{"name": v, "disk": {"bus": "virtio"}} for v, _ in volumes]},
                "resources": {"requests": {"memory": "1Gi"}},
            },
            "networks": [{"name": "default", "pod": {}}],
            "volumes": [{"name": v, "persistentVolumeClaim": {"claimName": claim}} for v, claim in volumes],
        },
    }
    if phase:
        doc["status"] = {"phase": phase, "nodeName": node}
    return doc


NS = "/apis/kubevirt.io/v1/namespaces/default"


def objects_of_every_kind():
    return [
        ("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": meta("n1", labels={"zone": "a"})}),
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("default")}),
        ("/api/v1/namespaces/default/persistentvolumeclaims",
         {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("rwo", "default"),
          "spec": {"accessModes": ["ReadWriteOnce"]}}),
        ("/api/v1/namespaces/default/pods",
         {"apiVersion": "v1", "kind": "Pod", "metadata": meta("virt-launcher-x", "default"),
          "spec": {"nodeName": "n1"}}),
        (NS + "/virtualmachines",
         {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": meta("vm0", "default"),
          "spec": {"running": True, "template": {"spec": vmi("x")["spec"]}}}),
        (NS + "/virtualmachineinstances", vmi("vm1")),
        (NS + "/kubevirts",
         {"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": meta("kubevirt", "default"),
          "spec": {"configuration": {"migrations": {"parallelMigrationsPerCluster": 3}}}}),
        ("/apis/migrations.kubevirt.io/v1alpha1/migrationpolicies",
         {"apiVersion": "migrations.kubevirt.io/v1alpha1", "kind": "MigrationPolicy", "metadata": meta("p1"),
          "spec": {"allowPostCopy": True, "selectors": {"virtualMachineInstanceSelector": {"app": "vm1"}}}}),
    ]


def check_selector_watch(s):
    """A label-selector watch sees an object leave (DELETED, its last
    matching state) and enter (ADDED) when its labels change, as in
    Kubernetes; changes outside the selector are not sent."""
    code, doc = s.request("POST", "/api/v1/nodes",
                          body={"kind": "Node", "metadata": {"name": "sel", "labels": {"pool": "a"}}})
    w = Watch(s, "/api/v1/nodes?watch=true&labelSelector=pool%3Da&resourceVersion="
              + doc["metadata"]["resourceVersion"])

    def patch(labels, spec=None):
        body = {"metadata": {"labels": labels}}
        if spec is not None:
            body["spec"] = spec
        code, doc = s.request("PATCH", "/api/v1/nodes/sel", body=body, ctype="application/merge-patch+json")
        return doc["metadata"]["resourceVersion"]

    patch({"x": "1"})                       # stays in: MODIFIED
    left = patch({"pool": "b"})             # leaves: DELETED
    patch({"x": "2"})                       # outside: nothing
    patch({}, {"unschedulable": True})      # outside, labels unchanged: nothing
    patch({"pool": "a"})                    # enters: ADDED
    s.request("DELETE", "/api/v1/nodes/sel")  # deleted while in: DELETED
    evs = [w.next() for _ in range(4)]
    w.close()
    types = [e["type"] for e in evs]
    ok(types == ["MODIFIED", "DELETED", "ADDED", "DELETED"],
       "selector watch: MODIFIED inside, DELETED on leaving, nothing outside, ADDED on entering", evs)
    gone = evs[1]["object"] if len(evs) > 1 and evs[1] else {}
    ok(gone.get("metadata", {}).get("labels", {}).get("pool") == "a"
       and gone["metadata"]["resourceVersion"] == left,
       "the DELETED of an object leaving the selector: its previous state, the change's resourceVersion", gone)


def test_sqlite(tmp):
    data = os.path.join(tmp, "data")
    s = Server(data)
    st = os.stat(os.path.join(data, "token"))
    ok(st.st_mode & 0o777 == 0o600 and len(s.token) == 64, "token file: 64 hex digits, mode 0600",
       oct(st.st_mode))

    # -- authentication
    code, doc = s.request("GET", "/api/v1/nodes", token=None)
    ok(code == 401 and doc["error"]["code"] == 401, "no token: 401", doc)
    code, _ = s.request("GET", "/api/v1/nodes", token="0" * 64)
    ok(code == 401, "wrong token: 401")
    code, _ = s.request("GET", "/api/v1/nodes", token=s.token[:-1])
    ok(code == 401, "truncated token: 401")
    code, _ = s.request("POST", "/api/v1/nodes", body={"kind": "Node", "metadata": {"name": "x"}}, token="bad")
    ok(code == 401, "write with a bad token: 401")
    code, doc = s.request("GET", "/api/v1/nodes/x")
    ok(code == 404, "the refused write left nothing", doc)

    # -- create and read every kind
    for path, obj in objects_of_every_kind():
        code, doc = s.request("POST", path, body=obj)
        good = code == 201 and doc["metadata"].get("resourceVersion") and doc["metadata"].get("uid")
        ok(good, "create %s: 201 with resourceVersion and uid" % obj["kind"], (code, doc))
        code, got = s.request("GET", path + "/" + obj["metadata"]["name"])
        ok(code == 200 and got["metadata"]["name"] == obj["metadata"]["name"], "get %s" % obj["kind"], got)
        code, lst = s.request("GET", path)
        ok(code == 200 and any(i["metadata"]["name"] == obj["metadata"]["name"] for i in lst["items"])
           and lst["kind"] == obj["kind"] + "List", "list %s" % obj["kind"], lst)
    code, doc = s.request("POST", "/api/v1/nodes", body=objects_of_every_kind()[0][1])
    ok(code == 409 and doc["error"]["reason"] == "AlreadyExists", "create twice: 409 AlreadyExists", doc)

    # YAML body
    code, doc = s.request("POST", "/api/v1/nodes", raw="apiVersion: v1\nkind: Node\nmetadata:\n  name: n2\n"
                          "  labels:\n    zone: b\n", ctype="application/yaml")
    ok(code == 201 and doc["metadata"]["labels"] == {"zone": "b"}, "YAML body accepted", doc)

    # label selectors
    code, doc = s.request("GET", "/api/v1/nodes?labelSelector=zone%3Db")
    ok(code == 200 and [i["metadata"]["name"] for i in doc["items"]] == ["n2"], "list with labelSelector", doc)
    code, doc = s.request("GET", "/api/v1/nodes?labelSelector=zone%20in%20(a,b)")
    ok(code == 200 and len(doc["items"]) == 2, "labelSelector in (a,b)", doc)
    code, doc = s.request("GET", "/api/v1/nodes?labelSelector=%3D%3D%3D")
    ok(code == 400, "bad labelSelector: 400", doc)
    code, doc = s.request("GET", "/apis/kubevirt.io/v1/virtualmachineinstances")
    ok(code == 200 and len(doc["items"]) == 1, "list across namespaces", doc)

    # -- two writers: optimistic concurrency
    code, n1 = s.request("GET", "/api/v1/nodes/n1")
    a = json.loads(json.dumps(n1))
    b = json.loads(json.dumps(n1))
    a["metadata"]["labels"]["writer"] = "a"
    b["metadata"]["labels"]["writer"] = "b"
    code_a, doc_a = s.request("PUT", "/api/v1/nodes/n1", body=a)
    code_b, doc_b = s.request("PUT", "/api/v1/nodes/n1", body=b)
    ok(code_a == 200 and code_b == 409 and doc_b["error"]["reason"] == "Conflict",
       "second writer with a stale resourceVersion: 409", (code_a, code_b, doc_b))
    code, n1 = s.request("GET", "/api/v1/nodes/n1")
    ok(n1["metadata"]["labels"]["writer"] == "a", "the first write stands", n1)

    # -- many writers at once: compare-and-swap increments over HTTP lose nothing
    import threading
    s.request("POST", "/api/v1/namespaces", body={"kind": "Namespace",
              "metadata": {"name": "counter", "annotations": {"n": "0"}}})
    conflicts = [0]
    errors = []

    def incrementer(times):
        done = 0
        while done < times:
            code, cur = s.request("GET", "/api/v1/namespaces/counter")
            cur["metadata"]["annotations"]["n"] = str(int(cur["metadata"]["annotations"]["n"]) + 1)
            code, doc = s.request("PUT", "/api/v1/namespaces/counter", body=cur)
            if code == 200:
                done += 1
            elif code == 409:
                conflicts[0] += 1
            else:
                errors.append((code, doc))
                return

    threads = [threading.Thread(target=incrementer, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    code, doc = s.request("GET", "/api/v1/namespaces/counter")
    ok(not errors and doc["metadata"]["annotations"]["n"] == "100",
       "4 concurrent writers, 100 CAS increments: none lost (%d conflicts retried)" % conflicts[0],
       (errors, doc))
    s.request("DELETE", "/api/v1/namespaces/counter")

    # -- merge patch (RFC 7386): set, delete with null
    code, doc = s.request("PATCH", "/api/v1/nodes/n1", body={"metadata": {"labels": {"writer": None, "p": "1"}}},
                          ctype="application/merge-patch+json")
    ok(code == 200 and doc["metadata"]["labels"] == {"zone": "a", "p": "1"}, "merge patch sets and removes", doc)
    code, doc = s.request("PATCH", "/api/v1/nodes/n1", body={"metadata": {"resourceVersion": "1"}, "spec": {}},
                          ctype="application/merge-patch+json")
    ok(code == 409, "merge patch with a stale resourceVersion: 409", doc)
    code, doc = s.request("PATCH", "/api/v1/nodes/n1", raw='[{"op":"add"}]', ctype="application/json-patch+json")
    ok(code == 415, "JSON patch (not merge): 415", doc)

    # -- status subresource
    path = NS + "/virtualmachineinstances/vm1"
    code, v = s.request("GET", path)
    v["status"]["phase"] = "Failed"
    v["metadata"]["labels"]["touched"] = "yes"
    code, doc = s.request("PUT", path, body=v)
    ok(code == 200 and doc["status"]["phase"] == "Running" and doc["metadata"]["labels"]["touched"] == "yes",
       "PUT on the resource ignores status", doc)
    code, doc = s.request("PATCH", path + "/status", body={"status": {"migrationState": {"completed": False}},
                          "metadata": {"labels": {"ignored": "x"}}}, ctype="application/merge-patch+json")
    ok(code == 200 and doc["status"]["migrationState"] == {"completed": False}
       and "ignored" not in doc["metadata"]["labels"], "PATCH on /status changes status only", doc)

    # -- validation: 422 with the field path
    bad = vmi("bad")
    bad["spec"]["domain"]["resources"]["requests"]["memory"] = "12Zi"
    code, doc = s.request("POST", NS + "/virtualmachineinstances", body=bad)
    ok(code == 422 and doc["error"]["field"] == "spec.domain.resources.requests.memory"
       and "12Zi" in doc["error"]["message"], "invalid quantity: 422 with the field path", doc)
    code, doc = s.request("POST", "/api/v1/nodes", body={"kind": "Node", "metadata": {"labels": {"a": "b"}}})
    ok(code == 422 and doc["error"]["field"] == "metadata.name", "missing name: 422 metadata.name", doc)
    code, doc = s.request("POST", "/api/v1/nodes", body={"kind": "VirtualMachine", "metadata": {"name": "z"}})
    ok(code == 400, "kind mismatching the endpoint: 400", doc)
    code, doc = s.request("POST", NS + "/virtualmachineinstances",
                          body=dict(vmi("other"), metadata=meta("other", "elsewhere")))
    ok(code == 400 and doc["error"]["field"] == "metadata.namespace", "namespace mismatch: 400", doc)

    # -- hostile input: malformed, oversized, wrong type; the server keeps serving
    code, doc = s.request("POST", "/api/v1/nodes", raw='{"kind": "Node", "metadata": {', ctype="application/json")
    ok(code == 400 and doc["error"]["reason"] == "BadRequest", "malformed JSON: 400", doc)
    code, doc = s.request("POST", "/api/v1/nodes", raw="a: [unclosed\n", ctype="application/yaml")
    ok(code == 400, "malformed YAML: 400", doc)
    code, doc = s.request("POST", "/api/v1/nodes", raw="[1, 2]", ctype="application/json")
    ok(code == 400, "a JSON array body: 400", doc)
    code, doc = s.request("POST", "/api/v1/nodes", raw="x" * 10, ctype="text/plain")
    ok(code == 415, "unsupported content type: 415", doc)
    big = '{"kind":"Node","metadata":{"name":"big","annotations":{"a":"' + "x" * (5 << 20) + '"}}}'
    try:
        code, doc = s.request("POST", "/api/v1/nodes", raw=big, ctype="application/json")
    except (BrokenPipeError, ConnectionResetError):
        code = 413  # the server answered 413 and closed before reading it all
    ok(code == 413, "5 MiB body: 413", code)
    bomb = "a: &a0 [x, x, x, x]\n" + "".join(
        "a%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n" % (i, i, i - 1, i - 1, i - 1, i - 1) for i in range(1, 20))
    code, doc = s.request("POST", "/api/v1/nodes", raw="kind: Node\nmetadata: {name: bomb}\n" + bomb,
                          ctype="application/yaml", timeout=20)
    ok(code == 413, "YAML alias bomb (4^20 expansion): 413 at once", doc)
    code, doc = s.request("POST", "/api/v1/nodes", raw="[" * 100000, ctype="application/json")
    ok(code == 400, "100,000 nested arrays: 400", doc)
    code, doc = s.request("GET", "/api/v1/nodes/big")
    ok(code == 404, "the oversized object was not stored", doc)
    code, doc = s.request("GET", "/api/v1/nodes/n1")
    ok(code == 200, "server still serves after hostile input", doc)
    code, doc = s.request("GET", "/api/v1/nodes/n1/extra/segments")
    ok(code == 404, "unknown path: 404", doc)
    code, doc = s.request("GET", "/api/v1/namespaces/default/virtualmachines")
    ok(code == 404, "kind under the wrong group: 404", doc)

    # -- watch: from a resourceVersion, resume, selector
    code, lst = s.request("GET", "/api/v1/nodes")
    rv = lst["metadata"]["resourceVersion"]
    w = Watch(s, "/api/v1/nodes?watch=true&resourceVersion=" + rv)
    ok(w.status == 200, "watch opens: 200")
    s.request("POST", "/api/v1/nodes", body={"kind": "Node", "metadata": {"name": "n3", "labels": {"zone": "c"}}})
    s.request("PATCH", "/api/v1/nodes/n3", body={"metadata": {"labels": {"x": "y"}}},
              ctype="application/merge-patch+json")
    s.request("DELETE", "/api/v1/nodes/n3")
    evs = [w.next() for _ in range(3)]
    w.close()
    ok([e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"]
       and all(e["object"]["metadata"]["name"] == "n3" for e in evs), "watch: ADDED, MODIFIED, DELETED", evs)
    added_rv = evs[0]["object"]["metadata"]["resourceVersion"]
    w = Watch(s, "/api/v1/nodes?watch=true&resourceVersion=" + added_rv)
    evs2 = [w.next() for _ in range(2)]
    w.close()
    ok([e["type"] for e in evs2] == ["MODIFIED", "DELETED"], "watch resumed from a resourceVersion: the rest, once",
       evs2)
    w = Watch(s, "/api/v1/nodes?watch=true")
    first = [w.next() for _ in range(2)]
    w.close()
    ok(all(e["type"] == "ADDED" for e in first)
       and sorted(e["object"]["metadata"]["name"] for e in first) == ["n1", "n2"],
       "watch without a version: current objects as ADDED", first)
    w = Watch(s, "/api/v1/nodes?watch=true&labelSelector=zone%3Dd&resourceVersion=" + added_rv)
    s.request("POST", "/api/v1/nodes", body={"kind": "Node", "metadata": {"name": "n5", "labels": {"zone": "e"}}})
    s.request("POST", "/api/v1/nodes", body={"kind": "Node", "metadata": {"name": "n4", "labels": {"zone": "d"}}})
    ev = w.next()
    w.close()
    ok(ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "n4", "watch with labelSelector", ev)
    check_selector_watch(s)

    # -- VMIM admission (3.4): every reason
    s.request("POST", NS + "/virtualmachineinstances", body=vmi("vm-bad", iface="bridge", volumes=[("d", "rwo")]))
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "m-bad"},
                                "spec": {"vmiName": "vm-bad"}})
    reasons = [r["reason"] for r in (doc or {}).get("error", {}).get("reasons", [])]
    ok(code == 422 and "InterfaceNotLiveMigratable" in reasons and "DisksNotLiveMigratable" in reasons,
       "VMIM of a VMI with a bridge and an RWO volume: 422 with both reasons", doc)
    s.request("POST", NS + "/virtualmachineinstances", body=vmi("vm-off", phase="Scheduling", node=None))
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "m-off"},
                                "spec": {"vmiName": "vm-off"}})
    ok(code == 422 and "VMINotRunning" in json.dumps(doc) or (code == 422 and "not running" in json.dumps(doc)),
       "VMIM of a VMI that does not run: 422", doc)
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "m-none"},
                                "spec": {"vmiName": "ghost"}})
    ok(code == 422 and "does not exist" in doc["error"]["message"], "VMIM of a missing VMI: 422", doc)
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "m-prio"},
                                "spec": {"vmiName": "vm1", "priority": "system-critical"}})
    ok(code == 422 and doc["error"]["field"] == "spec.priority", "VMIM with a priority: 422", doc)
    code, m1 = s.request("POST", NS + "/virtualmachineinstancemigrations",
                         body={"kind": "VirtualMachineInstanceMigration", "metadata": {"generateName": "mig-"},
                               "spec": {"vmiName": "vm1", "addedNodeSelector": {"zone": "a"}}})
    ok(code == 201 and m1["metadata"]["name"].startswith("mig-")
       and m1["metadata"]["labels"]["kubevirt.io/vmi-name"] == "vm1"
       and "kubevirt.io/migrationJobFinalize" in m1["metadata"]["finalizers"],
       "VMIM admitted: generateName, vmi-name label, finalizer", m1)
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "m-second"},
                                "spec": {"vmiName": "vm1"}})
    ok(code == 409 and "in-flight" in doc["error"]["message"], "second VMIM while one is in flight: 409", doc)
    mpath = NS + "/virtualmachineinstancemigrations/" + m1["metadata"]["name"]
    changed = json.loads(json.dumps(m1))
    changed["spec"]["addedNodeSelector"] = {"zone": "b"}
    code, doc = s.request("PUT", mpath, body=changed)
    ok(code == 422 and doc["error"]["field"] == "spec", "VMIM spec is immutable: 422", doc)

    # -- two migrations of one VMI at once: exactly one is admitted
    s.request("POST", NS + "/virtualmachineinstances", body=vmi("vm-race"))
    import threading
    codes = []

    def migrate(i):
        codes.append(s.request("POST", NS + "/virtualmachineinstancemigrations",
                               body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "race-%d" % i},
                                     "spec": {"vmiName": "vm-race"}})[0])

    threads = [threading.Thread(target=migrate, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ok(sorted(codes) == [201] + [409] * 5, "6 concurrent migrations of one VMI: one 201, five 409", codes)

    # -- delete with finalizers (abort = delete)
    code, doc = s.request("DELETE", mpath)
    ok(code == 202 and doc["metadata"].get("deletionTimestamp"), "DELETE with a finalizer marks: 202", doc)
    code, doc = s.request("GET", mpath)
    ok(code == 200 and doc["metadata"].get("deletionTimestamp"), "the marked object is still there", doc)
    code, doc = s.request("PATCH", mpath + "/status", body={"status": {"phase": "Failed"}},
                          ctype="application/merge-patch+json")
    ok(code == 200 and doc["status"]["phase"] == "Failed", "the controller records Failed", doc)
    code, doc = s.request("PATCH", mpath, body={"metadata": {"finalizers": None}},
                          ctype="application/merge-patch+json")
    ok(code == 200, "last finalizer removed", doc)
    code, doc = s.request("GET", mpath)
    ok(code == 404, "the object went with its last finalizer", doc)
    code, doc = s.request("DELETE", "/api/v1/nodes/n5")
    ok(code == 200, "DELETE without finalizers: 200", doc)
    code, doc = s.request("DELETE", "/api/v1/nodes/n5")
    ok(code == 404, "DELETE again: 404", doc)

    # -- restart keeps data
    code, before = s.request("GET", "/api/v1/nodes")
    rc = s.stop()
    ok(rc == 0, "SIGTERM: clean exit 0", rc)
    s = Server(data)
    code, after = s.request("GET", "/api/v1/nodes")
    ok(code == 200 and [i["metadata"]["name"] for i in after["items"]]
       == [i["metadata"]["name"] for i in before["items"]], "restart keeps the data and the token", after)
    # a watcher that lost its server resumes from its last resourceVersion
    s.request("POST", "/api/v1/nodes", body={"kind": "Node", "metadata": {"name": "after-restart"}})
    w = Watch(s, "/api/v1/nodes?watch=true&resourceVersion=" + before["metadata"]["resourceVersion"])
    ev = w.next()
    w.close()
    ok(ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "after-restart",
       "watch resumed across a server restart from the last resourceVersion", ev)
    s.stop()

    # -- 410 Gone: a watch older than the history
    data2 = os.path.join(tmp, "data2")
    s = Server(data2, ["--history-events", "5"])
    for i in range(30):
        s.request("POST", "/api/v1/namespaces", body={"kind": "Namespace", "metadata": {"name": "ns%d" % i}})
    time.sleep(0.2)
    code, doc = s.request("GET", "/api/v1/namespaces?watch=true&resourceVersion=1")
    ok(code == 410 and "re-list" in doc["error"]["message"], "watch from a compacted resourceVersion: 410", doc)
    code, doc = s.request("GET", "/api/v1/namespaces/ns29")
    ok(code == 200, "server fine after 410", doc)
    s.stop()


def start_etcd(tmp):
    """A real single-member etcd on free loopback ports (killed at exit);
    its client URL. Skips the whole run when etcd is not installed."""
    etcd = os.environ.get("GODWIT_ETCD") or shutil.which("etcd") or "/usr/bin/etcd"
    if not os.access(etcd, os.X_OK):
        print("1..0 # SKIP etcd not installed (Debian: etcd-server)")
        sys.exit(0)
    cport, pport = free_port(), free_port()
    d = os.path.join(tmp, "etcd")
    p = subprocess.Popen([etcd, "--name", "s", "--data-dir", d,
                          "--listen-client-urls", "http://127.0.0.1:%d" % cport,
                          "--advertise-client-urls", "http://127.0.0.1:%d" % cport,
                          "--listen-peer-urls", "http://127.0.0.1:%d" % pport,
                          "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pport,
                          "--initial-cluster", "s=http://127.0.0.1:%d" % pport],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    url = "http://127.0.0.1:%d" % cport
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", cport, timeout=1)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    return url


def test_etcd(tmp):
    url = start_etcd(tmp)
    data = os.path.join(tmp, "data")
    s = Server(data, ["--store", "etcd", "--etcd", url, "--etcd-prefix", "/t%d" % os.getpid()])
    code, _ = s.request("GET", "/api/v1/nodes", token="nope")
    ok(code == 401, "etcd: bad token 401")
    for path, obj in objects_of_every_kind():
        code, doc = s.request("POST", path, body=obj)
        ok(code == 201, "etcd: create %s" % obj["kind"], doc)
    code, n1 = s.request("GET", "/api/v1/nodes/n1")
    stale = json.loads(json.dumps(n1))
    n1["metadata"]["labels"]["w"] = "1"
    code_a, _ = s.request("PUT", "/api/v1/nodes/n1", body=n1)
    stale["metadata"]["labels"]["w"] = "2"
    code_b, doc = s.request("PUT", "/api/v1/nodes/n1", body=stale)
    ok(code_a == 200 and code_b == 409, "etcd: stale writer 409", doc)
    rv = s.request("GET", "/api/v1/nodes")[1]["metadata"]["resourceVersion"]
    w = Watch(s, "/api/v1/nodes?watch=true&resourceVersion=" + rv)
    s.request("POST", "/api/v1/nodes", body={"kind": "Node", "metadata": {"name": "e2"}})
    s.request("DELETE", "/api/v1/nodes/e2")
    evs = [w.next() for _ in range(2)]
    w.close()
    ok([e["type"] for e in evs] == ["ADDED", "DELETED"], "etcd: watch", evs)
    w = Watch(s, "/api/v1/nodes?watch=true&resourceVersion=" + evs[0]["object"]["metadata"]["resourceVersion"])
    ev = w.next()
    w.close()
    ok(ev["type"] == "DELETED", "etcd: watch resumed from a resourceVersion", ev)
    check_selector_watch(s)
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "m"},
                                "spec": {"vmiName": "vm1"}})
    ok(code == 201, "etcd: VMIM admitted", doc)
    code, doc = s.request("DELETE", NS + "/virtualmachineinstancemigrations/m")
    ok(code == 202, "etcd: delete with finalizer marks", doc)
    s.stop()
    s = Server(data, ["--store", "etcd", "--etcd", url, "--etcd-prefix", "/t%d" % os.getpid()])
    code, doc = s.request("GET", "/api/v1/nodes/n1")
    ok(code == 200 and doc["metadata"]["labels"]["w"] == "1", "etcd: restart keeps data", doc)
    s.stop()


def test_tls(tmp):
    import ssl
    openssl = shutil.which("openssl")
    if not openssl:
        print("1..0 # SKIP openssl not installed (needed to make a test certificate)")
        sys.exit(0)
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    data = os.path.join(tmp, "data")
    s = Server(data, ["--tls-cert", cert, "--tls-key", key])
    ctx = ssl.create_default_context(cafile=cert)

    def req(token, path="/api/v1/nodes"):
        c = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=ctx)
        c.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, json.loads(body)

    code, doc = req(s.token)
    ok(code == 200 and doc["kind"] == "NodeList", "HTTPS with the certificate verified: 200", doc)
    code, doc = req("bad")
    ok(code == 401, "HTTPS with a bad token: 401", doc)
    try:
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        c.request("GET", "/api/v1/nodes", headers={"Authorization": "Bearer " + s.token})
        status = c.getresponse().status
    except (http.client.HTTPException, OSError):
        status = None
    ok(status != 200, "plain HTTP to the TLS port gets no data", status)
    env = dict(os.environ, GODWIT_SERVER="https://127.0.0.1:%d" % s.port, GODWIT_TOKEN=s.token,
               GODWIT_CA=cert, HOME=tmp)
    p = subprocess.run([GODWIT, "get", "nodes"], env=env, capture_output=True, text=True, timeout=30)
    ok(p.returncode == 0 and "NAME" in p.stdout, "cli over HTTPS (CA from GODWIT_CA)", p.stdout + p.stderr)
    s.stop()


def test_cli(tmp):
    data = os.path.join(tmp, "data")
    s = Server(data)
    env = dict(os.environ, GODWIT_SERVER="http://127.0.0.1:%d" % s.port, GODWIT_TOKEN=s.token, HOME=tmp)

    def run(*args, env_=env):
        p = subprocess.run([GODWIT, *args], env=env_, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    man = os.path.join(tmp, "m")
    os.mkdir(man)
    with open(os.path.join(man, "a.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {zone: a}\n---\n"
                + json.dumps(vmi("vm1")) + "\n")
    rc, out, err = run("apply", "-f", man)
    ok(rc == 0 and "nodes/n1 created" in out and "virtualmachineinstances/vm1 created" in out,
       "cli: apply -f DIR creates", out + err)
    rc, out, err = run("apply", "-f", man)
    ok(rc == 0 and "configured" in out, "cli: apply again updates", out + err)
    # Dependency order, not file order: the migration's file sorts first, its VMI's last.
    order = os.path.join(tmp, "order")
    os.mkdir(order)
    with open(os.path.join(order, "0-migration.yaml"), "w") as f:
        f.write("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\n"
                "metadata: {name: mig-order}\nspec: {vmiName: vm-order}\n")
    with open(os.path.join(order, "1-vmi.json"), "w") as f:
        f.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": [vmi("vm-order")]}))
    with open(os.path.join(order, "2-node.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: Node\nmetadata: {name: n-order}\n")
    rc, out, err = run("apply", "-f", order)
    lines = out.splitlines()
    ok(rc == 0 and lines == ["nodes/n-order created", "virtualmachineinstances/vm-order created",
                             "virtualmachineinstancemigrations/mig-order created"],
       "cli: apply -f DIR goes Node, VMI, migration whatever the file names", out + err)
    with open(os.path.join(order, "3-broken.yaml"), "w") as f:
        f.write("kind: Node\nmetadata: {name: [unclosed\n")
    with open(os.path.join(order, "0-new-node.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: Node\nmetadata: {name: n-never}\n")
    rc, out, err = run("apply", "-f", order)
    code, _ = s.request("GET", "/api/v1/nodes/n-never")
    ok(rc != 0 and "3-broken.yaml" in err and code == 404,
       "cli: apply reads every file first: a broken one changes nothing", out + err)
    rc, out, err = run("get", "vmi")
    ok(rc == 0 and "vm1" in out and "Running" in out, "cli: get vmi (table)", out + err)
    rc, out, err = run("get", "nodes", "n1", "-o", "json")
    ok(rc == 0 and json.loads(out)["metadata"]["labels"] == {"zone": "a"}, "cli: get node -o json", out + err)
    s.request("PATCH", "/api/v1/nodes/n1", body={"metadata": {"labels": {"flag": "true", "num": "012",
              "f": "1e3", "empty": ""}}}, ctype="application/merge-patch+json")
    rc, out, err = run("get", "nodes", "n1", "-o", "yaml")
    with open(os.path.join(tmp, "n1.yaml"), "w") as f:
        f.write(out)
    rc2, out2, err2 = run("apply", "-f", os.path.join(tmp, "n1.yaml"))
    code, n1 = s.request("GET", "/api/v1/nodes/n1")
    ok(rc == 0 and "name: n1" in out and rc2 == 0 and n1["metadata"]["labels"] ==
       {"zone": "a", "flag": "true", "num": "012", "f": "1e3", "empty": ""},
       "cli: get -o yaml reads back through apply (ambiguous strings stay strings)", out + err + err2)
    rc, out, err = run("get", "nodes", "-l", "zone=b")
    ok(rc == 0 and "n1" not in out, "cli: get -l", out + err)
    rc, out, err = run("migrate", "vm1", "--selector", "zone=a")
    ok(rc == 0 and "created" in out, "cli: migrate", out + err)
    rc, out, err = run("migrate", "vm1")
    ok(rc != 0 and "in-flight" in err, "cli: a second migrate is refused with the reason", out + err)
    rc, out, err = run("migrate-cancel", "vm1")
    ok(rc == 0 and "cancel requested" in out, "cli: migrate-cancel", out + err)
    rc, out, err = run("drain", "n1")
    code, n1 = s.request("GET", "/api/v1/nodes/n1")
    ok(rc == 0 and n1["spec"]["unschedulable"] is True
       and n1["metadata"]["annotations"]["godwit.io/drain"] == "requested", "cli: drain cordons and requests", n1)
    rc, out, err = run("uncordon", "n1")
    code, n1 = s.request("GET", "/api/v1/nodes/n1")
    ok(rc == 0 and "unschedulable" not in n1.get("spec", {})
       and "godwit.io/drain" not in n1["metadata"].get("annotations", {}), "cli: uncordon", n1)
    rc, out, err = run("delete", "vmi", "vm1")
    ok(rc == 0 and "deleted" in out, "cli: delete", out + err)
    rc, out, err = run("get", "vmi", "vm1")
    ok(rc != 0 and "404" in err, "cli: get of a deleted object fails with 404", out + err)
    rc, out, err = run("get", "nodes", env_=dict(env, GODWIT_TOKEN="wrong"))
    ok(rc != 0 and "401" in err, "cli: a wrong token is reported", out + err)
    cfg = os.path.join(tmp, ".config", "godwit")
    os.makedirs(cfg)
    with open(os.path.join(cfg, "config"), "w") as f:
        f.write("# test\nserver = http://127.0.0.1:%d\ntoken=%s\n" % (s.port, s.token))
    env2 = {k: v for k, v in env.items() if not k.startswith("GODWIT_")}
    rc, out, err = run("get", "nodes", env_=env2)
    ok(rc == 0 and "n1" in out, "cli: server and token from the config file", out + err)
    p = subprocess.Popen([GODWIT, "watch", "nodes", "-o", "json"], env=env, stdout=subprocess.PIPE, text=True)
    procs.append(p)
    import select
    ready, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline() if ready else "{}"
    p.kill()
    p.wait()
    ok(json.loads(line).get("type") == "ADDED", "cli: watch streams events", line)
    s.stop()


# Scenarios whose reports do not depend on the input's order: where objects tie
# (node names listed in a sentence, drain waves), the input order
# decides, and the server lists each kind by namespace and name
# (node-state, s10-s12, s24-s27 and 004/label-added write their nodes in
# another order).
REPORT_SCENARIOS = ["000-common-cpu-model", "000-cluster-cpu-model", "002-blockers", "002-host-model-xyz-abc",
                    "003-policy-precedence", "s17-added-node-selector", "004-node-labels/before",
                    "s06-default-cpu-model", "s07-s09-cluster-model", "s18-no-host-model-label", "s20-s22-blockers"]
# Their drain plans pick among equally free targets by input order: plan drain is not compared.
PLAN_TIES = {"003-policy-precedence"}


def canonical(doc):
    """The report without what depends on the source: `where` of findings
    (a file and document, or a server path and index) and the order of
    lists (the input's order: files as written, the server sorted by
    namespace and name)."""
    if isinstance(doc, dict):
        return {k: canonical(v) for k, v in doc.items() if k != "where"}
    if isinstance(doc, list):
        return sorted((canonical(v) for v in doc), key=lambda v: json.dumps(v, sort_keys=True))
    return doc


def first_difference(a, b, path="$"):
    """Where two JSON values first differ, for the failure message."""
    if type(a) is not type(b):
        return "%s: %s vs %s" % (path, json.dumps(a)[:300], json.dumps(b)[:300])
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s: only in %s" % (path, k, "files" if k in a else "server")
            d = first_difference(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None if len(a) == len(b) else "%s: %d vs %d items" % (path, len(a), len(b))
    return None if a == b else "%s: %s vs %s" % (path, json.dumps(a), json.dumps(b))


def test_report(tmp):
    """check / explain / plan drain --server give the report of -f on the same files."""
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

    def run(*args, env=None):
        p = subprocess.run([GODWIT, *args], env=env, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def same(name, file_args, server_args, env):
        rc_f, out_f, err_f = run(*file_args)
        rc_s, out_s, err_s = run(*server_args, env=env)
        try:
            a, b = canonical(json.loads(out_f)), canonical(json.loads(out_s))
        except ValueError:
            a, b = None, "not JSON"
        ok(rc_f == 0 and rc_s == 0 and a == b, name,
           "rc %s/%s\n%s%s\nfirst difference (files vs server): %s" % (rc_f, rc_s, err_f, err_s,
                                                                      first_difference(a, b)))
        return a

    for i, scenario in enumerate(REPORT_SCENARIOS):
        man = os.path.join(root, "tests", "scenarios", scenario, "manifests")
        s = Server(os.path.join(tmp, "data%d" % i))
        url = "http://127.0.0.1:%d" % s.port
        env = dict(os.environ, HOME=tmp)
        for k in ("GODWIT_SERVER", "GODWIT_TOKEN", "GODWIT_CA"):
            env.pop(k, None)
        # The directory as it is: `apply` puts migrations after the VMIs they name (admission
        # refuses a VMIM of a missing VMI) although migrations.yaml sorts before vmis.yaml.
        rc, out, err = run("apply", "-f", man, "--server", url, "--token", s.token, env=env)
        ok(rc == 0, "%s: apply -f the manifests" % scenario, out + err)
        # The token through each way a client command takes it.
        ways = [["--server", url, "--token", s.token], ["--server", url, "--token-file", s.data_dir + "/token"]]
        env_token = dict(env, GODWIT_TOKEN=s.token)
        for rules in ("godwit", "kubevirt"):
            report = same("%s: check -o json --rules %s: --server = -f" % (scenario, rules),
                          ["check", "-f", man, "--rules", rules, "-o", "json"],
                          ["check", *ways[0], "--rules", rules, "-o", "json"], env)
        same("%s: check with what-ifs (--set-cpu-model, --remove-node): --server = -f" % scenario,
             ["check", "-f", man, "--set-cpu-model", "IvyBridge", "--remove-node", report["vms"][0]["node"] or "x",
              "-o", "json"],
             ["check", "--server", url, "--set-cpu-model", "IvyBridge", "--remove-node",
              report["vms"][0]["node"] or "x", "-o", "json"], env_token)
        for vm in report["vms"]:
            name = "%s/%s" % (vm["namespace"], vm["name"])
            same("%s: explain %s: --server = -f" % (scenario, name), ["explain", name, "-f", man, "-o", "json"],
                 ["explain", name, *ways[1], "-o", "json"], env)
        for node in sorted({vm["node"] for vm in report["vms"] if vm["node"]} if scenario not in PLAN_TIES else ()):
            same("%s: plan drain %s: --server = -f" % (scenario, node),
                 ["plan", "drain", node, "-f", man, "-o", "json"],
                 ["plan", "drain", node, *ways[0], "-o", "json"], env)
        if i == 0:
            rc, out, err = run("check", "-f", man, "--server", url, "--token", s.token, env=env)
            ok(rc == 2 and "-f and --server" in err, "check -f and --server together: usage error", err)
            rc, out, err = run("check", "-o", "json", env=env_token)
            ok(rc == 2 and "-f PATH or --server URL" in err, "check with neither -f nor --server: usage error", err)
            rc, out, err = run("explain", "x", "--server", url, "--token", "wrong", env=env)
            ok(rc != 0 and "401" in err, "explain --server with a wrong token: 401 reported", err)
            rc, out, err = run("plan", "drain", "n", "--server", url, "--token-file", os.path.join(tmp, "none"),
                               env=env)
            ok(rc == 3 and "--token-file" in err and "none" in err, "a missing --token-file is named", err)
            rc, out, err = run("check", "--server", url, "--token", "t", "--token-file", s.data_dir + "/token",
                               env=env)
            ok(rc == 2 and "--token-file" in err, "--token and --token-file together: usage error", err)
        s.stop()


class VmimMonitor:
    """Every VMIM event of an HTTP watch, replayed: the most migrations in
    flight (Scheduling..Running) at once in the cluster and per source
    node, and each VMIM's phases in order. Resumes from the last event's
    resourceVersion when the stream breaks (a server restart)."""
    FLIGHT = ("Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running")

    def __init__(self, server):
        self.server = server
        self.rv = "0"
        self.phase, self.source = {}, {}
        self.max_cluster = 0
        self.max_node = {}
        self.phases = {}
        self.resumes = 0
        self.errors = []
        import threading
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                w = Watch(self.server, NS + "/virtualmachineinstancemigrations?watch=true&resourceVersion=" + self.rv)
                if w.status != 200:
                    self.errors.append("watch status %d" % w.status)
                    return
                while not self.stop:
                    ev = w.next()
                    if ev is None:
                        break
                    self.event(ev)
                w.close()
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if not self.stop:
                self.resumes += 1
                time.sleep(0.2)

    def event(self, ev):
        o = ev["object"]
        name = o["metadata"]["name"]
        with self.lock:
            self.rv = o["metadata"]["resourceVersion"]
            if ev["type"] == "DELETED":
                self.phase.pop(name, None)
            else:
                phase = o.get("status", {}).get("phase", "")
                self.phase[name] = phase
                self.source[name] = o.get("status", {}).get("sourceNode")
                seen = self.phases.setdefault(name, [])
                if not seen or seen[-1] != phase:
                    seen.append(phase)
            flying = [n for n, p in self.phase.items() if p in self.FLIGHT]
            self.max_cluster = max(self.max_cluster, len(flying))
            for n in flying:
                node = self.source.get(n)
                count = sum(1 for m in flying if self.source.get(m) == node)
                self.max_node[node] = max(self.max_node.get(node, 0), count)

    def close(self):
        self.stop = True


def node_doc(name):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubevirt.io/schedulable": "true", "kubernetes.io/arch": "amd64",
                "machine-type.node.kubevirt.io/q35": "true",
                "cpu-model.node.kubevirt.io/Haswell-noTSX": "true",
                "cpu-model-migration.node.kubevirt.io/Haswell-noTSX": "true"}},
            "spec": {}, "status": {"allocatable": {"cpu": "64", "memory": "256Gi"}}}


def wait_for(cond, timeout=30, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def test_control(tmp, server_args=()):
    """The controllers inside the real server process, seen over HTTP only:
    6 migrations under limits 5 / 2 observed through a watch, a server
    restart in the middle of them (phases kept, the watch resumes, the
    work goes on), and a pending timeout shortened by its annotation. The
    test plays the node agents' side of the hand-off through the API (the
    real agent's end-to-end tests live with it)."""
    data = os.path.join(tmp, "data")
    s = Server(data, server_args)
    s.request("POST", "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts",
              body={"kind": "KubeVirt", "metadata": {"name": "kubevirt"},
                    "spec": {"configuration": {"migrations": {"parallelMigrationsPerCluster": 5,
                                                              "parallelOutboundMigrationsPerNode": 2}}}})
    for i in range(1, 7):
        code, doc = s.request("POST", "/api/v1/nodes", body=node_doc("node-%d" % i))
        if code != 201:
            ok(False, "create node-%d" % i, doc)
    # node-1 holds 3 VMs (its outbound limit 2 holds one back), node-2..4 one each: at most 2+1+1+1 = 5
    # in flight, the cluster limit, so the sixth waits for one to finish.
    placement = {"vm-a1": "node-1", "vm-a2": "node-1", "vm-a3": "node-1", "vm-b": "node-2", "vm-c": "node-3",
                 "vm-d": "node-4"}
    for name, node in placement.items():
        code, doc = s.request("POST", NS + "/virtualmachineinstances", body=vmi(name, node=node))
        if code != 201:
            ok(False, "create %s" % name, doc)
    mon = VmimMonitor(s)
    time.sleep(0.3)
    names = []
    for name in placement:
        code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                              body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "mig-" + name},
                                    "spec": {"vmiName": name}})
        ok(code == 201, "VMIM mig-%s admitted" % name, doc)
        names.append("mig-" + name)

    def phases():
        code, doc = s.request("GET", NS + "/virtualmachineinstancemigrations")
        return {i["metadata"]["name"]: i.get("status", {}).get("phase", "") for i in doc["items"]}

    # Without agents the migrations stop at PreparingTarget (the hand-off is written, no target
    # answers): the queue fills up to the limits and stays there.
    full = wait_for(lambda: (lambda p: p if sum(1 for v in p.values() if v == "PreparingTarget") == 5 else None)(
        phases()), timeout=30)
    before = phases()
    ok(full and sorted(before.values()) == ["Pending"] + ["PreparingTarget"] * 5,
       "5 of 6 migrations in flight (cluster limit 5), one Pending", before)
    pending = [n for n, p in before.items() if p == "Pending"]
    ok(pending and pending[0].startswith("mig-vm-a"), "the one held back comes from node-1 (outbound limit 2)",
       before)

    # -- restart in the middle: phases kept, hand-offs kept
    code, vmis_before = s.request("GET", NS + "/virtualmachineinstances")
    rc = s.stop()
    ok(rc == 0, "server stopped (SIGTERM) with 5 migrations in flight", rc)
    s2 = Server(data, server_args)
    # The monitor holds `s`: point it at the new process (a new port, the same token).
    s.port, s.token, s.proc = s2.port, s2.token, s2.proc
    time.sleep(1.5)   # a few controller passes
    after = phases()
    ok(after == before, "after the restart every VMIM keeps its phase (nothing lost, nothing moved back)",
       (before, after))
    code, vmis_after = s.request("GET", NS + "/virtualmachineinstances")
    uids = lambda lst: {i["metadata"]["name"]: i.get("status", {}).get("migrationState", {}).get("migrationUid")
                        for i in lst["items"]}
    ok(uids(vmis_before) == uids(vmis_after) and sum(1 for u in uids(vmis_after).values() if u) == 5,
       "the VMIs' hand-offs (migrationState) are kept across the restart", uids(vmis_after))

    # -- the agents' side through the API: target ready, started, completed; the work resumes
    def agent_round():
        code, lst = s.request("GET", NS + "/virtualmachineinstances")
        for v in lst["items"]:
            ms = v.get("status", {}).get("migrationState")
            if not ms or ms.get("completed"):
                continue
            st = dict(v["status"])
            ms = dict(ms)
            if not ms.get("targetNodeAddress"):
                ms["targetNodeAddress"] = "127.0.0.1:1"
            elif not ms.get("startTimestamp"):
                ms["startTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                ms["mode"] = "PreCopy"
            else:
                ms["completed"] = True
                ms["endTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                st["nodeName"] = ms["targetNode"]
            st["migrationState"] = ms
            s.request("PUT", NS + "/virtualmachineinstances/%s/status" % v["metadata"]["name"],
                      body={"metadata": {"resourceVersion": v["metadata"]["resourceVersion"]}, "status": st})

    def all_succeeded():
        agent_round()
        p = phases()
        return p if all(v == "Succeeded" for v in p.values()) else None

    done = wait_for(all_succeeded, timeout=60, step=0.3)
    ok(done and len(done) == 6, "all 6 migrations Succeeded after the restart (the sixth admitted when one ended)",
       phases())
    wait_for(lambda: all(mon.phase.get(n) == "Succeeded" for n in names), timeout=10)
    with mon.lock:
        ok(mon.max_cluster == 5, "watch: at most 5 in flight at once, and 5 reached", mon.max_cluster)
        ok(mon.max_node.get("node-1") == 2 and all(v <= 2 for v in mon.max_node.values()),
           "watch: at most 2 outbound from one node (node-1 reached 2)", mon.max_node)
        order = ["", "Pending", "Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running", "Succeeded"]
        six = {n: mon.phases.get(n, []) for n in names}
        bad = {n: p for n, p in six.items()
               if [order.index(x) for x in p] != sorted(order.index(x) for x in p) or p[-1:] != ["Succeeded"]}
        ok(not bad, "watch: every VMIM's phases in order, none going back", six)
        ok(mon.resumes >= 1 and not mon.errors, "watch resumed across the restart from its last resourceVersion",
           (mon.resumes, mon.errors))
    code, lst = s.request("GET", NS + "/virtualmachineinstances")
    moved = {i["metadata"]["name"]: i["status"]["nodeName"] for i in lst["items"]}
    ok(all(moved[n] != placement[n] for n in placement), "every VMI is on another node", moved)

    # -- a pending timeout shortened by its annotation (no target answers)
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration",
                                "metadata": {"name": "mig-timeout",
                                             "annotations": {"kubevirt.io/migrationPendingPodTimeoutSeconds": "2"}},
                                "spec": {"vmiName": "vm-b"}})
    ok(code == 201, "VMIM with a 2 s pending timeout admitted", doc)

    def timed_out():
        code, m = s.request("GET", NS + "/virtualmachineinstancemigrations/mig-timeout")
        return m if m.get("status", {}).get("phase") == "Failed" else None

    m = wait_for(timed_out, timeout=20)
    reasons = [c.get("reason") for c in (m or {}).get("status", {}).get("conditions", [])]
    ok(m and "PendingTimeout" in reasons, "pending timeout: Failed (PendingTimeout) within seconds", m)
    code, v = s.request("GET", NS + "/virtualmachineinstances/vm-b")
    ms = v.get("status", {}).get("migrationState", {})
    ok(ms.get("completed") and ms.get("failed") and "timed out" in ms.get("failureReason", ""),
       "the VMI's migrationState is closed as failed (the target agent stops)", ms)

    # -- abort after the hand-off (DELETE): the controller asks the source agent, which reports it
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "mig-abort"},
                                "spec": {"vmiName": "vm-c"}})
    ok(code == 201, "VMIM mig-abort admitted", doc)
    ok(wait_for(lambda: phases().get("mig-abort") == "PreparingTarget", timeout=20),
       "mig-abort handed off (PreparingTarget)", phases())
    code, doc = s.request("DELETE", NS + "/virtualmachineinstancemigrations/mig-abort")
    ok(code == 202, "DELETE of a migration in flight: 202, kept by its finalizer", doc)
    v = wait_for(lambda: (lambda v: v if v["status"]["migrationState"].get("abortRequested") else None)(
        s.request("GET", NS + "/virtualmachineinstances/vm-c")[1]), timeout=20)
    ok(v, "the controller asks the agent to abort (migrationState.abortRequested)", v)
    if v:
        st = dict(v["status"])
        st["migrationState"] = dict(st["migrationState"], abortStatus="Succeeded", completed=True, failed=True,
                                    failureReason="Live migration has been aborted",
                                    endTimestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        s.request("PUT", NS + "/virtualmachineinstances/vm-c/status",
                  body={"metadata": {"resourceVersion": v["metadata"]["resourceVersion"]}, "status": st})
    gone = wait_for(lambda: s.request("GET", NS + "/virtualmachineinstancemigrations/mig-abort")[0] == 404,
                    timeout=20)
    time.sleep(0.3)
    with mon.lock:
        aborted = mon.phases.get("mig-abort", [])
    ok(gone and aborted[-1:] == ["Failed"],
       "the aborted migration ends Failed, then goes once the controller removed its finalizer", aborted)
    code, v = s.request("GET", NS + "/virtualmachineinstances/vm-c")
    ok(v["status"]["nodeName"] == moved["vm-c"], "the aborted VM stays where it was", v["status"])

    # -- before the hand-off: a VM pinned to its node has no target, so its migration stays in Scheduling
    s.request("PATCH", "/api/v1/nodes/node-5", body={"metadata": {"labels": {"pin": "node-5"}}},
              ctype="application/merge-patch+json")
    pinned = vmi("vm-pinned", node="node-5")
    pinned["spec"]["nodeSelector"] = {"pin": "node-5"}
    s.request("POST", NS + "/virtualmachineinstances", body=pinned)
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration",
                                "metadata": {"name": "mig-unschedulable", "annotations": {
                                    "kubevirt.io/migrationUnschedulablePodTimeoutSeconds": "2"}},
                                "spec": {"vmiName": "vm-pinned"}})
    ok(code == 201, "VMIM with a 2 s unschedulable timeout admitted", doc)
    m = wait_for(lambda: (lambda m: m if m.get("status", {}).get("phase") == "Failed" else None)(
        s.request("GET", NS + "/virtualmachineinstancemigrations/mig-unschedulable")[1]), timeout=20)
    reasons = [c.get("reason") for c in (m or {}).get("status", {}).get("conditions", [])]
    ok(m and "UnschedulableTimeout" in reasons, "unschedulable timeout: Failed (UnschedulableTimeout)", m)
    code, doc = s.request("POST", NS + "/virtualmachineinstancemigrations",
                          body={"kind": "VirtualMachineInstanceMigration", "metadata": {"name": "mig-cancel"},
                                "spec": {"vmiName": "vm-pinned"}})
    ok(code == 201 and wait_for(lambda: phases().get("mig-cancel") == "Scheduling", timeout=20),
       "a migration without a target waits in Scheduling", (code, doc, phases()))
    code, doc = s.request("DELETE", NS + "/virtualmachineinstancemigrations/mig-cancel")
    gone = wait_for(lambda: s.request("GET", NS + "/virtualmachineinstancemigrations/mig-cancel")[0] == 404,
                    timeout=20)
    time.sleep(0.3)
    mon.close()
    with mon.lock:
        canceled = mon.phases.get("mig-cancel", [])
    ok(code == 202 and gone and canceled[-1:] == ["Failed"],
       "abort before the hand-off (Scheduling): Failed, then removed with its finalizer", (code, canceled))
    code, v = s.request("GET", NS + "/virtualmachineinstances/vm-pinned")
    ok(v["status"]["nodeName"] == "node-5" and not v["status"].get("migrationState"),
       "the VM never handed off stays on its node without a migrationState", v["status"])
    s.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="godwit-server-test-")
    dirs.append(tmp)
    try:
        {"sqlite": test_sqlite, "etcd": test_etcd, "cli": test_cli, "tls": test_tls,
         "report": test_report, "control": test_control,
         "control_etcd": lambda t: test_control(t, ["--store", "etcd", "--etcd", start_etcd(t),
                                                    "--etcd-prefix", "/c%d" % os.getpid()])}[MODE](tmp)
    except Exception as e:  # a crash is a failure, not a silent pass
        import traceback
        ok(False, "test run raised %s" % type(e).__name__, traceback.format_exc())
    logs = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".log")]
    ok(exit_codes and all(rc == 0 for rc in exit_codes), "every server stopped by SIGTERM exited 0", exit_codes)
    # Under AddressSanitizer/UBSan (CI), the servers' reports land in their logs.
    bad = [lf for lf in logs if any(m in open(lf, errors="replace").read()
                                    for m in ("Sanitizer", "runtime error:"))]
    ok(not bad, "no sanitizer report in the server logs", bad)
    print("1..%d" % len(results))
    if any(not r[0] for r in results):
        for lf in logs:
            print("# --- %s (tail)" % os.path.basename(lf))
            for line in open(lf).read().splitlines()[-15:]:
                print("# " + line)
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
