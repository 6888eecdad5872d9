#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The demo. On a fresh Debian 12 machine, as root:   usertools/vvu-quickstart.sh
#
# Installs what it needs, builds the project (build/), reserves hugepages, then runs
# the virtio-vhost-user (VVU) topology for a few seconds:
#
#   front-end  Debian's dpdk-testpmd, net_virtio_user0 (Debian's libraries), io
#              forwarding on CPU 0, primed with "start tx_first 32"
#        |  vhost-user over AF_UNIX (fe.sock)
#   device     dpdk-vvu-device (build/app/vvu-device), the VVU device as a vfio-user server
#        |  vfio-user over AF_UNIX (vfu.sock)
#   back-end   Debian's dpdk-testpmd, net_vhost0,iface=vfio-user:vfu.sock on OUR
#              librte_vhost.so.23 (LD_LIBRARY_PATH; its VVU driver), io forwarding on CPU 1
#
# so packets circulate both ways through the front-end's memory as the device exposes
# it to the back-end. It prints the rate in each direction and the time from the
# front-end's connection to link up, stops everything it started (by pid), and exits 0
# only if packets flowed both ways.
#
# Usage: usertools/vvu-quickstart.sh [--transport vvu|af_unix|both] [--appliance]
#   vvu      (default) the topology above
#   af_unix  the classic pair: back-end net_vhost0,iface=<socket> directly on the
#            front-end's AF_UNIX socket, no device
#   both     one after the other, then a side-by-side summary
#   --appliance  the back-end in a QEMU 7.2 guest instead (usertools/vvu-appliance-demo.py):
#            the device behind QEMU's proxy device, the guest kernel's vfio-pci, our
#            driver over kernel VFIO; prints packets each way and connect -> link up
#
# Environment: VVU_DEMO_TRANSPORT (same as --transport), VVU_DEMO_SECONDS (default 5),
#   VVU_DEMO_PKT_LEN (default 64), VHOST_LIB_DIR (default build/lib/vhost; "debian" =
#   Debian's own library, af_unix only), KEEP_LOGS=1 (keep the logs of a good run).
# Installed (meson install: vvu-quickstart.sh in bindir), it builds nothing and runs the
#   installed dpdk-vvu-device and library (VHOST_LIB_DIR default <libdir>/dpdk-vvu).
set -euo pipefail
export LC_ALL=C

usage() { sed -n '22,35s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# In a checkout, REPO is the repository; installed, it is <datadir>/dpdk-vvu, whose
# layout.sh (written by meson install) says where the binaries and the library are.
cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.."
REPO=$(pwd)
INSTALLED=0
if [ -f "$REPO/layout.sh" ]; then
	# shellcheck source=/dev/null # written by meson install
	. "$REPO/layout.sh"
	INSTALLED=1
fi
# spawn, spawn_device, spawn_testpmd, wait_for, stop_all, ...: shared with the other
# topology scripts.
. "$REPO/usertools/vvu-proc.sh"
# missing_packages: shared with the guest image scripts.
. "$REPO/usertools/vvu-image-lib.sh"
TRANSPORT=${VVU_DEMO_TRANSPORT:-vvu}
APPLIANCE=0
while [ $# -gt 0 ]; do
	case $1 in
	--appliance) APPLIANCE=1; shift ;;
	--transport) [ $# -ge 2 ] || { usage >&2; exit 2; }; TRANSPORT=$2; shift 2 ;;
	--transport=*) TRANSPORT=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "vvu-quickstart: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
case $TRANSPORT in
vvu | af_unix) RUNS=("$TRANSPORT") ;;
both | all) RUNS=(vvu af_unix) ;;
*) echo "vvu-quickstart: --transport must be vvu, af_unix or both" >&2; exit 2 ;;
esac
SECONDS_RUN=${VVU_DEMO_SECONDS:-5}
LEN=${VVU_DEMO_PKT_LEN:-64}
if [ "$INSTALLED" = 1 ]; then
	LIBDIR=${VHOST_LIB_DIR:-$VVU_VHOST_LIBDIR}
	DEVICE=$VVU_BINDIR/dpdk-vvu-device
else
	LIBDIR=${VHOST_LIB_DIR:-$REPO/build/lib/vhost}
	DEVICE=$REPO/build/app/vvu-device/dpdk-vvu-device
