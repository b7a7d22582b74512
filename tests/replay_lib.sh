# SPDX-License-Identifier: GPL-2.0
# Crash consistency by replay, for any workload on a vdi device; source it
# after tap.sh and vdi_lib.sh (vdi_setup ... dmsetup losetup mkfs.ext4 numfmt).
#
#   rp_setup IMAGE_SIZE [PREPARE]
#                            ext4 on dm-log-writes (loop devices over files
#                            in the scratch directory) holding a fresh image;
#                            PREPARE (e.g. rp_chain) may change it first
#   rp_run WORKLOAD          attach it as $rp_dev, run the shell function
#                            WORKLOAD, detach, stop the log
#   rp_verify [SAMPLES]      replay the log to every mark and to SAMPLES
#                            points (default 1) between consecutive marks,
#                            and check each: tap lines, rp_points counted
#
# WORKLOAD writes with rp_write OFFSET FILE [dsync] and makes them durable
# with rp_flush (an fsync of the device) or the dsync write itself; both
# put a mark in the log once the call returns. Between two marks a 4 KiB
# piece of the device may be written once only, so that after a crash it
# holds one of two known contents: what the last mark made durable, or
# what the next mark will. Another kind of change records what the device
# must read afterwards as a line "w OFFSET FILE" in $scratch/rp-journal
# (after a discard that reads zeros, a file of zeros).
rp_dm=vdi-replay-$$
rp_tool=$(dirname "$0")/log_replay
[ -x "$rp_tool" ] || rp_tool=$top/build/ksft/vdi/log_replay
rp_loops=()
rp_marks=0
rp_points=0
# No udev in the test VM: libdevmapper makes the /dev/mapper node itself.
export DM_DISABLE_UDEV=1

rp_cleanup()
{
	local l
	vdi_cleanup
	dmsetup remove "$rp_dm" 2>/dev/null
	for l in "${rp_loops[@]}"; do
		losetup -d "$l"
	done
}

# rp_loop FILE: attach FILE to a loop device, remembered for the cleanup.
rp_loop()
{
	local l
	l=$(losetup -f --show "$1") || return 1
	rp_loops+=("$l")
	echo "$l"
}

rp_setup()
{
	local data log sectors
	trap rp_cleanup EXIT
	modprobe -q loop
	modprobe -q dm_log_writes || vdi_skip_all "no dm-log-writes in this kernel"
	rp_img=$scratch/mnt/replay.vdi
	rp_size=$(numfmt --from=iec "$1")
	# The file system is made and the image created before logging
	# starts: a copy of that (rp-start) is where every replay starts.
	truncate -s 40M "$scratch/rp-base"
	truncate -s 512M "$scratch/rp-log"
	mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 \
		"$scratch/rp-base" || return 1
	mkdir -p "$scratch/mnt" "$scratch/rmnt"
	mount -o loop "$scratch/rp-base" "$scratch/mnt" &&
		"$VDISETUP" create "$rp_img" "$1" && ${2:-true} &&
		umount "$scratch/mnt" &&
		cp "$scratch/rp-base" "$scratch/rp-start" || return 1
	data=$(rp_loop "$scratch/rp-base") && log=$(rp_loop "$scratch/rp-log") ||
		return 1
	sectors=$(blockdev --getsz "$data")
	dmsetup create "$rp_dm" --table "0 $sectors log-writes $data $log" &&
		mount "/dev/mapper/$rp_dm" "$scratch/mnt" || return 1
	: > "$scratch/rp-journal"
	mkdir -p "$scratch/rp-data"
}

# rp_chain: for rp_setup, make the image a differencing child of a parent
# that has data in every other block (random bytes): the device starts
# out reading as the parent ($scratch/rp-initial, where rp_verify starts),
# and the first write to such a block copies it up.
rp_chain()
{
	local dev b parent=$scratch/mnt/parent.vdi
	mv "$rp_img" "$parent" && dev=$("$VDISETUP" attach --show "$parent") ||
		return 1
	for b in $(seq 0 2 $((rp_size / MiB - 1))); do
		head -c $MiB /dev/urandom | write_at "$dev" $((b * MiB)) /dev/stdin direct
	done
	read_at "$dev" 0 "$rp_size" > "$scratch/rp-initial"
	"$VDISETUP" detach "$dev" &&
		"$VDISETUP" create --parent "$parent" "$rp_img"
}

# rp_mark OP ARGS...: a mark in the log and a line in the journal.
rp_mark()
{
	rp_marks=$((rp_marks + 1))
	dmsetup message "$rp_dm" 0 mark "m$rp_marks" &&
		echo "$* m$rp_marks" >> "$scratch/rp-journal"
}

