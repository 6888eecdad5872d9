#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Front-end start-up and restart over both transports on our library
# (devtools/bench/startup.c): connect -> link up, link up -> first packet,
# close -> destroy_device, and front-end restart -> traffic flowing again,
# over AF_UNIX and through dpdk-vvu-device (VVU), taking turns; each figure
# is the median over the runs of each run's median (and the largest max),
# and the VVU / AF_UNIX ratio. first_connect_linkup_ms (one per run) and
# wakeups_per_round (context switches per round, the load-independent
# figure): median and max over the runs.
#
# usage: devtools/bench/startup.sh [--runs N] [--rounds N] [--lib DIR]
#            [--device PATH] [--bin PATH]
# Run it on an idle machine for figures.

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/build/devtools/bench/startup
lib=$root/build/lib/vhost
device=$root/build/app/vvu-device/dpdk-vvu-device
runs=5
rounds=20
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--lib) lib=$2; shift ;;
	--device) device=$2; shift ;;
	--bin) bin=$2; shift ;;
	*) echo "usage: $0 [--runs N] [--rounds N] [--lib DIR] [--device PATH] [--bin PATH]" >&2
	   exit 2 ;;
	esac
	shift
done
for f in "$bin" "$device"; do
	[ -x "$f" ] || { echo "startup: $f is not executable (build first)" >&2; exit 1; }
done
[ -e "$lib/librte_vhost.so.23" ] || { echo "startup: no $lib/librte_vhost.so.23" >&2; exit 1; }

tmp=$(mktemp -d /tmp/startup_bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rc=0
r=1
while [ "$r" -le "$runs" ]; do
	for t in af_unix vvu; do
		if ! LD_LIBRARY_PATH=$lib timeout -k 5 300 "$bin" -t "$t" -d "$device" \
			-n "$rounds" > "$tmp/$t.$r" 2>"$tmp/$t.$r.err"; then
			echo "FAIL: startup/$t run $r: $(grep -m1 'startup:' "$tmp/$t.$r.err")" >&2
			rc=1
		else
			# devtools/test.sh counts these lines (no timing is judged)
			echo "PASS: startup/$t run $r ($rounds rounds)"
		fi
	done
	r=$((r + 1))
done

figures="first_connect_linkup_ms connect_linkup_ms linkup_traffic_ms close_down_ms
restart_traffic_ms wakeups_per_round"
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
pick() {	# TRANSPORT KEY STAT(median|max); a single-valued KEY: over the runs
	cat "$tmp/$1".[0-9]* 2>/dev/null |
		awk -v k="$2_$3:" -v k1="$2:" '$1 == k || $1 == k1 { print $2 }' |
		if [ "$3" = max ]; then sort -g | tail -1; else median; fi
}
echo "startup: $(readlink -f "$lib/librte_vhost.so.23"), $runs runs of $rounds rounds"
printf '\n%-22s %10s %10s %10s %10s %8s\n' figure "af_unix" "(max)" "vvu" "(max)" "vvu/af"
for f in $figures; do
	a=$(pick af_unix "$f" median)
	am=$(pick af_unix "$f" max)
	v=$(pick vvu "$f" median)
	vm=$(pick vvu "$f" max)
	ratio=$(awk -v a="$a" -v v="$v" 'BEGIN {
		if (a == "" || v == "" || a + 0 == 0) print "-"; else printf "%.2f", v / a }')
	printf '%-22s %10s %10s %10s %10s %8s\n' "$f" "${a:--}" "${am:--}" "${v:--}" \
		"${vm:--}" "$ratio"
done
exit $rc
