#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DKMS, as a user runs it on the checkout: `dkms add .`, then for the
# oldest kernel `dkms build` and `dkms install`, for every other one
# `dkms autoinstall` (what the kernel's postinst hook runs when a new
# kernel arrives). dkms works in private trees (--dkmstree, --sourcetree,
# --installtree, its signing key in the scratch directory too), so the host
# keeps no trace. Checked: the module of each kernel has dkms.conf's
# PACKAGE_VERSION and that kernel's vermagic, is installed to
# updates/dkms/ and removed by `dkms uninstall`. Then in the VM on each
# kernel: `dkms install` into the real /lib/modules (a throw-away overlay
# there), the module loads from where dkms put it, /dev/vdi-control
# appears, an image attaches, takes a write and detaches, rmmod works, and
# `dkms remove --all` takes the module away. In the VM dkms runs with
# --no-depmod and the module is insmod'ed: depmod over a whole kernel's
# modules takes over a minute under TCG (install_test.sh pays that once,
# for modprobe after make install).
#
#   dkms_test.sh [KVER...]
#   dkms_test.sh --guest SCRATCH VERSION   (in the VM)
here=$(dirname "$(realpath "$0")")
top=$(realpath "$here/../..")
. "$here/../tap.sh"

# ------------------------------------------------------------ in the VM
# Prints "VDI_GUEST ok NAME" or "VDI_GUEST fail NAME: WHY" per check.
if [ "${1:-}" = --guest ]; then
	s=$2 version=$3
	k=$(uname -r)
	g_ok() { echo "VDI_GUEST ok $1"; }
	g_fail() { echo "VDI_GUEST fail $1: $2"; }
	g_check() { local n=$1; shift; if out=$("$@" 2>&1); then g_ok "$n"; else g_fail "$n" "$(tr '\n' ' ' <<< "$out" | tail -c 300)"; fi; }
	DKMS=(dkms --dkmstree "$s/dkms" --sourcetree "$s/src")

	g_check "dkms install" "${DKMS[@]}" install "vdiblk/$version" -k "$k" --no-depmod
	mod=$(ls /lib/modules/"$k"/updates/dkms/vdi.ko* 2>/dev/null)
	[ -n "$mod" ] && g_ok "dkms installed vdi.ko in updates/dkms" ||
		g_fail "dkms installed vdi.ko in updates/dkms" "nothing in /lib/modules/$k/updates/dkms"
	g_check "insmod the module dkms installed" insmod "$mod"
	g_check "/dev/vdi-control is there" test -c /dev/vdi-control
	v=$(cat /sys/module/vdi/version 2>&1)
	[ "$v" = "$version" ] && g_ok "the loaded module is version $version" ||
		g_fail "the loaded module is version $version" "/sys/module/vdi/version: $v"
	img=$(mktemp -d)/a.vdi
	if "$top/build/vdisetup" create "$img" 8M >/dev/null &&
	   dev=$("$top/build/vdisetup" attach --show "$img") &&
	   dd if=/dev/zero of="$dev" bs=1M count=1 oflag=direct status=none &&
	   "$top/build/vdisetup" detach "$dev" && "$top/build/vdisetup" check "$img" >/dev/null; then
		g_ok "an image attaches, takes a write, detaches and checks clean"
	else
		g_fail "an image attaches, takes a write, detaches and checks clean" "see above"
	fi
	rm -rf "${img%/*}"
	g_check "rmmod vdi" rmmod vdi
	g_check "/dev/vdi-control is gone" test ! -e /dev/vdi-control
	g_check "dkms remove --all" "${DKMS[@]}" remove "vdiblk/$version" --all --no-depmod
	left=$(ls /lib/modules/"$k"/updates/dkms/vdi.ko* 2>/dev/null)
	[ -z "$left" ] && g_ok "dkms remove took the module away" ||
		g_fail "dkms remove took the module away" "$left is still there"
	exit 0
fi

# ----------------------------------------------------------- on the host
skip_all()
{
	echo "TAP version 13"
	echo "1..0 # SKIP $1"
	exit 4
}

