#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lifecycle torture: attach/detach cycles with I/O in flight (no leaked
# slab objects across them), many devices at once, concurrent attach -f,
# detach of a mounted device (EBUSY; with autoclear at the unmount),
# removal of an open or bound device (EBUSY), rmmod while attached
# (refused), a vdi device or a file on the device itself as its backing
# (refused), a caller's descriptor changed after attach (no effect on
# the image), privilege (EPERM for nobody, who can still list). Ends with
# the module unloading (no reference leaked) and loaded again.
#   LC_CYCLES (default 1000), LC_DEVICES (64), LC_PROCS (16).
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

cycles=${LC_CYCLES:-1000}
devices=${LC_DEVICES:-64}
procs=${LC_PROCS:-16}
helper=$(dirname "$0")/lifecycle_helper
[ -x "$helper" ] || helper=$top/build/ksft/vdi/lifecycle_helper

vdi_setup mkfs.ext4 setpriv
[ -x "$helper" ] || vdi_skip_all "$helper not built"
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# expect_fail NAME MESSAGE CMD...: CMD fails and says MESSAGE.
expect_fail()
{
	local name=$1 msg=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		tap_fail "$name" "succeeded: $out"
	elif [[ $out == *"$msg"* ]]; then
		tap_ok "$name"
	else
		tap_fail "$name" "expected '$msg', got: $out"
	fi
}

# Objects in the general-purpose and file caches, once the reclaimable
# caches are dropped: a leak of one allocation or file per cycle shows.
slab_objs()
{
	sync
	echo 3 > /proc/sys/vm/drop_caches
	awk '$1 ~ /^(kmalloc-|filp$|bio)/ { n += $2 } END { print n }' /proc/slabinfo
}

listed() { "$VDISETUP" list -n | wc -l; }

# attach_many N OPTION: N concurrent `vdisetup attach OPTION --show`, of
# N fresh images; every one gets a device, all distinct, all listed.
attach_many()
{
	local n=$1 opt=$2 i
	for i in $(seq 1 "$n"); do
		"$VDISETUP" create -f "$scratch/m$i.vdi" 1M || return 1
	done
	for i in $(seq 1 "$n"); do
		"$VDISETUP" attach $opt --show "$scratch/m$i.vdi" > "$scratch/dev$i" &
	done
	wait
	tap_eq "$n concurrent attach${opt:+ $opt}: $n distinct devices" "$n" \
		"$(cat "$scratch"/dev* | sort -u | grep -c '^/dev/vdi')"
	tap_eq "vdisetup list shows the $n" "$n" "$(listed)"
	tap_check "vdisetup detach -a detaches them" "$VDISETUP" detach -a
	tap_eq "nothing is listed after detach -a" 0 "$(listed)"
	rm -f "$scratch"/dev*
}

tap_plan
dmesg_start=$(dmesg | wc -l)
img=$scratch/c.vdi
"$VDISETUP" create "$img" 16M

# --- attach/detach cycles with I/O in flight ---
"$helper" cycles "$img" 20 > /dev/null	# first allocations, warm caches
before=$(slab_objs)
tap_check "$cycles attach/detach cycles with I/O in flight" \
	"$helper" cycles "$img" "$cycles"
after=$(slab_objs)
echo "# slab objects (kmalloc-*, filp, bio*): $before before, $after after"
tap_eq "no slab growth across the cycles (under $((cycles / 2)) objects)" yes \
	"$([ $((after - before)) -lt $((cycles / 2)) ] && echo yes)"
tap_image_sound "the image is sound after the cycles" "$img"

# --- many devices at once, concurrent attach -f ---
attach_many "$devices" ""
attach_many "$procs" -f

# --- detach while mounted; autoclear ---
vdi_attach dev "$img"
mkfs.ext4 -q -F "$dev"
vdi_mount "$dev" "$scratch/mnt"
expect_fail "detach while mounted: EBUSY" "Device or resource busy" \
	"$VDISETUP" detach "$dev"
umount "$scratch/mnt"
tap_check "detach after the unmount" "$VDISETUP" detach "$dev"
# Held open across the mount, as mount -o loop does: mount's probe opens
# and closes the device first, and that last close would detach it.
vdi_attach dev --autoclear "$img"
exec 8< "$dev"
vdi_mount "$dev" "$scratch/mnt"
exec 8<&-
tap_check "detach while mounted with autoclear succeeds" "$VDISETUP" detach "$dev"
tap_eq "... and the device stays attached while mounted" 1 "$(listed)"
umount "$scratch/mnt"
tap_eq "... until the unmount" 0 "$(listed)"

