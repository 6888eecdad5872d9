#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Build (or reuse) the VVU appliance guest image: a Debian cloud kernel and an
# initramfs holding busybox, the kernel's VFIO modules, Debian's dpdk-testpmd with
# the shared libraries it needs, a few DPDK plugins, OUR librte_vhost.so.23 and,
# when the build has it, our examples/vhost_switch (dpdk-vhost-switch).
# Everything comes from Debian packages and from the project's build; nothing
# else is downloaded.
#
# Usage: usertools/vvu-guest-image.sh [--build DIR] [--lib DIR] [--out DIR] [--force]
#                                     [--no-smoke]
#   --build DIR   the meson build dir whose lib/vhost/librte_vhost.so.23 and
#                 examples/vhost_switch/dpdk-vhost-switch go into the image
#                 (default: build/ of this repository; build it first)
#   --lib DIR     take librte_vhost.so.23 from DIR instead (default: <build>/lib/vhost;
#                 installed, without --build: the installed <libdir>/dpdk-vvu)
#   --out DIR     the image directory (default: <build>/vvu-guest; installed, without
#                 --build: /var/cache/dpdk-vvu/vvu-guest); it holds
#                 vmlinuz, initramfs.cpio.gz, image.key, image.info and debs/
#   --force       rebuild even if the cache key has not changed
#   --no-smoke    skip the check that dpdk-testpmd starts in the image's root (chroot)
# Prints the image directory on stdout (the last line); progress goes to stderr.
#
# Cache: image.key lists what the image is made of (the Debian kernel package and
# its version; the sha256 of this script, of usertools/vvu-image-lib.sh, of the
# guest's /init and vfio-probe.c, of our library, of dpdk-vhost-switch (or "none")
# and of every file copied from this machine: busybox, dpdk-testpmd, libraries,
# plugins; the versions of gcc and libc6-dev that build vfio-probe). When
# it equals the stored one and the image files exist, nothing is rebuilt.
#
# Environment: VVU_GUEST_PMDS  the DPDK plugins the guest's EAL loads besides those
#   dpdk-testpmd links anyway (default "bus_pci bus_vdev mempool_ring net_vhost");
#   VVU_GUEST_KERNEL_PKG  a linux-image-* package instead of the one
#   linux-image-cloud-amd64 depends on.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

usage() { sed -n '11,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
say() { echo "vvu-guest-image: $*" >&2; }
die() { echo "vvu-guest-image: error: $*" >&2; exit 1; }

# In a checkout, REPO is the repository; installed (meson install), it is
# <datadir>/dpdk-vvu (usertools/vvu-guest is installed there), whose layout.sh
# says where the installed library is.
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/.." && pwd)
SELF=$REPO/usertools/vvu-guest-image.sh
GUEST_SRC=$REPO/usertools/vvu-guest
BUILD=$REPO/build
if [ -f "$REPO/layout.sh" ]; then
	# shellcheck source=/dev/null # written by meson install
	. "$REPO/layout.sh"
	BUILD=
fi
# missing_packages, kernel_pkg, add_module: shared with vvu-blk-guest-image.sh.
. "$REPO/usertools/vvu-image-lib.sh"
OUT=
LIBDIR=
FORCE=0
SMOKE=1
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || { usage >&2; exit 2; }; BUILD=$2; shift 2 ;;
	--out) [ $# -ge 2 ] || { usage >&2; exit 2; }; OUT=$2; shift 2 ;;
	--lib) [ $# -ge 2 ] || { usage >&2; exit 2; }; LIBDIR=$2; shift 2 ;;
	--force) FORCE=1; shift ;;
	--no-smoke) SMOKE=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done
if [ -n "$BUILD" ]; then
	BUILD=$(realpath "$BUILD")
	OUT=${OUT:-$BUILD/vvu-guest}
	LIBDIR=$(realpath "${LIBDIR:-$BUILD/lib/vhost}")
	SWITCH=$BUILD/examples/vhost_switch/dpdk-vhost-switch
