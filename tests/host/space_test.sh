#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vdisetup compact and resize against qemu-img: the content stays the same
# (qemu-img compare), new space reads as zeros, qemu-img check and vdisetup
# check find the result clean, and compact gives back exactly the blocks
# freed. Killed after every step that reached the disk (the test hook
# VDISETUP_CRASH_AFTER), compact, resize and check --repair leave an image
# that vdisetup check finds clean or leaking only, that reads the same,
# and that a second run finishes. Also: shrink refusals, full images,
# info's block counts and actual size.
here=$(dirname "$(realpath "$0")")
. "$here/../tap.sh"
VDI_TOP=$(realpath "$here/../..")
. "$here/../vdi_lib.sh"	# peek32, poke32, write_at, header offsets, tap_eq
. "$here/offline_lib.sh"	# run, expect, info, map entries, raw images
FREE=4294967295
ZERO=4294967294
GiB=$((1024 * MiB))
TiB=$((1024 * GiB))

for t in qemu-img qemu-io jq; do
	command -v $t >/dev/null || vdi_skip_all "$t is not installed"
done
[ -x "$V" ] || vdi_skip_all "$V not built"
tap_plan
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# image LAYOUT OUT RAW: RAW converted to VDI by qemu-img, in QEMU's layout
# or in vdisetup create's (VirtualBox's) one.
image()
{
	if [ "$1" = qemu ]; then
		qemu-img convert -f raw -O vdi "$3" "$2"
	else
		"$V" create "$2" "$(fsize "$3")" &&
		qemu-img convert -n --target-is-zero -f raw -O vdi "$3" "$2"
	fi
}

# same NAME IMAGE RAW: the image reads as RAW; a part only one of them has
# must read as zeros.
same()
{
	local why
	if why=$(qemu-img compare -f vdi -F raw "$2" "$3" 2>&1); then
		tap_ok "$1"
	else
		tap_fail "$1" "$(tr '\n' '|' <<<"$why")"
	fi
}

# clean NAME IMAGE: both checkers find nothing wrong.
clean()
{
	qemu_clean "$1: qemu-img check" "$2"
	expect "$1: vdisetup check" 0 '^No errors' "$V" check "$2"
}

# refused NAME REGEX IMAGE CMD...: CMD fails with a line matching REGEX
# and leaves IMAGE as it was.
refused()
{
	local name=$1 re=$2 img=$3 sum
	shift 3
	sum=$(sha "$img")
	expect "$name" 1 "$re" "$@"
	tap_eq "$name: the file is left as it was" "$sum" "$(sha "$img")"
}

# dense IMAGE: the data blocks in use, sorted, are 0 to blocks_allocated-1.
dense()
{
	local n
	n=$(peek32 "$1" $VDI_OFF_ALLOCATED)
	[ "$(od -An -v -t u4 -j "$(peek32 "$1" $VDI_OFF_BMAP)" \
		-N $((4 * $(peek32 "$1" $VDI_OFF_BLOCKS))) --endian=little "$1" |
		tr -s ' ' '\n' | awk 'NF && $1 < 4294967294' | sort -n | xargs)" = \
		"$( ((n)) && seq 0 $((n - 1)) | xargs)" ]
}

# killed NAME BASE RAW CMD...: CMD (run with a copy of BASE appended) is
# killed after its first, second, ... sync until it runs to the end. After
# each kill the copy must be clean or leak only, read as RAW, and a second
# run must finish it. The last result is left in $d/killed.vdi.
killed()
{
	local name=$1 base=$2 raw=$3 img=$d/killed.vdi cmd
	shift 3
	cmd=("$@")
	crash_every_sync "$img" "$base" killed_after "$@"
	tap_eq "$name: runs to the end when not killed" 0 "$rc"
	clean "$name: not killed" "$img"
	same "$name: not killed: same content" "$img" "$raw"
}

# killed_after N: killed()'s verdict on the copy killed after sync N, from
# its variables (name, raw, img, cmd), which bash lets it see.
killed_after()
{
	local crc why=
	[ "$rc" = 137 ] || why="exit $rc, not killed (137)"
	"$V" check "$img" >/dev/null 2>&1
	crc=$?
	[ $crc = 0 ] || [ $crc = 3 ] || why="$why check exits $crc"
	qemu-img compare -f vdi -F raw "$img" "$raw" >/dev/null 2>&1 ||
		why="$why content differs"
	"${cmd[@]}" "$img" >/dev/null 2>&1 || why="$why second run fails"
	"$V" check "$img" >/dev/null 2>&1 || why="$why second run leaves problems"
	qemu-img compare -f vdi -F raw "$img" "$raw" >/dev/null 2>&1 ||
		why="$why content differs after the second run"
	if [ -n "$why" ]; then
		tap_fail "$name: killed after sync $1" "$why"
	else
		tap_ok "$name: killed after sync $1: check $crc, same content, a second run finishes"
	fi
}

