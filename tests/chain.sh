#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Differencing chains on /dev/vdiN. Chains of 1 to 4 levels are built by
# the driver itself: each level is attached over the ones below and gets
# its own pattern, in whole blocks and in pieces of blocks a parent has
# (copied up) or not; after every level the device reads as the flattening
# the test keeps with dd, the images below are unchanged (sha256), every
# lower level still reads as it did, and "vdisetup convert" writes the
# same bytes. Then discard in the child: whole blocks (parents' data
# hidden by zero entries, also after re-attach) and part of one copied up
# and zeroed; write-zeroes; "vdisetup commit" and the parent read on its
# own. Broken links are refused with their messages: wrong UUID, missing
# parent, a cycle, a parent of another size, a parent changed since (and
# accepted with --accept-changed-parent). A chain whose block maps
# together need more than 256 MiB is refused with its reason. A chain of
# 16 levels; fio verify (crc32c) on a chain of 3; attach and detach keep
# no reference to any file.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup blkdiscard sha256sum
KiB=1024

# fill N LEN: LEN bytes of the byte N.
fill() { head -c "$2" /dev/zero | tr '\0' "\\$(printf %03o "$1")"; }

# put DEV WANT N OFF LEN: write LEN bytes of N at OFF to the device and
# into the expected flattening WANT.
put()
{
	fill "$3" "$5" > "$scratch/piece"
	write_at "$1" "$4" "$scratch/piece" direct
	write_at "$2" "$4" "$scratch/piece"
}

# zero_want WANT OFF LEN: LEN zero bytes at OFF in WANT.
zero_want() { head -c "$3" /dev/zero | write_at "$1" "$2" /dev/stdin; }

# reads_as NAME DEV WANT: the whole device equals WANT.
reads_as() { tap_cmp "$1" "$2" "$3"; }

# converted NAME IMG WANT [OPTIONS]: "vdisetup convert --format raw" of IMG
# through its chain equals WANT.
converted()
{
	rm -f "$scratch/conv.raw"
	if "$VDISETUP" convert --format raw ${4:+$4} "$2" "$scratch/conv.raw"; then
		tap_cmp "$1" "$scratch/conv.raw" "$3"
	else
		tap_fail "$1" "vdisetup convert failed"
	fi
}

# sums FILE...: one line of sha256 sums.
sums() { sha256sum "$@" | awk '{ printf "%s ", $1 }'; }

# refused NAME TEXT ATTACH-ARGS...: attach fails and says TEXT (a grep -E
# pattern); no device is left bound to the image.
refused()
{
	local name=$1 text=$2 out rc=0
	shift 2
	out=$("$VDISETUP" attach --show "$@" 2>&1) || rc=$?
	if [ $rc = 0 ]; then
		vdi_devs+=("$out")
		tap_fail "$name" "attached as $out"
	elif printf '%s\n' "$out" | grep -qE "$text"; then
		tap_ok "$name"
	else
		tap_fail "$name" "message: $out"
	fi
}

# uuid IMG: the image UUID.
uuid() { "$VDISETUP" info "$1" | awk '$1 == "uuid:" { print $2; exit }'; }

size=$((16 * MiB))
tap_plan
dmesg_start=$(dmesg | wc -l)
d=$scratch/c
mkdir "$d"

# ---- level 0: a base image; blocks 0-7 whole, each its own byte.
"$VDISETUP" create "$d/l0.vdi" 16M
head -c $size /dev/zero > "$scratch/want.raw"
if ! vdi_attach dev "$d/l0.vdi"; then
	tap_fail "attach the base image" "vdisetup attach failed"
	tap_done
fi
for b in $(seq 0 7); do put "$dev" "$scratch/want.raw" $((b + 1)) $((b * MiB)) $MiB; done
"$VDISETUP" detach "$dev"
cp "$scratch/want.raw" "$scratch/want0.raw"