else # installed, no --build
	OUT=${OUT:-/var/cache/dpdk-vvu/vvu-guest}
	LIBDIR=$(realpath "${LIBDIR:-$VVU_VHOST_LIBDIR}")
	SWITCH=$VVU_BINDIR/dpdk-vhost-switch
fi
# Optional (a fuzz build has none): the image then has no switch.
[ -x "$SWITCH" ] || SWITCH=
OURS=$LIBDIR/librte_vhost.so.23
TESTPMD=/usr/bin/dpdk-testpmd
PMD_DIR=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0
PMDS=${VVU_GUEST_PMDS:-bus_pci bus_vdev mempool_ring net_vhost}
# The modules the guest loads (their dependencies are found in the .ko files).
MODULES=(vfio vfio_iommu_type1 vfio-pci)
T0=$(date +%s.%N)

[ -f "$OURS" ] || die "no $OURS: build first (meson setup build && ninja -C build)"
for f in init vfio-probe.c; do [ -f "$GUEST_SRC/$f" ] || die "missing $GUEST_SRC/$f"; done
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

# One build at a time per image directory (bounded wait).
exec 9> "$OUT/.lock"
flock -w 900 9 || die "$OUT is locked by another build for 900 s"

# ------------------------------------------------------------------ packages
PKGS=(busybox-static dpdk dpdk-dev binutils gcc libc6-dev qemu-system-x86 util-linux)
APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" = 1 ] && return 0
	say "apt-get update"
	timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || die "apt-get update failed"
	APT_UPDATED=1
}
mapfile -t missing < <(missing_packages "${PKGS[@]}")
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]} (run as root to install them)"
	apt_update
	say "apt-get install ${missing[*]}"
	timeout 1800 apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
		"${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi

# The kernel: the package linux-image-cloud-amd64 depends on, at its candidate version.
KPKG=${VVU_GUEST_KERNEL_PKG:-$(kernel_pkg)}
if [ -z "$KPKG" ]; then
	apt_update
	KPKG=$(kernel_pkg)
fi
[ -n "$KPKG" ] || die "apt-cache does not know linux-image-cloud-amd64"
KVERSION=$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
[ -n "$KVERSION" ] || die "apt-cache show $KPKG: no version"

# ------------------------------------------------------------------ closure
# What the guest's dynamic linker will load: dpdk-testpmd, the plugins, and our
# library, resolved with our library first (as LD_LIBRARY_PATH does in the guest).
PLUGINS=()
for p in $PMDS; do
	f=$PMD_DIR/librte_$p.so.23.0
	[ -f "$f" ] || die "no DPDK plugin $f"
	PLUGINS+=("$f")
done
# The switch's RUNPATH names the build's (or the installed) library directory;
# LD_LIBRARY_PATH comes first, so it resolves to the library under test too.
LDD=$(LD_LIBRARY_PATH=$LIBDIR ldd "$TESTPMD" "${PLUGINS[@]}" "$OURS" ${SWITCH:+"$SWITCH"}) ||
	die "ldd failed"
if grep -F 'not found' <<<"$LDD" >&2; then die "unresolved libraries (above)"; fi
# name -> path, unique by name
declare -A LIBS=()
while read -r name arrow path _; do
	if [ "$arrow" = "=>" ] && [ -n "$path" ] && [ "${path:0:1}" = / ]; then
		LIBS[$name]=$path
	elif [ "${name:0:1}" = / ]; then
		LIBS[$name]=$name # the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
	fi
done < <(grep -E '^\s' <<<"$LDD")
[ "${LIBS[librte_vhost.so.23]:-}" = "$OURS" ] ||
	die "librte_vhost.so.23 resolved to '${LIBS[librte_vhost.so.23]:-}', not $OURS"
unset 'LIBS[librte_vhost.so.23]'
# Loaded at run time with dlopen, so ldd does not list it: glibc needs libgcc_s for
# pthread_cancel (EAL cancels its threads at exit) and aborts without it.
RUNTIME_LIBS=(libgcc_s.so.1)
for n in "${RUNTIME_LIBS[@]}"; do
	LIBS[$n]=
	for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu; do
		if [ -f "$d/$n" ]; then LIBS[$n]=$d/$n; break; fi
	done
	[ -n "${LIBS[$n]}" ] || die "no $n on this machine"
