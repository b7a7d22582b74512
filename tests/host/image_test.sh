#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vdisetup's offline commands against qemu-img: create (sizes, layout, UUID
# byte order, refusals), info, map (the same extents as qemu-img map), check
# on damaged images (every problem, qemu-img check's exit codes) and
# check --repair (qemu-img check clean afterwards, no good block lost).
here=$(dirname "$(realpath "$0")")
. "$here/../tap.sh"
VDI_TOP=$(realpath "$here/../..")
. "$here/../vdi_lib.sh"	# peek32, poke32, header offsets, tap_eq
. "$here/offline_lib.sh"	# run, expect, info, map entries, raw images
off_type=76		# image_type in the header
off_uuid=392		# uuid_image

for t in qemu-img jq; do
	command -v $t >/dev/null || vdi_skip_all "$t is not installed"
done
[ -x "$V" ] || vdi_skip_all "$V not built"
tap_plan 232
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# ---------------------------------------------------------------- create
# create_layout NAME IMAGE SIZE TYPE: the header fields create must write.
create_layout()
{
	local n=$((($3 + MiB - 1) / MiB)) type=$4 data alloc=0 end
	data=$(((MiB + 4 * n + MiB - 1) / MiB * MiB))
	end=$data
	if [ "$type" = static ]; then
		alloc=$n
		end=$((data + n * MiB))
	fi
	tap_eq "$1: header and layout" \
		"$3 $type vbox 400 1048576 $data 1048576 $n $alloc 0 512 0/0/0 512 1.1 <<< vdiblk VDI Disk Image >>> $end true" \
		"$(info "$2" virtual-size type layout header-size map-offset data-offset \
			block-size blocks blocks-allocated block-extra sector-size \
			lchs-geometry lchs-sector-size version banner) $(fsize "$2") \
$(info "$2" valid)"
}

# create_sizes TYPE SIZE...: each size created, checked by both tools.
create_sizes()
{
	local type=$1 s img bytes opt=
	shift
	[ "$type" = static ] && opt=--static
	for s in "$@"; do
		img=$d/$type-$s.vdi
		expect "create $opt $s" 0 '' "$V" create $opt "$img" "$s"
		qemu_clean "create $opt $s: qemu-img check" "$img"
		expect "create $opt $s: vdisetup check" 0 '^No errors' "$V" check "$img"
		bytes=$(info "$img" virtual-size)
		tap_eq "create $opt $s: same virtual size in qemu-img info" \
			"$bytes" "$(qemu-img info -f vdi --output=json "$img" | jq '."virtual-size"')"
		create_layout "create $opt $s" "$img" "$bytes" "$type"
	done
}

create_sizes dynamic 1M 64MiB 1073742336 5000G
tap_eq "sizes: K/M/G/T are powers of 1024, KB/MB powers of 1000" \
	"1048576 67108864 1073742336 5368709120000" \
	"$(for s in 1M 64MiB 1073742336 5000G; do info "$d/dynamic-$s.vdi" virtual-size; done | xargs)"
create_sizes static 1M 67109376
img=$d/static-67109376.vdi
tap_eq "static: one data extent, the identity map" \
	'[{"start":0,"length":67109376,"depth":0,"present":true,"zero":false,"data":true,"offset":2097152}]' \
	"$("$V" map --json "$img" | jq -c .)"
tap_eq "static: reads as zeros" "Images are identical." \
	"$(truncate -s 67109376 "$d/zero.raw"; qemu-img compare -f vdi -F raw "$img" "$d/zero.raw" 2>&1)"
run "$V" create --static "$d/prealloc.vdi" 8M
if grep -q 'cannot preallocate' <<<"$out"; then
	tap_skip "static: preallocated" "no fallocate on $d"
else
	tap_eq "static: preallocated" 1 \
		"$(($(stat -c '%b * %B' "$d/prealloc.vdi") >= 8 * MiB))"
fi

# UUIDs: libuuid's text, stored in GUID byte order as VirtualBox does.
u=01234567-89ab-cdef-0123-456789abcdef
"$V" create --uuid $u "$d/uuid.vdi" 1M
tap_eq "--uuid: stored in GUID byte order" \
	"67 45 23 01 ab 89 ef cd 01 23 45 67 89 ab cd ef" \
	"$(od -An -tx1 -j $off_uuid -N 16 "$d/uuid.vdi" | xargs)"
