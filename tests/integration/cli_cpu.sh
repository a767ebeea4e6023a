#!/usr/bin/env bash
# CLI tests of `godwit cpu ...` on the sample hosts in data/hosts/: exit
# codes, error messages that name the file, field or suggestion, and JSON
# that parses and carries the documented fields. TAP output.
# Usage: cli_cpu.sh GODWIT_BINARY SOURCE_ROOT
# A check whose engine piece answers "unsupported" (exit 4) is skipped,
# not passed: the skip line says which piece is missing.
set -uo pipefail
godwit=${1:?usage: cli_cpu.sh GODWIT SOURCE_ROOT}
root=${2:?usage: cli_cpu.sh GODWIT SOURCE_ROOT}
hosts=$root/data/hosts
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# run ARGS...: runs godwit with a 30 s bound; sets rc, out, err.
run() {
	timeout 30 "$godwit" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# expect_rc NAME CODE: checks the last run's exit code.
expect_rc() {
	if [ "$rc" -eq "$2" ]; then ok "$1"; else not_ok "$1" "exit $rc, expected $2" "stderr: $err"; fi
}

# pycheck NAME SCRIPT: runs a Python check on the last run's stdout (as
# `out`, parsed JSON in `doc`); the check fails by raising.
pycheck() {
	local name=$1 script=$2
	if [ "$rc" -eq 4 ]; then
		skip "$name" "unsupported in this build: $err"
		return
	fi
	if [ "$rc" -ne 0 ]; then
		not_ok "$name" "exit $rc" "stderr: $err"
		return
	fi
	local msg
	if msg=$(HOSTS="$hosts" python3 -c "
import json, os, sys
out = open(sys.argv[1]).read()
doc = json.loads(out)
hosts = os.environ['HOSTS']
def load(name):
    return json.load(open(os.path.join(hosts, name)))
def flat(groups):
    return sorted(f for fs in groups.values() for f in fs)
$script
" "$tmp/out" 2>&1); then
		ok "$name"
	else
		not_ok "$name" "$msg"
	fi
}

# contains NAME TEXT PATTERN...: every pattern (grep -E) is in TEXT.
contains() {
	local name=$1 text=$2
	shift 2
	for p in "$@"; do
		if ! grep -qE -- "$p" <<<"$text"; then
			not_ok "$name" "missing /$p/ in:" "$text"
			return
		fi
	done
	ok "$name"
}

clx=$hosts/clx-platinum-8268.json
spr=$hosts/spr-bronze-3408u.json
skx=$hosts/skx-gold-6130.json

# ---- usage and exit codes
run cpu --help;                         expect_rc "cpu --help exits 0" 0
run cpu frobnicate;                     expect_rc "unknown verb is a usage error (2)" 2
run cpu baseline;                       expect_rc "baseline without hosts is a usage error (2)" 2
run cpu compare --profile "$clx";       expect_rc "compare with one profile is a usage error (2)" 2
run cpu labels --profile "$clx" -o yaml; expect_rc "-o yaml is a usage error (2)" 2
run cpu host --bogus;                   expect_rc "unknown option is a usage error (2)" 2

# ---- bad names: exit 3 and a suggestion
run cpu baseline --profile "$clx" --model Skylake-Servr
expect_rc "unknown model is bad input (3)" 3
contains "unknown model names it and suggests Skylake-Server" "$err" 'Skylake-Servr' 'did you mean.*Skylake-Server'

python3 - "$clx" "$tmp/typo.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["features"][5] = "avx512ff"
json.dump(d, open(sys.argv[2], "w"))
PY
run cpu compare --profile "$tmp/typo.json" --profile "$spr"
expect_rc "unknown feature in a profile is bad input (3)" 3
contains "unknown feature: message names file, field and suggestion" "$err" \
	'typo\.json' 'features\[5\]' 'avx512ff' 'did you mean.*avx512f'

# ---- malformed profiles name the file and the field
printf '{"name": "x", "vendor": "Intel", "features": "sse2"}' >"$tmp/bad-features.json"
run cpu compare --profile "$tmp/bad-features.json" --profile "$clx"
expect_rc "features not an array is bad input (3)" 3
contains "malformed profile names file and field" "$err" 'bad-features\.json' 'features'

printf '{"vendor": "Intel", "features": []}' >"$tmp/no-name.json"
run cpu baseline --profile "$tmp/no-name.json" --profile "$clx"
expect_rc "profile without name is bad input (3)" 3
contains "missing field is named" "$err" 'no-name\.json' 'name'

printf '{"name": "x", "vendor": "Intel", "features": [' >"$tmp/truncated.json"
run cpu baseline --profile "$tmp/truncated.json"
expect_rc "truncated JSON is bad input (3)" 3
contains "truncated JSON names the file and line" "$err" 'truncated\.json' 'line'

run cpu baseline --profile "$tmp/does-not-exist.json"
expect_rc "missing profile file is bad input (3)" 3
contains "missing file is named" "$err" 'does-not-exist\.json'

run cpu baseline --nodes "$clx"
expect_rc "--nodes with a plain profile is bad input (3)" 3

run cpu compare --model-db "$tmp/nope.tsv" --profile "$clx" --profile "$spr"
expect_rc "missing --model-db file is bad input (3)" 3
contains "missing model database is named" "$err" 'nope\.tsv'

# ---- compare: the deciding features are exactly the set differences
run cpu compare --profile "$clx" --profile "$spr" -o json
pycheck "compare -o json: relation and onlyA/onlyB match the profiles" '
a, b = load("clx-platinum-8268.json"), load("spr-bronze-3408u.json")
assert doc["relation"] in ("identical", "superset", "subset", "incompatible"), doc["relation"]
assert flat(doc["onlyA"]) == sorted(set(a["features"]) - set(b["features"])), doc["onlyA"]
assert flat(doc["onlyB"]) == sorted(set(b["features"]) - set(a["features"])), doc["onlyB"]
want = "incompatible" if doc["onlyA"] and doc["onlyB"] else doc["relation"]
assert doc["relation"] == want
assert doc["vendorMismatch"] is False
assert isinstance(doc["modelsOnlyA"], list) and isinstance(doc["modelsOnlyB"], list)
'
run cpu compare --profile "$clx" --profile "$clx" -o json
pycheck "compare of a host with itself is identical" '
assert doc["relation"] == "identical", doc["relation"]
assert not doc["onlyA"] and not doc["onlyB"] and not doc["modelsOnlyA"]
'
run cpu compare --profile "$clx" --profile "$hosts/rome-epyc-7502.json" -o json
pycheck "Intel vs AMD: vendor mismatch, incompatible" '
assert doc["vendorMismatch"] is True and doc["relation"] == "incompatible", doc
'
run cpu compare --profile "$clx" --profile "$spr"
contains "compare table shows relation and both directions" "$out" '^relation: ' 'only A has' 'only B has'

# ---- models (already implemented on main)
run cpu models --profile "$clx" --usable -o json
pycheck "models --usable -o json lists only usable models" '
host = set(load("clx-platinum-8268.json")["features"])
assert doc["models"], "no usable model"
for m in doc["models"]:
    assert m["usable"] and set(m["features"]) <= host, m["name"]
'

# ---- baseline
run cpu baseline --profile "$hosts/clx-platinum-8268.json" --profile "$spr" -o json
pycheck "baseline -o json has models, recommended, reason, level, custom, lost" '
for k in ("models", "recommended", "reason", "level", "custom", "lost"):
    assert k in doc, "missing " + k
assert doc["level"] is None or doc["level"] in ("x86-64-v1", "x86-64-v2", "x86-64-v3", "x86-64-v4"), doc["level"]
# CLX and SPR both have AVX-512 F/BW/CD/DQ/VL: the common level is v4
assert doc["level"] == "x86-64-v4", doc["level"]
assert doc["recommended"] is None or doc["recommended"] == doc["models"][0]["name"]
assert set(doc["lost"]) == {"CLX Platinum-8268", "SPR Bronze-3408U"}, sorted(doc["lost"])
'
run cpu baseline --profile "$clx" --profile "$spr" -o json --model Skylake-Server
pycheck "baseline --model reports where the model runs" '
m = doc["model"]
a, b = load("clx-platinum-8268.json"), load("spr-bronze-3408u.json")
assert m["name"] == "Skylake-Server"
# SPR parts have no TSX (hle, rtm), which Skylake-Server requires
assert ("hle" in b["features"]) or ("SPR Bronze-3408U" in m["unusableOn"]), m
assert m["usableOnAll"] == (not m["unusableOn"])
'
run cpu baseline --profile "$clx" --profile "$hosts/rome-epyc-7502.json"
if [ "$rc" -eq 4 ]; then
	skip "mixed vendors are warned about" "unsupported in this build: $err"
else
	contains "mixed vendors are warned about" "$out$err" 'MIXED VENDORS' 'AMD' 'Intel'
fi
run cpu baseline --profile "$hosts" -o json
pycheck "baseline of the whole data/hosts directory: every host in lost" '
import glob
names = {json.load(open(f))["name"] for f in glob.glob(os.path.join(hosts, "*.json"))}
assert set(doc["lost"]) == names, sorted(set(doc["lost"]) ^ names)
'

# ---- round trip: the labels of two hosts, as a kubectl node list, give
# the same baseline as the hosts' own profiles
run cpu baseline --profile "$clx" --profile "$spr" -o json
cp "$tmp/out" "$tmp/baseline-profiles.json"
rc_profiles=$rc
for h in clx-platinum-8268 spr-bronze-3408u; do
	timeout 30 "$godwit" cpu labels --profile "$hosts/$h.json" -o json >"$tmp/$h.labels.json" 2>>"$tmp/err"
done
python3 - "$tmp" <<'PY'
import json, sys
items = []
for h in ["clx-platinum-8268", "spr-bronze-3408u"]:
    try:
        labels = json.load(open(f"{sys.argv[1]}/{h}.labels.json"))["labels"]
    except (ValueError, KeyError):
        labels = {}
    items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": h, "labels": labels}})
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(f"{sys.argv[1]}/nodes.json", "w"))
PY
run cpu baseline --nodes "$tmp/nodes.json" -o json
[ "$rc_profiles" -eq 0 ] || rc=$rc_profiles
pycheck "baseline --nodes of the labelled hosts = baseline of their profiles" '
want = json.load(open(os.path.join(os.path.dirname(sys.argv[1]), "baseline-profiles.json")))
assert doc["recommended"] == want["recommended"], (doc["recommended"], want["recommended"])
assert doc["level"] == want["level"]
assert doc["custom"]["model"] == want["custom"]["model"]
assert sorted(doc["custom"]["require"]) == sorted(want["custom"]["require"]), (doc["custom"], want["custom"])
assert sorted(doc["custom"]["disable"]) == sorted(want["custom"]["disable"])
assert sorted(doc["commonFeatures"]) == sorted(want["commonFeatures"])
'

# ---- labels
run cpu labels --profile "$clx" -o json
pycheck "labels -o json: string values, KubeVirt prefixes" '
labels = doc["labels"]
assert labels and all(isinstance(v, str) for v in labels.values())
assert any(k.startswith("cpu-model.node.kubevirt.io/") for k in labels)
assert all(not k.startswith("cpu-model.node.kubevirt.io/486") for k in labels), "obsolete 486 labelled"
'
cat >"$tmp/node.json" <<'JSON'
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1",
   "cpu-model.node.kubevirt.io/Stale-Model": "true"},
   "annotations": {"node-labeller.kubevirt.io/skip-node": "false"}}}
