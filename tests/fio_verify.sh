#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fio verify over a 1 GiB dynamic image: 4 jobs of 4 KiB random writes at
# queue depth 32, each in its own quarter of the disk, every block carrying
# a crc32c header that is checked on read (verify_fatal=1). Then detach,
# attach read-only, and verify the same blocks again without writing
# (verify_only with the same random seed). Under TCG each job writes
# FIO_IO_SIZE (default 16 MiB) scattered over its 256 MiB, so most of the
# image's 1024 blocks get allocated in random order.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup fio jq qemu-img

io_size=${FIO_IO_SIZE:-16M}
total=$((4 * $(numfmt --from=iec "$io_size")))

# fio_sum read|write JSON: bytes moved by all jobs. fio may print warnings
# ahead of the JSON document (numjobs with verify always draws one).
fio_sum()
{
	sed -n '/^{/,$p' "$2" | jq "[.jobs[].$1.io_bytes] | add" 2>/dev/null
}

# run_fio NAME DEV WRITTEN READ EXTRA...: the job must succeed and move
# exactly WRITTEN (unless "-") and READ bytes (a verify pass that read
# nothing proves nothing); fio's errors go to the TAP log.
run_fio()
{
	local name=$1 dev=$2 written=$3 read=$4 json=$scratch/fio.json
	shift 4
	if fio --name=verify --filename="$dev" --rw=randwrite --bs=4k \
		--ioengine=libaio --iodepth=32 --numjobs=4 --direct=1 \
		--size=256M --offset_increment=256M --io_size="$io_size" \
		--verify=crc32c --verify_fatal=1 --randseed=4242 \
		--group_reporting --eta=never --output-format=json --output="$json" \
		"$@" 2> "$scratch/fio.err"; then
		tap_ok "$name"
	else
		tap_fail "$name" "fio failed: $(head -n 5 "$scratch/fio.err")"
	fi
	[ "$written" = - ] || tap_eq "$name: bytes written" "$written" \
		"$(fio_sum write "$json")"
	tap_eq "$name: bytes read and verified" "$read" \
		"$(fio_sum read "$json")"
}

tap_plan

img=$scratch/fio.vdi
if ! "$VDISETUP" create "$img" 1G; then
	tap_fail "create a 1 GiB image" "vdisetup create failed"
	tap_done
fi
if ! vdi_attach dev "$img"; then
	tap_fail "attach" "vdisetup attach failed"
	tap_done
fi
tap_ok "attach $img as $dev"
run_fio "fio randwrite QD32 x4 jobs, crc32c verify" "$dev" "$total" "$total" \
	--end_fsync=1
tap_check "detach" "$VDISETUP" detach "$dev"
tap_check "qemu-img check after the write pass" qemu-img check -q -f vdi "$img"
sha=$(sha256sum < "$img")

if ! vdi_attach dev -r "$img"; then
	tap_fail "attach read-only" "vdisetup attach -r failed"
	tap_done
fi
tap_ok "attach read-only as $dev"
# verify_only counts the writes it skips as written: the checksum below
# is what shows that nothing was.
run_fio "fio verify_only pass on the read-only device" "$dev" - "$total" \
	--verify_only=1
tap_check "detach the read-only device" "$VDISETUP" detach "$dev"
tap_eq "the image is unchanged by the read-only pass" "$sha" "$(sha256sum < "$img")"

tap_done