done
# Every host file that goes into the image (real paths).
HOSTFILES=(/bin/busybox "$TESTPMD" "${PLUGINS[@]}")
for n in "${!LIBS[@]}"; do HOSTFILES+=("${LIBS[$n]}"); done
mapfile -t HOSTFILES < <(for f in "${HOSTFILES[@]}"; do realpath "$f"; done | sort -u)

# ------------------------------------------------------------------ cache key
key_text() {
	echo "kernel $KPKG=$KVERSION"
	echo "pmds $PMDS"
	echo "modules ${MODULES[*]}"
	echo "toolchain gcc=$(dpkg-query -W -f='${Version}' gcc) libc6-dev=$(dpkg-query -W -f='${Version}' libc6-dev)"
	sha256sum "$SELF" "$REPO/usertools/vvu-image-lib.sh" "$GUEST_SRC/init" \
		"$GUEST_SRC/vfio-probe.c" |
		sed "s|$REPO/||" | awk '{print "source", $2, $1}'
	echo "librte_vhost $(sha256sum < "$OURS" | cut -d' ' -f1)"
	if [ -n "$SWITCH" ]; then
		echo "vhost_switch $(sha256sum < "$SWITCH" | cut -d' ' -f1)"
	else
		echo "vhost_switch none"
	fi
	sha256sum "${HOSTFILES[@]}" | awk '{print "host", $2, $1}'
}
KEY_TEXT=$(key_text)
KEY=$(sha256sum <<<"$KEY_TEXT" | cut -c1-16)
if [ "$FORCE" = 0 ] && [ -f "$OUT/image.key" ] && [ -f "$OUT/vmlinuz" ] &&
	[ -f "$OUT/initramfs.cpio.gz" ] && [ "$(cat "$OUT/image.key")" = "$KEY_TEXT" ]; then
	say "cache hit: image $KEY in $OUT ($(du -sh "$OUT/initramfs.cpio.gz" | cut -f1) initramfs," \
		"$(awk -v t="$T0" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - t}') s)"
	echo "$OUT"
	exit 0
fi
say "building image $KEY in $OUT (kernel $KPKG $KVERSION, our library $OURS)"
[ "$(id -u)" -eq 0 ] || die "building the image needs root (chroot smoke test)"

