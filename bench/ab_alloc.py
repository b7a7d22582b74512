#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A/B of two builds of vdi.ko in one VM, alternating, on the allocation
workload of make bench (4k randwrite QD32 into an empty 1 GiB image), with
loop on a sparse and on a fallocated raw file as peers. AB_OPTS replaces
the fio options; AB_PREFILL=1 writes every block first (the allocated
workloads). Inside the VM:

    tests/vm/run --kernel K --mem 8192 -- env AB_BASE_KO=... AB_NEW_KO=... \
        AB_REPS=6 AB_VARIANTS="base new loop loop-falloc" \
        python3 bench/ab_alloc.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.environ["VDI_TOP"], "bench"))
import bench as B  # noqa: E402

MODS = {"base": os.environ.get("AB_BASE_KO", os.environ["VDI_KO"]),
        "new": os.environ.get("AB_NEW_KO", os.environ["VDI_KO"])}
REPS = int(os.environ.get("AB_REPS", "4"))
OPTS = os.environ.get("AB_OPTS", "--rw=randwrite --bs=4k --iodepth=32")
PREFILL = os.environ.get("AB_PREFILL")
os.makedirs(B.MNT, exist_ok=True)
B.sh("modprobe null_blk nr_devices=1 memory_backed=1 gb=6 bs=4096 "
     "queue_mode=2 irqmode=0")
B.sh("mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "
     "/dev/nullb0")
B.sh(f"mount /dev/nullb0 {B.MNT}; modprobe loop")
res = {}
for rep in range(REPS):
    for v in os.environ.get("AB_VARIANTS",
                            "base new loop loop-falloc").split():
        if v.startswith("loop"):
            grow = "fallocate -l" if v == "loop-falloc" else "truncate -s"
            B.sh(f"rm -f {B.MNT}/e.raw; {grow} {B.IMAGE_SIZE} {B.MNT}/e.raw")
            dev = B.sh(f"losetup --direct-io=on -f --show {B.MNT}/e.raw")
        else:
            B.sh(f"insmod {MODS[v]}")
            B.sh(f"rm -f {B.MNT}/e.vdi; {B.VDISETUP} create {B.MNT}/e.vdi "
                 f"{B.IMAGE_SIZE}")
            dev = B.sh(f"{B.VDISETUP} attach --show {B.MNT}/e.vdi")
        if PREFILL:
            B.sh(f"dd if=/dev/urandom of={dev} bs=1M oflag=direct "
                 "status=none 2>/dev/null || true")
        r = B.fio(dev, OPTS, runtime=3)
        if v.startswith("loop"):
            B.sh(f"losetup -d {dev}")
        else:
            B.sh(f"{B.VDISETUP} detach {dev}; rmmod vdi")
        res.setdefault(v, []).append(r)
        print(f"AB {v} rep {rep + 1}: {r['iops']:.0f} IOPS WA {r['wa'] or 0:.3f} "
              f"CPU {r['cpu_us']:.0f} us/IO", flush=True)
for v, rs in res.items():
    print(f"AB-MEDIAN {v}: {B.median(rs, 'iops'):.0f} IOPS, WA "
          f"{B.median(rs, 'wa') or 0}, CPU {B.median(rs, 'cpu_us'):.0f} us/IO")
