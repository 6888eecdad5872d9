#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# PVP-style loopback benchmark, in one invocation: Debian's librte_vhost.so.23 over
# AF_UNIX, ours over AF_UNIX, and ours over virtio-vhost-user (VVU).
#
#   front-end: Debian dpdk-testpmd, net_virtio_user0 (Debian's libraries), io fwd on
#              CPU 0 (main lcore 1), primed with "start tx_first $PVP_BURSTS"
#   back-end:  Debian dpdk-testpmd, net_vhost0, io fwd on CPU 1 (main lcore 0), on the
#              library of the configuration being measured (LD_LIBRARY_PATH)
#   configurations:
#     debian   back-end on Debian's library, iface=<socket>: the front-end's AF_UNIX socket
#     ours     back-end on our library, same AF_UNIX socket
#     vvu      back-end on our library, iface=vfio-user:<vfu.sock>, through our
#              dpdk-vvu-device (--vfio-user vfu.sock --vhost-user fe.sock); the
#              front-end connects to the device's fe.sock. The device only relays
#              vhost-user messages; the back-end polls the front-end's rings in BAR2.
#   packets circulate front-end -> back-end -> front-end.
#
# Rates are read at the front-end with two "show port stats 0", PVP_WARMUP seconds
# after tx_first and PVP_DURATION seconds later: the second one's "Throughput (since
# last show)" is the run's rate over exactly that window (testpmd's own TSC timing):
# "Tx-pps" = front-end -> back-end (vhost dequeue), "Rx-pps" = back-end -> front-end
# (vhost enqueue). A cell = median over the repeats; the runs are interleaved (repeat
# > size > configuration) so that the machine's slow phases (shared/research/
# baseline.md, noise warning) hit every configuration alike.
#
# Connect -> link up (per run; the table gives the median over all runs of a
# configuration): from the moment the front-end's vhost-user connection is accepted
# (AF_UNIX: the back-end's library logs "new (vhost user) connection"; VVU:
# dpdk-vvu-device logs "front-end connected") to the back-end testpmd's first
# "Port 0: link state change event" (lib/vhost's new_device: all rings set up). Each
# process's output is time-stamped line by line as it is read (python3, see stamp).
#
# Not a test: prints a table, exits non-zero only if a run could not be made.
#
# Environment:
#   PVP_CONFIGS   configurations, in order (default "debian ours vvu")
#   PVP_RATIOS    ratio columns A/B of medians (default "ours/debian vvu/ours"; those
#                 whose configurations are not run are left out)
#   PVP_SIZES     packet sizes (default "64 1518")
#   PVP_REPEATS   runs per cell (default 3)
#   PVP_DURATION  seconds measured per run (default 10)
#   PVP_WARMUP    seconds of traffic before the measurement (default 2)
#   PVP_BURSTS    tx_first bursts of 32 packets to prime the loop (default 32)
#   VHOST_LIB_DIR our library's directory (default build/lib/vhost)
#   VVU_DEVICE    the device binary (default: dpdk-vvu-device next to VHOST_LIB_DIR's build)
#   PVP_OUT       where logs and results go (default build-bench/pvp-<time>)
#   A short run:  PVP_REPEATS=1 PVP_DURATION=3 PVP_WARMUP=1 devtools/bench/pvp.sh
#
# Adding a configuration: define config_<name>() setting CFG_LIBDIR (LD_LIBRARY_PATH
# for the back-end, empty = Debian's), CFG_BE_VDEV (the back-end's --vdev),
# CFG_FE_SOCK (socket the front-end connects to), CFG_DEVICE (1: start
# dpdk-vvu-device on $RUN/vfu.sock and $RUN/fe.sock first) and CFG_T0 (file:regex
# of the log line that starts the connect -> link up clock).
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# wait_for, stamp, stop_all: shared with the other topology scripts.
. "$REPO/usertools/vvu-proc.sh"
CONFIGS=${PVP_CONFIGS:-debian ours vvu}
RATIOS=${PVP_RATIOS:-ours/debian vvu/ours}
SIZES=${PVP_SIZES:-64 1518}
REPEATS=${PVP_REPEATS:-3}
DURATION=${PVP_DURATION:-10}
WARMUP=${PVP_WARMUP:-2}
BURSTS=${PVP_BURSTS:-32}
OURS=$(realpath -m "${VHOST_LIB_DIR:-$REPO/build/lib/vhost}")
DEVICE=${VVU_DEVICE:-$(realpath -m "$OURS/../../app/vvu-device/dpdk-vvu-device")}
OUT=${PVP_OUT:-$REPO/build-bench/pvp-$(date +%Y%m%d-%H%M%S)}
TESTPMD=${TESTPMD:-dpdk-testpmd}
DEBIAN_LIB=/usr/lib/x86_64-linux-gnu/librte_vhost.so.23
# Upper bound on any one process's life (timeout): start-up + traffic + shutdown.
LIMIT=$((WARMUP + DURATION + 150))

