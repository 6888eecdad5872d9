#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Build (or reuse) the vhost-user-blk test guest: a Debian cloud kernel and an
# initramfs holding busybox, the kernel's virtio PCI and virtio-blk modules and
# usertools/vvu-blk-guest/init (write a pattern to /dev/vda, read it back, print
# PASS or FAIL, power off). Everything comes from Debian packages.
#
# Usage: usertools/vvu-blk-guest-image.sh [--out DIR] [--force]
#   --out DIR   the image directory (default: build/vvu-blk-guest); it holds vmlinuz,
#               initramfs.cpio.gz, image.key and debs/
#   --force     rebuild even if the cache key has not changed
# Prints the image directory on stdout (the last line); progress goes to stderr.
#
# Cache: image.key names the kernel package and version and the sha256 of this
# script, of usertools/vvu-image-lib.sh, of the init and of busybox; when it equals
# the stored one and the image files exist, nothing is rebuilt. The kernel package
# is the one linux-image-cloud-amd64 depends on (VVU_GUEST_KERNEL_PKG overrides
# it); a .deb already in build/vvu-guest/debs (the appliance image's) is reused.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

usage() { sed -n '9,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
say() { echo "vvu-blk-guest-image: $*" >&2; }
die() { echo "vvu-blk-guest-image: error: $*" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$REPO/usertools/vvu-blk-guest-image.sh
INIT=$REPO/usertools/vvu-blk-guest/init
OUT=$REPO/build/vvu-blk-guest
# missing_packages, kernel_pkg, add_module: shared with vvu-guest-image.sh.
. "$REPO/usertools/vvu-image-lib.sh"
FORCE=0
while [ $# -gt 0 ]; do
	case $1 in
	--out) [ $# -ge 2 ] || { usage >&2; exit 2; }; OUT=$2; shift 2 ;;
	--force) FORCE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done
# virtio_blk and what it needs to find the disk on the PCI bus (dependencies
# come from the .ko files); built-in ones are skipped.
MODULES=(virtio virtio_ring virtio_pci virtio_blk)
[ -f "$INIT" ] || die "missing $INIT"
# What this script runs (objcopy, cpio via busybox, apt-get download) and what the
# guest is made of; installed when missing (root), as vvu-guest-image.sh does.
PKGS=(busybox-static binutils)
mapfile -t missing < <(missing_packages "${PKGS[@]}")
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]} (run as root to install them)"
	say "apt-get install ${missing[*]}"
	{ timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q &&
		timeout 1800 apt-get -o DPkg::Lock::Timeout=600 install -y -q \
			--no-install-recommends "${missing[@]}"; } >&2 ||
		die "apt-get install ${missing[*]} failed"
fi
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
exec 9> "$OUT/.lock"
flock -w 600 9 || die "$OUT is locked by another build for 600 s"

KPKG=${VVU_GUEST_KERNEL_PKG:-$(kernel_pkg)}
[ -n "$KPKG" ] || die "apt-cache does not know linux-image-cloud-amd64 (apt-get update?)"
KVERSION=$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null |
	awk '/^Version:/ { print $2; exit }')
[ -n "$KVERSION" ] || die "apt-cache show $KPKG: no version"

key_text() {
	echo "kernel $KPKG=$KVERSION"
	echo "modules ${MODULES[*]}"
	sha256sum "$SELF" "$REPO/usertools/vvu-image-lib.sh" "$INIT" /bin/busybox |
		sed "s|$REPO/||" | awk '{print "file", $2, $1}'
}
KEY_TEXT=$(key_text)
if [ "$FORCE" = 0 ] && [ -f "$OUT/image.key" ] && [ -f "$OUT/vmlinuz" ] &&
	[ -f "$OUT/initramfs.cpio.gz" ] && [ "$(cat "$OUT/image.key")" = "$KEY_TEXT" ]; then
	say "cache hit in $OUT"
	echo "$OUT"
	exit 0
fi
say "building in $OUT (kernel $KPKG $KVERSION)"
WORK=$OUT/.work
rm -rf "$WORK" "$OUT/image.key"
mkdir -p "$WORK" "$OUT/debs"
# shellcheck disable=SC2317 # invoked by the trap
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

DEBNAME=${KPKG}_${KVERSION//:/%3a}_amd64.deb
DEB=$OUT/debs/$DEBNAME
if [ ! -f "$DEB" ] && [ -f "$REPO/build/vvu-guest/debs/$DEBNAME" ]; then
	cp "$REPO/build/vvu-guest/debs/$DEBNAME" "$DEB"
fi
if [ ! -f "$DEB" ]; then
	rm -f "$OUT/debs/${KPKG}_"*.deb
	say "apt-get download $KPKG=$KVERSION"
	(cd "$OUT/debs" && timeout 900 apt-get download -q -o APT::Sandbox::User=root \
		"$KPKG=$KVERSION" >&2) || die "apt-get download $KPKG=$KVERSION failed"
fi
dpkg-deb -x "$DEB" "$WORK/kernel"
KVER=$(ls "$WORK/kernel/lib/modules")
[ "$(wc -w <<<"$KVER")" = 1 ] || die "$DEB: expected one module directory, got: $KVER"
KMOD=$WORK/kernel/lib/modules/$KVER

mapfile -t KOS < <(find "$KMOD/kernel" -name '*.ko')
ORDER=()
declare -A SEEN=()
for m in "${MODULES[@]}"; do add_module "$m"; done

ROOT=$WORK/root
mkdir -p "$ROOT"/{usr/bin,usr/lib/modules/blk,proc,sys,dev,tmp,etc/blk-guest}
for d in bin sbin; do ln -s "usr/bin" "$ROOT/$d"; done
ln -s bin "$ROOT/usr/sbin"
install -m 0755 /bin/busybox "$ROOT/usr/bin/busybox"
install -m 0755 "$INIT" "$ROOT/init"
: > "$ROOT/etc/blk-guest/modules"
for f in "${ORDER[@]}"; do
	install -m 0644 "$f" "$ROOT/usr/lib/modules/blk/"
	basename "$f" .ko >> "$ROOT/etc/blk-guest/modules"
done
(cd "$ROOT" && find . | sort | busybox cpio -o -H newc 2>/dev/null) | gzip -6 > "$WORK/initramfs"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
mv "$WORK/vmlinuz" "$OUT/vmlinuz"
mv "$WORK/initramfs" "$OUT/initramfs.cpio.gz"
echo "$KEY_TEXT" > "$OUT/image.key"
say "built: kernel $KVER, modules $(tr '\n' ' ' < "$ROOT/etc/blk-guest/modules")"
echo "$OUT"
