#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Failed writes of the block map. The image lives on an ext4 (no journal,
# errors=continue) over a dm table that is dm-linear throughout, or
# dm-linear with a dm-error segment over the one file system block that
# holds the image's map sectors 8-15 (virtual blocks 1024-2047): only the
# map's writeback fails there, the header and the data still work.
#
#  1. A flush whose map write fails reports EIO, and the map sectors it
#     could not make durable stay to be written: after the fault, a write
#     elsewhere, a flush and detach, with the page cache dropped (the file
#     system's clean pages hold what the disk may not), vdisetup check and
#     qemu-img check find no cross-link (two entries on one data block: a
#     freed block moved into at detach while the disk still names it) and
#     every acknowledged byte reads back, the discarded block as zeros.
#     The freed block stays unused (a leak: exit 3, and QEMU's "allocated
#     blocks mismatch"), since after a failed flush nothing is reused.
#  2. A detach whose map write fails fails with EIO and leaves the device
#     bound; after the fault it detaches, and nothing written is lost.
#  3. The pack at detach (freed blocks filled from the end) whose map
#     write fails leaves the moved block where its entry is: a leak.
#  4. Attach while the map cannot be read fails with EIO, binds nothing.
#  5. An online grow whose header cannot be written (after the new map
#     sectors were) fails with EIO and keeps the size; after the fault it
#     grows, data intact.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup dmsetup losetup mkfs.ext4 debugfs qemu-img timeout blkdiscard

# setup_fail WHAT: a step the rest of the test needs failed.
setup_fail()
{
	tap_fail "set up" "$1"
	tap_done
}

# file_pblk IMAGE N: the file system block that holds the Nth 4 KiB of
# the image file.
file_pblk()
{
	sync -f "$1" 2>/dev/null
	debugfs -R "bmap /${1##*/} $2" "/dev/mapper/$vdi_dm" 2>/dev/null
}

# map_pblk IMAGE: the file system block that holds the image's map
# sectors 8-15, virtual blocks 1024-2047 (the map starts at a 4 KiB-aligned
# offset in vdisetup's images).
map_pblk()
{
	file_pblk "$1" $(($(peek32 "$1" $VDI_OFF_BMAP) / 4096 + 1))
}

uncache()
{
	echo 3 > /proc/sys/vm/drop_caches
	dd if="$1" iflag=nocache count=0 status=none
}

