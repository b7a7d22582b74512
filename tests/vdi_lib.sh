# SPDX-License-Identifier: GPL-2.0
# Shared by the driver's shell tests; source it after tap.sh:
#   . "$(dirname "$(realpath "$0")")/tap.sh"
#   . "$(dirname "$(realpath "$0")")/vdi_lib.sh"
#
# vdi_setup loads the module when it is not loaded (VDI_KO, else modprobe),
# makes a scratch directory and arranges the cleanup (vdi_cleanup), so that
# tests stay independent: none relies on what another left behind.
top=${VDI_TOP:-$(realpath "$(dirname "$(realpath "$0")")/..")}
VDISETUP=${VDISETUP:-$top/build/vdisetup}
ko=${VDI_KO:-$top/build/$(uname -r)/vdi.ko}
ksft_skip=4
MiB=$((1024 * 1024))

vdi_devs=()
vdi_nullb_loaded=0
scratch=
vdi_dm=
vdi_dm_loop=
vdi_dm_sectors=

# The whole test is skipped (exit 4) when it cannot run here at all.
vdi_skip_all()
{
	echo "TAP version 13"
	echo "1..0 # SKIP $1"
	exit $ksft_skip
}

# scratch_mounts [vdi]: mount points under the scratch directory, deepest
# (latest) first; with "vdi" only those of /dev/vdiN devices.
scratch_mounts()
{
	awk -v s="$scratch/" -v only="${1:-}" 'index($2, s) == 1 &&
		(only == "" || $1 ~ "^/dev/vdi") { print $2 }' /proc/mounts | tac
}

# Undo whatever the test left: its file systems on vdi devices, the devices
# it attached or that are backed by files under the scratch directory, other
# mounts there (null_blk), null_blk if vdi_nullb_fs loaded it, the files.
vdi_cleanup()
{
	local m f d
	[ -n "$scratch" ] || return
	for m in $(scratch_mounts vdi); do
		umount "$m" || umount -l "$m"
	done
	for f in /sys/block/vdi*/vdi/backing_file; do
		[ -r "$f" ] || continue
		case $(cat "$f" 2>/dev/null) in
		"$scratch"/*) d=${f#/sys/block/}; vdi_devs+=("/dev/${d%%/*}") ;;
		esac
	done
	for d in "${vdi_devs[@]}"; do
		"$VDISETUP" detach "$d" 2>/dev/null
	done
	for m in $(scratch_mounts); do
		umount "$m" || umount -l "$m"
	done
	[ -z "$vdi_dm" ] || dmsetup remove "$vdi_dm" 2>/dev/null
	[ -z "$vdi_dm_loop" ] || losetup -d "$vdi_dm_loop"
	[ "$vdi_nullb_loaded" = 0 ] || rmmod null_blk
	rm -rf "$scratch"
}

# vdi_load: load the module unless it is loaded, the built one (VDI_KO)
# before an installed one; /dev/vdi-control must then exist.
vdi_load()
{
	if ! grep -q '^vdi ' /proc/modules; then
		if [ -f "$ko" ]; then
			insmod "$ko" || return 1
		else
			modprobe vdi || return 1
		fi
	fi
	[ -c /dev/vdi-control ]
}

# vdi_setup [TOOL...]: root, the module, the tools the test needs, a scratch
# directory (VDI_SCRATCH, default /tmp: a tmpfs in the VM).
vdi_setup()
{
	local t
	[ "$(id -u)" = 0 ] || vdi_skip_all "must run as root"
	[ -x "$VDISETUP" ] || vdi_skip_all "$VDISETUP not built"
	for t in "$@"; do
		command -v "$t" >/dev/null || vdi_skip_all "$t is not installed"
	done
	[ -f "$ko" ] || modprobe -q -n vdi || vdi_skip_all "no vdi module ($ko)"
	vdi_load || { echo "# cannot load the vdi module"; exit 1; }
	scratch=$(mktemp -d "${VDI_SCRATCH:-/tmp}/vdi-test.XXXXXX")
	trap vdi_cleanup EXIT
}

# vdi_attach VAR [OPTIONS] FILE: attach with --show, store the device in VAR
# and remember it for the cleanup.
vdi_attach()
{
	local _var=$1 _dev
	shift
	_dev=$("$VDISETUP" attach --show "$@") || return 1
	vdi_devs+=("$_dev")
	printf -v "$_var" '%s' "$_dev"
}

# vdi_mount DEV DIR [OPTIONS]: mount (the cleanup unmounts everything under
# the scratch directory).
vdi_mount()
{
	mkdir -p "$2"
	mount ${3:+-o "$3"} "$1" "$2"
}

# vdi_nullb_fs DIR: ext4 over a 4 GiB memory-backed null_blk mounted on DIR
# (null_blk keeps I/O statistics in /sys/block/nullb0/stat, brd does not).
# Inode tables and journal are initialised at mkfs time so that no lazy-init
# thread writes to the disk afterwards.
vdi_nullb_fs()
{
	if ! grep -q '^null_blk ' /proc/modules; then
		modprobe null_blk nr_devices=1 memory_backed=1 gb=4 bs=4096 \
			queue_mode=2 || return 1
		vdi_nullb_loaded=1
	fi
	[ -b /dev/nullb0 ] || return 1
	mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 \
		/dev/nullb0 || return 1
	vdi_mount /dev/nullb0 "$1"
}

# vdi_loop_ext4 SIZE DIR: a fresh ext4 of SIZE (4 KiB blocks) in a file in
# the scratch directory, mounted on DIR with -o loop: the loop device goes
# away with the unmount of the cleanup.
vdi_loop_ext4()
{
	local f=$scratch/ext4-${2##*/}.img
	mkdir -p "$2" && modprobe -q loop && truncate -s "$1" "$f" &&
		mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$f" &&
		mount -o loop "$f" "$2"
}