# r.raw: 16 MiB, data in blocks 1-3, 5, 9, 10 and 12. qemu-img convert
# writes them in that order, to data blocks 0-6.
raw_with_data "$d/r.raw" 16M 1 2 3 5 9 10 12

# ---------------------------------------------------------------- compact
# holes.vdi: entry 2 zero, entry 5 free, and the data of entry 12 zeros:
# two unused data blocks (1 and 3) and one that holds only zeros (6).
raw_with_zeros "$d/r.raw" "$d/holes.raw" $((2 * MiB)) $MiB $((5 * MiB)) $MiB \
	$((12 * MiB)) $MiB
for layout in qemu vbox; do
	img=$d/compact-$layout.vdi
	image $layout "$img" "$d/r.raw"
	data=$(info "$img" data-offset)
	set_entry "$img" 2 $ZERO
	set_entry "$img" 5 $FREE
	head -c $MiB /dev/zero | write_at "$img" $((data + 6 * MiB)) /dev/stdin
	cp "$img" "$d/holes-$layout.vdi"
	before=$(fsize "$img")
	expect "compact ($layout layout): leaks before" 3 '^2 leaks were found' \
		"$V" check "$img"
	expect "compact ($layout layout)" 0 '' "$V" compact "$img"
	echo "# compact ($layout layout): $before -> $(fsize "$img") bytes"
	tap_eq "compact ($layout layout): 2 blocks smaller, ends with its last block" \
		"$((before - 2 * MiB)) $((data + 5 * MiB))" "$(fsize "$img") $(fsize "$img")"
	same "compact ($layout layout): same content" "$img" "$d/holes.raw"
	clean "compact ($layout layout)" "$img"
	tap_check "compact ($layout layout): data blocks 0-4 in use" dense "$img"
	tap_eq "compact ($layout layout): counts" "5 5 1 10" \
		"$(info "$img" blocks-allocated allocated-blocks zero-blocks free-blocks)"
	sum=$(sha "$img")
	expect "compact ($layout layout): again" 0 '' "$V" compact "$img"
	tap_eq "compact ($layout layout): again changes nothing" "$sum" "$(sha "$img")"

	before=$(fsize "$img")
	expect "compact --zero-blocks ($layout layout)" 0 '' \
		"$V" compact --zero-blocks "$img"
	echo "# compact --zero-blocks ($layout layout): $before -> $(fsize "$img") bytes"
	tap_eq "compact --zero-blocks ($layout layout): 1 block smaller" \
		$((before - MiB)) "$(fsize "$img")"
	tap_eq "compact --zero-blocks ($layout layout): entry 12 is a zero block" \
		"$ZERO 4 2" "$(get_entry "$img" 12) $(info "$img" allocated-blocks zero-blocks)"
	same "compact --zero-blocks ($layout layout): same content" "$img" "$d/holes.raw"
	clean "compact --zero-blocks ($layout layout)" "$img"
	tap_check "compact --zero-blocks ($layout layout): data blocks 0-3 in use" \
		dense "$img"
done

killed "compact --zero-blocks" "$d/holes-qemu.vdi" "$d/holes.raw" \
	"$V" compact --zero-blocks
tap_eq "compact --zero-blocks: the same result when killed and run again" \
	$(($(info "$d/holes-qemu.vdi" data-offset) + 4 * MiB)) "$(fsize "$d/killed.vdi")"

# check --repair moves blocks the same way, one durable step at a time.
img=$d/repair.vdi
image qemu "$img" "$d/r.raw"
set_entry "$img" 2 $FREE
set_entry "$img" 3 $FREE
raw_with_zeros "$d/r.raw" "$d/repair.raw" $((2 * MiB)) $((2 * MiB))
killed "check --repair" "$img" "$d/repair.raw" "$V" check --repair

# --------------------------------------------------------- resize: grow
# resize_to SIZE IMAGE: for killed(), which appends the image.
resize_to() { "$V" resize --progress "$2" "$1"; }

