#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The appliance VM: a QEMU 7.2 guest (TCG) whose PCI function 0000:00:04.0 is the VVU
# device, bound by the guest kernel's vfio-pci and driven by our driver (Debian's
# dpdk-testpmd, net_vhost0,iface=0000:00:04.0, our librte_vhost.so.23).
#
#   dpdk-vvu-device --qemu-proxy-fd A --vhost-user PATH   (the device, a process here)
#        |  AF_UNIX socketpair (QEMU's multi-process protocol)
#   qemu-system-x86_64 ... -device x-pci-proxy-dev,fd=B   (the guest, TCG)
#        guest: vfio-pci <- dpdk-testpmd --vdev net_vhost0,iface=0000:00:04.0
#
# Usage: usertools/vvu-appliance.sh [options] [-- DEVICE_ARG...]
#   --vhost-user PATH   the device's vhost-user socket (front-end side); required
#                       unless --stand-in. Repeat it for more devices (at most 4):
#                       one dpdk-vvu-device per PATH, at 00:04.0, 00:05.0, ...
#   --stand-in          QEMU's "edu" device (1234:11e8) at 00:04.0 instead of the VVU
#                       device: no dpdk-vvu-device, the rest is the same
#   --build DIR         meson build dir (dpdk-vvu-device, our library) (default build/;
#                       installed: the installed ones)
#   --image DIR         a guest image (default: usertools/vvu-guest-image.sh --build DIR,
#                       which builds it or reuses its cache)
#   --cmd CMD           the guest's command, @PCI@ = the first bound function,
#                       @PCI_2@ the second ...; "shell" = a shell (default:
#                       interactive testpmd on the device, see usertools/vvu-guest/init)
#   --after WHAT        poweroff (default), shell, or reboot (the guest boots again
#                       and reruns the command), once the command exits
#   --ids LIST          vendor:device[,...] the guest binds to vfio-pci (default
#                       1af4:(0x1040 + --virtio-id), or 1234:11e8 with --stand-in)
#   --mem MIB           guest memory, a shared memfd (default 1024)
#   --smp N             vCPUs (default 1)
#   --hugepages N       2 MiB hugepages the guest reserves at boot (default 128)
#   --console WHERE     stdio (default: the guest's serial console is this script's
#                       stdin/stdout) or a path: a unix socket QEMU listens on
#   --log DIR           the device's log goes to DIR/device.log, the second's to
#                       DIR/device1.log ... (default: a new directory under /tmp,
#                       printed)
#   --timeout SECONDS   stop everything after that long (default 3600)
#   --dry-run           print the commands, start nothing
# Arguments after -- go to every dpdk-vvu-device (--client, --shm-size, --virtio-id,
# -v ...).
#
# Messages of this script go to stderr, prefixed "vvu-appliance: "; among them
# "vvu-appliance: qemu pid N" and "vvu-appliance: device pid N" (the second device:
# "device1 pid N", and so on). Everything this
# script starts is stopped by pid when it exits (the guest powered off, the device
# exited, a signal, the timeout); the children also get SIGKILL if this script dies
# (setpriv --pdeathsig). Exit status: QEMU's (0 after a guest poweroff, 128 + N if
# signal N killed it), 124 on timeout, 1 if a device exited first.
set -euo pipefail
export LC_ALL=C

usage() { sed -n '13,41s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
say() { echo "vvu-appliance: $*" >&2; }
die() { echo "vvu-appliance: error: $*" >&2; exit 1; }

# In a checkout, REPO is the repository; installed (meson install), it is
# <datadir>/dpdk-vvu, whose layout.sh says where the installed device is.
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.." && pwd)
BUILD=$REPO/build
if [ -f "$REPO/layout.sh" ]; then
	# shellcheck source=/dev/null # written by meson install
	. "$REPO/layout.sh"
	BUILD=
fi
IMAGE=
STANDIN=0
FE_SOCKS=()
# At most this many devices (slots 04.0 to 07.0; fds 10 to 17).
MAX_DEVICES=4
CMD=
AFTER=poweroff
IDS=
MEM=1024
SMP=1
HUGEPAGES=128
CONSOLE=stdio
LOG=
TIMEOUT=3600
DRY=0
DEV_ARGS=()
ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--vhost-user | --build | --image | --cmd | --after | --ids | --mem | --smp | --hugepages | \
		--console | --log | --timeout)
		[ $# -ge 2 ] || { usage >&2; die "$1 needs a value"; }
		case $1 in
		--vhost-user) FE_SOCKS+=("$2") ;;
		--build) BUILD=$2 ;;
		--image) IMAGE=$2 ;;
		--cmd) CMD=$2 ;;
		--after) AFTER=$2 ;;
		--ids) IDS=$2 ;;
		--mem) MEM=$2 ;;
		--smp) SMP=$2 ;;
		--hugepages) HUGEPAGES=$2 ;;
		--console) CONSOLE=$2 ;;
		--log) LOG=$2 ;;
		--timeout) TIMEOUT=$2 ;;
		esac
		shift 2 ;;
	--stand-in) STANDIN=1; shift ;;
	--dry-run) DRY=1; shift ;;
	--) shift; DEV_ARGS=("$@"); break ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done
