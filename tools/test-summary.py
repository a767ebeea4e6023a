#!/usr/bin/env python3
"""Prints one closing line for the test runs of the given build directories:
`tests: N passed, N failed, N skipped`, counting each TAP subtest (cmocka's
test cases) and each non-TAP test once. Before it, every failed test is named
with its failed cases and the end of its output, so that the last lines of a
CI log say what failed. Exits 1 if anything failed."""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")


TAIL = 40


def report(build, t, sub):
    """Prints a failed test's name, its `not ok` lines and its output's end."""
    print(f"FAILED: {build}: {t.get('name')} ({t['result']}, "
          f"{t.get('duration', 0):.1f}s)")
    for m in sub:
        if m.group(1) == "not ok":
            print(f"  not ok{m.group(2)}")
    out = (t.get("stdout") or "").splitlines() + (t.get("stderr") or "").splitlines()
    for line in out[-TAIL:]:
        print(f"  | {line}")


def count(build):
    passed = failed = skipped = 0
    with open(f"{build}/meson-logs/testlog.json") as f:
        for line in f:
            t = json.loads(line)
            sub = [TAP.match(l) for l in (t.get("stdout") or "").splitlines()]
            sub = [m for m in sub if m]
            before = failed
            if t["result"] == "SKIP" and not sub:
                skipped += 1  # a whole test skipped (`1..0 # SKIP reason`)
            elif t.get("protocol") == "tap" or sub:
                for m in sub:
                    if "# SKIP" in m.group(2) or "# skip" in m.group(2):
                        skipped += 1
                    elif m.group(1) == "ok":
                        passed += 1
                    else:
                        failed += 1
                if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(
                        m.group(1) == "not ok" for m in sub):
                    failed += 1  # crashed or timed out before reporting
            elif t["result"] in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif t["result"] == "SKIP":
                skipped += 1
            else:
                failed += 1
            if failed > before:
                report(build, t, sub)
    return passed, failed, skipped


def main(builds):
    totals = [0, 0, 0]
    for b in builds:
        for i, v in enumerate(count(b)):
            totals[i] += v
    print(f"tests: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build"]))