# grown RAW SIZE: a copy of RAW grown to SIZE with zeros, in $grown.
grown()
{
	grown=$d/grown-$(basename "$1" .raw)-$2.raw
	cp "$1" "$grown"
	truncate -s "$2" "$grown"
}

# grow NAME IMAGE RAW SIZE MOVED: resize IMAGE (holding RAW) to SIZE, which
# moves the data offset (MOVED yes) or keeps it (no).
grow()
{
	local name=$1 img=$2 raw=$3 size=$4 moved=$5 old
	old=$(info "$img" data-offset)
	expect "$name" 0 '' "$V" resize "$img" "$size"
	tap_eq "$name: virtual size for qemu-img" "$size" \
		"$(qemu-img info -f vdi --output=json "$img" | jq '."virtual-size"')"
	tap_eq "$name: data offset moved: $moved" $moved \
		"$([ "$(info "$img" data-offset)" != "$old" ] && echo yes || echo no)"
	grown "$raw" "$size"
	same "$name: same content, zeros after it" "$img" "$grown"
	clean "$name" "$img"
}

img=$d/grow-qemu.vdi
image qemu "$img" "$d/r.raw"
grow "grow 16M -> 64M (qemu layout, the map fits its sector)" "$img" "$d/r.raw" \
	$((64 * MiB)) no
cp "$img" "$d/grow-base.vdi"
grow "grow 64M -> 1G (qemu layout, the map takes data block 0)" "$img" "$d/r.raw" \
	$GiB yes
tap_eq "grow 64M -> 1G (qemu layout): map at the old data offset, data 1 block later" \
	"1024 $((1024 + MiB)) 7 7" \
	"$(info "$img" map-offset data-offset blocks-allocated allocated-blocks)"
expect "grow 64M -> 1G (qemu layout): the new space reads as zeros" 0 \
	"^read $((GiB - 16 * MiB))/" \
	qemu-io -f vdi -c "read -P 0 $((16 * MiB)) $((GiB - 16 * MiB))" "$img"
killed "grow 64M -> 1G" "$d/grow-base.vdi" "$d/r.raw" resize_to 1G

# A 2 MiB map takes data blocks 0 and 1, which both move.
img=$d/grow-half-tera.vdi
image qemu "$img" "$d/r.raw"
grow "grow 16M -> 512G (qemu layout, the map takes data blocks 0 and 1)" \
	"$img" "$d/r.raw" $((512 * GiB)) yes
tap_eq "grow 16M -> 512G: map at the old data offset, data 2 blocks later" \
	"1024 $((1024 + 2 * MiB)) 7" "$(info "$img" map-offset data-offset blocks-allocated)"
image qemu "$img" "$d/r.raw"
killed "grow 16M -> 512G" "$img" "$d/r.raw" resize_to 512G

img=$d/grow-vbox.vdi
image vbox "$img" "$d/r.raw"
grow "grow 16M -> 1G (vbox layout, the map fits its 1 MiB)" "$img" "$d/r.raw" \
	$GiB no

# 1 TiB in VirtualBox's layout: a map of exactly 4 MiB. 2 TiB needs 8 MiB.
img=$d/tera.vdi
raw=$d/tera.raw
"$V" create "$img" 1T
qemu-io -f vdi -c "write -P 0xa5 $((TiB - MiB)) 1M" -c "write -P 0x5a 0 64k" \
	"$img" >/dev/null
truncate -s 1T "$raw"
head -c 65536 /dev/zero | tr '\0' '\132' | write_at "$raw" 0 /dev/stdin
head -c $MiB /dev/zero | tr '\0' '\245' | write_at "$raw" $((TiB - MiB)) /dev/stdin
grow "grow 1T -> 2T (vbox layout, data at its end)" "$img" "$raw" $((2 * TiB)) yes
tap_eq "grow 1T -> 2T: map where the data started, data 8 blocks later" \
	"$((5 * MiB)) $((13 * MiB)) 2097152 2" \
	"$(info "$img" map-offset data-offset blocks blocks-allocated)"
expect "grow 1T -> 2T: the data where it was, zeros after it" 0 \
	"^read $MiB/$MiB bytes at offset $((2 * TiB - MiB))" qemu-io -f vdi -c "read -P 0xa5 $((TiB - MiB)) 1M" \
	-c "read -P 0x5a 0 64k" -c "read -P 0 64k $((MiB - 65536))" \
	-c "read -P 0 $TiB 1M" -c "read -P 0 $((2 * TiB - MiB)) 1M" "$img"
