#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Run libFuzzer targets: devtools/fuzz/run.sh TARGET SECONDS
#
#   TARGET   a target name (fuzz_vhost_msg, ...) or "all" (every fuzz_* target
#            the build defines, one after the other, SECONDS each)
#   SECONDS  -max_total_time of each target
#
# Configures and builds build-fuzz if needed (CC=clang -Dfuzz=true, ASan and
# UBSan; only the fuzz executables), then runs each target on its growing
# corpus build-fuzz/corpus/<target>, plus the in-tree seeds
# devtools/fuzz/corpus/<target>/ and dictionary devtools/fuzz/<target>.dict
# when they exist. Prints one line per target, as devtools/test.sh does:
#
#   PASS: fuzz/<target> (<runs> runs in <seconds> s)
#   FAIL: fuzz/<target>: <what> (see <log>[; input <artifact>])
#
# (and "FAIL: build/fuzz: ..." if the build fails). Exits non-zero if any
# target found something (crash, sanitizer report, leak, timeout, OOM) or
# the build failed. A finding leaves its input in build-fuzz/<target>-*;
# replay it with build-fuzz/devtools/fuzz/<target> <file>.
#
# Environment:
#   FUZZ_BUILD    build directory (default build-fuzz)
#   FUZZ_LOGS     where each target's log goes (default build-logs)
#   FUZZ_ARGS     extra libFuzzer arguments for every target (e.g. -jobs=2)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then
	echo "usage: $0 TARGET|all SECONDS" >&2
	exit 2
fi
WANT=$1
SECONDS_EACH=$2
BUILD=${FUZZ_BUILD:-build-fuzz}
LOGS=${FUZZ_LOGS:-build-logs}
PY=/usr/bin/python3
mkdir -p "$LOGS"
BUILD_LOG=$LOGS/build-fuzz.log

# Only the fuzz executables are built: with -fsanitize=fuzzer-no-link on
# every object, the shared library cannot link (-Wl,--no-undefined), and the
# targets link the static internal libraries anyway.
MESON_ARGS=(-Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false
	-Dbuildtype=debugoptimized)
if [ -f "$BUILD/build.ninja" ]; then
	timeout 600 meson configure "$BUILD" "${MESON_ARGS[@]}" > "$BUILD_LOG" 2>&1
else
	rm -rf "$BUILD"
	CC=clang timeout 600 meson setup "$BUILD" "${MESON_ARGS[@]}" > "$BUILD_LOG" 2>&1
fi
if [ $? -ne 0 ]; then
	grep -E 'error|Error|ERROR' "$BUILD_LOG" | head -30 >&2
	echo "FAIL: build/fuzz: meson setup with CC=clang -Dfuzz=true failed (see $BUILD_LOG)"
	exit 1
fi

# name<TAB>path relative to the build directory, one per fuzz target
all_targets=$(meson introspect "$BUILD" --targets | "$PY" -c '
import json, os, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["name"].startswith("fuzz_"):
        for f in t["filename"]:
            print(t["name"] + "\t" + os.path.relpath(f, sys.argv[1]))' "$BUILD" | sort)
if [ "$WANT" = all ]; then
	targets=$all_targets
else
	targets=$(awk -F'\t' -v n="$WANT" '$1 == n' <<< "$all_targets")
	if [ -z "$targets" ]; then
		echo "unknown target $WANT; the build defines:" >&2
		cut -f1 <<< "$all_targets" | sed 's/^/  /' >&2
		exit 2
	fi
fi
if [ -z "$targets" ]; then
	echo "SKIP: fuzz: no fuzz targets defined"
	exit 0
fi
if ! timeout 1800 ninja -C "$BUILD" $(cut -f2 <<< "$targets") >> "$BUILD_LOG" 2>&1; then
	grep -E 'error|FAILED' "$BUILD_LOG" | head -30 >&2
	echo "FAIL: build/fuzz: ninja of the fuzz targets failed (see $BUILD_LOG)"
	exit 1
fi

findings=0
while IFS=$'\t' read -r name rel; do
	exe=$BUILD/$rel
	log=$LOGS/fuzz-$name.log
	corpus=$BUILD/corpus/$name
	mkdir -p "$corpus"
	extra=()
	[ -d "devtools/fuzz/corpus/$name" ] && extra+=("devtools/fuzz/corpus/$name")
	# a target's dictionary is devtools/fuzz/<target>.dict (often a link)
	dict=()
	[ -f "devtools/fuzz/$name.dict" ] && dict=("-dict=devtools/fuzz/$name.dict")
	t0=$(date +%s)
	# The outer timeout catches a target that hangs outside libFuzzer's
	# own -timeout (a stuck initialisation, a deadlock in a helper thread).
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		timeout -k 10 $((SECONDS_EACH * 3 + 60)) "$exe" -max_total_time="$SECONDS_EACH" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
		${FUZZ_ARGS:-} -artifact_prefix="$BUILD/$name-" "$corpus" "${extra[@]}" \
		> "$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - t0))
	runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
	if [ $rc -eq 0 ] && [ -n "$runs" ]; then
		echo "PASS: fuzz/$name (${runs} runs in ${secs} s)"
		continue
	fi
	findings=$((findings + 1))
	grep -E 'ERROR|SUMMARY|runtime error|Test unit written|fd leak|mapping leak' "$log" \
		| head -15 >&2
	# this run's input (earlier runs' findings stay where they are)
	art=$(find "$BUILD" -maxdepth 1 -name "$name-*-*" -newermt "@$((t0 - 1))" \
		\( -name "$name-crash-*" -o -name "$name-leak-*" -o -name "$name-timeout-*" \
		-o -name "$name-oom-*" \) | head -1)
	what="crashed"
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && what="hung (killed after $secs s)"
	grep -q 'ERROR: libFuzzer: timeout' "$log" && what="timed out (one input > 10 s)"
	grep -q 'ERROR: libFuzzer: out-of-memory' "$log" && what="out of memory"
	grep -q 'ERROR: LeakSanitizer' "$log" && what="leaked memory"
	[ -z "$runs" ] && [ $rc -eq 0 ] && what="printed no final stats"
	echo "FAIL: fuzz/$name: $what (see $log${art:+; input $art})"
done <<< "$targets"
[ $findings -eq 0 ]
