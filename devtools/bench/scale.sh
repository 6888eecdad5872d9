#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Many vhost-user ports in one back-end process (devtools/bench/scale.c), on
# our librte_vhost.so.23 and on Debian's, same binary, taking turns; one
# side-by-side table per port count: the median of the repeats for each
# figure, and the ratio ours / Debian's (below 1: ours uses less).
#
# usage: devtools/bench/scale.sh [--ports "1 16 64 128"] [--repeats N]
#            [--mode burst|seq] [--bin PATH] [--ours DIR] [--debian DIR]
#        devtools/bench/scale.sh --smoke ...   16 ports once on each library:
#            every port up and down, on the library named; no timing checked
#            (the meson test scale_smoke). PASS/FAIL/SKIP lines.
# Run it on an idle machine for figures (it is nice'd by nobody but you).

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/build/devtools/bench/scale
ours=$root/build/lib/vhost
debian=$(pkg-config --variable=libdir libdpdk 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
port_counts="1 16 64 128"
repeats=3
mode=burst
smoke=0
while [ $# -gt 0 ]; do
	case $1 in
	--ports) port_counts=$2; shift ;;
	--repeats) repeats=$2; shift ;;
	--mode) mode=$2; shift ;;
	--bin) bin=$2; shift ;;
	--ours) ours=$2; shift ;;
	--debian) debian=$2; shift ;;
	--smoke) smoke=1 ;;
	*) echo "usage: $0 [--smoke] [--ports LIST] [--repeats N] [--mode burst|seq]" \
		"[--bin PATH] [--ours DIR] [--debian DIR]" >&2; exit 2 ;;
	esac
	shift
done
[ -x "$bin" ] || { echo "FAIL: scale: $bin is not executable (build first)"; exit 1; }

tmp=$(mktemp -d /tmp/scale_bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run NAME DIR PORTS OUT: one run; 0 if every port came up and went down on
# the library in DIR.
run() {
	LD_LIBRARY_PATH=$2 timeout -k 5 120 "$bin" -p "$3" -m "$mode" >"$4" 2>&1
	st=$?
	[ $st -eq 0 ] || { echo "exit status $st: $(grep -m1 'scale:' "$4")"; return 1; }
	lib=$(awk '/^library: / { print $2 }' "$4")
	[ "$(readlink -f "$lib")" = "$(readlink -f "$2/librte_vhost.so.23")" ] ||
		{ echo "ran on '$lib', not $2/librte_vhost.so.23"; return 1; }
	up=$(awk '/^up: / { print $2 }' "$4")
	down=$(awk '/^down: / { print $2 }' "$4")
	[ "$up" = "$3" ] && [ "$down" = "$3" ] ||
		{ echo "$up of $3 ports up, $down down"; return 1; }
	return 0
}

if [ $smoke -eq 1 ]; then
	rc=0
	for spec in ours=$ours debian=$debian; do
		name=${spec%%=*}
		dir=${spec#*=}
		if [ ! -e "$dir/librte_vhost.so.23" ]; then
			echo "SKIP: scale/$name: no $dir/librte_vhost.so.23"
			continue
		fi
		if why=$(run "$name" "$dir" 16 "$tmp/$name.out"); then
			echo "PASS: scale/$name: 16 ports up and down"
		else
			echo "FAIL: scale/$name: $why"
			sed 's/^/    /' "$tmp/$name.out" | tail -5
			rc=1
		fi
	done
	exit $rc
fi

figures="linkup_median_ms linkup_max_ms all_up_ms teardown_ms rss_kib_per_port fds_per_port
events_cpu_us_per_port events_minflt_per_port events_wakeups_per_port"
median() {	# median of the numbers on stdin
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
echo "scale: $bin, mode $mode, $repeats repeats, ports: $port_counts"
echo "ours:   $(readlink -f "$ours/librte_vhost.so.23")"
echo "debian: $(readlink -f "$debian/librte_vhost.so.23")"
rc=0
for n in $port_counts; do
	r=1
	while [ "$r" -le "$repeats" ]; do
		for spec in ours=$ours debian=$debian; do
			name=${spec%%=*}
			if ! why=$(run "$name" "${spec#*=}" "$n" "$tmp/$name.$n.$r"); then
				echo "FAIL: $name, $n ports: $why" >&2
				rc=1
			fi
		done
		r=$((r + 1))
	done
done
printf '\n%6s  %-24s %12s %12s %7s\n' ports figure ours debian ratio
for n in $port_counts; do
	for f in $figures; do
		o=$(cat "$tmp"/ours."$n".* 2>/dev/null | awk -v f="$f:" '$1 == f { print $2 }' |
			median)
		d=$(cat "$tmp"/debian."$n".* 2>/dev/null | awk -v f="$f:" '$1 == f { print $2 }' |
			median)
		ratio=$(awk -v o="$o" -v d="$d" 'BEGIN {
			if (o == "" || d == "" || d + 0 == 0) print "-"; else printf "%.2f", o / d }')
		printf '%6s  %-24s %12s %12s %7s\n' "$n" "$f" "${o:--}" "${d:--}" "$ratio"
	done
done
exit $rc
