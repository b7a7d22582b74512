#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 30 seconds of the format fuzzer (tests/fuzz) from the committed seeds: any
# crash, sanitizer report or broken invariant fails. `make fuzz` runs longer.
. "$(dirname "$(realpath "$0")")/../tap.sh"
top=$(realpath "$(dirname "$(realpath "$0")")/../..")
fuzzer=$top/build/fuzz/vdi_fuzz

tap_plan 1
if ! command -v clang >/dev/null; then
	tap_skip fuzz_smoke "clang is not installed"
	tap_done
fi
if ! out=$(make -s -C "$top" fuzz-build 2>&1); then
	tap_fail fuzz_smoke "cannot build the fuzzer: $out"
	tap_done
fi
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
if out=$("$fuzzer" -max_total_time=30 -timeout=10 \
	-artifact_prefix="$top/build/fuzz/smoke-" "$corpus" \
	"$top/tests/fuzz/corpus" 2>&1); then
	tap_ok fuzz_smoke
	printf '%s\n' "$out" | grep '^Done' | sed 's/^/# /'
else
	tap_fail fuzz_smoke "the fuzzer found a problem"
	printf '%s\n' "$out" | tail -40 | sed 's/^/# /'
fi
tap_done
