#!/usr/bin/env python3
"""Benchmark (c): libvirt's own `virsh -c test:///default cpu-baseline` on the
hosts bench_cpu_baseline generated, next to Godwit's answer for them.

Each host becomes one libvirt host-CPU element (what `virsh capabilities`
prints): <cpu><arch>x86_64</arch><model>486</model><vendor>..</vendor>
<feature name='..'/>...</cpu>. virsh wants a model; 486 (fpu, pse, vme) and
pentium (486 + de, tsc, msr, mce, cx8, mmx), which every x86-64 host has,
add nothing. The first host says pentium, the others 486: when every input
names the same model libvirt 9.0 prefers that model for its answer, which
would make it answer "486 + features". The file is the elements one after
another, which cpu-baseline accepts. Features this libvirt does not
know ("Unknown CPU feature X") are found by asking virsh, dropped and
counted. Prints one JSON line per host set."""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from xml.etree import ElementTree

VIRSH = ["virsh", "-c", "test:///default"]
UNKNOWN = re.compile(r"Unknown CPU feature (\S+)")


def load_hosts(directory):
    hosts = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                hosts.append(json.load(f))
    return hosts


def cpu_xml(vendor, features, model="486"):
    lines = ["<cpu>", "  <arch>x86_64</arch>", f"  <model>{model}</model>"]
    if vendor:
        lines.append(f"  <vendor>{vendor}</vendor>")
    lines += [f"  <feature name='{f}'/>" for f in features]
    lines.append("</cpu>")
    return "\n".join(lines) + "\n"


def virsh(args, path):
    return subprocess.run(VIRSH + args + [path], capture_output=True, text=True, timeout=120)


def unknown_features(features, vendor, workdir):
    """Asks virsh which of `features` it rejects, one error at a time."""
    path = os.path.join(workdir, "probe.xml")
    left, rejected = sorted(features), []
    while True:
        with open(path, "w") as f:
            f.write(cpu_xml(vendor, left))
        p = virsh(["cpu-baseline"], path)
        m = UNKNOWN.search(p.stderr)
        if p.returncode == 0:
            return rejected
        if not m or m.group(1) not in left:
            raise RuntimeError(f"virsh cpu-baseline: {p.stderr.strip()}")
        left.remove(m.group(1))
        rejected.append(m.group(1))


def parse_answer(xml_text):
    cpu = ElementTree.fromstring(xml_text)
    model = cpu.findtext("model")
    require = sorted(f.get("name") for f in cpu.findall("feature") if f.get("policy") in ("require", None))
    disable = sorted(f.get("name") for f in cpu.findall("feature") if f.get("policy") == "disable")
    return {"model": model, "vendor": cpu.findtext("vendor"), "require": require, "disable": disable}


def timed(cmd, runs):
    ms, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        ms.append((time.perf_counter() - t0) * 1e3)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")
        out = p.stdout
    return statistics.median(ms), out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("godwit_lines", help="JSON lines of bench_cpu_baseline -k DIR")
    ap.add_argument("sizes", nargs="+", type=int)
    ap.add_argument("--godwit", help="the godwit binary, also timed end to end")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    version = subprocess.run(["virsh", "--version"], capture_output=True, text=True).stdout.strip()
    with open(args.godwit_lines) as f:
        godwit = {l["hosts"]: l for l in map(json.loads, filter(str.strip, f)) if l.get("bench") == "cpu_baseline"}
    status = 0
    workdir = tempfile.mkdtemp(prefix="godwit-libvirt-")
    for n in args.sizes:
        line = {"bench": "libvirt_cpu_baseline", "hosts": n, "libvirt": version}
        g = godwit.get(n)
        try:
            if not g or "dir" not in g:
                raise RuntimeError(f"no bench_cpu_baseline line with a kept directory for {n} hosts")
            hosts = load_hosts(g["dir"])
            union = sorted({f for h in hosts for f in h["features"]})
            vendor = hosts[0].get("vendor")
            rejected = unknown_features(union, vendor, workdir)
            xml_path = os.path.join(workdir, f"libvirt-hosts-{n}.xml")
            dropped_per_host = []
            with open(xml_path, "w") as f:
                for i, h in enumerate(hosts):
                    kept = [x for x in h["features"] if x not in rejected]
                    dropped_per_host.append(len(h["features"]) - len(kept))
                    f.write(cpu_xml(h.get("vendor"), kept, "pentium" if i == 0 else "486"))
            startup_ms, _ = timed(VIRSH + ["version"], args.runs)
            virsh_ms, out = timed(VIRSH + ["cpu-baseline", xml_path], args.runs)
            expanded = parse_answer(virsh(["cpu-baseline", "--features"], xml_path).stdout)
            line.update({
                "virsh_ms_median": round(virsh_ms, 2),
                "virsh_startup_ms_median": round(startup_ms, 2),
                "runs": args.runs,
                "features_unknown_to_libvirt": len(rejected),
                "unknown_features": rejected,
                "features_dropped_per_host_max": max(dropped_per_host),
                "answer": parse_answer(out),
                "answer_feature_count": len(expanded["require"]),
            })
            if args.godwit:
                try:
                    godwit_ms, _ = timed([args.godwit, "cpu", "baseline", "--profile", g["dir"], "-o", "json"],
                                         args.runs)
                    line["godwit_cli_ms_median"] = round(godwit_ms, 2)
                except RuntimeError as e:
                    line["godwit_cli_error"] = str(e)
                    status = 1
            if "answer" in g:
                # libvirt's baseline keeps every feature all hosts share, so its
                # expanded answer must be Godwit's common set minus what it rejected.
                godwit_common = set(g["answer"].get("common", [])) - set(rejected)
                libvirt_common = set(expanded["require"])
                line["common_features_agree"] = godwit_common == libvirt_common
                if godwit_common != libvirt_common:
                    line["common_only_godwit"] = sorted(godwit_common - libvirt_common)
                    line["common_only_libvirt"] = sorted(libvirt_common - godwit_common)
                line["godwit"] = {
                    "recommended": g["answer"]["recommended"],
                    "custom": g["answer"]["custom"],
                    "common_features": g["answer"]["common_features"],
                    "compute_ms_median": g["compute_ms_median"],
                    "load_ms": g["load_ms"],
                }
            else:
                line["godwit"] = {"error": g.get("error", "no answer")}
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            line["error"] = str(e)
            status = 1
        print(json.dumps(line, separators=(",", ":")), flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
