#!/usr/bin/env bash
# CLI tests of `godwit explain` and `godwit plan drain` on the fixtures in
# tests/data/explain/: exit codes (docs/cli.md), the unknown-VM message with
# the nearest names, and output that parses. TAP output.
# Usage: cli_explain.sh GODWIT_BINARY SOURCE_ROOT
set -uo pipefail
godwit=${1:?usage: cli_explain.sh GODWIT SOURCE_ROOT}
root=${2:?usage: cli_explain.sh GODWIT SOURCE_ROOT}
data=$root/tests/data/explain
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

run() {
	timeout 30 "$godwit" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}
expect_rc() {
	if [ "$rc" -eq "$2" ]; then ok "$1"; else not_ok "$1" "exit $rc, expected $2" "stderr: $err"; fi
}
expect_err() {
	case "$err" in *"$2"*) ok "$1" ;; *) not_ok "$1" "stderr lacks: $2" "stderr: $err" ;; esac
}
expect_out() {
	case "$out" in *"$2"*) ok "$1" ;; *) not_ok "$1" "stdout lacks: $2" "stdout: ${out:0:2000}" ;; esac
}
expect_json() {
	if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>/dev/null; then ok "$1"
	else not_ok "$1" "not JSON" "stdout: ${out:0:500}"; fi
}

run explain vm-frsh -f "$data/explain.yaml"
expect_rc "explain: unknown VM exits 3" 3
expect_err "explain: unknown VM names the nearest VM" 'unknown VM "vm-frsh" (did you mean default/vm-fresh?)'

run explain nosuchthing -f "$data/explain.yaml"
expect_rc "explain: a VM far from every name exits 3" 3
expect_err "explain: ... and lists VMs that exist" 'default/vm-'

run explain vm-stopped -f "$data/explain.yaml"
expect_rc "explain: a VirtualMachine without a VMI exits 3" 3

run explain vm-fresh --node node-22 -f "$data/explain.yaml"
expect_rc "explain: unknown --node exits 3" 3
expect_err "explain: unknown --node names the nearest node" 'did you mean node-2'

run explain -f "$data/explain.yaml"
expect_rc "explain: no VM is a usage error" 2

run explain vm-fresh
expect_rc "explain: no -f is a usage error" 2

run explain vm-fresh -f "$data/explain.yaml"
expect_rc "explain: table exits 0" 0
expect_out "explain: table names the reason on node-2" 'cpu-feature.node.kubevirt.io/pdcm'
expect_out "explain: table shows the exact label command" 'kubectl label node node-2 cpu-feature.node.kubevirt.io/pdcm=true'

run explain default/vm-fresh -f "$data/explain.yaml" -o json
expect_rc "explain: NAMESPACE/NAME, JSON exits 0" 0
expect_json "explain: -o json is JSON"

run plan drain node-x -f "$data/drain.yaml"
expect_rc "plan drain: unknown node exits 3" 3
expect_err "plan drain: unknown node names the nearest" 'did you mean'

run plan drain node-a --bandwidth -5 -f "$data/drain.yaml"
expect_rc "plan drain: negative --bandwidth is a usage error" 2

run plan drain node-a node-b -f "$data/drain.yaml"
expect_rc "plan drain: table exits 0" 0
expect_out "plan drain: table gives the duration" 'estimated duration: 24.0 s'

run plan drain node-a node-b --bandwidth 256Mi -f "$data/drain.yaml" -o json
expect_rc "plan drain: JSON exits 0" 0
expect_json "plan drain: -o json is JSON"
expect_out "plan drain: --bandwidth lowers the rate" '"estimatedSeconds": 48'

# what-if (the shared input options of `godwit check`)
run plan drain node-a node-b --remove-node node-d -f "$data/drain.yaml" -o json
expect_rc "plan drain --remove-node: exits 0" 0
if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = {x["name"]: x for x in d["vms"]}
assert v["a2"]["target"] == "node-c", v["a2"]["target"]
assert v["a3"]["action"] == "no-target", v["a3"]["action"]
' "$tmp/out" 2>"$tmp/py"; then ok "plan drain --remove-node: without node-d, a2 goes to node-c and a3 has no room"
else not_ok "plan drain --remove-node: without node-d, a2 goes to node-c and a3 has no room" "$(cat "$tmp/py")"; fi

run explain vm-ivybridge --add-node "$root/data/hosts/bdw-e5-2623-v4.json" -f "$root/tests/scenarios/000-common-cpu-model/manifests" -o json
expect_rc "explain --add-node: exits 0" 0
if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["nodes"]) == 3, [n["name"] for n in d["nodes"]]
' "$tmp/out" 2>"$tmp/py"; then ok "explain --add-node: the added host is judged like the others"
else not_ok "explain --add-node: the added host is judged like the others" "$(cat "$tmp/py")"; fi

run explain vm-fresh --remove-node node-4 -f "$data/explain.yaml" -o json
expect_rc "explain --remove-node: exits 0" 0
expect_out "explain --remove-node: no node left for vm-fresh" '"eligibleNodes": []'

run explain vm-fresh --set-cpu-model Skylake-Servr -f "$data/explain.yaml"
expect_rc "explain --set-cpu-model: an unknown model is bad input" 3

run plan evacuate node-a -f "$data/drain.yaml"
expect_rc "plan: unknown verb is a usage error" 2

echo "1..$n"
