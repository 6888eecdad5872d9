# SPDX-License-Identifier: BSD-3-Clause
# Helpers shared by usertools/vvu-quickstart.sh and devtools/bench/pvp.sh, which
# start testpmd and dpdk-vvu-device processes and read their time-stamped logs.
# Sourced, not run.

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

# stop_all: stop every process in PIDS, by pid, and reap it: testpmd quits on SIGINT,
# the device on SIGTERM (timeout forwards both); SIGKILL after 3 s. Then remove the
# EAL runtime dirs of PREFIXES.
stop_all() {
	local p i alive
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for ((i = 0; i < 30; i++)); do
		alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
	for p in "${PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$p"; done
}