JSON
run cpu labels --profile "$clx" --node "$tmp/node.json" -o json
pycheck "labels --node: the skip-node annotation (any value) leaves the Node alone" '
assert doc["skipped"] is True and doc["changed"] is False
assert doc["node"]["metadata"]["labels"] == {"kubernetes.io/hostname": "n1",
    "cpu-model.node.kubevirt.io/Stale-Model": "true"}, doc["node"]["metadata"]["labels"]
'
python3 - "$tmp/node.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
del d["metadata"]["annotations"]
json.dump(d, open(sys.argv[1], "w"))
PY
run cpu labels --profile "$clx" --node "$tmp/node.json" -o json
pycheck "labels --node: stale owned label removed, user label kept, labels added" '
after = doc["node"]["metadata"]["labels"]
assert doc["changed"] is True
assert "cpu-model.node.kubevirt.io/Stale-Model" not in after
assert after.get("kubernetes.io/hostname") == "n1"
for k, v in doc["labels"].items():
    assert after.get(k) == v, k
'
printf 'apiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata: {name: kubevirt}\nspec:\n  configuration:\n    obsoleteCPUModels:\n      Skylake-Server: true\n' >"$tmp/kv.yaml"
run cpu labels --profile "$clx" --config "$tmp/kv.yaml" -o json
pycheck "labels --config: a configured obsolete list replaces the default" '
labels = doc["labels"]
assert "cpu-model.node.kubevirt.io/Skylake-Server" not in labels
# with the default list replaced, the default obsolete models are labelled again
default_obsolete = {"Conroe", "qemu64", "kvm64", "486", "pentium"}
assert any("cpu-model.node.kubevirt.io/" + m in labels for m in default_obsolete), sorted(labels)
'

