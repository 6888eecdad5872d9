#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The demo. On a fresh Debian 12 machine, as root:   usertools/vvu-quickstart.sh
#
# Installs what it needs, builds the project, reserves hugepages, then runs two of
# Debian's dpdk-testpmd for a few seconds over one AF_UNIX vhost-user socket:
#
#   back-end   net_vhost0 (vhost-user server) on OUR librte_vhost.so.23 (LD_LIBRARY_PATH),
#              io forwarding on CPU 1
#   front-end  net_virtio_user0 (Debian's libraries), io forwarding on CPU 0,
#              primed with "start tx_first 32": packets circulate both ways
#
# prints the rate in both directions, stops everything it started, and exits 0 only
# if packets flowed both ways.
#
# Environment: VVU_DEMO_SECONDS (default 5), VVU_DEMO_PKT_LEN (default 64),
#   VHOST_LIB_DIR (default build/lib/vhost; "debian" = Debian's own library).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
SECONDS_RUN=${VVU_DEMO_SECONDS:-5}
LEN=${VVU_DEMO_PKT_LEN:-64}
LIBDIR=${VHOST_LIB_DIR:-$REPO/build/lib/vhost}
export DEBIAN_FRONTEND=noninteractive

say() { echo "vvu-quickstart: $*"; }
die() { echo "vvu-quickstart: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (hugepages, apt-get)"

# 1. packages
PKGS=(dpdk dpdk-dev libdpdk-dev meson ninja-build pkg-config gcc libc6-dev libnuma-dev
	libjansson-dev python3-pyelftools coreutils util-linux)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	timeout 900 apt-get update -q > /dev/null
	timeout 1800 apt-get install -y -q --no-install-recommends "${missing[@]}" > /dev/null
fi

# 2. build (only when the back-end uses our library)
if [ "$LIBDIR" != debian ]; then
	if [ ! -f build/build.ninja ]; then
		say "configuring build/"
		meson setup build > /dev/null
	fi
	say "building (ninja -C build)"
	ninja -C build > build/quickstart-build.log 2>&1 ||
		{ tail -20 build/quickstart-build.log; die "build failed (build/quickstart-build.log)"; }
	LIBDIR=$(realpath "$LIBDIR")
	[ -f "$LIBDIR/librte_vhost.so.23" ] || die "no $LIBDIR/librte_vhost.so.23 after the build"
fi

# 3. hugepages
bash usertools/vvu-hugepages.sh

# 4. the pair
RUN=$(mktemp -d /tmp/vvu-quickstart.XXXXXX)
SOCK=$RUN/vhost.sock
BE_PREFIX=vvu-qs-be-$$
FE_PREFIX=vvu-qs-fe-$$
BP= FP=
cleanup() {
	exec 3>&- 4>&- 2>/dev/null || true
	for p in $FP $BP; do kill -INT "$p" 2>/dev/null || true; done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 ${FP:-0} 2>/dev/null || kill -0 ${BP:-0} 2>/dev/null || break
		sleep 0.3
	done
	for p in $FP $BP; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "/var/run/dpdk/$BE_PREFIX" "/var/run/dpdk/$FE_PREFIX"
	if [ "${KEEP_LOGS:-0}" = 1 ] || [ "${ok:-0}" != 1 ]; then
		say "logs kept in $RUN"
	else
		rm -rf "$RUN"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # FILE REGEX SECONDS
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -aqE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

mkfifo "$RUN/be.in" "$RUN/fe.in"
if [ "$LIBDIR" = debian ]; then
	say "back-end:  testpmd net_vhost0 on Debian's librte_vhost.so.23"
	BE_ENV=()
else
	say "back-end:  testpmd net_vhost0 on $LIBDIR/librte_vhost.so.23"
	BE_ENV=(LD_LIBRARY_PATH="$LIBDIR")
fi
env "${BE_ENV[@]}" stdbuf -oL dpdk-testpmd -l 0,1 --main-lcore 0 --file-prefix "$BE_PREFIX" \
	--no-pci --in-memory -m 512 --vdev "net_vhost0,iface=$SOCK,queues=1" -- \
	-i --auto-start --forward-mode=io --nb-cores=1 < "$RUN/be.in" > "$RUN/backend.log" 2>&1 &
BP=$!
exec 4> "$RUN/be.in"
wait_for "$RUN/backend.log" 'testpmd> ' 60 || { tail "$RUN/backend.log"; die "back-end did not start"; }
if [ "$LIBDIR" != debian ]; then
	grep -q "$(realpath "$LIBDIR/librte_vhost.so.23")" "/proc/$BP/maps" ||
		die "the back-end did not load our library"
fi

say "front-end: testpmd net_virtio_user0 (Debian's libraries), $LEN-byte packets"
stdbuf -oL dpdk-testpmd -l 0,1 --main-lcore 1 --file-prefix "$FE_PREFIX" --no-pci --in-memory \
	--single-file-segments -m 512 --vdev "net_virtio_user0,path=$SOCK,queues=1" -- \
	-i --forward-mode=io --nb-cores=1 --txpkts="$LEN" < "$RUN/fe.in" > "$RUN/frontend.log" 2>&1 &
FP=$!
exec 3> "$RUN/fe.in"
wait_for "$RUN/frontend.log" 'testpmd> ' 60 || { tail "$RUN/frontend.log"; die "front-end did not start"; }
for ((i = 0; i < 60; i++)); do
	echo "show port info 0" >&3
	sleep 0.5
	grep -aq 'Link status: up' "$RUN/frontend.log" && break
done
grep -aq 'Link status: up' "$RUN/frontend.log" || die "link did not come up"

say "link up; forwarding for $SECONDS_RUN s"
echo "start tx_first 32" >&3
sleep 1
echo "show port stats 0" >&3
echo "show port stats 0" >&4
sleep "$SECONDS_RUN"
echo "show port stats 0" >&3
echo "show port stats 0" >&4
sleep 0.5
printf 'stop\nquit\n' >&3
printf 'stop\nquit\n' >&4
exec 3>&- 4>&-
for ((i = 0; i < 100; i++)); do
	kill -0 "$FP" 2>/dev/null || kill -0 "$BP" 2>/dev/null || break
	sleep 0.1
done

last() { grep -a "$1" "$2" | tail -1 | awk '{print $2}'; }
fe_tx=$(last 'Tx-pps:' "$RUN/frontend.log")
fe_rx=$(last 'Rx-pps:' "$RUN/frontend.log")
be_rx=$(last 'Rx-pps:' "$RUN/backend.log")
be_tx=$(last 'Tx-pps:' "$RUN/backend.log")
be_rx_total=$(grep -a 'RX-packets:' "$RUN/backend.log" | tail -1 | awk '{print $2}')
fe_rx_total=$(grep -a 'RX-packets:' "$RUN/frontend.log" | tail -1 | awk '{print $2}')
mpps() { awk -v v="${1:-0}" 'BEGIN {printf "%.2f", v / 1e6}'; }
echo
echo "  front-end -> back-end: $(mpps "$fe_tx") Mpps sent, $(mpps "$be_rx") Mpps received by vhost" \
	"(${be_rx_total:-0} packets in all)"
echo "  back-end -> front-end: $(mpps "$be_tx") Mpps sent by vhost, $(mpps "$fe_rx") Mpps received" \
	"(${fe_rx_total:-0} packets in all)"
echo
if [ "${be_rx_total:-0}" -gt 0 ] && [ "${fe_rx_total:-0}" -gt 0 ] &&
	[ "${be_rx:-0}" -gt 0 ] && [ "${fe_rx:-0}" -gt 0 ]; then
	ok=1
	say "OK: traffic flowed both ways"
	exit 0
fi
say "FAILED: no traffic in at least one direction (logs: $RUN)"
exit 1
