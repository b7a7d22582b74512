#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Images made by QEMU (qemu-img create/convert, dynamic and static) attach,
# read back what QEMU wrote, take writes to new and to existing blocks, and
# QEMU reads back what the driver wrote: `qemu-img compare` against a raw
# reference agrees after every detach, and `qemu-img check` stays clean.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup qemu-img qemu-io cmp blockdev

size=$((64 * MiB))

# put OFFSET LENGTH: random bytes to the device and to the reference.
put()
{
	head -c "$2" /dev/urandom > "$scratch/piece"
	write_at "$ref" "$1" "$scratch/piece"
	write_at "$dev" "$1" "$scratch/piece" direct
}

# cycle NAME: attach $img, check it reads as $ref, write a few pieces (into
# QEMU's blocks and into new ones), detach, then let QEMU judge the result
# and write a block of its own for the next round.
cycle()
{
	local name=$1
	if ! vdi_attach dev "$img"; then
		tap_fail "$name: attach" "vdisetup attach failed"
		return
	fi
	tap_ok "$name: attach"
	tap_eq "$name: size" "$size" "$(blockdev --getsize64 "$dev")"
	tap_cmp "$name: reads what QEMU wrote" "$ref" "$dev"
	if put $((5 * MiB + 4096)) 8192 && put $((7 * MiB + 1536)) $((MiB)) &&
	   put $((40 * MiB)) 4096 && put $((size - 512)) 512; then
		tap_ok "$name: writes"
	else
		tap_fail "$name: writes" "a write to $dev failed"
	fi
	blockdev --flushbufs "$dev"
	tap_cmp "$name: reads back its own writes" "$ref" "$dev"
	tap_check "$name: detach" "$VDISETUP" detach "$dev"
	tap_check "$name: qemu-img check is clean" qemu-img check -q -f vdi "$img"
	tap_check "$name: qemu-img compare agrees" \
		qemu-img compare -f vdi -F raw "$img" "$ref"
	# QEMU writes after the driver: a new block and a block the driver made.
	qemu-io -f vdi -c "write -P 0x5a $((20 * MiB)) $((MiB))" \
		-c "write -P 0xa5 $((40 * MiB - 512)) 1024" "$img" > /dev/null
	qemu-io -f raw -c "write -P 0x5a $((20 * MiB)) $((MiB))" \
		-c "write -P 0xa5 $((40 * MiB - 512)) 1024" "$ref" > /dev/null
	if vdi_attach dev "$img"; then
		tap_cmp "$name: reads what QEMU wrote after it" "$ref" "$dev"
		tap_check "$name: detach again" "$VDISETUP" detach "$dev"
	else
		tap_fail "$name: reads what QEMU wrote after it" "vdisetup attach failed"
	fi
}

tap_plan

# A raw reference with data in blocks 5-7 and a partial block 12.
base=$scratch/base.raw
truncate -s "$size" "$base"
head -c $((3 * MiB)) /dev/urandom | write_at "$base" $((5 * MiB)) /dev/stdin
head -c 4096 /dev/urandom | write_at "$base" $((12 * MiB + 8192)) /dev/stdin

for kind in dynamic static; do
	opt=
	[ $kind = static ] && opt="-o static=on"
	# Empty, from qemu-img create.
	img=$scratch/empty-$kind.vdi
	ref=$scratch/empty-$kind.raw
	qemu-img create -q -f vdi $opt "$img" "$size"
	truncate -s "$size" "$ref"
	cycle "create $kind"
	# With data, from qemu-img convert.
	img=$scratch/convert-$kind.vdi
	ref=$scratch/convert-$kind.raw
	qemu-img convert -f raw -O vdi $opt "$base" "$img"
	cp "$base" "$ref"
	cycle "convert $kind"
done

tap_done
