#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Differencing chains (VirtualBox snapshots), offline: create --parent,
# info and check of a chain, convert (the content read through the chain,
# compared with the flattening this test computes from the patterns it
# wrote per level), commit (the parent then reads as the chain did, the
# child is empty and still valid, files below the parent are untouched),
# convert --format raw (the same flattening, with holes; a plain image as
# qemu-img converts it), commit killed after every sync
# (VDISETUP_CRASH_AFTER), chains of 1 to 4 images and of 16, and every
# broken link refused with its reason. QEMU
# cannot read differencing images, so a child is written by qemu-io while
# its header briefly says "base image", and a converted image is read by
# qemu-img.
here=$(dirname "$(realpath "$0")")
. "$here/../tap.sh"
VDI_TOP=$(realpath "$here/../..")
. "$here/../vdi_lib.sh"	# peek32, poke32, write_at, header offsets, tap_eq
. "$here/offline_lib.sh"	# run, expect, info, map entries
ZERO=4294967294
OFF_TYPE=76
OFF_UUID_IMAGE=392
OFF_UUID_MODIFY=408
OFF_UUID_LINK=424

for t in qemu-img qemu-io jq; do
	command -v $t >/dev/null || vdi_skip_all "$t is not installed"
done
[ -x "$V" ] || vdi_skip_all "$V not built"
tap_plan
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# as_base IMG CMD...: CMD (with IMG appended) sees IMG as a base image:
# type 1, no link or parent UUID; the header is restored after it.
as_base()
{
	local img=$1 save
	shift
	save=$(mktemp -p "$d")
	read_at "$img" $OFF_UUID_LINK 32 > "$save"
	poke32 "$img" $OFF_TYPE 1
	head -c 32 /dev/zero | write_at "$img" $OFF_UUID_LINK /dev/stdin
	"$@" "$img" > /dev/null
	poke32 "$img" $OFF_TYPE 4
	write_at "$img" $OFF_UUID_LINK "$save"
	rm -f "$save"
}

