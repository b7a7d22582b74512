#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Pattern writes and reads through /dev/vdiN at block boundaries, across
# blocks, in the last partial block of odd-sized disks and over stale bytes
# past the end of the data area. Every write goes to a raw reference file
# too; the device must read back the piece just written, match the whole
# reference, and after detach `qemu-img compare -f vdi -F raw` must find the
# image equal to the reference and `qemu-img check` must find it clean.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup qemu-img cmp blockdev

# step NAME OFFSET LENGTH [direct]: random bytes to the device and to the
# reference; the device must give them back (O_DIRECT read for an aligned
# piece, a read after dropping the page cache otherwise).
step()
{
	local name=$1 off=$2 len=$3 dio=${4:-} piece=$scratch/piece out
	head -c "$len" /dev/urandom > "$piece"
	write_at "$ref" "$off" "$piece"
	if ! out=$(write_at "$dev" "$off" "$piece" ${dio:+direct} 2>&1); then
		tap_fail "$name: write $len at $off" "$out"
		return
	fi
	if [ -n "$dio" ]; then
		dd if="$dev" bs=512 iflag=direct,skip_bytes,count_bytes skip="$off" \
			count="$len" status=none > "$scratch/back"
	else
		blockdev --flushbufs "$dev"
		read_at "$dev" "$off" "$len" > "$scratch/back"
	fi
	tap_cmp "$name: write $len at $off reads back" "$piece" "$scratch/back"
}

# whole NAME SIZE: the device is SIZE bytes and equals the reference.
whole()
{
	tap_eq "$1: device size" "$2" "$(blockdev --getsize64 "$dev")"
	blockdev --flushbufs "$dev"
	tap_cmp "$1: whole device equals the reference" "$ref" "$dev"
}

# after_detach NAME BLOCKS: detach, then qemu-img's verdicts and the number
# of allocated blocks in the map and in the header.
after_detach()
{
	tap_check "$1: detach" "$VDISETUP" detach "$dev"
	tap_check "$1: qemu-img check is clean" qemu-img check -q -f vdi "$img"
	tap_check "$1: qemu-img compare with the reference" \
		qemu-img compare -f vdi -F raw "$img" "$ref"
	tap_eq "$1: allocated map entries" "$2" "$(allocated_entries "$img")"
	tap_eq "$1: header blocks_allocated" "$2" "$(peek32 "$img" $VDI_OFF_ALLOCATED)"
}

tap_plan

# --- A disk of 9 MiB + 3584 bytes: the last 1 MiB block is partial. ---
size=$((9 * MiB + 3584))
img=$scratch/odd.vdi
ref=$scratch/odd.raw
qemu-img create -q -f vdi "$img" "$size"
truncate -s "$size" "$ref"
if ! vdi_attach dev "$img"; then
	tap_fail "odd: attach" "vdisetup attach failed"
	tap_done
fi
tap_ok "odd: attach $img as $dev"
whole odd "$size"
step "odd: first sector" 0 4096 direct
step "odd: last sector of block 0" $((MiB - 512)) 512 direct
step "odd: first sector of block 1" $((MiB)) 512 direct
step "odd: 8 KiB across blocks 1-2" $((2 * MiB - 4096)) 8192 direct
step "odd: 3 MiB + 100 KiB over blocks 2-6" $((3 * MiB - 51200)) $((3 * MiB + 102400)) direct
step "odd: unaligned 1000 bytes across blocks 4-5" $((5 * MiB - 333)) 1000
step "odd: unaligned overwrite inside block 0" 1000 3000
step "odd: whole block 7" $((7 * MiB)) $((MiB)) direct
step "odd: last 7 sectors (partial block 9)" $((size - 3584)) 3584 direct
step "odd: very last sector" $((size - 512)) 512 direct
out=$(write_at "$dev" "$size" "$scratch/piece" direct 2>&1)
tap_eq "odd: a write past the end fails with ENOSPC" 1 \
	"$(grep -c 'No space left on device' <<< "$out")"
whole odd "$size"
# Blocks 0-7 and 9 were written; block 8 never was.
after_detach odd 9
if vdi_attach dev "$img"; then
	tap_ok "odd: attach again"
	whole "odd, attached again" "$size"
	tap_check "odd: detach again" "$VDISETUP" detach "$dev"
else
	tap_fail "odd: attach again" "vdisetup attach failed"
fi

# --- disk_size not a multiple of 512: rounds up to the sector, as QEMU. ---
img=$scratch/unaligned.vdi
ref=$scratch/unaligned.raw
qemu-img create -q -f vdi "$img" $((5 * MiB + 1024))
poke32 "$img" $VDI_OFF_DISK_SIZE $((5 * MiB + 1000))
truncate -s $((5 * MiB + 1024)) "$ref"
if vdi_attach dev "$img"; then
	tap_ok "unaligned: attach a disk of 5 MiB + 1000 bytes"
	whole unaligned $((5 * MiB + 1024))
	step "unaligned: the rounded-up last sector" $((5 * MiB + 512)) 512 direct
	step "unaligned: across the last block boundary" $((5 * MiB - 2048)) 3072 direct
	whole unaligned $((5 * MiB + 1024))
	after_detach unaligned 2
else
	tap_fail "unaligned: attach a disk of 5 MiB + 1000 bytes" "vdisetup attach failed"
fi

# --- Stale bytes past the data area: new blocks must still read as zeros. ---
img=$scratch/stale.vdi
ref=$scratch/stale.raw
qemu-img create -q -f vdi "$img" $((4 * MiB))
truncate -s $((4 * MiB)) "$ref"
head -c $((3 * MiB)) /dev/zero | tr '\0' '\252' >> "$img"
if vdi_attach dev "$img"; then
	tap_ok "stale: attach an image with 3 MiB of 0xaa past its data"
	whole stale $((4 * MiB))
	step "stale: 4 KiB into block 0" $((512 * 1024)) 4096 direct
	step "stale: 512 bytes into block 1" $((MiB + 4096)) 512 direct
	step "stale: 512 bytes into block 3" $((3 * MiB + 512)) 512 direct
	whole stale $((4 * MiB))
	after_detach stale 3
else
	tap_fail "stale: attach an image with 3 MiB of 0xaa past its data" "vdisetup attach failed"
fi

tap_done
