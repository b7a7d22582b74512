#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The image file truncated underneath an attached device, so that the map
# in memory names data blocks that are no longer (wholly) in the file:
# reads and writes of those blocks fail with EIO, never return zeros from
# past the end of the file or another block's bytes, and do not extend the
# file; the other blocks keep working, a new block can still be allocated,
# and detach works. No WARN or oops.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup

# eio NAME CMD...: CMD fails with "Input/output error".
eio()
{
	local name=$1 rc=0
	shift
	"$@" > "$scratch/out" 2> "$scratch/err" || rc=$?
	if [ $rc -ne 0 ] && grep -q 'Input/output error' "$scratch/err"; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc, $(head -c 200 "$scratch/err"), $(wc -c < "$scratch/out") bytes"
	fi
}

# pattern BYTE: 1 MiB of BYTE.
pattern() { head -c "$MiB" /dev/zero | tr '\0' "\\$(printf %03o "$1")"; }

# dread DEV OFFSET LENGTH: a direct read of LENGTH bytes (4 KiB multiples).
dread()
{
	dd if="$1" bs=4096 iflag=direct,skip_bytes,count_bytes skip="$2" \
		count="$3" status=none
}

tap_plan
dmesg_start=$(dmesg | wc -l)
img=$scratch/t.vdi
"$VDISETUP" create "$img" 16M
data=$(peek32 "$img" $VDI_OFF_DATA)
for b in 1 2 3 4; do
	pattern $((0x40 + b)) > "$scratch/p$b"
done
if ! vdi_attach dev "$img"; then
	tap_fail "attach" "vdisetup attach failed"
	tap_done
fi
# Virtual blocks 0-3 get data blocks 0-3, in the order written.
for b in 1 2 3 4; do
	write_at "$dev" $(((b - 1) * MiB)) "$scratch/p$b" direct
done
tap_check "the four blocks are flushed" sync "$dev"

# Cut the file in the middle of data block 2 (virtual block 2).
truncate -s $((data + 2 * MiB + MiB / 2)) "$img"
size=$(stat -c %s "$img")

tap_cmp "block 0 still reads its data" "$scratch/p1" <(dread "$dev" 0 "$MiB")
tap_cmp "block 1 still reads its data" "$scratch/p2" <(dread "$dev" "$MiB" "$MiB")
tap_cmp "the part of block 2 left in the file reads its data" \
	<(head -c $((MiB / 2)) "$scratch/p3") <(dread "$dev" $((2 * MiB)) $((MiB / 2)))
eio "the part of block 2 past the end of the file: EIO" \
	dread "$dev" $((2 * MiB + MiB / 2)) 4096
eio "the whole of block 2: EIO" dread "$dev" $((2 * MiB)) "$MiB"
eio "block 3, wholly past the end of the file: EIO" dread "$dev" $((3 * MiB)) 4096
eio "a direct write to block 3: EIO" \
	write_at "$dev" $((3 * MiB)) "$scratch/p1" direct
tap_eq "the failed write did not extend the file" "$size" "$(stat -c %s "$img")"
tap_eq "a free block reads as zeros" "$(head -c 4096 /dev/zero | od -An -tx1 | sort -u)" \
	"$(dread "$dev" $((8 * MiB)) 4096 | od -An -tx1 | sort -u)"

# The device stays usable: in place and with a new block.
write_at "$dev" $((MiB + 4096)) <(head -c 4096 "$scratch/p4") direct
tap_cmp "block 1 takes a write in place" <(head -c 4096 "$scratch/p4") \
	<(dread "$dev" $((MiB + 4096)) 4096)
write_at "$dev" $((9 * MiB)) "$scratch/p4" direct
tap_cmp "a new block is allocated and reads back" "$scratch/p4" \
	<(dread "$dev" $((9 * MiB)) "$MiB")
# The new block lies after data block 3, so the file is long again: the
# cut-off blocks now read as the hole they are, never as block 9's data.
if dread "$dev" $((3 * MiB)) "$MiB" > "$scratch/b3" 2>/dev/null; then
	tap_cmp "block 3 after the file grew again: zeros, not another block" \
		<(head -c "$MiB" /dev/zero) "$scratch/b3"
else
	tap_ok "block 3 after the file grew again: EIO"
fi
tap_cmp "block 0 is intact" "$scratch/p1" <(dread "$dev" 0 "$MiB")

tap_check "detach" "$VDISETUP" detach "$dev"
tap_eq "no device is bound to the file" "" \
	"$(grep -lxF "$img" /sys/block/vdi*/vdi/backing_file 2>/dev/null)"
tap_kernel_log_clean "no WARN, BUG or oops in the kernel log" "$dmesg_start"
tap_eq "the kernel named the block past the end of the file" yes \
	"$(dmesg | tail -n +$((dmesg_start + 1)) | grep -q "past the end of the file" && echo yes)"
tap_done