# 8 MiB of map and 2 data blocks; 4 MiB more if the old map stayed.
echo "# grow 1T -> 2T: actual size $(info "$img" actual-size) bytes"
tap_eq "grow 1T -> 2T: the old map's place given back" 1 \
	"$(($(info "$img" actual-size) < 12 * MiB))"

# Full images: the blocks the map needs must move to free ones.
raw_with_data "$d/full64.raw" 64M $(seq 0 63)
img=$d/full64.vdi
image qemu "$img" "$d/full64.raw"
grow "grow a full 64M image -> 1G (the map first grows in its sector)" "$img" \
	"$d/full64.raw" $GiB yes
image qemu "$img" "$d/full64.raw"
killed "grow a full 64M image -> 1G" "$img" "$d/full64.raw" resize_to 1G
raw_with_data "$d/full128.raw" 128M $(seq 0 127)
img=$d/full128.vdi
image qemu "$img" "$d/full128.raw"
refused "grow a full 128M image whose map fills its sectors" \
	"full128.vdi: cannot grow: the larger map needs 1 free block\(s\); 128 of 128 in use" \
	"$img" "$V" resize "$img" 1G

# A disk size that is no multiple of 512 leaves the rest of block 12 out of
# the disk; what the file holds there must not show after growing.
img=$d/odd.vdi
image qemu "$img" "$d/r.raw"
poke32 "$img" $VDI_OFF_DISK_SIZE $((13 * MiB - 1000))
raw_with_zeros "$d/r.raw" "$d/odd.raw" $((13 * MiB - 512)) 512
grow "grow an image whose last block reaches past its end" "$img" "$d/odd.raw" \
	$((16 * MiB)) no
expect "... the bytes past the old end read as zeros" 0 "^read 512/" \
	qemu-io -f vdi -c "read -P 0 $((13 * MiB - 512)) 512" "$img"

# ------------------------------------------------------- resize: shrink
img=$d/r.vdi
image qemu "$img" "$d/r.raw"
refused "shrink over data: refused, naming the first block in the way" \
	"r.vdi: cannot shrink: block 9 \(offset 9 MiB\) is allocated" \
	"$img" "$V" resize "$img" 8M
refused "shrink into a block with data" \
	"r.vdi: cannot shrink: block 12 \(offset 12 MiB\) is allocated" \
	"$img" "$V" resize "$img" $((12 * MiB + 512))
expect "shrink 16M -> 13M (no data cut)" 0 '' "$V" resize "$img" 13M
same "shrink 16M -> 13M: same content" "$img" "$d/r.raw"
clean "shrink 16M -> 13M" "$img"
tap_eq "shrink 16M -> 13M: sizes" "13631488 13" \
	"$(qemu-img info -f vdi --output=json "$img" | jq '."virtual-size"') $(info "$img" blocks)"

# Blocks 14 and 15 written first get data blocks 0 and 1; once they are
# zero blocks, shrinking to 4 MiB must move data blocks 4 and 5 into them.
img=$d/shrink.vdi
qemu-img create -q -f vdi "$img" 16M
raw_with_data "$d/low.raw" 16M
for b in 14 15 0 1 2 3; do
	qemu-io -f vdi -c "write -P $((b + 1)) $((b * MiB)) 1M" "$img" >/dev/null
	head -c $MiB /dev/zero | tr '\0' "\\$(printf %03o $((b + 1)))" |
		write_at "$d/low.raw" $((b * MiB)) /dev/stdin
done
set_entry "$img" 14 $ZERO
set_entry "$img" 15 $ZERO
truncate -s 4M "$d/low.raw"
cp "$img" "$d/shrink-base.vdi"
expect "shrink 16M -> 4M, data past the new end moves" 0 '' "$V" resize "$img" 4M
same "shrink 16M -> 4M: same content" "$img" "$d/low.raw"
clean "shrink 16M -> 4M" "$img"
tap_eq "shrink 16M -> 4M: 4 blocks, all in use, the file ends with them" \
	"4 4 $((1024 + 4 * MiB))" "$(info "$img" blocks blocks-allocated) $(fsize "$img")"
tap_check "shrink 16M -> 4M: data blocks 0-3 in use" dense "$img"
killed "shrink 16M -> 4M" "$d/shrink-base.vdi" "$d/low.raw" resize_to 4M
img=$d/shrink-odd.vdi
cp "$d/shrink-base.vdi" "$img"
expect "shrink 16M -> 4M + 512 (into a free block)" 0 '' \
	"$V" resize "$img" $((4 * MiB + 512))
