"""The thread plan: how many CPUs this process may really use, and how the engine, batches and
Ray spend them. The one place where a thread budget is computed.

os.cpu_count() counts the host's cores. A process pinned to a few of them (taskset, a Ray
worker, Kubernetes' static CPU manager) or a container with a CPU quota (cgroup cpu.max) gets
fewer, and one thread per host core would oversubscribe what it has: a container with 2 CPUs on
a 64-core host would run 64 threads and be throttled.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ThreadPlan:
    """How one engine spends its CPUs: `workers` model runs in flight at once (tiles of an image),
    each with `threads` onnxruntime intra-op threads. Both >= 1."""

    workers: int
    threads: int


@dataclass(frozen=True)
class BatchPlan:
    """Files enlarged at once (`jobs`) and the engine threads each job gets (0 = the engine's plan)."""

    jobs: int
    threads: int


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs granted by the cgroup quota (quota / period; e.g. 1.5), or None when unlimited or unknown.

    cgroup v2: the tightest cpu.max from this process's cgroup up to the root (a parent's quota
    caps its children). cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller.
    """
    limits: list[float] = []
    for folder in _cgroup_v2_folders(root, self_cgroup):
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota != "max" and int(period) > 0:
            limits.append(int(quota) / int(period))
    for v1 in (root / "cpu", root / "cpu,cpuacct"):
        try:
            quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
            period_us = int((v1 / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        if quota_us > 0 and period_us > 0:
            limits.append(quota_us / period_us)
    return min(limits) if limits else None


def _cgroup_v2_folders(root: Path, self_cgroup: Path) -> list[Path]:
    """This process's cgroup v2 folder and its parents up to the mount root (inside a container,
    the root is the container's own cgroup)."""
    relative = ""
    try:
        for line in self_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                relative = line[3:].strip().lstrip("/")
    except OSError:
        pass
    folder = root / relative
    folders = [folder]
    while folder != root and root in folder.parents:
        folder = folder.parent
        folders.append(folder)
    return folders


def usable_cpus() -> int:
    """CPUs this process can really run on: its affinity mask, capped by the cgroup quota (rounded
    down, at least 1: a thread over the quota only gets throttled). os.cpu_count() where neither is known."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, max(1, math.floor(limit)))
    return max(1, cpus)


def plan_engine(threads: int = 0, parallel_tiles: bool = True, cpus: int | None = None) -> ThreadPlan:
    """The engine's plan for `threads` CPUs (0 = all usable ones).

    On CPU with tiling, whole tiles run in parallel, one thread each: onnxruntime's intra-op
    threads scale poorly on this small RDN (2 threads: 1.26x for int8, 1.56x for float32 on 2
    cores), tiles in parallel almost linearly (docs/performance.md). On GPU, or with one tile for
    the whole image, one run at a time with every thread.
    """
    budget = threads or cpus or usable_cpus()
    if parallel_tiles and budget > 1:
        return ThreadPlan(workers=budget, threads=1)
    return ThreadPlan(workers=1, threads=budget)


def plan_batch(jobs: int = 0, threads: int = 0, cpus: int | None = None) -> BatchPlan:
    """A batch's plan: `jobs` files at once (0 = one per usable CPU), each engine sharing the CPUs
    (threads 0 = CPUs / jobs when several jobs run, else the engine's own plan).

    Files in parallel, one thread each by default: decoding and encoding then overlap inference
    (200 product JPEGs: 1.80 output MP/s vs 1.25 with one file at a time, docs/performance.md).
    """
    cpus = cpus or usable_cpus()
    jobs = jobs or cpus
    if threads == 0 and jobs > 1:
        threads = max(1, cpus // jobs)  # share the CPUs instead of oversubscribing them
    return BatchPlan(jobs, threads)
