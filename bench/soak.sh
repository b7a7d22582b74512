#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The soak, in the VM (bench/soak boots it): ext4 on a 2 GiB dynamic
# image, fio on a 768 MiB file there for SOAK_SECONDS (default 600):
# mixed random reads and writes of 4 KiB to 128 KiB at queue depth 16,
# an fsync every 32 writes, every written block carrying a crc32c header
# that is checked while the run goes on (verify_backlog) and fails the run
# at the first mismatch (verify_fatal). Then e2fsck, detach, qemu-img check
# and vdisetup check. Reports the volume written and read.
. "$(dirname "$(realpath "$0")")/../tests/tap.sh"
. "$(dirname "$(realpath "$0")")/../tests/vdi_lib.sh"

seconds=${SOAK_SECONDS:-600}
vdi_setup fio jq mkfs.ext4 e2fsck qemu-img

tap_plan
dmesg_start=$(dmesg | wc -l)
img=$scratch/soak.vdi
"$VDISETUP" create "$img" 2G
if ! vdi_attach dev "$img" || ! mkfs.ext4 -q -F "$dev" ||
   ! vdi_mount "$dev" "$scratch/mnt"; then
	tap_fail "ext4 on an attached image" "attach, mkfs or mount failed"
	tap_done
fi
json=$scratch/fio.json
if fio --name=soak --filename="$scratch/mnt/soak.dat" --size=768M \
	--rw=randrw --rwmixread=40 --bsrange=4k-128k --ioengine=libaio \
	--iodepth=16 --direct=1 --fsync=32 --time_based --runtime="$seconds" \
	--verify=crc32c --verify_backlog=512 --verify_fatal=1 \
	--eta=never --output-format=json --output="$json" 2> "$scratch/fio.err"; then
	tap_ok "fio randrw with fsync and crc32c verify for $seconds s"
else
	tap_fail "fio randrw with fsync and crc32c verify for $seconds s" \
		"$(head -n 5 "$scratch/fio.err")"
fi
written=$(sed -n '/^{/,$p' "$json" | jq '.jobs[0].write.io_bytes')
read=$(sed -n '/^{/,$p' "$json" | jq '.jobs[0].read.io_bytes')
errors=$(sed -n '/^{/,$p' "$json" | jq '.jobs[0].error')
echo "# soak: $((written / MiB)) MiB written, $((read / MiB)) MiB read (verify included), fio error $errors"
tap_eq "fio reports no error (a verify mismatch is one)" 0 "$errors"
tap_eq "fio wrote something" yes "$([ "${written:-0}" -gt 0 ] && echo yes)"
umount "$scratch/mnt"
tap_check "e2fsck finds the file system clean" e2fsck -fn "$dev"
tap_check "detach" "$VDISETUP" detach "$dev"
tap_check "qemu-img check" qemu-img check -q -f vdi "$img"
tap_check "vdisetup check" "$VDISETUP" check "$img"
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
