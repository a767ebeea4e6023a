#!/usr/bin/env bash
# The main job: installs what is missing, builds, and shows the CPU-model
# engine on this host and on the sample hosts shipped in data/hosts/.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
./build/godwit cpu models --profile data/hosts/clx-platinum-8268.json --usable
