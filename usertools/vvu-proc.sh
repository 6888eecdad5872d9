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
