#!/usr/bin/env bash
# The CPU-model demo (`./tools/demo.sh cpu`): installs what is missing, builds, and shows the CPU-model
# engine on this host and on sample hosts shipped in data/hosts/:
#   1. this host: features, usable QEMU models, host-model, KubeVirt labels;
#   2. baselines of three mixed clusters (Cascade Lake + Sapphire Rapids,
#      Skylake + Cascade Lake, Broadwell + newer) and a two-host compare.
# A step that this host or build cannot do (exit code 4) is reported and
# skipped; any other failure makes the script fail at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh || exit 1
[ -d build ] || meson setup build >/dev/null || exit 1
ninja -C build >/dev/null || exit 1

godwit=./build/godwit
hosts=data/hosts
failed=0

step() {
	local title=$1
	shift
	printf '\n=== %s\n$ godwit %s\n\n' "$title" "$*"
	"$godwit" "$@"
	local rc=$?
	if [ "$rc" -eq 4 ]; then
		printf '\n(skipped: not possible on this host or not in this build yet, see the message above)\n'
	elif [ "$rc" -ne 0 ]; then
		printf '\n(FAILED with exit code %d)\n' "$rc"
		failed=1
	fi
}

step "This host, as its CPUID instruction describes it" cpu host
if [ -e /dev/kvm ]; then
	step "This host, as KVM offers it to guests" cpu host --kvm
	step "This host, as QEMU sees it under KVM (-cpu host)" cpu host --qemu qemu-system-x86_64 --kvm
else
	printf '\n=== This host under KVM: skipped, no /dev/kvm here\n'
	step "What QEMU's TCG emulator offers here (-cpu max)" cpu host --qemu qemu-system-x86_64
fi

step "Cascade Lake + Sapphire Rapids: which model can guests migrate between them with?" \
	cpu baseline --profile "$hosts/clx-platinum-8268.json" --profile "$hosts/clx-ap-platinum-9242.json" \
	--profile "$hosts/spr-bronze-3408u.json"
step "Skylake + Cascade Lake (one Skylake without the IBRS microcode update)" \
	cpu baseline --profile "$hosts/skx-gold-5115.json" --profile "$hosts/skx-gold-6130.json" \
	--profile "$hosts/skx-gold-6148-no-ibrs-ucode.json" --profile "$hosts/clx-platinum-8268.json"
step "Broadwell + newer hosts" \
	cpu baseline --profile "$hosts/bdw-e5-2630-v4.json" --profile "$hosts/skx-gold-6130.json" \
	--profile "$hosts/clx-platinum-8268.json" --profile "$hosts/spr-bronze-3408u.json"
step "Cascade Lake vs Sapphire Rapids, feature by feature" \
	cpu compare --profile "$hosts/clx-platinum-8268.json" --profile "$hosts/spr-bronze-3408u.json"

if [ "$failed" -ne 0 ]; then
	echo "demo: some steps failed (see above)" >&2
	exit 1
fi
echo
echo "demo: done. More: docs/cli.md; every command takes --help."
