#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash consistency by replay (replay_lib.sh) over discards: rounds of
# writes, a discard of a whole block (the entry becomes zero, the data block
# is punched out and reused once that is safe) and a discard of part of
# another block (punched), each round ended by a flush. At every replay
# point the image must pass vdisetup check (leaks at worst, no cross-link),
# attach, and read each 4 KiB piece as what the last flush made durable or
# what the next one will (a discarded piece: zeros).
#   CR_ROUNDS (default 6) flushes, CR_WRITES (6) writes per round,
#   CR_SAMPLES (1) replay points between consecutive marks.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"
. "$(dirname "$(realpath "$0")")/replay_lib.sh"

rounds=${CR_ROUNDS:-6}
writes=${CR_WRITES:-6}
slot=65536

vdi_setup dmsetup losetup mkfs.ext4 shuf numfmt blkdiscard
[ -x "$rp_tool" ] || vdi_skip_all "$rp_tool not built"

# discard OFFSET LENGTH: blkdiscard on the device, journalled as zeros
# written (the range reads as zeros once the discard returned).
discard()
{
	local keep=$scratch/rp-data/d$(wc -l < "$scratch/rp-journal")
	head -c "$2" /dev/zero > "$keep"
	blkdiscard -o "$1" -l "$2" "$rp_dev" || return 1
	echo "w $1 $keep" >> "$scratch/rp-journal"
}

# Per round: block `whole` discarded whole, part of block `part` punched,
# writes to 64 KiB slots of the other blocks, one each; so that a piece
# changes once between flushes, as replay_lib.sh needs.
workload()
{
	local r s whole part len off
	for r in $(seq 1 "$rounds"); do
		read -r whole part <<< "$(shuf -i 0-$((rp_size / MiB - 1)) -n 2 | xargs)"
		if [ "$r" -gt 1 ]; then
			discard $((whole * MiB)) "$MiB" || return 1
			len=$((4096 * (1 + RANDOM % 64)))
			off=$((part * MiB + 4096 * (RANDOM % ((MiB - len) / 4096 + 1))))
			discard "$off" "$len" || return 1
		fi
		for s in $(shuf -i 0-$((rp_size / slot - 1)) -n "$writes" | sort -n); do
			[ $((s * slot / MiB)) = "$whole" ] ||
				[ $((s * slot / MiB)) = "$part" ] && continue
			len=$((4096 * (1 + RANDOM % 16)))
			head -c "$len" /dev/urandom > "$scratch/piece"
			rp_write $((s * slot)) "$scratch/piece" || return 1
		done
		rp_flush || return 1
	done
}

tap_plan
dmesg_start=$(dmesg | wc -l)
# 16 blocks: fewer than the workload allocates, counting blocks written
# again after a discard, so freed data blocks are reused.
if ! rp_setup 16M; then
	tap_fail "ext4 on dm-log-writes with an image" "setup failed"
	tap_done
fi
tap_check "the workload with discards runs on the logged file system" rp_run workload
rp_verify "${CR_SAMPLES:-1}"
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
