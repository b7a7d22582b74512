#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# I/O errors of the backing file: the image lives on an ext4 (no journal,
# errors=continue) over a dm-linear device that is switched to dm-error
# and back with dmsetup load/resume. While it fails, direct reads of the
# device fail with EIO, and so do a write with conv=fsync and, with
# buffered I/O (--direct-io=off), an fsync of the device; nothing hangs.
# When the fault ends the device reads and writes again, and after detach
# the image passes vdisetup check (0 or 3). All of it with buffered and
# with direct I/O. No WARN or oops.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup dmsetup losetup mkfs.ext4 timeout

# eio NAME CMD...: CMD fails, saying "Input/output error", and not by
# the timeout of tdd or tsync (exit 124: it hung).
eio()
{
	local name=$1 rc=0
	shift
	"$@" > /dev/null 2> "$scratch/err" || rc=$?
	if [ $rc = 124 ]; then
		tap_fail "$name" "hung (killed after 60 s)"
	elif [ $rc -ne 0 ] && grep -q 'Input/output error' "$scratch/err"; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc: $(head -c 300 "$scratch/err")"
	fi
}

# dd and sync, killed when they take over 60 s.
tdd() { timeout 60 dd status=none "$@"; }
tsync() { timeout 60 sync "$@"; }

# dread DEV OFFSET LENGTH: a direct read of LENGTH bytes at OFFSET.
dread()
{
	tdd if="$1" bs=4096 iflag=direct,skip_bytes,count_bytes skip="$2" \
		count="$3"
}

# uncache: drop the image file's pages, so that reads reach the device
# (dd's nocache is POSIX_FADV_DONTNEED, which also drains the per-CPU LRU
# batches that keep drop_caches from evicting recently used pages).
uncache()
{
	echo 3 > /proc/sys/vm/drop_caches
	dd if="$img" iflag=nocache count=0 status=none
}

tap_plan
dmesg_start=$(dmesg | wc -l)
mnt=$scratch/mnt
vdi_dm_ext4 "$mnt"
# io_faults MODE: the whole story with --direct-io=MODE, on its own image.
io_faults()
{
	local m=$1 dev
	img=$mnt/e-$m.vdi
	"$VDISETUP" create "$img" 16M
	if ! vdi_attach dev --direct-io="$m" "$img"; then
		tap_fail "$m: attach" "vdisetup attach failed"
		return
	fi
	write_at "$dev" 0 "$scratch/data" direct
	# fsync of the device: a flush, which fsyncs the image file.
	tap_check "$m: the data is flushed" tsync "$dev"

	# --- The fault: every I/O to the file system's device fails. ---
	tap_check "$m: switch to dm-error" vdi_dm_table error
	uncache
	eio "$m: a direct read of an allocated block: EIO" dread "$dev" 0 4096
	eio "$m: a direct read of a whole block: EIO" dread "$dev" "$MiB" "$MiB"
	tap_eq "$m: a free block still reads as zeros" \
		"$(head -c 4096 /dev/zero | od -An -tx1 | sort -u)" \
		"$(dread "$dev" $((8 * MiB)) 4096 | od -An -tx1 | sort -u)"
	eio "$m: a write in place with fsync: EIO" \
		tdd if="$scratch/data" of="$dev" bs=4096 count=1 seek=16 \
		oflag=direct conv=notrunc,fsync
	eio "$m: a first write (allocation) with fsync: EIO" \
		tdd if="$scratch/data" of="$dev" bs=4096 count=1 \
		seek=$((3 * 256)) oflag=direct conv=notrunc,fsync
	# Direct I/O reports the errors on the writes themselves and leaves
	# nothing for a flush to fail on.
	[ "$m" = on ] ||
		eio "$m: fsync of the device (sync DEV): EIO" tsync "$dev"

	# --- The fault ends. ---
	tap_check "$m: switch back to dm-linear" vdi_dm_table linear
	uncache
	# (Not the 4 KiB at 64 KiB written during the fault: undefined.)
	tap_cmp "$m: the data written before the fault reads back" \
		<(tail -c +$((128 * 1024 + 1)) "$scratch/data") \
		<(dread "$dev" $((128 * 1024)) $((2 * MiB - 128 * 1024)))

	head -c 65536 /dev/urandom > "$scratch/piece"
	tap_check "$m: a write with fsync succeeds again" \
		tdd if="$scratch/piece" of="$dev" bs=65536 seek=$((4 * 16)) \
		oflag=direct conv=notrunc,fsync
	tap_check "$m: the device flushes again" tsync "$dev"
	uncache
	tap_cmp "$m: the new write reads back" "$scratch/piece" \
		<(dread "$dev" $((4 * MiB)) 65536)
	tap_check "$m: detach" "$VDISETUP" detach "$dev"
	tap_image_sound "$m: vdisetup check after detach: clean or leaks only" \
		"$img"
}

head -c $((2 * MiB)) /dev/urandom > "$scratch/data"
io_faults off
io_faults on
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
