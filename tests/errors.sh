#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The error paths, each with its exact status, message and errno text:
# refused images (vdisetup's line and the kernel's dmesg line, file left
# untouched), a second attach of an attached file, detach of a mounted or
# open device, writes to a read-only device, an image on a read-only file
# system, rmmod while attached, and the tool without the module.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup qemu-img qemu-io mkfs.ext4 sha256sum setpriv

# expect_fail NAME MESSAGE CMD...: CMD exits 1 and prints exactly MESSAGE
# on stderr (and nothing on stdout).
expect_fail()
{
	local name=$1 msg=$2 rc=0
	shift 2
	"$@" > "$scratch/out" 2> "$scratch/err" || rc=$?
	tap_eq "$name: exit status" 1 "$rc"
	tap_eq "$name: message" "$msg" "$(cat "$scratch/err")"
	[ ! -s "$scratch/out" ] || echo "# $name: unexpected output: $(cat "$scratch/out")"
}

# kernel log since the last kmsg_mark
kmsg_mark() { kmsg_lines=$(dmesg | wc -l); }
kmsg_new() { dmesg | tail -n +$((kmsg_lines + 1)); }

# bound_to FILE: the vdi devices whose backing file is FILE.
bound_to()
{
	grep -lxF "$1" /sys/block/vdi*/vdi/backing_file 2>/dev/null |
		sed 's|/sys/block/\([^/]*\)/.*|/dev/\1|'
}

# refused NAME IMAGE REASON: attach fails with "IMAGE: attach failed:
# REASON", the kernel logs one line naming the file and the same reason, no
# device is bound to it and the file is byte-identical.
refused()
{
	local name=$1 img=$2 reason=$3 sum n
	sum=$(sha256sum < "$img")
	kmsg_mark
	expect_fail "$name" "$img: attach failed: $reason" "$VDISETUP" attach "$img"
	n=$(kmsg_new | grep -F "$img" | grep -cF "$reason")
	tap_eq "$name: one dmesg line names the file and the reason" 1 "$n"
	[ "$n" = 1 ] || kmsg_new | sed 's/^/# dmesg: /'
	tap_eq "$name: no device is bound to it" "" "$(bound_to "$img")"
	tap_eq "$name: the file is unchanged" "$sum" "$(sha256sum < "$img")"
}

tap_plan

# --- Refused images: the reason text is the format library's. ---
img=$scratch/badsig.vdi
qemu-img create -q -f vdi "$img" 16M
poke32 "$img" $VDI_OFF_SIGNATURE $((0x12345678))
refused "bad signature" "$img" "not a VDI image (bad signature 0x12345678)"

img=$scratch/version.vdi
qemu-img create -q -f vdi "$img" 16M
poke32 "$img" 68 $((0x00010002))
refused "version 1.2" "$img" "unsupported VDI version (1.2, need 1.1)"

img=$scratch/parent.vdi
qemu-img create -q -f vdi "$img" 16M
poke32 "$img" $VDI_OFF_UUID_PARENT $((0xdeadbeef))
refused "parent UUID" "$img" "differencing image: parent needed (parent UUID set)"

img=$scratch/dup.vdi
qemu-img create -q -f vdi "$img" 16M
qemu-io -f vdi -c "write -P 1 0 4k" -c "write -P 2 1M 4k" "$img" > /dev/null
# Map entry 1 now names data block 0 too.
poke32 "$img" $(($(peek32 "$img" $VDI_OFF_BMAP) + 4)) 0
refused "duplicate map entry" "$img" "block map entry used twice (entry 1: data block 0 at $(printf 0x%x "$(peek32 "$img" $VDI_OFF_DATA)"))"

img=$scratch/short.vdi
head -c 300 /dev/urandom > "$img"
refused "short file" "$img" "file shorter than a VDI header"

expect_fail "missing file" "$scratch/none.vdi: attach failed: No such file or directory" \
	"$VDISETUP" attach "$scratch/none.vdi"

# --- A good image, attached once only. ---
img=$scratch/good.vdi
qemu-img create -q -f vdi "$img" 64M
qemu-io -f vdi -c "write -P 0x61 0 1M" "$img" > /dev/null
if ! vdi_attach dev "$img"; then
	tap_fail "attach a good image" "vdisetup attach failed"
	tap_done
fi
tap_ok "attach a good image as $dev"
expect_fail "second attach of the same file" \
	"$img: attach failed: Device or resource busy" "$VDISETUP" attach "$img"
ln "$img" "$scratch/link.vdi"
expect_fail "second attach through a hard link" \
	"$scratch/link.vdi: attach failed: Device or resource busy" \
	"$VDISETUP" attach "$scratch/link.vdi"
tap_eq "only one device is bound to the file" "$dev" "$(bound_to "$img")"
tap_eq "the first device still reads the image" 61 \
	"$(read_at "$dev" 4095 1 | od -An -t x1 | tr -d ' ')"

# --- Detach of a busy device. ---
mkfs.ext4 -q -F "$dev"
mnt=$scratch/mnt
vdi_mount "$dev" "$mnt"
expect_fail "detach while mounted" "$dev: detach failed: Device or resource busy" \
	"$VDISETUP" detach "$dev"
