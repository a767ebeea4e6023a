#!/usr/bin/env bash
# CLI tests of `godwit check`: usage and bad-input exit codes, the what-if
# options (--set-cpu-model, --add-node, --remove-node) on seed 002's
# cluster, --max-nodes, --parse-only and --timings. TAP output.
# Usage: cli_check.sh GODWIT_BINARY SOURCE_ROOT
set -uo pipefail
godwit=${1:?usage: cli_check.sh GODWIT SOURCE_ROOT}
root=${2:?usage: cli_check.sh GODWIT SOURCE_ROOT}
seed002=$root/tests/scenarios/002-host-model-xyz-abc/manifests
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

run() {
	timeout 60 "$godwit" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	err=$(cat "$tmp/err")
}

expect_rc() {
	if [ "$rc" -eq "$2" ]; then ok "$1"; else not_ok "$1" "exit $rc, expected $2" "stderr: $err"; fi
}

expect_err() {
	if grep -qF -- "$2" "$tmp/err"; then ok "$1"; else not_ok "$1" "stderr lacks \"$2\"" "stderr: $err"; fi
}

# pycheck NAME EXPR: a Python expression over the report `r` (and helper
# vm(name)) that must be true.
pycheck() {
	local name=$1 expr=$2
	if python3 - "$tmp/out" "$expr" >"$tmp/py" 2>&1 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def vm(name):
    return next(v for v in r['vms'] if v['name'] == name)
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
	then ok "$name"; else not_ok "$name" "false: $expr" "$(cat "$tmp/py")"; fi
}

# Seed 002 without the cluster cpuModel and without the VMs' own
# host-model: vm-hostmodel and vm-new run host-model by default and
# cannot leave node-a (XYZ) for node-b (ABC); both nodes know model 123.
cluster=$tmp/cluster
mkdir -p "$cluster"
cp "$seed002/nodes.yaml" "$seed002/launcher-pods.yaml" "$cluster/"
sed '/model: host-model/d' "$seed002/vms.yaml" >"$cluster/vms.yaml"

run check
expect_rc "check without -f is a usage error" 2
run check -f "$cluster" --rules nope
expect_rc "an unknown rule set is a usage error" 2
run check -f "$tmp/missing.yaml"
expect_rc "a missing input is bad input" 3

run check -f "$cluster" -o json
expect_rc "check runs" 0
pycheck "host-model VM has no target" "vm('vm-hostmodel')['eligibleTargets']['count'] == 0 and vm('vm-hostmodel')['cpuModelSource'] == 'default'"
pycheck "no setCpuModel section without the option" "'setCpuModel' not in r['cluster']"

run check -f "$cluster" -o json --set-cpu-model 123
expect_rc "--set-cpu-model 123 (a model the nodes are labelled with)" 0
pycheck "--set-cpu-model 123: the VM without a model runs 123 after a restart" "vm('vm-hostmodel')['cpuModel'] == '123' and vm('vm-hostmodel')['cpuModelSource'] == 'cluster'"
pycheck "--set-cpu-model 123 frees the host-model VM" "'default/vm-hostmodel' in r['cluster']['setCpuModel']['freed'] and vm('vm-hostmodel')['eligibleTargets']['nodes'] == ['node-b']"
pycheck "--set-cpu-model 123: before is host-model (no cluster model)" "r['cluster']['setCpuModel']['cpuModelBefore'] is None and 'default/vm-hostmodel' in r['cluster']['setCpuModel']['restartChangesModel']"
pycheck "--set-cpu-model 123: a VM with its own model does not change" "'default/vm-123' not in r['cluster']['setCpuModel']['restartChangesModel']"

run check -f "$cluster" -o json --set-cpu-model Skylake-Servr
expect_rc "--set-cpu-model with an unknown model is bad input" 3
expect_err "the unknown model gets suggestions" "Skylake-Server"

run check -f "$cluster" -o json --remove-node node-b
expect_rc "--remove-node node-b" 0
pycheck "--remove-node node-b: vm-123 has nowhere to go" "vm('vm-123')['eligibleTargets']['count'] == 0 and r['cluster']['nodes'] == 1"
run check -f "$cluster" -o json --remove-node node-a
pycheck "--remove-node node-a: its VMs are on a missing node (findings, no target)" "any('node-a' in f['message'] for f in r['findings']) and vm('vm-123')['eligibleTargets']['count'] == 0"
run check -f "$cluster" -o json --remove-node node-bb
expect_rc "--remove-node of an unknown node is bad input" 3
expect_err "the unknown node gets suggestions" "node-b"