# verify NAME IMAGE BLOCK:FILE...: after detach, with the page cache
# dropped, both checks pass (leaks allowed) and each virtual BLOCK reads
# as FILE.
verify()
{
	local name=$1 image=$2 rc=0 out dev b f
	shift 2
	uncache "$image"
	out=$("$VDISETUP" check "$image" 2>&1) || rc=$?
	tap_eq "$name: vdisetup check: no corruption (exit 0 or 3)" yes \
		"$([ $rc = 0 ] || [ $rc = 3 ] && echo yes)"
	[ $rc = 0 ] || printf '%s\n' "$out" | sed 's/^/# check: /'
	# Blocks left unused after a failed flush are leaks to us and an
	# "allocated blocks mismatch" to QEMU; any other error is damage.
	out=$(qemu-img check -f vdi "$image" 2>&1)
	tap_eq "$name: qemu-img check: no block used twice, no other error" "" \
		"$(printf '%s\n' "$out" | grep ERROR | grep -v 'allocated blocks mismatch')"
	if ! vdi_attach dev -r "$image"; then
		tap_fail "$name: attach again" "vdisetup attach failed"
		return
	fi
	for b in "$@"; do
		f=${b#*:}
		b=${b%%:*}
		tap_cmp "$name: virtual block $b reads back" "$f" \
			<(read_at "$dev" $((b * MiB)) "$MiB")
	done
	"$VDISETUP" detach "$dev"
}

tap_plan
dmesg_start=$(dmesg | wc -l)
mnt=$scratch/mnt
vdi_dm_ext4 "$mnt"
for i in 0 1 2 3; do
	head -c "$MiB" /dev/urandom > "$scratch/d$i"
done
head -c "$MiB" /dev/zero > "$scratch/zero"

# --- 1. A failed flush, then a successful one, then detach. ---
img=$mnt/flush.vdi
"$VDISETUP" create "$img" 2G
vdi_attach dev "$img" || setup_fail "attach failed"
write_at "$dev" $((0 * MiB)) "$scratch/d0" direct
write_at "$dev" $((1100 * MiB)) "$scratch/d1" direct
write_at "$dev" $((1200 * MiB)) "$scratch/d2" direct
tap_check "flush: the data is flushed" timeout 60 sync "$dev"
sync -f "$img"
pblk=$(map_pblk "$img")
[ -n "$pblk" ] || setup_fail "no block for the map in debugfs"
blkdiscard -o $((1100 * MiB)) -l "$MiB" "$dev"
tap_check "flush: fail the map's file system block ($pblk)" vdi_dm_table "$pblk"
rc=0
timeout 60 sync "$dev" 2> "$scratch/err" || rc=$?
tap_eq "flush: a flush whose map write fails reports EIO" \
	"1 Input/output error" \
	"$rc $(grep -o 'Input/output error' "$scratch/err" | head -n 1)"
tap_check "flush: the fault ends" vdi_dm_table linear
write_at "$dev" $((50 * MiB)) "$scratch/d3" direct
tap_check "flush: the next flush succeeds" timeout 60 sync "$dev"
tap_check "flush: detach" "$VDISETUP" detach "$dev"
verify flush "$img" 0:"$scratch/d0" 1100:"$scratch/zero" \
	1200:"$scratch/d2" 50:"$scratch/d3"

# --- 2. A detach whose map write fails. ---
img=$mnt/detach.vdi
"$VDISETUP" create "$img" 2G
vdi_attach dev "$img" || setup_fail "attach failed"
write_at "$dev" $((0 * MiB)) "$scratch/d0" direct
write_at "$dev" $((1100 * MiB)) "$scratch/d1" direct
tap_check "detach: the data is flushed" timeout 60 sync "$dev"
sync -f "$img"
pblk=$(map_pblk "$img")
[ -n "$pblk" ] || setup_fail "no block for the map in debugfs"
write_at "$dev" $((1300 * MiB)) "$scratch/d2" direct
tap_check "detach: fail the map's file system block ($pblk)" vdi_dm_table "$pblk"
rc=0
"$VDISETUP" detach "$dev" 2> "$scratch/err" || rc=$?
tap_eq "detach: fails with EIO while the map cannot be written" \
	"fail Input/output error" \
	"$([ $rc = 0 ] && echo success || echo fail) $(grep -o 'Input/output error' "$scratch/err" | head -n 1)"
tap_eq "detach: the device stays bound" "$img" \
	"$(cat "/sys/block/${dev#/dev/}/vdi/backing_file" 2>/dev/null)"
tap_check "detach: the fault ends" vdi_dm_table linear
if [ -n "$(cat "/sys/block/${dev#/dev/}/vdi/backing_file" 2>/dev/null)" ]; then
	tap_check "detach: detach after the fault" "$VDISETUP" detach "$dev"
fi
verify detach "$img" 0:"$scratch/d0" 1100:"$scratch/d1" 1300:"$scratch/d2"
tap_check "detach: the kernel log names the failed map write" \
	grep -q "detach.vdi: writing the block map failed" <(dmesg | tail -n +"$dmesg_start")

# --- 3. Detach packs freed blocks, and the map write of the pack fails:
# the block moved keeps its old entry, the copy is a leak. ---
img=$mnt/pack.vdi
"$VDISETUP" create "$img" 2G
vdi_attach dev "$img" || setup_fail "attach failed"
write_at "$dev" $((0 * MiB)) "$scratch/d0" direct
write_at "$dev" $((1100 * MiB)) "$scratch/d1" direct
write_at "$dev" $((1200 * MiB)) "$scratch/d2" direct
write_at "$dev" $((1300 * MiB)) "$scratch/d3" direct
blkdiscard -o $((1100 * MiB)) -l "$MiB" "$dev"
tap_check "pack: the discard is flushed" timeout 60 sync "$dev"
pblk=$(map_pblk "$img")
tap_check "pack: fail the map's file system block ($pblk)" vdi_dm_table "$pblk"
tap_check "pack: detach (nothing left to flush; the pack fails at the close)" \
	"$VDISETUP" detach "$dev"
tap_check "pack: the kernel log says the freed block was not given back" \
	grep -q "pack.vdi: freed data blocks not given back" <(dmesg | tail -n +"$dmesg_start")

# --- 4. Attach while the map cannot be read: EIO, nothing bound. ---
uncache "$img"
rc=0
"$VDISETUP" attach --show "$img" > "$scratch/out" 2> "$scratch/err" || rc=$?
tap_eq "attach: fails with EIO while the map cannot be read" \
	"fail Input/output error" \
	"$([ $rc = 0 ] && echo success || echo fail) $(grep -o 'Input/output error' "$scratch/err" | head -n 1)"
[ $rc != 0 ] || vdi_devs+=("$(cat "$scratch/out")")
tap_eq "attach: no device bound to it" "" \
	"$(grep -lx "$img" /sys/block/vdi*/vdi/backing_file 2>/dev/null)"
tap_check "attach: the fault ends" vdi_dm_table linear
verify pack "$img" 0:"$scratch/d0" 1100:"$scratch/zero" \
	1200:"$scratch/d2" 1300:"$scratch/d3"

# --- 5. Online grow whose header cannot be written. ---
img=$mnt/grow.vdi
"$VDISETUP" create "$img" 2G
vdi_attach dev "$img" || setup_fail "attach failed"
write_at "$dev" 0 "$scratch/d0" direct
tap_check "grow: the data is flushed" timeout 60 sync "$dev"
pblk=$(file_pblk "$img" 0)
tap_check "grow: fail the header's file system block ($pblk)" vdi_dm_table "$pblk"
rc=0
"$VDISETUP" resize "$img" 3G 2> "$scratch/err" || rc=$?
tap_eq "grow: fails with EIO" "fail Input/output error" \
	"$([ $rc = 0 ] && echo success || echo fail) $(grep -o 'Input/output error' "$scratch/err" | head -n 1)"
tap_eq "grow: the device keeps its size" $((2048 * MiB)) "$(blockdev --getsize64 "$dev")"
tap_check "grow: the fault ends" vdi_dm_table linear
tap_check "grow: grows after the fault" "$VDISETUP" resize "$img" 3G
tap_eq "grow: the device has the new size" $((3072 * MiB)) "$(blockdev --getsize64 "$dev")"
write_at "$dev" $((2560 * MiB)) "$scratch/d1" direct
tap_check "grow: detach" "$VDISETUP" detach "$dev"
verify grow "$img" 0:"$scratch/d0" 2560:"$scratch/d1"

tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
