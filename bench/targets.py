"""Issue 16's targets, measured side by side in one run (ratios are what count on a busy machine).

- the engine's default (what `sr-scale` runs here) vs waifu2x upconv_7 photo (ncnn, 2 threads) at
  256x256 and 1024x1024: model loading excluded for both, median of `repeat` after one warm-up;
- a 96x96 thumbnail with 2 threads vs 1 (median of `thumb_repeat` after one warm-up);
- the whole `sr-scale IN OUT` on a 1024x1024 PNG vs waifu2x's whole process on the same file
  (start-up, model load, decode and encode included for both; median of `repeat`);
- executed / useful work of the default tile plan per input size (counted, not timed).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from . import peers, workload

WAIFU2X = next(p for p in peers.PEERS if p.name == "waifu2x-photo")


def wall_seconds(command: list[str], repeat: int) -> float:
    """Median wall-clock seconds of a whole process (no warm-up: start-up is part of what is timed)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=1800)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def engine_vs_waifu2x(model: str, sizes: tuple[int, ...], repeat: int, scratch: Path) -> list[dict]:
    from sr_scale.core.engine import Upscaler

    upscaler = Upscaler(model)
    python = peers.peers_python()
    rows = []
    for size in sizes:
        image = workload.photo(size)
        out_mp = (size * upscaler.scale) ** 2 / 1e6
        plan = upscaler.plan(size, size)
        row = {"input": size, "precision": upscaler.precision, "workers": upscaler.workers, "grid": [plan.rows, plan.cols],
               "work_ratio": plan.work_ratio, "engine_seconds": workload.median_seconds(lambda: upscaler.upscale(image), repeat)}
        row["engine_mp_per_s"] = out_mp / row["engine_seconds"]
        if python is None:
            row["waifu2x"] = "skipped: no peers venv (SR_PEERS_VENV)"
        else:
            source = scratch / f"targets{size}.png"
            Image.fromarray(image).save(source, compress_level=1)
            row["waifu2x_seconds"] = peers.run_peer(python, WAIFU2X, source, scratch / "waifu2x-out.png", repeat, threads=2)
            row["waifu2x_mp_per_s"] = out_mp / row["waifu2x_seconds"]
            row["engine_vs_waifu2x"] = row["engine_mp_per_s"] / row["waifu2x_mp_per_s"]
        rows.append(row)
    return rows


def thumbnail_threads(model: str, size: int, repeat: int) -> dict:
    from sr_scale.core.engine import Upscaler

    image = workload.photo(size)
    one, two = Upscaler(model, threads=1), Upscaler(model, threads=2)
    result = {"input": size, "seconds_1_thread": workload.median_seconds(lambda: one.upscale(image), repeat),
              "seconds_2_threads": workload.median_seconds(lambda: two.upscale(image), repeat),
              "grid_2_threads": [two.plan(size, size).rows, two.plan(size, size).cols]}
    result["speedup"] = result["seconds_1_thread"] / result["seconds_2_threads"]
    return result


def whole_command(size: int, repeat: int, scratch: Path) -> dict:
    source = scratch / f"whole{size}.png"
    Image.fromarray(workload.photo(size)).save(source, compress_level=1)
    sr_scale = Path(sys.executable).parent / "sr-scale"
    result = {"input": size, "sr_scale_seconds": wall_seconds([str(sr_scale), str(source), str(scratch / "whole-sr.png")], repeat)}
    python = peers.peers_python()
    if python is None:
        result["waifu2x"] = "skipped: no peers venv (SR_PEERS_VENV)"
        return result
    command = [str(python), str(peers.PEERS_DIR / WAIFU2X.script), WAIFU2X.name, str(source), str(scratch / "whole-w2x.png"),
               "--threads", "2"]
    result["waifu2x_process_seconds"] = wall_seconds(command, repeat)
    result["sr_scale_vs_waifu2x"] = result["waifu2x_process_seconds"] / result["sr_scale_seconds"]
    return result


def work_ratios(model: str, sizes: tuple[int, ...]) -> list[dict]:
    """Executed / useful work of the default plan and of the old square tiles (128) per size."""
    from sr_scale.core.engine import DEFAULT_TILE, Upscaler
    from sr_scale.core.tiling import tiles

    upscaler = Upscaler(model)
    overlap = upscaler.info.receptive_radius
    rows = []
    for size in sizes:
        plan = upscaler.plan(size, size)
        square = sum((t.read_y1 - t.read_y0) * (t.read_x1 - t.read_x0) for t in tiles(size, size, DEFAULT_TILE, overlap))
        rows.append({"input": size, "grid": [plan.rows, plan.cols], "largest_read": plan.max_read_pixels,
                     "work_ratio": plan.work_ratio, "square_128_work_ratio": square / (size * size)})
    return rows
