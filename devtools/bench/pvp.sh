#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# PVP-style benchmark, in one invocation: Debian's librte_vhost.so.23 over AF_UNIX, ours
# over AF_UNIX, and ours over virtio-vhost-user (VVU). Two topologies (--topology):
# "loop" (the default, described first) and "txrx" (one direction at a time, below).
#
# Usage: devtools/bench/pvp.sh [OPTION...]      (-h: the options; environment: below)
#
#   front-end: Debian dpdk-testpmd, net_virtio_user0 (Debian's libraries), io fwd on
#              CPU 0 (main lcore 1), primed with "start tx_first $PVP_BURSTS"
#   back-end:  Debian dpdk-testpmd, net_vhost0, io fwd on CPU 1 (main lcore 0), on the
#              library of the configuration being measured (LD_LIBRARY_PATH)
#   configurations:
#     debian   back-end on Debian's library, iface=<socket>: the front-end's AF_UNIX socket
#     ours     back-end on our library, same kind of AF_UNIX socket
#     vvu      back-end on our library, iface=vfio-user:<vfu.sock>, through our
#              dpdk-vvu-device (--vfio-user vfu.sock --vhost-user fe.sock); the
#              front-end connects to the device's fe.sock. The device only relays
#              vhost-user messages; the back-end polls the front-end's rings in BAR2.
#   packets circulate front-end -> back-end -> front-end.
#
# Method: the machine's speed changes by up to 2.5x for seconds at a time (the host
# moves the two vCPUs; shared/research/baseline.md, noise warning): one run in a slow
# phase and the next in a fast one differ more than any two libraries do. So, per
# packet size, every configuration's processes are started once and stay up side by
# side, and the configurations take turns forwarding in short samples: a sample is
# "start" on the back-end and "start tx_first" on the front-end of one configuration
# (testpmd's start empties its rx queues, so each turn begins from the same
# PVP_BURSTS x 32 packets), PVP_WARMUP s, two "show port stats 0"
# on the front-end PVP_DURATION s apart, "stop" (idle testpmds and the device sleep,
# so only the configuration in its turn uses the CPUs). The second "show" gives the
# rate over exactly that window (testpmd's "Throughput (since last show)", TSC timed):
# "Tx-pps" = front-end -> back-end (vhost dequeue), "Rx-pps" = back-end -> front-end
# (vhost enqueue). The order of the configurations rotates each round. A cell of the
# table is the median over PVP_REPEATS samples (and, in one row, the 90th percentile:
# the rate in the host's fast phases); a paired ratio is the median over rounds of
# A/B within a round (samples seconds apart).
#
# Back-end cycles/packet: testpmd --record-core-cycles on the back-end's forwarding
# core, per sample (busy TSC cycles / packets). The back-end is the bottleneck of this
# loop, so this is the cost per packet on its side; in the ratio columns it is
# inverted (B's cycles / A's) so that, like the rates, > 1 means A is faster.
#
# Connect -> link up: before the samples, each configuration's front-end is started
# PVP_LINK_REPEATS times (quit in between; the last one stays). Per start, from the
# moment its vhost-user connection is accepted (AF_UNIX: the back-end's library logs
# "new (vhost user) connection"; VVU: dpdk-vvu-device logs "front-end connected") to
# the back-end testpmd's next "Port 0: link state change event" (lib/vhost's
# new_device: all rings set up). Each process's output is time-stamped line by line
# as it is read (python3, see stamp).
#
# Topology "txrx" (--topology txrx): the same processes, but one direction at a time,
# so that one of the library's two data-path calls is measured alone:
#   enqueue   back-end "set fwd txonly" (rte_vhost_enqueue_burst), front-end rxonly;
#             the rate is the front-end's Rx-pps
#   dequeue   back-end "set fwd rxonly" (rte_vhost_dequeue_burst), front-end txonly;
#             the rate is the back-end's Rx-pps
# Both testpmds start with --txpkts=<size>. A sample: "start" on the receiving side, then
# on the sending side, PVP_WARMUP s, two "show port stats 0" on the receiving side
# PVP_DURATION s apart (the second: testpmd's rate over exactly that window), "stop" on
# the sender, then on the receiver. Per round, for each direction, every configuration
# takes one turn; odd rounds in the order of PVP_CONFIGS, even rounds in the reverse
# order, so that of any two configurations each goes first every other round. The
# table gives per size and direction the median Mpps of each configuration and, per
# ratio A/B, the median of the per-round ratios with their min and max ("paired": the
# two samples are seconds apart, in the same phase of the host). 21 rounds by default.
#
# Every sample is also one line of CSV (-o FILE; default $PVP_OUT/results.csv):
#   topology,size,direction,config,library,transport,round,mpps,backend_cycles_per_pkt
# loop: two lines per sample, direction "dequeue" (front->back) and "enqueue"
# (back->front); backend_cycles_per_pkt is empty when testpmd printed none.
#
# Options (each overrides the environment variable named after it):
#   --topology loop|txrx       (PVP_TOPOLOGY, default loop)
#   --sizes 64,1518            packet sizes (PVP_SIZES)
#   --transports af_unix,vvu   af_unix = configurations debian and ours, vvu = vvu
#                              (sets PVP_CONFIGS; default all three)
#   --directions enqueue,dequeue  txrx only (PVP_DIRECTIONS, default both)
#   --repeats N                rounds (PVP_REPEATS: loop 15, txrx 21)
#   --duration S, --warmup S   (PVP_DURATION, PVP_WARMUP)
#   -o FILE                    the CSV (PVP_CSV)
#   --dry-run                  print the commands of every process and sample, start nothing
#   -h, --help                 this text
#
# Needs 512 free 2 MiB hugepages per configuration (two testpmds of -m 512), 1536 for
# the three; reserves more with usertools/vvu-hugepages.sh if fewer are free.
# Not a test: prints a table, exits non-zero only if a run could not be made.
#
# Environment:
#   PVP_CONFIGS       configurations, in order (default "debian ours vvu")
#   PVP_RATIOS        ratio columns A/B of medians (default "ours/debian vvu/ours"; those
#                     whose configurations are not run are left out)
#   PVP_SIZES         packet sizes (default "64 1518")
#   PVP_REPEATS       samples per configuration, size (and direction) (default 15, txrx 21)
#   PVP_DURATION      seconds measured per sample (default 2)
#   PVP_WARMUP        seconds of traffic before each measurement (default 1)
#   PVP_BURSTS        tx_first bursts of 32 packets to prime each loop (default 32)
#   PVP_LINK_REPEATS  front-end starts per configuration and size for connect -> link up
#                     (default 3, txrx 1)
#   VHOST_LIB_DIR     our library's directory (default build/lib/vhost)
#   VVU_DEVICE        the device binary (default: dpdk-vvu-device next to VHOST_LIB_DIR's build)
#   PVP_BASE_BUILD    a build directory of another commit (a baseline): enables the
#                     configurations "base" (AF_UNIX) and "basevvu" (VVU, with that
#                     build's device), e.g. PVP_CONFIGS="base ours basevvu vvu"
#                     PVP_RATIOS="ours/base vvu/basevvu" for before/after figures
#   PVP_OUT           where logs and results go (default build-bench/pvp-<time>)
#   A short run:      PVP_REPEATS=2 PVP_LINK_REPEATS=1 devtools/bench/pvp.sh
#                     devtools/bench/pvp.sh --topology txrx --repeats 1 --duration 1
#
# Adding a configuration: define config_<name>() that, given $D (a directory of its
# own for sockets), sets CFG_LIBDIR (LD_LIBRARY_PATH for the back-end, empty =
# Debian's), CFG_BE_VDEV (the back-end's --vdev), CFG_FE_SOCK (socket the front-end
# connects to), CFG_DEVICE (1: start dpdk-vvu-device on $D/vfu.sock and $D/fe.sock
# first) and CFG_T0 (be|dev:regex of the log line that starts the link-up clock).
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# spawn, spawn_device, spawn_testpmd, wait_for, stop_all, ...: shared with the other
# topology scripts.
. "$REPO/usertools/vvu-proc.sh"
usage() {
	sed -n '/^# Usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}
# options: comma lists become the environment's space-separated lists
DRY_RUN=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--dry-run) DRY_RUN=1; shift; continue ;;
	--topology | --sizes | --transports | --directions | --repeats | --duration | \
	--warmup | -o)
		[ $# -ge 2 ] || { echo "$1 needs a value (-h: usage)" >&2; exit 2; } ;;
	*) echo "unknown option '$1' (-h: usage)" >&2; exit 2 ;;
	esac
	case $1 in
	--topology) PVP_TOPOLOGY=$2 ;;
	--sizes) PVP_SIZES=${2//,/ } ;;
	--directions) PVP_DIRECTIONS=${2//,/ } ;;
	--repeats) PVP_REPEATS=$2 ;;
	--duration) PVP_DURATION=$2 ;;
	--warmup) PVP_WARMUP=$2 ;;
	-o) PVP_CSV=$2 ;;
	--transports)
		PVP_CONFIGS=
		for t in ${2//,/ }; do
			case $t in
			af_unix) PVP_CONFIGS+=" debian ours" ;;
			vvu) PVP_CONFIGS+=" vvu" ;;
			*) echo "unknown transport '$t' (af_unix, vvu)" >&2; exit 2 ;;
			esac
		done
		PVP_CONFIGS=${PVP_CONFIGS# } ;;
	esac
	shift 2
done
TOPOLOGY=${PVP_TOPOLOGY:-loop}
case $TOPOLOGY in
loop) def_repeats=15 def_link=3 ;;
txrx) def_repeats=21 def_link=1 ;;
*) echo "unknown topology '$TOPOLOGY' (loop, txrx)" >&2; exit 2 ;;
esac
CONFIGS=${PVP_CONFIGS:-debian ours vvu}
RATIOS=${PVP_RATIOS:-ours/debian vvu/ours}
SIZES=${PVP_SIZES:-64 1518}
DIRECTIONS=${PVP_DIRECTIONS:-enqueue dequeue}
REPEATS=${PVP_REPEATS:-$def_repeats}
DURATION=${PVP_DURATION:-2}
WARMUP=${PVP_WARMUP:-1}
BURSTS=${PVP_BURSTS:-32}
LINK_REPEATS=${PVP_LINK_REPEATS:-$def_link}
OURS=$(realpath -m "${VHOST_LIB_DIR:-$REPO/build/lib/vhost}")
DEVICE=${VVU_DEVICE:-$(realpath -m "$OURS/../../app/vvu-device/dpdk-vvu-device")}
BASE=$(realpath -m "${PVP_BASE_BUILD:-/nonexistent}")
OUT=${PVP_OUT:-$REPO/build-bench/pvp-$(date +%Y%m%d-%H%M%S)}
TESTPMD=${TESTPMD:-dpdk-testpmd}
DEBIAN_LIB=/usr/lib/x86_64-linux-gnu/librte_vhost.so.23
read -r -a CFGS <<< "$CONFIGS"
read -r -a DIRS <<< "$DIRECTIONS"
for v in "${DIRS[@]}"; do
	[[ $v =~ ^(enqueue|dequeue)$ ]] ||
		{ echo "unknown direction '$v' (enqueue, dequeue)" >&2; exit 2; }
