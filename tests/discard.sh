#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Discard and write-zeroes on /dev/vdiN, with the image on ext4 (a
# loop-mounted file) so that the space given back is measured in bytes
# (st_blocks): whole blocks discarded become zero blocks and leave the file
# at once, part of a block is punched out, write-zeroes with and without
# unmap, fstrim on an ext4 on the device; discarded ranges read as zeros, a
# discard racing a write leaves the data or zeros, a zero block takes a
# write again. At detach the freed data blocks are filled from the end,
# by the detach call itself, which keeps no other opener waiting: the
# image passes qemu-img check and vdisetup check, is as long as its data,
# and reads as before. A static image is zeroed in place instead:
# its map and length never change.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup mkfs.ext4 blkdiscard fstrim fallocate qemu-img sha256sum fsfreeze

# du_bytes FILE: the bytes FILE has allocated.
du_bytes() { echo $(($(stat -c %b "$1") * 512)); }

# zeros NAME DEV OFFSET LENGTH: LENGTH bytes at OFFSET read as zeros.
zeros()
{
	tap_cmp "$1" <(read_at "$2" "$3" "$4") <(head -c "$4" /dev/zero)
}

# pattern N: 1 MiB of the byte N.
pattern() { head -c "$MiB" /dev/zero | tr '\0' "\\$(printf %03o "$1")"; }

# gave_back NAME BYTES BEFORE AFTER: the file's allocation dropped by BYTES,
# give or take an ext4 extent tree block (4 KiB).
gave_back()
{
	local d=$(($3 - $4))
	echo "# $1: $3 -> $4 bytes allocated, $d back"
	tap_eq "$1" yes "$([ $d -ge $(($2 - 4096)) ] && [ $d -le $(($2 + 4096)) ] && echo yes)"
}

attr() { cat "/sys/block/${dev#/dev/}/$1"; }

tap_plan
dmesg_start=$(dmesg | wc -l)
vdi_ext4_image 512M 256M

tap_eq "discard granularity: the backing file system's block" 4096 \
	"$(attr queue/discard_granularity)"
tap_eq "discard and write-zeroes up to 1 GiB a request" "1073741824 1073741824" \
	"$(attr queue/discard_max_bytes) $(attr queue/write_zeroes_max_bytes)"

# 64 MiB of data in blocks 0-63, each block its own pattern.
for b in $(seq 0 63); do pattern $((b + 1)); done > "$scratch/want.raw"
write_at "$dev" 0 "$scratch/want.raw" direct
sync
du0=$(du_bytes "$img")

# Whole blocks 8-23: zero blocks, 16 MiB back to the file system.
blkdiscard -o $((8 * MiB)) -l $((16 * MiB)) "$dev"
du1=$(du_bytes "$img")
gave_back "discard of 16 whole blocks gives back 16 MiB" $((16 * MiB)) "$du0" "$du1"
tap_eq "sysfs: 48 blocks allocated, 16 zero" "48 16" \
	"$(attr vdi/allocated_blocks) $(attr vdi/zero_blocks)"
zeros "the discarded blocks read as zeros" "$dev" $((8 * MiB)) $((16 * MiB))
head -c $((16 * MiB)) /dev/zero | write_at "$scratch/want.raw" $((8 * MiB)) /dev/stdin

# 8 KiB inside block 40: punched, the rest of the block is kept.
blkdiscard -o $((40 * MiB + 8192)) -l 8192 "$dev"
du2=$(du_bytes "$img")
gave_back "discard of 8 KiB inside a block gives back 8 KiB" 8192 "$du1" "$du2"
head -c 8192 /dev/zero | write_at "$scratch/want.raw" $((40 * MiB + 8192)) /dev/stdin
tap_cmp "blocks 40 and 41 read as the data with the 8 KiB zero" \
	<(read_at "$scratch/want.raw" $((40 * MiB)) $((2 * MiB))) \
	<(read_at "$dev" $((40 * MiB)) $((2 * MiB)))

# Write-zeroes without unmap (BLKZEROOUT): zeroed in place, still allocated.
blkdiscard -z -o $((30 * MiB)) -l $((2 * MiB + 4096)) "$dev"
zeros "blkdiscard -z: reads as zeros" "$dev" $((30 * MiB)) $((2 * MiB + 4096))
tap_eq "blkdiscard -z: the blocks stay allocated" "48 16" \
	"$(attr vdi/allocated_blocks) $(attr vdi/zero_blocks)"
