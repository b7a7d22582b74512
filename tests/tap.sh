# SPDX-License-Identifier: GPL-2.0
# TAP 13 for shell tests, in the form kselftest_harness.h prints, so that
# tests/run-all counts shell and C tests alike. Source it, then:
#   tap_plan [N]; tap_ok NAME | tap_fail NAME WHY | tap_skip NAME WHY;
#   tap_check NAME CMD...; tap_done (exits 1 on any failure).
tap_n=0
tap_pass=0
tap_failed=0
tap_skipped=0

# Without N the plan is printed by tap_done, after the last test (TAP
# allows that), for tests whose count depends on how far they get.
tap_plan()
{
	echo "TAP version 13"
	tap_planned=${1:-}
	[ -z "$tap_planned" ] || echo "1..$tap_planned"
}

tap_ok()
{
	tap_n=$((tap_n + 1)); tap_pass=$((tap_pass + 1))
	echo "ok $tap_n $1"
}

tap_fail()
{
	tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1))
	echo "# $1: $2"
	echo "not ok $tap_n $1"
}

tap_skip()
{
	tap_n=$((tap_n + 1)); tap_skipped=$((tap_skipped + 1))
	echo "ok $tap_n $1 # SKIP $2"
}

# tap_check NAME CMD...: passes when CMD succeeds; its output is shown as
# diagnostics either way.
tap_check()
{
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		tap_ok "$name"
	else
		tap_fail "$name" "failed: $*"
	fi
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# /'
}

# tap_vm KVER MIN LOG -- RUN-ARGS...: boot the VM (tests/vm/run RUN-ARGS) and
# relay the checks its guest side reported as "VDI_GUEST ok|fail NAME[: WHY]"
# (at least MIN of them), plus one check that the run itself was clean.
tap_vm()
{
	local k=$1 min=$2 out=$3 rc n=0 verdict name
	shift 4
	"$(dirname "$(realpath "${BASH_SOURCE[0]}")")/vm/run" --kernel "$k" "$@" > "$out" 2>&1
	rc=$?
	# vm/run exits 0 only for a clean kernel log and a guest that exited 0.
	if [ $rc -eq 0 ]; then
		tap_ok "vm $k: the run is clean"
	else
		tap_fail "vm $k: the run is clean" "exit $rc"
		grep -E '^(not ok|ok) 1 vm|VDI_VM_EXIT' "$out" | sed 's/^/# /'
	fi
	while read -r verdict name; do
		n=$((n + 1))
		if [ "$verdict" = ok ]; then
			tap_ok "vm $k: $name"
		else
			tap_fail "vm $k: ${name%%: *}" "${name#*: }"
		fi
	done < <(sed -n 's/^VDI_GUEST \(ok\|fail\) /\1 /p' "$out")
	[ $n -ge "$min" ] || tap_fail "vm $k: every check in the guest ran" "only $n reported"
}

tap_done()
{
	[ -n "${tap_planned:-}" ] || echo "1..$tap_n"
	echo "# Totals: pass:$tap_pass fail:$tap_failed xfail:0 xpass:0 skip:$tap_skipped error:0"
	[ "$tap_failed" -eq 0 ] || exit 1
	[ "$tap_pass" -gt 0 ] || [ "$tap_skipped" -eq 0 ] || exit 4
	exit 0
}