# vdi_dm_ext4 DIR: for fault injection, an ext4 (4 KiB blocks, no journal,
# errors=continue) on a dm-linear device over a 64 MiB file on loop,
# mounted on DIR; vdi_dm_table switches what lies under it. The cleanup
# removes both devices. A step that fails is reported and ends the test.
vdi_dm_ext4()
{
	local why=
	# No udev in the test VM: libdevmapper makes the /dev/mapper node.
	export DM_DISABLE_UDEV=1
	modprobe -q loop
	modprobe -q dm_mod
	truncate -s 64M "$scratch/dm-disk"
	vdi_dm_loop=$(losetup -f --show "$scratch/dm-disk") || why="losetup failed"
	if [ -z "$why" ]; then
		vdi_dm_sectors=$(blockdev --getsz "$vdi_dm_loop")
		dmsetup create "vdi-test-$$" --table \
			"0 $vdi_dm_sectors linear $vdi_dm_loop 0" &&
			vdi_dm=vdi-test-$$ || why="dmsetup create failed"
	fi
	[ -n "$why" ] || mkfs.ext4 -q -F -b 4096 -O ^has_journal \
		-E lazy_itable_init=0 "/dev/mapper/$vdi_dm" || why="mkfs.ext4 failed"
	[ -n "$why" ] || vdi_mount "/dev/mapper/$vdi_dm" "$1" errors=continue ||
		why="mount failed"
	[ -z "$why" ] && return
	tap_fail "set up ext4 on dm-linear on loop" "$why"
	tap_done
}

# vdi_dm_table linear|error|PBLK: under the file system of vdi_dm_ext4,
# all of it linear, all of it failing, or linear but for the failing
# 4 KiB file system block PBLK. Resumed whatever the load does: a device
# left suspended would stop the test.
vdi_dm_table()
{
	local n=$vdi_dm_sectors l=$vdi_dm_loop t s rc
	case $1 in
	linear) t="0 $n linear $l 0" ;;
	error) t="0 $n error" ;;
	*)
		[ "$1" -gt 0 ] 2>/dev/null || { echo "no block to fail: '$1'"; return 1; }
		s=$(($1 * 8))
		t="0 $s linear $l 0
$s 8 error
$((s + 8)) $((n - s - 8)) linear $l $((s + 8))"
		;;
	esac
	dmsetup suspend --nolockfs "$vdi_dm" || return 1
	dmsetup load "$vdi_dm" --table "$t"
	rc=$?
	dmsetup resume "$vdi_dm" && return $rc
}

# vdi_ext4_image FS_SIZE IMAGE_SIZE: an image of IMAGE_SIZE on a fresh ext4
# of FS_SIZE (vdi_loop_ext4) mounted on $host, attached: sets host, img and
# dev. A step that fails is reported and ends the test.
vdi_ext4_image()
{
	host=$scratch/host
	if ! vdi_loop_ext4 "$1" "$host"; then
		tap_fail "mount a $1 ext4 for the image" "mount -o loop failed"
		tap_done
	fi
	img=$host/d.vdi
	"$VDISETUP" create "$img" "$2"
	if ! vdi_attach dev "$img"; then
		tap_fail "attach" "vdisetup attach failed"
		tap_done
	fi
}