for v in REPEATS DURATION WARMUP BURSTS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "PVP_$v must be a positive integer" >&2; exit 2; }
done
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
RUN=$(mktemp -d /tmp/vvu-pvp.XXXXXX) # sockets and fifos (short path: sun_path limit)
SOCK=$RUN/vhost.sock
PIDS=()     # every process of the current run: real pids and their timeout wrappers
PREFIXES=()

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	exec 3>&- 4>&- 2>/dev/null || true
	if [ -n "$NAP_PID" ]; then kill "$NAP_PID" 2>/dev/null || true; fi
	stop_all
	rm -rf "$RUN"
}
trap cleanup EXIT
# nap SECONDS: sleep in the background and wait for it, so that INT/TERM run the trap
# at once instead of after the sleep; cleanup kills the sleep by pid.
NAP_PID=
nap() {
	sleep "$1" &
	NAP_PID=$!
	wait "$NAP_PID" || true
	NAP_PID=
}
trap 'exit 130' INT TERM

# ---- configurations --------------------------------------------------------
config_debian() {
	CFG_LIBDIR=
	CFG_BE_VDEV="net_vhost0,iface=$SOCK,queues=1"
	CFG_FE_SOCK=$SOCK
	CFG_DEVICE=0
	CFG_T0="be:VHOST_CONFIG: .*new (vhost user )?connection"
}
config_ours() {
	config_debian
	CFG_LIBDIR=$OURS
}
config_vvu() {
	CFG_LIBDIR=$OURS
	CFG_BE_VDEV="net_vhost0,iface=vfio-user:$RUN/vfu.sock,queues=1"
	CFG_FE_SOCK=$RUN/fe.sock
	CFG_DEVICE=1
	CFG_T0="dev:front-end connected"
}

# ---- helpers ---------------------------------------------------------------

# spawn LOG IN CMD...: run CMD under timeout, stdin from IN, output time-stamped into
# LOG; sets SPAWNED to the pid of CMD itself (timeout's child).
spawn() {
	local log=$1 in=$2 tp i out
	shift 2
	out=$RUN/$(basename "$log").out
	rm -f "$out"
	mkfifo "$out"
	stamp "$log" < "$out" &
	PIDS+=("$!")
	timeout -k 5 "$LIMIT" "$@" < "$in" > "$out" 2>&1 &
	tp=$!
	PIDS+=("$tp")
	SPAWNED=
	for ((i = 0; i < 100; i++)); do
		SPAWNED=$(cat "/proc/$tp/task/$tp/children" 2>/dev/null || true)
		SPAWNED=${SPAWNED%% *}
		[ -n "$SPAWNED" ] && break
		kill -0 "$tp" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$SPAWNED" ] || { echo "could not start $*" >&2; return 1; }
	PIDS+=("$SPAWNED")
}

stamp_of() { { grep -aE "$2" "$1" 2>/dev/null || true; } | head -1 | cut -d' ' -f1; }
last_val() { { grep -ao "$1 *[0-9]*" "$2" || true; } | tail -1 | awk '{print $2}'; }

