#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Reuse of the data blocks discards free, while the image is attached. The
# image has 16 blocks of 1 MiB, so that every allocation after the 16th
# must reuse a freed data block or fail with ENOSPC:
#  - 24 rounds of writing the whole disk, reading it back and discarding
#    it, with and without a flush between (384 allocations): no error, the
#    data reads back each round, and the file never grows past 16 blocks;
#  - reuse_race: writes racing discards of the same blocks beside blocks
#    written, discarded and verified by other threads (a freed block
#    reused too early shows in their data);
#  - after detach the image passes qemu-img check and vdisetup check, and
#    reads back what was last written;
#  - a data block leaked by a crash is reused at the next attach, so a
#    full image takes a write to its free virtual block.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup mkfs.ext4 blkdiscard qemu-img
race=$(dirname "$0")/reuse_race
[ -x "$race" ] || race=$top/build/ksft/vdi/reuse_race
[ -x "$race" ] || vdi_skip_all "$race not built"

attr() { cat "/sys/block/${dev#/dev/}/vdi/$1"; }

tap_plan
dmesg_start=$(dmesg | wc -l)
vdi_ext4_image 256M 16M
data_end=$(($(peek32 "$img" $VDI_OFF_DATA) + 16 * MiB))

errors=0 mismatches=0 longest=0
for N in $(seq 1 24); do
	head -c $((16 * MiB)) /dev/urandom > "$scratch/want"
	write_at "$dev" 0 "$scratch/want" direct || errors=$((errors + 1))
	# Odd rounds flush, so the freed blocks' zero entries are durable
	# before the next allocation; even rounds leave that to allocation.
	[ $((N % 2)) = 1 ] && sync "$dev"
	cmp -s "$scratch/want" <(read_at "$dev" 0 $((16 * MiB))) ||
		mismatches=$((mismatches + 1))
	size=$(stat -c %s "$img")
	[ "$size" -gt "$longest" ] && longest=$size
	[ "$N" = 24 ] || blkdiscard "$dev" || errors=$((errors + 1))
done
tap_eq "24 rounds of 16 allocations over 16 block indices: no error" 0 "$errors"
tap_eq "... each round reads back what it wrote" 0 "$mismatches"
tap_eq "... the file never grew past 16 data blocks" yes \
	"$([ "$longest" -le "$data_end" ] && echo yes)"
tap_eq "sysfs: 16 blocks allocated, none zero" "16 0" \
	"$(attr allocated_blocks) $(attr zero_blocks)"

blkdiscard "$dev"
out=$("$race" "$dev" "${REUSE_SECONDS:-20}" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
tap_eq "reuse_race: writes racing discards never reach reused blocks" 0 "$rc"
# Enough discards and allocations that block indices ran out many times.
y=$(sed -n 's/.*Y: [0-9]* checked writes, \([0-9]*\) discards$/\1/p' <<< "$out")
tap_eq "reuse_race: more than 16 blocks freed and allocated again" yes \
	"$([ "${y:-0}" -gt 16 ] && echo yes)"

# Known contents for after detach: the last round's pattern.
write_at "$dev" 0 "$scratch/want" direct
tap_check "detach" "$VDISETUP" detach "$dev"
tap_check "qemu-img check after detach" qemu-img check -q -f vdi "$img"
tap_check "vdisetup check after detach" "$VDISETUP" check "$img"
if vdi_attach dev "$img"; then
	tap_cmp "the image reads back the last data after attach" \
		"$scratch/want" <(read_at "$dev" 0 $((16 * MiB)))
	"$VDISETUP" detach "$dev"
else
	tap_fail "the image reads back the last data after attach" "attach failed"
fi
# A data block leaked by a crash (the header counts it, no entry names it)
# is reused at the next attach: a full image takes a write to a free block.
leak=$scratch/leak.vdi
"$VDISETUP" create "$leak" 4M
head -c $((4 * MiB)) /dev/urandom > "$scratch/leak.raw"
if vdi_attach dev "$leak"; then
	write_at "$dev" 0 "$scratch/leak.raw" direct
	"$VDISETUP" detach "$dev"
fi
poke32 "$leak" "$(peek32 "$leak" $VDI_OFF_BMAP)" 4294967295
head -c "$MiB" /dev/urandom > "$scratch/leak0"
dd if="$scratch/leak0" of="$scratch/leak.raw" conv=notrunc status=none
if vdi_attach dev "$leak"; then
	tap_check "leaked block: a write to the free block of a full image succeeds" \
		dd if="$scratch/leak0" of="$dev" bs=1M oflag=direct conv=fsync status=none
	tap_cmp "leaked block: the disk reads back" "$scratch/leak.raw" \
		<(read_at "$dev" 0 $((4 * MiB)))
	"$VDISETUP" detach "$dev"
	tap_check "leaked block: vdisetup check clean" "$VDISETUP" check "$leak"
	tap_check "leaked block: qemu-img compare" \
		qemu-img compare -q -f vdi -F raw "$leak" "$scratch/leak.raw"
else
	tap_fail "leaked block: attach" "vdisetup attach failed"
fi
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
