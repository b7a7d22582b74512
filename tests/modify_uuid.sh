#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The modification UUID, as VirtualBox keeps it: the driver gives an image
# a new one on its first change after attach (a write or a discard), in the
# file before the change completes, and only once per attach; reading,
# a read-only attach and the image UUID leave it alone. A differencing
# image made from the old state then no longer matches its parent, which
# vdisetup check reports.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup jq blkdiscard

# field FILE NAME: a field of vdisetup info --json.
field() { "$VDISETUP" info --json "$1" | jq -r ".\"$2\""; }

tap_plan
dmesg_start=$(dmesg | wc -l)
base=$scratch/base.vdi
"$VDISETUP" create "$base" 16M
uuid=$(field "$base" uuid)
mod0=$(field "$base" modification-uuid)
"$VDISETUP" create --parent "$base" "$scratch/child.vdi"

vdi_attach dev "$base" || tap_fail "attach" "vdisetup attach failed"
dd if="$dev" of=/dev/null bs=1M status=none
tap_eq "reading keeps the modification UUID" "$mod0" \
	"$(field "$base" modification-uuid)"

head -c 4096 /dev/urandom > "$scratch/data"
dd if="$scratch/data" of="$dev" bs=4096 seek=3 oflag=direct conv=notrunc \
	status=none
mod1=$(field "$base" modification-uuid)
tap_eq "the first write gives a new modification UUID, in the file at once" \
	yes "$([ "$mod1" != "$mod0" ] && [ "$mod1" != null ] && echo yes)"
dd if="$scratch/data" of="$dev" bs=4096 seek=300 oflag=direct conv=notrunc \
	status=none
tap_eq "later writes keep it" "$mod1" "$(field "$base" modification-uuid)"
"$VDISETUP" detach "$dev"
tap_eq "the image UUID stays" "$uuid" "$(field "$base" uuid)"
tap_eq "detach keeps the modification UUID of the write" "$mod1" \
	"$(field "$base" modification-uuid)"

rc=0
out=$("$VDISETUP" check "$scratch/child.vdi" 2>&1) || rc=$?
tap_eq "a child made before the write finds its parent changed" yes \
	"$([ $rc != 0 ] && grep -q 'parent changed since the child was made' \
		<<< "$out" && echo yes)"

vdi_attach dev -r "$base" || tap_fail "attach -r" "vdisetup attach failed"
dd if="$scratch/data" of="$dev" bs=4096 oflag=direct conv=notrunc \
	status=none 2>/dev/null
"$VDISETUP" detach "$dev"
tap_eq "a read-only attach keeps it" "$mod1" \
	"$(field "$base" modification-uuid)"

vdi_attach dev "$base" || tap_fail "attach" "vdisetup attach failed"
blkdiscard -o 0 -l 1048576 "$dev"
mod2=$(field "$base" modification-uuid)
"$VDISETUP" detach "$dev"
tap_eq "a discard as first change gives a new one too" yes \
	"$([ "$mod2" != "$mod1" ] && [ "$mod2" != "$mod0" ] && echo yes)"
tap_image_sound "the image checks clean" "$base"
tap_kernel_log_clean "no WARN, BUG or oops in the kernel log" "$dmesg_start"
tap_done
