# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Helpers shared by usertools/vvu-guest-image.sh and usertools/vvu-blk-guest-image.sh
# (Debian packages, the guest kernel's modules); vvu-quickstart.sh uses
# missing_packages. Sourced, not run: the sourcing script defines say and die.

# missing_packages PKG...: print, one a line, the packages dpkg does not have installed.
missing_packages() {
	local p
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = 'install ok installed' ] ||
			echo "$p"
	done
}

# kernel_pkg: the linux-image-* package linux-image-cloud-amd64 depends on (empty when
# apt-cache does not know it).
kernel_pkg() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# Module load order: add_module NAME appends to ORDER the .ko of NAME after those of
# its dependencies (depends= of .modinfo); a built-in one (modules.builtin) needs
# nothing. The sourcing script sets KOS (every .ko of the kernel), KMOD (its module
# directory) and KVER, and declares ORDER=() and the associative array SEEN.
modinfo_depends() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout 2>/dev/null | tr '\0' '\n' |
		sed -n 's/^depends=//p' | tr ',' ' '
}
mod_file() { # NAME -> path of NAME.ko ("-" and "_" are the same in module names)
	local n=${1//-/_} f b
	for f in "${KOS[@]}"; do
		b=${f##*/}
		b=${b%.ko}
		if [ "${b//-/_}" = "$n" ]; then
			echo "$f"
			return 0
		fi
	done
}
add_module() {
	local name=$1 f d
	[ -z "${SEEN[${name//-/_}]:-}" ] || return 0
	SEEN[${name//-/_}]=1
	f=$(mod_file "$name")
	if [ -z "$f" ]; then
		grep -Eq "/${name//[-_]/[-_]}\.ko$" "$KMOD/modules.builtin" ||
			die "kernel $KVER has no module $name"
		say "module $name is built in"
		return 0
	fi
	for d in $(modinfo_depends "$f"); do add_module "$d"; done
	ORDER+=("$f")
}