head -c $((2 * MiB + 4096)) /dev/zero | write_at "$scratch/want.raw" $((30 * MiB)) /dev/stdin

# Write-zeroes that may unmap (fallocate --punch-hole on the device).
fallocate -p -o $((48 * MiB)) -l $((4 * MiB)) "$dev"
du3=$(du_bytes "$img")
gave_back "write-zeroes with unmap of 4 whole blocks gives back 4 MiB" \
	$((4 * MiB)) "$du2" "$du3"
zeros "... and they read as zeros" "$dev" $((48 * MiB)) $((4 * MiB))
head -c $((4 * MiB)) /dev/zero | write_at "$scratch/want.raw" $((48 * MiB)) /dev/stdin
tap_eq "sysfs: 44 blocks allocated, 20 zero" "44 20" \
	"$(attr vdi/allocated_blocks) $(attr vdi/zero_blocks)"

# A zero block is allocated again by a write, at the end of the data.
pattern 99 > "$scratch/p"
write_at "$dev" $((10 * MiB)) "$scratch/p" direct
write_at "$scratch/want.raw" $((10 * MiB)) "$scratch/p"
tap_cmp "a zero block takes a write" "$scratch/p" <(read_at "$dev" $((10 * MiB)) "$MiB")
tap_eq "sysfs: 45 blocks allocated, 19 zero" "45 19" \
	"$(attr vdi/allocated_blocks) $(attr vdi/zero_blocks)"

# A discard racing writes to the same block: the block holds the new data
# or zeros afterwards, never the old bytes (pattern 200) or others.
stale=0
pattern 200 > "$scratch/old"
for i in $(seq 1 20); do
	b=$((64 + i))
	write_at "$dev" $((b * MiB)) "$scratch/old" direct
	pattern $i > "$scratch/p"
	write_at "$dev" $((b * MiB)) "$scratch/p" direct &
	blkdiscard -o $((b * MiB)) -l "$MiB" "$dev"
	wait
	# Bytes other than the new pattern and zeros.
	[ "$(read_at "$dev" $((b * MiB)) "$MiB" |
		LC_ALL=C tr -d "\\000\\$(printf %03o "$i")" | wc -c)" = 0 ] ||
		stale=$((stale + 1))
	# Whatever it holds now is what it must hold after detach too.
	read_at "$dev" $((b * MiB)) "$MiB" | write_at "$scratch/want.raw" $((b * MiB)) /dev/stdin
done
tap_eq "20 discards racing writes: only new data and zeros" 0 "$stale"

# fstrim on an ext4 on the device: a deleted 96 MiB file goes back.
mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 -L t "$dev"
mnt=$scratch/mnt
tap_check "mount the device's ext4" vdi_mount "$dev" "$mnt"
head -c $((96 * MiB)) /dev/urandom > "$mnt/f"
sync
du4=$(du_bytes "$img")
rm "$mnt/f"
sync
fstrim "$mnt"
sync
du5=$(du_bytes "$img")
echo "# fstrim after deleting 96 MiB: $du4 -> $du5 bytes allocated ($(((du4 - du5) / 1024)) KiB back)"
tap_eq "fstrim gives back at least 90 MiB" yes \
	"$([ $((du4 - du5)) -ge $((90 * MiB)) ] && echo yes)"
head -c $((3 * MiB)) /dev/urandom > "$mnt/g"
fallocate -z -o $MiB -l $MiB "$mnt/g"
tap_cmp "fallocate -z on the ext4 above reads back zeros" \
	<(head -c $MiB /dev/zero) <(read_at "$mnt/g" $MiB $MiB)
umount "$mnt"

# At detach: the holes are filled from the end, the file is cut. That
# copying is done by the detach call, not at its close under the disk's
# open_mutex: held up there (the file system below frozen), it must not
# keep another open of the device waiting. That opener keeps the device
# (detach: busy), whose next first writes must not land in a freed block
# that the copying filled.
read_at "$dev" 0 $((256 * MiB)) > "$scratch/want.raw"
blockdev --flushbufs "$dev"	# the map is clean: only the copying writes
fsfreeze -f "$host"
"$VDISETUP" detach "$dev" & detach_pid=$!
for i in $(seq 1 200); do
	[ "$(cut -d' ' -f3 "/proc/$detach_pid/stat" 2>/dev/null)" = D ] && break
	sleep 0.1
