#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench, inside the VM: fio on /dev/vdiN, on loop (raw file, direct
I/O) and on qemu-nbd (the same VDI), all on ext4 over a memory-backed
null_blk, which keeps I/O statistics for write amplification.

Each workload runs REPS times, interleaved across the devices; the median
is reported. Prints the result table as Markdown between BENCH-BEGIN and
BENCH-END lines (the guest cannot write to the host's disk)."""

import json
import os
import statistics
import subprocess
import sys
import time

TOP = os.environ["VDI_TOP"]
VDISETUP = os.path.join(TOP, "build", "vdisetup")
MNT = "/mnt/bench"
IMAGE_SIZE = 1 << 30
REPS = int(os.environ.get("BENCH_REPS", "3"))
RUNTIME = int(os.environ.get("BENCH_RUNTIME", "5"))
# Seconds of 4 KiB random reads on each device after attach, not measured.
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
# Only these workloads (names as in the table, separated by ";"), if set.
ONLY = [w for w in os.environ.get("BENCH_WORKLOADS", "").split(";") if w]
# vdi images attached: direct I/O in effect (vdisetup's default, auto)?
VDI_DIO = {}

# name, fio options, whether it writes
WORKLOADS = [
    ("4k randread QD1", "--rw=randread --bs=4k --iodepth=1", False),
    ("4k randread QD32", "--rw=randread --bs=4k --iodepth=32", False),
    ("4k randwrite QD1", "--rw=randwrite --bs=4k --iodepth=1", True),
    ("4k randwrite QD32", "--rw=randwrite --bs=4k --iodepth=32", True),
    ("1M read QD8", "--rw=read --bs=1M --iodepth=8", False),
    ("1M write QD8", "--rw=write --bs=1M --iodepth=8", True),
    ("70/30 4k QD8 x4 jobs",
     "--rw=randrw --rwmixread=70 --bs=4k --iodepth=8 --numjobs=4 "
     "--group_reporting", True),
]
ALLOC_WORKLOAD = ("4k randwrite QD32, empty image",
                  "--rw=randwrite --bs=4k --iodepth=32", True)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, text=True,
                          stdout=subprocess.PIPE, **kw).stdout.strip()


def log(msg):
    print("# " + msg, flush=True)


def disk_sectors_written():
    return int(open("/sys/block/nullb0/stat").read().split()[6])


def cpu_busy_ticks():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f) - f[3] - f[4]   # all but idle and iowait


def fio(dev, opts, runtime=RUNTIME, extra=""):
    """One fio run; returns the figures of the table."""
    sh("sync; echo 3 > /proc/sys/vm/drop_caches")
    w0, c0 = disk_sectors_written(), cpu_busy_ticks()
    # No --ramp_time: fio would not count the ramp's writes, the disk would.
    out = sh(f"fio --name=bench --filename={dev} --ioengine=libaio --direct=1 "
             f"--time_based --runtime={runtime} "
             f"--size={IMAGE_SIZE} --randrepeat=0 --output-format=json "
             f"{opts} {extra}")
    sh("sync")
    w1, c1 = disk_sectors_written(), cpu_busy_ticks()
    job = json.loads(out[out.index("{"):])["jobs"][0]
    rd, wr = job["read"], job["write"]
    ios = rd["total_ios"] + wr["total_ios"]
    p99 = max(d["clat_ns"]["percentile"].get("99.000000", 0)
              for d in (rd, wr) if d["total_ios"]) / 1000.0
    written = wr["io_bytes"]
    return {
        "iops": rd["iops"] + wr["iops"],
        "mbs": (rd["bw_bytes"] + wr["bw_bytes"]) / 1e6,
        "p99": p99,
        "wa": (w1 - w0) * 512 / written if written else None,
        "cpu_us": (c1 - c0) * 1e6 / os.sysconf("SC_CLK_TCK") / ios
        if ios else None,
    }


