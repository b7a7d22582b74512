#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vdisetup attach --direct-io=on|off|auto, on ext4 over a null_blk with
# 4 KiB sectors, whose direct I/O alignment is 4 KiB: images made by
# vdisetup (data at 2 MiB) can have direct I/O, images made by qemu-img
# (data at 1 KiB) cannot. auto picks accordingly, on refuses the QEMU image
# with EINVAL, the reason in the kernel log and no device left behind, and
# list and sysfs report the choice. On a loop device with 512-byte sectors
# the QEMU image is refused too: its data starts inside the map's last
# page (the page cache's writeback of it would undo direct writes). Direct I/O really bypasses the image
# file's page cache (fincore), buffered I/O does not. Data written in one
# mode reads back in the other, both for whole blocks and for fio's random
# writes of 512 B to 64 KiB, which mix requests aligned for direct I/O with
# unaligned ones (buffered) in one image, verified by crc32c. Requests
# cross VDI blocks: one request over blocks contiguous in the file, right
# data over blocks out of order or not yet allocated.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup fio jq qemu-img mkfs.ext4 fincore losetup

tap_plan
dmesg_start=$(dmesg | wc -l)
mnt=$scratch/mnt
if ! vdi_nullb_fs "$mnt"; then
	tap_fail "ext4 on null_blk" "vdi_nullb_fs failed"
	tap_done
fi
own=$mnt/own.vdi
qemu=$mnt/qemu.vdi
if ! "$VDISETUP" create "$own" 64M || ! qemu-img create -q -f vdi "$qemu" 64M; then
	tap_fail "create the images" "vdisetup create or qemu-img create failed"
	tap_done
fi

# dio_shown DEV: "json/table/sysfs", the dio field of vdisetup list --json,
# the DIO column of vdisetup list and VDI_FLAG_DIRECT_IO in the flags
# attribute, each true or false.
dio_shown()
{
	local json table flags
	json=$("$VDISETUP" list -J |
		jq -r --arg d "$1" '.vdidevices[] | select(.name == $d) | .dio')
	table=$("$VDISETUP" list | awk -v d="$1" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == "DIO") col = i }
		$1 == d { print $col == 1 ? "true" : "false" }')
	flags=$(cat "/sys/block/${1#/dev/}/vdi/flags")
	echo "$json/$table/$([ $((flags & 8)) != 0 ] && echo true || echo false)"
}

# check_mode IMAGE EXPECTED [OPTION]: attached with OPTION, the device
# reports direct I/O EXPECTED (true or false).
check_mode()
{
	local img=$1 want=$2 dev
	shift 2
	if ! vdi_attach dev "$@" "$img"; then
		tap_fail "${img##*/} ${*:-(default)}: attach" "vdisetup attach failed"
		return
	fi
	tap_eq "${img##*/} ${*:-(default)}: direct I/O $want in list and sysfs" \
		"$want/$want/$want" "$(dio_shown "$dev")"
	"$VDISETUP" detach "$dev"
}

check_mode "$own" true --direct-io=on
check_mode "$own" true --direct-io
check_mode "$own" true --direct-io=auto
check_mode "$own" true
check_mode "$own" false --direct-io=off
check_mode "$qemu" false --direct-io=auto
check_mode "$qemu" false
check_mode "$qemu" false --direct-io=off

# vdi_count: how many of our devices exist.
vdi_count()
{
	local d n=0
	for d in /sys/block/vdi[0-9]*/vdi; do
		[ -d "$d" ] && n=$((n + 1))
	done
	echo $n
}

devs_before=$(vdi_count)
out=$("$VDISETUP" attach --show --direct-io=on "$qemu" 2>&1)
rc=$?
tap_eq "qemu.vdi --direct-io=on: refused with EINVAL and why" \
	"1 $qemu: attach failed: Invalid argument (no direct I/O on this file; the kernel log says why)" \
	"$rc $out"
tap_eq "qemu.vdi --direct-io=on: the kernel log names the misalignment" 1 \
	"$(dmesg | tail -n +$((dmesg_start + 1)) | grep -cF \
		"vdi: qemu.vdi: no direct I/O: data offset 1024 or block size 1048576 is not a multiple of 4096, the backing file's direct I/O alignment")"
