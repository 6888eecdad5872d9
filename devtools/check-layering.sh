#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Layering check: do the components keep to their boundaries?
#
# Usage: devtools/check-layering.sh [BUILD_DIR]   (default: build, or $VVU_BUILD_DIR)
#
# Prints one line per check in the unit tests' format (devtools/test.sh counts them):
#   PASS: layering/<check>   or   FAIL: layering/<check>: <why>
# Checks:
#   no_common_symbols  no global symbol is defined by both the driver's objects
#                      (drivers/virtio_vhost_user) and the device's (app/vvu-device)
#   driver_prefix      every global symbol of the driver starts with vvu_drv_
#   device_prefix      every global symbol of the device starts with vvu_dev_
#   lib_no_driver      lib/ includes no header of drivers/ or app/
#   af_unix_only       lib/vhost/trans_af_unix.c knows no other transport's paths
#                      (no vfio-user prefix, PCI address, VVU flag)
#   meson_plain        meson files list sources with plain files(): no fs.exists() or
#                      is_variable() guard makes a missing file or component silent
#   spec_cites         every "vvu_device_spec.rst §L.n" cited in the sources names a
#                      section of doc/guides/vvu_device_spec.rst
# Exit status: 0 if every check passed, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-${VVU_BUILD_DIR:-$here/build}}
failed=0

pass() { echo "PASS: layering/$1"; }
fail() { echo "FAIL: layering/$1: $2"; failed=1; }

command -v nm >/dev/null || { echo "FAIL: layering/tools: nm not found (binutils)"; exit 1; }

# Global symbols defined by a set of object files, one per line.
defined() {
	[ $# -gt 0 ] || return 0
	nm --defined-only -g "$@" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u
}

mapfile -t drv_objs < <(find "$build/lib/vhost" -name '*drivers_virtio_vhost_user_*.o' | sort)
dev_lib=$build/app/vvu-device/libvvu_device_internal.a
if [ ${#drv_objs[@]} -eq 0 ] || [ ! -f "$dev_lib" ]; then
	fail objects "driver objects or $dev_lib not found under $build (build first)"
	exit 1
fi
drv_syms=$(defined "${drv_objs[@]}")
dev_syms=$(defined "$dev_lib")

common=$(comm -12 <(echo "$drv_syms") <(echo "$dev_syms") | tr '\n' ' ')
if [ -z "$common" ]; then
	pass no_common_symbols
else
	fail no_common_symbols "defined by both: $common"
fi

bad=$(echo "$drv_syms" | grep -v '^vvu_drv_' | tr '\n' ' ' || true)
if [ -z "$bad" ]; then pass driver_prefix; else fail driver_prefix "not vvu_drv_: $bad"; fi
bad=$(echo "$dev_syms" | grep -v '^vvu_dev_' | tr '\n' ' ' || true)
if [ -z "$bad" ]; then pass device_prefix; else fail device_prefix "not vvu_dev_: $bad"; fi

# lib/ depends on nothing above it: no driver or device header.
headers=$( (cd "$here/drivers" && ls ./*/*.h; cd "$here/app" && ls ./*/*.h) 2>/dev/null |
	xargs -n1 basename | sort -u)
bad=
for h in $headers; do
	if grep -rlF "#include \"$h\"" "$here/lib" >/dev/null 2>&1; then
		bad+="$h "
	fi
done
if [ -z "$bad" ]; then pass lib_no_driver; else fail lib_no_driver "lib/ includes $bad"; fi

# The fallback transport claims what the others leave: it parses none of their forms.
bad=$(grep -niE 'vfio|pci|vvu|VIRTIO_TRANSPORT|rte_vhost_vvu' "$here/lib/vhost/trans_af_unix.c" |
	head -3 | tr '\n' ' ' || true)
if [ -z "$bad" ]; then pass af_unix_only; else fail af_unix_only "mentions: $bad"; fi

# A missing source or dependency must fail the configure, not vanish from the build.
bad=$(cd "$here" && git ls-files '*meson.build' 2>/dev/null | xargs grep -lE 'fs\.exists|is_variable' \
	2>/dev/null | tr '\n' ' ' || true)
if [ -z "$bad" ]; then pass meson_plain; else fail meson_plain "guards in $bad"; fi

# Every section a comment cites exists in the specification.
spec=$here/doc/guides/vvu_device_spec.rst
sections=$(grep -oE '^L\.[0-9]+ ' "$spec" | tr -d ' ' | sort -u)
cited=$(grep -rhoE 'vvu_device_spec\.rst §L\.[0-9]+' "$here/lib" "$here/drivers" "$here/app" \
	"$here/include" "$here/devtools" "$here/doc" 2>/dev/null | sed 's/.*§//' | sort -u)
bad=$(comm -13 <(echo "$sections") <(echo "$cited") | tr '\n' ' ')
stray=$(grep -rnE '§L\.[0-9]' "$here/lib" "$here/drivers" "$here/app" "$here/include" \
	"$here/devtools" --include='*.[ch]' 2>/dev/null | grep -v 'vvu_device_spec\.rst §L' |
	head -3 || true)
if [ -z "$bad" ] && [ -z "$stray" ]; then
	pass spec_cites
else
	fail spec_cites "sections not in $spec: ${bad:-none}; cites without the file: ${stray:-none}"
fi

exit $failed