def median(runs, key):
    vals = [r[key] for r in runs if r[key] is not None]
    return statistics.median(vals) if vals else None


def setup(devices):
    os.makedirs(MNT, exist_ok=True)
    sh("modprobe null_blk nr_devices=1 memory_backed=1 gb=6 bs=4096 "
       "queue_mode=2 irqmode=0")
    # Inode tables and journal zeroed now: else ext4lazyinit writes them
    # in the background during the first workloads after the mount.
    sh("mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "
       "/dev/nullb0")
    sh(f"mount /dev/nullb0 {MNT}")
    sh("modprobe loop; modprobe nbd nbds_max=2")
    if not os.path.exists("/dev/vdi-control"):
        sh(f"insmod {os.environ['VDI_KO']}")
    log("writing 1 GiB of data: raw file and a VDI with the same content")
    sh(f"head -c {IMAGE_SIZE} /dev/urandom > {MNT}/disk.raw")
    if "vdi" in devices:
        sh(f"{VDISETUP} create {MNT}/disk.vdi {IMAGE_SIZE}")
        dev = sh(f"{VDISETUP} attach --show {MNT}/disk.vdi")
        sh(f"dd if={MNT}/disk.raw of={dev} bs=1M oflag=direct status=none")
        sh(f"{VDISETUP} detach {dev}")
    else:
        sh(f"qemu-img convert -O vdi {MNT}/disk.raw {MNT}/disk.vdi")
    sh("sync")


def attach(kind, image=None):
    if kind == "vdi":
        dev = sh(f"{VDISETUP} attach --show {image or MNT + '/disk.vdi'}")
        flags = open(f"/sys/block/{dev[5:]}/vdi/flags").read()
        VDI_DIO[image or "disk.vdi"] = bool(int(flags, 16) & 8)
        return dev
    if kind == "loop":
        return sh(f"losetup --direct-io=on -f --show {MNT}/disk.raw")
    sh(f"qemu-nbd -c /dev/nbd0 -f vdi --cache=none --aio=native "
       f"{image or MNT + '/disk.vdi'}")
    time.sleep(1)
    return "/dev/nbd0"


def detach(kind, dev):
    if kind == "vdi":
        sh(f"{VDISETUP} detach {dev}")
    elif kind == "loop":
        sh(f"losetup -d {dev}")
    else:
        sh("qemu-nbd -d /dev/nbd0")
        time.sleep(1)


def run_allocated(devices):
    """Workloads on fully allocated data; devices stay attached."""
    attached = {k: attach(k) for k in devices}
    results = {}
    workloads = [w for w in WORKLOADS if not ONLY or w[0] in ONLY]
    if WARMUP and workloads:
        # No device's first measured run pays for cold caches (extent
        # status, workers): all are warmed alike.
        for k in devices:
            log(f"warm-up: {k}")
            fio(attached[k], "--rw=randread --bs=4k --iodepth=1",
                runtime=WARMUP)
    for name, opts, _ in workloads:
        runs = {k: [] for k in devices}
        for rep in range(REPS):
            for k in devices:
                runs[k].append(fio(attached[k], opts))
                log(f"{name}: {k} run {rep + 1}: "
                    f"{runs[k][-1]['iops']:.0f} IOPS")
        results[name] = runs
    for k, dev in attached.items():
        detach(k, dev)
    return results


