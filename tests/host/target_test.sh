#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where vdisetup may write, and what it says about an image on a block
# device: create replaces a regular file only with --force and only when
# nothing holds it (a program's lock, QEMU's), follows a symbolic link to
# the file it names, never replaces a device node, FIFO or directory, and
# writes in place on a block device (with --force, a device large enough,
# a fixed image's blocks zeroed), as qemu-img does. check counts the rest
# of a block device after the last block as no leak, so --repair has
# nothing to do there. The block device is a loop device on the host;
# one with a mounted file system is refused. attach and detach send their
# ioctls to vdi devices only: a loop device or /dev/null is "not a vdi
# device".
here=$(dirname "$(realpath "$0")")
. "$here/../tap.sh"
VDI_TOP=$(realpath "$here/../..")
. "$here/../vdi_lib.sh"	# tap_eq
. "$here/offline_lib.sh"	# run, expect, info, sha, qemu_clean

for t in qemu-img qemu-nbd jq; do
	command -v $t >/dev/null || vdi_skip_all "$t is not installed"
done
[ -x "$V" ] || vdi_skip_all "$V not built"
[ "$(id -u)" = 0 ] || vdi_skip_all "mknod and losetup need root"
tap_plan 42
d=$(mktemp -d)
loop=
cleanup()
{
	[ -z "$loop" ] || losetup -d "$loop"
	[ ! -f "$d/nbd.pid" ] || kill "$(cat "$d/nbd.pid")" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT

# ------------------------------------------------------- special files
mknod "$d/null" c 1 3
mkfifo "$d/fifo"
mkdir "$d/dir"
for f in null:"a character device" fifo:"a FIFO" dir:"a directory"; do
	name=${f%%:*} kind=${f#*:}
	for force in "" --force; do
		expect "create $force onto $kind: refused" 1 \
			"^$d/$name: is $kind: an image goes into a regular file or onto a block device$" \
			"$V" create $force "$d/$name" 1M
	done
	tap_eq "$kind: still there, unchanged" "$kind" \
		"$(stat -c %F "$d/$name" | sed 's/^character special file$/a character device/;s/^fifo$/a FIFO/;s/^directory$/a directory/')"
done

# ------------------------------------------------- a file in use, a link
img=$d/held.vdi
"$V" create "$img" 4M
sum=$(sha "$img")
qemu-nbd --fork --pid-file="$d/nbd.pid" --socket="$d/nbd.sock" -f vdi "$img"
expect "create --force over an image QEMU holds: refused" 1 \
	"^$img: cannot replace it: in use by another program \(locked\)$" \
	"$V" create --force "$img" 8M
tap_eq "the image QEMU holds is unchanged" "$sum" "$(sha "$img")"
kill "$(cat "$d/nbd.pid")"
while [ -e "/proc/$(cat "$d/nbd.pid")" ]; do sleep 0.1; done
rm "$d/nbd.pid"
expect "create --force once QEMU let go" 0 '' "$V" create --force "$img" 8M
tap_eq "create --force: the new image" 8388608 "$(info "$img" virtual-size)"

ln -s held.vdi "$d/link.vdi"
expect "create --force through a link" 0 '' "$V" create --force "$d/link.vdi" 16M
tap_eq "through a link: the link stays, the file it names is the new image" \
	"symbolic link 16777216" \
	"$(stat -c %F "$d/link.vdi") $(info "$img" virtual-size)"

# Without the module, attach and detach say so, and blame no image.
if [ -e /dev/vdi-control ]; then
	for i in 1 2 3; do tap_skip "without the module ($i)" "the vdi module is loaded here"; done
else
	expect "attach FILE vdi0 without the module: the module named, the image not blamed" 1 \
		"^cannot open /dev/vdi-control: No such file or directory \(is the vdi module loaded\? try 'modprobe vdi'\)$" \
		"$V" attach "$img" vdi0
	tap_eq "attach FILE vdi0 without the module: one message" 1 "$(wc -l <<<"$out")"
	expect "detach vdi0 without the module: the module named" 1 \
		"^/dev/vdi0: detach failed: No such file or directory \(is the vdi module loaded\?\)$" \
		"$V" detach vdi0
fi

# -------------------------------------------------------- a block device
truncate -s 64M "$d/disk"
loop=$(losetup -f --show "$d/disk" 2>/dev/null)
if [ -z "$loop" ]; then
	for i in $(seq 1 24); do tap_skip "block device $i" "no loop device on this host"; done
	tap_done
fi
head -c 64M /dev/urandom > "$loop"
sum=$(sha "$loop")
expect "create onto a block device without --force: refused" 1 \
	"^$loop: is a block device: --force writes the image onto it, and what it holds is lost$" \
	"$V" create "$loop" 16M
tap_eq "without --force: the device is unchanged" "$sum" "$(sha "$loop")"
expect "create --static onto a device too small: refused" 1 \
	"^$loop: too small: the image needs 65 MiB, the device holds 64 MiB$" \
	"$V" create --force --static "$loop" 63M
tap_eq "too small: the device is unchanged" "$sum" "$(sha "$loop")"
mkfs.ext4 -q "$loop"
mkdir "$d/mnt"
if mount "$loop" "$d/mnt" 2>/dev/null; then
	expect "create --force onto a mounted block device: refused" 1 \
		"^$loop: cannot write an image onto it: in use \(mounted, or held by a driver\)$" \
		"$V" create --force "$loop" 16M
	umount "$d/mnt"
	tap_check "mounted: the file system is unharmed" e2fsck -fn "$loop"
else
	tap_skip "create --force onto a mounted block device: refused" "cannot mount ext4 here"
	tap_skip "mounted: the file system is unharmed" "cannot mount ext4 here"
fi

expect "create --force --static onto a block device" 0 '' "$V" create --force --static "$loop" 32M
tap_eq "the device node is still a block device" "block special file" "$(stat -c %F "$loop")"
qemu_clean "static on a device: qemu-img check" "$loop"
expect "static on a device: vdisetup check clean, the rest of the device no leak" 0 \
	'^No errors were found' "$V" check "$loop"
truncate -s 32M "$d/zero.raw"
tap_eq "static on a device: its blocks read as zeros" "Images are identical." \
	"$(qemu-img compare -f vdi -F raw "$loop" "$d/zero.raw" 2>&1)"
tap_eq "static on a device: type and size" "static 33554432" "$(info "$loop" type virtual-size)"

expect "create --force (dynamic) onto the block device" 0 '' "$V" create --force "$loop" 1G
qemu_clean "dynamic on a device: qemu-img check" "$loop"
tap_eq "dynamic on a device: qemu-img info sees 1 GiB" 1073741824 \
	"$(qemu-img info -f vdi --output=json "$loop" | jq '."virtual-size"')"
qemu-io -f vdi -c 'write -P 0x5a 0 1M' -c 'write -P 0xa5 5M 1M' "$loop" >/dev/null
sum=$(sha "$loop")
expect "dynamic on a device with data: vdisetup check clean" 0 '^No errors were found' \
	"$V" check "$loop"
run "$V" check --repair "$loop"
tap_eq "check --repair on a device: exit 0, nothing said repaired" "0 0" \
	"$rc $(grep -c 'repaired' <<<"$out")"
tap_eq "check --repair on a device: nothing changed" "$sum" "$(sha "$loop")"
tap_eq "check --repair --json on a device: no leak, nothing fixed" "0 0 0" \
	"$("$V" check --repair --json "$loop" | jq -r '[.leaks, ."leaks-fixed" // 0, ."corruptions-fixed" // 0] | join(" ")')"
tap_eq "the data is still there" "read 1048576/1048576 bytes at offset 5242880" \
	"$(qemu-io -f vdi -c 'read -P 0xa5 5M 1M' "$loop" 2>&1 | head -n 1)"

# ------------------------------------------ ioctls reach vdi devices only
# Another driver may give a vdi ioctl's number a meaning of its own.
expect "detach of another driver's device: refused before any ioctl" 1 \
	"^$loop: not a vdi device$" "$V" detach "$loop"
expect "detach of a character device: refused" 1 "^/dev/null: not a vdi device$" \
	"$V" detach /dev/null
expect "attach onto another driver's device: refused, naming the device" 1 \
	"^$loop: not a vdi device$" "$V" attach "$img" "$loop"
tap_eq "the loop device still serves its file" "$d/disk" \
	"$(losetup -n -O BACK-FILE "$loop")"
tap_done