# Field N (1-based) of /sys/block/DEV/stat.
blk_stat()
{
	awk -v f="$2" '{ print $f }' "/sys/block/$1/stat"
}

# write_at DEV|FILE OFFSET FILE [DDFLAGS]: write FILE's bytes at byte OFFSET.
write_at()
{
	dd if="$3" of="$1" bs=64k oflag=seek_bytes${4:+,$4} seek="$2" \
		conv=notrunc status=none
}

# read_at DEV|FILE OFFSET LENGTH: LENGTH bytes from byte OFFSET to stdout.
read_at()
{
	dd if="$1" bs=64k iflag=skip_bytes,count_bytes skip="$2" count="$3" \
		status=none
}

# le32 VALUE: the 4 bytes of VALUE, little-endian, as printf escapes.
le32()
{
	printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
		$((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}

# poke32 FILE OFFSET VALUE: store VALUE little-endian at OFFSET in FILE.
poke32()
{
	printf "$(le32 "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# peek32 FILE OFFSET: the little-endian 32-bit value at OFFSET.
peek32()
{
	od -An -t u4 -j "$2" -N 4 --endian=little "$1" | tr -d ' '
}

# Offsets in the VDI header (after the 0x40-byte banner).
VDI_OFF_SIGNATURE=64
VDI_OFF_BMAP=340
VDI_OFF_DATA=344
VDI_OFF_DISK_SIZE=368
VDI_OFF_BLOCK_SIZE=376
VDI_OFF_BLOCKS=384
VDI_OFF_ALLOCATED=388
VDI_OFF_UUID_PARENT=440

# allocated_entries IMAGE: how many block map entries point at data.
allocated_entries()
{
	local bmap blocks
	bmap=$(peek32 "$1" $VDI_OFF_BMAP)
	blocks=$(peek32 "$1" $VDI_OFF_BLOCKS)
	od -An -v -t u4 -j "$bmap" -N $((blocks * 4)) --endian=little "$1" |
		tr -s ' ' '\n' | awk 'NF && $1 < 4294967294 { n++ } END { print n + 0 }'
}

# quiet CMD...: run CMD with its output kept back unless it fails (for
# tap_check with chatty commands such as fio).
quiet()
{
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	[ $rc -eq 0 ] || printf '%s\n' "$out"
	return $rc
}

# crash_every_sync IMG BASE VERIFY CMD...: CMD, with IMG appended, runs on
# a fresh copy of BASE and is killed right after its first, second, ...
# sync (vdisetup's test hook VDISETUP_CRASH_AFTER); after each kill VERIFY
# N looks at what it left in IMG. Ends when CMD runs to the end: its exit
# status is in $rc.
crash_every_sync()
{
	local img=$1 base=$2 verify=$3 n
	shift 3
	for n in $(seq 1 200); do
		cp "$base" "$img"
		# A subshell that outlives CMD reports the kill to /dev/null.
		(VDISETUP_CRASH_AFTER=$n "$@" "$img"; exit $?) >/dev/null 2>&1
		rc=$?
		[ $rc = 0 ] && return
		"$verify" "$n"
	done
}

# tap_eq NAME EXPECTED SEEN: passes when they are equal, else shows both.
tap_eq()
{
	if [ "$2" = "$3" ]; then
		tap_ok "$1"
	else
		tap_fail "$1" "expected '$2', got '$3'"
	fi
}

# tap_cmp NAME FILE1 FILE2: passes when the files have equal bytes.
tap_cmp()
{
	local out
	if out=$(cmp "$2" "$3" 2>&1); then
		tap_ok "$1"
	else
		tap_fail "$1" "$out"
	fi
}

# tap_image_sound NAME IMG: `vdisetup check` finds IMG clean or with leaks
# only (exit 0 or 3), the most an interrupted or failed write may leave.
tap_image_sound()
{
	local out rc=0

	out=$("$VDISETUP" check "$2" 2>&1) || rc=$?
	tap_eq "$1" yes "$([ $rc = 0 ] || [ $rc = 3 ] && echo yes)"
	[ $rc = 0 ] || printf '%s\n' "$out" | sed 's/^/# check: /'
}

# tap_kernel_log_clean NAME SINCE: no warning, BUG, oops or hung task in the
# kernel log after its first SINCE lines.
tap_kernel_log_clean()
{
	tap_eq "$1" "" "$(dmesg | tail -n +$(($2 + 1)) |
		grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|hung_task' || true)"
}