tap_eq "still attached while mounted" "$dev" "$(bound_to "$img")"
tap_check "the mounted file system still works" \
	bash -c "echo hello > '$mnt/f' && sync -f '$mnt/f' && grep -q hello '$mnt/f'"
umount "$mnt"
exec 3< "$dev"
expect_fail "detach while open" "$dev: detach failed: Device or resource busy" \
	"$VDISETUP" detach "$dev"
exec 3<&-
tap_check "detach after unmount and close" "$VDISETUP" detach "$dev"
tap_eq "no device is bound to the file after detach" "" "$(bound_to "$img")"
# The device stays, unbound, as loop's do.
expect_fail "detach of a detached device" \
	"$dev: detach failed: No such device or address" "$VDISETUP" detach "$dev"
expect_fail "detach of a device that never existed" \
	"/dev/vdi999: detach failed: No such file or directory" "$VDISETUP" detach vdi999

# --- Autoclear: the device detaches on its last close, so it is held open
# from attach to mount as mount -o loop does (mount's own probing would
# otherwise be that last close). detach while mounted is then no error. ---
if vdi_attach dev --autoclear "$img"; then
	exec 3< "$dev"
	vdi_mount "$dev" "$mnt"
	exec 3<&-
	tap_eq "autoclear: attached while mounted" "$dev" "$(bound_to "$img")"
	tap_check "autoclear: detach while mounted succeeds" "$VDISETUP" detach "$dev"
	tap_eq "autoclear: still attached while mounted" "$dev" "$(bound_to "$img")"
	tap_check "autoclear: the mounted file system still works" grep -q hello "$mnt/f"
	umount "$mnt"
	tap_eq "autoclear: detached by the unmount" "" "$(bound_to "$img")"
else
	tap_fail "autoclear: attach --autoclear" "vdisetup attach failed"
fi

# --- Read-only: writes fail, the file stays byte-identical. ---
img=$scratch/ro.vdi
qemu-img create -q -f vdi "$img" 16M
qemu-io -f vdi -c "write -P 0x61 0 1M" "$img" > /dev/null
sum=$(sha256sum < "$img")
if vdi_attach dev -r "$img"; then
	tap_ok "attach -r as $dev"
	tap_eq "read-only: /sys/block/${dev#/dev/}/ro" 1 "$(cat /sys/block/"${dev#/dev/}"/ro)"
	expect_fail "read-only: direct write" \
		"dd: error writing '$dev': Operation not permitted" \
		dd if=/dev/zero of="$dev" bs=4096 count=1 oflag=direct status=none
	expect_fail "read-only: buffered write" \
		"dd: error writing '$dev': Operation not permitted" \
		dd if=/dev/zero of="$dev" bs=4096 count=1 status=none
	tap_eq "read-only: reads still work" 61 \
		"$(read_at "$dev" $((MiB - 1)) 1 | od -An -t x1 | tr -d ' ')"
	tap_check "read-only: detach" "$VDISETUP" detach "$dev"
else
	tap_fail "attach -r" "vdisetup attach -r failed"
fi
tap_eq "read-only: the image is byte-identical" "$sum" "$(sha256sum < "$img")"

# --- A file on a read-only file system is attached read-only. ---
rofs=$scratch/rofs
mkdir -p "$rofs"
mount -t tmpfs -o size=80M tmpfs "$rofs"
cp "$img" "$rofs/ro.vdi"
mount -o remount,ro "$rofs"
if vdi_attach dev "$rofs/ro.vdi"; then
	tap_ok "read-only file system: attach without -r"
	tap_eq "read-only file system: the device is read-only" 1 \
		"$(cat /sys/block/"${dev#/dev/}"/ro)"
	"$VDISETUP" detach "$dev"
else
	tap_fail "read-only file system: attach without -r" "vdisetup attach failed"
fi
umount "$rofs"

# --- No privilege: the control node is root's (the image is readable, so
# vdisetup gets as far as the control node). ---
chmod 755 "$scratch"
chmod 644 "$img"
expect_fail "unprivileged attach" \
	"cannot open /dev/vdi-control: Permission denied" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$VDISETUP" attach "$img"

# --- rmmod while attached is refused; the device keeps working. ---
if vdi_attach dev "$img"; then
	expect_fail "rmmod while attached" "rmmod: ERROR: Module vdi is in use" rmmod vdi
	head -c 8192 /dev/zero | tr '\0' '\134' > "$scratch/piece"
	write_at "$dev" $((3 * MiB)) "$scratch/piece" direct
	tap_cmp "the device works after the refused rmmod" "$scratch/piece" \
		<(dd if="$dev" bs=8192 skip=$((3 * MiB / 8192)) count=1 iflag=direct status=none)
	tap_check "detach before rmmod" "$VDISETUP" detach "$dev"
else
	tap_fail "attach for rmmod" "vdisetup attach failed"
fi
tap_check "rmmod once nothing is attached" rmmod vdi
expect_fail "attach without the module" \
	"cannot open /dev/vdi-control: No such file or directory (is the vdi module loaded? try 'modprobe vdi')" \
	"$VDISETUP" attach "$img"
tap_check "load the module again" vdi_load
tap_check "the data written before rmmod is in the image" \
	qemu-io -f vdi -c "read -P 0x5c $((3 * MiB)) 8192" "$img"

tap_done