done
# the loop measures both directions at once
[ "$TOPOLOGY" = txrx ] || DIRS=(loop)
for v in REPEATS DURATION WARMUP BURSTS LINK_REPEATS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "PVP_$v must be a positive integer" >&2; exit 2; }
done
for v in $SIZES; do
	if ! [[ $v =~ ^[1-9][0-9]*$ ]] || [ "$v" -lt 64 ] || [ "$v" -gt 1518 ]; then
		echo "packet size '$v': 64 to 1518" >&2
		exit 2
	fi
done
if [ ${#CFGS[@]} -eq 0 ] || [ ${#DIRS[@]} -eq 0 ] || [ -z "${SIZES// /}" ]; then
	echo "nothing to measure (no configuration, size or direction)" >&2
	exit 2
fi
# Upper bound on any one process's life (timeout): the front-end starts and all
# samples of a size, plus slack.
LIMIT=$(((WARMUP + DURATION + 3) * REPEATS * ${#CFGS[@]} * ${#DIRS[@]} +
	(60 + 30 * LINK_REPEATS) * ${#CFGS[@]} + 300))
if [ "$DRY_RUN" = 0 ]; then
	mkdir -p "$OUT"
	OUT=$(realpath "$OUT")
fi
CSV=${PVP_CSV:-$OUT/results.csv}
# sockets and fifos (short path: sun_path limit)
if [ "$DRY_RUN" = 0 ]; then RUN=$(mktemp -d /tmp/vvu-pvp.XXXXXX); else RUN=/tmp/vvu-pvp.XXXXXX; fi
PIDS=()     # every process of the current size: real pids and their timeout wrappers
PREFIXES=()
# per configuration, for the size being measured
declare -A FE_FD BE_FD FE_LOG BE_LOG DEV_LOG FE_PID BE_PID

close_fd() { local fd=$1; exec {fd}>&-; }
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local c
	for c in "${!FE_FD[@]}"; do close_fd "${FE_FD[$c]}" 2>/dev/null || true; done
	for c in "${!BE_FD[@]}"; do close_fd "${BE_FD[$c]}" 2>/dev/null || true; done
	stop_all
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- configurations --------------------------------------------------------
config_debian() {
	CFG_LIBDIR=
	CFG_BE_VDEV="net_vhost0,iface=$D/vhost.sock,queues=1"
	CFG_FE_SOCK=$D/vhost.sock
	CFG_DEVICE=0
	CFG_T0="be:VHOST_CONFIG: .*new (vhost user )?connection"
}
config_ours() {
	config_debian
	CFG_LIBDIR=$OURS
}
config_vvu() {
	CFG_LIBDIR=$OURS
	CFG_BE_VDEV="net_vhost0,iface=vfio-user:$D/vfu.sock,queues=1"
	CFG_FE_SOCK=$D/fe.sock
	CFG_DEVICE=1
	CFG_DEVICE_BIN=$DEVICE
	CFG_T0="dev:front-end connected"
}
config_base() {
	config_debian
	CFG_LIBDIR=$BASE/lib/vhost
}
config_basevvu() {
	config_vvu
	CFG_LIBDIR=$BASE/lib/vhost
	CFG_DEVICE_BIN=$BASE/app/vvu-device/dpdk-vvu-device
}

# ---- helpers ---------------------------------------------------------------

count_of() { { grep -ac "$2" "$1" 2>/dev/null || true; } | tail -1; }
last_val() { { grep -ao "$1 *[0-9.]*" "$2" || true; } | tail -1 | sed 's/.*[ =]//'; }

# wait_prompt LOG PID WHAT: until testpmd PID prompts in LOG (60 s); if it does not, or
# exits first, says so with the end of its log.
wait_prompt() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -aq 'testpmd> ' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$2" 2>/dev/null; then
		echo "$3 (pid $2) did not start within 60 s; the end of $1:" >&2
	else
		echo "$3 (pid $2) exited before its prompt; the end of $1:" >&2
	fi
	sleep 0.5 # the time stamper writes a last partial line after 0.2 s
	tail -n 15 "$1" | sed 's/^/    /' >&2
	return 1
}

# wait_count LOG REGEX N SECONDS: until LOG has at least N lines matching REGEX
wait_count() {
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		[ "$(count_of "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- one configuration's processes -----------------------------------------

# start_pair CFG LEN: the device (if any) and the back-end of CFG, then its front-end
# LINK_REPEATS times; appends "link CFG LEN ms" lines to RESULTS.
start_pair() {
	local cfg=$1 len=$2 D=$RUN/$1 tag=$2B-$1 want bp fd i
	local be_prefix=pvp$$be$1 t0 t1 t0_log link k
	local -a BE_ARGS=()
	# the back-end sends in txonly (enqueue); in the loop it only forwards
	[ "$TOPOLOGY" = txrx ] && BE_ARGS=(--txpkts="$len")
	"config_$cfg"
	mkdir -p "$D"
	BE_LOG[$cfg]=$OUT/$tag.be.log
	DEV_LOG[$cfg]=$OUT/$tag.dev.log
	if [ "$CFG_DEVICE" = 1 ]; then
		DEVICE=$CFG_DEVICE_BIN spawn_device "${DEV_LOG[$cfg]}" "$D/vfu.sock" "$D/fe.sock" ||
			return 1
	fi

	# Interactive, commands through a fifo held open read-write (the open does not block).
	mkfifo "$D/be.in" "$D/fe.in"
	exec {fd}<> "$D/be.in"
	BE_FD[$cfg]=$fd
	exec {fd}<> "$D/fe.in"
	FE_FD[$cfg]=$fd
	spawn_testpmd "${BE_LOG[$cfg]}" "$D/be.in" "$CFG_LIBDIR" 0 "$be_prefix" "$CFG_BE_VDEV" \
		--record-core-cycles "${BE_ARGS[@]}" || return 1
	bp=$SPAWNED
	BE_PID[$cfg]=$bp
	wait_prompt "${BE_LOG[$cfg]}" "$bp" "the back-end testpmd of '$cfg'" || return 1
	# The back-end must run the library of the configuration, nothing else.
	if [ -n "$CFG_LIBDIR" ]; then
		want=$(realpath "$CFG_LIBDIR/librte_vhost.so.23")
	else
		want=$(realpath "$DEBIAN_LIB")
	fi
	if ! grep -q " $want\$" "/proc/$bp/maps" ||
		[ "$(grep -c '/librte_vhost.so' "/proc/$bp/maps")" -ne \
		  "$(grep -c " $want\$" "/proc/$bp/maps")" ]; then
		echo "back-end of '$cfg' does not run $want" >&2
		return 1
	fi
	if [ "$CFG_DEVICE" = 1 ]; then
		wait_for "${DEV_LOG[$cfg]}" 'BACKEND_UP' 30 || { echo "the back-end did not" \
			"attach to the device (${BE_LOG[$cfg]}, ${DEV_LOG[$cfg]})" >&2; return 1; }
	else
		for ((i = 0; i < 300; i++)); do [ -S "$CFG_FE_SOCK" ] && break; sleep 0.1; done
		[ -S "$CFG_FE_SOCK" ] ||
			{ echo "no socket $CFG_FE_SOCK (see ${BE_LOG[$cfg]})" >&2; return 1; }
	fi
	case ${CFG_T0%%:*} in
	dev) t0_log=${DEV_LOG[$cfg]} ;;
	*) t0_log=${BE_LOG[$cfg]} ;;
	esac

	for ((k = 1; k <= LINK_REPEATS; k++)); do
		FE_LOG[$cfg]=$OUT/$tag.fe$k.log
		local start
		start=$(date +%s.%N)
		spawn_testpmd "${FE_LOG[$cfg]}" "$D/fe.in" "" 1 "pvp$$fe$cfg" \
			"net_virtio_user0,path=$CFG_FE_SOCK,queues=1" --txpkts="$len" || return 1
		FE_PID[$cfg]=$SPAWNED
		wait_prompt "${FE_LOG[$cfg]}" "$SPAWNED" "the front-end testpmd of '$cfg'" ||
			return 1
		t0='' t1=
		for ((i = 0; i < 300; i++)); do
			t0=$(stamp_after "$t0_log" "${CFG_T0#*:}" "$start")
			[ -n "$t0" ] && t1=$(stamp_after "${BE_LOG[$cfg]}" \
				'Port 0: link state change event' "$t0")
			[ -n "$t1" ] && break
			sleep 0.1
		done
		[ -n "$t1" ] || { echo "the back-end's link did not come up (${BE_LOG[$cfg]})" >&2
			return 1; }
		link=$(ms_between "$t0" "$t1")
		echo "link $cfg $len $link" >> "$RESULTS"
		printf '  %-12s front-end start %d: connect->link up %s ms\n' "$tag" "$k" "$link"
		[ "$k" -lt "$LINK_REPEATS" ] || break
		echo quit >&"${FE_FD[$cfg]}"
		wait_gone 150 "${FE_PID[$cfg]}" ||
			{ echo "front-end of '$cfg' did not quit (${FE_LOG[$cfg]})" >&2; return 1; }
		# the back-end sees the link go down before the next start
		wait_count "${BE_LOG[$cfg]}" 'Port 0: link state change event' $((2 * k)) 10 || true
	done
	for ((i = 0; i < 60; i++)); do
		echo "show port info 0" >&"${FE_FD[$cfg]}"
		sleep 0.2
		grep -aq 'Link status: up' "${FE_LOG[$cfg]}" && return 0
	done
	echo "the front-end's link did not come up (${FE_LOG[$cfg]})" >&2
	return 1
}

# sample CFG LEN REP: one turn of CFG; appends "rate CFG LEN REP tx rx cycles".
sample() {
	local cfg=$1 len=$2 rep=$3 fe=${FE_FD[$1]} be=${BE_FD[$1]} n c b tx rx cyc
	n=$(count_of "${FE_LOG[$cfg]}" 'Tx-pps:')
	c=$(count_of "${BE_LOG[$cfg]}" 'CPU cycles/packet')
	b=$(count_of "${BE_LOG[$cfg]}" 'packet forwarding packets/burst')
	# testpmd's "start" drops what its rx queues hold, so every turn primes anew,
	# once the back-end is done emptying its queues (it says so after)
	echo start >&"$be"
	wait_count "${BE_LOG[$cfg]}" 'packet forwarding packets/burst' $((b + 1)) 10 ||
		{ echo "the back-end of '$cfg' did not start (${BE_LOG[$cfg]})" >&2; return 1; }
	echo "start tx_first $BURSTS" >&"$fe"
	nap "$WARMUP"
	echo "show port stats 0" >&"$fe"
	nap "$DURATION"
	echo "show port stats 0" >&"$fe"
	echo stop >&"$fe"
	echo stop >&"$be"
	if ! wait_count "${FE_LOG[$cfg]}" 'Tx-pps:' $((n + 2)) 10 ||
		! wait_count "${BE_LOG[$cfg]}" 'CPU cycles/packet' $((c + 1)) 10; then
		echo "no rate for '$cfg' (${FE_LOG[$cfg]}, ${BE_LOG[$cfg]})" >&2
		return 1
	fi
	tx=$(last_val 'Tx-pps:' "${FE_LOG[$cfg]}")
	rx=$(last_val 'Rx-pps:' "${FE_LOG[$cfg]}")
	cyc=$(last_val 'CPU cycles/packet=' "${BE_LOG[$cfg]}")
	echo "rate $cfg $len $rep $tx $rx ${cyc:--1}" >> "$RESULTS"
	csv_line "$len" dequeue "$cfg" "$rep" "$tx" "$cyc"
	csv_line "$len" enqueue "$cfg" "$rep" "$rx" "$cyc"
	printf '  r%-3s %-6s %-8s front->back %6.2f Mpps  back->front %6.2f Mpps  back-end %s' \
		"$rep" "${len}B" "$cfg" "$(awk -v v="$tx" 'BEGIN {print v / 1e6}')" \
		"$(awk -v v="$rx" 'BEGIN {print v / 1e6}')" "${cyc:-n/a}"
	echo ' cycles/pkt'
}

# csv_line SIZE DIRECTION CFG ROUND PPS CYCLES: one line of the CSV.
csv_line() {
	local lib=${3%vvu} tr=af_unix
	[ "$lib" = "$3" ] || tr=vvu
	lib=${lib:-ours}
	awk -v t="$TOPOLOGY" -v s="$1" -v d="$2" -v c="$3" -v l="$lib" -v tr="$tr" -v r="$4" \
		-v p="$5" -v cy="$6" 'BEGIN {printf "%s,%s,%s,%s,%s,%s,%s,%.4f,%s\n",
		t, s, d, c, l, tr, r, p / 1e6, cy}' >> "$CSV"
}

# sample_txrx CFG LEN DIR REP: one turn of CFG in direction DIR (enqueue: the back-end
# sends, the front-end receives; dequeue: the reverse); appends
# "txrx CFG LEN DIR REP rx_pps cycles", rx_pps as the receiving side counts it.
sample_txrx() {
	local cfg=$1 len=$2 dir=$3 rep=$4 be=${BE_FD[$1]} fe=${FE_FD[$1]} tfd rfd tlog rlog
	local n c bt br rx cyc
	if [ "$dir" = enqueue ]; then
		tfd=$be rfd=$fe tlog=${BE_LOG[$cfg]} rlog=${FE_LOG[$cfg]}
	else
		tfd=$fe rfd=$be tlog=${FE_LOG[$cfg]} rlog=${BE_LOG[$cfg]}
	fi
	n=$(count_of "$rlog" 'Rx-pps:')
	c=$(count_of "${BE_LOG[$cfg]}" 'CPU cycles/packet')
	br=$(count_of "$rlog" 'packet forwarding packets/burst')
	bt=$(count_of "$tlog" 'packet forwarding packets/burst')
	# the receiver first: the sender's first packets find a polling peer
	echo "set fwd rxonly" >&"$rfd"
	echo "set fwd txonly" >&"$tfd"
	echo start >&"$rfd"
	wait_count "$rlog" 'packet forwarding packets/burst' $((br + 1)) 10 ||
		{ echo "the receiver of '$cfg' ($dir) did not start ($rlog)" >&2; return 1; }
	echo start >&"$tfd"
	wait_count "$tlog" 'packet forwarding packets/burst' $((bt + 1)) 10 ||
		{ echo "the sender of '$cfg' ($dir) did not start ($tlog)" >&2; return 1; }
	nap "$WARMUP"
	echo "show port stats 0" >&"$rfd"
	nap "$DURATION"
	echo "show port stats 0" >&"$rfd"
	echo stop >&"$tfd"
	echo stop >&"$rfd"
	if ! wait_count "$rlog" 'Rx-pps:' $((n + 2)) 10 ||
		! wait_count "${BE_LOG[$cfg]}" 'CPU cycles/packet' $((c + 1)) 10; then
		echo "no rate for '$cfg' ($dir; $rlog, ${BE_LOG[$cfg]})" >&2
		return 1
	fi
	rx=$(last_val 'Rx-pps:' "$rlog")
	cyc=$(last_val 'CPU cycles/packet=' "${BE_LOG[$cfg]}")
	echo "txrx $cfg $len $dir $rep $rx ${cyc:--1}" >> "$RESULTS"
	csv_line "$len" "$dir" "$cfg" "$rep" "$rx" "$cyc"
	printf '  r%-3s %-6s %-8s %-8s %6.2f Mpps received  back-end %s cycles/pkt\n' \
		"$rep" "${len}B" "$dir" "$cfg" "$(awk -v v="$rx" 'BEGIN {print v / 1e6}')" \
		"${cyc:-n/a}"
}

# stop_pairs: quit every testpmd, then stop whatever is left (the devices) by pid.
stop_pairs() {
	local c
	for c in "${!FE_FD[@]}"; do echo quit >&"${FE_FD[$c]}" || true; done
	for c in "${!BE_FD[@]}"; do echo quit >&"${BE_FD[$c]}" || true; done
	wait_gone 100 "${FE_PID[@]}" "${BE_PID[@]}" || true
	stop_all
	for c in "${!FE_FD[@]}"; do close_fd "${FE_FD[$c]}"; done
	for c in "${!BE_FD[@]}"; do close_fd "${BE_FD[$c]}"; done
	FE_FD=() BE_FD=() FE_PID=() BE_PID=()
	rm -rf "${RUN:?}"/*
}

# ---- the matrix --------------------------------------------------------------
for c in "${CFGS[@]}"; do
	declare -F "config_$c" > /dev/null || { echo "unknown configuration '$c'" >&2; exit 2; }
done
if [[ " $CONFIGS " == *" ours "* ]] || [[ " $CONFIGS " == *" vvu "* ]]; then
	[ -f "$OURS/librte_vhost.so.23" ] ||
		{ echo "no $OURS/librte_vhost.so.23: build first (or PVP_CONFIGS=debian)" >&2; exit 2; }
fi
if [[ " $CONFIGS " == *" base"* ]] && [ ! -f "$BASE/lib/vhost/librte_vhost.so.23" ]; then
	echo "PVP_BASE_BUILD ($BASE) has no lib/vhost/librte_vhost.so.23" >&2
	exit 2
fi
if [[ " $CONFIGS " == *" vvu "* ]] && [ ! -x "$DEVICE" ]; then
	echo "no $DEVICE: build first (or leave vvu out of PVP_CONFIGS)" >&2
	exit 2
fi

# dry_run: the command line of every process and the commands of a sample; starts nothing.
dry_run() {
	local len cfg D dir
	# spawn_testpmd's command line, printed instead of run
	# shellcheck disable=SC2317 # called by spawn_testpmd
	spawn() {
		local a
		shift 2
		printf '   '
		for a in "$@"; do
			if [[ $a =~ ^[A-Za-z0-9_,.=/:+@%-]+$ ]]; then printf ' %s' "$a"
			else printf ' %q' "$a"; fi
		done
		echo
	}
	echo "topology $TOPOLOGY, $REPEATS round(s); per packet size, every configuration's" \
		"processes ($RUN: a private mktemp -d directory):"
	for len in $SIZES; do
		local -a BE_ARGS=()
		[ "$TOPOLOGY" = txrx ] && BE_ARGS=(--txpkts="$len")
		for cfg in "${CFGS[@]}"; do
			D=$RUN/$cfg
			"config_$cfg"
			echo "${len}B $cfg:"
			[ "$CFG_DEVICE" = 1 ] && printf '  device:\n    %s %s\n' \
				"$CFG_DEVICE_BIN" \
				"--vfio-user $D/vfu.sock --vhost-user $D/fe.sock -v"
			echo "  back-end:"
			spawn_testpmd /dev/null /dev/null "$CFG_LIBDIR" 0 "pvp$$be$cfg" \
				"$CFG_BE_VDEV" --record-core-cycles "${BE_ARGS[@]}"
			echo "  front-end:"
			spawn_testpmd /dev/null /dev/null "" 1 "pvp$$fe$cfg" \
				"net_virtio_user0,path=$CFG_FE_SOCK,queues=1" --txpkts="$len"
		done
	done
	echo "per sample (each configuration in turn, every process under timeout $LIMIT s):"
	for dir in "${DIRS[@]}"; do
		case $dir in
		loop) echo "  back-end: start; front-end: start tx_first $BURSTS; ${WARMUP} s;" \
			"front-end: show port stats 0; ${DURATION} s; show port stats 0 (Tx-pps:" \
			"dequeue, Rx-pps: enqueue); front-end: stop; back-end: stop" ;;
		enqueue) echo "  enqueue: back-end: set fwd txonly, front-end: set fwd rxonly;" \
			"front-end: start; back-end: start; ${WARMUP} s;" \
			"front-end: show port stats 0; ${DURATION} s; show port stats 0" \
			"(Rx-pps); back-end: stop; front-end: stop" ;;
		dequeue) echo "  dequeue: front-end: set fwd txonly, back-end: set fwd rxonly;" \
			"back-end: start; front-end: start; ${WARMUP} s;" \
			"back-end: show port stats 0; ${DURATION} s; show port stats 0" \
			"(Rx-pps); front-end: stop; back-end: stop" ;;
		esac
	done
	echo "CSV: $CSV"
}
if [ "$DRY_RUN" = 1 ]; then
	dry_run
	exit 0
fi

# two testpmds of -m 512 (256 pages each) per configuration, all up at once
need=$((512 * ${#CFGS[@]}))
free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
if [ "${free:-0}" -lt "$need" ]; then
	total=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)
	"$REPO/usertools/vvu-hugepages.sh" $((total - ${free:-0} + need)) > /dev/null || true
	free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	[ "${free:-0}" -ge "$need" ] || { echo "$need free 2 MiB hugepages needed," \
		"$free free (usertools/vvu-hugepages.sh N reserves N)" >&2; exit 2; }
fi
if [ "$TOPOLOGY" = txrx ]; then
	echo "PVP txrx: configurations [$CONFIGS], sizes [$SIZES], directions [${DIRS[*]}]," \
		"$REPEATS rounds of ${DURATION} s samples (+${WARMUP} s warm-up), order" \
		"reversed every round; logs in $OUT"
else
	echo "PVP loopback: configurations [$CONFIGS], sizes [$SIZES], $REPEATS samples of" \
		"${DURATION} s (+${WARMUP} s warm-up) each, turns rotating; logs in $OUT"
fi
RESULTS=$OUT/results.txt
: > "$RESULTS"
mkdir -p "$(dirname "$CSV")"
echo "topology,size,direction,config,library,transport,round,mpps,backend_cycles_per_pkt" \
	> "$CSV"
for len in $SIZES; do
	for cfg in "${CFGS[@]}"; do
		start_pair "$cfg" "$len" || { echo "could not start '$cfg' (logs in $OUT)" >&2; exit 1; }
	done
	for ((rep = 1; rep <= REPEATS; rep++)); do
		order=("${CFGS[@]}")
		if [ "$TOPOLOGY" = txrx ]; then
			# reversed every other round: of any two configurations, each goes first
			# every other round
			if ((rep % 2 == 0)); then
				for ((k = 0; k < ${#CFGS[@]}; k++)); do
					order[k]=${CFGS[${#CFGS[@]} - 1 - k]}
				done
			fi
			for dir in "${DIRS[@]}"; do
				for cfg in "${order[@]}"; do
					sample_txrx "$cfg" "$len" "$dir" "$rep" || exit 1
				done
			done
			continue
		fi
		# rotate the order each round: no configuration always goes first or after another
		for ((k = 0; k < (rep - 1) % ${#CFGS[@]}; k++)); do
			order=("${order[@]:1}" "${order[0]}")
		done
		for cfg in "${order[@]}"; do
			sample "$cfg" "$len" "$rep" || exit 1
		done
	done
	stop_pairs
done

# ---- the table -------------------------------------------------------------
# awk functions of both tables: sort(s, a) sorts the numbers of the list s into a[1..n]
# and returns n; median(s): the median, the mean of the two middle values for an
# even count
AWK_STATS='
function sort(s, a,   n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n
}
function median(s,   a, n) {
	n = sort(s, a)
	if (n == 0) return 0
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
'
echo
if [ "$TOPOLOGY" = txrx ]; then
	awk -v configs="$CONFIGS" -v ratios="$RATIOS" -v sizes="$SIZES" -v dirs="${DIRS[*]}" \
		-v repeats="$REPEATS" "$AWK_STATS"'
# results.txt: "txrx config size direction round rx_pps cycles_per_pkt"
$1 == "txrx" {
	r[$2, $3, $4] = r[$2, $3, $4] " " $6; one[$2, $3, $4, $5] = $6
	if ($7 > 0) cy[$2, $3, $4] = cy[$2, $3, $4] " " $7
}
END {
	nc = split(configs, c, " "); ns = split(sizes, sz, " "); nd = split(dirs, d, " ")
	for (i = 1; i <= nc; i++) idx[c[i]] = i
	nr = 0
	n = split(ratios, rr, " ")
	for (i = 1; i <= n; i++) {
		split(rr[i], ab, "/")
		if (!(ab[1] in idx) || !(ab[2] in idx)) continue
		nr++; ra[nr] = ab[1]; rb[nr] = ab[2]; rn[nr] = rr[i]
	}
	printf "Mpps as the receiving side counts it, median over %d round(s);\n", repeats
	print "ratios A/B: median of the per-round ratios (min-max);"
	print "debian, ours: AF_UNIX; vvu: ours over dpdk-vvu-device;"
	print "enqueue: back-end txonly -> front-end rxonly;"
	print "dequeue: front-end txonly -> back-end rxonly"
	hdr = sprintf("%-6s %-8s", "pkt", "dir")
	for (i = 1; i <= nc; i++) hdr = hdr sprintf(" %8s", c[i])
	for (i = 1; i <= nr; i++) hdr = hdr sprintf(" %-20s", rn[i])
	print hdr
	for (s = 1; s <= ns; s++) for (k = 1; k <= nd; k++) {
		line = sprintf("%-6s %-8s", sz[s] "B", d[k])
		for (i = 1; i <= nc; i++) {
			m = median(r[c[i], sz[s], d[k]]) / 1e6
			line = line sprintf(" %8s", m > 0 ? sprintf("%.2f", m) : "n/a")
		}
		for (i = 1; i <= nr; i++) {
			pl = ""
			for (j = 1; j <= repeats; j++) {
				a = one[ra[i], sz[s], d[k], j]; b = one[rb[i], sz[s], d[k], j]
				if (a > 0 && b > 0) pl = pl " " a / b
			}
			q = sort(pl, v)
			m = q ? sprintf("%.2f (%.2f-%.2f)", median(pl), v[1], v[q]) : "n/a"
			line = line sprintf(" %-20s", m)
		}
		print line
	}
	print ""
	print "back-end cycles/packet (testpmd --record-core-cycles; median):"
	for (s = 1; s <= ns; s++) for (k = 1; k <= nd; k++) {
		line = sprintf("%-6s %-8s", sz[s] "B", d[k])
		for (i = 1; i <= nc; i++) {
			m = median(cy[c[i], sz[s], d[k]])
			line = line sprintf(" %8s", m > 0 ? sprintf("%.0f", m) : "n/a")
		}
		print line
	}
	print ""
	print "samples (Mpps, in round order):"
	for (s = 1; s <= ns; s++) for (k = 1; k <= nd; k++) for (i = 1; i <= nc; i++) {
		line = sprintf("  %-6s %-8s %-8s", sz[s] "B", d[k], c[i])
		for (j = 1; j <= repeats; j++)
			line = line sprintf(" %.1f", one[c[i], sz[s], d[k], j] / 1e6)
		print line
	}
}' "$RESULTS" | tee "$OUT/table.txt"
	echo "CSV: $CSV"
	exit 0
fi
awk -v configs="$CONFIGS" -v ratios="$RATIOS" -v sizes="$SIZES" -v repeats="$REPEATS" \
	"$AWK_STATS"'
# row LABEL FMT INV: LABEL, v[1..nc] in FMT, then the ratio columns A/B (B/A if INV)
function row(label, f, inv,   i, line, a, b) {
	line = label
	for (i = 1; i <= nc; i++) line = line sprintf(" %9s", v[i] > 0 ? sprintf(f, v[i]) : "n/a")
	for (i = 1; i <= nr; i++) {
		a = inv ? v[rb[i]] : v[ra[i]]
		b = inv ? v[ra[i]] : v[rb[i]]
		line = line sprintf(" %12s", a > 0 && b > 0 ? sprintf("%.2f", a / b) : "n/a")
	}
	print line
}
# the p-quantile, nearest rank
function pct(s, p,   a, n, k) {
	n = sort(s, a)
	if (n == 0) return 0
	k = int(p * n + 0.999999)
	return a[k < 1 ? 1 : k]
}
# results.txt: "rate config size round front_to_back_pps back_to_front_pps cycles_per_pkt"
#              "link config size ms"
$1 == "rate" {
	rx[$2, $3] = rx[$2, $3] " " $5; tx[$2, $3] = tx[$2, $3] " " $6
	if ($7 > 0) cy[$2, $3] = cy[$2, $3] " " $7
	one[$2, $3, $4] = $5
}
$1 == "link" { lk[$2] = lk[$2] " " $4 }
END {
	nc = split(configs, c, " "); ns = split(sizes, sz, " ")
	for (i = 1; i <= nc; i++) idx[c[i]] = i
	nr = 0
	n = split(ratios, r, " ")
	for (i = 1; i <= n; i++) {
		split(r[i], ab, "/")
		if ((ab[1] in idx) && (ab[2] in idx)) { nr++; ra[nr] = idx[ab[1]]; rb[nr] = idx[ab[2]]; rn[nr] = r[i] }
	}
	printf "median Mpps over %d sample(s); debian/ours = AF_UNIX, vvu = ours over dpdk-vvu-device\n", repeats
	hdr = sprintf("%-6s %-28s", "pkt", "direction")
	for (i = 1; i <= nc; i++) hdr = hdr sprintf(" %9s", c[i])
	for (i = 1; i <= nr; i++) hdr = hdr sprintf(" %12s", rn[i])
	print hdr
	for (s = 1; s <= ns; s++) for (d = 1; d <= 2; d++) {
		for (i = 1; i <= nc; i++) v[i] = median(d == 1 ? rx[c[i], sz[s]] : tx[c[i], sz[s]]) / 1e6
		row(sprintf("%-6s %-28s", sz[s] "B", d == 1 ? "front->back (vhost dequeue)" : "back->front (vhost enqueue)"), "%.2f", 0)
	}
	# the fast end: what each configuration does when the host is in a fast phase
	for (s = 1; s <= ns; s++) {
		for (i = 1; i <= nc; i++) v[i] = pct(rx[c[i], sz[s]], 0.9) / 1e6
		row(sprintf("%-6s %-28s", sz[s] "B", "front->back, 90th percentile"), "%.2f", 0)
	}
	for (s = 1; s <= ns; s++) {
		for (i = 1; i <= nc; i++) v[i] = median(cy[c[i], sz[s]])
		row(sprintf("%-6s %-28s", sz[s] "B", "back-end cycles/pkt"), "%.0f", 1)
	}
	if (nr) {
		print ""
		print "paired ratios (A/B within each round, front->back; median, min-max over rounds):"
		for (s = 1; s <= ns; s++) for (i = 1; i <= nr; i++) {
			pl = ""
			for (j = 1; j <= repeats; j++)
				if (one[c[ra[i]], sz[s], j] > 0 && one[c[rb[i]], sz[s], j] > 0)
					pl = pl " " one[c[ra[i]], sz[s], j] / one[c[rb[i]], sz[s], j]
			k = sort(pl, a)
			if (k) printf "  %-6s %-12s %5.2f   (%.2f-%.2f, %d rounds)\n", sz[s] "B", rn[i], median(pl), a[1], a[k], k
			else printf "  %-6s %-12s   n/a\n", sz[s] "B", rn[i]
		}
	}
	print ""
	print "front-end connect -> link up (ms; median, min-max over all starts of the configuration):"
	for (i = 1; i <= nc; i++) {
		k = sort(lk[c[i]], a)
		if (k) printf "  %-8s %8.1f   (%.1f-%.1f, %d starts)\n", c[i], median(lk[c[i]]), a[1], a[k], k
		else printf "  %-8s      n/a\n", c[i]
	}
	print "  from: AF_UNIX: the back-end library accepts the front-end'"'"'s connection; vvu: dpdk-vvu-device does"
	print "  to:   the back-end testpmd'"'"'s next \"Port 0: link state change event\" (device ready)"
	print ""
	print "samples (Mpps front->back, in round order):"
	for (s = 1; s <= ns; s++) for (i = 1; i <= nc; i++) {
		line = sprintf("  %-6s %-8s", sz[s] "B", c[i])
		for (j = 1; j <= repeats; j++) line = line sprintf(" %.1f", one[c[i], sz[s], j] / 1e6)
		print line
	}
}' "$RESULTS" | tee "$OUT/table.txt"
echo "CSV: $CSV"
