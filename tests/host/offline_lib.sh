# SPDX-License-Identifier: GPL-2.0
# Shared by the host tests of vdisetup's offline commands; source it after
# tap.sh and vdi_lib.sh. $V is vdisetup, $d the test's scratch directory.
V=$VDISETUP

# run CMD...: its output (stdout and stderr) in $out, its status in $rc.
run()
{
	out=$("$@" 2>&1)
	rc=$?
}

# expect NAME STATUS REGEX CMD...: CMD exits with STATUS and prints a line
# matching REGEX (grep -E).
expect()
{
	local name=$1 status=$2 re=$3
	shift 3
	run "$@"
	if [ "$rc" != "$status" ]; then
		tap_fail "$name" "exit $rc, not $status: $(tr '\n' '|' <<<"$out")"
	elif ! grep -qE -- "$re" <<<"$out"; then
		tap_fail "$name" "no /$re/ in: $(tr '\n' '|' <<<"$out")"
	else
		tap_ok "$name"
	fi
}

# info IMAGE KEY...: those fields of `vdisetup info --json`, space-separated.
info()
{
	local img=$1
	shift
	"$V" info --json "$img" | jq -r "[$(printf '."%s",' "$@" | sed 's/,$//')] | map(tostring) | join(\" \")"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
fsize() { stat -c %s "$1"; }
entry_off() { echo $(($(peek32 "$1" $VDI_OFF_BMAP) + 4 * $2)); }
set_entry() { poke32 "$1" "$(entry_off "$1" "$2")" "$3"; }
get_entry() { peek32 "$1" "$(entry_off "$1" "$2")"; }

# qemu_clean NAME IMAGE: qemu-img check finds nothing wrong.
qemu_clean()
{
	expect "$1" 0 '^No errors were found on the image' \
		qemu-img check -f vdi "$2"
}

# raw_with_data OUT SIZE BLOCK...: a raw disk of SIZE bytes, random data in
# those 1 MiB blocks, holes elsewhere.
raw_with_data()
{
	local out=$1 size=$2 b
	shift 2
	: > "$out"
	for b in "$@"; do
		head -c $MiB /dev/urandom | write_at "$out" $((b * MiB)) /dev/stdin
	done
	truncate -s "$size" "$out"
}

# raw_with_zeros IN OUT START LENGTH...: a copy of IN with those byte
# ranges zeroed.
raw_with_zeros()
{
	local out=$2
	cp "$1" "$out"
	shift 2
	while [ $# -gt 0 ]; do
		head -c "$2" /dev/zero | write_at "$out" "$1" /dev/stdin
		shift 2
	done
}
