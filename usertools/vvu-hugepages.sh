#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Reserve 2 MiB hugepages and mount hugetlbfs at /dev/hugepages (idempotent).
#
# A fresh Debian 12 machine has no hugepages reserved and no hugetlbfs mounted;
# without both, EAL fails with "No free 2048 kB hugepages reported".
#
# Usage (as root):  usertools/vvu-hugepages.sh [NR_PAGES]      (default 1024 = 2 GiB)
#   env VVU_HUGEPAGES=N is an alternative way to give NR_PAGES.
# Also removes stale rte hugepage files (*map_*) left behind by EAL processes
# that are no longer running, so they do not pin pages.
set -euo pipefail

want=${1:-${VVU_HUGEPAGES:-1024}}
mnt=/dev/hugepages
nr=/proc/sys/vm/nr_hugepages

if [ "$(id -u)" -ne 0 ]; then
	echo "vvu-hugepages: must run as root" >&2
	exit 1
fi

have=$(cat "$nr")
if [ "$have" -lt "$want" ]; then
	echo "$want" > "$nr"
	# The kernel may grant fewer pages than asked (fragmentation); retry once.
	if [ "$(cat "$nr")" -lt "$want" ]; then
		sync
		echo 3 > /proc/sys/vm/drop_caches || true
		echo 1 > /proc/sys/vm/compact_memory 2>/dev/null || true
		echo "$want" > "$nr"
	fi
fi

if ! mountpoint -q "$mnt" || ! grep -qs " $mnt hugetlbfs " /proc/mounts; then
	mkdir -p "$mnt"
	mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
fi

# Stale EAL hugepage files: <prefix>map_<n> whose owner is gone. A file that
# some live process has mapped shows up in /proc/*/maps; leave those alone.
in_use=$(cat /proc/[0-9]*/maps 2>/dev/null | awk -v m="$mnt/" 'index($6, m) == 1 {print $6}' \
	| sort -u || true)
shopt -s nullglob
for f in "$mnt"/*map_*; do
	if ! grep -qxF "$f" <<<"$in_use"; then
		rm -f "$f"
	fi
done

total=$(awk '/^HugePages_Total/ {print $2}' /proc/meminfo)
free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
echo "vvu-hugepages: $total x 2 MiB reserved, $free free, hugetlbfs at $mnt"
if [ "$total" -lt 512 ]; then
	echo "vvu-hugepages: fewer than 512 pages could be reserved" >&2
	exit 1
fi