grown "$d/low.raw" $((4 * MiB + 512))
same "shrink 16M -> 4M + 512: same content" "$img" "$grown"
clean "shrink 16M -> 4M + 512" "$img"

sum=$(sha "$img")
expect "resize to the same size" 0 '' "$V" resize "$img" $((4 * MiB + 512))
tap_eq "... changes nothing" "$sum" "$(sha "$img")"

# ------------------------------------------------------------ refusals
for c in compact resize; do
	size=
	[ $c = resize ] && size=32M
	img=$d/static.vdi
	"$V" create --force --static "$img" 4M
	expect "$c: a static image is refused" 1 \
		"static.vdi: cannot $c: static image \(every block is preallocated\)" \
		"$V" $c "$img" $size
	img=$d/dup.vdi
	image qemu "$img" "$d/r.raw"
	set_entry "$img" 7 "$(get_entry "$img" 1)"
	refused "$c: a damaged map is refused" \
		"dup.vdi: cannot $c: block map entry used twice \(entry 7: .*\); run 'vdisetup check --repair'" \
		"$img" "$V" $c "$img" $size
	rm -f "$img"
done
expect "resize: a bad size" 1 "r.vdi: invalid size '1000': below 1 MiB" \
	"$V" resize "$d/r.vdi" 1000
expect "resize: a size that is no multiple of 512" 1 \
	"r.vdi: invalid size '1048577': not a multiple of 512" \
	"$V" resize "$d/r.vdi" 1048577

# Sizes relative to the present one, as qemu-img resize takes them: a
# "-SIZE" at the end is a size, not options.
img=$d/rel.vdi
"$V" create "$img" 16M
expect "resize +16M" 0 '' "$V" resize "$img" +16M
tap_eq "resize +16M: 16 MiB more" 33554432 "$(info "$img" virtual-size)"
expect "resize -8M" 0 '' "$V" resize "$img" -8M
tap_eq "resize -8M: 8 MiB less" 25165824 "$(info "$img" virtual-size)"
expect "resize -p FILE -8M" 0 '' "$V" resize -p "$img" -8M
tap_eq "resize -p FILE -8M: 8 MiB less" 16777216 "$(info "$img" virtual-size)"
expect "resize by all the disk has: refused" 1 \
	"rel.vdi: invalid size '-16M': the disk has only 16 MiB" "$V" resize "$img" -16M
expect "resize past the largest disk: refused" 1 \
	"rel.vdi: invalid size '\+64T': larger than 64 TiB" "$V" resize "$img" +64T

# An image QEMU has open (and locked) is not touched.
img=$d/r.vdi
fifo=$d/fifo
mkfifo "$fifo"
qemu-io -f vdi "$img" <"$fifo" >/dev/null 2>&1 &
exec 9>"$fifo"
for _ in $(seq 50); do
	grep -q "OFDLCK.*:$(stat -c %i "$img") " /proc/locks && break
	sleep 0.1
done
locked="r.vdi: cannot %s: in use by another program \\(locked\\)"
expect "compact: an image QEMU has open is refused" 1 \
	"$(printf "$locked" compact)" "$V" compact "$img"
expect "resize: an image QEMU has open is refused" 1 \
	"$(printf "$locked" resize)" "$V" resize "$img" 32M
expect "check --repair: an image QEMU has open is refused" 1 \
	"$(printf "$locked" repair)" "$V" check --repair "$img"
exec 9>&-
wait

# ---------------------------------------------------------------- info
img=$d/holes-vbox.vdi
tap_eq "info: allocated, zero and free blocks from the map" "5 1 10" \
	"$(info "$img" allocated-blocks zero-blocks free-blocks)"
tap_eq "info: actual size is what the file takes" \
	"$(($(stat -c %b "$img") * 512))" "$(info "$img" actual-size)"
expect "info: for people" 0 "^actual size: +[0-9.]+ [KM]iB \([0-9]+ bytes\)$" \
	"$V" info "$img"

# --------------------------------------------------------------- options
for c in compact resize; do
	expect "$c --help" 0 "^ vdisetup $c \[options\]" "$V" $c --help
	expect "$c with a bad option" 1 "^Try 'vdisetup $c --help'" "$V" $c --bogus
	expect "$c without FILE" 1 "^vdisetup $c: .* needed" "$V" $c
done
expect "the command list names them" 0 "^ vdisetup compact FILE .*--zero-blocks" \
	"$V" --help
tap_done