rp_write()
{
	local keep=$scratch/rp-data/$(wc -l < "$scratch/rp-journal")
	cp "$2" "$keep"
	write_at "$rp_dev" "$1" "$keep" direct${3:+,$3} || return 1
	if [ -n "${3:-}" ]; then
		rp_mark u "$1" "$keep"
	else
		echo "w $1 $keep" >> "$scratch/rp-journal"
	fi
}

rp_flush()
{
	sync "$rp_dev" && rp_mark f
}

rp_run()
{
	vdi_attach rp_dev "$rp_img" || return 1
	"$1" || return 1
	"$VDISETUP" detach "$rp_dev" && umount "$scratch/mnt" &&
		dmsetup remove "$rp_dm"
}

# rp_point ENTRIES DURABLE LATEST: the state after the first ENTRIES
# entries of the log (rp-replay holds it after those up to rp_at): the
# file system mounts (ext4 replays its journal), vdisetup check finds the
# image sound (clean or leaks), it attaches, and every piece of the device
# holds what was durable or what was written after.
rp_point()
{
	local dev bad rc=0
	rp_points=$((rp_points + 1))
	if ! "$rp_tool" "$scratch/rp-log" replay "$scratch/rp-replay" "$rp_at" "$1"; then
		rp_fail mount "$1" "log_replay failed"
		return
	fi
	rp_at=$1
	cp "$scratch/rp-replay" "$scratch/rp-work"
	if ! mount -o loop "$scratch/rp-work" "$scratch/rmnt"; then
		rp_fail mount "$1" "the file system does not mount"
		return
	fi
	"$VDISETUP" check "$scratch/rmnt/replay.vdi" > "$scratch/rp-check" 2>&1 ||
		rc=$?
	[ $rc = 0 ] || [ $rc = 3 ] ||
		rp_fail check "$1" "vdisetup check exit $rc: $(head -c 300 "$scratch/rp-check")"
	if dev=$("$VDISETUP" attach --show -r "$scratch/rmnt/replay.vdi" 2>&1); then
		bad=$("$rp_tool" "$dev" pieces "$2" "$3" | head -n 5)
		[ -z "$bad" ] ||
			rp_fail data "$1" "4 KiB pieces neither durable nor later at" $bad
		"$VDISETUP" detach "$dev"
	else
		rp_fail attach "$1" "$dev"
	fi
	umount "$scratch/rmnt"
}

# rp_fail WHAT ENTRIES WHY...: a failed check at a replay point.
rp_fail()
{
	local what=$1 at=$2
	shift 2
	eval "rp_failed_$what=\$((rp_failed_$what + 1))"
	echo "# after $at log entries: $*"
}

rp_verify()
{
	local samples=${1:-1} op off file name idx prev=0 s n=0 m=0
	local durable=$scratch/rp-durable latest=$scratch/rp-latest
	rp_failed_mount=0 rp_failed_check=0 rp_failed_attach=0 rp_failed_data=0
	cp "$scratch/rp-start" "$scratch/rp-replay"
	rp_at=0
	if [ -f "$scratch/rp-initial" ]; then
		cp "$scratch/rp-initial" "$durable"
		cp "$scratch/rp-initial" "$latest"
	else
		truncate -s "$rp_size" "$durable" "$latest"
	fi
	if ! "$rp_tool" "$scratch/rp-log" list > "$scratch/rp-entries"; then
		tap_fail "the log reads" "log_replay list failed"
		return 1
	fi
	while read -r op off file name; do
		[ "$op" = f ] && name=$off
		[ "$op" = w ] || [ "$op" = u ] && write_at "$latest" "$off" "$file"
		[ "$op" = w ] && continue
		idx=$(awk -v m="$name" '$2 ~ /M/ && $5 == m { print $1 }' \
			"$scratch/rp-entries")
		if [ -z "$idx" ]; then
			tap_fail "mark $name is in the log" "not found"
			return 1
		fi
		# Between the marks: what the last one made durable, or later.
		for s in $(seq 1 "$samples"); do
			n=$((prev + (idx - prev) * s / (samples + 1)))
			[ "$n" -gt "$rp_at" ] && rp_point "$n" "$durable" "$latest"
		done
		if [ "$op" = f ]; then
			cp "$latest" "$durable"
		else
			write_at "$durable" "$off" "$file"
		fi
		rp_point $((idx + 1)) "$durable" "$latest"
		prev=$((idx + 1))
		m=$((m + 1))
	done < "$scratch/rp-journal"
	echo "# replay points checked: $rp_points ($m marks, $((rp_points - m)) between marks)"
	tap_eq "the log replays to every point, which mounts" 0 "$rp_failed_mount"
	tap_eq "vdisetup check finds no cross-links or corruption at any point" \
		0 "$rp_failed_check"
	tap_eq "the image attaches at every point" 0 "$rp_failed_attach"
	tap_eq "every write acknowledged before a mark reads back at it" \
		0 "$rp_failed_data"
}