done
tap_eq "detach waits for the frozen file system to give blocks back" D \
	"$(cut -d' ' -f3 "/proc/$detach_pid/stat" 2>/dev/null)"
sleep 600 <"$dev" & holder=$!
for i in $(seq 1 50); do
	[ "$(cat "/proc/$holder/comm" 2>/dev/null)" = sleep ] && break
	sleep 0.1
done
tap_eq "meanwhile an open of $dev returns at once" sleep \
	"$(cat "/proc/$holder/comm" 2>/dev/null)"
fsfreeze -u "$host"
wait "$detach_pid"
tap_eq "detach with that opener: busy" 1 $?
for b in $(seq 248 255); do pattern $((b - 200)); done > "$scratch/tail.raw"
write_at "$dev" $((248 * MiB)) "$scratch/tail.raw" direct
write_at "$scratch/want.raw" $((248 * MiB)) "$scratch/tail.raw"
tap_cmp "first writes after the copying: the device reads as written" \
	"$scratch/want.raw" <(read_at "$dev" 0 $((256 * MiB)))
kill "$holder"
wait "$holder"
used=$(attr vdi/allocated_blocks)
zero=$(attr vdi/zero_blocks)
tap_check "detach" "$VDISETUP" detach "$dev"
tap_check "qemu-img check after detach" qemu-img check -q -f vdi "$img"
tap_check "vdisetup check after detach" "$VDISETUP" check "$img"
tap_eq "the file ends after its $used data blocks" \
	$(($(peek32 "$img" $VDI_OFF_DATA) + used * MiB)) "$(stat -c %s "$img")"
tap_eq "$zero zero entries persisted" "$zero" \
	"$(od -An -v -t u4 -j "$(peek32 "$img" $VDI_OFF_BMAP)" -N 1024 --endian=little "$img" |
		tr -s ' ' '\n' | grep -c '^4294967294$')"
tap_check "qemu-img compare with what the device read" \
	qemu-img compare -q -f vdi -F raw "$img" "$scratch/want.raw"

# Read-only: neither advertised nor taken.
if vdi_attach dev -r "$img"; then
	tap_eq "read-only: no discard, no write-zeroes" "0 0" \
		"$(attr queue/discard_max_bytes) $(attr queue/write_zeroes_max_bytes)"
	"$VDISETUP" detach "$dev"
else
	tap_fail "read-only attach" "vdisetup attach -r failed"
fi
# A static image keeps every block in place: discard and write-zeroes
# zero it there, the map and the file stay as they were.
fixed=$scratch/fixed.vdi
"$VDISETUP" create --static "$fixed" 8M
map_of() { od -An -v -t u4 -j "$(peek32 "$1" $VDI_OFF_BMAP)" -N 32 --endian=little "$1" | tr -s ' \n' ' '; }
map0=$(map_of "$fixed")
size0=$(stat -c %s "$fixed")
if vdi_attach dev "$fixed"; then
	for i in 0 1 2 3 4 5 6 7; do pattern $((i + 1)); done > "$scratch/fixed.raw"
	write_at "$dev" 0 "$scratch/fixed.raw" direct
	blkdiscard -o $((2 * MiB)) -l $((2 * MiB)) "$dev"
	blkdiscard -z -o $((5 * MiB)) -l "$MiB" "$dev"
	head -c $((2 * MiB)) /dev/zero | dd of="$scratch/fixed.raw" bs=1M seek=2 conv=notrunc status=none
	head -c "$MiB" /dev/zero | dd of="$scratch/fixed.raw" bs=1M seek=5 conv=notrunc status=none
	tap_check "static: detach after discard and write-zeroes" "$VDISETUP" detach "$dev"
	tap_eq "static: the map is unchanged" "$map0" "$(map_of "$fixed")"
	tap_eq "static: the file is as long as before" "$size0" "$(stat -c %s "$fixed")"
	tap_check "static: qemu-img check" qemu-img check -q -f vdi "$fixed"
	tap_check "static: qemu-img compare with the data, zeros where discarded" \
		qemu-img compare -q -f vdi -F raw "$fixed" "$scratch/fixed.raw"
else
	tap_fail "static: attach" "vdisetup attach failed"
fi
tap_kernel_log_clean "no WARN, BUG or oops in the kernel log" "$dmesg_start"
tap_done