tap_eq "qemu.vdi --direct-io=on: no device made for it" "$devs_before" \
	"$(vdi_count)"
# A block device with 512-byte sectors takes direct I/O at 512 bytes, but
# the data of QEMU's image starts inside the map's last page: refused.
modprobe -q loop
if loopdev=$(losetup -f --show "$qemu"); then
	check_mode "$loopdev" false --direct-io=auto
	out=$("$VDISETUP" attach --show --direct-io=on "$loopdev" 2>&1)
	tap_eq "qemu.vdi on a 512-byte loop device, --direct-io=on: refused" \
		"1 $loopdev: attach failed: Invalid argument (no direct I/O on this file; the kernel log says why)" \
		"$? $out"
	tap_eq "... the kernel log names the page the data shares with the map" 1 \
		"$(dmesg | tail -n +$((dmesg_start + 1)) | grep -cF \
			"vdi: ${loopdev#/dev/}: no direct I/O: data offset 1024 is not a multiple of the page size 4096, so the block map's cached writes would share a page with the data")"
	losetup -d "$loopdev"
else
	tap_fail "qemu.vdi on a loop device" "losetup failed"
fi
tap_eq "--direct-io=maybe: a usage error" 1 \
	"$("$VDISETUP" attach --direct-io=maybe "$own" >/dev/null 2>&1; echo $?)"

# cached FILE: bytes of FILE in the page cache.
cached()
{
	fincore --bytes --noheadings --output RES "$1"
}

# Whole blocks, written and read with dd: the first 32 MiB buffered, then
# rewritten with direct I/O in place, the next 32 MiB allocated with direct
# I/O; read back in the other mode each time.
head -c 32M /dev/urandom > "$scratch/a"
head -c 64M /dev/urandom > "$scratch/b"
sync
echo 3 > /proc/sys/vm/drop_caches
if vdi_attach dev --direct-io=off "$own"; then
	dd if="$scratch/a" of="$dev" bs=1M oflag=direct status=none
	sync
	tap_eq "off: 32 MiB written are in the image file's page cache" yes \
		"$( (($(cached "$own") >= 32 * MiB)) && echo yes)"
	"$VDISETUP" detach "$dev"
else
	tap_fail "off: attach" "vdisetup attach failed"
fi
echo 3 > /proc/sys/vm/drop_caches
if vdi_attach dev --direct-io=on "$own"; then
	tap_cmp "on: reads back what off wrote" "$scratch/a" \
		<(read_at "$dev" 0 $((32 * MiB)))
	dd if="$scratch/b" of="$dev" bs=1M oflag=direct status=none
	sync
	tap_cmp "on: reads back what it wrote, in place and allocated" \
		"$scratch/b" <(dd if="$dev" bs=1M iflag=direct status=none)
	# The header and map pages of the flushes are all that may be cached.
	tap_eq "on: 96 MiB moved, the image file's page cache stays empty" yes \
		"$( (($(cached "$own") < MiB)) && echo yes)"
	"$VDISETUP" detach "$dev"
else
	tap_fail "on: attach" "vdisetup attach failed"
fi
echo 3 > /proc/sys/vm/drop_caches
if vdi_attach dev --direct-io=off "$own"; then
	tap_cmp "off: reads back what on wrote" "$scratch/b" "$dev"
	"$VDISETUP" detach "$dev"
else
	tap_fail "off: attach" "vdisetup attach failed"
fi

# Requests across VDI blocks, 256 KiB (64 pages: one request within the
# queue's segment limit). Over blocks that follow each other in the file
# they take one request and one file range; over blocks out of order in
# the file, or one not allocated yet, they go block by block.
# dio_rw DEV|FILE OFFSET LENGTH [FILE]: direct I/O in 256 KiB pieces, a
# read of LENGTH bytes to stdout, or a write of FILE.
dio_rw()
{
	if [ -n "${4:-}" ]; then
		dd if="$4" of="$1" bs=256k oflag=direct,seek_bytes seek="$2" \
			conv=notrunc status=none
	else
		dd if="$1" bs=256k iflag=direct,skip_bytes,count_bytes \
			skip="$2" count="$3" status=none
	fi
}
across=$((MiB - 128 * 1024))
if vdi_attach dev --direct-io=on "$own"; then
	reads=$(blk_stat "${dev#/dev/}" 1)
	tap_cmp "on: 256 KiB read across contiguous blocks 0-1" \
		<(read_at "$scratch/b" "$across" $((256 * 1024))) \
		<(dio_rw "$dev" "$across" $((256 * 1024)))
	tap_eq "on: ... is one request, not split at the block end" 1 \
		$(($(blk_stat "${dev#/dev/}" 1) - reads))
	"$VDISETUP" detach "$dev"
else
	tap_fail "on: attach for reads across blocks" "vdisetup attach failed"
fi
ooo=$mnt/ooo.vdi
ref=$scratch/ooo.raw
"$VDISETUP" create "$ooo" 4M
truncate -s 4M "$ref"
if vdi_attach dev --direct-io=on "$ooo"; then
	# Block 1 first, then block 0: data blocks 1 and 0, out of order;
	# then across them, and across block 1 and the new block 2.
	for piece in $MiB:1M 0:1M "$across":256K $((MiB + across)):256K; do
		off=${piece%:*}
		head -c "${piece#*:}" /dev/urandom > "$scratch/piece"
		write_at "$ref" "$off" "$scratch/piece"
		dio_rw "$dev" "$off" "" "$scratch/piece"
	done
	tap_cmp "on: writes across out-of-order and new blocks read back" \
		<(read_at "$ref" "$across" $((2 * MiB))) \
		<(dio_rw "$dev" "$across" $((2 * MiB)))
	"$VDISETUP" detach "$dev"
	tap_eq "on: blocks 0-2 allocated, 1 before 0" "1 0 2" \
		"$(od -An -t u4 -j "$(peek32 "$ooo" $VDI_OFF_BMAP)" -N 12 \
			--endian=little "$ooo" | xargs)"
	tap_check "on: qemu-img compare of ooo.vdi with the reference" \
		qemu-img compare -f vdi -F raw "$ooo" "$ref"
else
	tap_fail "on: attach ooo.vdi" "vdisetup attach failed"
fi

# fio_pass NAME IMAGE ATTACH-OPTIONS EXTRA...: fio random writes of 512 B
# to 64 KiB with crc32c headers over IMAGE attached with the options (or a
# read pass: --verify_only=1); the same seed makes the same blocks.
fio_pass()
{
	local name=$1 img=$2 opts=$3 dev
	shift 3
	# shellcheck disable=SC2086 # the options are words
	if ! vdi_attach dev $opts "$img"; then
		tap_fail "$name" "vdisetup attach failed"
		return
	fi
	if fio --name=mix --filename="$dev" --rw=randwrite --bsrange=512-64k \
		--ioengine=libaio --iodepth=16 --direct=1 --size=64M \
		--io_size=16M --verify=crc32c --verify_fatal=1 --randseed=1234 \
		--eta=never --output="$scratch/fio.out" "$@" 2> "$scratch/fio.err"; then
		tap_ok "$name"
	else
		tap_fail "$name" "fio failed: $(head -n 5 "$scratch/fio.err")"
	fi
	"$VDISETUP" detach "$dev"
}

fio_pass "on: fio 512 B..64 KiB random writes verify" "$own" --direct-io=on
fio_pass "off: fio verifies what on wrote" "$own" --direct-io=off --verify_only=1
fio_pass "off: fio 512 B..64 KiB random writes verify" "$own" \
	--direct-io=off --randseed=5678
fio_pass "on: fio verifies what off wrote" "$own" --direct-io=on \
	--verify_only=1 --randseed=5678
fio_pass "on, read-only: fio verifies again" "$own" "-r --direct-io=on" \
	--verify_only=1 --randseed=5678
fio_pass "qemu.vdi auto: fio 512 B..64 KiB random writes verify" "$qemu" \
	--direct-io=auto

tap_image_sound "vdisetup check of own.vdi: clean or leaks only" "$own"
tap_check "qemu-img check of qemu.vdi" qemu-img check -q -f vdi "$qemu"
tap_kernel_log_clean "no WARN, BUG or oops in the kernel log" "$dmesg_start"
tap_done
