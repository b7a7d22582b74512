#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vdisetup compact and resize against the driver: killed after every step
# that reached the disk (the test hook VDISETUP_CRASH_AFTER), they leave an
# image that attaches and reads through /dev/vdiN as before; so does the
# finished result. An attached image is refused by compact, check --repair
# and a resize that must move the map, and left as it was; where the larger
# map fits, resize grows it online: the device shows the new size at once,
# takes writes at its new end, and the detached image passes qemu-img check
# and compare; also when the image is a block device.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup qemu-img cmp sha256sum losetup
FREE=4294967295
ZERO=4294967294
V=$VDISETUP

entry_off() { echo $(($(peek32 "$1" $VDI_OFF_BMAP) + 4 * $2)); }

# reads NAME IMAGE RAW: IMAGE attaches read-only and reads as RAW, zeros
# past RAW's end.
reads()
{
	local dev size
	if ! vdi_attach dev -r "$2"; then
		tap_fail "$1" "vdisetup attach failed"
		return
	fi
	size=$(blockdev --getsize64 "$dev")
	cp "$3" "$scratch/want.raw"
	truncate -s "$size" "$scratch/want.raw"
	tap_cmp "$1" "$scratch/want.raw" "$dev"
	"$V" detach "$dev"
}

# killed NAME BASE RAW CMD...: CMD, with a copy of BASE appended, killed
# after each of its syncs in turn until it runs to the end.
killed()
{
	local name=$1 base=$2 raw=$3 img=$scratch/killed.vdi
	shift 3
	crash_every_sync "$img" "$base" killed_after "$@"
	reads "$name: finished: attaches and reads the same" "$img" "$raw"
}

# killed_after N: killed()'s copy (name, raw, img: bash lets it see them).
killed_after()
{
	reads "$name: killed after sync $1: attaches and reads the same" "$img" "$raw"
}

resize_to() { "$V" resize "$2" "$1"; }

# r.raw: 16 MiB, data in blocks 1-3, 5, 9, 10 and 12 (data blocks 0-6).
raw=$scratch/r.raw
: > "$raw"
for b in 1 2 3 5 9 10 12; do
	head -c $MiB /dev/urandom | write_at "$raw" $((b * MiB)) /dev/stdin
done
truncate -s 16M "$raw"

tap_plan

# Entry 2 zero, entry 5 free, block 12's data zeros: two holes, one zero
# block for --zero-blocks.
img=$scratch/holes.vdi
qemu-img convert -f raw -O vdi "$raw" "$img"
poke32 "$img" "$(entry_off "$img" 2)" $ZERO
poke32 "$img" "$(entry_off "$img" 5)" $FREE
head -c $MiB /dev/zero |
	write_at "$img" $(($(peek32 "$img" $VDI_OFF_DATA) + 6 * MiB)) /dev/stdin
want=$scratch/holes.raw
cp "$raw" "$want"
for b in 2 5 12; do
	head -c $MiB /dev/zero | write_at "$want" $((b * MiB)) /dev/stdin
done
killed "compact --zero-blocks" "$img" "$want" "$V" compact --zero-blocks

# 16 MiB in QEMU's layout grown to 256 MiB: the map takes data block 0.
img=$scratch/grow.vdi
qemu-img convert -f raw -O vdi "$raw" "$img"
killed "grow 16M -> 256M" "$img" "$raw" resize_to 256M
cp "$scratch/killed.vdi" "$scratch/grown.vdi"
killed "shrink 256M -> 13M" "$scratch/grown.vdi" "$raw" resize_to 13M

# Offline only: an attached image is refused and left alone.
# refused WHAT CMD...: CMD fails with "cannot WHAT: attached as DEV".
refused()
{
	local what=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	tap_eq "$what: an attached image is refused" \
		"1 $img: cannot $what: attached as $dev; detach it first" "$rc $out"
}

img=$scratch/attached.vdi
cp "$scratch/holes.vdi" "$img"
if vdi_attach dev "$img"; then
	sum=$(sha256sum "$img")
	refused compact "$V" compact "$img"
	refused resize "$V" resize "$img" 256M
	refused resize "$V" resize "$img" 8M
	refused repair "$V" check --repair "$img"
	tap_eq "... and left as it was" "$sum" "$(sha256sum "$img")"
	"$V" detach "$dev"
else
	tap_fail "attached image: attach" "vdisetup attach failed"
fi

# online NAME IMAGE RAW SIZE: IMAGE, holding RAW (16 MiB), attached and
# grown to SIZE bytes; a MiB written at the new end.
online()
{
	local name=$1 img=$2 raw=$3 size=$4
	if ! vdi_attach dev "$img"; then
		tap_fail "$name: attach" "vdisetup attach failed"
		return
	fi
	tap_check "$name: resize while attached" "$V" resize "$img" "$size"
	tap_eq "$name: the device has the new size" "$size" "$(blockdev --getsize64 "$dev")"
	head -c $MiB /dev/urandom > "$scratch/end"
	write_at "$dev" $((size - MiB)) "$scratch/end" direct
	truncate -s "$size" "$raw"
	write_at "$raw" $((size - MiB)) "$scratch/end"
	tap_cmp "$name: the old 16 MiB read as before" \
		<(read_at "$raw" 0 $((16 * MiB))) <(read_at "$dev" 0 $((16 * MiB)))
	tap_cmp "$name: the new end reads as written" "$scratch/end" \
		<(read_at "$dev" $((size - MiB)) $MiB)
	"$V" detach "$dev"
	tap_check "$name: qemu-img check" qemu-img check -q -f vdi "$img"
	tap_check "$name: qemu-img compare" qemu-img compare -q -f vdi -F raw "$img" "$raw"
}

# QEMU's layout: the 16 MiB map has room for 128 entries.
img=$scratch/online.vdi
qemu-img convert -f raw -O vdi "$raw" "$img"
cp "$raw" "$scratch/online.raw"
online "grow online 16M -> 128M (QEMU layout)" "$img" "$scratch/online.raw" $((128 * MiB))
# VirtualBox's layout: a 1 MiB map, room for 256 GiB.
img=$scratch/online-vbox.vdi
"$V" create "$img" 16M
truncate -s 16M "$scratch/online-vbox.raw"
online "grow online 16M -> 200G (vbox layout)" "$img" "$scratch/online-vbox.raw" \
	$((200 * 1024 * MiB))
# A block device as the backing file: its size is the device's, not that
# of its node (0), which the grow must not take. Room for 6 data blocks.
modprobe -q loop
img=$scratch/bdev.vdi
"$V" create "$img" 16M
truncate -s 8M "$img"
truncate -s 16M "$scratch/bdev.raw"
if loopdev=$(losetup -f --show "$img"); then
	online "grow online 16M -> 32M on a block device" "$loopdev" \
		"$scratch/bdev.raw" $((32 * MiB))
	losetup -d "$loopdev"
else
	tap_fail "grow online on a block device" "losetup failed"
fi
tap_done