WORK=$OUT/.work
rm -rf "$WORK" "$OUT/image.key"
mkdir -p "$WORK" "$OUT/debs"
# shellcheck disable=SC2317 # invoked by the trap
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# ------------------------------------------------------------------ kernel
DEB=$OUT/debs/${KPKG}_${KVERSION//:/%3a}_amd64.deb
if [ ! -f "$DEB" ] || [ "$(dpkg-deb -f "$DEB" Version 2>/dev/null || true)" != "$KVERSION" ]; then
	rm -f "$OUT/debs/${KPKG}_"*.deb
	say "apt-get download $KPKG=$KVERSION"
	# apt's sandbox user cannot write every directory: download in a private one
	(cd "$OUT/debs" && timeout 900 apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KVERSION" >&2) ||
		{ apt_update; (cd "$OUT/debs" && timeout 900 apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KVERSION" >&2); } ||
		die "apt-get download $KPKG=$KVERSION failed"
	DEB=$(ls "$OUT/debs/${KPKG}_"*.deb)
fi
dpkg-deb -x "$DEB" "$WORK/kernel"
KVER=$(ls "$WORK/kernel/lib/modules")
[ "$(wc -w <<<"$KVER")" = 1 ] || die "$DEB: expected one module directory, got: $KVER"
KMOD=$WORK/kernel/lib/modules/$KVER
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$WORK/vmlinuz"

# Module load order: each module after its dependencies (add_module).
mapfile -t KOS < <(find "$KMOD/kernel" -name '*.ko')
ORDER=()
declare -A SEEN=()
for m in "${MODULES[@]}"; do add_module "$m"; done

# ------------------------------------------------------------------ root
ROOT=$WORK/root
mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,proc,sys,dev,tmp,run,root}
mkdir -p "$ROOT"/{etc/vvu-guest,opt/vvu/lib,usr/lib/modules/"$KVER"/vvu} "$ROOT$PMD_DIR"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$ROOT/$d"; done
mkdir -p "$ROOT/var"
ln -s /run "$ROOT/var/run"

install -m 0755 /bin/busybox "$ROOT/usr/bin/busybox"
install -m 0755 "$GUEST_SRC/init" "$ROOT/init"
install -m 0755 "$TESTPMD" "$ROOT/usr/bin/dpdk-testpmd"
if [ -n "$SWITCH" ]; then
	install -m 0755 "$SWITCH" "$ROOT/usr/bin/dpdk-vhost-switch"
else
	say "no dpdk-vhost-switch in the build: the image has none"
fi
gcc -static -O2 -Wall -Wextra -Werror -o "$ROOT/usr/bin/vfio-probe" "$GUEST_SRC/vfio-probe.c" ||
	die "cannot build vfio-probe"
strip "$ROOT/usr/bin/vfio-probe"
install -m 0755 "$(realpath "$OURS")" "$ROOT/opt/vvu/lib/librte_vhost.so.23"
for n in "${!LIBS[@]}"; do
	p=${LIBS[$n]}
	r=$(realpath "$p")
	[ -e "$ROOT$r" ] || install -D -m 0755 "$r" "$ROOT$r"
	# the name the linker looks for, in the directory it looks in
	case $p in
	/lib64/*) link=/usr/lib64/${n##*/} ;;
	*) link=/usr/lib/x86_64-linux-gnu/$(basename "$n") ;;
	esac
	[ "$link" = "$r" ] || [ -e "$ROOT$link" ] || ln -s "$r" "$ROOT$link"
done
for f in "${PLUGINS[@]}"; do
	r=$(realpath "$f")
	[ -e "$ROOT$r" ] || install -m 0755 "$r" "$ROOT$r"
done
: > "$ROOT/etc/vvu-guest/modules"
for f in "${ORDER[@]}"; do
	install -m 0644 "$f" "$ROOT/usr/lib/modules/$KVER/vvu/"
	basename "$f" .ko >> "$ROOT/etc/vvu-guest/modules"
done
echo "$KEY ($KPKG $KVERSION)" > "$ROOT/etc/vvu-guest/image"
if find "$ROOT" -name 'librte_vhost*' ! -path "$ROOT/opt/vvu/lib/*" | grep .; then
	die "another librte_vhost is in the image (above)"
fi

# ------------------------------------------------------------------ smoke
# dpdk-testpmd must start in the image's root with only what the image holds: a
# chroot in a private mount namespace (proc, sys, dev bound there only), no
# hugepages, net_vhost on an AF_UNIX socket; the dynamic linker must take our
# library from /opt/vvu/lib, and the exit (which cancels EAL's threads) must be clean.
if [ "$SMOKE" = 1 ]; then
	say "smoke test: dpdk-testpmd in a chroot of the image's root"
	printf 'show port info 0\nquit\n' > "$ROOT/tmp/smoke.in"
	# shellcheck disable=SC2016 # $1 is expanded by the inner sh
	if ! timeout -k 5 120 unshare --mount --propagation private sh -c '
		set -e
		mount -t proc proc "$1/proc"
		mount --rbind /sys "$1/sys"
		mount --rbind /dev "$1/dev"
		exec chroot "$1" /bin/busybox env LD_LIBRARY_PATH=/opt/vvu/lib LD_DEBUG=files \
			/usr/bin/dpdk-testpmd --lcores 0@0,1@0 --no-huge -m 64 --no-pci --file-prefix smoke \
			--vdev net_vhost0,iface=/tmp/smoke.sock -- -i --total-num-mbufs=2048 \
			< "$1/tmp/smoke.in"' smoke "$ROOT" > "$WORK/smoke.log" 2>&1; then
		tail -30 "$WORK/smoke.log" >&2
		die "dpdk-testpmd does not start in the image's root (log above)"
	fi
	loaded=$(sed -n 's/.*calling init: \(.*librte_vhost.*\)/\1/p' "$WORK/smoke.log" | sort -u)
	[ "$loaded" = /opt/vvu/lib/librte_vhost.so.23 ] ||
		{ tail -30 "$WORK/smoke.log" >&2; die "smoke test loaded librte_vhost '$loaded'"; }
	if ! grep -aq 'Port 0: ' "$WORK/smoke.log" || ! grep -aq 'Bye' "$WORK/smoke.log"; then
		tail -30 "$WORK/smoke.log" >&2
		die "smoke test: no port 0 or no clean exit"
	fi
	say "smoke test ok: testpmd started and quit, librte_vhost from /opt/vvu/lib"
	# The switch's libraries: its -h runs after the dynamic linker loaded them all.
	if [ -n "$SWITCH" ]; then
		if ! timeout -k 5 60 chroot "$ROOT" /bin/busybox env LD_LIBRARY_PATH=/opt/vvu/lib \
			LD_DEBUG=files /usr/bin/dpdk-vhost-switch -- -h > "$WORK/smoke-switch.log" 2>&1; then
			tail -30 "$WORK/smoke-switch.log" >&2
			die "dpdk-vhost-switch -h fails in the image's root (log above)"
		fi
		loaded=$(sed -n 's/.*calling init: \(.*librte_vhost.*\)/\1/p' "$WORK/smoke-switch.log" |
			sort -u)
		if [ "$loaded" != /opt/vvu/lib/librte_vhost.so.23 ] ||
			! grep -q -- '--port PATH' "$WORK/smoke-switch.log"; then
			tail -30 "$WORK/smoke-switch.log" >&2
			die "smoke test: the switch loaded librte_vhost '$loaded', or no usage"
		fi
		say "smoke test ok: dpdk-vhost-switch -h, librte_vhost from /opt/vvu/lib"
	fi
	rm -rf "${ROOT:?}"/tmp/* "$ROOT/run"/*
fi

# ------------------------------------------------------------------ pack
(cd "$ROOT" && find . | sort | busybox cpio -o -H newc 2>/dev/null) |
	gzip -6 > "$WORK/initramfs.cpio.gz"
mv "$WORK/vmlinuz" "$OUT/vmlinuz"
mv "$WORK/initramfs.cpio.gz" "$OUT/initramfs.cpio.gz"
SECS=$(awk -v t="$T0" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - t}')
{
	echo "image $KEY"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $SECS s"
	echo "kernel $KVER ($KPKG $KVERSION)"
	echo "modules $(tr '\n' ' ' < "$ROOT/etc/vvu-guest/modules")"
	echo "vmlinuz $(stat -c %s "$OUT/vmlinuz") bytes"
	echo "initramfs $(stat -c %s "$OUT/initramfs.cpio.gz") bytes compressed," \
		"$(du -sb "$ROOT" | cut -f1) bytes unpacked, $(find "$ROOT" -type f | wc -l) files"
	echo "plugins $PMDS"
	echo "vhost_switch ${SWITCH:-none}"
	echo "plugin dir $PMD_DIR: $(find "$ROOT$PMD_DIR" -type f | wc -l) files (the plugins" \
		"and, as in Debian's layout, the PMDs dpdk-testpmd links)"
	echo "debian packages:"
	# merged /usr: dpkg knows some files by their /lib path
	{ dpkg -S "${HOSTFILES[@]}" "${HOSTFILES[@]#/usr}" 2>/dev/null || true; } |
		cut -d: -f1 | tr -d ' ' | tr ',' '\n' | sort -u |
		xargs -r dpkg-query -W -f="  \${Package} \${Version}\n"
	echo "key:"
	while read -r line; do echo "  $line"; done <<<"$KEY_TEXT"
} > "$OUT/image.info"
echo "$KEY_TEXT" > "$OUT/image.key"
say "built image $KEY in $SECS s: vmlinuz $(du -h "$OUT/vmlinuz" | cut -f1)," \
	"initramfs $(du -h "$OUT/initramfs.cpio.gz" | cut -f1) ($(du -sh "$ROOT" | cut -f1) unpacked)"
echo "$OUT"
