#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# THE test command. On a fresh Debian 12 machine, as root:   devtools/test.sh
#
# 1. installs what is missing (apt-get), reserves hugepages
# 2. builds (meson setup build -Dwerror=true; ninja)                    -> build/gcc
# 3. ABI check against Debian's librte_vhost.so.23 (devtools/check-abi.sh) -> abi/*
#    and the layering check (devtools/check-layering.sh)                  -> layering/*
# 4. C unit tests: every executable registered with meson test()          -> <binary>/<case>
# 5. the same unit tests built with ASan+UBSan in build-asan               -> asan/<binary>/<case>
# 6. fuzz smoke: clang build in build-fuzz (-Dfuzz=true), each target ~20 s -> fuzz/<target>
#    (with devtools/fuzz/<target>.dict as -dict= when it exists)
# 7. end-to-end suites in dts/ with pytest (real testpmd peers)            -> dts/<test>
# 8. a dts subset on build-asan, no sanitizer report in any process        -> asan-dts/<test>
# 9. docs: sphinx-build -W of doc/guides, the API page covers rte_vhost_vvu.h -> docs/*
# 10. install: meson install into a DESTDIR, the installed demo, pkg-config,
#    the systemd unit (devtools/check-install.sh)                          -> install/*
#
# Every result is one line "PASS: name", "FAIL: name: why" or "SKIP: name: reason";
# the last line is "N passed, N failed[, N skipped]"; the exit status is non-zero
# if anything failed. A step whose prerequisites are absent (no unit tests or fuzz
# targets yet) contributes nothing, or a SKIP with its reason; never a pass.
#
# Environment:
#   VVU_TEST_STEPS   steps to run, default "build abi layering unit asan fuzz dts asan-dts
#                    docs install"
#   VHOST_LIB_DIR    library the dts back-end uses (default build/lib/vhost;
#                    "debian" = Debian's own, to validate the harness)
#   FUZZ_SECONDS     per fuzz target (default 20)
#   ASAN_DTS_TESTS   the dts tests (pytest node ids) the asan-dts step runs
#   VVU_TEST_LOGS    where step logs go (default build-logs)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
STEPS=${VVU_TEST_STEPS:-build abi layering unit asan fuzz dts asan-dts docs install}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
LOGS=${VVU_TEST_LOGS:-$REPO/build-logs}
PY=/usr/bin/python3 # Debian's, whatever PATH says (pytest comes from python3-pytest)
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
mkdir -p "$LOGS"

passed=0
failed=0
skipped=0
T0=$(date +%s)

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP: $1: $2"; skipped=$((skipped + 1)); }
step() { echo; echo "=== $1 ($(($(date +%s) - T0)) s)"; }
want() { [[ " $STEPS " == *" $1 "* ]]; }
# Count the PASS/FAIL/SKIP lines of a result file (one per line, already printed).
count() {
	local p f s
	p=$(grep -c '^PASS: ' "$1" || true)
	f=$(grep -c '^FAIL: ' "$1" || true)
	s=$(grep -c '^SKIP: ' "$1" || true)
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}
finish() {
	echo
	echo "logs: $LOGS  (total $(($(date +%s) - T0)) s)"
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	if [ "$failed" -eq 0 ]; then exit 0; fi
	exit 1
}

# ---------------------------------------------------------------- packages
step "packages"
PKGS=(dpdk dpdk-dev libdpdk-dev meson ninja-build pkg-config gcc libc6-dev binutils
	libnuma-dev libjansson-dev clang libclang-rt-14-dev python3 python3-pytest
	python3-pyelftools coreutils util-linux procps dpdk-doc python3-sphinx)
