#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The man pages say what the code does: vdisetup(8) has a subsection for
# each command `vdisetup --help` lists, with exactly the long options of
# that command's --help (and the reverse; those with an optional =VALUE
# too), and the global options of
# `vdisetup --help`; vdi(4) names every ioctl, flag, state and structure
# field of the uapi header and no other VDI_* name, every sysfs attribute
# and module parameter the module declares and no other. Both pages render
# without a warning from groff (and mandoc, if installed) and have a NAME
# line apropos can index.
here=$(dirname "$(realpath "$0")")
. "$here/../tap.sh"
top=$(realpath "$here/../..")
V=${VDISETUP:-$top/build/vdisetup}
man8=$top/man/vdisetup.8
man4=$top/man/vdi.4
uapi=$top/kernel/uapi/linux/vdi.h

skip_all()
{
	echo "TAP version 13"
	echo "1..0 # SKIP $1"
	exit 4
}

command -v groff >/dev/null || skip_all "groff is not installed"
[ -x "$V" ] || skip_all "$V not built"
tap_plan
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# The page as plain text, one paragraph per line where it fits, so that
# tags stay on their lines: sections at column 0, subsections at 3,
# tags and paragraphs at 7, tagged paragraphs at 14.
render() { groff -man -Tascii -P-c -P-b -P-o -P-u -rLL=250n "$1" 2>/dev/null; }
render "$man8" > "$d/8.txt"
render "$man4" > "$d/4.txt"

# section FILE NAME: the lines of one section of a rendered page.
section() { awk -v s="$2" '/^[A-Z]/ { on = ($0 == s); next } on' "$1"; }

# Long options of the option lines on stdin (help: lines starting with
# blanks and a dash; man: tag lines at column 7), from the leading words
# that are options: "-u, --uuid UUID  image UUID" gives --uuid.
opts_of_lines()
{
	awk -v re="$1" '$0 ~ re {
		for (i = 1; i <= NF; i++) {
			if ($i !~ /^-/)
				break
			if (match($i, /^--[a-z][a-z-]*/))
				print substr($i, RSTART, RLENGTH)
		}
	}' | sort -u
}
help_opts() { opts_of_lines '^[ \t]+-'; }
man_opts() { opts_of_lines '^       -'; }

