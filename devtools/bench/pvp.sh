#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# PVP-style loopback benchmark: our librte_vhost.so.23 vs Debian's, same run.
#
#   front-end: Debian dpdk-testpmd, net_virtio_user0 (Debian's libraries), io fwd on
#              CPU 0 (main lcore 1), primed with "start tx_first 32" (1024 packets)
#   back-end:  Debian dpdk-testpmd, net_vhost0, io fwd on CPU 1 (main lcore 0), on the
#              library of the configuration being measured (LD_LIBRARY_PATH)
#   packets circulate front-end -> back-end -> front-end over one AF_UNIX socket.
#
# Rates are read at the front-end with two "show port stats 0", PVP_WARMUP seconds
# after tx_first and PVP_DURATION seconds later: the second one's "Throughput (since
# last show)" is the run's rate over exactly that window (testpmd's own TSC timing):
# "Tx-pps" = front-end -> back-end (vhost dequeue), "Rx-pps" = back-end -> front-end
# (vhost enqueue). A cell = median over the repeats; the runs are interleaved (repeat
# > size > configuration) so that the machine's slow phases (shared/research/
# baseline.md, noise warning) hit every configuration alike.
#
# Not a test: prints a table, exits non-zero only if a run could not be made.
#
# Environment:
#   PVP_CONFIGS   configurations, in order, the first is the reference (default "debian ours")
#   PVP_SIZES     packet sizes (default "64 1518")
#   PVP_REPEATS   runs per cell (default 3)
#   PVP_DURATION  seconds measured per run (default 10)
#   PVP_WARMUP    seconds of traffic before the measurement (default 2)
#   PVP_BURSTS    tx_first bursts of 32 packets to prime the loop (default 32)
#   VHOST_LIB_DIR our library's directory (default build/lib/vhost)
#   PVP_OUT       where logs and results go (default build-bench/pvp-<time>)
#
# Adding a configuration (e.g. vvu, later): define config_<name>() setting CFG_LIBDIR
# (LD_LIBRARY_PATH for the back-end, empty = Debian's), CFG_BE_VDEV (the back-end's
# --vdev), CFG_FE_SOCK (socket the front-end connects to) and optionally CFG_SETUP /
# CFG_TEARDOWN (commands run before / after the pair, e.g. starting dpdk-vvu-device);
# then PVP_CONFIGS="debian ours vvu".
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONFIGS=${PVP_CONFIGS:-debian ours}
SIZES=${PVP_SIZES:-64 1518}
REPEATS=${PVP_REPEATS:-3}
DURATION=${PVP_DURATION:-10}
WARMUP=${PVP_WARMUP:-2}
BURSTS=${PVP_BURSTS:-32}
OURS=$(realpath -m "${VHOST_LIB_DIR:-$REPO/build/lib/vhost}")
OUT=${PVP_OUT:-$REPO/build-bench/pvp-$(date +%Y%m%d-%H%M%S)}
TESTPMD=${TESTPMD:-dpdk-testpmd}
DEBIAN_LIB=/usr/lib/x86_64-linux-gnu/librte_vhost.so.23

mkdir -p "$OUT"
RUN=$(mktemp -d /tmp/vvu-pvp.XXXXXX) # sockets and fifos (short path: sun_path limit)
SOCK=$RUN/vhost.sock
PIDS=()
PREFIXES=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	sleep 1
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$p"; done
	if [ -n "${CFG_TEARDOWN:-}" ]; then eval "$CFG_TEARDOWN" || true; fi
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- configurations --------------------------------------------------------
config_debian() {
	CFG_LIBDIR=
	CFG_BE_VDEV="net_vhost0,iface=$SOCK,queues=1"
	CFG_FE_SOCK=$SOCK
	CFG_SETUP= CFG_TEARDOWN=
}
config_ours() {
	CFG_LIBDIR=$OURS
	CFG_BE_VDEV="net_vhost0,iface=$SOCK,queues=1"
	CFG_FE_SOCK=$SOCK
	CFG_SETUP= CFG_TEARDOWN=
}

