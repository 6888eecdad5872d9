#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# ABI check: is our librte_vhost.so.23 a drop-in for Debian's?
#
# Usage: devtools/check-abi.sh [OUR_LIB [REFERENCE_LIB]]
#   OUR_LIB        default: build/lib/vhost/librte_vhost.so.23 (or $VVU_BUILD_DIR/lib/vhost/...)
#   REFERENCE_LIB  default: /usr/lib/x86_64-linux-gnu/librte_vhost.so.23 (Debian's DPDK 22.11)
#
# Prints one line per check, in the unit tests' format (devtools/test.sh counts them):
#   PASS: abi/<check>   or   FAIL: abi/<check>: <why>
# Checks:
#   soname          SONAME is librte_vhost.so.23
#   bind_now        FLAGS BIND_NOW / FLAGS_1 NOW (like Debian's: plugins are BIND_NOW)
#   version_nodes   every version definition of Debian's library is defined by ours
#   symbols         every symbol Debian's library defines, ours defines in the same node
#   no_extra        ours defines nothing else, except rte_* symbols in Debian's nodes
#                   (listed as extensions)
#   resolves        ldd -r finds no undefined symbol in ours
# Exit status: 0 if every check passed, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ours=${1:-${VVU_BUILD_DIR:-$here/build}/lib/vhost/librte_vhost.so.23}
ref=${2:-/usr/lib/x86_64-linux-gnu/librte_vhost.so.23}
soname=librte_vhost.so.23
failed=0

pass() { echo "PASS: abi/$1"; }
fail() { echo "FAIL: abi/$1: $2"; failed=1; }

if [ ! -f "$ref" ]; then
	echo "FAIL: abi/reference: $ref not found (apt-get install librte-vhost23)"
	exit 1
fi
if [ ! -f "$ours" ]; then
	echo "FAIL: abi/library: $ours not found (build first: meson setup build && ninja -C build)"
	exit 1
fi
command -v objdump >/dev/null || { echo "FAIL: abi/tools: objdump not found (binutils)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "version name" of every defined dynamic symbol, version-node marker symbols
# (*ABS* entries named like their node) excluded.
defined() {
	objdump -T "$1" | awk '
		/^[0-9a-f]+ / && !/\*UND\*/ {
			name = $NF; ver = $(NF - 1); gsub(/[()]/, "", ver)
			if (/\*ABS\*/ && name == ver) next
			print ver, name
		}' | sort -u
}
# Version definitions (objdump -p), base (file name) node included.
nodes() {
	objdump -p "$1" | awk '/^Version definitions:/ {on = 1; next}
		on && NF == 0 {on = 0} on && NF >= 4 {print $4}' | sort -u
}

defined "$ref" > "$tmp/ref.syms"
defined "$ours" > "$tmp/ours.syms"
nodes "$ref" > "$tmp/ref.nodes"
nodes "$ours" > "$tmp/ours.nodes"

# soname
got=$(objdump -p "$ours" | awk '$1 == "SONAME" {print $2}')
if [ "$got" = "$soname" ]; then pass soname; else fail soname "SONAME is '${got:-none}', expected $soname"; fi

# bind_now
# Read objdump's output whole first: with pipefail, grep -q closing the pipe on its
# first match would SIGPIPE objdump and fail the check at random.
dyn=$(objdump -p "$ours")
if grep -Eq '^ *FLAGS +0x[0-9a-f]*[89a-f]$|^ *FLAGS_1 +0x[0-9a-f]*[13579bdf]$' <<< "$dyn"; then
	pass bind_now
else
	fail bind_now "no BIND_NOW / NOW dynamic flag (link with -Wl,-z,now)"
fi

# version_nodes
missing=$(comm -23 "$tmp/ref.nodes" "$tmp/ours.nodes" | tr '\n' ' ')
if [ -z "$missing" ]; then
	pass version_nodes
else
	fail version_nodes "missing version definitions: $missing"
fi

# symbols
missing=$(comm -23 "$tmp/ref.syms" "$tmp/ours.syms")
if [ -z "$missing" ]; then
	pass symbols
	echo "  ($(wc -l < "$tmp/ref.syms") symbols of $ref defined in the same nodes)"
else
	fail symbols "$(echo "$missing" | wc -l) of $(wc -l < "$tmp/ref.syms") missing or in another node:"
	echo "$missing" | sed 's/^/    /'
fi

# no_extra
extra=$(comm -13 "$tmp/ref.syms" "$tmp/ours.syms")
bad=$(echo "$extra" | awk -v nodes="$(tr '\n' ' ' < "$tmp/ref.nodes")" '
	NF == 2 { split(nodes, n, " "); ok = 0
		for (i in n) if ($1 == n[i] && $2 ~ /^rte_/) ok = 1
		if (!ok) print }')
if [ -z "$bad" ]; then
	pass no_extra
	if [ -n "$extra" ]; then
		echo "  (extensions: $(echo "$extra" | awk '{printf "%s@%s ", $2, $1}'))"
	fi
else
	fail no_extra "$(echo "$bad" | wc -l) exported symbols that Debian's library does not export:"
	echo "$bad" | sed 's/^/    /'
fi

# resolves
if undef=$(ldd -r "$ours" 2>&1 | grep -i 'undefined symbol'); then
	fail resolves "$(echo "$undef" | wc -l) undefined symbols:"
	echo "$undef" | head -20 | sed 's/^/    /'
else
	pass resolves
fi

exit $failed
