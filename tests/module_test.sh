#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module loads, registers /dev/vdi-control, describes itself and
# unloads cleanly; it is loaded again afterwards for the tests that follow.
. "$(dirname "$(realpath "$0")")/tap.sh"
top=${VDI_TOP:-$(realpath "$(dirname "$(realpath "$0")")/..")}
ko=${VDI_KO:-$top/build/$(uname -r)/vdi.ko}
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")

loaded() { grep -q '^vdi ' /proc/modules; }
control_present() { [ -c /dev/vdi-control ] && [ "$(stat -c %a /dev/vdi-control)" = 600 ]; }
field() { modinfo -F "$1" "$ko"; }

tap_plan 9
loaded || insmod "$ko"
tap_check "module is loaded" loaded
tap_check "/dev/vdi-control is a char device, mode 0600" control_present
tap_check "modinfo license is GPL" test "$(field license)" = GPL
tap_check "modinfo version is $version" test "$(field version)" = "$version"
tap_check "modinfo has a description" test -n "$(field description)"
dmesg -C
tap_check "rmmod succeeds" rmmod vdi
tap_check "/dev/vdi-control is gone after rmmod" test ! -e /dev/vdi-control
tap_check "dmesg says unloaded" grep -q 'vdi: unloaded' <(dmesg)
insmod "$ko"
tap_check "insmod again registers /dev/vdi-control and logs the version" \
	bash -c "[ -c /dev/vdi-control ] && dmesg | grep -q 'vdi: version $version loaded'"
tap_done
