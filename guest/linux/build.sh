#!/usr/bin/env bash
# Builds the Linux guest into OUTDIR: OUTDIR/vmlinuz (Debian's kernel) and
# OUTDIR/initramfs.cpio.gz (Debian's static busybox and guest/linux/init).
#
# Nothing is installed on the host: the kernel package is fetched with
# `apt-get download` into a cache and unpacked with dpkg-deb. Once
# the .deb is cached the build works offline. busybox comes from the
# installed busybox-static package, else it is fetched the same way.
#
#   guest/linux/build.sh OUTDIR
#   GODWIT_DEB_CACHE   where .deb files are kept (default:
#                      ${XDG_CACHE_HOME:-~/.cache}/godwit/debs)
#   GODWIT_KERNEL_PKG  kernel package (default: linux-image-cloud-amd64;
#                      a metapackage is resolved to the image it depends on)
#
# Exit status: 0 built, 2 a package could not be obtained (the message
# says which and why), 1 any other failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
cache=${GODWIT_DEB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/godwit/debs}
kernel_pkg=${GODWIT_KERNEL_PKG:-linux-image-cloud-amd64}

die() { echo "guest/linux/build.sh: $*" >&2; exit 1; }
cannot_fetch() { echo "guest/linux/build.sh: cannot obtain $1: $2" >&2; exit 2; }

for tool in dpkg-deb cpio gzip; do
	command -v "$tool" >/dev/null || die "$tool is needed (tools/install-deps.sh installs it)"
done
mkdir -p "$cache" "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/godwit-linux-XXXXXX")
trap 'rm -rf "$work"' EXIT


# The newest cached .deb of package $1 (in the cache or apt's own), if any.
cached_deb() {
	local f
	f=$(ls -1 "$cache/$1"_*.deb /var/cache/apt/archives/"$1"_*.deb 2>/dev/null | sort -V | tail -n 1) || true
	[ -n "$f" ] && echo "$f"
}

# The newest cached image of the kernel flavour (cloud-amd64, ...).
cached_flavour_deb() {
	local flavour=${kernel_pkg#linux-image-}
	flavour=${flavour#[0-9]*-[0-9]*-}
	{ ls -1 "$cache"/linux-image-[0-9]*-"$flavour"_*.deb \
		/var/cache/apt/archives/linux-image-[0-9]*-"$flavour"_*.deb 2>/dev/null || true; } |
		sort -V | tail -n 1 | grep .
}

# A metapackage (linux-image-cloud-amd64) depends on one versioned image
# package; a versioned name is returned as it is.
resolve_kernel_pkg() {
	if [[ "$kernel_pkg" =~ ^linux-image-[0-9] ]]; then
		echo "$kernel_pkg"
		return
	fi
	apt-cache depends "$kernel_pkg" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1 | grep .
}

# Path of package $1's .deb, downloading it into the cache if needed; on
# failure, why is in $work/fetch-error (it runs in a subshell).
fetch_error() { sed "s/ *$//" "$work/fetch-error" 2>/dev/null || true; }
fetch_deb() {
	local pkg=$1 log
	cached_deb "$pkg" && return
	if ! log=$(cd "$cache" && apt-get download "$pkg" 2>&1); then
		echo "apt-get download failed: $(echo "$log" | grep -E '^E:' | head -n 2 | tr '\n' ' ')" >"$work/fetch-error"
		return 1
	fi
	cached_deb "$pkg" || { echo "apt-get download left no .deb in $cache" >"$work/fetch-error"; return 1; }
}

# The kernel.
# Offline, with apt's lists newer than the cache, the newest cached image
# of the same flavour stands in.
if image_pkg=$(resolve_kernel_pkg) && kernel_deb=$(fetch_deb "$image_pkg"); then
	:
elif kernel_deb=$(cached_flavour_deb); then
	echo "guest/linux/build.sh: ${image_pkg:-$kernel_pkg} unavailable ($(fetch_error)); using cached $(basename "$kernel_deb")" >&2
else
	[ -n "${image_pkg:-}" ] || echo "apt does not know it (run apt-get update)" >"$work/fetch-error"
	cannot_fetch "${image_pkg:-$kernel_pkg}" "$(fetch_error); or put its .deb in $cache"
fi
image_pkg=$(basename "${kernel_deb%%_*}")
# Only /boot is unpacked: the modules are not needed (the initramfs loads
# none) and are most of the package.
mkdir -p "$work/kernel"
dpkg-deb --fsys-tarfile "$kernel_deb" | tar -x -C "$work/kernel" --wildcards './boot/vmlinuz-*' ||
	die "cannot unpack $kernel_deb"
vmlinuz=$(ls -1 "$work"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1) || true
[ -n "$vmlinuz" ] || die "$kernel_deb has no /boot/vmlinuz-*"
cp "$vmlinuz" "$out/vmlinuz.tmp"

# busybox, statically linked, so the initramfs needs no libraries.
busybox=
if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' &&
	[ -x /bin/busybox ]; then
	busybox=/bin/busybox
else
	busybox_deb=$(fetch_deb busybox-static) || cannot_fetch busybox-static "$(fetch_error)"
	dpkg-deb -x "$busybox_deb" "$work/busybox" || die "cannot unpack $busybox_deb"
	busybox="$work/busybox/bin/busybox"
	[ -x "$busybox" ] || die "$busybox_deb has no /bin/busybox"
fi

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/init" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --quiet -o -0 -H newc -R 0:0 | gzip -9 >"$out/initramfs.cpio.gz.tmp") ||
	die "cannot write the initramfs"

mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "$(basename "$kernel_deb" .deb)" >"$out/kernel-package"
echo "guest/linux/build.sh: $out/vmlinuz ($image_pkg), $out/initramfs.cpio.gz"
