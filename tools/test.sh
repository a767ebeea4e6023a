#!/usr/bin/env bash
# Builds Godwit and runs every test: `meson test` over unit, integration and
# scenario suites. Tests that need /dev/kvm or QEMU skip with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
meson test -C build --print-errorlogs "$@"
