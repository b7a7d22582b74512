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
# The list is tests/vm/kernels': the debug kernel is only for make test-debug.
KVERS_INSTALLED := $(shell $(TOP)/tests/vm/kernels)
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
# A kernel whose /lib/modules entry links into a build root (Debian
# trixie for 7.3, made by tests/vm/trixie-root: its kbuild needs a newer
# C library and compiler than bookworm's) is built inside that root, the
# checkout mounted at the same path in a private mount namespace.
kroot = $(patsubst %/lib/modules/$(1),%,$(shell readlink /lib/modules/$(1)))
in_kroot = $(if $(call kroot,$(1)),$(TOP)/tests/vm/in-root $(call kroot,$(1)) $(TOP) --)

KSRC := Kbuild $(wildcard kernel/*.c kernel/*.h kernel/*/*.h kernel/*/*/*.h)

CFLAGS ?= -O2 -g
USER_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
	-Iuserspace -Iuserspace/sys -Ikernel -Ikernel/uapi \
	-DVDI_VERSION='"$(VERSION)"'
USER_SRC := $(wildcard userspace/*.c) kernel/vdi_format.c
USER_HDR := $(wildcard userspace/*.h userspace/sys/*.h) kernel/vdi_format.h \
	kernel/uapi/linux/vdi.h

.PHONY: all modules vdisetup test test-host test-vm test-debug demo bench soak lint install uninstall clean
all: modules vdisetup

modules: $(foreach k,$(KVERS),$(BUILD)/$(k)/vdi.ko)

# Each kernel gets its own tree of symlinks so objects never mix.
$(BUILD)/%/vdi.ko: $(KSRC) dkms.conf
	@test -d $(call kdir,$*) || { echo "no kernel build directory $(call kdir,$*)" >&2; exit 1; }
	@mkdir -p $(BUILD)/$*
	@cp -rsf $(TOP)/kernel $(BUILD)/$*/
	@ln -sf $(TOP)/Kbuild $(TOP)/dkms.conf $(BUILD)/$*/
	$(call in_kroot,$*) $(MAKE) -C $(call kdir,$*) M=$(BUILD)/$* W=1 KCFLAGS=-Werror modules

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

# OUTPUT: lib.mk defaults it to the suite's directory only at MAKELEVEL 0.
tests-build: all ksft-stage
	$(MAKE) -C $(KSFT)/vdi TOP=$(TOP) OUTPUT=$(KSFT)/vdi all
	$(MAKE) -C $(KSFT)/vdi-host TOP=$(TOP) OUTPUT=$(KSFT)/vdi-host all
.PHONY: tests-build

# One summary line over everything (the build counts as a test of its own);
# non-zero exit on any failure.
test:
	@tests/run-all $(KVERS)

test-host:
	@tests/run-all --host-only

test-vm:
	@tests/run-all --vm-only $(KVERS)

# The VM suite on the debug kernel (KASAN, lockdep, ...), built first and
# cached by tests/vm/debug-kernel; slower, so with more time and memory.
test-debug:
	@k=$$(tests/vm/debug-kernel) && \
	VDI_VM_TIMEOUT=5400 VDI_VM_MEM=3072 tests/run-all --vm-only $$k

demo: all
	@tests/vm/run --kernel $(firstword $(KVERS)) -- $(TOP)/tests/demo.sh

# Not part of make test: speed is measured, never asserted by timing.
bench: all
	@bench/run $(KVERS)

# fio verify for SOAK_SECONDS (default 600) per kernel, then fsck and checks.
soak: all
	@bench/soak $(KVERS)

# checkpatch --strict, sparse on every kernel, cppcheck and clang-tidy.
lint:
	@KVERS="$(KVERS)" tests/lint

# make install [DESTDIR=...] [PREFIX=/usr/local] [KVER=...]: vdi.ko for each
# kernel into /lib/modules/<kver>/$(INSTALL_MOD_DIR), then depmod (only when
# installing for real, not into a DESTDIR) - that is install-modules; and
# install-tools: vdisetup, the man pages vdisetup(8) and vdi(4), the bash
# completion, the udev rule and the uapi header. Each directory can be set
# on its own (SBINDIR=/sbin, ...). make uninstall (-modules, -tools) with
# the same variables removes exactly what install put there. DKMS is the
# other way to install the module (see dkms.conf): then install-tools only.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UDEVRULESDIR ?= /etc/udev/rules.d
INSTALL_MOD_DIR ?= updates

# MODE:SOURCE:TARGET for each file of install-tools.
INSTALL_FILES := \
	755:$(BUILD)/vdisetup:$(SBINDIR)/vdisetup \
	644:man/vdisetup.8:$(MANDIR)/man8/vdisetup.8 \
	644:man/vdi.4:$(MANDIR)/man4/vdi.4 \
	644:completion/vdisetup:$(BASHCOMPDIR)/vdisetup \
	644:udev/60-vdi.rules:$(UDEVRULESDIR)/60-vdi.rules \
	644:kernel/uapi/linux/vdi.h:$(INCLUDEDIR)/linux/vdi.h
module_path = /lib/modules/$(1)/$(INSTALL_MOD_DIR)/vdi.ko

# udev picks a changed rule up by itself only at its next start.
define udev_reload
@if [ -z "$(DESTDIR)" ] && [ -d /run/udev ] && command -v udevadm >/dev/null; then \
	udevadm control --reload || true; \
fi
endef

.PHONY: install-modules install-tools uninstall-modules uninstall-tools
install: install-modules install-tools
uninstall: uninstall-modules uninstall-tools

install-modules: modules
	@set -e; for k in $(KVERS); do \
		echo "install $(DESTDIR)$(call module_path,$$k)"; \
		install -D -m 644 $(BUILD)/$$k/vdi.ko $(DESTDIR)$(call module_path,$$k); \
		if [ -z "$(DESTDIR)" ]; then depmod -a $$k; fi; \
	done

install-tools: vdisetup
	@set -e; for f in $(INSTALL_FILES); do \
		mode=$${f%%:*}; rest=$${f#*:}; src=$${rest%%:*}; dst=$(DESTDIR)$${rest#*:}; \
		echo "install $$dst"; \
		install -D -m $$mode $$src $$dst; \
	done
	$(udev_reload)

# Without KVER, the module goes from every kernel it was installed for,
# also from one whose headers are gone.
UNINSTALL_MODULES = $(if $(filter all,$(KVER)),\
	$(wildcard $(DESTDIR)$(call module_path,*)),\
	$(foreach k,$(KVERS),$(DESTDIR)$(call module_path,$(k))))
uninstall-modules:
	@set -e; for m in $(UNINSTALL_MODULES); do \
		rm -f $$m; \
		k=$${m#$(DESTDIR)/lib/modules/}; k=$${k%%/*}; \
		if [ -z "$(DESTDIR)" ] && [ -d /lib/modules/$$k/kernel ]; then depmod -a $$k; fi; \
	done

uninstall-tools:
	@set -e; for f in $(INSTALL_FILES); do rm -f $(DESTDIR)$${f##*:}; done
	$(udev_reload)

clean:
	rm -rf $(BUILD)

# libFuzzer over the shared format code; `make fuzz FUZZ_SECONDS=600`.
# New inputs go to build/fuzz/corpus, crashes to build/fuzz/crash-*.
FUZZ_SECONDS ?= 60
FUZZ := $(BUILD)/fuzz
FUZZ_CFLAGS := -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
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