command -v dkms >/dev/null || skip_all "dkms is not installed"
[ "$(id -u)" = 0 ] || skip_all "dkms add needs root"
kvers=("$@")
[ ${#kvers[@]} -gt 0 ] || mapfile -t kvers < <("$top/tests/vm/kernels")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
tap_plan
# Under /tmp, which the VM shares with the host.
s=$(mktemp -d /tmp/vdi-dkms.XXXXXX)
trap 'rm -rf "$s"' EXIT
# dkms signs the modules it builds; its key stays in the scratch directory.
export mok_signing_key=$s/mok.key mok_certificate=$s/mok.pub
DKMS=(dkms --dkmstree "$s/dkms" --sourcetree "$s/src" --installtree "$s/root/lib/modules")
mkdir -p "$s/dkms" "$s/src" "$s/root/lib/modules"

tap_eq() { if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1" "expected '$2', got '$3'"; fi; }

# run NAME CMD...: a step that must succeed; its output only on failure.
run()
{
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		tap_ok "$name"
		return 0
	fi
	tap_fail "$name" "failed: $*"
	printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
	return 1
}

# The checkout as a user has it: the files git knows of or would add
# (new files not committed yet included), no build products.
co=$s/checkout
mkdir -p "$co"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	xargs -0 cp --parents -t "$co")
tap_eq "dkms.conf's PACKAGE_NAME is vdiblk" vdiblk \
	"$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$co/dkms.conf")"

# BUILD_EXCLUSIVE_KERNEL: every tested kernel, nothing before 6.1.
excl=$(. "$co/dkms.conf" && echo "$BUILD_EXCLUSIVE_KERNEL")
tap_eq "BUILD_EXCLUSIVE_KERNEL takes the kernels tested, not 5.10 or 6.0" \
	"$(printf '%s\n' "${kvers[@]}")" \
	"$(printf '%s\n' "${kvers[@]}" 5.10.0-35-amd64 6.0.0-0.deb11.6-amd64 | grep -E "$excl")"
run "dkms add ." bash -c 'cd "$1" && shift && "$@" add .' _ "$co" "${DKMS[@]}"
tap_check "dkms add copied the source to vdiblk-$version" test -f "$s/src/vdiblk-$version/dkms.conf"

# dkms_for KVER ARG...: dkms about KVER; inside the build root of a kernel
# the host cannot build for (tests/vm/trixie-root), where the scratch
# directory is mounted at the same path.
dkms_for()
{
	local k=$1 link
	shift
	link=$(readlink "/lib/modules/$k")
	if [ -n "$link" ]; then
		"$top/tests/vm/in-root" "${link%/lib/modules/$k}" "$s" -- "${DKMS[@]}" \
			--kernelsourcedir "/lib/modules/$k/build" "$@"
	else
		"${DKMS[@]}" "$@"
	fi
}

# built_module KVER: the module dkms built for KVER (compressed like the
# kernel's own modules, for 6.12 vdi.ko.xz).
built_module() { ls "$s/dkms/vdiblk/$version/$1"/*/module/vdi.ko* 2>/dev/null | head -n 1; }
# A module of the kernel itself, for its vermagic.
kernel_module() { find "/lib/modules/$1/kernel" -name '*.ko*' -print -quit; }

for k in "${kvers[@]}"; do
	mkdir -p "$s/root/lib/modules/$k"
	if [ "$k" = "${kvers[0]}" ]; then
		run "dkms build for $k" dkms_for "$k" build "vdiblk/$version" -k "$k" ||
			ls "$s/dkms/vdiblk/$version/build/make.log" 2>/dev/null | xargs -r tail -n 20 | sed 's/^/# /'
		run "dkms install for $k" dkms_for "$k" install "vdiblk/$version" -k "$k" --no-depmod
	else
		run "dkms autoinstall for $k (the new-kernel hook)" dkms_for "$k" autoinstall -k "$k" --no-depmod
	fi
	m=$(built_module "$k")
	if [ -z "$m" ]; then
		tap_fail "dkms built vdi.ko for $k" "no module in $s/dkms/vdiblk/$version/$k"
		continue
	fi
	tap_eq "$k: modinfo -F version is PACKAGE_VERSION" "$version" "$(modinfo -F version "$m")"
	tap_eq "$k: vermagic is the kernel's" "$(modinfo -F vermagic "$(kernel_module "$k")")" \
		"$(modinfo -F vermagic "$m")"
	i=$(ls "$s/root/lib/modules/$k"/updates/dkms/vdi.ko* 2>/dev/null)
	tap_check "$k: installed in updates/dkms as built" cmp "$m" "$i"
	tap_check "$k: dkms status says installed" \
		grep -qx "vdiblk/$version, $k, [a-z0-9_]*: installed" <(dkms_for "$k" status 2>/dev/null)
done

# Uninstall, leaving the modules built for the VM's dkms install.
for k in "${kvers[@]}"; do
	run "dkms uninstall for $k" dkms_for "$k" uninstall "vdiblk/$version" -k "$k" --no-depmod
	tap_check "$k: uninstall removed the module" \
		bash -c '! ls "$1"/updates/dkms/vdi.ko* 2>/dev/null | grep .' _ "$s/root/lib/modules/$k"
	tap_check "$k: dkms status says built" \
		grep -qx "vdiblk/$version, $k, [a-z0-9_]*: built" <(dkms_for "$k" status 2>/dev/null)
done

# ------------------------------------------------ for real, in the VM
for k in "${kvers[@]}"; do
	tap_vm "$k" 10 "$s/vm-$k.log" -- --timeout 240 -- \
		"$here/dkms_test.sh" --guest "$s" "$version"
done

tap_done
