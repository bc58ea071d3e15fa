"""`sr-eval`: the standard x2 protocol, run through the same engine `sr-scale` uses.

HR is cropped to a multiple of the scale, LR is MATLAB bicubic (optionally saved as JPEG),
and the score is Y-PSNR / SSIM with `scale` pixels shaved, averaged per set (data/README.md).
Baseline "bicubic" is MATLAB bicubic upscaling of the same LR.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np

from .degradations import bicubic_downscale, crop_to_multiple, imresize, jpeg, to_uint8
from .image_io import read_rgb


@dataclass
class ImageScore:
    set: str
    image: str
    method: str
    y_psnr: float
    y_ssim: float
    rgb_psnr: float
    seconds: float


def make_lr(hr: np.ndarray, scale: int, jpeg_quality: int = 0) -> np.ndarray:
    """The protocol's LR of a (cropped) uint8 HR image; JPEG round trip when jpeg_quality > 0."""
    lr = bicubic_downscale(hr, scale)
    return jpeg(lr, jpeg_quality) if jpeg_quality else lr


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    h, w = lr.shape[:2]
    return to_uint8(imresize(lr, h * scale, w * scale))


def score(set_name: str, image: str, method: str, sr: np.ndarray, hr: np.ndarray, scale: int, seconds: float) -> ImageScore:
    from .metrics import rgb_psnr, y_psnr, y_ssim

    return ImageScore(set_name, image, method, y_psnr(sr, hr, scale), y_ssim(sr, hr, scale), rgb_psnr(sr, hr, scale), seconds)


def evaluate_folder(folder: Path, methods: dict, scale: int, jpeg_quality: int = 0) -> list[ImageScore]:
    """methods: name -> callable(lr uint8) -> sr uint8. One image in memory at a time."""
    from .data import list_images

    rows = []
    for path in list_images(folder):
        hr = crop_to_multiple(read_rgb(path), scale)
        lr = make_lr(hr, scale, jpeg_quality)
        for method, upscale in methods.items():
            started = time.perf_counter()
            sr = upscale(lr)
            rows.append(score(folder.name, path.name, method, sr, hr, scale, time.perf_counter() - started))
    return rows


def summarise(rows: list[ImageScore]) -> dict[str, dict[str, dict[str, float]]]:
    """{set: {method: {y_psnr, y_ssim, rgb_psnr, seconds, images}}} with means over images."""
    summary: dict = {}
    for row in rows:
        summary.setdefault(row.set, {}).setdefault(row.method, []).append(row)
    return {
        s: {m: {k: float(np.mean([getattr(r, k) for r in rs])) for k in ("y_psnr", "y_ssim", "rgb_psnr", "seconds")} | {"images": len(rs)} for m, rs in methods.items()}
        for s, methods in summary.items()
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--model", "models", multiple=True, default=["x2"], show_default=True, help="Embedded name or .onnx path (repeatable).")
@click.option("--jpeg", "jpeg_quality", type=click.IntRange(0, 100), default=0, help="Save LR as JPEG of this quality (0 = clean LR).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write per-set means and per-image rows here.")
@click.option("--threads", type=click.IntRange(min=0), default=0)
def main(folders, models, jpeg_quality, json_path, threads) -> None:
    """Score models and bicubic on folders of HR images with the standard x2 protocol."""
    from .engine import Upscaler

    upscalers = {m: Upscaler(m, threads=threads) for m in models}
    scale = next(iter(upscalers.values())).scale
    methods = {"bicubic": lambda lr: bicubic_upscale(lr, scale)} | {m: u.upscale for m, u in upscalers.items()}
    rows = [r for folder in folders for r in evaluate_folder(Path(folder), methods, scale, jpeg_quality)]
    summary = summarise(rows)
    click.echo(f"{'set':8} {'method':28} {'Y-PSNR':>8} {'SSIM':>7} {'RGB-PSNR':>9} {'s/img':>7}")
    for set_name, by_method in summary.items():
        for method, m in by_method.items():
            click.echo(f"{set_name:8} {method:28} {m['y_psnr']:8.3f} {m['y_ssim']:7.4f} {m['rgb_psnr']:9.3f} {m['seconds']:7.3f}")
    if json_path:
        Path(json_path).write_text(json.dumps({"jpeg_quality": jpeg_quality, "summary": summary, "images": [asdict(r) for r in rows]}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