# ---- one run ---------------------------------------------------------------
# run_one CFG LEN TAG: sets RESULT="fe_to_be_pps be_to_fe_pps link_up_ms" or fails.
# (Not run in $(...): the pids must stay in this shell's PIDS for the EXIT trap.)
run_one() {
	local cfg=$1 len=$2 tag=$3 be_log=$OUT/$3.be.log fe_log=$OUT/$3.fe.log dev_log=$OUT/$3.dev.log
	local bp fp dp='' fe_in=$RUN/fe.in be_in=$RUN/be.in i want t0 t1 t0_log link
	local be_prefix=pvp$$be fe_prefix=pvp$$fe
	"config_$cfg"
	rm -f "$SOCK" "$RUN/vfu.sock" "$RUN/fe.sock" "$fe_in" "$be_in"
	PREFIXES+=("$be_prefix" "$fe_prefix")

	if [ "$CFG_DEVICE" = 1 ]; then
		spawn "$dev_log" /dev/null stdbuf -oL -eL "$DEVICE" --vfio-user "$RUN/vfu.sock" \
			--vhost-user "$RUN/fe.sock" -v || return 1
		dp=$SPAWNED
		for ((i = 0; i < 100; i++)); do
			[ -S "$RUN/vfu.sock" ] && [ -S "$RUN/fe.sock" ] && break
			kill -0 "$dp" 2>/dev/null || break
			sleep 0.1
		done
		if [ ! -S "$RUN/vfu.sock" ] || [ ! -S "$RUN/fe.sock" ]; then
			echo "dpdk-vvu-device did not create its sockets ($dev_log)" >&2
			return 1
		fi
	fi

	# Both interactive, commands through fifos held open (read-write, so the opens
	# do not block) on fds 3 (fe) and 4 (be).
	mkfifo "$fe_in" "$be_in"
	exec 4<> "$be_in" 3<> "$fe_in"
	spawn "$be_log" "$be_in" env ${CFG_LIBDIR:+LD_LIBRARY_PATH="$CFG_LIBDIR"} stdbuf -oL \
		"$TESTPMD" -l 0,1 --main-lcore 0 --file-prefix "$be_prefix" --no-pci --in-memory \
		--single-file-segments -m 512 --vdev "$CFG_BE_VDEV" -- \
		-i --auto-start --forward-mode=io --nb-cores=1 || return 1
	bp=$SPAWNED
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
	if [ "$CFG_DEVICE" = 1 ]; then
		wait_for "$dev_log" 'BACKEND_UP' 30 ||
			{ echo "the back-end did not attach to the device ($be_log, $dev_log)" >&2; return 1; }
	else
		for ((i = 0; i < 300; i++)); do [ -S "$CFG_FE_SOCK" ] && break; sleep 0.1; done
		[ -S "$CFG_FE_SOCK" ] || { echo "no socket $CFG_FE_SOCK (see $be_log)" >&2; return 1; }
	fi

	spawn "$fe_log" "$fe_in" stdbuf -oL "$TESTPMD" -l 0,1 --main-lcore 1 \
		--file-prefix "$fe_prefix" --no-pci --in-memory --single-file-segments -m 512 \
		--vdev "net_virtio_user0,path=$CFG_FE_SOCK,queues=1" -- \
		-i --forward-mode=io --nb-cores=1 --txpkts="$len" || return 1
	fp=$SPAWNED
	wait_for "$fe_log" 'testpmd> ' 60 || { echo "front-end did not start ($fe_log)" >&2; return 1; }
	wait_for "$be_log" 'Port 0: link state change event' 30 ||
		{ echo "the back-end's link did not come up ($be_log)" >&2; return 1; }
	for ((i = 0; i < 60; i++)); do
		echo "show port info 0" >&3
		sleep 0.5
		grep -aq 'Link status: up' "$fe_log" && break
	done
	echo "start tx_first $BURSTS" >&3
	nap "$WARMUP"
	echo "show port stats 0" >&3
	nap "$DURATION"
	echo "show port stats 0" >&3
	sleep 0.5
	printf 'stop\nquit\n' >&3
	printf 'stop\nquit\n' >&4
	exec 3>&- 4>&-
	for ((i = 0; i < 150; i++)); do
		kill -0 "$fp" 2>/dev/null || kill -0 "$bp" 2>/dev/null || break
		sleep 0.1
	done
	stop_all # the device (SIGTERM), and whatever did not quit
	rm -f "$fe_in" "$be_in"

	case ${CFG_T0%%:*} in
	dev) t0_log=$dev_log ;;
	*) t0_log=$be_log ;;
	esac
	t0=$(stamp_of "$t0_log" "${CFG_T0#*:}")
	t1=$(stamp_of "$be_log" 'Port 0: link state change event')
	if [ -n "$t0" ] && [ -n "$t1" ]; then
		link=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) * 1000}')
	else
		link=-1
	fi
	local n tx rx
	n=$(grep -ac 'Tx-pps:' "$fe_log" || true)
	[ "$n" -ge 2 ] || { echo "no rate in $fe_log" >&2; return 1; }
	tx=$(last_val 'Tx-pps:' "$fe_log")
	rx=$(last_val 'Rx-pps:' "$fe_log")
	RESULT="$tx $rx $link"
}

# ---- the matrix, interleaved -----------------------------------------------
for c in $CONFIGS; do
	declare -F "config_$c" > /dev/null || { echo "unknown configuration '$c'" >&2; exit 2; }
done
if [[ " $CONFIGS " == *" ours "* ]] || [[ " $CONFIGS " == *" vvu "* ]]; then
	[ -f "$OURS/librte_vhost.so.23" ] ||
		{ echo "no $OURS/librte_vhost.so.23: build first (or PVP_CONFIGS=debian)" >&2; exit 2; }
