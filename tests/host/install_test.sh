#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make install / make uninstall. Into a DESTDIR: exactly the expected files
# (the module for each kernel, vdisetup, both man pages, the completion,
# the udev rule, the uapi header) with their modes and contents, no depmod,
# for the default PREFIX, for PREFIX=/usr with the directories moved, and
# install-tools and install-modules KVER=... on their own; man,
# bash-completion and the compiler find what was installed; uninstall
# leaves no file behind. Then for real, in the VM (its
# root is a throw-away overlay): make install, modprobe vdi,
# /dev/vdi-control, the installed vdisetup attaches and detaches an image,
# make uninstall, and modprobe finds no vdi any more. That runs on the
# oldest kernel only: install and uninstall each run depmod, which takes
# minutes under TCG over 6.12's four thousand xz-compressed modules (the
# 6.12 module is checked in the DESTDIR, and loaded by dkms_test.sh).
#
#   install_test.sh [KVER...]     (the guest part: install_test.sh --guest)
here=$(dirname "$(realpath "$0")")
top=$(realpath "$here/../..")
. "$here/../tap.sh"

# ------------------------------------------------------------ in the VM
# Prints "VDI_GUEST ok NAME" or "VDI_GUEST fail NAME: WHY" per check, for
# the host side to turn into TAP.
if [ "${1:-}" = --guest ]; then
	k=$(uname -r)
	g_ok() { echo "VDI_GUEST ok $1"; }
	g_fail() { echo "VDI_GUEST fail $1: $2"; }
	g_check() { local n=$1; shift; if out=$("$@" 2>&1); then g_ok "$n"; else g_fail "$n" "$(tr '\n' ' ' <<< "$out")"; fi; }

	# What the host built (just before) is installed as it is: -o keeps
	# make from building it again here, slowly, should a source have
	# changed meanwhile.
	keep=(-o "$top/build/$k/vdi.ko" -o "$top/build/vdisetup")
	g_check "make install" make -s -C "$top" install KVER="$k" "${keep[@]}"
	g_check "modprobe vdi" modprobe vdi
	g_check "/dev/vdi-control is there" test -c /dev/vdi-control
	mod=$(modinfo -n vdi 2>&1)
	[ "$mod" = "/lib/modules/$k/updates/vdi.ko" ] && g_ok "modprobe took updates/vdi.ko" ||
		g_fail "modprobe took updates/vdi.ko" "modinfo -n vdi: $mod"
	v=$(command -v vdisetup)
	[ "$v" = /usr/local/sbin/vdisetup ] && g_ok "vdisetup is in PATH" ||
		g_fail "vdisetup is in PATH" "command -v vdisetup: '$v'"
	s=$(mktemp -d)
	if vdisetup create "$s/a.vdi" 8M >/dev/null && dev=$(vdisetup attach --show "$s/a.vdi") &&
	   vdisetup list | grep -q "^$dev .*$s/a.vdi" && vdisetup detach "$dev"; then
		g_ok "the installed vdisetup creates, attaches, lists and detaches"
	else
		g_fail "the installed vdisetup creates, attaches, lists and detaches" "see above"
	fi
	rm -rf "$s"
	m=$(man -w vdisetup 2>&1)
	# Debian's /usr/local/man is a link to share/man.
	[ "$(realpath -e "$m" 2>&1)" = /usr/local/share/man/man8/vdisetup.8 ] && g_ok "man finds vdisetup(8)" ||
		g_fail "man finds vdisetup(8)" "man -w vdisetup: $m"
	g_check "rmmod vdi" rmmod vdi
	g_check "make uninstall" make -s -C "$top" uninstall KVER="$k"
	hash -r		# bash remembers where vdisetup was
	if modinfo vdi >/dev/null 2>&1 || command -v vdisetup >/dev/null; then
		g_fail "after make uninstall neither the module nor vdisetup is found" \
			"$(modinfo -n vdi 2>&1) $(command -v vdisetup)"
	else
		g_ok "after make uninstall neither the module nor vdisetup is found"
	fi
	exit 0
fi

