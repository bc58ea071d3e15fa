"""Speed of the engine: output megapixels per second for square inputs of several sizes.

    python -m bench.speed --model x2 --sizes 256 --sizes 500 --sizes 1024 --repeat 3

Prints a table and, with --json, saves it. Model loading is excluded; the median of --repeat
runs after one warm-up is reported. Inputs are real photos (Set14 crops, tiled to size) when
../shared/data is present, else seeded noise.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from PIL import Image

from bench.workload import median_seconds

SHARED_PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval" / "Set14" / "baboon.png"


def test_image(size: int) -> np.ndarray:
    if SHARED_PHOTO.exists():
        photo = np.asarray(Image.open(SHARED_PHOTO).convert("RGB"))
        reps = (-(-size // photo.shape[0]), -(-size // photo.shape[1]), 1)
        return np.ascontiguousarray(np.tile(photo, reps)[:size, :size])
    return np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)


@click.command()
@click.option("--model", default="x2", show_default=True)
@click.option("--sizes", multiple=True, type=int, default=[256, 500, 1024], show_default=True, help="Input side in pixels.")
@click.option("--repeat", default=3, show_default=True)
@click.option("--threads", default=0, show_default=True)
@click.option("--tile", default=None, type=int, help="Tile side cap (default: the engine's plan per image).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False))
def main(model: str, sizes: list[int], repeat: int, threads: int, tile: int | None, json_path: str | None) -> None:
    from sr_scale.core.engine import Upscaler

    upscaler = Upscaler(model, threads=threads, tile=tile)
    rows = []
    click.echo(f"{'input':>11} {'output':>11} {'seconds':>8} {'out MP/s':>9}")
    for size in sizes:
        image = test_image(size)
        seconds = median_seconds(lambda: upscaler.upscale(image), repeat)
        out_mp = (size * upscaler.scale) ** 2 / 1e6
        rows.append({"input": size, "output": size * upscaler.scale, "seconds": seconds, "output_mp_per_s": out_mp / seconds})
        click.echo(f"{size:>5}x{size:<5} {size * 2:>5}x{size * 2:<5} {seconds:8.3f} {out_mp / seconds:9.2f}")
    if json_path:
        Path(json_path).write_text(json.dumps({"model": model, "tile": upscaler.tile, "threads": threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
