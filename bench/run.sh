#!/usr/bin/env bash
# Runs the benchmarks and prints their figures as JSON lines on stdout, and a
# short readable summary on stderr:
#   (a) cpu_labels: the KubeVirt labels of one host;
#   (b) cpu_baseline: baseline of 2, 100 and 10,000 generated hosts, load and
#       compute timed apart (goal: 10,000 hosts under 50 ms after loading);
#   (c) libvirt_cpu_baseline: libvirt's `virsh cpu-baseline` on the same 2 and
#       100 hosts, with both answers and both times;
#   (d) store: creates/s (one client, and 16 at once), get latency, list of
#       10,000 objects, watch delivery latency, on SQLite and on a single
#       etcd started here on loopback (when etcd is installed);
#   (e) migrate: the workload guest (1 GiB filled, 1 GiB idle) migrated between
#       two local TCG QEMUs through plain QMP and through Godwit's executor,
#       alternating; medians and the godwit/direct ratios (goal: within 10 %);
#   (f) migrate_latency: `godwit migrate` to QEMU's `migrate` through a real
#       server and two node agents (goal: under 1 s; skipped without the agent).
# Usage: bench/run.sh [BUILD_DIR]   (default: build; built if needed)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -d "$build" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null || exit 1
tmp=$(mktemp -d)
etcd_pid=
cleanup() {
	[ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
status=0

"$build/bench/bench_cpu_labels" data/hosts/clx-platinum-8268.json | tee "$tmp/all.jsonl" || status=1
"$build/bench/bench_cpu_baseline" -k "$tmp/hosts" data/hosts | tee "$tmp/baseline.jsonl" || status=1
cat "$tmp/baseline.jsonl" >>"$tmp/all.jsonl"
if command -v virsh >/dev/null; then
	python3 bench/libvirt_baseline.py --godwit "$build/godwit" "$tmp/baseline.jsonl" 2 100 |
		tee -a "$tmp/all.jsonl" || status=1
else
	echo '{"bench":"libvirt_cpu_baseline","skipped":"virsh not installed (Debian package libvirt-clients)"}' |
		tee -a "$tmp/all.jsonl"
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
store_args=()
if command -v etcd >/dev/null; then
	cport=$(free_port) pport=$(free_port)
	etcd --name bench --data-dir "$tmp/etcd" --logger zap --log-level error \
		--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "bench=http://127.0.0.1:$pport" >"$tmp/etcd.log" 2>&1 &
	etcd_pid=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$cport/health" >/dev/null 2>&1 && break
		sleep 0.2
	done
	store_args=(--etcd "http://127.0.0.1:$cport")
else
	echo '{"bench":"store","backend":"etcd","skipped":"etcd not installed (Debian package etcd-server)"}' |
		tee -a "$tmp/all.jsonl"
fi
"$build/bench/bench_store" "${store_args[@]}" | tee -a "$tmp/all.jsonl" || status=1

"$build/bench/bench_migrate" "$build/guest/workload/godwit-workload.elf" | tee -a "$tmp/all.jsonl" || status=1
python3 bench/migrate_latency.py --build "$build" | tee -a "$tmp/all.jsonl" || status=1

python3 - "$tmp/all.jsonl" >&2 <<'PY'
import json, sys
print("\n== summary")
for l in map(json.loads, open(sys.argv[1])):
    b, err = l.get("bench"), l.get("error") or l.get("skipped")
    if err:
        print(f"{b} {l.get('hosts', '')}: {err}")
    elif b == "cpu_labels":
        print(f"labels of {l['host']}: {l['labels']} labels in {l['labels_us_median']:.1f} us"
              f" (median of {l['runs']}), Node reconcile {l['apply_us_median']:.1f} us")
    elif b == "cpu_baseline":
        a = l["answer"]
        goal = f", goal 50 ms {'met' if l['goal_met'] else 'MISSED'}" if "goal_ms" in l else ""
        custom = f"{a['custom']['model']} +{len(a['custom']['require'])} -{len(a['custom']['disable'])}"
        print(f"Godwit baseline of {l['hosts']:>5} hosts: load {l['load_ms']:.1f} ms, compute"
              f" {l['compute_ms_median']:.3f} ms (median of {l['runs']}){goal};"
              f" recommended {a['recommended']}, custom {custom}, x86-64-v{a['level']}")
    elif b == "store":
        goals = l.get("goals_met")
        goals = "; goals " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items()) if goals else ""
        print(f"store on {l['backend']}: {l['creates_per_s']:.0f} creates/s from one client"
              f" (median {l['create_ms_median']:.2f} ms), {l['concurrent_creates_per_s']:.0f}/s from"
              f" {l['concurrent_clients']}; get {l['get_us_median']:.0f} us; list of {l['list_objects']}"
              f" {l['list_ms_median']:.1f} ms ({l['list_selected']} by selector {l['list_selector_ms_median']:.1f} ms);"
              f" watch {l['watch_ms_median']:.2f} ms median, {l['watch_ms_p99']:.2f} ms p99{goals}")
    elif b == "migrate_summary":
        d, g = l["direct"], l["godwit"]
        print(f"migration of the {l['guest']} {l['memory_mib']} MiB guest (median of {l['runs']}):"
              f" direct QMP {d['wall_ms']:.0f} ms wall (QEMU {d['qemu_total_ms']:.0f} ms, downtime"
              f" {d['downtime_ms']:.0f} ms, {d['throughput_mib_s']:.0f} MiB/s); Godwit {g['wall_ms']:.0f} ms"
              f" wall (QEMU {g['qemu_total_ms']:.0f} ms, downtime {g['downtime_ms']:.0f} ms,"
              f" {g['throughput_mib_s']:.0f} MiB/s, migrate after {g['start_ms']:.0f} ms); ratio"
              f" {l['ratio_wall']:.2f} wall, {l['ratio_qemu_total']:.2f} QEMU total, goal 1.10"
              f" {'met' if l['goal_met_wall'] else 'MISSED'}")
    elif b == "migrate_latency_summary":
        print(f"godwit migrate -> QEMU migrate: median {l['start_latency_ms_median']:.0f} ms, max"
              f" {l['start_latency_ms_max']:.0f} ms over {l['runs']} runs, goal 1 s"
              f" {'met' if l['goal_met'] else 'MISSED'}; steps {l['steps_ms_median']}")
    elif b == "libvirt_cpu_baseline":
        a, g = l["answer"], l.get("godwit", {})
        print(f"libvirt {l['libvirt']} cpu-baseline of {l['hosts']:>3} hosts: {l['virsh_ms_median']:.1f} ms"
              f" per virsh run (startup alone {l['virsh_startup_ms_median']:.1f} ms);"
              f" {a['model']} +{len(a['require'])} -{len(a['disable'])}"
              f" ({l['features_unknown_to_libvirt']} features unknown to it, dropped)")
        if "common_features_agree" in l:
            agree = "yes" if l["common_features_agree"] else (
                f"NO: only Godwit {l['common_only_godwit']}, only libvirt {l['common_only_libvirt']}")
            print(f"  same common features as Godwit (minus those libvirt does not know): {agree}")
        if "recommended" in g:
            c = g["custom"]
            cli = l.get("godwit_cli_ms_median")
            cli = f"{cli:.1f} ms per godwit process" if cli is not None else "godwit process not timed"
            print(f"  Godwit on the same hosts: {cli} (load + compute + print),"
                  f" compute alone {g['compute_ms_median']:.3f} ms;"
                  f" recommended {g['recommended']}, custom {c['model']} +{len(c['require'])} -{len(c['disable'])}")
PY
exit "$status"
