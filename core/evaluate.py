"""The evaluation protocol of `sr-eval`: the standard x2 protocol, run through the engine `sr-scale` uses.

HR is cropped to a multiple of the scale, LR is MATLAB bicubic (optionally saved as JPEG),
and the score is Y-PSNR / SSIM with `scale` pixels shaved, averaged per set (data/README.md).
Every method (models and baselines) sees the same LR pixels. Images are handled one at a
time, so memory is bounded by one image and its outputs whatever the size of the folder.

A library: errors are EvalError (MethodChoiceError for a wrong choice of methods), never click's;
the command line lives in eval_cli.py, the result files in results.py.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .baselines import FileUpscaler, Upscale, bicubic
from .data import list_images
from .degradations import bicubic_downscale, crop_to_multiple, jpeg
from .image_io import read_rgb, write_rgb

METRICS = ("y_psnr", "y_ssim", "rgb_psnr", "seconds")


class EvalError(Exception):
    """The evaluation cannot go on (no images, a method returned the wrong size, ...)."""


class MethodChoiceError(EvalError):
    """The methods asked for cannot be evaluated together (a name twice, a reference not among them, ...)."""


@dataclass
class ImageScore:
    """One method on one image. PSNR in dB (peak 255), SSIM in [-1, 1], seconds of wall time."""

    set: str
    image: str
    method: str
    y_psnr: float
    y_ssim: float
    rgb_psnr: float
    seconds: float


@dataclass
class ImageResult:
    """Everything known about one HR image once every method has run; handed to the report.

    hr and the SR outputs are uint8 (H, W, 3); lr is uint8 (H/s, W/s, 3).
    """

    set: str
    image: str
    hr: np.ndarray
    lr: np.ndarray
    sr: dict[str, np.ndarray]
    scores: dict[str, ImageScore]


def make_lr(hr: np.ndarray, scale: int, jpeg_quality: int = 0) -> np.ndarray:
    """The protocol's LR of a (cropped) uint8 HR image; JPEG round trip when jpeg_quality > 0."""
    lr = bicubic_downscale(hr, scale)
    return jpeg(lr, jpeg_quality) if jpeg_quality else lr


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The protocol's bicubic baseline: MATLAB imresize of the LR back to HR size."""
    return bicubic(scale)(lr)


def score(set_name: str, image: str, method: str, sr: np.ndarray, hr: np.ndarray, scale: int, seconds: float) -> ImageScore:
    from .metrics import rgb_psnr, y_psnr, y_ssim

    return ImageScore(set_name, image, method, y_psnr(sr, hr, scale), y_ssim(sr, hr, scale), rgb_psnr(sr, hr, scale), seconds)


def load_hr(path: Path, scale: int) -> np.ndarray:
    """HR as the protocol wants it: RGB (grey as three equal planes), cropped to a multiple of scale."""
    hr = crop_to_multiple(read_rgb(path), scale)
    if min(hr.shape[:2]) < 4 * scale:
        raise EvalError(f"{path}: {hr.shape[1]}x{hr.shape[0]} is too small to evaluate at x{scale}")
    return hr


def run_file_methods(
    paths: list[Path], methods: dict[str, FileUpscaler], scale: int, jpeg_quality: int, work: Path,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, tuple[list[Path], list[float]]]:
    """Write each image's LR once as PNG (lossless, so the pixels are exactly the protocol's LR)
    and let every file-based method process the whole list in one go."""
    lr_files = []
    for i, path in enumerate(paths):
        lr_files.append(work / "lr" / f"{i:06d}.png")
        lr_files[-1].parent.mkdir(exist_ok=True)
        write_rgb(make_lr(load_hr(path, scale), scale, jpeg_quality), lr_files[-1])
    outputs = {}
    for k, (name, method) in enumerate(methods.items()):
        if on_progress:
            on_progress(f"{name} on {len(paths)} images", 0)
        folder = work / f"sr{k}"
        folder.mkdir()
        sr_files = [folder / f"{i:06d}.png" for i in range(len(paths))]
        outputs[name] = (sr_files, method.upscale_files(list(zip(lr_files, sr_files)), scale))
    return outputs


