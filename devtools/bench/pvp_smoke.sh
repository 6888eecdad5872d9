#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A smoke check of pvp.sh (not a benchmark, starts no process): its options, the
# command lines --dry-run prints for both topologies (which library each back-end
# runs, which side sends what), and the refusal of bad options. One PASS/FAIL line
# per check.
#
# usage: pvp_smoke.sh PVP_SH     (VHOST_LIB_DIR and VVU_DEVICE from the environment)
pvp=$1
rc=0
pass() { echo "PASS: pvp/$1"; }
fail() { echo "FAIL: pvp/$1: $2"; rc=1; }
# cmd_of OUTPUT HEADER ROLE: the command line printed under "HEADER" after "  ROLE:"
cmd_of() {
	awk -v h="$2" -v r="  $3:" '$0 == h { f = 1; next } /^[0-9]+B / { f = 0 }
		f && $0 == r { getline; print; exit }' <<< "$1"
}

lib=$(realpath -m "${VHOST_LIB_DIR:?}")
out=$(timeout 20 "$pvp" --dry-run --topology txrx --sizes 64,1518 \
	--transports af_unix,vvu 2>&1)
st=$?
if [ $st -ne 0 ]; then
	fail txrx_dry_run "exit status $st: $out"
else
	be_deb=$(cmd_of "$out" "1518B debian:" back-end)
	be_ours=$(cmd_of "$out" "1518B ours:" back-end)
	be_vvu=$(cmd_of "$out" "1518B vvu:" back-end)
	fe_ours=$(cmd_of "$out" "1518B ours:" front-end)
	if [[ $be_deb != *dpdk-testpmd* || $be_deb == *LD_LIBRARY_PATH* ]]; then
		fail txrx_debian_lib "debian's back-end: '$be_deb'"
	elif [[ $be_ours != *"LD_LIBRARY_PATH=$lib "* || $be_ours != *--txpkts=1518* ]]; then
		fail txrx_ours_lib "our back-end: '$be_ours'"
	elif [[ $be_vvu != *"LD_LIBRARY_PATH=$lib "* || $be_vvu != *iface=vfio-user:* ]]; then
		fail txrx_vvu "vvu back-end: '$be_vvu'"
	elif [[ $fe_ours != *net_virtio_user0* || $fe_ours == *LD_LIBRARY_PATH* ||
		$fe_ours != *--txpkts=1518* ]]; then
		fail txrx_front_end "front-end: '$fe_ours'"
	elif ! grep -q '^  enqueue: back-end: set fwd txonly, front-end: set fwd rxonly' \
		<<< "$out" || ! grep -q \
		'^  dequeue: front-end: set fwd txonly, back-end: set fwd rxonly' <<< "$out"; then
		fail txrx_directions "no enqueue/dequeue sample plan: $out"
	else
		pass txrx_dry_run
	fi
fi

out=$(timeout 20 "$pvp" --dry-run 2>&1)
st=$?
be=$(cmd_of "$out" "64B ours:" back-end)
if [ $st -ne 0 ]; then
	fail loop_dry_run "exit status $st: $out"
elif [[ $be == *--txpkts* ]] || ! grep -q 'start tx_first' <<< "$out" ||
	[ -z "$(cmd_of "$out" "1518B vvu:" device)" ]; then
	fail loop_dry_run "not the default loop of 64 and 1518 B over three configurations: $out"
else
	pass loop_dry_run
fi

for bad in "--topology nosuch" "--sizes 40" "--sizes 64,2000" "--transports tcp" \
	"--directions sideways" "--repeats 0" "--nosuch" "--sizes"; do
	# shellcheck disable=SC2086 # the words of one bad command line
	out=$(timeout 20 "$pvp" --dry-run $bad 2>&1)
	st=$?
	if [ $st -eq 2 ] && [ -n "$out" ]; then
		pass "refuses/${bad// /=}"
	else
		fail "refuses/${bad// /=}" "exit status $st, output '$out'"
	fi
done

if out=$(timeout 20 "$pvp" -h 2>&1) && grep -q -- '--topology loop|txrx' <<< "$out" &&
	grep -q 'PVP_REPEATS' <<< "$out"; then
	pass help
else
	fail help "-h: $out"
fi
exit $rc