# ---- one run ---------------------------------------------------------------
wait_for() { # FILE REGEX SECONDS
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -aqE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# run_one CFG LEN TAG: sets RESULT="fe_to_be_pps be_to_fe_pps" or fails. (Not run in
# $(...): the pids must stay in this shell's PIDS for the EXIT trap.)
run_one() {
	local cfg=$1 len=$2 tag=$3 be_log=$OUT/$3.be.log fe_log=$OUT/$3.fe.log
	local bp fp fe_in=$RUN/fe.in be_in=$RUN/be.in i want
	"config_$cfg"
	rm -f "$SOCK" "$fe_in" "$be_in"
	if [ -n "$CFG_SETUP" ]; then eval "$CFG_SETUP"; fi
	PREFIXES+=("pvp$$be" "pvp$$fe")
	mkfifo "$fe_in" "$be_in"

	# Both interactive, commands through fifos held open on fds 3 (fe) and 4 (be).
	env ${CFG_LIBDIR:+LD_LIBRARY_PATH="$CFG_LIBDIR"} stdbuf -oL "$TESTPMD" -l 0,1 --main-lcore 0 \
		--file-prefix "pvp$$be" --no-pci --in-memory -m 512 --vdev "$CFG_BE_VDEV" -- \
		-i --auto-start --forward-mode=io --nb-cores=1 < "$be_in" > "$be_log" 2>&1 &
	bp=$!
	PIDS+=("$bp")
	exec 4> "$be_in"
	for ((i = 0; i < 300; i++)); do [ -S "$CFG_FE_SOCK" ] && break; sleep 0.1; done
	[ -S "$CFG_FE_SOCK" ] || { echo "no socket $CFG_FE_SOCK (see $be_log)" >&2; return 1; }
	wait_for "$be_log" 'testpmd> ' 60 || { echo "back-end did not start ($be_log)" >&2; return 1; }
	# The back-end must run the library of the configuration, nothing else.
	if [ -n "$CFG_LIBDIR" ]; then
		want=$(realpath "$CFG_LIBDIR/librte_vhost.so.23")
	else
		want=$(realpath "$DEBIAN_LIB")
	fi
	if ! grep -q " $want\$" "/proc/$bp/maps" ||
		[ "$(grep -c '/librte_vhost.so' "/proc/$bp/maps")" -ne "$(grep -c " $want\$" "/proc/$bp/maps")" ]; then
		echo "back-end of '$cfg' does not run $want" >&2
		return 1
	fi

	stdbuf -oL "$TESTPMD" -l 0,1 --main-lcore 1 --file-prefix "pvp$$fe" --no-pci --in-memory \
		--single-file-segments -m 512 --vdev "net_virtio_user0,path=$CFG_FE_SOCK,queues=1" -- \
		-i --forward-mode=io --nb-cores=1 --txpkts="$len" < "$fe_in" > "$fe_log" 2>&1 &
	fp=$!
	PIDS+=("$fp")
	exec 3> "$fe_in"
	wait_for "$fe_log" 'testpmd> ' 60 || { echo "front-end did not start ($fe_log)" >&2; return 1; }
	for ((i = 0; i < 60; i++)); do
		echo "show port info 0" >&3
		sleep 0.5
		grep -aq 'Link status: up' "$fe_log" && break
	done
	echo "start tx_first $BURSTS" >&3
	sleep "$WARMUP"
	echo "show port stats 0" >&3
	sleep "$DURATION"
	echo "show port stats 0" >&3
	sleep 0.5
	printf 'stop\nquit\n' >&3
	printf 'stop\nquit\n' >&4
	exec 3>&- 4>&-
	for ((i = 0; i < 150; i++)); do
		kill -0 "$fp" 2>/dev/null || kill -0 "$bp" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$fp" "$bp" 2>/dev/null || true
	wait "$fp" "$bp" 2>/dev/null || true
	PIDS=()
	rm -rf "/var/run/dpdk/pvp$$be" "/var/run/dpdk/pvp$$fe" "$fe_in" "$be_in"
	if [ -n "$CFG_TEARDOWN" ]; then eval "$CFG_TEARDOWN"; fi
	local n tx rx
	n=$(grep -ac 'Tx-pps:' "$fe_log" || true)
	[ "$n" -ge 2 ] || { echo "no rate in $fe_log" >&2; return 1; }
	tx=$(grep -a 'Tx-pps:' "$fe_log" | tail -1 | awk '{print $2}')
	rx=$(grep -a 'Rx-pps:' "$fe_log" | tail -1 | awk '{print $2}')
	RESULT="$tx $rx"
}

# ---- the matrix, interleaved -----------------------------------------------
for c in $CONFIGS; do
	declare -F "config_$c" > /dev/null || { echo "unknown configuration '$c'" >&2; exit 2; }
done
[ -f "$OURS/librte_vhost.so.23" ] || [[ " $CONFIGS " != *" ours "* ]] ||
	{ echo "no $OURS/librte_vhost.so.23: build first (or PVP_CONFIGS=debian)" >&2; exit 2; }
echo "PVP loopback: configurations [$CONFIGS], sizes [$SIZES], $REPEATS x ${DURATION} s, logs in $OUT"
RESULTS=$OUT/results.txt
: > "$RESULTS"
for ((rep = 1; rep <= REPEATS; rep++)); do
	for len in $SIZES; do
		for cfg in $CONFIGS; do
			tag=r${rep}-${len}B-$cfg
			if ! run_one "$cfg" "$len" "$tag"; then
				echo "run $tag failed (logs in $OUT)" >&2
				exit 1
			fi
			echo "$cfg $len $rep $RESULT" >> "$RESULTS"
			echo "$tag $RESULT" | awk '{printf "  %-22s front->back %6.2f Mpps  back->front %6.2f Mpps\n", $1, $2 / 1e6, $3 / 1e6}'
		done
	done
done

# ---- the table -------------------------------------------------------------
ref=${CONFIGS%% *}
echo
awk -v configs="$CONFIGS" -v ref="$ref" -v sizes="$SIZES" '
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n ? a[int((n + 1) / 2)] : 0
}
# results.txt: config size repeat front_to_back_pps back_to_front_pps
{ rx[$1, $2] = rx[$1, $2] " " $4; tx[$1, $2] = tx[$1, $2] " " $5 }
END {
	nc = split(configs, c, " "); ns = split(sizes, sz, " ")
	hdr = sprintf("%-6s %-28s", "pkt", "direction")
	for (i = 1; i <= nc; i++) hdr = hdr sprintf(" %14s", c[i] " Mpps")
	for (i = 2; i <= nc; i++) hdr = hdr sprintf(" %12s", c[i] "/" ref)
	print hdr
	for (s = 1; s <= ns; s++) for (d = 1; d <= 2; d++) {
		line = sprintf("%-6s %-28s", sz[s] "B", d == 1 ? "front->back (vhost dequeue)" : "back->front (vhost enqueue)")
		for (i = 1; i <= nc; i++) {
			m[i] = median(d == 1 ? rx[c[i], sz[s]] : tx[c[i], sz[s]]) / 1e6
			line = line sprintf(" %14.2f", m[i])
		}
		for (i = 2; i <= nc; i++) line = line sprintf(" %12s", m[1] > 0 ? sprintf("%.2f", m[i] / m[1]) : "n/a")
		print line
	}
	print ""
	print "runs (Mpps, front->back/back->front per repeat):"
	for (s = 1; s <= ns; s++) for (i = 1; i <= nc; i++) {
		nr = split(rx[c[i], sz[s]], a, " "); split(tx[c[i], sz[s]], b, " ")
		line = sprintf("  %-6s %-8s", sz[s] "B", c[i])
		for (k = 1; k <= nr; k++) line = line sprintf(" %.1f/%.1f", a[k] / 1e6, b[k] / 1e6)
		print line
	}
}' "$RESULTS" | tee "$OUT/table.txt"
