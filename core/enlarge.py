"""From a decoded picture to the enlarged picture at the exact requested size.

The model sees RGB only; grey and alpha are handled here:
- grey (L, LA) is run as three equal channels and brought back to one (the mean), so grey stays grey;
- alpha is enlarged with premultiplied colour: colour x alpha and alpha itself (as grey) both go
  through the model, alpha is clamped to its input neighbourhood, then colour is divided by the
  enlarged alpha. Colour under transparent pixels (often black or junk) then weighs nothing, so
  edges get no dark or light fringe. Measured on real cut-outs (docs/cli.md): edge PSNR over
  black/white 25.6/27.9 dB against 19.4/22.7 dB for straight colour with a resampled alpha.
The model makes as many passes as the enlargement needs; a Lanczos resample then reaches the exact
size (also the only step when nothing is enlarged).

`through_model` needs numpy only (Pillow and the metadata module are imported where they are used),
so GIMP's own Python runs this very code from a self-contained plug-in bundle without Pillow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from sr_scale.core.image_io import Picture


@dataclass(frozen=True)
class Plan:
    """How to reach the output: `passes` model passes (0 = no model), then resample to `size` (w, h)."""

    passes: int
    size: tuple[int, int]


def plan_for(width: int, height: int, size: tuple[int, int], model_scale: int) -> Plan:
    """The fewest model passes whose enlargement reaches `size` on both axes."""
    factor = max(size[0] / width, size[1] / height)
    if factor <= 1:
        return Plan(0, size)
    # The small tolerance keeps an exact 4.0 from becoming three passes through float error.
    return Plan(max(1, math.ceil(math.log(factor, model_scale) - 1e-9)), size)


def enlarge(picture: Picture, plan: Plan, upscale: Callable[[np.ndarray, int], np.ndarray] | None) -> Picture:
    """Apply `plan`; `upscale(rgb, passes)` is the model (Upscaler.upscale), needed when plan.passes > 0."""
    from sr_scale.core.metadata import for_new_size

    pixels = picture.pixels
    if plan.passes:
        pixels = through_model(pixels, lambda rgb: upscale(rgb, plan.passes))
    if (pixels.shape[1], pixels.shape[0]) != plan.size:
        pixels = resample(pixels, plan.size)
    width, height = plan.size
    metadata = for_new_size(picture.metadata, width, height, width / picture.width, height / picture.height)
    return replace(picture, pixels=pixels, metadata=metadata)


def through_model(pixels: np.ndarray, model: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(H, W, 1-4) uint8/uint16 pixels enlarged by `model` (RGB in, RGB out), grey and alpha as above."""
    channels = pixels.shape[2]
    peak = np.iinfo(pixels.dtype).max
    if channels in (1, 3):
        return _colour_through_model(pixels, model)
    colour, alpha = pixels[..., :-1], pixels[..., -1:]
    if (alpha == peak).all():  # opaque: alpha needs no model pass
        sr = _colour_through_model(colour, model)
        return np.concatenate([sr, np.full(sr.shape[:2] + (1,), peak, sr.dtype)], axis=2)
    weight = alpha.astype(np.float32) / peak
    sr_premultiplied = _colour_through_model(np.rint(colour * weight).astype(pixels.dtype), model).astype(np.float32)
    sr_alpha = _colour_through_model(alpha, model)
    sr_alpha = _within_neighbourhood(sr_alpha, alpha)
    sr_weight = sr_alpha.astype(np.float32) / peak
    with np.errstate(divide="ignore", invalid="ignore"):
        sr_colour = np.where(sr_weight > 0, sr_premultiplied / sr_weight, 0)
    sr_colour = np.clip(np.rint(sr_colour), 0, peak).astype(pixels.dtype)
    return np.concatenate([sr_colour, sr_alpha], axis=2)


def _within_neighbourhood(sr_alpha: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Clamp enlarged alpha to the min..max of each input pixel's 3x3 neighbourhood, so fully
    transparent areas stay exactly 0, opaque ones exactly opaque, and edges cannot ring or halo.
    """
    lr = alpha[..., 0]
    padded = np.pad(lr, 1, mode="edge")
    windows = [padded[dy : dy + lr.shape[0], dx : dx + lr.shape[1]] for dy in range(3) for dx in range(3)]
    low, high = np.minimum.reduce(windows), np.maximum.reduce(windows)
    factor = sr_alpha.shape[0] // lr.shape[0]
    low = np.repeat(np.repeat(low, factor, axis=0), factor, axis=1)[..., None]
    high = np.repeat(np.repeat(high, factor, axis=0), factor, axis=1)[..., None]
    return np.clip(sr_alpha, low, high)


def _colour_through_model(colour: np.ndarray, model: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Grey (1 channel) goes through as three equal channels and comes back as their mean."""
    if colour.shape[2] == 3:
        return model(np.ascontiguousarray(colour))
    sr = model(np.ascontiguousarray(np.repeat(colour, 3, axis=2)))
    return np.rint(sr.mean(axis=2, keepdims=True)).astype(colour.dtype)


def resample(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos resample of every channel to size (w, h), in float so 16 bits survive."""
    from PIL import Image

    peak = np.iinfo(pixels.dtype).max
    channels = [
        np.asarray(Image.fromarray(pixels[..., c].astype(np.float32), "F").resize(size, Image.Resampling.LANCZOS))
        for c in range(pixels.shape[2])
    ]
    return np.clip(np.rint(np.stack(channels, axis=2)), 0, peak).astype(pixels.dtype)