fi
if [[ " $CONFIGS " == *" vvu "* ]] && [ ! -x "$DEVICE" ]; then
	echo "no $DEVICE: build first (or leave vvu out of PVP_CONFIGS)" >&2
	exit 2
fi
echo "PVP loopback: configurations [$CONFIGS], sizes [$SIZES], $REPEATS x ${DURATION} s" \
	"(+${WARMUP} s warm-up), logs in $OUT"
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
			echo "$tag $RESULT" | awk '{printf "  %-22s front->back %6.2f Mpps  back->front %6.2f Mpps  connect->link up %s ms\n",
				$1, $2 / 1e6, $3 / 1e6, $4 < 0 ? "n/a" : $4}'
		done
	done
done

# ---- the table -------------------------------------------------------------
echo
awk -v configs="$CONFIGS" -v ratios="$RATIOS" -v sizes="$SIZES" -v repeats="$REPEATS" '
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n ? a[int((n + 1) / 2)] : 0
}
function median2(s,   a, n, i, j, t) { # the mean of the two middle values for an even count
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# results.txt: config size repeat front_to_back_pps back_to_front_pps link_up_ms
{ rx[$1, $2] = rx[$1, $2] " " $4; tx[$1, $2] = tx[$1, $2] " " $5; if ($6 >= 0) lk[$1] = lk[$1] " " $6 }
END {
	nc = split(configs, c, " "); ns = split(sizes, sz, " ")
	for (i = 1; i <= nc; i++) idx[c[i]] = i
	nr = 0
	n = split(ratios, r, " ")
	for (i = 1; i <= n; i++) {
		split(r[i], ab, "/")
		if ((ab[1] in idx) && (ab[2] in idx)) { nr++; ra[nr] = idx[ab[1]]; rb[nr] = idx[ab[2]]; rn[nr] = r[i] }
	}
	printf "median Mpps over %d run(s); debian/ours = AF_UNIX, vvu = ours over dpdk-vvu-device\n", repeats
	hdr = sprintf("%-6s %-28s", "pkt", "direction")
	for (i = 1; i <= nc; i++) hdr = hdr sprintf(" %9s", c[i])
	for (i = 1; i <= nr; i++) hdr = hdr sprintf(" %12s", rn[i])
	print hdr
	for (s = 1; s <= ns; s++) for (d = 1; d <= 2; d++) {
		line = sprintf("%-6s %-28s", sz[s] "B", d == 1 ? "front->back (vhost dequeue)" : "back->front (vhost enqueue)")
		for (i = 1; i <= nc; i++) {
			m[i] = median(d == 1 ? rx[c[i], sz[s]] : tx[c[i], sz[s]]) / 1e6
			line = line sprintf(" %9.2f", m[i])
		}
		for (i = 1; i <= nr; i++)
			line = line sprintf(" %12s", m[rb[i]] > 0 ? sprintf("%.2f", m[ra[i]] / m[rb[i]]) : "n/a")
		print line
	}
	print ""
	print "front-end connect -> link up (ms; median, min-max over all runs of the configuration):"
	for (i = 1; i <= nc; i++) {
		k = split(lk[c[i]], a, " ")
		lo = hi = ""
		for (j = 1; j <= k; j++) { if (lo == "" || a[j] + 0 < lo) lo = a[j] + 0; if (hi == "" || a[j] + 0 > hi) hi = a[j] + 0 }
		if (k) printf "  %-8s %8.1f   (%.1f-%.1f, %d runs)\n", c[i], median2(lk[c[i]]), lo, hi, k
		else printf "  %-8s      n/a\n", c[i]
	}
	print "  from: AF_UNIX: the back-end library accepts the front-end'"'"'s connection; vvu: dpdk-vvu-device does"
	print "  to:   the back-end testpmd'"'"'s first \"Port 0: link state change event\" (device ready)"
	print ""
	print "runs (Mpps, front->back/back->front per repeat):"
	for (s = 1; s <= ns; s++) for (i = 1; i <= nc; i++) {
		k = split(rx[c[i], sz[s]], a, " "); split(tx[c[i], sz[s]], b, " ")
		line = sprintf("  %-6s %-8s", sz[s] "B", c[i])
		for (j = 1; j <= k; j++) line = line sprintf(" %.1f/%.1f", a[j] / 1e6, b[j] / 1e6)
		print line
	}
}' "$RESULTS" | tee "$OUT/table.txt"
