#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What the kernel shows and vdisetup lists: /sys/block/vdiN/vdi/{backing_file,
# uuid,allocated_blocks,zero_blocks,block_size,flags} plus size and ro, readable without
# privilege; `vdisetup list` and `list --json` with the right values and
# types for devices attached plain, read-only with partition scan,
# autoclear and on a chosen device; list -j FILE, list DEV, detach FILE;
# `detach -a` leaves nothing.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup qemu-img jq setpriv

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
attr() { cat "/sys/block/${1#/dev/}/$2"; }
bound() { grep -s . /sys/block/vdi*/vdi/backing_file | wc -l; }

# flags_are NAME DEV RO PARTSCAN AUTOCLEAR DIO (each 0 or 1): vdi/flags is
# the number of effective VDI_FLAG_* bits (read_only 1, partscan 2,
# autoclear 4, direct_io 8).
flags_are()
{
	tap_eq "$1: vdi/flags" "$(printf 0x%x $(($3 | $4 << 1 | $5 << 2 | $6 << 3)))" \
		"$(attr "$2" vdi/flags)"
}

tap_plan

if [ "$(bound)" = 0 ]; then
	tap_eq "nothing attached: list prints nothing" "" "$("$VDISETUP" list)"
	tap_eq "nothing attached: list --json" '{"vdidevices":[]}' \
		"$("$VDISETUP" list --json | jq -c .)"
else
	tap_skip "nothing attached: list" "devices are attached already"
	tap_skip "nothing attached: list --json" "devices are attached already"
fi

# a: 64 MiB by vdisetup with a known UUID, two blocks written.
a=$scratch/a.vdi
uuid=01234567-89ab-cdef-0123-456789abcdef
"$VDISETUP" create "$a" 64M --uuid "$uuid"
# b: 32 MiB by qemu with an MBR partition table (one partition, 16 MiB).
b=$scratch/b.raw
truncate -s 32M "$b"
printf '\x83' | dd of="$b" bs=1 seek=$((0x1be + 4)) conv=notrunc status=none
poke32 "$b" $((0x1be + 8)) 2048
poke32 "$b" $((0x1be + 12)) 32768
printf '\x55\xaa' | dd of="$b" bs=1 seek=510 conv=notrunc status=none
qemu-img convert -f raw -O vdi "$b" "$scratch/b.vdi"
b=$scratch/b.vdi
# c: autoclear (never opened here, so it stays); d: an awkward name.
c=$scratch/c.vdi
qemu-img create -q -f vdi "$c" 8M
d=$scratch/'we"ird\name.vdi'
qemu-img create -q -f vdi "$d" 4M

# Buffered: whether direct I/O is possible depends on the scratch file
# system (direct_io.sh tests it on a known one).
if ! vdi_attach dev_a --direct-io=off "$a" ||
   ! vdi_attach dev_b -r -P --direct-io=off "$b" ||
   ! vdi_attach dev_c --autoclear --direct-io=off "$c" ||
   ! vdi_attach dev_d "$d"; then
	tap_fail "attach four images" "vdisetup attach failed"
	tap_done
fi
tap_ok "attach four images: $dev_a $dev_b $dev_c $dev_d"
bad=
for x in "$dev_a" "$dev_b" "$dev_c" "$dev_d"; do
	[[ $x =~ ^/dev/vdi[0-9]+$ ]] && [ -b "$x" ] || bad+="'$x' "
done
tap_eq "--show printed block devices /dev/vdiN" "" "$bad"
tap_eq "four distinct devices" 4 "$(printf '%s\n' "$dev_a" "$dev_b" "$dev_c" "$dev_d" | sort -u | wc -l)"
head -c 4096 /dev/urandom | dd of="$dev_a" bs=4096 oflag=direct status=none
head -c 4096 /dev/urandom | dd of="$dev_a" bs=4096 seek=$((5 * 256)) oflag=direct status=none

