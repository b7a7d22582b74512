#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The backing file system fills up while blocks are allocated: the image
# lives on a 16 MiB ext4 (a loop-mounted file), the device is larger, and
# first writes go on until one fails. That write fails with ENOSPC and
# leaves nothing behind (vdisetup check after detach is clean: the file is
# cut back to the data), the blocks written before stay readable, the
# device still takes writes in place, and detach works. A write in place
# that the file system takes only part of (direct I/O on a full tmpfs: a
# short asynchronous write) fails with ENOSPC too, also when a first
# write that waits for a freed block is queued with it. No WARN or oops.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup mkfs.ext4 blkdiscard fio

tap_plan
dmesg_start=$(dmesg | wc -l)
vdi_ext4_image 16M 64M

# Fill 1 MiB blocks, each its own pattern, until a write fails.
n=0 rc=0
while [ $n -lt 64 ]; do
	head -c "$MiB" /dev/zero | tr '\0' "\\$(printf %03o $((n % 200 + 1)))" > "$scratch/p"
	dd if="$scratch/p" of="$dev" bs="$MiB" seek=$n oflag=direct conv=notrunc \
		status=none 2> "$scratch/err" || { rc=$?; break; }
	n=$((n + 1))
done
tap_eq "a first write fails before the device is full" yes \
	"$([ $rc -ne 0 ] && [ $n -lt 64 ] && echo yes)"
tap_eq "the error is ENOSPC" "dd: error writing '$dev': No space left on device" \
	"$(cat "$scratch/err")"
echo "# $n blocks of 1 MiB fit"

ok=0
for b in $(seq 0 $((n - 1))); do
	head -c "$MiB" /dev/zero | tr '\0' "\\$(printf %03o $((b % 200 + 1)))" > "$scratch/p"
	cmp -s "$scratch/p" <(dd if="$dev" bs="$MiB" skip=$b count=1 iflag=direct status=none) &&
		ok=$((ok + 1))
done
tap_eq "every block written before reads back" "$n" "$ok"
# Split into several requests, the failed write may have stored its first
# part: the block holds zeros and its own bytes, nothing else.
p=$(printf %02x $((n % 200 + 1)))
tap_eq "the block that failed holds only zeros and its own bytes" "" \
	"$(dd if="$dev" bs="$MiB" skip=$n count=1 iflag=direct status=none |
		od -An -v -tx1 | tr -s ' ' '\n' | grep -vxE "|00|$p" | sort -u)"
head -c 4096 /dev/urandom > "$scratch/piece"
write_at "$dev" 8192 "$scratch/piece" direct
tap_cmp "an allocated block still takes a write in place" "$scratch/piece" \
	<(read_at "$dev" 8192 4096)
sync -f "$host" 2>/dev/null
tap_check "detach" "$VDISETUP" detach "$dev"
tap_check "vdisetup check: clean, no leaked block" "$VDISETUP" check "$img"

# A write in place into the punched-out half of a block, on a tmpfs that
# is full but for 256 KiB: the file system takes part of it and stops.
# With direct I/O (tmpfs takes O_DIRECT since 6.6) that is a short
# asynchronous write, whose reason must reach the caller: ENOSPC.
small=$scratch/small
mkdir -p "$small"
if mount -t tmpfs -o size=4M tmpfs "$small"; then
	"$VDISETUP" create "$small/s.vdi" 8M
	if vdi_attach dev "$small/s.vdi"; then
		head -c "$MiB" /dev/urandom > "$scratch/b0"
		write_at "$dev" 0 "$scratch/b0" direct
		blkdiscard -o 0 -l $((512 * 1024)) "$dev"
		dd if=/dev/zero of="$small/fill" bs=4k status=none 2>/dev/null
		truncate -s -256K "$small/fill"
		echo "# direct I/O: $(( $(cat "/sys/block/${dev#/dev/}/vdi/flags") >> 3 & 1 ))"
		dd if=/dev/urandom of="$dev" bs=512K count=1 oflag=direct \
			conv=notrunc status=none 2> "$scratch/err"
		tap_eq "a write in place that fills the file system: ENOSPC" \
			"dd: error writing '$dev': No space left on device" \
			"$(cat "$scratch/err")"
		rm -f "$small/fill"
		tap_cmp "... and the rest of the block reads as before" \
			<(tail -c +$((512 * 1024 + 1)) "$scratch/b0") \
			<(read_at "$dev" $((512 * 1024)) $((512 * 1024)))
		"$VDISETUP" detach "$dev"
	else
		tap_fail "image on a small tmpfs: attach" "vdisetup attach failed"
	fi
	umount "$small"
else
	tap_fail "mount a 4 MiB tmpfs" "mount failed"
fi

# The same short write, submitted together with a first write to a
# discarded block of an image whose every block index is used: that one
# has to wait until no request that may still use the freed block is in
# flight, and the short write, queued again behind it, must not count as
# one. fio submits both in one batch; both end, with ENOSPC.
if mount -t tmpfs -o size=12M tmpfs "$small"; then
	"$VDISETUP" create "$small/s.vdi" 8M
	if vdi_attach dev "$small/s.vdi"; then
		head -c $((8 * MiB)) /dev/urandom > "$scratch/full"
		write_at "$dev" 0 "$scratch/full" direct
		blkdiscard -o 0 -l $((512 * 1024)) "$dev"
		blkdiscard -o $((7 * MiB)) -l "$MiB" "$dev"
		dd if=/dev/zero of="$small/fill" bs=4k status=none 2>/dev/null
		truncate -s -256K "$small/fill"
		timeout 60 fio --name=pair --filename="$dev" --ioengine=libaio \
			--direct=1 --bs=512k --rw=write:6656k --size=8M \
			--number_ios=2 --iodepth=2 --iodepth_batch_submit=2 \
			--continue_on_error=all >/dev/null 2>&1
		rc=$?
		tap_eq "a short write and a waiting first write both end" yes \
			"$([ $rc != 124 ] && echo yes || echo "no: fio hung")"
		rm -f "$small/fill"
		tap_cmp "... and block 1 reads as before" \
			<(read_at "$scratch/full" "$MiB" "$MiB") \
			<(read_at "$dev" "$MiB" "$MiB")
		"$VDISETUP" detach "$dev"
	else
		tap_fail "full image on a small tmpfs: attach" "vdisetup attach failed"
	fi
	umount "$small"
else
	tap_fail "mount a 12 MiB tmpfs" "mount failed"
fi
tap_kernel_log_clean "no WARN, BUG or oops in the kernel log" "$dmesg_start"
tap_done
