#!/usr/bin/env bash
# `godwit version`: the version, and the allocator the build chose (meson
# option allocator; system under sanitizers). With jemalloc, the binary's
# own options (malloc_conf in src/cli/main.c) must be in effect: thp always.
# TAP output. Usage: cli_version.sh GODWIT_BINARY ALLOCATOR VERSION
set -uo pipefail
godwit=${1:?usage: cli_version.sh GODWIT ALLOCATOR VERSION}
allocator=${2:?usage: cli_version.sh GODWIT ALLOCATOR VERSION}
version=${3:?usage: cli_version.sh GODWIT ALLOCATOR VERSION}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

out=$("$godwit" version 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ "$(sed -n 1p <<<"$out")" = "godwit $version" ]; then
	ok "first line: godwit $version"
else
	not_ok "first line: godwit $version" "exit $rc" "$out"
fi
line=$(sed -n 2p <<<"$out")
case $allocator in
jemalloc)
	if grep -Eq '^allocator: jemalloc [0-9]+\.[0-9]+\.[0-9]+.* \(thp always\)$' <<<"$line"; then
		ok "jemalloc, with the binary's options in effect"
	else
		not_ok "jemalloc, with the binary's options in effect" "second line: $line"
	fi
	;;
system)
	if [ "$line" = "allocator: system" ]; then ok "system allocator"; else not_ok "system allocator" "second line: $line"; fi
	;;
*)
	not_ok "known allocator" "meson gave \"$allocator\""
	;;
esac
echo "1..$n"