# --- sysfs ---
tap_eq "$dev_a: vdi/backing_file" "$a" "$(attr "$dev_a" vdi/backing_file)"
tap_eq "$dev_a: vdi/uuid" "$uuid" "$(attr "$dev_a" vdi/uuid)"
tap_eq "$dev_a: vdi/allocated_blocks after writes to blocks 0 and 5" 2 \
	"$(attr "$dev_a" vdi/allocated_blocks)"
tap_eq "$dev_a: vdi/zero_blocks" 0 "$(attr "$dev_a" vdi/zero_blocks)"
tap_eq "$dev_a: vdi/block_size" 1048576 "$(attr "$dev_a" vdi/block_size)"
tap_eq "$dev_a: size (sectors)" $((64 * MiB / 512)) "$(attr "$dev_a" size)"
tap_eq "$dev_a: ro" 0 "$(attr "$dev_a" ro)"
flags_are "$dev_a" "$dev_a" 0 0 0 0
tap_eq "$dev_b: vdi/backing_file" "$b" "$(attr "$dev_b" vdi/backing_file)"
tap_eq "$dev_b: vdi/allocated_blocks (QEMU wrote block 0)" 1 "$(attr "$dev_b" vdi/allocated_blocks)"
tap_eq "$dev_b: ro" 1 "$(attr "$dev_b" ro)"
flags_are "$dev_b" "$dev_b" 1 1 0 0
tap_eq "$dev_b: partition 1 was scanned" 32768 "$(attr "$dev_b" "${dev_b#/dev/}p1/size" 2>/dev/null)"
tap_check "$dev_b: /dev/${dev_b#/dev/}p1 is a block device" test -b "${dev_b}p1"
flags_are "$dev_c" "$dev_c" 0 0 1 0
tap_eq "$dev_d: vdi/backing_file with quote and backslash" "$d" "$(attr "$dev_d" vdi/backing_file)"
all=$(for x in "$dev_a" "$dev_b"; do for f in backing_file uuid allocated_blocks zero_blocks block_size flags; do
	echo "/sys/block/${x#/dev/}/vdi/$f"; done; done)
tap_check "sysfs attributes readable without privilege" \
	bash -c "$(declare -f nobody); nobody cat $(echo $all) > /dev/null"

# --- list ---
# row DEV FILE SIZE ALLOCATED FLAGS...: ZERO 0, FREE the rest, FILE-USED
# what FILE occupies.
row()
{
	printf '%s %s %s %s 0 %s %s' "$1" "$2" "$3" "$4" $(($3 - $4)) \
		$(($(stat -c %b "$2") * 512))
	shift 4
	printf ' %s' "$@"
}
"$VDISETUP" list > "$scratch/list"
tap_eq "list: heading" "NAME BACK-FILE SIZE ALLOCATED ZERO FREE FILE-USED RO PARTSCAN AUTOCLEAR DIO" \
	"$(head -n 1 "$scratch/list" | tr -s ' ')"
tap_eq "list: $dev_a" "$(row "$dev_a" "$a" $((64 * MiB)) $((2 * MiB)) 0 0 0 0)" \
	"$(grep "^$dev_a " "$scratch/list" | tr -s ' ')"
tap_eq "list: $dev_b" "$(row "$dev_b" "$b" $((32 * MiB)) $((MiB)) 1 1 0 0)" \
	"$(grep "^$dev_b " "$scratch/list" | tr -s ' ')"
tap_eq "list: $dev_c" "$(row "$dev_c" "$c" $((8 * MiB)) 0 0 0 1 0)" \
	"$(grep "^$dev_c " "$scratch/list" | tr -s ' ')"
tap_eq "list -n has no heading" "$(tail -n +2 "$scratch/list")" "$("$VDISETUP" list -n)"
# nobody cannot search the scratch directory: FILE-USED is unknown.
tap_eq "list without privilege is the same, FILE-USED unknown" \
	"$(awk 'NR > 1 { $7 = "-" } { $1 = $1; print }' "$scratch/list")" \
	"$(nobody "$VDISETUP" list | awk '{ $1 = $1; print }')"

# --- list --json ---
"$VDISETUP" list --json > "$scratch/json"
tap_check "list --json is valid JSON" quiet jq -e ".vdidevices | length > 0" "$scratch/json"
json_dev() { jq -c --arg n "$1" '.vdidevices[] | select(.name == $n)' "$scratch/json"; }
tap_eq "list --json: $dev_a" \
	"{\"name\":\"$dev_a\",\"back-file\":\"$a\",\"size\":$((64 * MiB)),\"allocated\":$((2 * MiB)),\"zero\":0,\"free\":$((62 * MiB)),\"file-used\":$(($(stat -c %b "$a") * 512)),\"ro\":false,\"partscan\":false,\"autoclear\":false,\"dio\":false}" \
	"$(json_dev "$dev_a")"
tap_eq "list --json: $dev_b" \
	"{\"name\":\"$dev_b\",\"back-file\":\"$b\",\"size\":$((32 * MiB)),\"allocated\":$((MiB)),\"zero\":0,\"free\":$((31 * MiB)),\"file-used\":$(($(stat -c %b "$b") * 512)),\"ro\":true,\"partscan\":true,\"autoclear\":false,\"dio\":false}" \
	"$(json_dev "$dev_b")"
tap_eq "list --json: $dev_c autoclear" true "$(json_dev "$dev_c" | jq .autoclear)"
tap_eq "list --json: back-file with quote and backslash" "$d" \
	"$(json_dev "$dev_d" | jq -r '.["back-file"]')"
tap_eq "list --json: devices in the list" 4 \
	"$(jq --arg s "$scratch/" '[.vdidevices[] | select(.["back-file"] | startswith($s))] | length' "$scratch/json")"

# --- attach to a chosen device ---
e=$scratch/e.vdi
qemu-img create -q -f vdi "$e" 4M
tap_check "attach FILE vdi37" "$VDISETUP" attach "$e" vdi37
tap_eq "vdi37 is backed by the file" "$e" "$(attr vdi37 vdi/backing_file 2>/dev/null)"
f=$scratch/f.vdi
qemu-img create -q -f vdi "$f" 4M
tap_eq "attach to a bound device fails" \
	"$f: attach failed: Device or resource busy" \
	"$("$VDISETUP" attach "$f" /dev/vdi37 2>&1)"

# --- losetup habits: list -j FILE, list DEV, detach FILE, --output ---
tap_eq "list -j FILE: the device FILE is attached to, by another name too" \
	"$dev_a" "$("$VDISETUP" list -n -j "$scratch/../$(basename "$scratch")/a.vdi" | awk '{print $1}')"
tap_eq "list DEV: only that device" "$dev_b vdi37" \
	"$("$VDISETUP" list -n "$dev_b" vdi37 | awk '{print $1}' | xargs | sed 's|/dev/vdi37|vdi37|')"
tap_eq "list --output=json is list --json" "$("$VDISETUP" list --json)" \
	"$("$VDISETUP" list --output=json)"
tap_check "detach FILE: the device it is attached to" "$VDISETUP" detach "$e"
tap_eq "detach FILE: vdi37 is unbound" "" "$(attr vdi37 vdi/backing_file 2>/dev/null)"
tap_eq "detach of a file attached nowhere" "$e: not attached to any vdi device" \
	"$("$VDISETUP" detach "$e" 2>&1)"

# --- detach -a ---
tap_check "detach -a" "$VDISETUP" detach -a
tap_eq "nothing bound after detach -a" 0 "$(bound)"
tap_eq "list after detach -a" '{"vdidevices":[]}' "$("$VDISETUP" list --json | jq -c .)"

tap_done
