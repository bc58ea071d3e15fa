"""Peak memory of one enlargement, measured in a fresh process (the parent reads its JSON line).

    python -m bench.memory engine 8000 [--tile T]     # Upscaler.upscale on an in-memory photo
    python -m bench.memory cli IN.png OUT.png         # the whole `sr-scale IN OUT` (decode + encode)
    python -m bench.memory engine-tiles 8000          # the largest tiles of 8000's plan only, peak projected

Peak RSS is the process's VmHWM from /proc/self/status (Linux), so imports, the model and the images
all count. Not ru_maxrss: Linux carries that over exec from the forking parent, so a child started by
a big benchmark process would report the parent's size.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import click

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (peak memory is measured on Linux only)")


def measure(command: list[str], timeout: float = 1800) -> dict:
    """Run `python -m bench.memory ...` in a child and return what it reports."""
    done = subprocess.run([sys.executable, "-m", "bench.memory", *command], capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        raise RuntimeError(lines[-1] if done.returncode > 0 else f"killed by signal {-done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@click.group()
def main() -> None:
    pass


@main.command()
@click.argument("size", type=int)
@click.option("--model", default="x2")
@click.option("--tile", type=int, default=None)
@click.option("--threads", type=int, default=0)
def engine(size: int, model: str, tile: int | None, threads: int) -> None:
    """Enlarge a SIZE x SIZE photo in memory; report seconds and peak RSS (MiB)."""
    from sr_scale.core.engine import Upscaler

    from .workload import photo

    upscaler = Upscaler(model, threads=threads, tile=tile)
    upscaler.upscale(photo(64))  # warm-up: onnxruntime plans its first runs
    image = photo(size)
    before = peak_rss_mib()
    started = time.perf_counter()
    sr = upscaler.upscale(image)
    seconds = time.perf_counter() - started
    plan = upscaler.plan(size, size)
    click.echo(json.dumps({"size": size, "tile": upscaler.tile, "grid": [plan.rows, plan.cols], "work_ratio": plan.work_ratio,
                           "workers": upscaler.workers, "seconds": seconds, "rss_before_mib": before,
                           "peak_rss_mib": peak_rss_mib(), "input_mib": image.nbytes / MIB, "output_mib": sr.nbytes / MIB}))


@main.command("engine-tiles")
@click.argument("size", type=int)
@click.option("--model", default="x2")
@click.option("--tiles", "count", type=int, default=4, help="Largest tiles of the plan to run (in flight as the engine runs them).")
def engine_tiles(size: int, model: str, count: int) -> None:
    """Peak RSS of SIZE x SIZE's default plan without running all of it: the input and a full output
    array are allocated, the `count` largest tiles run as the engine runs tiles (workers in flight);
    the projected peak adds the output pages those tiles did not touch. For sizes whose whole run
    takes too long here (8000x8000: ~40 min on a busy 2-core VM)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from sr_scale.core.engine import Upscaler
    from sr_scale.core.tiling import planned_tiles

    from .workload import photo

    upscaler = Upscaler(model)
    upscaler.upscale(photo(64))  # warm-up, as `engine`
    image = photo(size)
    s = upscaler.scale
    out = np.empty((size * s, size * s, 3), np.uint8)
    plan = upscaler.plan(size, size)
    grid = sorted(planned_tiles(size, size, plan, upscaler.info.receptive_radius),
                  key=lambda t: -(t.read_y1 - t.read_y0) * (t.read_x1 - t.read_x0))[:count]

    def enlarge(tile):
        lr = image[tile.read].astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        sr = upscaler.run(np.ascontiguousarray(lr))[0].transpose(1, 2, 0)
        out[tile.core_in_output(s)] = np.clip(np.rint(sr[tile.core_in_tile_output(s)] * 255), 0, 255)
        return (tile.core_y1 - tile.core_y0) * (tile.core_x1 - tile.core_x0) * s * s * 3

    started = time.perf_counter()
    with ThreadPoolExecutor(upscaler.workers) as pool:
        touched = sum(pool.map(enlarge, grid))
    peak = peak_rss_mib()
    click.echo(json.dumps({"size": size, "grid": [plan.rows, plan.cols], "largest_read": plan.max_read_pixels, "tiles_run": len(grid),
                           "workers": upscaler.workers, "seconds": time.perf_counter() - started, "peak_rss_mib": peak,
                           "projected_peak_rss_mib": peak + (out.nbytes - touched) / MIB, "output_mib": out.nbytes / MIB,
                           "limit_mib": 1.5 * out.nbytes / MIB + 300}))


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
def cli(source: str, target: str) -> None:
    """Run `sr-scale SOURCE TARGET` in this process; report seconds and peak RSS (MiB)."""
    from sr_scale.imagemagick_wrapper.cli import main as sr_scale

    started = time.perf_counter()
    sr_scale.main([source, target], standalone_mode=False)
    seconds = time.perf_counter() - started
    click.echo(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "output_file_mib": Path(target).stat().st_size / MIB}))


if __name__ == "__main__":
    main()