# The options of those lines that take an optional value: "--direct-io[=".
opt_value_opts()
{
	awk -v re="$1" '$0 ~ re {
		for (i = 1; i <= NF; i++) {
			if ($i !~ /^-/)
				break
			if (match($i, /^--[a-z][a-z-]*\[?=/))
				print substr($i, RSTART, RLENGTH)
		}
	}' | sed 's/\[\?=$//' | sort -u
}

# none NAME LIST WHERE: LIST (one item a line) must be empty.
none()
{
	local items
	items=$(printf '%s\n' "$2" | sed '/^$/d' | tr '\n' ' ')
	if [ -z "$items" ]; then
		tap_ok "$1"
	else
		tap_fail "$1" "$3: $items"
	fi
}

# same NAME EXPECTED ACTUAL WHAT_EXPECTED WHAT_ACTUAL: two sorted lists.
same()
{
	local missing extra
	missing=$(comm -23 <(printf '%s\n' "$2" | sed '/^$/d') <(printf '%s\n' "$3" | sed '/^$/d') | tr '\n' ' ')
	extra=$(comm -13 <(printf '%s\n' "$2" | sed '/^$/d') <(printf '%s\n' "$3" | sed '/^$/d') | tr '\n' ' ')
	if [ -z "$missing$extra" ]; then
		tap_ok "$1"
	else
		tap_fail "$1" "${missing:+in $4 but not in $5: $missing}${missing:+${extra:+; }}${extra:+in $5 but not in $4: $extra}"
	fi
}

# ------------------------------------------------------------ rendering
for page in "$man8" "$man4"; do
	name=${page##*/}
	tap_check "$name: groff -ww renders it without a warning" \
		bash -c '! groff -man -Tutf8 -ww -z "$1" 2>&1 | grep .' _ "$page"
	if command -v mandoc >/dev/null; then
		tap_check "$name: mandoc -Tlint finds nothing" \
			bash -c '! mandoc -Tlint -W warning "$1" 2>&1 | grep .' _ "$page"
	else
		tap_skip "$name: mandoc -Tlint finds nothing" "mandoc is not installed"
	fi
	tap_check "$name: man -l renders it" \
		bash -c 'MANWIDTH=80 man -l "$1" 2>&1 >/dev/null | { ! grep .; }' _ "$page"
	if command -v lexgrog >/dev/null; then
		tap_check "$name: lexgrog finds the NAME line" lexgrog "$page"
	fi
done

# ------------------------------------------------------------- vdisetup(8)
"$V" --help > "$d/help" 2>&1
tap_eq() { if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1" "expected '$2', got '$3'"; fi; }

cmds_help=$(sed -n 's/^ vdisetup \([a-z][a-z-]*\).*/\1/p' "$d/help" | sort -u)
cmds_man=$(section "$d/8.txt" COMMANDS | sed -n 's/^   \([a-z][a-z-]*\)$/\1/p' | sort -u)
same "vdisetup.8: a COMMANDS subsection for each command of vdisetup --help" \
	"$cmds_help" "$cmds_man" "vdisetup --help" "the man page"

same "vdisetup.8: OPTIONS has the options of vdisetup --help" \
	"$(help_opts < "$d/help")" "$(section "$d/8.txt" OPTIONS | man_opts)" \
	"vdisetup --help" "OPTIONS"

# Each command's options, both ways; --help is in OPTIONS for all of them.
for c in $cmds_help; do
	if ! "$V" "$c" --help > "$d/help.$c" 2>&1; then
		tap_fail "vdisetup $c --help" "exits $?"
		continue
	fi
	hopts=$(help_opts < "$d/help.$c")
	if grep -qx -- --help <<< "$hopts"; then
		tap_ok "vdisetup $c --help lists --help"
	else
		tap_fail "vdisetup $c --help lists --help" "it does not"
	fi
	mopts=$(section "$d/8.txt" COMMANDS |
		awk -v c="$c" '/^   [a-z]/ { on = ($1 == c); next } on' | man_opts)
	same "vdisetup.8: $c has the options of vdisetup $c --help" \
		"$(grep -vx -- --help <<< "$hopts")" "$(grep -vx -- --help <<< "$mopts")" \
		"vdisetup $c --help" "the man page"
	same "vdisetup.8: $c has the options with an optional =VALUE of vdisetup $c --help" \
		"$(opt_value_opts '^[ \t]+-' < "$d/help.$c")" \
		"$(section "$d/8.txt" COMMANDS | awk -v c="$c" '/^   [a-z]/ { on = ($1 == c); next } on' |
			opt_value_opts '^       -')" \
		"vdisetup $c --help" "the man page"
	# The one-line summaries must not offer what the command does not take.
	sopts=$(grep "^ vdisetup $c " "$d/help" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
	none "vdisetup --help: the line for $c has only options of $c" \
		"$(comm -13 <(printf '%s\n' "$hopts") <(printf '%s\n' "$sopts"))" \
		"in vdisetup --help but not in vdisetup $c --help"
	sopts=$(section "$d/8.txt" SYNOPSIS | awk -v c="$c" '$1 == "vdisetup" && $2 == c' |
		grep -oE -- '--[a-z][a-z-]*' | sort -u)
	none "vdisetup.8: SYNOPSIS for $c has only options of $c" \
		"$(comm -13 <(printf '%s\n' "$hopts") <(printf '%s\n' "$sopts"))" \
		"in SYNOPSIS but not in vdisetup $c --help"
done

# Every command has a SYNOPSIS line.
syn=$(section "$d/8.txt" SYNOPSIS | awk '$1 == "vdisetup" && $2 !~ /^-/ { print $2 }' | sort -u)
same "vdisetup.8: SYNOPSIS has a line for each command" "$cmds_help" "$syn" \
	"vdisetup --help" "SYNOPSIS"

# ---------------------------------------------------------------- vdi(4)
# The ioctls (defined as _IO*), flags and states of the uapi header.
abi=$(sed -nE 's/^#define[ \t]+(VDI_[A-Z0-9_]+)[ \t]+_IO.*/\1/p;
	s/^#define[ \t]+(VDI_(FLAG|STATE)_[A-Z0-9_]+)[ \t].*/\1/p' "$uapi" | sort -u)
# "VDI_FLAG_*" stands for the flags: not a name of its own.
named=$(grep -oE 'VDI_[A-Z0-9_]*[A-Z0-9]_?\*?' "$d/4.txt" | grep -v '_\*$' | sort -u)
same "vdi.4: names every ioctl, flag and state of linux/vdi.h" \
	"$abi" "$(comm -12 <(printf '%s\n' "$abi") <(printf '%s\n' "$named"))" \
	"linux/vdi.h" "the man page"
defined=$(sed -nE 's/^#define[ \t]+(VDI_[A-Z0-9_]+).*/\1/p' "$uapi" | sort -u)
none "vdi.4: names no VDI_* that linux/vdi.h does not define" \
	"$(comm -13 <(printf '%s\n' "$defined") <(printf '%s\n' "$named"))" \
	"in the man page but not in linux/vdi.h"

fields=$(awk '/^struct vdi_[a-z_]+ \{/ { on = 1; next } /^\};/ { on = 0 }
	on && match($0, /^[ \t]+(__[su](8|16|32|64)|char)[ \t]+[a-z_0-9]+/) {
		f = substr($0, RSTART, RLENGTH); sub(/.*[ \t]/, "", f); print f }' "$uapi" | sort -u)
shown=$(section "$d/4.txt" IOCTLS | grep -oE '[a-z_][a-z_0-9]*' | sort -u)
same "vdi.4: shows every field of the ioctl structures" \
	"$fields" "$(comm -12 <(printf '%s\n' "$fields") <(printf '%s\n' "$shown"))" \
	"linux/vdi.h" "IOCTLS"

# Tag lines of a section: one lower-case word at column 7, alone or
# followed by two blanks (a short tag with its text on the same line).
man_tags() { section "$d/4.txt" "$1" | sed -nE 's/^       ([a-z_][a-z_0-9]*)( {2,}.*)?$/\1/p' | sort -u; }

attrs=$(cat "$top"/kernel/*.c | sed -nE 's/.*__ATTR(_RO|_RW|_WO)?\(([a-z_0-9]+)[,)].*/\2/p;
	s/.*DEVICE_ATTR(_RO|_RW|_WO|_ADMIN_RO|_ADMIN_RW)?\(([a-z_0-9]+)[,)].*/\2/p' | sort -u)
same "vdi.4: SYSFS has the attributes kernel/*.c declares" \
	"$attrs" "$(man_tags SYSFS)" "kernel/*.c" "SYSFS"

params=$(cat "$top"/kernel/*.c | tr '\n' ' ' |
	grep -oE 'module_param(_named|_cb|_array|_string|_unsafe)?\([ \t]*[a-z_0-9]+' |
	sed -E 's/.*\([ \t]*//' | sort -u)
mparams=$(man_tags "MODULE PARAMETERS")
same "vdi.4: MODULE PARAMETERS has the parameters kernel/*.c declares" \
	"$params" "$mparams" "kernel/*.c" "MODULE PARAMETERS"
if [ -z "$params" ]; then
	tap_check "vdi.4: MODULE PARAMETERS says there are none" \
		grep -q 'no parameters' <(section "$d/4.txt" "MODULE PARAMETERS")
else
	tap_check "vdi.4: MODULE PARAMETERS does not say there are none" \
		bash -c '! grep -q "no parameters" "$1"' _ <(section "$d/4.txt" "MODULE PARAMETERS")
fi

tap_done
