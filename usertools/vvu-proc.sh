# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Helpers shared by usertools/vvu-quickstart.sh and devtools/bench/pvp.sh, which
# start testpmd and dpdk-vvu-device processes and read their time-stamped logs.
# Sourced, not run. The sourcing script sets:
#   RUN       a private directory (sockets, fifos; short: the sun_path limit)
#   LIMIT     seconds any one process may live (timeout)
#   PIDS      () every process started: stop_all stops them by pid
#   PREFIXES  () EAL file prefixes: stop_all removes their runtime directories
#   DEVICE    the dpdk-vvu-device binary (spawn_device)
#   TESTPMD   the testpmd binary (spawn_testpmd; default dpdk-testpmd)

wait_for() { # FILE REGEX SECONDS
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -aqE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# stamp LOG: copy stdin to LOG, each line prefixed with the wall-clock time at which
# it could be read (time.time(), s); a partial line (testpmd's prompt) is written
# after 0.2 s of silence. Python, not a bash read loop: bash reads a pipe byte by
# byte, which falls behind a verbose log (Debian's library logs every message) and
# would stamp lines late.
STAMP_PY='
import os, select, sys, time
out = open(sys.argv[1], "w", encoding="utf-8", errors="replace")
def put(t, line):
    out.write("%.6f %s\n" % (t, line.decode("utf-8", "replace")))
buf = b""
while True:
    r = select.select([0], [], [], 0.2)[0]
    if not r:
        if buf:
            put(time.time(), buf)
            buf = b""
            out.flush()
        continue
    data = os.read(0, 65536)
    now = time.time()
    if not data:
        break
    *lines, buf = (buf + data).split(b"\n")
    for line in lines:
        put(now, line)
    out.flush()
if buf:
    put(time.time(), buf)
out.close()
'
stamp() { python3 -c "$STAMP_PY" "$1"; }

# stamp_after LOG REGEX T: the time stamp of the first line of LOG matching REGEX
# stamped at or after T (0: the first one at all); empty if none.
stamp_after() {
	{ grep -aE "$2" "$1" 2>/dev/null || true; } |
		awk -v t="$3" '$1 >= t { print $1; exit }'
}

# ms_between A B: milliseconds from time stamp A to time stamp B, one decimal.
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) * 1000}'; }

# spawn LOG IN CMD...: run CMD under timeout, stdin from IN (a file or fifo), its output
# time-stamped into LOG (emptied first: a stale log must not satisfy wait_for); sets
# SPAWNED to the pid of CMD itself (timeout's child). Every pid goes into PIDS.
SPAWN_SEQ=0
spawn() {
	local log=$1 in=$2 out tp i
	shift 2
	SPAWN_SEQ=$((SPAWN_SEQ + 1))
	out=$RUN/spawn-$SPAWN_SEQ.out
	rm -f "$out"
	: > "$log"
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

# spawn_device LOG VFU_SOCK FE_SOCK: dpdk-vvu-device, verbose (its log says BACKEND_UP
# and "front-end connected"), serving vfio-user on VFU_SOCK and vhost-user on FE_SOCK;
# returns once both sockets exist. Sets SPAWNED.
spawn_device() {
	local log=$1 vfu=$2 fe=$3 i
	spawn "$log" /dev/null stdbuf -oL -eL "$DEVICE" --vfio-user "$vfu" --vhost-user "$fe" \
		-v || return 1
	for ((i = 0; i < 100; i++)); do
		[ -S "$vfu" ] && [ -S "$fe" ] && return 0
		kill -0 "$SPAWNED" 2>/dev/null || break
		sleep 0.1
	done
	tail "$log" >&2
	echo "dpdk-vvu-device did not create its sockets (see $log)" >&2
	return 1
}

# spawn_testpmd LOG IN LIBDIR MAIN_LCORE PREFIX VDEV [APP_ARG...]: an interactive testpmd
# (commands from IN), io forwarding on the other of CPUs 0 and 1, 512 MiB in memory
# (nothing left in hugetlbfs); LIBDIR, if not empty, is its LD_LIBRARY_PATH (the
# librte_vhost.so.23 it runs). Sets SPAWNED.
spawn_testpmd() {
	local log=$1 in=$2 libdir=$3 main=$4 prefix=$5 vdev=$6
	shift 6
	PREFIXES+=("$prefix")
	spawn "$log" "$in" env ${libdir:+LD_LIBRARY_PATH="$libdir"} stdbuf -oL \
		"${TESTPMD:-dpdk-testpmd}" -l 0,1 --main-lcore "$main" --file-prefix "$prefix" \
		--no-pci --in-memory --single-file-segments -m 512 --vdev "$vdev" -- \
		-i --forward-mode=io --nb-cores=1 "$@"
}

# wait_gone TENTHS PID...: wait at most TENTHS tenths of a second until no PID runs;
# 0 if none does.
wait_gone() {
	local n=$1 i p alive
	shift
	for ((i = 0; i <= n; i++)); do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && return 0
		[ "$i" -lt "$n" ] && sleep 0.1
	done
	return 1
}

# nap SECONDS: sleep in the background and wait for it, so that INT/TERM run the trap
# at once instead of after the sleep; stop_all kills the sleep by pid.
NAP_PID=
nap() {
	sleep "$1" &
	NAP_PID=$!
	wait "$NAP_PID" || true
	NAP_PID=
}

# stop_all: stop every process in PIDS (and a pending nap), by pid, and reap it: testpmd
# quits on SIGINT, the device on SIGTERM (timeout forwards both); SIGKILL after 3 s.
# Then remove the EAL runtime dirs of PREFIXES.
stop_all() {
	local p
	if [ -n "${NAP_PID:-}" ]; then kill "$NAP_PID" 2>/dev/null || true; fi
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait_gone 30 "${PIDS[@]}" || true
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
	for p in "${PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$p"; done
}
