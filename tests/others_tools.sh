#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Tools made by others against /dev/vdiN, the way block-layer conformance
# suites (blktests) use them:
#  - xfs_io: "blockdev --setro" makes writes fail (EPERM) and reads work,
#    "--setrw" undoes it; direct I/O at sector-aligned odd offsets and
#    lengths (512 B to 63.5 KiB, across a block boundary) reads back what
#    was written, and misaligned direct I/O is refused with EINVAL, as on
#    loop;
#  - stress-ng's hdd stressor with verification on ext4 over the device,
#    buffered and with O_DIRECT, then e2fsck and vdisetup check.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup xfs_io stress-ng mkfs.ext4 e2fsck blockdev

# xio DEV ARGS...: xfs_io with direct I/O; its output, errors included.
xio() { local d=$1; shift; xfs_io -d "$@" "$d" 2>&1; }

tap_plan
dmesg_start=$(dmesg | wc -l)
img=$scratch/t.vdi
"$VDISETUP" create "$img" 64M
vdi_attach dev "$img" || { tap_fail "attach" "vdisetup attach failed"; tap_done; }

# --- read-only by blockdev --setro ---
xio "$dev" -c "pwrite -S 0x11 0 4k" > /dev/null
tap_check "setro: blockdev --setro" blockdev --setro "$dev"
tap_eq "setro: a direct write fails with EPERM" yes \
	"$(xio "$dev" -c "pwrite -S 0x22 0 4k" | grep -q 'Operation not permitted' && echo yes)"
tap_eq "setro: reads still work" "11" \
	"$(read_at "$dev" 0 1 | od -An -tx1 | tr -d ' ')"
tap_check "setro: blockdev --setrw" blockdev --setrw "$dev"
tap_eq "setrw: the write works again" yes \
	"$(xio "$dev" -c "pwrite -S 0x22 0 4k" | grep -q 'wrote 4096/4096' && echo yes)"

# --- direct I/O at odd sector-aligned offsets and lengths ---
ok=yes
for spec in "512 512" "1536 3584" "$((MiB - 1024)) 2048" "$((3 * MiB + 512)) 65024" \
	    "$((5 * MiB - 512)) 1024"; do
	set -- $spec
	pat=$(printf '0x%02x' $((($1 / 512 + $2 / 512) % 250 + 1)))
	out=$(xio "$dev" -c "pwrite -S $pat $1 $2" -c "pread -v $1 $2")
	want=$(printf '%s' "${pat#0x}")
	got=$(printf '%s\n' "$out" | awk '/^[0-9a-f]+:/ { for (i = 2; i <= 17; i++) print $i }' | sort -u | tr '\n' ' ')
	if [ "$got" != "$want " ]; then
		ok=no
		echo "# $1+$2: pattern $want, read: $got"
	fi
done
tap_eq "direct I/O at odd sector-aligned offsets and lengths reads back" yes "$ok"
tap_eq "direct I/O at a misaligned offset: EINVAL" yes \
	"$(xio "$dev" -c "pwrite -S 0x33 100 512" | grep -q 'Invalid argument' && echo yes)"
tap_eq "direct I/O of a misaligned length: EINVAL" yes \
	"$(xio "$dev" -c "pread 0 100" | grep -q 'Invalid argument' && echo yes)"
"$VDISETUP" detach "$dev"

# --- stress-ng on ext4 over the device ---
img=$scratch/s.vdi
"$VDISETUP" create "$img" 512M
vdi_attach dev "$img" || { tap_fail "attach" "vdisetup attach failed"; tap_done; }
mkfs.ext4 -q -F "$dev"
mnt=$scratch/mnt
vdi_mount "$dev" "$mnt" || { tap_fail "mount" "mount failed"; tap_done; }
for opts in "wr-rnd,rd-rnd" "wr-rnd,rd-rnd,direct"; do
	out=$(stress-ng --hdd 2 --hdd-opts "$opts" --hdd-bytes 32M --verify \
		--timeout 20s --temp-path "$mnt" --metrics-brief 2>&1)
	rc=$?
	if [ $rc = 0 ] && ! printf '%s\n' "$out" | grep -qiE 'fail|error'; then
		tap_ok "stress-ng hdd --verify ($opts)"
	else
		tap_fail "stress-ng hdd --verify ($opts)" "exit $rc"
		printf '%s\n' "$out" | tail -n 8 | sed 's/^/# /'
	fi
done
umount "$mnt"
tap_check "e2fsck after stress-ng" e2fsck -fn "$dev"
"$VDISETUP" detach "$dev"
tap_image_sound "vdisetup check after stress-ng" "$img"
tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