# --- removing a device that is open or bound ---
vdi_attach dev "$img"
idx=${dev#/dev/vdi}
expect_fail "remove a bound device: EBUSY" "Device or resource busy" \
	"$helper" remove "$idx"
"$VDISETUP" detach "$dev"
exec 7< "$dev"
expect_fail "remove an open device: EBUSY" "Device or resource busy" \
	"$helper" remove "$idx"
exec 7<&-
tap_check "remove it once closed" "$helper" remove "$idx"
tap_check "its node and sysfs directory are gone" \
	test ! -e "$dev" -a ! -e "/sys/block/vdi$idx"

# --- recursion ---
vdi_attach dev "$img"
expect_fail "a vdi device as the backing of another: refused" \
	"Invalid argument" "$VDISETUP" attach "$dev"
# Any unbound device: attach_many left some.
for own in /sys/block/vdi*/vdi/backing_file; do
	[ -n "$(cat "$own")" ] || break
done
own=${own#/sys/block/}
own=/dev/${own%%/*}
expect_fail "an unbound device as its own backing: refused" \
	"Invalid argument" "$VDISETUP" attach "$own" "$own"
mkfs.ext4 -q -F "$dev"
vdi_mount "$dev" "$scratch/mnt"
"$VDISETUP" create "$scratch/mnt/inner.vdi" 4M
expect_fail "a file on the device as its own backing: EBUSY" \
	"Device or resource busy" "$VDISETUP" attach "$scratch/mnt/inner.vdi" "$dev"
if vdi_attach inner "$scratch/mnt/inner.vdi"; then
	head -c $MiB /dev/urandom > "$scratch/data"
	write_at "$inner" 0 "$scratch/data" direct
	echo 3 > /proc/sys/vm/drop_caches
	tap_cmp "... but it nests on another device, and reads back" \
		"$scratch/data" <(read_at "$inner" 0 $MiB)
	"$VDISETUP" detach "$inner"
else
	tap_fail "... but it nests on another device" "attach failed"
fi
umount "$scratch/mnt"

# --- the caller's descriptor: O_APPEND set on it changes nothing ---
held=$scratch/held.vdi
"$VDISETUP" create "$held" 16M
if out=$("$helper" holder "$held" 2>&1); then
	tap_eq "a descriptor set to O_APPEND after attach: the image ends after its 2 data blocks" \
		$((4 * MiB)) "$(stat -c %s "$held")"
	tap_image_sound "... and checks clean" "$held"
	if vdi_attach again -r "$held"; then
		tap_eq "... and the writes read back" "a5 a5" \
			"$(read_at "$again" 0 1 | od -An -tx1 | tr -d ' ') $(read_at "$again" $((5 * MiB)) 1 | od -An -tx1 | tr -d ' ')"
		"$VDISETUP" detach "$again"
	else
		tap_fail "... and the writes read back" "attach failed"
	fi
else
	tap_fail "attach through a descriptor set to O_APPEND afterwards" "$out"
fi

# --- privilege: nobody changes nothing, and can list ---
# (Devices and backing files: nobody may not stat the file for the rest.)
tap_eq "nobody lists the devices and files root lists" \
	"$("$VDISETUP" list | awk '{ print $1, $2 }')" \
	"$("${nobody[@]}" "$VDISETUP" list 2>&1 | awk '{ print $1, $2 }')"
expect_fail "nobody cannot attach (the control node is 0600)" \
	"Permission denied" "${nobody[@]}" "$VDISETUP" attach "$VDISETUP"
tap_check "nobody gets EPERM from every changing ioctl" \
	"$helper" eperm "$dev" "$img"

# --- the module: refused while attached, unloads after ---
expect_fail "rmmod while attached: refused" "in use" rmmod vdi
tap_check "detach" "$VDISETUP" detach "$dev"
tap_eq "no module reference left" 0 "$(cat /sys/module/vdi/refcnt)"
tap_check "rmmod once nothing is attached" rmmod vdi
tap_check "the module loads again" vdi_load
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