missing=()
for p in "${PKGS[@]}"; do
	# no "| grep -q" under pipefail: grep may exit before the writer is done
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != 'install ok installed' ]; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		fail setup/packages "missing ${missing[*]} and not root"
		finish
	fi
	if ! { timeout 900 apt-get update -q &&
		timeout 1800 apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
		> "$LOGS/apt.log" 2>&1; then
		tail -20 "$LOGS/apt.log"
		fail setup/packages "apt-get install ${missing[*]} failed (see $LOGS/apt.log)"
		finish
	fi
fi
echo "packages: all present"

# ---------------------------------------------------------------- hugepages
step "hugepages"
if [ "$(id -u)" -eq 0 ]; then
	if ! bash usertools/vvu-hugepages.sh; then
		fail setup/hugepages "could not reserve hugepages (dts will skip)"
	fi
else
	echo "not root: leaving hugepages as they are"
fi

# ---------------------------------------------------------------- build
# meson_config DIR LOG ARGS...: configure DIR (fresh, or reconfigure with ARGS).
meson_config() {
	local dir=$1 log=$2
	shift 2
	if [ -f "$dir/build.ninja" ]; then
		timeout 600 meson configure "$dir" "$@" > "$log" 2>&1
	else
		rm -rf "$dir"
		timeout 600 meson setup "$dir" "$@" > "$log" 2>&1
	fi
}
# meson_build DIR LOG ARGS...: configure and build everything.
meson_build() {
	meson_config "$@" && timeout 1800 ninja -C "$1" >> "$2" 2>&1
}
built=no
if want build; then
	step "build (gcc, -Dwerror=true)"
	if meson_build build "$LOGS/build.log" -Dwerror=true -Dtests=true -Dfuzz=false; then
		pass build/gcc
		built=yes
	else
		grep -E 'error|Error|ERROR' "$LOGS/build.log" | head -30 || true
		tail -5 "$LOGS/build.log"
		fail build/gcc "meson/ninja failed (see $LOGS/build.log)"
	fi
elif [ -f build/build.ninja ]; then
	built=yes # steps after build use an existing build dir
fi

# ---------------------------------------------------------------- abi
if want abi; then
	step "ABI check against Debian's librte_vhost.so.23"
	if [ "$built" = yes ]; then
		bash devtools/check-abi.sh build/lib/vhost/librte_vhost.so.23 > "$LOGS/abi.txt" 2>&1 || true
		cat "$LOGS/abi.txt"
		count "$LOGS/abi.txt"
		grep -q '^\(PASS\|FAIL\): ' "$LOGS/abi.txt" || fail abi "check-abi.sh printed no result"
	else
		skip abi "no build"
	fi
fi

# ---------------------------------------------------------------- layering
if want layering; then
	step "layering check (symbols, includes, spec cites)"
	if [ "$built" = yes ]; then
		bash devtools/check-layering.sh build > "$LOGS/layering.txt" 2>&1 || true
		cat "$LOGS/layering.txt"
		count "$LOGS/layering.txt"
		grep -q '^\(PASS\|FAIL\): ' "$LOGS/layering.txt" ||
			fail layering "check-layering.sh printed no result"
	else
		skip layering "no build"
	fi
fi

# ---------------------------------------------------------------- unit tests
# run_unit_tests BUILD_DIR PREFIX: run every meson test() executable directly
# (bounded by its meson timeout), print its PASS/FAIL/SKIP lines with PREFIX,
# and a FAIL for a binary that failed or crashed without saying which case.
run_unit_tests() {
	local dir=$1 prefix=$2 out=$3
	"$PY" - "$dir" "$prefix" > "$out" 2>&1 <<'EOF' || true
import json, os, re, subprocess, sys
build, prefix = sys.argv[1], sys.argv[2]
tests = json.loads(subprocess.run(["meson", "introspect", build, "--tests"],
                                  capture_output=True, text=True, check=True).stdout)
if not tests:
    print(f"(no unit tests registered in {build})")
for t in tests:
    env = dict(os.environ, **(t.get("env") or {}))
    timeout = t.get("timeout") or 120
    try:
        r = subprocess.run(t["cmd"], cwd=t.get("workdir") or build, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        out, code = r.stdout.decode(errors="replace"), r.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or b"").decode(errors="replace"), f"timeout {timeout}s"
    lines = out.splitlines()
    results = [l for l in lines if re.match(r"(PASS|FAIL|SKIP): ", l)]
    for l in results:
        kind, rest = l.split(": ", 1)
        print(f"{kind}: {prefix}{rest}")
    fails = any(l.startswith("FAIL: ") for l in results)
    if code != 0 and not fails:
        print(f"FAIL: {prefix}{t['name']}: exited with {code} after {len(results)} results")
        print("\n".join("    " + l for l in lines[-25:]))
    elif fails:
        print("\n".join("    " + l for l in lines if not re.match(r"(PASS|SKIP): ", l))[-4000:])
    if not results and code == 0:
        print(f"(note: {t['name']} printed no PASS/FAIL/SKIP line)")
EOF
	cat "$out"
	count "$out"
}

if want unit; then
	step "unit tests (gcc build)"
	if [ "$built" = yes ]; then
		run_unit_tests build "" "$LOGS/unit.txt"
	else
		skip unit "no build"
	fi
fi

# ---------------------------------------------------------------- asan
if want asan; then
	step "unit tests under ASan+UBSan (build-asan)"
	if meson_build build-asan "$LOGS/build-asan.log" -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized -Dtests=true -Dfuzz=false; then
		ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
			run_unit_tests build-asan "asan/" "$LOGS/unit-asan.txt"
	else
		grep -E 'error|Error|ERROR' "$LOGS/build-asan.log" | head -30 || true
		fail build/asan "meson/ninja failed (see $LOGS/build-asan.log)"
	fi
fi

# ---------------------------------------------------------------- fuzz
if want fuzz; then
	step "fuzz smoke (build-fuzz, clang, ${FUZZ_SECONDS} s per target)"
	# run.sh builds build-fuzz and prints one PASS/FAIL line per target.
	rc=0
	FUZZ_LOGS=$LOGS devtools/fuzz/run.sh all "$FUZZ_SECONDS" | tee "$LOGS/fuzz.txt" || rc=$?
	count "$LOGS/fuzz.txt"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL: ' "$LOGS/fuzz.txt"; then
		fail fuzz "devtools/fuzz/run.sh exited $rc without a result line"
	fi
fi

# ---------------------------------------------------------------- dts
if want dts; then
	step "end-to-end (dts/, pytest; vhost library: ${VHOST_LIB_DIR:-build/lib/vhost})"
	if [ "$built" = yes ] || [ "${VHOST_LIB_DIR:-}" = debian ]; then
		rm -f "$LOGS/dts.xml"
		timeout -k 30 2400 "$PY" -m pytest dts -q -rfEs --junitxml="$LOGS/dts.xml" \
			> "$LOGS/dts.log" 2>&1 || true
		tail -40 "$LOGS/dts.log"
		"$PY" - "$LOGS/dts.xml" > "$LOGS/dts.txt" <<'EOF' || true
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print(f"FAIL: dts: pytest wrote no report ({e}); see dts.log")
    sys.exit()
n = 0
for tc in root.iter("testcase"):
    n += 1
    name = "dts/" + tc.get("classname", "").split(".")[-1] + "::" + tc.get("name")
    bad = tc.find("failure")
    if bad is None:
        bad = tc.find("error")
    sk = tc.find("skipped")
    t = float(tc.get("time", 0))
    if bad is not None:
        msg = (bad.get("message") or "").splitlines()
        print(f"FAIL: {name}: {msg[0][:300] if msg else 'failed'}")
    elif sk is not None:
        print(f"SKIP: {name}: {sk.get('message')}")
    else:
        print(f"PASS: {name} ({t:.1f} s)")
if n == 0:
    print("FAIL: dts: no test collected")
EOF
		cat "$LOGS/dts.txt"
		count "$LOGS/dts.txt"
	else
		skip dts "no build (set VHOST_LIB_DIR=debian to run the suites on Debian's library)"
	fi
fi

# ---------------------------------------------------------------- asan-dts
# A dts subset on build-asan: Debian's testpmd loads the sanitized
# librte_vhost.so.23 with libasan/libubsan preloaded, the device is
# build-asan's. A test's result counts, and so does any sanitizer report
# in any process's log.
ASAN_DTS_TESTS=${ASAN_DTS_TESTS:-"
dts/tests/test_af_unix_forwarding.py::test_exact_counts_both_directions[vhost_server-split-mrg_on-1518B-2q]
dts/tests/test_af_unix_forwarding.py::test_exact_counts_both_directions[vhost_client-packed-mrg_off-64B-1q]
dts/tests/test_vvu_forwarding.py::test_exact_counts_both_directions[split-1518B-2q]
dts/tests/test_vvu_forwarding.py::test_exact_counts_both_directions[packed-64B-1q]
dts/tests/test_fault_matrix.py::test_fault[af_unix-frontend-kill9-forwarding]
dts/tests/test_fault_matrix.py::test_fault[vvu-backend-kill9-forwarding]"}
if want asan-dts; then
	step "end-to-end subset under ASan+UBSan (build-asan)"
	if meson_build build-asan "$LOGS/build-asan.log" -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized -Dtests=true -Dfuzz=false; then
		alog=$LOGS/dts-asan-logs
		rm -rf "$alog" "$LOGS/dts-asan.xml"
		# one node id per word, and no globbing of their [params]
		# shellcheck disable=SC2086
		(set -f; env -u VHOST_LIB_DIR -u VVU_DEVICE VVU_BUILD_DIR="$REPO/build-asan" \
			DTS_LOG_DIR="$alog" \
			DTS_BACKEND_PRELOAD="libasan.so.8 libubsan.so.1" \
			ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			timeout -k 30 600 "$PY" -m pytest $ASAN_DTS_TESTS -q -rfEs \
			--junitxml="$LOGS/dts-asan.xml") > "$LOGS/dts-asan.log" 2>&1 || true
		tail -5 "$LOGS/dts-asan.log"
		"$PY" - "$LOGS/dts-asan.xml" > "$LOGS/dts-asan.txt" <<'EOF' || true
import sys, xml.etree.ElementTree as ET
try:
    cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
except (OSError, ET.ParseError) as e:
    cases = []
    print(f"FAIL: asan-dts: pytest wrote no report ({e}); see dts-asan.log")
for tc in cases:
    name = "asan-dts/" + tc.get("classname", "").split(".")[-1] + "::" + tc.get("name")
    bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
    if bad is not None:
        print(f"FAIL: {name}: {(bad.get('message') or 'failed').splitlines()[0][:300]}")
    elif tc.find("skipped") is not None:
        print(f"SKIP: {name}: {tc.find('skipped').get('message')}")
    else:
        print(f"PASS: {name} ({float(tc.get('time', 0)):.1f} s)")
EOF
		reports=$(grep -rlE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' \
			"$alog" 2>/dev/null || true)
		nlogs=$(find "$alog" -name '*.log' 2>/dev/null | wc -l)
		if [ -n "$reports" ]; then
			for f in $reports; do
				echo "FAIL: asan-dts/sanitizer: report in ${f#"$LOGS"/}"
			done >> "$LOGS/dts-asan.txt"
		elif [ "$nlogs" -gt 0 ]; then
			echo "PASS: asan-dts/sanitizer: no report in $nlogs process logs" >> "$LOGS/dts-asan.txt"
		fi
		cat "$LOGS/dts-asan.txt"
		count "$LOGS/dts-asan.txt"
	else
		grep -E 'error|Error|ERROR' "$LOGS/build-asan.log" | head -30 || true
		fail build/asan-dts "meson/ninja failed (see $LOGS/build-asan.log)"
	fi
fi

# ---------------------------------------------------------------- docs
if want docs; then
	step "docs (sphinx-build -W, API page)"
	bash devtools/check-docs.sh "$REPO/build-docs" > "$LOGS/docs.txt" 2>&1 || true
	cat "$LOGS/docs.txt"
	count "$LOGS/docs.txt"
	grep -q '^\(PASS\|FAIL\): ' "$LOGS/docs.txt" || fail docs "check-docs.sh printed no result"
fi

# ---------------------------------------------------------------- install
if want install; then
	step "install (meson install into a DESTDIR, the installed demo)"
	if [ "$built" = yes ]; then
		bash devtools/check-install.sh build > "$LOGS/install.txt" 2>&1 || true
		cat "$LOGS/install.txt"
		count "$LOGS/install.txt"
		grep -q '^\(PASS\|FAIL\): ' "$LOGS/install.txt" ||
			fail install "check-install.sh printed no result"
	else
		skip install "no build"
	fi
fi

finish