fi
# Upper bound on any one process's life (timeout): start-up + traffic + shutdown.
LIMIT=$((SECONDS_RUN + 150))
export DEBIAN_FRONTEND=noninteractive

say() { echo "vvu-quickstart: $*"; }
die() { echo "vvu-quickstart: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (hugepages, apt-get)"
[[ $SECONDS_RUN =~ ^[1-9][0-9]*$ ]] || die "VVU_DEMO_SECONDS must be a positive integer"
if [ "$INSTALLED" = 1 ] && [ "$APPLIANCE" = 1 ]; then
	die "--appliance drives the guest with dts/'s framework: run it from a checkout"
fi
if [ "$LIBDIR" = debian ] && [[ " ${RUNS[*]} " == *" vvu "* ]]; then
	die "VHOST_LIB_DIR=debian: Debian's library has no VVU transport (use --transport af_unix)"
fi

# 1. packages (installed: only what the run needs)
if [ "$INSTALLED" = 1 ]; then
	PKGS=(dpdk python3 coreutils util-linux)
else
	PKGS=(dpdk dpdk-dev libdpdk-dev meson ninja-build pkg-config gcc libc6-dev libnuma-dev
		libjansson-dev python3 python3-pyelftools coreutils util-linux)
fi
# The appliance demo drives the guest with the end-to-end suites' framework.
[ "$APPLIANCE" = 0 ] || PKGS+=(python3-pytest)
mapfile -t missing < <(missing_packages "${PKGS[@]}")
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	timeout 900 apt-get update -q > /dev/null
	timeout 1800 apt-get install -y -q --no-install-recommends "${missing[@]}" > /dev/null
fi

# 2. build: what the demo runs (our library, the device), in the project's build/;
# installed: check that they are there
if [ "$INSTALLED" = 1 ]; then
	if [ "$LIBDIR" != debian ]; then
		LIBDIR=$(realpath "$LIBDIR")
		[ -f "$LIBDIR/librte_vhost.so.23" ] || die "no $LIBDIR/librte_vhost.so.23 (installed?)"
	fi
	[ -x "$DEVICE" ] || [[ " ${RUNS[*]} " != *" vvu "* ]] || die "no $DEVICE (installed?)"
	say "installed: $DEVICE, library $LIBDIR"
elif [ "$LIBDIR" != debian ]; then
	if [ ! -f build/build.ninja ]; then
		say "configuring build/ (meson setup build)"
		timeout 600 meson setup build > build-quickstart-setup.log 2>&1 ||
			{ tail -20 build-quickstart-setup.log; die "meson setup failed"; }
		rm -f build-quickstart-setup.log
	fi
	say "building librte_vhost.so.23 and dpdk-vvu-device (ninja -C build)"
	timeout 1800 ninja -C build lib/vhost/librte_vhost.so.23.0 app/vvu-device/dpdk-vvu-device \
		> build/quickstart-build.log 2>&1 ||
		{ tail -20 build/quickstart-build.log; die "build failed (build/quickstart-build.log)"; }
	LIBDIR=$(realpath "$LIBDIR")
	[ -f "$LIBDIR/librte_vhost.so.23" ] || die "no $LIBDIR/librte_vhost.so.23 after the build"
	[ -x "$DEVICE" ] || [[ " ${RUNS[*]} " != *" vvu "* ]] || die "no $DEVICE after the build"
fi

# 3. hugepages
bash usertools/vvu-hugepages.sh

# 4. the runs
if [ "$APPLIANCE" = 1 ]; then
	[ "$LIBDIR" != debian ] || die "the appliance carries our library (not VHOST_LIB_DIR=debian)"
	RUN=$(mktemp -d /tmp/vvu-quickstart.XXXXXX)
	if /usr/bin/python3 usertools/vvu-appliance-demo.py "$REPO/build" "$RUN"; then
		[ "${KEEP_LOGS:-0}" = 1 ] && say "logs kept in $RUN" || rm -rf "$RUN"
		exit 0
	fi
	say "logs kept in $RUN"
	exit 1
fi
RUN=$(mktemp -d /tmp/vvu-quickstart.XXXXXX) # sockets, fifos, logs (short: sun_path limit)
PIDS=()     # every process started, real pids and their timeout wrappers
PREFIXES=() # EAL file prefixes
ok=0

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	exec 3>&- 4>&- 2>/dev/null || true
	stop_all
	if [ "${KEEP_LOGS:-0}" = 1 ] || [ "$ok" != 1 ]; then
		say "logs kept in $RUN"
	else
		rm -rf "$RUN"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Last "Rx-pps:"/"Tx-pps:"/"RX-packets:" value in LOG.
last_val() { { grep -ao "$1 *[0-9]*" "$2" || true; } | tail -1 | awk '{print $2}'; }
mpps() { awk -v v="${1:-0}" 'BEGIN {printf "%.2f", v / 1e6}'; }

declare -A R_FB R_BF R_LINK

# run_demo vvu|af_unix
run_demo() {
	local t=$1 dir=$RUN/$1 fe_sock be_iface be_lib be_lib_txt dev_pid='' be_pid fe_pid i
	local t0 t1 t0_what link_ms fe_rx be_rx be_tot fe_tot
	local be_prefix=vvu-qs-be-$$-$t fe_prefix=vvu-qs-fe-$$-$t
	mkdir -p "$dir"
	fe_sock=$dir/fe.sock
	if [ "$LIBDIR" = debian ]; then
		be_lib=
		be_lib_txt="Debian's library"
	else
		be_lib=$LIBDIR
		be_lib_txt="our ${LIBDIR#"$REPO"/}"
	fi

	echo
	if [ "$t" = vvu ]; then
		echo "=== virtio-vhost-user: front-end testpmd <-> dpdk-vvu-device <-> back-end testpmd ==="
	else
		echo "=== AF_UNIX vhost-user: front-end testpmd <-> back-end testpmd ==="
	fi
	echo "  sockets and logs in $dir (kept on failure or with KEEP_LOGS=1)"
	if [ "$t" = vvu ]; then
		be_iface=vfio-user:$dir/vfu.sock
		spawn_device "$dir/device.log" "$dir/vfu.sock" "$fe_sock" ||
			die "dpdk-vvu-device did not start"
		dev_pid=$SPAWNED
		printf '  %-10s %-60s (pid %s)\n' device \
			"dpdk-vvu-device --vfio-user vfu.sock --vhost-user fe.sock" "$dev_pid"
	else
		be_iface=$fe_sock
	fi

	# testpmd's commands go through fifos held open (read-write: no blocking open) on
	# fds 4 (back-end) and 3 (front-end)
	mkfifo "$dir/be.in" "$dir/fe.in"
	exec 4<> "$dir/be.in" 3<> "$dir/fe.in"
	spawn_testpmd "$dir/backend.log" "$dir/be.in" "$be_lib" 0 "$be_prefix" \
		"net_vhost0,iface=$be_iface,queues=1" --auto-start ||
		die "the back-end did not start"
	be_pid=$SPAWNED
	wait_for "$dir/backend.log" 'testpmd> ' 60 ||
		{ tail "$dir/backend.log"; die "back-end did not start"; }
	if [ "$LIBDIR" != debian ]; then
		grep -q "$(realpath "$LIBDIR/librte_vhost.so.23")" "/proc/$be_pid/maps" ||
			die "the back-end did not load our library"
	fi
	printf '  %-10s %-60s (pid %s)\n' back-end \
		"testpmd net_vhost0,iface=${be_iface/"$dir"\//}, $be_lib_txt" "$be_pid"
	if [ "$t" = vvu ]; then
		# the back-end's VVU driver has attached and set BACKEND_UP
		wait_for "$dir/device.log" 'BACKEND_UP' 30 ||
			{ tail "$dir/device.log" "$dir/backend.log"; die "the back-end did not attach to the device"; }
	else
		[ -S "$fe_sock" ] || die "the back-end did not create $fe_sock"
	fi

	spawn_testpmd "$dir/frontend.log" "$dir/fe.in" "" 1 "$fe_prefix" \
		"net_virtio_user0,path=$fe_sock,queues=1" --txpkts="$LEN" ||
		die "the front-end did not start"
	fe_pid=$SPAWNED
	printf '  %-10s %-60s (pid %s)\n' front-end \
		"testpmd net_virtio_user0,path=fe.sock, Debian's libraries" "$fe_pid"
	wait_for "$dir/frontend.log" 'testpmd> ' 60 ||
		{ tail "$dir/frontend.log"; die "front-end did not start"; }
	# link up on both sides: the back-end's LSC event, the front-end's port info
	wait_for "$dir/backend.log" 'Port 0: link state change event' 30 ||
		{ tail "$dir/backend.log"; die "the back-end's link did not come up"; }
	for ((i = 0; i < 60; i++)); do
		echo "show port info 0" >&3
		sleep 0.5
		grep -aq 'Link status: up' "$dir/frontend.log" && break
	done
	grep -aq 'Link status: up' "$dir/frontend.log" || die "the front-end's link did not come up"

	# front-end connect -> link up (see the definition printed below)
	if [ "$t" = vvu ]; then
		t0=$(stamp_after "$dir/device.log" 'front-end connected' 0)
	else
		t0=$(stamp_after "$dir/backend.log" \
			'VHOST_CONFIG: .*new (vhost user )?connection' 0)
	fi
	t1=$(stamp_after "$dir/backend.log" 'Port 0: link state change event' 0)
	link_ms=n/a
	if [ -n "$t0" ] && [ -n "$t1" ]; then link_ms=$(ms_between "$t0" "$t1"); fi

	echo "  link up; forwarding $LEN-byte packets for $SECONDS_RUN s"
	echo "start tx_first 32" >&3
	sleep 1
	echo "show port stats 0" >&3
	echo "show port stats 0" >&4
	nap "$SECONDS_RUN"
	echo "show port stats 0" >&3
	echo "show port stats 0" >&4
	sleep 0.5
	printf 'stop\nquit\n' >&3
	printf 'stop\nquit\n' >&4
	exec 3>&- 4>&-
	wait_gone 100 "$fe_pid" "$be_pid" || true
	if [ -n "$dev_pid" ]; then kill -TERM "$dev_pid" 2>/dev/null || true; fi
	wait_gone 50 "$fe_pid" "$be_pid" ${dev_pid:+"$dev_pid"} || true

	fe_rx=$(last_val 'Rx-pps:' "$dir/frontend.log")
	be_rx=$(last_val 'Rx-pps:' "$dir/backend.log")
	be_tot=$(last_val 'RX-packets:' "$dir/backend.log")
	fe_tot=$(last_val 'RX-packets:' "$dir/frontend.log")
	R_FB[$t]=$(mpps "$be_rx") R_BF[$t]=$(mpps "$fe_rx") R_LINK[$t]=$link_ms

	if [ "$t" = vvu ]; then
		t0_what="dpdk-vvu-device accepted the front-end's connection"
	else
		t0_what="the back-end's library accepted the front-end's connection"
	fi
	echo
	printf '  front-end -> back-end  %6s Mpps  (vhost dequeue; %s packets received by the back-end)\n' \
		"${R_FB[$t]}" "${be_tot:-0}"
	printf '  back-end -> front-end  %6s Mpps  (vhost enqueue; %s packets received by the front-end)\n' \
		"${R_BF[$t]}" "${fe_tot:-0}"
	printf '  connect -> link up     %6s ms    (%s ->\n' "$link_ms" "$t0_what"
	printf '                                       the back-end'"'"'s link-up event: all rings set up, device ready)\n'
	if [ "${be_tot:-0}" -gt 0 ] && [ "${fe_tot:-0}" -gt 0 ] &&
		[ "${be_rx:-0}" -gt 0 ] && [ "${fe_rx:-0}" -gt 0 ]; then
		DEMO_OK=1
	else
		DEMO_OK=0
	fi
}

failed=()
for t in "${RUNS[@]}"; do
	run_demo "$t"
	stop_all # whatever did not exit by itself (nothing, normally)
	[ "$DEMO_OK" = 1 ] || failed+=("$t")
done

if [ ${#RUNS[@]} -gt 1 ]; then
	echo
	echo "=== summary ($LEN-byte packets, Mpps as received; the machine's noise applies) ==="
	printf '  %-10s %14s %14s %18s\n' transport "front->back" "back->front" "connect->link up"
	for t in "${RUNS[@]}"; do
		printf '  %-10s %9s Mpps %9s Mpps %15s ms\n' "$t" "${R_FB[$t]:-0}" "${R_BF[$t]:-0}" "${R_LINK[$t]:-n/a}"
	done
fi
echo
if [ ${#failed[@]} -eq 0 ]; then
	ok=1
	say "OK: traffic flowed both ways (${RUNS[*]})"
	exit 0
fi
say "FAILED: no traffic in at least one direction (${failed[*]}; logs: $RUN)"
exit 1
