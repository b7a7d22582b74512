#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Autoclear with systemd-udevd running, as on a real machine: udev probes
# every new vdN disk (its rules match "vd*": blkid opens and closes it,
# shared). "vdisetup attach --autoclear" binds through the control node,
# so the device has no opener: the probe's close must not detach it. The
# device stays attached until it is mounted, as mount -o loop's does, and
# detaches at the unmount; also on a partition, and when asked to detach
# while mounted. A shared open and close (dd) detaches nothing. udev is
# stopped again at the end: the other tests run without it.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup udevadm mkfs.ext4
udevd=/lib/systemd/systemd-udevd
[ -x "$udevd" ] || vdi_skip_all "no $udevd"

# The next tests run without udev, as before this one: the daemon ends,
# and so does the state it made (libdevmapper takes /run/udev/control as
# a running udev).
had_run_udev=$([ -e /run/udev ] && echo yes)
udev_cleanup()
{
	udevadm control --exit 2>/dev/null
	pkill -x systemd-udevd 2>/dev/null
	[ -n "$had_run_udev" ] || rm -rf /run/udev
	vdi_cleanup
}
trap udev_cleanup EXIT

# bound IMAGE: the device IMAGE is attached to, or nothing.
bound()
{
	local f
	for f in /sys/block/vdi*/vdi/backing_file; do
		[ "$(cat "$f" 2>/dev/null)" = "$1" ] || continue
		f=${f#/sys/block/}
		echo "/dev/${f%%/*}"
	done
}

# mbr_one DEV: an MBR with one Linux partition from sector 2048 to the end.
mbr_one()
{
	local n=$(($(blockdev --getsz "$1") - 2048))
	{
		head -c 446 /dev/zero
		printf '\x00\xfe\xff\xff\x83\xfe\xff\xff'
		printf "$(le32 2048)$(le32 $n)"
		head -c 48 /dev/zero
		printf '\x55\xaa'
	} | dd of="$1" bs=512 count=1 iflag=fullblock conv=notrunc status=none
}

tap_plan
dmesg_start=$(dmesg | wc -l)
if ! "$udevd" --daemon; then
	tap_fail "start systemd-udevd" "$udevd --daemon failed"
	tap_done
fi
udevadm settle --timeout=30

img=$scratch/a.vdi
mnt=$scratch/mnt
"$VDISETUP" create "$img" 64M
vdi_attach dev "$img" || { tap_fail "attach" "vdisetup attach failed"; tap_done; }
mkfs.ext4 -q -F "$dev"
# udev probes again after a writer's close (its watch rule): let it end,
# or the detach finds it holding the device (EBUSY).
udevadm settle --timeout=30
"$VDISETUP" detach "$dev"
udevadm settle --timeout=30

for round in 1 2 3; do
	vdi_attach dev --autoclear "$img" ||
		{ tap_fail "round $round: attach --autoclear" "failed"; continue; }
	udevadm settle --timeout=30
	tap_eq "round $round: still attached after udev probed it" "$dev" "$(bound "$img")"
	dd if="$dev" of=/dev/null bs=4k count=1 status=none
	tap_eq "round $round: still attached after a shared open and close" \
		"$dev" "$(bound "$img")"
	if vdi_mount "$dev" "$mnt"; then
		echo "round $round" > "$mnt/f"
		tap_eq "round $round: attached while mounted" "$dev" "$(bound "$img")"
		umount "$mnt"
	else
		tap_fail "round $round: mount" "mount failed"
	fi
	udevadm settle --timeout=30
	tap_eq "round $round: detached by the unmount" "" "$(bound "$img")"
done

# Asked to detach while mounted: at the unmount.
if vdi_attach dev --autoclear "$img"; then
	udevadm settle --timeout=30
	vdi_mount "$dev" "$mnt"
	tap_check "detach while mounted: accepted" "$VDISETUP" detach "$dev"
	tap_eq "detach while mounted: still attached" "$dev" "$(bound "$img")"
	tap_eq "detach while mounted: the file system works" "round 3" "$(cat "$mnt/f")"
	umount "$mnt"
	tap_eq "detach while mounted: detached by the unmount" "" "$(bound "$img")"
fi

# A partition, scanned (-P), mounted: the disk detaches at its unmount.
# (The file system is made first: mkfs opens the device exclusively and
# closes it, which would detach an autoclear device, as for loop's.)
part=$scratch/p.vdi
"$VDISETUP" create "$part" 64M
if vdi_attach dev -P "$part"; then
	mbr_one "$dev"
	blockdev --rereadpt "$dev"
	udevadm settle --timeout=30
	[ -b "${dev}p1" ] && mkfs.ext4 -q -F "${dev}p1" ||
		tap_fail "partition: make ${dev}p1 and a file system on it" "failed"
	udevadm settle --timeout=30
	"$VDISETUP" detach "$dev"
fi
udevadm settle --timeout=30
if vdi_attach dev -P --autoclear "$part"; then
	udevadm settle --timeout=30
	tap_eq "partition: still attached after udev probed it" "$dev" "$(bound "$part")"
	if vdi_mount "${dev}p1" "$mnt"; then
		tap_eq "partition: attached while mounted" "$dev" "$(bound "$part")"
		umount "$mnt"
	else
		tap_fail "partition: mount ${dev}p1" "mount failed"
	fi
	udevadm settle --timeout=30
	tap_eq "partition: detached by the unmount" "" "$(bound "$part")"
fi
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
