"""Throughput: `sr-scale-ray` on a Ray started on this machine vs `sr-scale --jobs`, on the same
product photos with the same model. Every timing is a fresh process from start to exit, so Ray's
start-up (and sr-scale's model load) is included; Ray's start-up alone is timed too, because it is
what a short job pays and a long one amortises.

    python -m bench.ray_vs_jobs [--count 32] [--side 320] [--cpus 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .batch import make_products, time_sr_scale


def ray_command() -> list[str]:
    return [sys.executable, "-m", "sr_scale.ray_batch.cli"]


def time_sr_scale_ray(folder: Path, out_dir: Path, cpus: int, actors: int | None = None, threads: int | None = None) -> float:
    """Seconds for sr-scale-ray to enlarge every file of `folder` into out_dir on a local Ray."""
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [*ray_command(), str(folder), "-o", str(out_dir), "--num-cpus", str(cpus), "--object-store-mb", "512"]
    command += ["--actors", str(actors)] if actors else []
    command += ["--threads", str(threads)] if threads else []
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def time_ray_start(cpus: int) -> float:
    """Seconds to start and stop a local Ray in a fresh Python: the fixed cost of every job."""
    code = ("import ray, logging; ray.init(num_cpus=%d, include_dashboard=False, logging_level=logging.WARNING); "
            "ray.shutdown()" % cpus)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=32, help="product photos")
    parser.add_argument("--side", type=int, default=320, help="input side in pixels (output is twice that)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs for Ray and --jobs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sr-bench-ray-") as work:
        folder = Path(work) / "in"
        files = make_products(folder, args.count, args.side)
        runs = [
            ("sr-scale --jobs 1 --threads 0", lambda out: time_sr_scale(files, out, jobs=1, threads=0)),
            (f"sr-scale --jobs {args.cpus} --threads 1", lambda out: time_sr_scale(files, out, jobs=args.cpus, threads=1)),
            (f"sr-scale-ray --num-cpus {args.cpus} (default: {args.cpus} actors x 1 thread)",
             lambda out: time_sr_scale_ray(folder, out, args.cpus)),
            (f"sr-scale-ray --num-cpus {args.cpus} --actors 1 --threads {args.cpus}",
             lambda out: time_sr_scale_ray(folder, out, args.cpus, actors=1, threads=args.cpus)),
        ]
        print(f"{args.count} product photos, {args.side}x{args.side} JPEG -> {2 * args.side}x{2 * args.side}, model x2, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start\n")
        print("| command | seconds | images/s |\n|---|---:|---:|")
        for index, (name, run) in enumerate(runs):
            seconds = run(Path(work) / f"out{index}")
            print(f"| `{name}` | {seconds:.1f} | {args.count / seconds:.2f} |", flush=True)
        print(f"\nRay start + stop alone: {time_ray_start(args.cpus):.1f} s; "
              f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