# put IMG EXPECTED PATTERN BLOCK...: whole 1 MiB blocks of byte PATTERN
# into the image IMG and into the raw file EXPECTED. A base image is
# written as it is, a child through as_base.
put()
{
	local img=$1 exp=$2 pat=$3 b cmds=()
	shift 3
	for b in "$@"; do
		cmds+=(-c "write -P $pat $((b * MiB)) 1M")
		head -c $MiB /dev/zero | tr '\0' "\\$(printf %03o "$pat")" |
			write_at "$exp" $((b * MiB)) /dev/stdin
	done
	[ $# -gt 0 ] || return 0
	if [ "$(peek32 "$img" $OFF_TYPE)" = 4 ]; then
		as_base "$img" qemu-io -f vdi "${cmds[@]}"
	else
		qemu-io -f vdi "${cmds[@]}" "$img" > /dev/null
	fi
}

# zero IMG EXPECTED BLOCK...: zero entries (read as zeros, the parent
# hidden) in IMG, zeros in EXPECTED.
zero()
{
	local img=$1 exp=$2 b
	shift 2
	for b in "$@"; do
		set_entry "$img" "$b" $ZERO
		head -c $MiB /dev/zero | write_at "$exp" $((b * MiB)) /dev/stdin
	done
}

# chain DIR N: a chain of N images of 16 MiB in DIR, l0.vdi (the base) to
# l$((N-1)).vdi (the top), and DIR/expected.raw, what the top reads as.
# The base has data in blocks 0-11; level k > 0 has data (byte 0x10 + k)
# in the blocks b > 0 with b % (k + 1) == 0, and a zero block at 12 - k.
chain()
{
	local dir=$1 n=$2 k b blocks
	mkdir -p "$dir"
	truncate -s 16M "$dir/expected.raw"
	"$V" create "$dir/l0.vdi" 16M
	put "$dir/l0.vdi" "$dir/expected.raw" 16 $(seq 0 11)
	for ((k = 1; k < n; k++)); do
		"$V" create --parent "$dir/l$((k - 1)).vdi" "$dir/l$k.vdi"
		blocks=()
		for b in $(seq 1 15); do
			((b % (k + 1) == 0 && b != 12 - k)) && blocks+=("$b")
		done
		put "$dir/l$k.vdi" "$dir/expected.raw" $((16 + k)) "${blocks[@]}"
		zero "$dir/l$k.vdi" "$dir/expected.raw" $((12 - k))
	done
}

# reads_as NAME IMAGE RAW: IMAGE (a base image vdisetup made) holds RAW.
reads_as()
{
	expect "$1" 0 '^Images are identical' qemu-img compare -f vdi -F raw "$2" "$3"
}

# converts_to NAME TOP RAW [OPTION...]: convert TOP reads as RAW.
converts_to()
{
	local name=$1 top=$2 raw=$3 dst=$d/out.vdi
	shift 3
	rm -f "$dst"
	expect "$name: convert" 0 '' "$V" convert "$@" "$top" "$dst"
	reads_as "$name: convert gives the flattened content" "$dst" "$raw"
}

# sums FILE...: their sha256 sums, to see that nothing wrote them.
sums() { sha256sum "$@" | cut -d' ' -f1 | xargs; }
uuid() { info "$1" uuid; }

# ---------------------------------------------------------- create --parent
dir=$d/c
chain "$dir" 2
"$V" create --parent "$dir/l0.vdi" "$dir/fresh.vdi"
tap_eq "create --parent: type 4, the parent's size and block size, empty" \
	"differencing 16777216 1048576 0" \
	"$(info "$dir/fresh.vdi" type virtual-size block-size blocks-allocated)"
tap_eq "create --parent: link UUID = the parent's UUID, parent UUID = its modification UUID" \
	"$(info "$dir/l0.vdi" uuid modification-uuid)" \
	"$(info "$dir/fresh.vdi" link-uuid parent-uuid)"
tap_eq "create --parent: stored as VirtualBox stores them (the parent's bytes)" \
	"$(read_at "$dir/l0.vdi" $OFF_UUID_IMAGE 32 | od -An -tx1 | xargs)" \
	"$(read_at "$dir/fresh.vdi" $OFF_UUID_LINK 32 | od -An -tx1 | xargs)"
tap_eq "create --parent: an empty map" 0 "$(allocated_entries "$dir/fresh.vdi")"
qemu-img convert -f vdi -O raw "$dir/l0.vdi" "$d/l0.raw"
converts_to "create --parent: reads as its parent" "$dir/fresh.vdi" "$d/l0.raw"
rm -f "$dir/fresh.vdi"
expect "create --parent with a SIZE" 1 "^vdisetup create: with --parent, FILE alone is needed$" \
	"$V" create --parent "$dir/l0.vdi" "$dir/x.vdi" 16M
expect "create --parent --static" 1 "x.vdi: a differencing image cannot be static" \
	"$V" create --static --parent "$dir/l0.vdi" "$dir/x.vdi"
head -c $MiB /dev/urandom > "$d/junk.img"
expect "create --parent of a file that is no VDI image" 1 "junk.img: not a VDI image" \
	"$V" create --parent "$d/junk.img" "$dir/x.vdi"
tap_eq "create --parent: nothing left behind by the refusals" "" \
	"$(ls -A "$dir" | grep -v '^l[01].vdi$\|expected.raw')"

# ------------------------------------------------- chains of 1 to 4 images
for n in 1 2 3 4; do
	dir=$d/chain$n
	chain "$dir" $n
	top=$dir/l$((n - 1)).vdi
	before=$(sums "$dir"/l*.vdi)
	converts_to "chain of $n" "$top" "$dir/expected.raw"
	qemu_clean "chain of $n: the converted image passes qemu-img check" "$d/out.vdi"
	tap_eq "chain of $n: a dynamic image with only the blocks that hold data" \
		"dynamic $(($(tr -d '\0' < "$dir/expected.raw" | wc -c) / MiB))" \
		"$(info "$d/out.vdi" type blocks-allocated)"
	converts_to "chain of $n, --static" "$top" "$dir/expected.raw" --static
	tap_eq "chain of $n, --static: a static image" static "$(info "$d/out.vdi" type)"
	expect "chain of $n: check" 0 '^No errors were found' "$V" check "$top"
	tap_eq "chain of $n: info shows every level, the top first" \
		"$(for ((k = n - 1; k >= 0; k--)); do echo -n "$dir/l$k.vdi "; done)" \
		"$("$V" info --json "$top" | jq -r '.chain // [{filename: "'"$top"'"}] | map(.filename) | join(" ")') "
	tap_eq "chain of $n: convert, check and info leave every file as it was" \
		"$before" "$(sums "$dir"/l*.vdi)"
done

# ------------------------------------------------------------ --format raw
# The flattening as a raw file: the bytes of expected.raw, holes where
# blocks read as zeros. A plain image of a size that is no whole number
# of blocks (QEMU's) gives the same raw file as qemu-img, cut at the
# virtual size, and the same content as its VDI conversion.
dir=$d/chain3
before=$(sums "$dir"/l*.vdi)
expect "--format raw: a chain of 3" 0 '' "$V" convert --format raw "$dir/l2.vdi" "$d/out.raw"
tap_cmp "--format raw: the bytes of the flattened chain" "$d/out.raw" "$dir/expected.raw"
tap_eq "--format raw: holes for the blocks that read as zeros" yes \
	"$( (($(stat -c '%b * %B' "$d/out.raw") < $(fsize "$d/out.raw"))) && echo yes || echo no)"
tap_eq "--format raw: the chain left as it was" "$before" "$(sums "$dir"/l*.vdi)"
expect "--format raw: OUTPUT must not exist" 1 "out.raw: already exists" \
	"$V" convert --format raw "$dir/l2.vdi" "$d/out.raw"
expect "--format raw --static: refused" 1 "^vdisetup convert: --static is for VDI output$" \
	"$V" convert --format raw --static "$dir/l2.vdi" "$d/never.raw"
expect "--format qcow2: refused" 1 "^vdisetup convert: unknown format 'qcow2' \(vdi or raw\)$" \
	"$V" convert --format qcow2 "$dir/l2.vdi" "$d/never.raw"
rm -f "$d/out.vdi"
expect "--format vdi: the default" 0 '' "$V" convert --format vdi "$dir/l2.vdi" "$d/out.vdi"
reads_as "--format vdi: the flattened content" "$d/out.vdi" "$dir/expected.raw"
qemu-img create -q -f vdi "$d/plain.vdi" 3000K
qemu-io -f vdi -c "write -P 0x5a 0 1M" -c "write -P 0xa5 2M 500K" -c "write -P 0x33 2900K 100K" \
	"$d/plain.vdi" > /dev/null
rm -f "$d/out.vdi"
"$V" convert "$d/plain.vdi" "$d/out.vdi"
expect "--format raw: a plain image of 3000 KiB" 0 '' \
	"$V" convert --format raw "$d/plain.vdi" "$d/plain.raw"
tap_eq "--format raw: the virtual size" 3072000 "$(fsize "$d/plain.raw")"
expect "--format raw: qemu-img compare with the image" 0 '^Images are identical' \
	qemu-img compare -f vdi -F raw "$d/plain.vdi" "$d/plain.raw"
expect "--format raw: qemu-img compare with its VDI conversion" 0 '^Images are identical' \
	qemu-img compare -f vdi -F raw "$d/out.vdi" "$d/plain.raw"
qemu-img convert -f vdi -O raw "$d/plain.vdi" "$d/qemu.raw"
tap_cmp "--format raw: the bytes qemu-img convert -O raw writes" "$d/plain.raw" "$d/qemu.raw"
tap_eq "--format raw: nothing left behind" "" "$(ls -A "$d" | grep '^\.')"
rm -f "$d/out.raw" "$d/plain.vdi" "$d/plain.raw" "$d/qemu.raw"

dir=$d/chain4
expect "info for people: one line per level" 0 \
	"^ +3: $dir/l0.vdi \(dynamic, 12 blocks allocated, uuid $(uuid "$dir/l0.vdi")\)$" \
	"$V" info "$dir/l3.vdi"
expect "info --json: each level's UUIDs" 0 "^$(info "$dir/l1.vdi" modification-uuid)$" \
	jq -r '.chain[2]."modification-uuid"' <("$V" info --json "$dir/l3.vdi")
expect "info: a base image has no chain" 0 '^null$' \
	jq '.chain' <("$V" info --json "$dir/l0.vdi")

# Explicit parents, and VirtualBox's layout: snapshots in Snapshots/ beside
# the base image.
dir=$d/vbox
chain "$dir" 3
mkdir "$dir/Snapshots"
mv "$dir/l1.vdi" "$dir/l2.vdi" "$dir/Snapshots/"
converts_to "VirtualBox layout: parents found one directory up" \
	"$dir/Snapshots/l2.vdi" "$dir/expected.raw"
mkdir "$dir/elsewhere"
mv "$dir/l0.vdi" "$dir/elsewhere/base.vdi"
converts_to "--parent: the rest found beside the last one given" \
	"$dir/Snapshots/l2.vdi" "$dir/expected.raw" --parent "$dir/Snapshots/l1.vdi" \
	--parent "$dir/elsewhere/base.vdi"

# ----------------------------------------------------------- broken links
dir=$d/broken
mkdir -p "$d/hide"
chain "$dir" 2
child=$dir/l1.vdi
refused()
{
	local name=$1 re=$2 before
	shift 2
	before=$(sums "$dir"/*.vdi)
	expect "$name" 1 "$re" "$@"
	tap_eq "$name: no file changed" "$before" "$(sums "$dir"/*.vdi)"
}
# (expect's output is in $out: the output file is $never.)
for c in convert commit; do
	never=
	[ $c = convert ] && never=$d/never.vdi
	"$V" create "$dir/other.vdi" 16M
	refused "$c: wrong parent" \
		"^$child: parent $dir/other.vdi: parent is not the image the child links to \(its UUID is $(uuid "$dir/other.vdi"), the child links to $(uuid "$dir/l0.vdi")\)$" \
		"$V" $c --parent "$dir/other.vdi" "$child" $never
	rm -f "$dir/other.vdi"

	mv "$dir/l0.vdi" "$d/hide/away.vdi"
	refused "$c: missing parent" \
		"^$child: parent image not found \(UUID $(uuid "$d/hide/away.vdi"), not among the \*.vdi files beside it or one directory up; name it with --parent\)$" \
		"$V" $c "$child" $never
	"$V" create --uuid "$(uuid "$d/hide/away.vdi")" "$dir/l0.vdi" 32M
	refused "$c: parent of another size" \
		"^$child: parent $dir/l0.vdi: parent has a different disk size \(33554432 bytes, the child 16777216\)$" \
		"$V" $c "$child" $never
	mv "$d/hide/away.vdi" "$dir/l0.vdi"

	cp "$dir/l0.vdi" "$dir/copy.vdi"
	refused "$c: two files with the parent's UUID" \
		"^$child: parent UUID $(uuid "$dir/l0.vdi") is the image UUID of both $dir/(copy|l0).vdi and $dir/(copy|l0).vdi; name the parent with --parent$" \
		"$V" $c "$child" $never
	rm "$dir/copy.vdi"

	cp "$dir/l0.vdi" "$d/l0.orig"
	poke32 "$dir/l0.vdi" $OFF_UUID_MODIFY $((0x12345678))
	refused "$c: parent changed since the child was made" \
		"^$child: parent $dir/l0.vdi: parent changed since the child was made \(modification UUID $(info "$dir/l0.vdi" modification-uuid), the child expects $(info "$child" parent-uuid)\)$" \
		"$V" $c "$child" $never
	if [ $c = convert ]; then
		converts_to "convert --accept-changed-parent: a changed parent accepted" "$child" \
			"$dir/expected.raw" --accept-changed-parent
		expect "check: a changed parent is an error" 2 \
			"^ERROR: $child: parent $dir/l0.vdi: parent changed since" "$V" check "$child"
		expect "info: a changed parent makes the chain invalid" 1 \
			"^error: +$child: parent $dir/l0.vdi: parent changed since" "$V" info "$child"
	fi
	mv "$d/l0.orig" "$dir/l0.vdi"
done

# check: a parent not found, or two files that may be it, leave the chain
# unchecked (exit 1, as qemu-img check without its backing file), and
# --repair has nothing to say it repaired.
mv "$dir/l0.vdi" "$d/hide/away.vdi"
for r in "" --repair; do
	refused "check $r: missing parent: not checked" \
		"^$child: parent image not found \(UUID" "$V" check $r "$child"
	tap_eq "check $r: missing parent: no error counted, nothing said repaired" 0 \
		"$(grep -c 'ERROR\|repaired' <<<"$out")"
done
tap_eq "check --repair --json: missing parent: a check error, nothing fixed" "1 0 0" \
	"$("$V" check --repair --json "$child" 2>/dev/null |
	  jq -r '[."check-errors", ."corruptions-fixed" // 0, .corruptions] | join(" ")')"
mv "$d/hide/away.vdi" "$dir/l0.vdi"
cp "$dir/l0.vdi" "$dir/copy.vdi"
refused "check: two files with the parent's UUID: not checked" \
	"^$child: parent UUID $(uuid "$dir/l0.vdi") is the image UUID of both" "$V" check --repair "$child"
rm "$dir/copy.vdi"
# --repair fixes the image checked, never a parent: the parent's leak is
# still there afterwards and is not reported as repaired.
truncate -s +1M "$dir/l0.vdi"
truncate -s +1M "$child"
run "$V" check --repair "$child"
tap_eq "check --repair: only the child's leak said repaired, the parent's left (exit 3)" \
	"3 1" "$rc $(sed -n 's/^ *\([0-9]*\) leaks$/\1/p' <<<"$out")"
tap_eq "check --repair --json: the same" "1 0 1" \
	"$("$V" check --repair --json "$child" | jq -r '[.leaks, ."leaks-fixed" // 0, ."check-errors" + 1] | join(" ")')"
truncate -s -1M "$dir/l0.vdi"

# convert's --force means what create's does: replace OUTPUT.
"$V" create "$d/taken.vdi" 1M
expect "convert: an existing OUTPUT is refused" 1 "taken.vdi: already exists \(use --force to replace it\)" \
	"$V" convert "$child" "$d/taken.vdi"
expect "convert --force: an existing OUTPUT is replaced" 0 '' \
	"$V" convert --force "$child" "$d/taken.vdi"
tap_eq "convert --force: OUTPUT is the chain's content" "Images are identical." \
	"$(qemu-img compare -f vdi -F raw "$d/taken.vdi" "$dir/expected.raw" 2>&1)"
rm "$d/taken.vdi"

# A cycle: l1 made the parent of l2, then l1 linked to l2.
"$V" create --parent "$child" "$dir/l2.vdi"
cp "$child" "$d/l1.orig"
read_at "$dir/l2.vdi" $OFF_UUID_IMAGE 32 | write_at "$child" $OFF_UUID_LINK /dev/stdin
refused "a cycle" "^$dir/l1.vdi: parent $dir/l2.vdi: chain of parents loops back to an image in it$" \
	"$V" convert "$dir/l2.vdi" "$d/never.vdi"
expect "check: a cycle is an error" 2 "^ERROR: .*: chain of parents loops back" \
	"$V" check "$dir/l2.vdi"
mv "$d/l1.orig" "$child"
rm "$dir/l2.vdi"

refused "a parent given to a base image" \
	"^$dir/l0.vdi: parent $child: not a differencing image \(image type 1\)$" \
	"$V" convert --parent "$child" "$dir/l0.vdi" "$d/never.vdi"
refused "commit of a base image" "l0.vdi: cannot commit: not a differencing image \(image type 1\)$" \
	"$V" commit "$dir/l0.vdi"
expect "commit: a missing file" 1 "nothing.vdi: cannot open: No such file" \
	"$V" commit "$dir/nothing.vdi"
tap_eq "convert: no output after any refusal" no "$([ -e "$d/never.vdi" ] && echo yes || echo no)"

# A type 4 image that names no parent cannot be checked at all.
cp "$dir/l0.vdi" "$dir/orphan.vdi"
poke32 "$dir/orphan.vdi" $OFF_TYPE 4
expect "a differencing image with a null link UUID" 1 \
	"orphan.vdi: differencing image: parent needed, but no link UUID names it" \
	"$V" check "$dir/orphan.vdi"
rm "$dir/orphan.vdi"

# ------------------------------------------------------------------ commit
# commit_ok NAME DIR TOP RAW: commit TOP (l$k.vdi, over l$((k-1)).vdi): the
# parent then reads as the chain did, the child is empty and valid, the
# files below the parent are untouched.
commit_ok()
{
	local name=$1 dir=$2 k=$3 raw=$4 top parent below i
	top=$dir/l$k.vdi
	parent=$dir/l$((k - 1)).vdi
	below=$(for ((i = 0; i < k - 1; i++)); do echo "$dir/l$i.vdi"; done)
	before=$( [ -z "$below" ] || sums $below)
	expect "$name" 0 '' "$V" commit "$top"
	converts_to "$name: the parent alone reads as the chain did" "$parent" "$raw"
	converts_to "$name: the child still reads the same" "$top" "$raw"
	tap_eq "$name: the child is empty, its file cut after its map" \
		"0 0 $(info "$top" data-offset)" \
		"$(info "$top" blocks-allocated allocated-blocks) $(fsize "$top")"
	expect "$name: the child checks clean" 0 '^No errors were found' "$V" check "$top"
	expect "$name: the parent checks clean" 0 '^No errors were found' "$V" check "$parent"
	tap_eq "$name: the child links to the parent's new modification UUID" \
		"$(info "$parent" modification-uuid)" "$(info "$top" parent-uuid)"
	tap_eq "$name: nothing below the parent written" "$before" \
		"$( [ -z "$below" ] || sums $below)"
}

dir=$d/commit
chain "$dir" 4
"$V" create --parent "$dir/l1.vdi" "$dir/sibling.vdi"
old=$(info "$dir/l2.vdi" modification-uuid)
commit_ok "commit l3 into l2" "$dir" 3 "$dir/expected.raw"
tap_eq "commit: the parent has a new modification UUID" yes \
	"$([ "$old" != "$(info "$dir/l2.vdi" modification-uuid)" ] && echo yes)"
sum=$(sums "$dir"/l*.vdi)
expect "commit of an empty child" 0 '' "$V" commit "$dir/l3.vdi"
tap_eq "commit of an empty child: changes nothing" "$sum" "$(sums "$dir"/l*.vdi)"
commit_ok "commit l2 into l1" "$dir" 2 "$dir/expected.raw"
expect "commit: another child of the parent is then refused" 1 \
	"sibling.vdi: parent $dir/l1.vdi: parent changed since the child was made" \
	"$V" convert "$dir/sibling.vdi" "$d/never.vdi"
rm "$dir/sibling.vdi"
commit_ok "commit l1 into the base" "$dir" 1 "$dir/expected.raw"
qemu_clean "commit into the base: qemu-img check" "$dir/l0.vdi"
reads_as "commit into the base: QEMU reads the merged content" "$dir/l0.vdi" \
	"$dir/expected.raw"

# A static base keeps its blocks in place; zero blocks become zeros.
dir=$d/static
mkdir -p "$dir"
truncate -s 16M "$dir/expected.raw"
"$V" create --static "$dir/l0.vdi" 16M
put "$dir/l0.vdi" "$dir/expected.raw" 16 $(seq 0 11)
"$V" create --parent "$dir/l0.vdi" "$dir/l1.vdi"
put "$dir/l1.vdi" "$dir/expected.raw" 17 2 4 13
zero "$dir/l1.vdi" "$dir/expected.raw" 5
commit_ok "commit into a static base" "$dir" 1 "$dir/expected.raw"
tap_eq "commit into a static base: still static, every block in place" \
	"static 16 $(info "$dir/l0.vdi" file-size)" \
	"$(info "$dir/l0.vdi" type blocks-allocated file-size)"

# Killed after each sync. The chain reads the same after every kill
# (convert --accept-changed-parent: the parent may have its new
# modification UUID while the child still has the old one), the parent
# checks clean or leaking only, and a second run finishes the job. The copies live in their own
# directory, so that the search by UUID finds each image once.
dir=$d/crash
chain "$dir/orig" 3
mkdir "$dir/work"
# commit_fresh CHILD: a fresh parent next to the fresh child crash_every_sync copied.
commit_fresh()
{
	cp "$dir/orig/l1.vdi" "$dir/orig/l0.vdi" "$dir/work/"
	"$V" commit "$1"
}
# killed_commit N: the verdict on what the kill after sync N left.
killed_commit()
{
	local why= crc out=$d/killed-out.vdi w=$dir/work
	[ "$rc" = 137 ] || why="exit $rc, not killed (137)"
	rm -f "$out"
	"$V" convert --accept-changed-parent "$w/l2.vdi" "$out" >/dev/null 2>&1 &&
		qemu-img compare -f vdi -F raw "$out" "$dir/orig/expected.raw" >/dev/null 2>&1 ||
		why="$why the chain reads differently"
	"$V" check "$w/l1.vdi" >/dev/null 2>&1
	crc=$?
	[ $crc = 0 ] || [ $crc = 3 ] || why="$why check of the parent exits $crc"
	"$V" commit "$w/l2.vdi" >/dev/null 2>&1 || why="$why the second run fails"
	"$V" check "$w/l2.vdi" >/dev/null 2>&1 || why="$why problems after the second run"
	rm -f "$out"
	"$V" convert --parent "$w/l0.vdi" "$w/l1.vdi" "$out" >/dev/null 2>&1 &&
		qemu-img compare -f vdi -F raw "$out" "$dir/orig/expected.raw" >/dev/null 2>&1 ||
		why="$why the parent reads differently after the second run"
	[ "$(sums "$w/l0.vdi")" = "$(sums "$dir/orig/l0.vdi")" ] ||
		why="$why the base was written"
	if [ -n "$why" ]; then
		tap_fail "commit killed after sync $1" "$why"
	else
		tap_ok "commit killed after sync $1: the chain reads the same, the parent checks $crc, a second run finishes"
	fi
}
crash_every_sync "$dir/work/l2.vdi" "$dir/orig/l2.vdi" killed_commit commit_fresh
tap_eq "commit: runs to the end when not killed" 0 "$rc"
expect "commit, not killed: the child checks clean" 0 '^No errors' "$V" check "$dir/work/l2.vdi"
cp "$dir/orig/l2.vdi" "$dir/work/"
(VDISETUP_CRASH_AFTER=1 commit_fresh "$dir/work/l2.vdi") >/dev/null 2>&1
expect "commit killed after its first sync: the chain names the interrupted commit" 1 \
	"^$dir/work/l2.vdi: parent $dir/work/l1.vdi: parent changed since the child was made \(by an interrupted 'vdisetup commit' of the child: run it again\)$" \
	"$V" convert "$dir/work/l2.vdi" "$d/never.vdi"

# ------------------------------------------------------- 16 and 33 images
dir=$d/long
mkdir -p "$dir"
truncate -s 16M "$dir/expected.raw"
"$V" create "$dir/l0.vdi" 16M
for k in $(seq 1 32); do
	"$V" create --parent "$dir/l$((k - 1)).vdi" "$dir/l$k.vdi"
	((k < 16)) && put "$dir/l$k.vdi" "$dir/expected.raw" $((32 + k)) $k
done
cp "$dir/expected.raw" "$dir/expected16.raw"
converts_to "a chain of 16 images" "$dir/l15.vdi" "$dir/expected16.raw"
expect "a chain of 16 images: check" 0 '^No errors were found' "$V" check "$dir/l15.vdi"
tap_eq "a chain of 16 images: info shows 16 levels" 16 \
	"$("$V" info --json "$dir/l15.vdi" | jq '.chain | length')"
commit_ok "a chain of 16 images: commit the top" "$dir" 15 "$dir/expected16.raw"
converts_to "a chain of 32 images, the most there may be" "$dir/l31.vdi" "$dir/expected16.raw"
expect "a chain of 33 images: refused" 1 "^$dir/l32.vdi: chain too long \(more than 32 images\)$" \
	"$V" convert "$dir/l32.vdi" "$d/never.vdi"

# --------------------------------------------------------------- options
for c in convert commit; do
	expect "$c --help" 0 "^ vdisetup $c \[options\]" "$V" $c --help
	expect "$c with a bad option" 1 "^Try 'vdisetup $c --help'" "$V" $c --bogus
	expect "$c without FILE" 1 "^vdisetup $c: .* needed" "$V" $c
done
expect "the command list names them" 0 "^ vdisetup convert FILE OUTPUT" "$V" --help
tap_done