tap_eq "--uuid: info prints it back" $u "$(info "$d/uuid.vdi" uuid)"
v4='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
tap_eq "random UUIDs: version 4 once swapped, distinct, null link/parent" \
	"2 distinct 00000000-0000-0000-0000-000000000000 00000000-0000-0000-0000-000000000000" \
	"$(info "$d/dynamic-1M.vdi" uuid modification-uuid | tr ' ' '\n' | grep -cxE "$v4") \
$(info "$d/dynamic-1M.vdi" uuid modification-uuid | awk '$1 != $2 { print "distinct" }') \
$(info "$d/dynamic-1M.vdi" link-uuid parent-uuid)"
tap_eq "random UUIDs: differ between images" 2 \
	"$(for s in 1M 64MiB; do info "$d/dynamic-$s.vdi" uuid; done | sort -u | wc -l)"
expect "--uuid: the null UUID is refused" 1 "the null UUID is reserved" \
	"$V" create --uuid 00000000-0000-0000-0000-000000000000 "$d/null.vdi" 1M
expect "--uuid: bad text is refused" 1 "invalid UUID 'xyz'" \
	"$V" create --uuid xyz "$d/null.vdi" 1M

comment=$'say "hi" \\ \ttab ünï'
"$V" create --comment "$comment" "$d/comment.vdi" 1M
tap_eq "--comment: stored, escaped in JSON" "$comment" \
	"$("$V" info --json "$d/comment.vdi" | jq -r .comment)"
expect "--comment: 256 bytes are refused" 1 "comment too long: 256 bytes, at most 255" \
	"$V" create --comment "$(printf '%0256d' 0)" "$d/long.vdi" 1M

