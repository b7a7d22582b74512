#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# completion/vdisetup, sourced after bash-completion and called as bash
# calls it (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT): commands,
# global options, each command's options as its --help lists them, no
# completion of an option's argument, --opt=VALUE values, *.vdi files and
# directories for image commands, for detach the devices that have an
# image attached (from a fake /sys), and for list, for attach's DEV the
# free ones; list -j takes an image.
here=$(dirname "$(realpath "$0")")
. "$here/../tap.sh"
top=$(realpath "$here/../..")
V=${VDISETUP:-$top/build/vdisetup}
bc=/usr/share/bash-completion/bash_completion

skip_all()
{
	echo "TAP version 13"
	echo "1..0 # SKIP $1"
	exit 4
}

[ -r "$bc" ] || skip_all "bash-completion is not installed"
[ -x "$V" ] || skip_all "$V not built"
tap_plan
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# A directory of candidates for file completion, a vdisetup in PATH that
# answers --help as the real one does (plus an option with values, as
# attach --direct-io will take), and a fake sysfs: vdi0 and vdi3 bound,
# vdi1 free, vdi2 virtio's disk (no vdi/ directory).
mkdir -p "$d/files/sub.d" "$d/bin"
touch "$d/files/a.vdi" "$d/files/b.VDI" "$d/files/notes.txt"
cat > "$d/bin/vdisetup" <<EOF
#!/bin/bash
out=\$("$V" "\$@")
rc=\$?
if [ "\$*" = "attach --help" ]; then
	out+=\$'\n     --cache[=none|writeback]  a made-up option with values'
fi
printf '%s\n' "\$out"
exit \$rc
EOF
chmod +x "$d/bin/vdisetup"
sys=$d/sys
mkdir -p "$sys/block/vdi0/vdi" "$sys/block/vdi1/vdi" "$sys/block/vdi2" "$sys/block/vdi3/vdi"
echo /images/a.vdi > "$sys/block/vdi0/vdi/backing_file"
: > "$sys/block/vdi1/vdi/backing_file"
echo /images/c.vdi > "$sys/block/vdi3/vdi/backing_file"

# complete LINE: the sorted candidates for the end of LINE (a trailing
# blank completes a new word), one per line.
complete_line()
{
	(
		cd "$d/files" || exit 1
		PATH=$d/bin:$PATH
		_VDISETUP_SYSFS=$sys
		. "$bc"
		. "$top/completion/vdisetup"
		COMP_LINE=$1
		COMP_POINT=${#1}
		read -ra COMP_WORDS <<< "$1"
		[[ $1 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMPREPLY=()
		_vdisetup vdisetup "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
	)
}

# expect LINE EXPECTED...: the candidates are exactly these.
expect()
{
	local line=$1 got want
	shift
	got=$(complete_line "$line" | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
	if [ "$got" = "$want" ]; then
		tap_ok "'$line' completes to: ${want:-nothing}"
	else
		tap_fail "'$line' completes to: ${want:-nothing}" "got: ${got:-nothing}"
	fi
}

# The commands and options the binary lists, as the completion must.
commands=$("$V" --help | sed -n 's/^ vdisetup \([a-z][a-z-]*\).*/\1/p' | sort -u)
long_opts() { "$V" "$@" --help | awk '/^[ \t]+-/' | grep -oE -- '--[a-z][a-z-]*' | sort -u; }

tap_check "the file sources cleanly after bash-completion" \
	bash -c '. "$1" && . "$2" && complete -p vdisetup' _ "$bc" "$top/completion/vdisetup"

expect "vdisetup " $commands
expect "vdisetup at" $(grep '^at' <<< "$commands")
expect "vdisetup -" --help --version
for c in $commands; do
	want=$(long_opts "$c")
	[ "$c" = attach ] && want+=$'\n--cache'
	expect "vdisetup $c -" $want
done
expect "vdisetup create --f" --force
expect "vdisetup create --uuid " ""
expect "vdisetup create --comment " ""
expect "vdisetup attach --cache=" none writeback
expect "vdisetup attach --cache=w" writeback

# Image files: *.vdi in any case, and directories to walk into.
expect "vdisetup info " a.vdi b.VDI sub.d
expect "vdisetup check --json " a.vdi b.VDI sub.d
expect "vdisetup create " a.vdi b.VDI sub.d
expect "vdisetup create --uuid 01234567-89ab-cdef-0123-456789abcdef " a.vdi b.VDI sub.d
expect "vdisetup create new.vdi " ""
expect "vdisetup attach --show -r " a.vdi b.VDI sub.d
expect "vdisetup attach a.vdi " /dev/vdi1
expect "vdisetup list -j " a.vdi b.VDI sub.d

# Devices: only ours, only bound ones, not twice.
expect "vdisetup detach " /dev/vdi0 /dev/vdi3
expect "vdisetup detach /dev/vdi0 " /dev/vdi3
expect "vdisetup detach vdi3 " /dev/vdi0
expect "vdisetup detach --all " ""
expect "vdisetup list " /dev/vdi0 /dev/vdi3

tap_done
