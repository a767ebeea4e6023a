#!/usr/bin/env bash
# The main job. Installs what is missing (Debian packages), builds, then:
#   ./tools/demo.sh [cluster] [--keep] [--addresses A,B,C]
#       the cluster demo (default): `godwit server` on SQLite, three
#       `godwit node` agents on 127.0.0.11-13 with CPU profiles of three
#       Intel generations, a real QEMU guest migrated between them
#       (tools/cluster_demo.py, docs/demo.md);
#   ./tools/demo.sh cpu
#       the CPU-model engine on this host and on data/hosts/ (tools/demo-cpu.sh).
# The cluster demo stops everything it started when it ends, fails or is
# interrupted (Ctrl-C, SIGTERM): the Python process it becomes handles
# INT/TERM/HUP and exit.
set -uo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
cpu) exec ./tools/demo-cpu.sh ;;
cluster) shift ;;
-h | --help)
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac
./tools/install-deps.sh || exit 1
[ -d build ] || meson setup build >/dev/null || exit 1
ninja -C build >/dev/null || exit 1
exec python3 tools/cluster_demo.py --godwit build/godwit \
	--workload build/guest/workload/godwit-workload.elf "$@"
