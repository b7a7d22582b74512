#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash consistency by replay: the image lives on ext4 over dm-log-writes.
# A workload of allocating and overwriting direct writes (4 KiB to 64 KiB,
# some crossing a block boundary), each round ended by an fsync of the
# device (a flush), some rounds with an O_DSYNC write in the middle (the
# block layer's FUA emulation: write, then flush), marks the log after
# every flush. The log is then replayed to every mark and to points
# between marks (replay_lib.sh): each must mount, pass vdisetup check and
# attach, and read back every write acknowledged before the mark.
#   CR_ROUNDS (default 4) flushes, CR_WRITES (6) writes per round,
#   CR_SAMPLES (1) replay points between consecutive marks; CR_CHAIN=1
#   makes the image a differencing child of a parent with data
#   (crash_replay_chain.sh), so that first writes copy blocks up.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"
. "$(dirname "$(realpath "$0")")/replay_lib.sh"

rounds=${CR_ROUNDS:-4}
writes=${CR_WRITES:-6}
slot=65536

vdi_setup dmsetup losetup mkfs.ext4 shuf numfmt
[ -x "$rp_tool" ] || vdi_skip_all "$rp_tool not built"

# Every round writes to distinct 64 KiB slots of the 16 MiB device (16
# blocks of 1 MiB): early rounds allocate blocks, later ones mostly
# overwrite. A write starting in a slot's last 4 KiB runs into the next
# slot, which the round then leaves alone.
workload()
{
	local r s i len off last
	for r in $(seq 1 "$rounds"); do
		i=0 last=-2
		for s in $(shuf -i 0-$((rp_size / slot - 2)) -n "$writes" | sort -n); do
			# Slots next to each other would share the spill-over.
			[ "$s" -gt $((last + 1)) ] || continue
			last=$s i=$((i + 1))
			len=$((4096 * (1 + RANDOM % 16)))
			off=$((s * slot + (RANDOM % 2) * (slot - 4096)))
			head -c "$len" /dev/urandom > "$scratch/piece"
			if [ $((r % 2)) = 0 ] && [ $i = 2 ]; then
				rp_write "$off" "$scratch/piece" dsync || return 1
			else
				rp_write "$off" "$scratch/piece" || return 1
			fi
		done
		rp_flush || return 1
	done
}

tap_plan
dmesg_start=$(dmesg | wc -l)
if ! rp_setup 16M ${CR_CHAIN:+rp_chain}; then
	tap_fail "ext4 on dm-log-writes with an image" "setup failed"
	tap_done
fi
tap_check "the workload runs on the logged file system" rp_run workload
rp_verify "${CR_SAMPLES:-1}"
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
