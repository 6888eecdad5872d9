#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Install check: meson install into a private DESTDIR, then use only what was
# installed.
#
# Usage: devtools/check-install.sh [BUILD_DIR]     (default build/, built)
#
# Prints one line per check (devtools/test.sh counts them):
#   PASS: install/<check>   FAIL: install/<check>: <why>   SKIP: install/<check>: <reason>
# Checks:
#   meson_install  meson install --destdir succeeds
#   files          the installed files are exactly the expected list (below): in
#                  particular no librte_vhost* directly in libdir, where it would
#                  shadow Debian's library (doc/guides/getting_started.rst)
#   binaries       dpdk-vhost-switch resolves librte_vhost.so.23 to the installed one
#                  (its rpath); dpdk-vvu-device --help runs
#   pkg_config     a program that includes rte_vhost_vvu.h, built with
#                  pkg-config --cflags --libs libdpdk-vvu, links, loads the
#                  installed library (the .pc's rpath) and runs
#   systemd_unit   systemd-analyze verify of dpdk-vvu-device@.service says nothing
#                  (with ExecStart pointed into the DESTDIR); the example environment
#                  file sets only variables the unit reads and names only options
#                  dpdk-vvu-device --help lists; the installed device, given the
#                  unit's arguments and the example's VVU_DEVICE_ARGS, creates both
#                  sockets and exits 0 on SIGTERM (not under systemd)
#   appliance_dry_run  the installed vvu-appliance.sh --dry-run names the installed
#                  dpdk-vvu-device
#   quickstart     the installed vvu-quickstart.sh (root; run from /): the installed
#                  dpdk-vvu-device between Debian's testpmd front-end and Debian's
#                  testpmd back-end on the installed library (LD_LIBRARY_PATH);
#                  packets both ways
# Everything is removed again (the DESTDIR, the test program); about 30 s.
# Exit status: 0 if nothing failed.
set -uo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(realpath "${1:-$REPO/build}")
failed=0
pass() { echo "PASS: install/$1"; }
fail() { echo "FAIL: install/$1: $2"; failed=1; }
skip() { echo "SKIP: install/$1: $2"; }
indent() { sed 's/^/    /' | head -"${1:-30}"; }

if [ ! -f "$BUILD/build.ninja" ]; then
	fail meson_install "no $BUILD/build.ninja (build first)"
	exit 1
fi
D=$(mktemp -d /tmp/vvu-check-install.XXXXXX)
# shellcheck disable=SC2317 # invoked by the trap
cleanup() { rm -rf "$D"; }
trap cleanup EXIT

# ------------------------------------------------------------ meson install
if ! timeout 300 meson install -C "$BUILD" --destdir "$D/root" --no-rebuild \
	> "$D/install.log" 2>&1; then
	fail meson_install "meson install failed"
	indent 20 < "$D/install.log"
	exit 1