# level N: attach lN (parents found by UUID beside it), run the writes
# given as "BYTE OFFSET LENGTH" triples, check it, detach.
level()
{
	local n=$1 below=() i before
	shift
	for i in $(seq 0 $((n - 1))); do below+=("$d/l$i.vdi"); done
	"$VDISETUP" create --parent "$d/l$((n - 1)).vdi" "$d/l$n.vdi"
	before=$(sums "${below[@]}")
	if ! vdi_attach dev "$d/l$n.vdi"; then
		tap_fail "level $n: attach a chain of $((n + 1))" "vdisetup attach failed"
		return
	fi
	tap_ok "level $n: attach a chain of $((n + 1))"
	reads_as "level $n: reads as level $((n - 1)) before any write" "$dev" "$scratch/want.raw"
	while [ $# -ge 3 ]; do
		put "$dev" "$scratch/want.raw" "$1" "$2" "$3"
		shift 3
	done
	reads_as "level $n: reads as the flattening after the writes" "$dev" "$scratch/want.raw"
	"$VDISETUP" detach "$dev"
	tap_eq "level $n: the images below are unchanged" "$before" "$(sums "${below[@]}")"
	tap_image_sound "level $n: vdisetup check" "$d/l$n.vdi"
	converted "level $n: vdisetup convert equals the flattening" "$d/l$n.vdi" "$scratch/want.raw"
	cp "$scratch/want.raw" "$scratch/want$n.raw"
	if vdi_attach dev -r "$d/l$n.vdi"; then
		reads_as "level $n: reads the same after re-attach (read-only)" "$dev" "$scratch/want.raw"
		"$VDISETUP" detach "$dev"
	else
		tap_fail "level $n: re-attach read-only" "vdisetup attach -r failed"
	fi
}

# Level 1: a whole block over the base's, 4 KiB inside a base block (the
# rest copied up), 8 KiB in a block no level has.
level 1 11 $((2 * MiB)) $MiB  12 $((3 * MiB + 64 * KiB)) $((4 * KiB)) \
	13 $((9 * MiB)) $((8 * KiB))
# Level 2: inside the block level 1 copied up, inside a base block, a
# whole new block, across a block boundary.
level 2 21 $((3 * MiB + 512 * KiB)) $((4 * KiB))  22 $((4 * MiB + 4 * KiB)) 512 \
	23 $((10 * MiB)) $MiB  24 $((5 * MiB - 8 * KiB)) $((16 * KiB))
# Level 3: the last 4 KiB of block 0, inside level 1's new block 9.
level 3 31 $((MiB - 4 * KiB)) $((4 * KiB))  32 $((9 * MiB + 256 * KiB)) $((4 * KiB))

# Every level still reads as it did when it was the top, read-only.
for n in 0 1 2; do
	if vdi_attach dev -r "$d/l$n.vdi"; then
		reads_as "level $n alone still reads as it did" "$dev" "$scratch/want$n.raw"
		"$VDISETUP" detach "$dev"
	else
		tap_fail "level $n alone still reads as it did" "attach -r failed"
	fi
done

# ---- discard and write-zeroes in the top (level 3).
before=$(sums "$d/l0.vdi" "$d/l1.vdi" "$d/l2.vdi")
if vdi_attach dev "$d/l3.vdi"; then
	blkdiscard -o $((1 * MiB)) -l $MiB "$dev"	# the base's block 1
	blkdiscard -o $((2 * MiB)) -l $MiB "$dev"	# level 1's block 2
	blkdiscard -o $((5 * MiB + 8 * KiB)) -l $((8 * KiB)) "$dev"	# part of a base block
	blkdiscard -z -o $((6 * MiB)) -l $MiB "$dev"	# write-zeroes, base block 6
	blkdiscard -z -o $((7 * MiB + 4 * KiB)) -l $((4 * KiB)) "$dev"
	zero_want "$scratch/want.raw" $MiB $((2 * MiB))
	zero_want "$scratch/want.raw" $((5 * MiB + 8 * KiB)) $((8 * KiB))
	zero_want "$scratch/want.raw" $((6 * MiB)) $MiB
	zero_want "$scratch/want.raw" $((7 * MiB + 4 * KiB)) $((4 * KiB))
	reads_as "discard: whole and partial blocks of parents read as zeros" "$dev" "$scratch/want.raw"
	tap_eq "discard: two whole blocks and a write-zeroes are zero entries" 3 \
		"$(cat "/sys/block/${dev#/dev/}/vdi/zero_blocks")"
	"$VDISETUP" detach "$dev"
	tap_eq "discard: the parents are unchanged" "$before" \
		"$(sums "$d/l0.vdi" "$d/l1.vdi" "$d/l2.vdi")"
else
	tap_fail "discard: attach level 3" "vdisetup attach failed"
fi
if vdi_attach dev -r "$d/l3.vdi"; then
	reads_as "discard: still zeros after re-attach" "$dev" "$scratch/want.raw"
	"$VDISETUP" detach "$dev"
else
	tap_fail "discard: re-attach" "vdisetup attach -r failed"
fi
converted "discard: vdisetup convert equals the device" "$d/l3.vdi" "$scratch/want.raw"

# ---- commit level 3 into level 2; level 2 on its own then reads merged.
tap_check "vdisetup commit of level 3" "$VDISETUP" commit "$d/l3.vdi"
if vdi_attach dev -r "$d/l2.vdi"; then
	reads_as "commit: level 2 on its own reads the merged content" "$dev" "$scratch/want.raw"
	"$VDISETUP" detach "$dev"
else
	tap_fail "commit: attach level 2" "vdisetup attach -r failed"
fi
if vdi_attach dev -r "$d/l3.vdi"; then
	reads_as "commit: the emptied level 3 reads the same" "$dev" "$scratch/want.raw"
	"$VDISETUP" detach "$dev"
else
	tap_fail "commit: attach level 3" "vdisetup attach -r failed"
fi

# ---- broken links.
b=$scratch/broken
mkdir "$b" "$b/alone" "$b/big" "$b/cycle" "$b/mod"
"$VDISETUP" create "$b/other.vdi" 16M
refused "wrong parent: refused, naming both files" \
	"l1.vdi: parent .*other.vdi: parent is not the image the child links to" \
	--parent "$b/other.vdi" "$d/l1.vdi"
cp "$d/l1.vdi" "$b/alone/"
refused "missing parent: refused" \
	"alone/l1.vdi: attach failed: differencing image: parent needed \(image type 4\); parent image not found \(UUID" \
	"$b/alone/l1.vdi"
"$VDISETUP" create -u "$(uuid "$d/l0.vdi")" "$b/big/l0.vdi" 32M
refused "parent of another size: refused" \
	"parent .*big/l0.vdi: parent has a different disk size \(33554432 bytes, the child 16777216\)" \
	--parent "$b/big/l0.vdi" "$d/l1.vdi"
# Two children linked to each other.
"$VDISETUP" create --parent "$d/l0.vdi" "$b/cycle/x.vdi"
"$VDISETUP" create --parent "$d/l0.vdi" "$b/cycle/y.vdi"
dd if="$b/cycle/y.vdi" of="$b/cycle/x.vdi" bs=1 skip=$((0x188)) seek=$((0x1a8)) count=16 conv=notrunc status=none
dd if="$b/cycle/y.vdi" of="$b/cycle/x.vdi" bs=1 skip=$((0x198)) seek=$((0x1b8)) count=16 conv=notrunc status=none
dd if="$b/cycle/x.vdi" of="$b/cycle/y.vdi" bs=1 skip=$((0x188)) seek=$((0x1a8)) count=16 conv=notrunc status=none
dd if="$b/cycle/x.vdi" of="$b/cycle/y.vdi" bs=1 skip=$((0x198)) seek=$((0x1b8)) count=16 conv=notrunc status=none
refused "cycle: refused" "chain of parents loops back" "$b/cycle/x.vdi"
refused "cycle given with --parent: refused" "chain of parents loops back|not a differencing|loops" \
	--parent "$b/cycle/y.vdi" --parent "$b/cycle/x.vdi" "$b/cycle/x.vdi"
# A parent written since its child was made.
cp "$d/l0.vdi" "$b/mod/"
"$VDISETUP" create --parent "$b/mod/l0.vdi" "$b/mod/c.vdi"
if vdi_attach dev "$b/mod/l0.vdi"; then
	fill 99 4096 > "$scratch/piece"
	write_at "$dev" 0 "$scratch/piece" direct
	"$VDISETUP" detach "$dev"
fi
refused "parent modified: refused" "c.vdi: parent .*l0.vdi: parent changed since the child was made" \
	"$b/mod/c.vdi"
if vdi_attach dev --accept-changed-parent -r "$b/mod/c.vdi"; then
	tap_ok "parent modified: accepted with --accept-changed-parent"
	tap_cmp "parent modified: --accept-changed-parent reads the parent as it is now" \
		<(read_at "$dev" 0 4096) "$scratch/piece"
	"$VDISETUP" detach "$dev"
else
	tap_fail "parent modified: accepted with --accept-changed-parent" "vdisetup attach --accept-changed-parent failed"
	tap_fail "parent modified: --accept-changed-parent reads the parent as it is now" "not attached"
fi

# Block maps of 128 MiB each (32 TiB of 1 MiB blocks): two fit the chain's
# 256 MiB of map, a third is refused with the reason, and nothing is
# attached. (Files of 128 MiB each, the maps of free entries.)
m=$scratch/mem
mkdir "$m"
if "$VDISETUP" create "$m/m0.vdi" 32T &&
   "$VDISETUP" create --parent "$m/m0.vdi" "$m/m1.vdi" &&
   "$VDISETUP" create --parent "$m/m1.vdi" "$m/m2.vdi"; then
	if vdi_attach dev -r "$m/m1.vdi"; then
		tap_ok "map memory: a chain of 2 maps of 128 MiB attaches"
		"$VDISETUP" detach "$dev"
	else
		tap_fail "map memory: a chain of 2 maps of 128 MiB attaches" "attach failed"
	fi
	refused "map memory: a chain of 3 maps of 128 MiB is refused" \
		"chain's block maps too large for memory" \
		-r "$m/m2.vdi"
else
	tap_fail "map memory: create 3 images of 32 TiB" "vdisetup create failed"
fi
rm -rf "$m"

# ---- a chain of 16 levels, each with 4 KiB of its own in block 12-15.
s=$scratch/deep
mkdir "$s"
"$VDISETUP" create "$s/d0.vdi" 16M
head -c $size /dev/zero > "$scratch/deep.raw"
ok=yes
for n in $(seq 1 15); do
	"$VDISETUP" create --parent "$s/d$((n - 1)).vdi" "$s/d$n.vdi" || ok=no
	if vdi_attach dev "$s/d$n.vdi"; then
		put "$dev" "$scratch/deep.raw" $((100 + n)) $(((12 + n % 4) * MiB + n * 8 * KiB)) $((4 * KiB))
		"$VDISETUP" detach "$dev"
	else
		ok=no
	fi
done
tap_eq "16 levels: every level attached and written" yes "$ok"
if vdi_attach dev -r "$s/d15.vdi"; then
	reads_as "16 levels: the device reads as the flattening" "$dev" "$scratch/deep.raw"
	"$VDISETUP" detach "$dev"
else
	tap_fail "16 levels: attach" "vdisetup attach -r failed"
fi
converted "16 levels: vdisetup convert equals the flattening" "$s/d15.vdi" "$scratch/deep.raw"

# ---- fio verify on a chain of 3 (64 MiB, the base full of data).
# chain_fio EXTRA...: 2 jobs of 4 KiB random writes, each in its own
# 32 MiB, every block with a crc32c header checked on read.
chain_fio()
{
	quiet fio --name=chain --filename="$dev" --rw=randwrite --bs=4k \
		--ioengine=libaio --iodepth=16 --numjobs=2 --direct=1 \
		--size=32M --offset_increment=32M --io_size=4M \
		--verify=crc32c --verify_fatal=1 --randseed=77 --eta=never "$@"
}

if command -v fio >/dev/null; then
	f=$scratch/fio
	mkdir "$f"
	# Each child is made after its parent's last write (which gives the
	# parent a new modification UUID).
	"$VDISETUP" create "$f/f0.vdi" 64M
	if vdi_attach dev "$f/f0.vdi"; then
		head -c $((64 * MiB)) /dev/urandom | write_at "$dev" 0 /dev/stdin direct
		"$VDISETUP" detach "$dev"
	fi
	"$VDISETUP" create --parent "$f/f0.vdi" "$f/f1.vdi"
	if vdi_attach dev "$f/f1.vdi"; then
		head -c $((8 * MiB)) /dev/urandom | write_at "$dev" $((16 * MiB)) /dev/stdin direct
		"$VDISETUP" detach "$dev"
	fi
	"$VDISETUP" create --parent "$f/f1.vdi" "$f/f2.vdi"
	before=$(sums "$f/f0.vdi" "$f/f1.vdi")
	if vdi_attach dev "$f/f2.vdi"; then
		tap_check "fio randwrite + crc32c verify on a chain of 3" \
			chain_fio --end_fsync=1
		"$VDISETUP" detach "$dev"
		tap_eq "fio: the parents are unchanged" "$before" "$(sums "$f/f0.vdi" "$f/f1.vdi")"
	else
		tap_fail "fio randwrite + crc32c verify on a chain of 3" "attach failed"
	fi
	if vdi_attach dev -r "$f/f2.vdi"; then
		tap_check "fio verify_only after re-attach" chain_fio --verify_only=1
		"$VDISETUP" detach "$dev"
	fi
else
	tap_skip "fio randwrite + crc32c verify on a chain of 3" "fio is not installed"
fi

# ---- no reference kept: a parent in use is busy for a writable attach
# and for offline changes only while the chain is attached, and a tmpfs gets all its space back
# once the chain's files are removed after 10 attach/detach cycles.
t=$scratch/tmpfs
mkdir "$t"
if mount -t tmpfs -o size=64M tmpfs "$t"; then
	used0=$(df --output=used "$t" | tail -1)
	"$VDISETUP" create "$t/a.vdi" 16M
	"$VDISETUP" create --parent "$t/a.vdi" "$t/b.vdi"
	"$VDISETUP" create --parent "$t/b.vdi" "$t/c.vdi"
	if vdi_attach dev "$t/c.vdi"; then
		refused "a parent in use is busy for a writable attach" "busy" "$t/a.vdi"
		tap_eq "sysfs parents: the parents' paths, the nearest first" \
			"$t/b.vdi $t/a.vdi" "$(echo $(cat "/sys/block/${dev#/dev/}/vdi/parents"))"
		out=$("$VDISETUP" commit "$t/b.vdi" 2>&1)
		tap_eq "commit of a parent of an attached chain is refused" \
			"$t/b.vdi: cannot commit: a parent of the chain attached as $dev; detach it first" \
			"$out"
		"$VDISETUP" detach "$dev"
	fi
	if vdi_attach dev "$t/a.vdi"; then
		tap_ok "after detach the parent attaches writable"
		"$VDISETUP" detach "$dev"
	else
		tap_fail "after detach the parent attaches writable" "attach failed"
	fi
	ok=yes
	for i in $(seq 1 10); do
		if vdi_attach dev "$t/c.vdi"; then
			fill $i 4096 | write_at "$dev" $((i * MiB)) /dev/stdin direct
			"$VDISETUP" detach "$dev" || ok=no
		else
			ok=no
		fi
	done
	tap_eq "10 attach/detach cycles of a chain of 3" yes "$ok"
	rm -f "$t"/*.vdi
	tap_eq "the files' space is all given back (no file reference kept)" \
		"$used0" "$(df --output=used "$t" | tail -1)"
	umount "$t"
else
	tap_skip "no reference kept" "cannot mount a tmpfs"
fi

tap_kernel_log_clean "no WARN, BUG, oops or hung task in the kernel log" "$dmesg_start"
tap_done
