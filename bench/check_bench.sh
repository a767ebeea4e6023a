#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Times `godwit check -f CLUSTER -o json` on a generated cluster (gen_cluster.py)
# against parsing alone (`godwit check --parse-only`, when the option exists),
# with peak RSS, and prints JSON lines. Goal (issue): a full check of 10,000
# nodes and 100,000 VMIs in under 5 s and 2 GiB, within 2x of parse-only.
#
#   bench/check_bench.sh [GODWIT_BINARY] [gen_cluster.py options...]
#
# GODWIT_BINARY defaults to build/godwit. The cluster is generated into a
# temporary directory (removed at exit), never into the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
godwit="${1:-$here/../build/godwit}"
[ $# -gt 0 ] && shift
if [ ! -x "$godwit" ]; then
	echo "{\"bench\":\"check\",\"skipped\":\"no godwit binary at $godwit\"}"
	exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

help_rc=0
help_text="$("$godwit" check --help 2>&1)" || help_rc=$?
if [ "$help_rc" -eq 2 ] && grep -q 'unknown command' <<<"$help_text"; then
	echo '{"bench":"check","skipped":"`godwit check` not built yet"}'
	exit 0
fi

python3 "$here/gen_cluster.py" --out "$tmp/cluster.json" "$@" 2>"$tmp/gen.json"
cat "$tmp/gen.json"

# One run of a command: wall time, peak RSS of the child (getrusage of the
# waited child, so each measurement is its own python process), exit code.
measure() {
	local name="$1"
	shift
	python3 - "$name" "$@" <<'EOF'
import json, resource, subprocess, sys, time
name, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
with open('/dev/null', 'wb') as devnull:
    p = subprocess.run(argv, stdout=devnull, stderr=subprocess.PIPE)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
out = {'bench': name, 'wall_s': round(wall, 3), 'user_s': round(ru.ru_utime, 3), 'sys_s': round(ru.ru_stime, 3),
       'max_rss_mib': round(ru.ru_maxrss / 1024, 1), 'exit': p.returncode}
if p.returncode != 0:
    out['stderr'] = p.stderr.decode('utf-8', 'replace')[-500:]
print(json.dumps(out))
EOF
}


measure check "$godwit" check -f "$tmp/cluster.json" -o json | tee "$tmp/check.json"
if grep -q -- '--parse-only' <<<"$help_text"; then
	measure parse-only "$godwit" check --parse-only -f "$tmp/cluster.json" -o json | tee "$tmp/parse.json"
else
	echo '{"bench":"parse-only","skipped":"godwit check has no --parse-only option (not in `godwit check --help`)"}'
	: >"$tmp/parse.json"
fi

python3 - "$tmp/check.json" "$tmp/parse.json" <<'EOF'
import json, sys
check = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read().strip()
parse = json.loads(text) if text else None
goal = {'bench': 'check-goal', 'goal_wall_s': 5, 'goal_rss_mib': 2048, 'goal_ratio_to_parse': 2,
        'wall_s': check['wall_s'], 'max_rss_mib': check['max_rss_mib'],
        'wall_ok': check['exit'] == 0 and check['wall_s'] < 5, 'rss_ok': check['max_rss_mib'] < 2048}
if parse and parse['exit'] == 0 and parse['wall_s'] > 0:
    goal['ratio_to_parse'] = round(check['wall_s'] / parse['wall_s'], 2)
    goal['ratio_ok'] = goal['ratio_to_parse'] <= 2
print(json.dumps(goal))
EOF
