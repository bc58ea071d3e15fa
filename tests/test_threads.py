"""The thread plan (core/threads.py): affinity and cgroup quotas, used by the engine and batches."""
from __future__ import annotations

import subprocess
import sys

import pytest

from sr_scale.core import threads
from sr_scale.core.threads import cgroup_cpu_limit, plan_batch, plan_engine, usable_cpus


def _cgroup(tmp_path, relative: str, limits: dict[str, str]):
    """A fake cgroup v2 tree: cpu.max per folder (relative to the root), and /proc/self/cgroup."""
    root = tmp_path / "cgroup"
    for folder, cpu_max in limits.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "cpu.max").write_text(cpu_max + "\n")
    (root / relative).mkdir(parents=True, exist_ok=True)
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(f"0::/{relative}\n")
    return root, self_cgroup


def test_cgroup_v2_quota_is_read_as_cpus(tmp_path):
    root, self_cgroup = _cgroup(tmp_path, "", {"": "150000 100000"})
    assert cgroup_cpu_limit(root, self_cgroup) == 1.5


def test_unlimited_cgroup_is_none(tmp_path):
    root, self_cgroup = _cgroup(tmp_path, "", {"": "max 100000"})
    assert cgroup_cpu_limit(root, self_cgroup) is None


def test_a_parent_quota_caps_a_nested_cgroup(tmp_path):
    root, self_cgroup = _cgroup(tmp_path, "kubepods/pod1/ctr", {"kubepods": "400000 100000", "kubepods/pod1": "200000 100000",
                                                               "kubepods/pod1/ctr": "max 100000"})
    assert cgroup_cpu_limit(root, self_cgroup) == 2.0


def test_cgroup_v1_quota(tmp_path):
    v1 = tmp_path / "cgroup" / "cpu,cpuacct"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path / "cgroup", tmp_path / "missing") == 3.0


def test_usable_cpus_is_capped_by_the_quota_rounded_down(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 2.5)
    assert usable_cpus() == 2
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 0.5)
    assert usable_cpus() == 1
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
    assert usable_cpus() == 64


def test_a_process_pinned_to_one_core_plans_one_worker():
    """Real affinity (taskset): the engine and a batch plan one CPU, whatever os.cpu_count() says."""
    code = ("import os\nfrom sr_scale.core.threads import usable_cpus, plan_batch\nfrom sr_scale.core.engine import Upscaler\n"
            "print(usable_cpus(), plan_batch().jobs, Upscaler('x2').workers, os.cpu_count())")
    done = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cpus, jobs, workers, host = map(int, done.stdout.split())
    assert (cpus, jobs, workers) == (1, 1, 1) and host >= 1


@pytest.mark.parametrize("threads_asked, parallel, expected", [
    (0, True, (4, 1)), (2, True, (2, 1)), (1, True, (1, 1)), (0, False, (1, 4)), (3, False, (1, 3)),
])
def test_engine_plan(threads_asked, parallel, expected):
    plan = plan_engine(threads_asked, parallel_tiles=parallel, cpus=4)
    assert (plan.workers, plan.threads) == expected


def test_batch_plan_shares_the_cpus():
    assert plan_batch(0, 0, cpus=4) == threads.BatchPlan(4, 1)
    assert plan_batch(2, 0, cpus=4) == threads.BatchPlan(2, 2)
    assert plan_batch(1, 0, cpus=4) == threads.BatchPlan(1, 0)  # one job: the engine's own plan
    assert plan_batch(3, 2, cpus=4) == threads.BatchPlan(3, 2)  # asked for: kept