# amend: the comment and the UUID in place; the modification UUID stays,
# so that children still take the image as their parent.
img=$d/amend.vdi
"$V" create --comment "a much longer first comment" "$img" 4M
ids=$(info "$img" uuid modification-uuid)
mod=${ids#* }
expect "amend --comment" 0 '' "$V" amend --comment "$comment" "$img"
tap_eq "amend --comment: the new one alone, the UUIDs as they were" \
	"$comment $ids" \
	"$("$V" info --json "$img" | jq -r .comment) $(info "$img" uuid modification-uuid)"
qemu_clean "amend --comment: qemu-img check" "$img"
expect "amend --uuid" 0 '' "$V" amend --uuid $u "$img"
tap_eq "amend --uuid: the new image UUID in GUID byte order, the rest kept" \
	"67 45 23 01 ab 89 ef cd 01 23 45 67 89 ab cd ef $u $mod" \
	"$(od -An -tx1 -j $off_uuid -N 16 "$img" | xargs) $(info "$img" uuid modification-uuid)"
expect "amend --new-uuid" 0 '' "$V" amend --new-uuid "$img"
tap_eq "amend --new-uuid: a random one (version 4)" 1 \
	"$(info "$img" uuid | grep -vx $u | grep -cxE "$v4")"
sum=$(sha "$img")
expect "amend: nothing to change" 1 "^vdisetup amend: nothing to change" "$V" amend "$img"
expect "amend --uuid: the null UUID is refused" 1 "the null UUID is reserved" \
	"$V" amend --uuid 00000000-0000-0000-0000-000000000000 "$img"
expect "amend --comment: 256 bytes are refused" 1 "comment too long: 256 bytes" \
	"$V" amend --comment "$(printf '%0256d' 0)" "$img"
tap_eq "amend refused: the file as it was" "$sum" "$(sha "$img")"

img=$d/dynamic-1M.vdi
sum=$(sha "$img")
expect "an existing file is not replaced" 1 "dynamic-1M.vdi: already exists \(use --force" \
	"$V" create "$img" 2M
tap_eq "an existing file is left as it was" "$sum" "$(sha "$img")"
old=$(info "$img" uuid)
expect "--force replaces it" 0 '' "$V" create --force "$img" 2M
tap_eq "--force: a new image" "2097152 new" \
	"$(info "$img" virtual-size) $([ "$(info "$img" uuid)" != "$old" ] && echo new)"

# Killed (SIGKILL) right after the new image reached the disk, before it
# has its name: nothing is left behind, and a file it was to replace
# stays as it was. The image is built unnamed (O_TMPFILE), which xfs_io -T
# tells the file system has.
k=$d/killed
mkdir "$k"
cp "$img" "$k/old.vdi"
sum=$(sha "$k/old.vdi")
if ! xfs_io -T -c 'pwrite 0 1' "$k" >/dev/null 2>&1; then
	for i in 1 2 3; do tap_skip "killed before it has its name ($i)" "no O_TMPFILE on $k"; done
else
	(VDISETUP_CRASH_AFTER=1 exec "$V" create "$k/new.vdi" 1M) 2>/dev/null
	tap_eq "create killed before the image has its name: nothing left" \
		"137 old.vdi" "$? $(ls -A "$k" | xargs)"
	(VDISETUP_CRASH_AFTER=1 exec "$V" create --force "$k/old.vdi" 4M) 2>/dev/null
	tap_eq "create --force killed before the rename: the old file as it was, nothing else" \
		"137 old.vdi $sum" "$? $(ls -A "$k" | xargs) $(sha "$k/old.vdi")"
	(VDISETUP_CRASH_AFTER=1 exec "$V" convert "$k/old.vdi" "$k/out.vdi") 2>/dev/null
	tap_eq "convert killed before the output has its name: nothing left" \
		"137 old.vdi" "$? $(ls -A "$k" | xargs)"
fi

mkdir "$d/refused"
r=$d/refused/r.vdi
expect "size 0 is refused" 1 "r.vdi: invalid size '0': below 1 MiB" "$V" create "$r" 0
expect "size below 1 MiB is refused" 1 "invalid size '512K': below 1 MiB" "$V" create "$r" 512K
expect "size not a multiple of 512 is refused" 1 "invalid size '1048577': not a multiple of 512" \
	"$V" create "$r" 1048577
expect "size over VDI_MAX_BLOCKS blocks is refused" 1 "invalid size '65T': larger than 64 TiB \(67108864 blocks" \
	"$V" create "$r" 65T
expect "size overflowing 64 bits is refused" 1 "invalid size '20E': too large" "$V" create "$r" 20E
expect "size with a bad suffix is refused" 1 "invalid size '12Q': not a number" "$V" create "$r" 12Q
expect "a bad size's message names every suffix" 1 \
	"invalid size '12Q': .*K, M, G, T, P or E \(KiB, MiB, \.\.\.: powers of 1024; KB, MB, \.\.\.: of 1000\)$" \
	"$V" create "$r" 12Q
expect "a negative size is an invalid size, not an option" 1 \
	"^vdisetup create: invalid size '-1': not a number" "$V" create "$r" -1
expect "resize: -10G is no option either, but 10 GiB less (see space_test.sh)" 1 \
	"r.vdi: cannot open: No such file" "$V" resize "$r" -10G
expect "an argument too many is named" 1 "^vdisetup create: unexpected argument 'extra'$" \
	"$V" create "$r" 1G extra
tap_eq "... and no file was made" no "$([ -e "$r" ] && echo yes || echo no)"
expect "check: an argument too many is named" 1 "^vdisetup check: unexpected argument '.*/b.vdi'$" \
	"$V" check "$r" "$d/b.vdi"
expect "a size with a decimal fraction, as qemu-img takes it" 0 "" "$V" create "$r" 1.5G
tap_eq "... is 1.5 GiB" 1610612736 "$(info "$r" virtual-size)"
rm -f "$r"
expect "a fraction that is no whole number of bytes is refused" 1 \
	"invalid size '1.0000001M': not a number" "$V" create "$r" 1.0000001M
expect "a missing directory is reported" 1 "cannot create a temporary file: No such file" \
	"$V" create "$d/refused/no/r.vdi" 1M
tap_eq "refusals leave nothing behind" "" "$(ls -A "$d/refused")"

# ------------------------------------------------------ qemu's own images
for type in dynamic static; do
	img=$d/qemu-$type.vdi
	qemu-img create -q -f vdi -o static=$([ $type = static ] && echo on || echo off) \
		"$img" 64M
	expect "qemu-img create ($type): vdisetup check" 0 '^No errors' "$V" check "$img"
	tap_eq "qemu-img create ($type): info" \
		"true qemu 384 67108864 $type $([ $type = static ] && echo 64 || echo 0)" \
		"$(info "$img" valid layout header-size virtual-size type blocks-allocated)"
done

# -------------------------------------------------------------------- map
# r.raw: 16 MiB, data in blocks 1-3, 5, 9 and 10, holes elsewhere.
raw_with_data "$d/r.raw" 16M 1 2 3 5 9 10
qemu=$d/qemu-layout.vdi
vbox=$d/vbox-layout.vdi
qemu-img convert -f raw -O vdi "$d/r.raw" "$qemu"
"$V" create "$vbox" 16M
qemu-img convert -n --target-is-zero -f raw -O vdi "$d/r.raw" "$vbox"
for img in "$qemu" "$vbox"; do
	l=$(info "$img" layout)
	tap_eq "map --json ($l layout): the extents of qemu-img map" \
		"$(qemu-img map -f vdi --output=json "$img" | jq -c .)" \
		"$("$V" map --json "$img" | jq -c .)"
	expect "map ($l layout): a table of extents" 0 "^0x900000 +0x200000 +0x[0-9a-f]+ +data$" \
		"$V" map "$img"
done
qemu_clean "an image written by QEMU into vdisetup's layout" "$vbox"
expect "... passes vdisetup check" 0 '^No errors' "$V" check "$vbox"
tap_eq "... and holds the data" "Images are identical." \
	"$(qemu-img compare -f vdi -F raw "$vbox" "$d/r.raw" 2>&1)"

# A disk size that is no multiple of 512 rounds up, as in QEMU.
img=$d/odd.vdi
cp "$qemu" "$img"
poke32 "$img" $VDI_OFF_DISK_SIZE $((16 * MiB - 1000))
tap_eq "odd disk size: virtual size as qemu-img's" \
	"$(qemu-img info -f vdi --output=json "$img" | jq '."virtual-size"')" \
	"$(info "$img" virtual-size)"
tap_eq "odd disk size: map as qemu-img's" \
	"$(qemu-img map -f vdi --output=json "$img" | jq -c .)" \
	"$("$V" map --json "$img" | jq -c .)"

# Sizes read as qemu-img writes them: three digits, no exponent.
human() { sed -n 's/^virtual size: *\([^(]*[^ (]\) (.*/\1/p'; }
for s in 1000M 999M 1023G 1536K 4T; do
	"$V" create "$d/h.vdi" "$s"
	tap_eq "info: virtual size of $s as qemu-img says it" \
		"$(qemu-img info -f vdi "$d/h.vdi" | human)" "$("$V" info "$d/h.vdi" | human)"
	rm -f "$d/h.vdi"
done

# --------------------------------------------------------- check, repair
# expected OUT START LENGTH...: r.raw with those byte ranges zeroed.
expected() { raw_with_zeros "$d/r.raw" "$@"; }

# damaged CASE STATUS REGEX ZERO_RANGE... -- NAME DAMAGE...: $d/NAME.vdi,
# a copy of $base damaged by DAMAGE (run with the copy's name appended), is
# checked (STATUS and REGEX), repaired, and then clean for both tools and
# holding r.raw's data but for ZERO_RANGE (START LENGTH pairs).
damaged()
{
	local name="$1 ($layout layout)" status=$2 re=$3 zero=() img
	shift 3
	while [ "$1" != -- ]; do
		zero+=("$1")
		shift
	done
	img=$d/$2.vdi
	shift 2
	cp "$base" "$img"
	"$@" "$img"
	expect "$name: check" "$status" "$re" "$V" check "$img"
	expect "$name: check --repair" 0 '^No errors were found' \
		"$V" check --repair "$img"
	qemu_clean "$name: qemu-img check after repair" "$img"
	expected "$d/expected.raw" "${zero[@]}"
	tap_eq "$name: no good block lost" "Images are identical." \
		"$(qemu-img compare -f vdi -F raw "$img" "$d/expected.raw" 2>&1)"
}

# Damage, in the form "damaged" appends the image to.
range() { set_entry "$1" 2 80; }
dup() { set_entry "$1" 7 "$(get_entry "$1" 1)"; }
ba() { poke32 "$2" $VDI_OFF_ALLOCATED "$1"; }
tail_leak() { head -c 1500000 /dev/urandom >> "$1"; }
partial() { truncate -s $(($(fsize "$1") - 1000)) "$1"; }
past_eof() { set_entry "$1" 9 10; }
hole() { set_entry "$1" 9 4294967295; }
zeroed() { set_entry "$1" 9 4294967294; }
several() { range "$1"; dup "$1"; ba 2 "$1"; }

for base in "$qemu" "$vbox"; do
	layout=$(info "$base" layout)
	data=$(info "$base" data-offset)
	tap_eq "the test image ($layout layout): entries 1-3, 5, 9, 10 -> blocks 0-5" \
		"0 1 2 3 4 5" \
		"$(for e in 1 2 3 5 9 10; do get_entry "$base" $e; done | xargs)"
	damaged "entry out of range" 2 \
		"^ERROR: block map entry out of range \(entry 2: data block 80 at 0x" \
		$((2 * MiB)) $MiB -- range-$layout range
	damaged "entry used twice" 2 \
		"^ERROR: block map entry used twice \(entry 7: data block 0 at 0x" \
		-- dup-$layout dup
	cp "$base" "$d/dupinfo.vdi"
	dup "$d/dupinfo.vdi"
	expect "entry used twice ($layout layout): info says not valid, and why" 1 \
		'^error: +block map entry used twice \(entry 7: data block 0 at 0x' \
		"$V" info "$d/dupinfo.vdi"
	tap_eq "entry used twice ($layout layout): info --json: valid false" false \
		"$("$V" info --json "$d/dupinfo.vdi" | jq .valid)"
	damaged "blocks_allocated too small" 2 \
		"^ERROR: blocks_allocated is 2 but data block 5 is in use" \
		-- basmall-$layout ba 2
	tap_eq "blocks_allocated too small ($layout layout): repaired to 6" 6 \
		"$(peek32 "$d/basmall-$layout.vdi" $VDI_OFF_ALLOCATED)"
	damaged "blocks_allocated over blocks_in_image" 2 \
		"^ERROR: more blocks allocated than the image has \(100 of 16\)" \
		-- babig-$layout ba 100
	damaged "blocks_allocated too large" 3 \
		"^Leak: blocks_allocated is 8 but no entry uses data block 6 or later" \
		-- baleak-$layout ba 8
	damaged "data past the last block" 3 \
		"^Leak: 1500000 bytes past the last data block in use" \
		-- tail-$layout tail_leak
	tap_eq "data past the last block ($layout layout): truncated" \
		$((data + 6 * MiB)) "$(fsize "$d/tail-$layout.vdi")"
	damaged "file ends inside a block" 2 \
		"past the end of the file \(entry 10: data block 5 at 0x[0-9a-f]+\); the file ends inside the block" \
		$((11 * MiB - 1000)) 1000 -- partial-$layout partial
	tap_eq "file ends inside a block ($layout layout): completed" \
		$((data + 6 * MiB)) "$(fsize "$d/partial-$layout.vdi")"
	damaged "entry past the end of the file" 2 \
		"^ERROR: block map entry past the end of the file \(entry 9: data block 10 at" \
		$((9 * MiB)) $MiB -- eof-$layout past_eof
	damaged "unused data block" 3 \
		"^Leak: data block 4 at 0x[0-9a-f]+ is not used by any map entry" \
		$((9 * MiB)) $MiB -- hole-$layout hole
	tap_eq "unused data block ($layout layout): last block moved in, file shrunk" \
		"4 $((data + 5 * MiB))" \
		"$(get_entry "$d/hole-$layout.vdi" 10) $(fsize "$d/hole-$layout.vdi")"
	damaged "discarded block" 3 "^5/16 = 31.25% allocated, 1 zero" \
		$((9 * MiB)) $MiB -- zero-$layout zeroed
	tap_eq "discarded block ($layout layout): stays discarded" 4294967294 \
		"$(get_entry "$d/zero-$layout.vdi" 9)"
	damaged "several problems" 2 "^3 errors were found on the image" \
		$((2 * MiB)) $MiB -- several-$layout several
done

# Every problem is reported, not only the first.
img=$d/all.vdi
cp "$vbox" "$img"
several "$img"
run "$V" check "$img"
tap_eq "every problem is reported" "2 3 1 1" \
	"$rc $(grep -c '^ERROR:' <<<"$out") $(grep -c '^Leak:' <<<"$out") \
$(grep -c '^Leak: data block 1 ' <<<"$out")"
sum=$(sha "$img")
for args in "info" "info --json" "map" "map --json" "check" "check --json"; do
	"$V" $args "$img" >/dev/null 2>&1
done
tap_eq "info, map and check leave the file as it was" "$sum" "$(sha "$img")"
tap_eq "check --json: counts and problems" "3 1 0 4 corruption" \
	"$("$V" check --json "$img" | jq -r '[.corruptions, .leaks, ."check-errors", (.problems | length), .problems[0].type] | map(tostring) | join(" ")')"
run "$V" check --repair --json "$img"
tap_eq "check --repair --json: what was fixed" "0 0 0 3 1" \
	"$rc $(jq -r '[.corruptions, .leaks, ."corruptions-fixed", ."leaks-fixed"] | map(tostring) | join(" ")' <<<"$out")"

# What cannot be checked, or repaired.
img=$d/type.vdi
cp "$vbox" "$img"
poke32 "$img" $off_type 7
expect "damaged header: a corruption" 2 "^ERROR: bad image type \(7\)" "$V" check "$img"
sum=$(sha "$img")
expect "damaged header: not repaired" 2 "type.vdi: cannot repair: the header is damaged" \
	"$V" check --repair "$img"
tap_eq "damaged header: file left as it was" "$sum" "$(sha "$img")"
expect "damaged header: info shows the fields, exits 1" 1 '"error": "bad image type \(7\)"' \
	"$V" info --json "$img"
img=$d/diff.vdi
cp "$vbox" "$img"
poke32 "$img" $off_type 4
expect "differencing image: not checked" 1 "diff.vdi: differencing image: parent needed" \
	"$V" check "$img"
img=$d/short-map.vdi
cp "$vbox" "$img"
truncate -s $((MiB + 32)) "$img"
expect "file ends inside the map: a corruption" 2 "^ERROR: block map runs past the end of the file" \
	"$V" check "$img"
img=$d/random.vdi
head -c $MiB /dev/urandom > "$img"
poke32 "$img" $VDI_OFF_SIGNATURE $((0x12345678))
for c in check info map; do
	expect "not a VDI image: $c fails" 1 "random.vdi: not a VDI image \(bad signature 0x12345678\)" \
		"$V" $c "$img"
done
expect "a missing file" 1 "missing.vdi: cannot open: No such file or directory" \
	"$V" check "$d/missing.vdi"

# --------------------------------------------------------------- options
for c in create info check map; do
	expect "$c --help" 0 "^ vdisetup $c \[options\]" "$V" $c --help
	expect "$c with a bad option" 1 "^Try 'vdisetup $c --help'" "$V" $c --bogus
done
img=$d/dynamic-64MiB.vdi
for c in info check map; do
	tap_eq "$c --output=json is $c --json, as qemu-img takes it" \
		"$("$V" $c --json "$img")" "$("$V" $c --output=json "$img")"
	tap_eq "$c --output=human is the default" \
		"$("$V" $c "$img")" "$("$V" $c --output=human "$img")"
	expect "$c --output=xml: refused" 1 "^vdisetup $c: --output takes json or human, not 'xml'$" \
		"$V" $c --output=xml "$img"
done

# ------------------------------------------------------------ --progress
# Only on a terminal (script(1) gives one), as qemu-img -p: the first and
# the last value, and in between at most one redraw per 100 ms, not one
# per block (a convert of 256 blocks drew 257).
p=$d/progress.vdi
"$V" create --static "$p" 256M
run "$V" convert -p "$p" "$d/p1.vdi"
tap_eq "--progress into a pipe: no progress drawn" "0 " "$rc $out"
start=$(date +%s%N)
script -qfec "'$V' convert -p '$p' '$d/p2.vdi'" /dev/null > "$d/tty.out"
ms=$((($(date +%s%N) - start) / 1000000))
shown=$(grep -ao '[0-9.]*/100%' "$d/tty.out" | xargs)
n=$(wc -w <<<"$shown")
tap_eq "--progress on a terminal: from 0 to 100%, at most $((ms / 100 + 2)) redraws in $ms ms" \
	"0.00/100% 100.00/100% ok" \
	"$(echo "$shown" | cut -d' ' -f1) ${shown##* } $([ "$n" -le $((ms / 100 + 2)) ] && echo ok || echo "$n redraws")"
tap_done
