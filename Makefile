# SPDX-License-Identifier: GPL-2.0
#
# vdiblk: the vdi kernel module (for every installed Debian kernel), the
# vdisetup tool, and the tests.
#
#   make                    module for every kernel in /lib/modules/*/build, vdisetup
#   make KVER=6.1.0-56-amd64  module for one kernel;  KVER=all is the default
#   make KDIR=/path/to/build  module against one kernel build directory
#   make test               host tests, then the VM suite on every kernel
#   make demo               the main job in a VM: create, attach, mkfs, mount, ...
#   make C=1                also run sparse over the module

VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)
TOP := $(CURDIR)
BUILD := $(TOP)/build

# Kernels are found from the installed Debian headers, never from uname -r:
# the machine building may run a kernel that cannot load modules.
KVERS_INSTALLED := $(sort $(patsubst /lib/modules/%/build,%,$(wildcard /lib/modules/*/build)))
ifdef KDIR
KVER := $(shell cat $(KDIR)/include/config/kernel.release)
else
KVER ?= all
endif
ifeq ($(KVER),all)
KVERS := $(KVERS_INSTALLED)
else
KVERS := $(KVER)
endif
kdir = $(if $(KDIR),$(KDIR),/lib/modules/$(1)/build)

KSRC := Kbuild $(wildcard kernel/*.c kernel/*.h kernel/*/*.h kernel/*/*/*.h)

CFLAGS ?= -O2 -g
USER_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
	-Iuserspace -Iuserspace/sys -Ikernel -Ikernel/uapi \
	-DVDI_VERSION='"$(VERSION)"'
USER_SRC := $(wildcard userspace/*.c) kernel/vdi_format.c
USER_HDR := $(wildcard userspace/*.h userspace/sys/*.h) kernel/vdi_format.h \
	kernel/uapi/linux/vdi.h

.PHONY: all modules vdisetup test test-host test-vm demo bench lint install uninstall clean
all: modules vdisetup

modules: $(foreach k,$(KVERS),$(BUILD)/$(k)/vdi.ko)

# Each kernel gets its own tree of symlinks so objects never mix.
$(BUILD)/%/vdi.ko: $(KSRC) dkms.conf
	@test -d $(call kdir,$*) || { echo "no kernel build directory $(call kdir,$*)" >&2; exit 1; }
	@mkdir -p $(BUILD)/$*
	@cp -rsf $(TOP)/kernel $(BUILD)/$*/
	@ln -sf $(TOP)/Kbuild $(TOP)/dkms.conf $(BUILD)/$*/
	$(MAKE) -C $(call kdir,$*) M=$(BUILD)/$* W=1 KCFLAGS=-Werror modules

vdisetup: $(BUILD)/vdisetup
$(BUILD)/vdisetup: $(USER_SRC) $(USER_HDR) dkms.conf
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(USER_CFLAGS) -o $@ $(USER_SRC) -luuid

# The kselftest framework comes from Debian's linux-source-6.1 at build
# time. Each suite is staged as build/ksft/<name>, where an in-tree suite
# would sit in tools/testing/selftests/, so that lib.mk and runner.sh
# (settings, timeouts) work unchanged.
KSFT_TAR ?= $(firstword $(wildcard /usr/src/linux-source-6.1.tar.*))
KSFT := $(BUILD)/ksft
$(KSFT)/lib.mk:
	@test -n "$(KSFT_TAR)" || { echo "linux-source-6.1 is not installed" >&2; exit 1; }
	@mkdir -p $(KSFT)
	tar -xf $(KSFT_TAR) --strip-components=4 -C $(KSFT) \
		$(addprefix linux-source-6.1/tools/testing/selftests/,kselftest.h kselftest_harness.h lib.mk kselftest)
	@touch $@

.PHONY: ksft-stage
ksft-stage: $(KSFT)/lib.mk
	@rm -rf $(KSFT)/vdi $(KSFT)/vdi-host
	@mkdir -p $(KSFT)/vdi $(KSFT)/vdi-host
	@cp -rsf $(TOP)/tests/. $(KSFT)/vdi/
	@rm -rf $(KSFT)/vdi/host $(KSFT)/vdi/vm
	@cp -rsf $(TOP)/tests/host/. $(KSFT)/vdi-host/

tests-build: all ksft-stage
	$(MAKE) -C $(KSFT)/vdi TOP=$(TOP) all
	$(MAKE) -C $(KSFT)/vdi-host TOP=$(TOP) all
.PHONY: tests-build

# One summary line over everything (the build counts as a test of its own);
# non-zero exit on any failure.
test:
	@tests/run-all $(KVERS)

test-host:
	@tests/run-all --host-only

test-vm:
	@tests/run-all --vm-only $(KVERS)

demo: all
	@tests/vm/run --kernel $(firstword $(KVERS)) -- $(TOP)/tests/demo.sh

# Not part of make test: speed is measured, never asserted by timing.
bench: all
	@bench/run $(KVERS)

# checkpatch --strict, sparse on every kernel, cppcheck and clang-tidy.
lint:
	@KVERS="$(KVERS)" tests/lint

# make install [DESTDIR=...] [PREFIX=/usr/local]: the module for each kernel
# built into /lib/modules/<kver>/updates (depmod when installing for real),
# vdisetup, the udev rule and the uapi header.
PREFIX ?= /usr/local
INSTALLED := $(PREFIX)/sbin/vdisetup /etc/udev/rules.d/60-vdi.rules \
	$(PREFIX)/include/linux/vdi.h
install: all
	@set -e; for k in $(KVERS); do \
		install -D -m 644 $(BUILD)/$$k/vdi.ko $(DESTDIR)/lib/modules/$$k/updates/vdi.ko; \
		if [ -z "$(DESTDIR)" ]; then depmod -a $$k; fi; \
	done
	install -D -m 755 $(BUILD)/vdisetup $(DESTDIR)$(PREFIX)/sbin/vdisetup
	install -D -m 644 udev/60-vdi.rules $(DESTDIR)/etc/udev/rules.d/60-vdi.rules
	install -D -m 644 kernel/uapi/linux/vdi.h $(DESTDIR)$(PREFIX)/include/linux/vdi.h

uninstall:
	@set -e; for k in $(KVERS); do \
		rm -f $(DESTDIR)/lib/modules/$$k/updates/vdi.ko; \
		if [ -z "$(DESTDIR)" ]; then depmod -a $$k; fi; \
	done
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

clean:
	rm -rf $(BUILD)

# libFuzzer over the shared format code; `make fuzz FUZZ_SECONDS=600`.
# New inputs go to build/fuzz/corpus, crashes to build/fuzz/crash-*.
FUZZ_SECONDS ?= 60
FUZZ := $(BUILD)/fuzz
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Iuserspace/sys -Ikernel

$(FUZZ)/vdi_fuzz: tests/fuzz/vdi_fuzz.c kernel/vdi_format.c kernel/vdi_format.h \
		userspace/sys/vdi_sys.h
	@mkdir -p $(FUZZ)/corpus
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/vdi_fuzz.c kernel/vdi_format.c

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ)/vdi_fuzz
tests-build: fuzz-build

fuzz: fuzz-build
	$(FUZZ)/vdi_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ)/ \
		$(FUZZ)/corpus tests/fuzz/corpus
