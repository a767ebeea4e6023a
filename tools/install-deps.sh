#!/usr/bin/env bash
# Installs the Debian 12 packages Godwit builds, tests and runs with.
# Needs root (or sudo); does nothing for packages already installed.
set -euo pipefail
pkgs=(
	meson ninja-build pkg-config gcc python3
	libjansson-dev libyajl-dev libyaml-dev libxml2-dev libcmocka-dev libjemalloc-dev
	qemu-system-x86 qemu-utils cpuid libvirt-clients
	libsqlite3-dev libcurl4-openssl-dev etcd-server etcd-client libmicrohttpd-dev
	# guest/: the workload guest needs only gcc (-m32 -ffreestanding needs
	# no multilib); the Linux guest's initramfs is busybox in a cpio.
	busybox-static cpio
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	sudo_cmd=()
	[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
