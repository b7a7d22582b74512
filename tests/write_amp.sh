#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Write amplification of first writes. The image lives on ext4 over a
# memory-backed null_blk (which, unlike brd, counts what reaches it). fio
# writes 16 MiB of 4 KiB random pieces, direct, scattered over an empty
# 1 GiB image (so nearly all 1024 blocks get allocated by a 4 KiB write),
# then fsyncs the device. The bytes that reached nullb0 (field 7 of
# /sys/block/nullb0/stat, in sectors) must be at most
#
#	1.1 x the bytes written to /dev/vdiN (its own stat field 7)
#	+ F x (map bytes + 512)
#
# where F is the number of flushes /dev/vdiN completed (stat field 16) and
# the map bytes are those of the whole on-disk block map rounded up to a
# sector (4096 for 1024 blocks): each flush may rewrite every map sector and
# the header sector. The 0.1 covers ext4's own journal and metadata. QEMU
# writes a whole zero-padded 1 MiB block for such a write: 256x.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup fio mkfs.ext4

# measure NAME ATTACH-OPTION...: one round on a fresh image.
measure()
{
	local name=$1 img=$nb/$RANDOM.vdi dev disk0 disk1 user0 user1 fl0 fl1
	local disk user flushes map allow
	shift
	if ! "$VDISETUP" create "$img" 1G || ! vdi_attach dev "$@" "$img"; then
		tap_fail "$name: create and attach" "vdisetup failed"
		return
	fi
	tap_ok "$name: create and attach $img as $dev"
	sync
	disk0=$(blk_stat nullb0 7)
	user0=$(blk_stat "${dev#/dev/}" 7)
	fl0=$(blk_stat "${dev#/dev/}" 16)
	tap_check "$name: fio 16 MiB of 4 KiB random first writes" \
		quiet fio --name=wa --filename="$dev" --rw=randwrite --bs=4k \
		--direct=1 --ioengine=libaio --iodepth=16 --size=1G \
		--io_size=16M --randseed=77 --end_fsync=1
	sync "$dev"
	sync
	disk1=$(blk_stat nullb0 7)
	user1=$(blk_stat "${dev#/dev/}" 7)
	fl1=$(blk_stat "${dev#/dev/}" 16)
	disk=$(((disk1 - disk0) * 512))
	user=$(((user1 - user0) * 512))
	flushes=$((fl1 - fl0))
	map=$(((($(peek32 "$img" $VDI_OFF_BLOCKS) * 4) + 511) / 512 * 512))
	allow=$((flushes * (map + 512)))
	echo "# $name: nullb0 got $disk bytes for $user written to $dev" \
		"($(awk -v d=$disk -v u=$user 'BEGIN { printf "%.3f", u ? d / u : 0 }')x)," \
		"$flushes flushes, metadata allowance $allow bytes"
	tap_eq "$name: /dev/vdiN received the 16 MiB fio wrote" $((16 * MiB)) "$user"
	# At least the data itself must have reached the disk by now.
	if [ "$disk" -ge "$user" ]; then
		tap_ok "$name: the data reached nullb0"
	else
		tap_fail "$name: the data reached nullb0" "only $disk bytes"
	fi
	if [ $((disk * 10)) -le $((user * 11 + allow * 10)) ]; then
		tap_ok "$name: bytes on nullb0 <= 1.1 x written + $allow"
	else
		tap_fail "$name: bytes on nullb0 <= 1.1 x written + $allow" \
			"$disk > $((user * 11 / 10 + allow))"
	fi
	tap_check "$name: detach" "$VDISETUP" detach "$dev"
	rm -f "$img"
}

tap_plan
nb=$scratch/nullb
if ! vdi_nullb_fs "$nb"; then
	tap_fail "ext4 on null_blk" "cannot set up null_blk with ext4"
	tap_done
fi
tap_ok "ext4 on a memory-backed null_blk"
measure "default attach"
measure "--direct-io attach" --direct-io
tap_done
