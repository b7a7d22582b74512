#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# tests/vm/run must fail a run whose kernel log shows a warning or whose
# kernel is tainted, time out a hung guest, and pass the guest command's
# status through; otherwise a broken driver could pass the suite.
. "$(dirname "$(realpath "$0")")/../tap.sh"
top=$(realpath "$(dirname "$(realpath "$0")")/../..")
kver=$("$top/tests/vm/kernels" | head -n 1)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# vm EXPECTED_STATUS PATTERN NAME [run options] -- CMD...
vm()
{
	local want=$1 pattern=$2 name=$3 rc
	shift 3
	"$top/tests/vm/run" --kernel "$kver" "$@" > "$out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -q -- "$pattern" "$out"; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc (want $want), pattern '$pattern'"
		tail -n 5 "$out" | sed 's/^/# /'
	fi
}

tap_plan 5
vm 0 "^ok 1 vm $kver: kernel log clean" "a clean run passes" -- true
vm 3 "^ok 1 vm $kver: kernel log clean" "the guest command's status is returned" -- bash -c 'exit 3'
vm 1 "^not ok 1 vm $kver: kernel log shows a problem" "a WARNING in the kernel log fails the run" \
	-- bash -c 'echo "WARNING: CPU: 0 PID: 1 at vdi-selftest" > /dev/kmsg'
vm 1 "^not ok 1 vm $kver: kernel tainted: 512" "a taint other than O/E fails the run" \
	-- bash -c 'echo 512 > /proc/sys/kernel/tainted'
vm 1 "^not ok 1 vm $kver: guest timed out" "a hung guest times out" --timeout 30 -- sleep 600
tap_done
