#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A file system on /dev/vdiN: mkfs.ext4, mount, copy a tree of files (real
# headers plus large random files that span many VDI blocks), checksum,
# unmount, detach, attach again, checksum again; e2fsck -fn finds nothing at
# every stage, and the image passes qemu-img check at the end.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup mkfs.ext4 e2fsck qemu-img sha256sum blkid

# sums DIR: one line per file, path and SHA-256, in a stable order.
sums()
{
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

tap_plan

# The source tree: the kernel's uapi headers plus random files of awkward
# sizes (one of 3 MiB + 1 byte crosses several 1 MiB blocks).
src=$scratch/src
mkdir -p "$src/big"
cp -r /usr/include/linux "$src/"
for n in 1 4095 4097 65536 $((MiB - 1)) $((3 * MiB + 1)) $((9 * MiB)); do
	head -c "$n" /dev/urandom > "$src/big/f$n"
done
sums "$src" > "$scratch/src.sums"
files=$(wc -l < "$scratch/src.sums")

img=$scratch/fs.vdi
if ! "$VDISETUP" create "$img" 256M; then
	tap_fail "create a 256 MiB image" "vdisetup create failed"
	tap_done
fi
if ! vdi_attach dev "$img"; then
	tap_fail "attach" "vdisetup attach failed"
	tap_done
fi
tap_ok "attach $img as $dev"
tap_check "mkfs.ext4" mkfs.ext4 -q -F -L vditest "$dev"
mnt=$scratch/mnt
tap_check "mount" vdi_mount "$dev" "$mnt"
tap_check "copy $files files" cp -r "$src/." "$mnt/"
sums "$mnt" > "$scratch/mnt.sums"
tap_cmp "checksums on the mounted copy" "$scratch/src.sums" "$scratch/mnt.sums"
tap_check "unmount" umount "$mnt"
tap_check "e2fsck -fn after unmount" quiet e2fsck -fn "$dev"
tap_check "detach" "$VDISETUP" detach "$dev"
tap_check "qemu-img check after the first detach" qemu-img check -q -f vdi "$img"

if vdi_attach dev "$img"; then
	tap_ok "attach again as $dev"
	tap_eq "blkid sees the label" vditest "$(blkid -o value -s LABEL "$dev")"
	tap_check "e2fsck -fn after attaching again" quiet e2fsck -fn "$dev"
	tap_check "mount again" vdi_mount "$dev" "$mnt"
	sums "$mnt" > "$scratch/mnt2.sums"
	tap_cmp "checksums after detach and attach" "$scratch/src.sums" "$scratch/mnt2.sums"
	# Churn: delete half, write more, so freed and reused fs blocks mix.
	rm -rf "$mnt/linux/"[a-m]* "$mnt/big/f$((9 * MiB))"
	cp -r "$src/big" "$mnt/big2"
	sync -f "$mnt/big2"
	(cd "$mnt" && sums .) > "$scratch/churn.sums"
	tap_check "unmount after churn" umount "$mnt"
	tap_check "e2fsck -fn after churn" quiet e2fsck -fn "$dev"
	tap_check "detach again" "$VDISETUP" detach "$dev"
	if vdi_attach dev "$img"; then
		vdi_mount "$dev" "$mnt" ro
		(cd "$mnt" && sums .) > "$scratch/churn2.sums"
		tap_cmp "checksums after churn, detach and attach" \
			"$scratch/churn.sums" "$scratch/churn2.sums"
		umount "$mnt"
		tap_check "final detach" "$VDISETUP" detach "$dev"
	else
		tap_fail "attach a third time" "vdisetup attach failed"
	fi
	tap_check "qemu-img check at the end" qemu-img check -q -f vdi "$img"
else
	tap_fail "attach again" "vdisetup attach failed"
fi

tap_done
