"""Calibration LR crops for the int8 exporter: from the user's own photos, or synthesised.

Both give float32 (1, 3, side, side) RGB crops in [0, 1] of protocol LR images (HR bicubic / 2,
core.degradations), all the same size because onnxruntime's histogram calibrators stack them.

Without photos, the crops are "dead leaves" images (Lee, Mumford & Huang 2001: overlapping opaque
discs with a power-law size distribution), a standard stand-in for natural photos: their power
spectrum falls off like a photo's and they have edges of every contrast, size and orientation,
which is what sets a super-resolution network's activation ranges. They are made here from a seed,
so an installed package calibrates without any data (what this costs: docs/performance.md, int8).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from sr_scale.core.degradations import bicubic_downscale, crop_to_multiple
from sr_scale.core.image_io import FORMATS, ImageError, read_rgb

SCALE = 2  # the LR the network sees is half the HR it was trained on (the x2 protocol)


class CalibrationError(Exception):
    """No usable calibration images (folder missing, empty, or images too small); the message says which."""


def photo_crops(sources: Iterable[str | os.PathLike], count: int, side: int, seed: int = 0) -> list[np.ndarray]:
    """`count` side x side LR crops of the photos in `sources` (files, or folders searched recursively).

    The photos are visited in a seeded random order, one random crop each; when there are fewer
    usable photos than `count`, further rounds take new crops of the same photos. A photo is usable
    when its LR is at least `side` pixels a side (HR 2 * side).
    """
    paths = sorted(_image_files(sources))
    if not paths:
        raise CalibrationError(f"no images ({', '.join(sorted(FORMATS))}) in {', '.join(map(str, sources))}")
    rng = np.random.default_rng(seed)
    crops: list[np.ndarray] = []
    usable: list[np.ndarray] = []  # LR images kept for further rounds only when one round is not enough
    for path in rng.permutation(paths):
        try:
            lr = bicubic_downscale(crop_to_multiple(read_rgb(path), SCALE), SCALE)
        except ImageError as error:
            raise CalibrationError(str(error)) from None
        if min(lr.shape[:2]) < side:
            continue
        crops.append(_crop(lr, side, rng))
        if len(crops) == count:
            return crops
        if len(usable) < count:
            usable.append(lr)
    if not usable:
        raise CalibrationError(f"no image of at least {SCALE * side} pixels a side in {', '.join(map(str, sources))}")
    while len(crops) < count:
        for lr in usable[: count - len(crops)]:
            crops.append(_crop(lr, side, rng))
    return crops


def _image_files(sources: Iterable[str | os.PathLike]) -> list[Path]:
    files = []
    for source in map(Path, sources):
        if source.is_dir():
            files += [p for p in source.rglob("*") if p.suffix.lower() in FORMATS and p.is_file()]
        elif source.is_file():
            files.append(source)
        else:
            raise CalibrationError(f"{source}: no such file or folder")
    return files


def synthetic_crops(count: int, side: int, seed: int = 0) -> list[np.ndarray]:
    """`count` side x side LR crops of dead-leaves images (module docstring), the same for a seed."""
    rng = np.random.default_rng(seed)
    return [bicubic_downscale(dead_leaves(SCALE * side, rng), SCALE) for _ in range(count)]


def canvas_crops(count: int, side: int, seed: int = 0, text_px: tuple[int, int] = (8, 20)) -> list[np.ndarray]:
    """`count` side x side LR crops of rendered catalog canvases (core/synthetic.py: product text in
    the training fonts, badges, boxes on white, flat or gradient backgrounds), for models trained on
    them: sharp glyph edges drive activations past the ranges photos set. text_px: font sizes in HR
    pixels, as the text models' training configs."""
    from sr_scale.core.synthetic import render_canvas

    rng = np.random.default_rng(seed)
    return [bicubic_downscale(render_canvas(rng, (SCALE * side, SCALE * side), text_px=text_px), SCALE) for _ in range(count)]


def dead_leaves(side: int, rng: np.random.Generator, discs: int = 3000) -> np.ndarray:
    """An HR side x side uint8 RGB dead-leaves image: discs of radius 1 px to `side` (density ~ r^-3,
    so there are edges at every scale), colours with photo-like correlated channels, smooth
    shading, camera-like blur (Gaussian, 0.4-1.2 px) and sensor noise (sigma 0-3 levels)."""
    image = Image.new("RGB", (side, side), _colour(rng))
    draw = ImageDraw.Draw(image)
    low, high = 1.0, float(side)
    radii = (low**-2 - rng.random(discs) * (low**-2 - high**-2)) ** -0.5  # inverse CDF of r^-3 on [low, high]
    centres = rng.random((discs, 2)) * side
    for (x, y), r in zip(centres, radii):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.2))))
    pixels = np.asarray(image, np.float32)
    ramp = np.linspace(-1, 1, side, dtype=np.float32)
    shading = 1 + rng.uniform(-0.25, 0.25) * ramp[None, :, None] + rng.uniform(-0.25, 0.25) * ramp[:, None, None]
    noise = rng.normal(0, rng.uniform(0, 3), pixels.shape).astype(np.float32)
    return np.clip(np.rint(pixels * shading + noise), 0, 255).astype(np.uint8)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A colour as photos have them: mostly brightness, with a smaller chroma (channels correlated)."""
    level = rng.uniform(0, 255)
    rgb = np.clip(level + rng.normal(0, 35, 3), 0, 255)
    return tuple(int(v) for v in rgb)


def _crop(lr: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    y, x = (int(rng.integers(0, n - side + 1)) for n in lr.shape[:2])
    return lr[y : y + side, x : x + side]


def as_feeds(crops: list[np.ndarray], input_name: str) -> list[dict[str, np.ndarray]]:
    """uint8 (side, side, 3) crops -> the model's float32 (1, 3, side, side) inputs in [0, 1]."""
    return [{input_name: np.ascontiguousarray(crop.astype(np.float32).transpose(2, 0, 1)[None] / 255)} for crop in crops]