for v in MEM SMP HUGEPAGES TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer"
done
case $AFTER in poweroff | shell | reboot) ;; *) die "--after must be poweroff, shell or reboot" ;; esac
[[ $CMD != *'"'* ]] || die "--cmd cannot contain a double quote (kernel command line)"
[ $((HUGEPAGES * 2)) -lt "$MEM" ] || die "--hugepages $HUGEPAGES do not fit in --mem $MEM MiB"
if [ -n "$BUILD" ]; then
	BUILD=$(realpath "$BUILD")
	DEVICE=$BUILD/app/vvu-device/dpdk-vvu-device
else
	DEVICE=$VVU_BINDIR/dpdk-vvu-device # installed, no --build
fi
QEMU=qemu-system-x86_64
# The guest sees the device here (the address doc/guides/vvu_driver.rst uses); a
# second device at 05.0, and so on.
SLOT=04.0
NDEV=${#FE_SOCKS[@]}
[ "$STANDIN" = 0 ] || NDEV=0 # the stand-in replaces every device

if [ -z "$IDS" ]; then
	if [ "$STANDIN" = 1 ]; then
		IDS=1234:11e8
	else
		vid=43 # dpdk-vvu-device's default virtio ID
		for ((i = 0; i < ${#DEV_ARGS[@]}; i++)); do
			case ${DEV_ARGS[i]} in
			--virtio-id=*) vid=${DEV_ARGS[i]#*=} ;;
			--virtio-id) vid=${DEV_ARGS[i + 1]:-$vid} ;;
			esac
		done
		[[ $vid =~ ^[0-9]+$ ]] || die "--virtio-id $vid: not a number"
		IDS=$(printf '1af4:%04x' $((0x1040 + vid)))
	fi
fi

if [ "$STANDIN" = 0 ]; then
	[ "$NDEV" -ge 1 ] || die "--vhost-user PATH is required (or --stand-in)"
	[ "$NDEV" -le "$MAX_DEVICES" ] || die "at most $MAX_DEVICES --vhost-user (devices)"
	for ((i = 0; i < NDEV; i++)); do
		[ -n "${FE_SOCKS[i]}" ] || die "--vhost-user: empty path"
		for ((j = 0; j < i; j++)); do
			[ "${FE_SOCKS[i]}" != "${FE_SOCKS[j]}" ] ||
				die "--vhost-user ${FE_SOCKS[i]} given twice"
		done
	done
	[ -x "$DEVICE" ] || die "no $DEVICE (build first)"
	if [ "$DRY" = 0 ] && ! "$DEVICE" --help 2>&1 | grep -F -- --qemu-proxy-fd > /dev/null; then
		die "$DEVICE has no --qemu-proxy-fd option (the QEMU proxy front); use --stand-in"
	fi
fi

# The socketpair between each device and QEMU: bash cannot make one, so python3
# makes them, device i's as fds 10+2i (the device's end) and 11+2i (QEMU's), and
# execs this script again (same pid, same arguments).
PAIR_PY='
import os, socket, sys
n = int(sys.argv[1])
for i in range(n):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    assert a.fileno() < 10 and b.fileno() < 10, "fds 3 to 9 are taken"
    os.dup2(a.fileno(), 10 + 2 * i)
    os.dup2(b.fileno(), 11 + 2 * i)
    a.close()
    b.close()
os.environ["VVU_APPLIANCE_PAIR"] = str(n)
os.execv("/bin/bash", ["/bin/bash"] + sys.argv[2:])
'
if [ "$STANDIN" = 0 ] && [ "$DRY" = 0 ] && [ "${VVU_APPLIANCE_PAIR:-}" != "$NDEV" ]; then
	exec python3 -c "$PAIR_PY" "$NDEV" "${BASH_SOURCE[0]}" "${ARGS[@]}"
fi
unset VVU_APPLIANCE_PAIR
dev_fd() { echo $((10 + 2 * $1)); }  # device I's end of its pair
qemu_fd() { echo $((11 + 2 * $1)); } # QEMU's end of device I's pair
dev_name() { if [ "$1" = 0 ]; then echo device; else echo "device$1"; fi; }

command -v "$QEMU" > /dev/null || die "$QEMU not installed (usertools/vvu-guest-image.sh installs it)"
if [ -z "$IMAGE" ]; then
	IMAGE=$(bash "$REPO/usertools/vvu-guest-image.sh" ${BUILD:+--build "$BUILD"}) ||
		die "no guest image"
fi
for f in vmlinuz initramfs.cpio.gz; do [ -f "$IMAGE/$f" ] || die "no $IMAGE/$f"; done
IMAGE=$(realpath "$IMAGE")

# no_timer_check: under TCG on a loaded host the kernel's check that the
# timer interrupt arrives through the (remapped) IO-APIC can time out and
# panic ("timer doesn't work through Interrupt-remapped IO-APIC"); the
# emulated timer works, the check is only too impatient.
APPEND="console=ttyS0 panic=-1 loglevel=4 no_timer_check intel_iommu=on"
APPEND="$APPEND hugepagesz=2M hugepages=$HUGEPAGES"
APPEND+=" vvu_ids=$IDS vvu_after=$AFTER"
[ -z "$CMD" ] || APPEND+=" vvu_cmd=\"$CMD\""
QEMU_ARGV=("$QEMU" -name vvu-appliance
	-machine "q35,accel=tcg,memory-backend=mem"
	-object "memory-backend-memfd,id=mem,size=${MEM}M,share=on"
	-m "${MEM}M" -cpu max -smp "$SMP"
	-nodefaults -display none -nic none
	-device "intel-iommu,intremap=on")
# A guest reboot ends QEMU, unless the guest is meant to reboot (--after reboot).
[ "$AFTER" = reboot ] || QEMU_ARGV+=(-no-reboot)
if [ "$STANDIN" = 1 ]; then
	QEMU_ARGV+=(-device "edu,addr=$SLOT")
else
	for ((i = 0; i < NDEV; i++)); do
		# pp0 at 04.0 (SLOT), pp1 at 05.0, ...
		addr=$(printf '%02x.0' $((4 + i)))
		QEMU_ARGV+=(-device "x-pci-proxy-dev,id=pp$i,fd=$(qemu_fd "$i"),addr=$addr")
	done
fi
QEMU_ARGV+=(-kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initramfs.cpio.gz" -append "$APPEND")
if [ "$CONSOLE" = stdio ]; then
	QEMU_ARGV+=(-serial stdio)
else
	QEMU_ARGV+=(-serial "unix:$CONSOLE,server=on,wait=off")
fi
dev_argv() { # I: device I's command line, in DEV_ARGV
	DEV_ARGV=("$DEVICE" --qemu-proxy-fd "$(dev_fd "$1")" --vhost-user "${FE_SOCKS[$1]}"
		"${DEV_ARGS[@]}")
}

show() { # ARG...: one shell-quoted command line
	local a out=()
	for a in "$@"; do
		if [[ $a =~ ^[-A-Za-z0-9_./:=,@%+]+$ ]]; then out+=("$a"); else out+=("'$a'"); fi
	done
	echo "${out[*]}"
}
if [ "$DRY" = 1 ]; then
	if [ "$STANDIN" = 0 ]; then
		for ((i = 0; i < NDEV; i++)); do
			dev_argv "$i"
			show "${DEV_ARGV[@]}"
		done
	fi
	show "${QEMU_ARGV[@]}"
	exit 0
fi

if [ "$STANDIN" = 0 ]; then
	[ -n "$LOG" ] || LOG=$(mktemp -d /tmp/vvu-appliance.XXXXXX)
	mkdir -p "$LOG"
fi
QEMU_PID=
DEV_PIDS=()
WAIT_PID=

# shellcheck disable=SC2317 # invoked by cleanup, from the trap
stop_pid() { # PID NAME: SIGTERM, SIGKILL after 5 s, reap
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$2 (pid $pid) did not exit on SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$WAIT_PID" ]; then kill "$WAIT_PID" 2>/dev/null || true; fi
	stop_pid "$QEMU_PID" qemu
	for ((i = 0; i < ${#DEV_PIDS[@]}; i++)); do
		stop_pid "${DEV_PIDS[i]}" "dpdk-vvu-device $(dev_name "$i")"
	done
	say "stopped (exit $rc)${LOG:+; device log in $LOG/device.log}"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

exec 3<&0 # the console's stdin: a background job would get /dev/null
# shellcheck disable=SC2317 # invoked in subshells
close_fds() { # FD...: close them (in a subshell, before it execs)
	local fd
	for fd in "$@"; do eval "exec $fd>&-"; done
}
for ((i = 0; i < NDEV; i++)); do
	dev_argv "$i"
	dlog=$LOG/$(dev_name "$i").log
	others=(3)
	for ((j = 0; j < NDEV; j++)); do
		others+=("$(qemu_fd "$j")")
		[ "$j" = "$i" ] || others+=("$(dev_fd "$j")")
	done
	(
		close_fds "${others[@]}"
		exec setpriv --pdeathsig KILL "${DEV_ARGV[@]}" < /dev/null > "$dlog" 2>&1
	) &
	DEV_PIDS+=($!)
	say "$(dev_name "$i") pid $!: $(show "${DEV_ARGV[@]}") (log $dlog)"
done
devfds=()
for ((j = 0; j < NDEV; j++)); do devfds+=("$(dev_fd "$j")"); done
if [ "$CONSOLE" = stdio ]; then
	(
		close_fds 3 "${devfds[@]}"
		exec setpriv --pdeathsig KILL "${QEMU_ARGV[@]}"
	) <&3 &
else
	(
		close_fds 3 "${devfds[@]}"
		exec setpriv --pdeathsig KILL "${QEMU_ARGV[@]}"
	) < /dev/null &
fi
QEMU_PID=$!
say "qemu pid $QEMU_PID: $(show "${QEMU_ARGV[@]}")"
exec 3<&-
# Our ends of the pairs are the children's now: close them, so that one side sees
# the other go away.
for ((j = 0; j < NDEV; j++)); do close_fds "$(dev_fd "$j")" "$(qemu_fd "$j")"; done

deadline=$((SECONDS + TIMEOUT))
while kill -0 "$QEMU_PID" 2>/dev/null; do
	for ((i = 0; i < ${#DEV_PIDS[@]}; i++)); do
		pid=${DEV_PIDS[i]}
		[ -n "$pid" ] || continue
		kill -0 "$pid" 2>/dev/null && continue
		rc=0
		wait "$pid" || rc=$?
		DEV_PIDS[i]=
		# A device also exits when QEMU died (it closed the socket): then
		# QEMU's status is the news (a zombie still answers kill -0).
		if [ "$(awk '{print $3}' "/proc/$QEMU_PID/stat" 2>/dev/null || echo Z)" = Z ]; then
			qrc=0
			wait "$QEMU_PID" || qrc=$?
			QEMU_PID=
			say "qemu exited with status $qrc (then dpdk-vvu-device $(dev_name "$i")," \
				"status $rc)"
			exit "$qrc"
		fi
		say "dpdk-vvu-device $(dev_name "$i") exited first (status $rc), stopping QEMU"
		tail -5 "$LOG/$(dev_name "$i").log" >&2 || true
		exit 1
	done
	if [ "$SECONDS" -ge "$deadline" ]; then
		say "timeout: ${TIMEOUT} s"
		exit 124
	fi
	sleep 0.5 &
	WAIT_PID=$!
	wait "$WAIT_PID" || true
	WAIT_PID=
done
rc=0
wait "$QEMU_PID" || rc=$?
QEMU_PID=
say "qemu exited with status $rc"
exit "$rc"
