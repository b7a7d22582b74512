#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The main job, end to end: create an image, attach it, make a filesystem,
# mount it, write files, detach, then check the image and verify the files
# through a read-only attach. Run as root on a machine that can load the
# module (`make demo` runs it in the test VM).
set -euo pipefail
top=$(realpath "$(dirname "$(realpath "$0")")/..")
vdisetup=$top/build/vdisetup
ko=${VDI_KO:-$top/build/$(uname -r)/vdi.ko}

step() { printf '\n== %s\n' "$*"; }

[ -c /dev/vdi-control ] || insmod "$ko" 2>/dev/null || modprobe vdi
work=$(mktemp -d /tmp/vdi-demo.XXXXXX)
mnt=$work/mnt
mkdir "$mnt"
img=$work/disk.vdi

step "create a 1 GiB dynamic image"
"$vdisetup" create "$img" 1G
ls -ls "$img"

step "attach, mkfs.ext4, mount, write files"
dev=$("$vdisetup" attach --show "$img")
echo "attached $img as $dev"
mkfs.ext4 -q "$dev"
mount "$dev" "$mnt"
cp -a "$top/kernel" "$top/userspace" "$mnt/"
head -c 64M /dev/urandom > "$mnt/random.bin"
(cd "$mnt" && find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 sha256sum) > "$work/sums"
"$vdisetup" list
umount "$mnt"

step "detach and check the image"
"$vdisetup" detach "$dev"
"$vdisetup" check "$img"
qemu-img check -f vdi "$img"
"$vdisetup" info "$img"
ls -ls "$img"

step "attach read-only and verify the files"
dev=$("$vdisetup" attach --show -r "$img")
e2fsck -fn "$dev" > /dev/null
mount -o ro "$dev" "$mnt"
(cd "$mnt" && sha256sum --quiet -c "$work/sums")
echo "$(wc -l < "$work/sums") files verified"
umount "$mnt"
"$vdisetup" detach "$dev"
rm -rf "$work"
step "demo: OK"
