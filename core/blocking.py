"""JPEG blocking in pixels that no longer say how they were compressed (a JPEG re-saved as PNG, TIFF
or BMP): the 8x8 grid JPEG quantises on leaves steps between blocks that the inside of a block has not.

The measure: in flat parts of the luma plane, how much each step between neighbouring columns
(and rows) exceeds the steps beside it, averaged per position modulo 8; a JPEG's grid shows as one
phase standing out above the other seven. Blockiness is that phase's excess over the median of
the other seven, relative to the picture's step size, in the direction where it stands out least
(both must: a grid is two-dimensional). The phase is searched, so a crop or a screenshot of a
JPEG is still found. The threshold and its measured accuracy are in docs/cli.md ("What is detected").
"""
from __future__ import annotations

import numpy as np

BLOCK = 8  # JPEG's DCT block side, in pixels of the luma plane
MIN_SIDE = 4 * BLOCK  # smaller images carry too few block edges to tell
MAX_SIDE = 1024  # larger images are judged on their centre (the phase search copes with any offset)
# Blockiness from which an image counts as a JPEG re-save; chosen on the training photos
# (bench/input_aware.py --blocking), measured on the evaluation sets (docs/cli.md).
BLOCKED_FROM = 0.5
FLAT_STEP = 4.0  # luma levels (of 255): steps beside a position under this make it "flat"
MIN_ACTIVITY = 0.5  # luma levels: floor of the step size a grid is measured against (flat images)


def luma(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma as float32 (JPEG's own Y) of uint8/uint16 grey, grey+alpha, RGB or RGBA pixels."""
    colour = pixels[..., :3] if pixels.shape[2] >= 3 else pixels[..., :1]
    scale = 255.0 / np.iinfo(pixels.dtype).max
    if colour.shape[2] == 1:
        return colour[..., 0].astype(np.float32) * scale
    weights = np.array([0.299, 0.587, 0.114], np.float32) * scale
    return colour.astype(np.float32) @ weights


def _grid_strength(y: np.ndarray, axis: int) -> float:
    """How far the strongest 8-periodic phase of steps along `axis` stands out, in units of the
    image's step size, counted where the picture is flat.

    A step is |difference| of neighbours; its excess is the step minus the mean of the two steps
    beside it (a blocking edge is a step between flat runs). Only positions whose neighbouring steps
    are under FLAT_STEP levels count: in texture a grid is invisible and the steps there are noise.
    """
    steps = np.abs(np.diff(y, axis=axis))
    if axis == 0:
        steps = steps.T
    centre, beside = steps[:, 1:-1], (steps[:, :-2] + steps[:, 2:]) / 2
    flat = beside < FLAT_STEP
    counted = np.maximum(flat.sum(axis=0), 1)
    excess = np.where(flat, centre - beside, 0).sum(axis=0) / counted
    usable = len(excess) // BLOCK * BLOCK
    phases = excess[:usable].reshape(-1, BLOCK).mean(axis=0)
    strongest = int(np.argmax(phases))
    activity = max(float(np.where(flat, centre, 0).sum() / max(flat.sum(), 1)), MIN_ACTIVITY)
    return float(phases[strongest] - np.median(np.delete(phases, strongest))) / activity


def centre_box(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, width, height), in pixels, of the at most MAX_SIDE x MAX_SIDE middle that centre()
    takes, for a caller that can read just that part (GIMP's dialog reads it from the layer)."""
    left, top = (max(0, (side - MAX_SIDE) // 2) for side in (width, height))
    return left, top, min(width, MAX_SIDE), min(height, MAX_SIDE)


def centre(pixels: np.ndarray) -> np.ndarray:
    """At most MAX_SIDE x MAX_SIDE pixels from the middle: enough to tell (block edges here, text in
    content.py), and a check's memory and time stay small next to the enlargement's however large the image."""
    left, top, width, height = centre_box(pixels.shape[1], pixels.shape[0])
    return pixels[top : top + height, left : left + width]


def blockiness(pixels: np.ndarray) -> float:
    """How strongly an 8x8 grid stands out: about 0-0.4 for clean pictures, more for blocked ones.

    pixels: (H, W, C) uint8 or uint16; images under MIN_SIDE on a side score 0.0 (undecidable).
    """
    if min(pixels.shape[:2]) < MIN_SIDE:
        return 0.0
    y = luma(centre(pixels))
    return min(_grid_strength(y, axis=1), _grid_strength(y, axis=0))


def is_blocked(pixels: np.ndarray) -> bool:
    """Whether the pixels carry JPEG blocking (blockiness of at least BLOCKED_FROM)."""
    return blockiness(pixels) >= BLOCKED_FROM