fi
pass meson_install
# The install directories, as configured.
opt() {
	meson introspect "$BUILD" --buildoptions |
		/usr/bin/python3 -c 'import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
PREFIX=$(opt prefix)
abs() { case $1 in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
BIN=$(abs "$(opt bindir)")
LIB=$(abs "$(opt libdir)")
INC=$(abs "$(opt includedir)")
DATA=$(abs "$(opt datadir)")
VLIB=$LIB/$(opt vhost_libsubdir)
UNITDIR=$(opt systemdunitdir)
if [ -z "$UNITDIR" ]; then
	UNITDIR=$(pkg-config --variable=systemdsystemunitdir --define-variable=root_prefix="$PREFIX" \
		systemd 2>/dev/null || echo "$PREFIX/lib/systemd/system")
fi
R=$D/root

# ------------------------------------------------------------ files
{
	echo "$BIN/dpdk-vvu-device"
	echo "$BIN/dpdk-vhost-switch"
	tools=$(realpath -m --relative-to="$BIN" "$DATA/dpdk-vvu/usertools")
	for c in vvu-quickstart.sh vvu-hugepages.sh vvu-appliance.sh vvu-guest-image.sh; do
		echo "$BIN/$c -> $tools/$c"
		echo "$DATA/dpdk-vvu/usertools/$c"
	done
	echo "$DATA/dpdk-vvu/usertools/vvu-proc.sh"
	echo "$DATA/dpdk-vvu/usertools/vvu-image-lib.sh"
	echo "$DATA/dpdk-vvu/usertools/vvu-guest/init"
	echo "$DATA/dpdk-vvu/usertools/vvu-guest/vfio-probe.c"
	echo "$DATA/dpdk-vvu/layout.sh"
	echo "$VLIB/librte_vhost.so.23.0"
	echo "$VLIB/librte_vhost.so.23 -> librte_vhost.so.23.0"
	echo "$VLIB/librte_vhost.so -> librte_vhost.so.23"
	echo "$LIB/pkgconfig/libdpdk-vvu.pc"
	echo "$INC/dpdk-vvu/rte_vhost_vvu.h"
	[ "$UNITDIR" = no ] || echo "$UNITDIR/dpdk-vvu-device@.service"
	for f in dpdk-vvu-device.conf 60-dpdk-vvu-hugepages.conf dpdk-vvu-ld.so.conf; do
		echo "$DATA/doc/dpdk-vvu/examples/$f"
	done
} | sort > "$D/expected"
# files and symlinks (with their targets); the optional HTML guides (-Ddocs=true)
# are checked by their index page only
(cd "$R" && find . \( -type f -o -type l \) -printf '/%P\n') | sort |
	while read -r f; do
		if [ -L "$R$f" ]; then echo "$f -> $(readlink "$R$f")"; else echo "$f"; fi
	done | grep -v "^$DATA/doc/dpdk-vvu/html/" > "$D/installed"
if [ "$(opt docs)" = True ] && [ ! -f "$R$DATA/doc/dpdk-vvu/html/index.html" ]; then
	fail files "-Ddocs=true but no $DATA/doc/dpdk-vvu/html/index.html"
elif ! diff -u "$D/expected" "$D/installed" > "$D/files.diff"; then
	fail files "installed files differ from the expected list (- expected, + installed)"
	tail -n +3 "$D/files.diff" | grep '^[-+]' | indent 40
else
	pass files
fi
# whatever the list says: nothing of ours where the dynamic linker looks by default
shadow=$(find "$R$LIB" "$R/usr/lib" "$R/lib" -maxdepth 1 -name 'librte_vhost*' 2>/dev/null || true)
if [ -n "$shadow" ]; then
	fail files "librte_vhost in a default library directory: $shadow"
fi

# ------------------------------------------------------------ binaries
sw_lib=$(ldd "$R$BIN/dpdk-vhost-switch" 2>&1 | awk '$1 == "librte_vhost.so.23" {print $3}')
if [ "$(realpath -m "$sw_lib")" != "$(realpath -m "$R$VLIB/librte_vhost.so.23")" ]; then
	fail binaries "dpdk-vhost-switch loads librte_vhost.so.23 from '$sw_lib', not $R$VLIB"
elif ! "$R$BIN/dpdk-vvu-device" --help 2>&1 | grep -q -- '--vfio-user'; then
	fail binaries "the installed dpdk-vvu-device --help does not list --vfio-user"
else
	pass binaries
fi

# ------------------------------------------------------------ pkg-config
cat > "$D/vvu_app.c" <<'C'
/* An application of the installed extension header and library. */
#define ALLOW_EXPERIMENTAL_API 1 /* rte_vhost_driver_set_max_connections() */
#include <stdio.h>
#include <string.h>

#include <rte_vhost_vvu.h>

int
main(void)
{
	uint64_t flags = RTE_VHOST_USER_CLIENT | RTE_VHOST_USER_VIRTIO_TRANSPORT;
	/* an unregistered path: the library answers -1 */
	int ret = rte_vhost_driver_set_max_connections("/nonexistent/vvu-app.sock", 4);

	printf("flags %#llx prefix %s ret %d\n", (unsigned long long)flags,
	       RTE_VHOST_VVU_VFIO_USER_PREFIX, ret);
	return ret == -1 && (flags >> 32) == 1 &&
		strcmp(RTE_VHOST_VVU_VFIO_USER_PREFIX, "vfio-user:") == 0 ? 0 : 1;
}
C
# The installed .pc with its prefix moved into the DESTDIR (pkg-config's
# --define-variable would move libdpdk's too); the rest as installed.
mkdir -p "$D/pc"
if [ -f "$R$LIB/pkgconfig/libdpdk-vvu.pc" ]; then
	sed "s|^prefix=$PREFIX\$|prefix=$R$PREFIX|" "$R$LIB/pkgconfig/libdpdk-vvu.pc" \
		> "$D/pc/libdpdk-vvu.pc"
fi
if ! flags=$(PKG_CONFIG_PATH=$D/pc pkg-config --cflags --libs libdpdk-vvu 2> "$D/pc.err"); then
	fail pkg_config "pkg-config --cflags --libs libdpdk-vvu failed: $(head -3 "$D/pc.err")"
else
	# shellcheck disable=SC2086 # flags are words
	if ! cc -std=c11 -D_GNU_SOURCE -Wall -Werror -o "$D/vvu_app" "$D/vvu_app.c" $flags \
		> "$D/cc.log" 2>&1; then
		fail pkg_config "the program does not build with: cc ... $flags"
		indent 20 < "$D/cc.log"
	else
		app_lib=$(ldd "$D/vvu_app" | awk '$1 == "librte_vhost.so.23" {print $3}')
		if [ "$(realpath -m "$app_lib")" != "$(realpath -m "$R$VLIB/librte_vhost.so.23")" ]; then
			fail pkg_config "the program loads librte_vhost.so.23 from '$app_lib', not $R$VLIB"
		elif ! out=$(timeout 30 "$D/vvu_app" 2>&1); then
			fail pkg_config "the program failed: $(tail -3 <<<"$out")"
		else
			pass pkg_config
		fi
	fi
fi

# ------------------------------------------------------------ systemd unit
# run_as_unit CONF: the installed device with the unit's ExecStart arguments and
# CONF's example VVU_DEVICE_ARGS (no systemd needed): it must create both sockets
# and exit 0 on SIGTERM (KillSignal). Prints why not.
run_as_unit() {
	local args pid i rc=0
	args=$(sed -n 's/^#\{0,1\}VVU_DEVICE_ARGS=//p' "$1" | tail -1)
	mkdir -p "$D/run"
	# shellcheck disable=SC2086 # $VVU_DEVICE_ARGS is split into words, as systemd does
	"$R$BIN/dpdk-vvu-device" --vfio-user "$D/run/vfio-user.sock" \
		--vhost-user "$D/run/vhost-user.sock" $args > "$D/run/device.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 50; i++)); do
		[ -S "$D/run/vfio-user.sock" ] && [ -S "$D/run/vhost-user.sock" ] && break
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	if [ ! -S "$D/run/vfio-user.sock" ] || [ ! -S "$D/run/vhost-user.sock" ]; then
		kill -KILL "$pid" 2> /dev/null
		wait "$pid" 2> /dev/null
		echo "dpdk-vvu-device $args made no sockets: $(tail -2 "$D/run/device.log" | tr '\n' ' ')"
		return 1
	fi
	kill -TERM "$pid"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2> /dev/null && echo "dpdk-vvu-device did not exit on SIGTERM" && return 1
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || { echo "dpdk-vvu-device exited $rc on SIGTERM"; return 1; }
}
unit=$R$UNITDIR/dpdk-vvu-device@.service
conf=$R$DATA/doc/dpdk-vvu/examples/dpdk-vvu-device.conf
if [ "$UNITDIR" = no ]; then
	skip systemd_unit "-Dsystemdunitdir=no: no unit installed"
elif ! command -v systemd-analyze > /dev/null; then
	skip systemd_unit "systemd-analyze not installed (apt-get install systemd)"
else
	mkdir -p "$D/units"
	# the unit as installed, its binary looked up in the DESTDIR (verify checks it)
	sed "s|^ExecStart=$BIN/|ExecStart=$R$BIN/|" "$unit" > "$D/units/dpdk-vvu-device@.service"
	if ! grep -q "^ExecStart=$R$BIN/dpdk-vvu-device " "$D/units/dpdk-vvu-device@.service"; then
		fail systemd_unit "ExecStart is not $BIN/dpdk-vvu-device"
	elif ! out=$(cd "$D/units" && timeout 60 systemd-analyze verify \
		"$D/units/dpdk-vvu-device@check.service" 2>&1) || [ -n "$out" ]; then
		# verify exits 0 on unknown keys and bad values: any message is a failure
		fail systemd_unit "systemd-analyze verify: $(head -5 <<<"$out" | tr '\n' ' ')"
	else
		bad=
		# shellcheck disable=SC2013 # one name per word
		for v in $(sed -n 's/^#\{0,1\}\(VVU_[A-Z_]*\)=.*/\1/p' "$conf" | sort -u); do
			grep -q "^Environment=$v=" "$unit" || bad+=" $v"
		done
		help=$("$R$BIN/dpdk-vvu-device" --help 2>&1)
		# shellcheck disable=SC2013 # one option per word
		for o in $(grep -o -- ' --[a-z-]*' "$conf" | sort -u); do
			grep -q -- "${o}[ ,]" <<<"$help" || bad+=" $o"
		done
		if [ -n "$bad" ]; then
			fail systemd_unit "the example environment file names what the unit or the device lacks:$bad"
		elif ! why=$(run_as_unit "$conf"); then
			fail systemd_unit "$why"
		else
			pass systemd_unit
		fi
	fi
fi

# ------------------------------------------------------------ appliance dry run
if ! command -v qemu-system-x86_64 > /dev/null; then
	skip appliance_dry_run "qemu-system-x86_64 not installed"
else
	mkdir -p "$D/image"
	: > "$D/image/vmlinuz"
	: > "$D/image/initramfs.cpio.gz"
	if ! out=$(cd / && timeout 60 "$R$BIN/vvu-appliance.sh" --dry-run --image "$D/image" \
		--vhost-user "$D/fe.sock" 2>&1); then
		fail appliance_dry_run "exit status non-zero: $(tail -2 <<<"$out" | tr '\n' ' ')"
	elif ! grep -q "^$R$BIN/dpdk-vvu-device --qemu-proxy-fd" <<<"$out"; then
		fail appliance_dry_run "the device command is not the installed one: $(head -1 <<<"$out")"
	else
		pass appliance_dry_run
	fi
fi

# ------------------------------------------------------------ quickstart
if [ "$(id -u)" -ne 0 ]; then
	skip quickstart "not root (hugepages)"
elif ! command -v dpdk-testpmd > /dev/null; then
	skip quickstart "no dpdk-testpmd (apt-get install dpdk)"
else
	if (cd / && VVU_DEMO_SECONDS=${VVU_INSTALL_DEMO_SECONDS:-2} timeout -k 10 240 \
		"$R$BIN/vvu-quickstart.sh" --transport vvu) > "$D/quickstart.log" 2>&1; then
		if ! grep -q "installed: $R$BIN/dpdk-vvu-device, library $R$VLIB\$" \
			"$D/quickstart.log"; then
			fail quickstart "it did not run the installed device and library"
			indent 30 < "$D/quickstart.log"
		else
			pass quickstart
			grep -E 'Mpps|link up  ' "$D/quickstart.log" | indent 5
		fi
	else
		fail quickstart "the installed vvu-quickstart.sh failed"
		indent 40 < "$D/quickstart.log"
	fi
fi

exit "$failed"