def evaluate_folder(
    folder: Path,
    methods: dict[str, Upscale | FileUpscaler],
    scale: int,
    jpeg_quality: int = 0,
    on_image: Callable[[ImageResult], None] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> list[ImageScore]:
    """Score every method on every image of an HR folder (searched recursively).

    methods: name -> in-process callable (lr uint8 -> sr uint8) or FileUpscaler.
    on_image gets each image's full result (for pictures) before the next image is read;
    on_progress(note, images_done) is called before each file-method batch (0 images done)
    and after each image (1 done).
    """
    folder = Path(folder)
    paths = list_images(folder)
    if not paths:
        raise EvalError(f"{folder}: no images (png, jpg, webp, bmp, tif) found")
    file_methods = {name: m for name, m in methods.items() if isinstance(m, FileUpscaler)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sr-eval-") as work:
        outputs = run_file_methods(paths, file_methods, scale, jpeg_quality, Path(work), on_progress) if file_methods else {}
        for i, path in enumerate(paths):
            name = path.relative_to(folder).as_posix()
            hr = load_hr(path, scale)
            lr = make_lr(hr, scale, jpeg_quality)
            result = ImageResult(folder.name, name, hr, lr, {}, {})
            for method, upscale in methods.items():
                if method in outputs:
                    sr_files, seconds = outputs[method]
                    sr, elapsed = read_rgb(sr_files[i]), seconds[i]
                else:
                    started = time.perf_counter()
                    sr = upscale(lr)
                    elapsed = time.perf_counter() - started
                if sr.shape != hr.shape:
                    raise EvalError(f"{method} made {sr.shape[1]}x{sr.shape[0]} of {name}, expected {hr.shape[1]}x{hr.shape[0]}")
                result.sr[method] = sr
                result.scores[method] = score(folder.name, name, method, sr, hr, scale, elapsed)
                rows.append(result.scores[method])
            if on_image:
                on_image(result)
            if on_progress:
                on_progress(f"{folder.name}/{name}", 1)
    return rows


def summarise(rows: list[ImageScore]) -> dict[str, dict[str, dict[str, float]]]:
    """{set: {method: {y_psnr, y_ssim, rgb_psnr, seconds, images}}} with means over images."""
    summary: dict = {}
    for row in rows:
        summary.setdefault(row.set, {}).setdefault(row.method, []).append(row)
    return {
        s: {m: {k: float(np.mean([getattr(r, k) for r in rs])) for k in METRICS} | {"images": len(rs)} for m, rs in methods.items()}
        for s, methods in summary.items()
    }


def gains(rows: list[ImageScore], reference: str) -> dict[tuple[str, str], dict[str, float]]:
    """Y-PSNR of every other method minus the reference's, per image: {(set, image): {method: dB}}."""
    by_image: dict[tuple[str, str], dict[str, float]] = {}
    for row in rows:
        by_image.setdefault((row.set, row.image), {})[row.method] = row.y_psnr
    return {key: {m: v - scores[reference] for m, v in scores.items() if m != reference} for key, scores in by_image.items()}


def build_methods(
    models: Iterable[str], baselines: Iterable[str], externals: Iterable[tuple[str, FileUpscaler]], reference: str, threads: int,
    tta: bool = False, precision: str = "auto",
) -> tuple[dict[str, Upscale | FileUpscaler], dict, int]:
    """Baselines, external commands and models by display name, the models' Upscalers, and the scale.

    A model is named after its embedded name or its file's stem, plus ".int8" when the engine runs
    its int8 copy in its place (precision). Names must be unique.
    """
    from .baselines import baseline, default_baselines
    from .engine import Upscaler, model_path

    upscalers = {}
    for m in models:
        upscaler = Upscaler(m, threads=threads, tta=tta, precision=precision)
        name = Path(m).stem if m.lower().endswith(".onnx") else m
        upscalers[name + (f".{upscaler.precision}" if upscaler.path != model_path(m) else "")] = upscaler
    for upscaler in upscalers.values():
        # onnxruntime allocates its buffers on the first run: keep that out of the first image's time.
        upscaler.upscale(np.zeros((16, 16, 3), np.uint8))
    scales = {u.scale for u in upscalers.values()}
    if len(scales) > 1:
        raise MethodChoiceError(f"the models have different scales ({sorted(scales)}): evaluate them separately")
    scale = scales.pop() if scales else 2
    externals = list(externals)
    names = list(baselines or default_baselines()) + [name for name, _ in externals] + list(upscalers)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MethodChoiceError(f"two methods are named {duplicates[0]!r}: rename the --external one or the model file")
    methods: dict[str, Upscale | FileUpscaler] = {name: baseline(name, scale) for name in (baselines or default_baselines())}
    methods |= dict(externals)
    if reference not in methods:
        raise MethodChoiceError(f"--reference {reference!r} is not among the baselines ({', '.join(methods)})")
    methods |= {name: u.upscale for name, u in upscalers.items()}
    return methods, upscalers, scale
