#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Instructions per packet of rte_vhost_enqueue_burst / rte_vhost_dequeue_burst,
# our library against Debian's, for every vhost_ir case (or the ones given).
#
# Each case runs once per library under callgrind, counting only inside the two
# burst calls (--toggle-collect: everything they call, nothing else), so the
# figure is exact and repeatable: it does not depend on the machine's speed.
# Ir/pkt = callgrind's "Collected" / the "packets:" vhost_ir prints. The
# front-end in vhost_ir verifies every packet; a case that fails on either
# library shows FAIL in its row and makes the script exit 1.
#
# usage: devtools/bench/ir_table.sh [-n BURSTS] [-b BUILD_DIR] [-o OURS_DIR]
#                                   [-d DEBIAN_DIR] [-k KEEP_DIR] [CASE...]
#   -n  bursts per case (default 2000; the first ring fill is < 1% of that)
#   -b  build directory holding devtools/bench/vhost_ir (default build)
#   -o  our librte_vhost.so.23's directory (default BUILD_DIR/lib/vhost)
#   -d  Debian's (default /usr/lib/x86_64-linux-gnu)
#   -k  keep the callgrind output files there, for callgrind_annotate
#   CASE: names from "vhost_ir -l" (default: all of them)
#
# Columns: Ir/pkt on each library, ratio ours/Debian (< 1: ours executes fewer
# instructions), and per library the calls that moved fewer packets than the
# front-end offered ("short"), the interrupts signalled ("calls") and the
# refills after which the front-end had to kick ("kicks"), which should be
# equal between the two. Last line: geometric mean of the ratios.
# It takes about 5 s per case and library on a 2-CPU machine (prefix with nice).

set -u
BURSTS=2000
BUILD=build
OURS=
DEBIAN=/usr/lib/x86_64-linux-gnu
KEEP=
while getopts "n:b:o:d:k:h" opt; do
	case $opt in
	n) BURSTS=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	o) OURS=$OPTARG ;;
	d) DEBIAN=$OPTARG ;;
	k) KEEP=$OPTARG ;;
	*) sed -n '3,28p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
OURS=${OURS:-$BUILD/lib/vhost}
BIN=$BUILD/devtools/bench/vhost_ir

command -v valgrind > /dev/null || { echo "ir_table: valgrind is not installed" >&2; exit 2; }
[ -x "$BIN" ] || { echo "ir_table: no $BIN (build with -Dtests=true)" >&2; exit 2; }
for d in "$OURS" "$DEBIAN"; do
	[ -e "$d/librte_vhost.so.23" ] || { echo "ir_table: no $d/librte_vhost.so.23" >&2; exit 2; }
done
if [ $# -gt 0 ]; then
	CASES="$*"
else
	CASES=$("$BIN" -l | awk '{print $1}')
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -n "$KEEP" ] && mkdir -p "$KEEP"

# measure LIBDIR CASE TAG: prints "IR_PER_PACKET SHORT CALLS KICKS" or "FAIL why"
measure() {
	local dir=$1 c=$2 tag=$3 out ir pk lib cg
	cg=${KEEP:-$TMP}/callgrind.$tag.$c
	out=$(LD_LIBRARY_PATH=$dir timeout -k 10 600 valgrind --tool=callgrind \
		--toggle-collect=rte_vhost_enqueue_burst --toggle-collect=rte_vhost_dequeue_burst \
		--callgrind-out-file="$cg" "$BIN" -c "$c" -n "$BURSTS" 2>&1)
	if [ $? -ne 0 ]; then
		echo "FAIL $(echo "$out" | grep -m1 'vhost_ir:' | cut -c1-60)"
		return
	fi
	lib=$(echo "$out" | awk '/^library: /{print $2}')
	if [ "$(readlink -f "$lib")" != "$(readlink -f "$dir/librte_vhost.so.23")" ]; then
		echo "FAIL ran on $lib"
		return
	fi
	ir=$(echo "$out" | awk '/Collected :/{print $NF}')
	pk=$(echo "$out" | awk '/^packets: /{print $2}')
	echo "$out" | awk -v ir="$ir" -v pk="$pk" '
		/^short: /{s = $2} /^calls: /{c = $2} /^kicks: /{k = $2}
		END { if (pk > 0) printf "%.1f %d %d %d\n", ir / pk, s, c, k
		      else print "FAIL no packets" }'
}

printf "%-28s %8s %8s %8s %11s %11s %11s\n" case "ours" "debian" "ours/deb" \
	"short o/d" "calls o/d" "kicks o/d"
rc=0
n=0
logsum=0
for c in $CASES; do
	o=$(measure "$OURS" "$c" ours)
	d=$(measure "$DEBIAN" "$c" debian)
	if [[ $o == FAIL* || $d == FAIL* ]]; then
		printf "%-28s %s | %s\n" "$c" "$o" "$d"
		rc=1
		continue
	fi
	read -r oi os oc ok <<< "$o"
	read -r di ds dc dk <<< "$d"
	ratio=$(awk -v a="$oi" -v b="$di" 'BEGIN { printf "%.2f", a / b }')
	logsum=$(awk -v s="$logsum" -v r="$ratio" 'BEGIN { printf "%.6f", s + log(r) }')
	n=$((n + 1))
	printf "%-28s %8s %8s %8s %5s/%-5s %5s/%-5s %5s/%-5s\n" "$c" "$oi" "$di" "$ratio" \
		"$os" "$ds" "$oc" "$dc" "$ok" "$dk"
done
[ $n -gt 0 ] && awk -v s="$logsum" -v n="$n" \
	'BEGIN { printf "geometric mean of ours/debian over %d cases: %.2f\n", n, exp(s / n) }'
exit $rc
