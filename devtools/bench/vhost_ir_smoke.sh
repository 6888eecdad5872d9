#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A functional smoke run of vhost_ir (not a benchmark): every case, a few
# bursts, in one process per library given; each must exit 0 (the front-end verified
# every packet), report a positive packet count, and have run on the
# library it was pointed at. One PASS/FAIL/SKIP line per case and library.
#
# usage: vhost_ir_smoke.sh VHOST_IR NAME=LIBDIR [NAME=LIBDIR...]
#   e.g. vhost_ir_smoke.sh build/devtools/bench/vhost_ir ours=build/lib/vhost \
#            debian=/usr/lib/x86_64-linux-gnu

BURSTS=${VHOST_IR_SMOKE_BURSTS:-20}
bin=$1
shift
[ -x "$bin" ] || { echo "FAIL: vhost_ir: $bin is not executable"; exit 1; }
cases=$("$bin" -l | awk '{print $1}')
[ -n "$cases" ] || { echo "FAIL: vhost_ir: -l lists no case"; exit 1; }
rc=0
for spec in "$@"; do
	name=${spec%%=*}
	dir=${spec#*=}
	if [ ! -e "$dir/librte_vhost.so.23" ]; then
		echo "SKIP: vhost_ir/$name: no $dir/librte_vhost.so.23"
		continue
	fi
	real=$(readlink -f "$dir/librte_vhost.so.23")
	# One process runs every case (one EAL start, one connection per case).
	out=$(LD_LIBRARY_PATH=$dir timeout -k 5 30 "$bin" -c all -n "$BURSTS" 2>&1)
	st=$?
	why=$(echo "$out" | grep -m1 'vhost_ir:' || echo "exit status $st")
	for c in $cases; do
		res=$(echo "$out" | awk -v c="$c" '
			/^library: / { lib = $2 }
			/^case: / { cur = $2 }
			/^packets: / && cur == c { print lib, $2; exit }')
		lib=${res% *}
		pk=${res#* }
		if [ -z "$res" ]; then
			echo "FAIL: vhost_ir/$name/$c: no result ($why)"
			rc=1
		elif [ "$(readlink -f "$lib")" != "$real" ]; then
			echo "FAIL: vhost_ir/$name/$c: ran on '$lib', not $real"
			rc=1
		elif [ "$pk" -le 0 ]; then
			echo "FAIL: vhost_ir/$name/$c: no packets moved"
			rc=1
		else
			echo "PASS: vhost_ir/$name/$c"
		fi
	done
	if [ $st -ne 0 ] && [ $rc -eq 0 ]; then
		echo "FAIL: vhost_ir/$name: $why"
		rc=1
	fi
done
exit $rc