# ----------------------------------------------------------- on the host
kvers=("$@")
[ ${#kvers[@]} -gt 0 ] || mapfile -t kvers < <(cd /lib/modules && ls -d */build | sed 's|/build||' | sort -V)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
tap_plan
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
MAKE=(make -s -C "$top" KVER="${kvers[*]}")

# files ROOT: "MODE PATH" of every file and link under ROOT, sorted.
files() { (cd "$1" && find . \( -type f -o -type l \) -printf '%m %P\n' | sort); }

# expect_files NAME ROOT EXPECTED: exactly these files with these modes.
expect_files()
{
	local got
	got=$(files "$2")
	if [ "$got" = "$3" ]; then
		tap_ok "$1"
	else
		tap_fail "$1" "the file list differs"
		diff <(echo "$3") <(echo "$got") | sed -n 's/^[<>]/&/p' | sed 's/^/# /'
	fi
}

# expected PREFIX UDEVRULESDIR KVER...: the file list make install makes.
expected()
{
	local p=${1#/} u=${2#/} k
	shift 2
	{
		for k in "$@"; do echo "644 lib/modules/$k/updates/vdi.ko"; done
		echo "755 $p/sbin/vdisetup"
		echo "644 $p/share/man/man8/vdisetup.8"
		echo "644 $p/share/man/man4/vdi.4"
		echo "644 $p/share/bash-completion/completions/vdisetup"
		echo "644 $u/60-vdi.rules"
		echo "644 $p/include/linux/vdi.h"
	} | sort
}

# -------------------------------------------- DESTDIR, default PREFIX
D=$d/default
tap_check "make install DESTDIR" "${MAKE[@]}" install DESTDIR="$D"
expect_files "make install DESTDIR: the files, with their modes" "$D" \
	"$(expected /usr/local /etc/udev/rules.d "${kvers[@]}")"

same=1
for pair in "build/vdisetup:usr/local/sbin/vdisetup" "man/vdisetup.8:usr/local/share/man/man8/vdisetup.8" \
	"man/vdi.4:usr/local/share/man/man4/vdi.4" \
	"completion/vdisetup:usr/local/share/bash-completion/completions/vdisetup" \
	"udev/60-vdi.rules:etc/udev/rules.d/60-vdi.rules" \
	"kernel/uapi/linux/vdi.h:usr/local/include/linux/vdi.h" \
	$(for k in "${kvers[@]}"; do echo "build/$k/vdi.ko:lib/modules/$k/updates/vdi.ko"; done); do
	cmp -s "$top/${pair%%:*}" "$D/${pair#*:}" || { same=0; echo "# ${pair#*:} differs from ${pair%%:*}"; }
done
[ $same = 1 ] && tap_ok "make install DESTDIR: each file is the one built" ||
	tap_fail "make install DESTDIR: each file is the one built" "see above"

tap_check "make install DESTDIR: no depmod into the DESTDIR" \
	bash -c '! ls "$1"/lib/modules/*/modules.dep 2>/dev/null | grep .' _ "$D"

for k in "${kvers[@]}"; do
	tap_eq() { if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1" "expected '$2', got '$3'"; fi; }
	tap_eq "make install DESTDIR: vdi.ko for $k is version $version, for $k" \
		"$version $k" \
		"$(modinfo -F version "$D/lib/modules/$k/updates/vdi.ko") $(modinfo -F vermagic "$D/lib/modules/$k/updates/vdi.ko" | cut -d' ' -f1)"
done
tap_eq "make install DESTDIR: the installed vdisetup runs" \
	"vdisetup from vdiblk $version" "$("$D/usr/local/sbin/vdisetup" --version)"

# The header alone, as a program outside the tree would include it.
cat > "$d/abi.c" <<'EOF'
#include <sys/ioctl.h>
#include <linux/vdi.h>
int main(void)
{
	struct vdi_config cfg = { .fd = -1, .flags = VDI_FLAG_READ_ONLY };
	struct vdi_info info;

	(void)info;
	return ioctl(-1, VDI_CTL_ATTACH, &cfg) == -1 && sizeof(info) > VDI_PATH_MAX ? 0 : 1;
}
EOF
tap_check "make install DESTDIR: a program using <linux/vdi.h> builds against it" \
	cc -Wall -Werror -I"$D/usr/local/include" -o "$d/abi" "$d/abi.c"

tap_eq "make install DESTDIR: man finds vdisetup(8) there" \
	"$D/usr/local/share/man/man8/vdisetup.8" "$(MANPATH=$D/usr/local/share/man man -w vdisetup 2>&1)"
tap_eq "make install DESTDIR: man finds vdi(4) there" \
	"$D/usr/local/share/man/man4/vdi.4" "$(MANPATH=$D/usr/local/share/man man -w 4 vdi 2>&1)"
if [ -r /usr/share/bash-completion/bash_completion ]; then
	tap_eq "make install DESTDIR: bash-completion loads the completion from there" \
		"complete -F _vdisetup vdisetup" \
		"$(XDG_DATA_DIRS=$D/usr/local/share bash -c '. /usr/share/bash-completion/bash_completion;
			__load_completion vdisetup && complete -p vdisetup' 2>&1)"
else
	tap_skip "make install DESTDIR: bash-completion loads the completion from there" \
		"bash-completion is not installed"
fi

tap_check "make uninstall DESTDIR" "${MAKE[@]}" uninstall DESTDIR="$D"
expect_files "make uninstall DESTDIR: no file is left" "$D" ""

# ------------------------ DESTDIR, PREFIX=/usr, udev rules under /usr/lib
D=$d/usr
dirs=(PREFIX=/usr UDEVRULESDIR=/usr/lib/udev/rules.d)
tap_check "make install DESTDIR PREFIX=/usr UDEVRULESDIR=/usr/lib/udev/rules.d" \
	"${MAKE[@]}" install DESTDIR="$D" "${dirs[@]}"
expect_files "make install PREFIX=/usr: the files, with their modes" "$D" \
	"$(expected /usr /usr/lib/udev/rules.d "${kvers[@]}")"
tap_check "make uninstall DESTDIR PREFIX=/usr ..." "${MAKE[@]}" uninstall DESTDIR="$D" "${dirs[@]}"
expect_files "make uninstall PREFIX=/usr: no file is left" "$D" ""

# ------------------------------------- install-tools, install-modules KVER
D=$d/parts
k=${kvers[0]}
tap_check "make install-tools DESTDIR" make -s -C "$top" install-tools DESTDIR="$D"
expect_files "make install-tools: everything but the modules" "$D" \
	"$(expected /usr/local /etc/udev/rules.d)"
tap_check "make install-modules DESTDIR KVER=$k" make -s -C "$top" install-modules DESTDIR="$D" KVER="$k"
expect_files "make install-modules KVER=$k: adds only that kernel's module" "$D" \
	"$(expected /usr/local /etc/udev/rules.d "$k")"
# Without KVER, uninstall finds the module wherever it was installed.
tap_check "make uninstall DESTDIR (no KVER)" make -s -C "$top" uninstall DESTDIR="$D"
expect_files "make uninstall after KVER=$k: no file is left" "$D" ""

# ------------------------------------------------ for real, in the VM
tap_vm "${kvers[0]}" 10 "$d/vm-${kvers[0]}.log" -- --timeout 420 -- \
	"$here/install_test.sh" --guest

tap_done
