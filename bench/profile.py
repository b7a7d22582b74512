#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench/profile, inside the VM: perf record -a -g while fio runs one
workload on /dev/vdiN and on loop, set up as make bench does (ext4 on a
memory-backed null_blk). Prints, per device, fio's IOPS, perf stat's
software counters, the hottest kernel symbols (self time, all CPUs) and
the inclusive time of the functions of the request path, between
PROFILE-BEGIN and PROFILE-END lines.

    profile.py CASE...    CASE: alloc (4k randwrite QD32 into an empty
                          image, loop on a sparse file), randread1 (4k
                          randread QD1, allocated), randwrite32 (4k
                          randwrite QD32, allocated), randread32 (4k
                          randread QD32, allocated)
"""

import os
import re
import subprocess
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402

RUNTIME = int(os.environ.get("PROFILE_RUNTIME", "5"))
PERF = "perf"
DATA = "/run/perf.data"

CASES = {
    "alloc": ("4k randwrite QD32, empty image",
              "--rw=randwrite --bs=4k --iodepth=32", True),
    "randread1": ("4k randread QD1", "--rw=randread --bs=4k --iodepth=1",
                  False),
    "randwrite32": ("4k randwrite QD32",
                    "--rw=randwrite --bs=4k --iodepth=32", False),
    "randread32": ("4k randread QD32",
                   "--rw=randread --bs=4k --iodepth=32", False),
}

# Inclusive time of these (children included), when they appear at all.
PATH_SYMS = [
    "vdi_work", "vdi_rw", "vdi_alloc_write", "vdi_file_truncate",
    "vfs_truncate", "vfs_fallocate", "vdi_file_rw", "vdi_file_aio",
    "mutex_lock", "__mutex_lock.constprop.0", "down_write",
    "rwsem_down_write_slowpath",
    "lo_rw_aio", "loop_process_work", "ext4_file_write_iter",
    "ext4_dio_write_iter", "ext4_file_read_iter", "iomap_dio_rw",
    "__iomap_dio_rw", "ext4_iomap_begin", "ext4_map_blocks",
    "ext4_ext_map_blocks", "ext4_mb_new_blocks", "ext4_setattr",
    "ext4_fallocate", "ext4_convert_unwritten_extents",
    "ext4_end_io_rsv_work", "ext4_dio_write_end_io", "iomap_dio_complete",
    "jbd2__journal_start", "__ext4_mark_inode_dirty",
    "jbd2_journal_commit_transaction",
    "inode_dio_wait", "process_one_work", "worker_thread", "null_queue_rq",
    "blk_mq_submit_bio", "submit_bio_noacct", "fio", "io_submit_one",
    "__x64_sys_io_submit", "__x64_sys_io_getevents", "schedule",
    "ext4_ext_handle_unwritten_extents", "ext4_split_extent",
    "ext4_ext_insert_extent", "ext4_dio_write_checks", "ext4_overwrite_io",
    "vdi_queue_rq", "vdi_complete_rq", "vdi_aio_complete", "vdi_handle_rq",
    "vdi_end_rq", "vdi_io_enter", "vdi_io_exit", "queue_work_on",
    "blk_mq_complete_request", "file_modified", "kiocb_modified",
    "ext4_alloc_file_blocks", "ext4_punch_hole", "truncate_pagecache",
    "do_idle", "default_idle_call", "pv_native_safe_halt", "native_safe_halt",
]


def sh(cmd):
    return subprocess.run(cmd, shell=True, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout


# Frames that only say "blocked", skipped to find who blocked.
SCHED = re.compile(r"^(__)?schedule|^io_schedule|^schedule_|^preempt_schedule|"
                   r"^__traceiter|^__bpf_trace|^perf_|^trace_")


def samples():
    """(event, comm, [symbols, innermost first]) of each recorded sample."""
    out = sh(f"{PERF} script -i {DATA} -F comm,event,ip,sym 2>/dev/null")
    for block in out.split("\n\n"):
        lines = block.strip("\n").splitlines()
        if not lines:
            continue
        head = lines[0].split()
        if len(head) < 2:
            continue
        event = head[-1].rstrip(":")
        comm = head[0]
        syms = [ln.split()[-1] if len(ln.split()) > 1 else "?"
                for ln in lines[1:]]
        yield event, comm, syms


def top(counter, total, n, fmt="{:6.2f}%  {}"):
    return [fmt.format(100.0 * c / total, k)
            for k, c in counter.most_common(n)]


def analyse():
    self_t, incl, comm_t = Counter(), Counter(), Counter()
    block, nclock, nswitch = Counter(), 0, 0
    for event, comm, syms in samples():
        if event.startswith("cpu-clock"):
            nclock += 1
            self_t[syms[0] if syms else "?"] += 1
            comm_t[comm.split("/")[0].rstrip("0123456789:-")] += 1
            for s in set(syms):
                incl[s] += 1
        elif event.endswith("sched_switch"):
            nswitch += 1
            rest = [s for s in syms if not SCHED.search(s)]
            block[" <- ".join(rest[:4])] += 1
    return self_t, incl, comm_t, block, nclock, nswitch


def profile(kind, dev, opts):
    fio = (f"fio --name=prof --filename={dev} --ioengine=libaio --direct=1 "
           f"--time_based --runtime={RUNTIME} --size={B.IMAGE_SIZE} "
           f"--randrepeat=0 --output-format=terse --terse-version=3 {opts}")
    B.sh("sync; echo 3 > /proc/sys/vm/drop_caches")
    out = sh(f"{PERF} record -q -a -g -c 16 -e cpu-clock/freq=499/ "
             f"-e sched:sched_switch -o {DATA} -- {fio}")
    terse = [ln for ln in out.splitlines() if ln.startswith("3;")]
    iops = "?"
    if terse:
        f = terse[0].split(";")
        iops = f"read {f[7]} write {f[48]}"
    self_t, incl, comm_t, block, nclock, nswitch = analyse()
    print(f"## {kind} {dev}: IOPS {iops} (under perf record, "
          f"{RUNTIME} s)\n")
    print(f"cpu-clock samples {nclock} (499 Hz x 2 CPUs); sched_switch "
          f"samples (-c 16) {nswitch}\n")
    print("CPU time by task (all CPUs; swapper = idle):\n```")
    print("\n".join(top(comm_t, nclock, 8)))
    print("```\n\nSelf time, top symbols:\n```")
    print("\n".join(top(self_t, nclock, 25)))
    print("```\n\nInclusive time of request-path functions:\n```")
    rows = [(incl[s], s) for s in PATH_SYMS if incl[s]]
    print("\n".join(f"{100.0 * c / nclock:6.2f}%  {s}" for c, s in
                     sorted(rows, reverse=True)))
    print("```\n\nWhere tasks block (context switches by caller, "
          "innermost first):\n```")
    print("\n".join(top(block, max(nswitch, 1), 12)))
    print("```\n", flush=True)


def main():
    cases = sys.argv[1:] or ["alloc", "randread1"]
    B.setup(["vdi", "loop"])
    print("PROFILE-BEGIN")
    print(f"# Profile on {os.uname().release}\n")
    for c in cases:
        name, opts, empty = CASES[c]
        print(f"# {name}\n")
        kinds = ("vdi", "loop", "loop-falloc") if empty else ("vdi", "loop")
        for kind in kinds:
            if empty and kind.startswith("loop"):
                # loop on a sparse file; loop-falloc on a file fallocated
                # whole (unwritten extents: what ext4 does at best).
                grow = ("fallocate -l" if kind == "loop-falloc"
                        else "truncate -s")
                B.sh(f"truncate -s 0 {B.MNT}/empty.raw; "
                     f"{grow} {B.IMAGE_SIZE} {B.MNT}/empty.raw")
                dev = B.sh("losetup --direct-io=on -f --show "
                           f"{B.MNT}/empty.raw")
            elif empty:
                B.sh(f"rm -f {B.MNT}/empty.vdi; {B.VDISETUP} create "
                     f"{B.MNT}/empty.vdi {B.IMAGE_SIZE}")
                dev = B.attach(kind, f"{B.MNT}/empty.vdi")
            else:
                dev = B.attach(kind)
            if not empty:
                # Warm-up: the first run after attach is not measured.
                B.fio(dev, opts, runtime=2)
            profile(kind, dev, opts)
            if kind.startswith("loop"):
                B.sh(f"losetup -d {dev}")
            else:
                B.detach(kind, dev)
    print("PROFILE-END", flush=True)


if __name__ == "__main__":
    main()