run check -f "$cluster" -o json --add-node "$root/data/hosts/ideal-skylake-server.json"
expect_rc "--add-node PROFILE" 0
pycheck "--add-node PROFILE: one more node, its own CPU domain" "r['cluster']['nodes'] == 3 and len(r['cluster']['domains']) == 3"
pycheck "--add-node PROFILE: labelled as the labeller would, schedulable, allocatable of the largest node" "any(d['hostModel'] and d['hostModel'].startswith('Skylake') for d in r['cluster']['domains'])"
pycheck "--add-node PROFILE: it lacks model 123, so it rejects vm-123 for that label" "any(g['subject'] == 'cpu-model.node.kubevirt.io/123' for g in vm('vm-123')['rejected'])"

# A Node document: node-b under another name.
sed -e 's/^  name: node-b$/  name: node-c/' -e 's/hostname: node-b/hostname: node-c/' "$seed002/nodes.yaml" |
	python3 -c '
import sys
docs = sys.stdin.read().split("\n---\n")
print("\n---\n".join(d for d in docs if "name: node-c" in d))' >"$tmp/node-c.yaml"
run check -f "$cluster" -o json --add-node "$tmp/node-c.yaml"
expect_rc "--add-node NODE.yaml" 0
pycheck "--add-node NODE.yaml: vm-123 may go to node-b or node-c" "sorted(vm('vm-123')['eligibleTargets']['nodes']) == ['node-b', 'node-c']"

run check -f "$cluster" -o json --max-nodes 1 --add-node "$tmp/node-c.yaml"
pycheck "--max-nodes 1: one name listed, the count complete" "vm('vm-123')['eligibleTargets']['count'] == 2 and len(vm('vm-123')['eligibleTargets']['nodes']) == 1"

run check -f "$cluster" -o table
expect_rc "table output" 0
if grep -q "default/vm-hostmodel" "$tmp/out" && grep -q "drain strands" "$tmp/out"; then ok "table lists the VMs and the cluster findings"; else not_ok "table lists the VMs and the cluster findings" "$(head -20 "$tmp/out")"; fi

run check --parse-only -f "$cluster" -o json
expect_rc "--parse-only" 0
pycheck "--parse-only counts the input, no report" "r['vmis'] == 3 and r['nodes'] == 2 and 'vms' not in r"

# a report that cannot be written (a full disk) fails, and says so
if [ -w /dev/full ]; then
	for fmt in json table; do
		timeout 60 "$godwit" check -f "$cluster" -o $fmt >/dev/full 2>"$tmp/err"
		rc=$?
		if [ "$rc" -eq 1 ] && grep -q "writing the report to standard output: No space left on device" "$tmp/err"; then
			ok "-o $fmt to a full disk: exit 1 with the reason"
		else
			not_ok "-o $fmt to a full disk: exit 1 with the reason" "exit $rc" "stderr: $(cat "$tmp/err")"
		fi
	done
	# more than one chunk of VMs (512): the text written by threads, in pieces
	python3 "$root/bench/gen_cluster.py" --nodes 20 --vmis 700 --policies 2 --out "$tmp/700.json" 2>/dev/null
	timeout 60 "$godwit" check -f "$tmp/700.json" -o json >/dev/full 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q "writing the report to standard output: No space left on device" "$tmp/err"; then
		ok "700 VMs -o json to a full disk: exit 1 with the reason"
	else
		not_ok "700 VMs -o json to a full disk: exit 1 with the reason" "exit $rc" "stderr: $(cat "$tmp/err")"
	fi
	run check -f "$tmp/700.json" -o json
	expect_rc "700 VMs -o json" 0
	pycheck "700 VMs: the report is whole" "len(r['vms']) == 700 and r['cluster']['vms'] == 700"
else
	echo "ok $((n + 1)) - # SKIP no /dev/full"; n=$((n + 1))
fi

# --timings: every phase once, on stderr, the report on stdout unchanged
run check -f "$cluster" -o json
cp "$tmp/out" "$tmp/plain"
run check --timings -f "$cluster" -o json
expect_rc "--timings" 0
phases=$(sed -n 's/^godwit: timing: \([^ ]*\)  *[0-9][0-9.]* s$/\1/p' "$tmp/err" | tr '\n' ',')
want="load,domains,signatures,classes,vms,cluster,"
if [ "$phases" = "$want" ]; then ok "--timings names every phase"; else not_ok "--timings names every phase" "got: $phases" "want: $want" "stderr: $err"; fi
if cmp -s "$tmp/out" "$tmp/plain"; then ok "--timings leaves the report as it is"; else not_ok "--timings leaves the report as it is"; fi
run check --parse-only --timings -f "$cluster"
if [ "$rc" -eq 0 ] && grep -q '^godwit: timing: load  *[0-9][0-9.]* s$' "$tmp/err"; then ok "--parse-only --timings times the load"; else not_ok "--parse-only --timings times the load" "exit $rc" "stderr: $err"; fi

echo "1..$n"
