#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Images whose map names data blocks past blocks_in_image, inside the file,
# with blocks_allocated past blocks_in_image too: what compaction tools and
# VirtualBox appending after them leave, and what QEMU and VirtualBox read.
# Made here from an 8-block image: virtual blocks 6 and 7 moved to data
# blocks 8 and 9, block 2 freed (its data block left unused).
#  - vdisetup check reports the entries past the map as errors (exit 2);
#  - the driver attaches the image and reads it as qemu-img reads it; a
#    first write and a write in place to a block past the map work, and
#    after detach (which brings the blocks below blocks_in_image) both
#    checks are clean and qemu-img reads what was written;
#  - check --repair brings the blocks below instead of dropping them: the
#    repaired image checks clean and reads as QEMU read it before.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup qemu-img cmp
VDI_OFF_ALLOCATED=388
FREE=4294967295

# make_beyond IMAGE: the image described above, with random data.
make_beyond()
{
	local img=$1 dev bmap data
	"$VDISETUP" create "$img" 8M
	head -c $((6 * MiB)) /dev/urandom > "$scratch/six"
	vdi_attach dev "$img" || return 1
	write_at "$dev" 0 "$scratch/six" direct
	"$VDISETUP" detach "$dev"
	bmap=$(peek32 "$img" $VDI_OFF_BMAP)
	data=$(peek32 "$img" $VDI_OFF_DATA)
	head -c $((2 * MiB)) /dev/urandom |
		dd of="$img" bs=1M seek=$(((data >> 20) + 8)) conv=notrunc status=none
	poke32 "$img" $((bmap + 6 * 4)) 8
	poke32 "$img" $((bmap + 7 * 4)) 9
	poke32 "$img" $((bmap + 2 * 4)) $FREE
	poke32 "$img" $VDI_OFF_ALLOCATED 10
}

tap_plan
dmesg_start=$(dmesg | wc -l)
img=$scratch/beyond.vdi
make_beyond "$img" || { tap_fail "make the image" "attach failed"; tap_done; }
qemu-img convert -f vdi -O raw "$img" "$scratch/ref.raw"

rc=0
out=$("$VDISETUP" check "$img" 2>&1) || rc=$?
tap_eq "check: entries past the map are errors (exit 2)" 2 "$rc"
tap_eq "check: names both entries" 2 \
	"$(printf '%s\n' "$out" | grep -c "past the image's blocks")"

if vdi_attach dev "$img"; then
	tap_cmp "attach: the device reads as qemu-img reads the image" \
		"$scratch/ref.raw" <(read_at "$dev" 0 $((8 * MiB)))
	head -c "$MiB" /dev/urandom > "$scratch/new2"
	head -c 65536 /dev/urandom > "$scratch/in6"
	write_at "$dev" $((2 * MiB)) "$scratch/new2" direct
	write_at "$dev" $((6 * MiB + 4096)) "$scratch/in6" direct
	write_at "$scratch/ref.raw" $((2 * MiB)) "$scratch/new2"
	write_at "$scratch/ref.raw" $((6 * MiB + 4096)) "$scratch/in6"
	echo 3 > /proc/sys/vm/drop_caches
	tap_cmp "attach: a first write and a write past the map read back" \
		"$scratch/ref.raw" <(read_at "$dev" 0 $((8 * MiB)))
	tap_check "attach: detach" "$VDISETUP" detach "$dev"
	tap_check "attach: vdisetup check clean after detach" "$VDISETUP" check "$img"
	tap_check "attach: qemu-img check clean after detach" \
		qemu-img check -q -f vdi "$img"
	tap_check "attach: qemu-img reads what was written" \
		qemu-img compare -q -f vdi -F raw "$img" "$scratch/ref.raw"
else
	tap_fail "attach: the image attaches" "vdisetup attach failed"
fi

img=$scratch/repair.vdi
make_beyond "$img" || { tap_fail "make the image" "attach failed"; tap_done; }
qemu-img convert -f vdi -O raw "$img" "$scratch/ref2.raw"
rc=0
"$VDISETUP" check --repair "$img" > "$scratch/out" 2>&1 || rc=$?
tap_eq "repair: the repaired image checks clean (exit 0)" 0 "$rc"
[ $rc = 0 ] || sed 's/^/# /' "$scratch/out"
tap_check "repair: vdisetup check clean" "$VDISETUP" check "$img"
tap_check "repair: qemu-img check clean" qemu-img check -q -f vdi "$img"
tap_check "repair: reads exactly as QEMU read it before" \
	qemu-img compare -q -f vdi -F raw "$img" "$scratch/ref2.raw"
tap_eq "repair: every data block below blocks_in_image, the file cut after them" \
	$(($(peek32 "$img" $VDI_OFF_DATA) + 7 * MiB)) "$(stat -c %s "$img")"
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