def run_allocating(devices):
    """4 KiB random writes into a fresh, empty image: the allocation path."""
    name, opts, _ = ALLOC_WORKLOAD
    if ONLY and name not in ONLY:
        return {}
    runs = {k: [] for k in devices}
    for rep in range(REPS):
        for k in devices:
            if k == "loop":
                # The raw peer: random writes into a sparse file.
                sh(f"truncate -s 0 {MNT}/empty.raw; "
                   f"truncate -s {IMAGE_SIZE} {MNT}/empty.raw")
                dev = sh(f"losetup --direct-io=on -f --show {MNT}/empty.raw")
            else:
                sh(f"rm -f {MNT}/empty.vdi; "
                   f"{VDISETUP} create {MNT}/empty.vdi {IMAGE_SIZE}")
                dev = attach(k, f"{MNT}/empty.vdi")
            runs[k].append(fio(dev, opts))
            log(f"{name}: {k} run {rep + 1}: "
                f"{runs[k][-1]['iops']:.0f} IOPS")
            if k == "loop":
                sh(f"losetup -d {dev}")
            else:
                detach(k, dev)
    return {name: runs}


def attach_4t():
    sh(f"{VDISETUP} create {MNT}/big.vdi 4T")
    sh("sync; echo 3 > /proc/sys/vm/drop_caches")
    mem0 = meminfo()
    t0 = time.monotonic()
    dev = sh(f"{VDISETUP} attach --show {MNT}/big.vdi")
    secs = time.monotonic() - t0
    mem1 = meminfo()
    sh(f"{VDISETUP} detach {dev}")
    os.unlink(f"{MNT}/big.vdi")
    return secs, {k: mem1[k] - mem0[k] for k in mem0}


def meminfo():
    want = ("Slab", "VmallocUsed")
    out = {}
    for line in open("/proc/meminfo"):
        k, v = line.split(":")
        if k in want:
            out[k] = int(v.split()[0])
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(results):
    lines = ["| workload | device | IOPS | MB/s | p99 us | WA | CPU us/IO |"
             " vdi/loop | vdi/nbd |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        iops = {k: median(r, "iops") for k, r in runs.items()}
        for k, r in runs.items():
            ratio_loop = ratio_nbd = ""
            if k == "vdi":
                if iops.get("loop"):
                    ratio_loop = f"{iops['vdi'] / iops['loop']:.2f}x"
                if iops.get("nbd"):
                    ratio_nbd = f"{iops['vdi'] / iops['nbd']:.2f}x"
            lines.append(
                f"| {name} | {k} | {fmt(iops[k], '.0f')} | "
                f"{fmt(median(r, 'mbs'), '.1f')} | "
                f"{fmt(median(r, 'p99'), '.0f')} | "
                f"{fmt(median(r, 'wa'), '.2f')} | "
                f"{fmt(median(r, 'cpu_us'), '.0f')} | "
                f"{ratio_loop} | {ratio_nbd} |")
    return lines


def main():
    devices = sys.argv[1:] or ["vdi", "loop", "nbd"]
    kernel = os.uname().release
    setup(devices)
    results = run_allocated(devices)
    results.update(run_allocating(devices))
    lines = [f"# Benchmark on {kernel}", "",
             f"TCG guest, {os.cpu_count()} vCPUs; ext4 on null_blk "
             f"(memory_backed); fio libaio direct, {RUNTIME} s per run, "
             f"median of {REPS} runs interleaved across devices, after "
             f"{WARMUP} s of unmeasured 4k random reads on each. "
             "WA = bytes written to the memory disk per byte fio wrote. "
             "CPU = busy time of the whole guest per I/O.", ""]
    if VDI_DIO:
        lines += [
            "vdi attached with the default --direct-io=auto: direct I/O "
            + ("in effect" if all(VDI_DIO.values()) else
               "NOT in effect" if not any(VDI_DIO.values()) else
               "in effect on some images only") + ".", ""]
    lines += table(results)
    if "vdi" in devices:
        secs, mem = attach_4t()
        lines += ["", f"Attach of a 4 TiB sparse image: {secs:.2f} s; kernel "
                  f"memory: Slab {mem['Slab']:+d} KiB, vmalloc "
                  f"{mem['VmallocUsed']:+d} KiB."]
    print("BENCH-BEGIN")
    print("\n".join(lines))
    print("BENCH-END", flush=True)


if __name__ == "__main__":
    main()
