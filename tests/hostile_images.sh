#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Hostile images at attach, through the kernel: hostile_gen writes a corpus
# of malformed images (every header field out of range, unaligned and
# overlapping offsets, overflowing sizes, maps past the end of the file,
# bad map entries, truncated files, a 256 MiB map the kernel must allocate
# and read, old versions, differencing images) with the reason text the
# format code gives for each. Every image is attached with the attach ioctl
# (vdisetup attach) and must be refused: vdisetup prints "FILE: attach
# failed: REASON", the kernel logs one line "vdi: FILE: REASON", no device
# is bound to it, and the file is unchanged. No WARN or oops on the way,
# and the driver still serves a good image afterwards.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

gen=${HOSTILE_GEN:-$(dirname "$0")/hostile_gen}
[ -x "$gen" ] || gen=$top/build/ksft/vdi/hostile_gen
[ -x "$gen" ] || vdi_skip_all "hostile_gen not built"
vdi_setup sha256sum

# bound_to FILE: the vdi devices whose backing file is FILE (builtins
# only: process creation is slow in an emulated guest, and this runs for
# every image).
bound_to()
{
	local f b devs=
	for f in /sys/block/vdi*/vdi/backing_file; do
		[ -r "$f" ] && read -r b < "$f" 2>/dev/null || continue
		if [ "$b" = "$1" ]; then
			f=${f#/sys/block/}
			devs+="/dev/${f%%/*}"
		fi
	done
	echo "$devs"
}

# fingerprint FILE SIZE: sha256 of the whole file; past 64 MiB (sparse
# images of several GiB, too slow to hash in an emulated guest) of its
# first 64 MiB, with its size, allocated blocks and modification and change
# times, which any write would move.
fingerprint()
{
	if [ "$2" -le $((64 * MiB)) ]; then
		sha256sum < "$1"
	else
		echo "$(head -c $((64 * MiB)) "$1" | sha256sum) $(stat -c '%s %b %y %z' "$1")"
	fi
}

corpus=$scratch/corpus
mkdir -p "$corpus"
if ! "$gen" "$corpus"; then
	echo "TAP version 13"
	echo "1..0 # hostile_gen failed"
	exit 1
fi

tap_plan
dmesg_start=$(dmesg | wc -l)
tap_eq "the corpus has at least 60 images" yes \
	"$([ "$(wc -l < "$corpus/index")" -ge 60 ] && echo yes)"

while IFS=$'\t' read -r name size reason; do
	img=$corpus/$name.vdi
	sum=$(fingerprint "$img" "$size")
	rc=0
	"$VDISETUP" attach "$img" > "$scratch/out" 2> "$scratch/err" || rc=$?
	tap_eq "$name: attach exits 1" 1 "$rc"
	want="$img: attach failed: $reason"
	# A well-formed child: vdisetup adds that its parent is not found.
	[ "$name" != diff_with_parent ] ||
		want+="; parent image not found (UUID cdcdcdcd-cdcd-cdcd-cdcd-cdcdcdcdcdcd, not among the *.vdi files beside it or one directory up; name it with --parent)"
	tap_eq "$name: vdisetup's reason" "$want" "$(< "$scratch/err")"
	[ ! -s "$scratch/out" ] || echo "# $name: unexpected output: $(< "$scratch/out")"
	tap_eq "$name: no device bound" "" "$(bound_to "$img")"
	tap_eq "$name: file unchanged" "$sum" "$(fingerprint "$img" "$size")"
	rm -f "$img"
done < "$corpus/index"

# The kernel's lines, one per image, "vdi: FILE: REASON" (file names are
# unique, so the whole log since the start can be searched at once).
dmesg | tail -n +$((dmesg_start + 1)) > "$scratch/dmesg"
awk -F '\t' -v dir="$corpus" 'NR == FNR {
		want["vdi: " dir "/" $1 ".vdi: " $3] = $1; order[++n] = $1
		key[$1] = "vdi: " dir "/" $1 ".vdi: " $3; next
	}
	{
		for (k in want) {
			l = length(k)
			if (length($0) >= l && substr($0, length($0) - l + 1) == k)
				seen[want[k]]++
		}
	}
	END { for (i = 1; i <= n; i++) print order[i], seen[order[i]] + 0 }' \
	"$corpus/index" "$scratch/dmesg" > "$scratch/counts"
while read -r name n; do
	tap_eq "$name: one dmesg line with the file and the reason" 1 "$n"
done < "$scratch/counts"

bad=$(grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|kernel BUG' \
	"$scratch/dmesg" || true)
tap_eq "no WARN, BUG or oops in the kernel log" "" "$bad"

# The driver is still sound: a good image attaches, stores and detaches.
img=$scratch/good.vdi
"$VDISETUP" create "$img" 16M
head -c 65536 /dev/urandom > "$scratch/piece"
if vdi_attach dev "$img"; then
	write_at "$dev" $((5 * MiB)) "$scratch/piece" direct
	tap_cmp "a good image still works after the corpus" "$scratch/piece" \
		<(dd if="$dev" bs=65536 skip=$((5 * MiB / 65536)) count=1 \
			iflag=direct status=none)
	tap_check "detach the good image" "$VDISETUP" detach "$dev"
else
	tap_fail "a good image still attaches after the corpus" "vdisetup attach failed"
fi

tap_done