printf '{"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "spec": {"configuration": {"obsoleteCPUModels": {"Skylake-Servr": true}}}}' >"$tmp/kv.json"
run cpu labels --profile "$clx" --config "$tmp/kv.json"
if [ "$rc" -eq 0 ] && grep -q 'warning' <<<"$err" && grep -q 'Skylake-Servr' <<<"$err" && grep -q 'Skylake-Server' <<<"$err"; then
	ok "labels --config: an obsolete name no model has is warned about, with a suggestion"
else
	not_ok "labels --config: an obsolete name no model has is warned about, with a suggestion" "exit $rc" "stderr: $err"
fi

# ---- host
run cpu host -o json
pycheck "host -o json: vendor, level, usable, hostModel, labels" '
for k in ("vendor", "level", "features", "usable", "hostModel", "labels"):
    assert k in doc, "missing " + k
'
if qemu=$(command -v qemu-system-x86_64); then
	run cpu host --qemu "$qemu" -o json
	pycheck "host --qemu -o json: QEMU's view, with models QEMU calls usable" '
assert doc["source"].startswith("QEMU"), doc["source"]
assert doc["usable"], "QEMU calls no model usable"
assert len(set(doc["usable"])) == len(doc["usable"])
'
else
	skip "host --qemu -o json: QEMU's view" "qemu-system-x86_64 is not installed"
fi
run cpu host --qemu "$tmp/no-such-qemu"
if [ "$rc" -ne 0 ] && grep -q 'no-such-qemu' <<<"$err"; then
	ok "host --qemu with a missing binary fails naming it"
else
	not_ok "host --qemu with a missing binary fails naming it" "exit $rc" "stderr: $err"
fi
if [ ! -e /dev/kvm ]; then
	run cpu host --kvm
	expect_rc "host --kvm without /dev/kvm is unsupported here (4)" 4
	contains "host --kvm without /dev/kvm says so" "$err" '/dev/kvm'
else
	skip "host --kvm without /dev/kvm is unsupported here (4)" "this host has /dev/kvm"
fi

echo "1..$n"
