#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Module parameters: nr_devices pre-creates unbound devices, max_devices
# caps how many there can be (ENOSPC beyond, EINVAL for a number out of
# range), and a bad combination refuses the load. The module is reloaded
# with its defaults at the end, as the tests that follow expect.
. "$(dirname "$(realpath "$0")")/tap.sh"
. "$(dirname "$(realpath "$0")")/vdi_lib.sh"

vdi_setup
# Whatever happens, leave the module loaded for the tests that follow.
trap 'vdi_cleanup; grep -q "^vdi " /proc/modules || insmod "$ko"' EXIT

# reload [PARAM=VALUE...]: unload and load again with the parameters.
reload() { rmmod vdi && insmod "$ko" "$@"; }
# unbound N: /dev/vdiN exists, has no image and a size of 0.
unbound() { [ -b "/dev/vdi$1" ] && [ "$(cat "/sys/block/vdi$1/size")" = 0 ] &&
	[ -z "$(cat "/sys/block/vdi$1/vdi/backing_file")" ]; }
param() { cat "/sys/module/vdi/parameters/$1"; }
# fails_with MESSAGE CMD...: CMD fails and its message contains MESSAGE.
fails_with() { local out; ! out=$("${@:2}" 2>&1) && grep -qF "$1" <<< "$out"; }

tap_plan 18
tap_check "modinfo lists nr_devices and max_devices with descriptions" \
	bash -c "modinfo -F parm '$ko' | grep -q '^nr_devices:[^ ]' &&
		modinfo -F parm '$ko' | grep -q '^max_devices:[^ ]'"

reload nr_devices=3
tap_check "insmod nr_devices=3 loads" test -c /dev/vdi-control
tap_check "parameters read back as nr_devices=3 max_devices=1024" \
	test "$(param nr_devices) $(param max_devices)" = "3 1024"
for i in 0 1 2; do
	tap_check "/dev/vdi$i exists, unbound, size 0" unbound $i
done
tap_check "/dev/vdi3 was not created" test ! -e /sys/block/vdi3
tap_check "vdisetup list shows no device" \
	test -z "$("$VDISETUP" list --noheadings)"

for i in 1 2 3; do
	"$VDISETUP" create "$scratch/$i.vdi" 16M >/dev/null || exit 1
done
reload max_devices=2
vdi_attach d1 "$scratch/1.vdi"
vdi_attach d2 "$scratch/2.vdi"
tap_check "max_devices=2: two images attach as /dev/vdi0 and /dev/vdi1" \
	test "$d1 $d2" = "/dev/vdi0 /dev/vdi1"
tap_check "max_devices=2: a third attach fails with ENOSPC" \
	fails_with "No space left on device" "$VDISETUP" attach "$scratch/3.vdi"
tap_check "max_devices=2: attach to /dev/vdi2 fails with EINVAL" \
	fails_with "Invalid argument" "$VDISETUP" attach "$scratch/3.vdi" /dev/vdi2
tap_check "max_devices=2: /dev/vdi2 was not created" test ! -e /sys/block/vdi2
"$VDISETUP" detach "$d1" "$d2"

dmesg -C
tap_check "rmmod succeeds" rmmod vdi
for args in "nr_devices=5 max_devices=2" "max_devices=0" \
	"max_devices=$(((1 << 20) + 1))"; do
	# shellcheck disable=SC2086 # word splitting wanted
	tap_check "insmod $args is refused" bash -c "! insmod '$ko' $args"
done
tap_check "the refusal is in the kernel log" \
	grep -q 'vdi: need 1 <= max_devices <= 1048576' <(dmesg)

insmod "$ko"
tap_check "insmod with defaults: no devices, max_devices=1024" bash -c \
	"[ -c /dev/vdi-control ] && [ ! -e /sys/block/vdi0 ] &&
	[ \"\$(cat /sys/module/vdi/parameters/max_devices)\" = 1024 ]"
tap_done
