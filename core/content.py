"""What an input shows: lines of text on a flat background (a price tag, a banner, a size chart) or a
photo. Text gets the models trained with rendered catalog text (restoration.py); photos keep the
models that are best on photos.

The measure, on the luma plane in levels of 255: the background is every pixel within
BACKGROUND_LEVELS of the most common luma; of the rest, the share that sits in a sharp
neighbourhood (3x3 range above SHARP_LEVELS). Text on a flat background is mostly background,
and what is not is glyph strokes, all edge; a product photo on white has a large background too,
but its object is mostly smooth shading. Both thresholds hold with the same numbers for clean LR
and JPEG LR down to q40, since JPEG's ringing stays within the background tolerance and the
strokes stay sharp. Measured on the training photos and Set5/Set14/B100 against rendered text of
the training fonts (not the evaluation's text sets): docs/models.md, "Text on a flat background".

Not recognised, by design: text on a photo or gradient background, big display type with
large flat glyphs, and graphics without text; they are enlarged as photos.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blocking import centre, luma

BACKGROUND_LEVELS = 12  # luma levels around the most common luma that still count as background
SHARP_LEVELS = 40  # a 3x3 luma range above this is an edge
TEXT_BACKGROUND_FROM = 0.75  # text images: background share at least this...
TEXT_SHARP_FROM = 0.5  # ...and at least this share of the other pixels on edges
MIN_SIDE = 16  # smaller images say too little; larger than blocking.MAX_SIDE, they are judged on their centre


@dataclass(frozen=True)
class TextMeasure:
    """background: share of pixels at the background luma, in [0, 1]; sharp: share of the other
    pixels that lie on an edge, in [0, 1] (0 when there are none)."""

    background: float
    sharp: float

    @property
    def is_text(self) -> bool:
        return self.background >= TEXT_BACKGROUND_FROM and self.sharp >= TEXT_SHARP_FROM


def _range3x3(y: np.ndarray) -> np.ndarray:
    """max - min of each pixel's 3x3 neighbourhood (edges replicated)."""
    padded = np.pad(y, 1, mode="edge")
    h, w = y.shape
    high, low = y.copy(), y.copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(high, padded[dy : dy + h, dx : dx + w], out=high)
            np.minimum(low, padded[dy : dy + h, dx : dx + w], out=low)
    return high - low


def measure_text(pixels: np.ndarray) -> TextMeasure | None:
    """The text measure of uint8/uint16 grey, grey+alpha, RGB or RGBA pixels (height, width, c);
    None for images under MIN_SIDE a side."""
    if min(pixels.shape[:2]) < MIN_SIDE:
        return None
    y = luma(centre(pixels))
    counts = np.bincount(np.clip(np.rint(y), 0, 255).astype(np.intp).ravel(), minlength=256)
    background = np.abs(y - float(np.argmax(counts))) <= BACKGROUND_LEVELS
    rest = int(y.size - np.count_nonzero(background))
    if rest == 0:
        return TextMeasure(1.0, 0.0)
    sharp = np.count_nonzero((_range3x3(y) > SHARP_LEVELS) & ~background)
    return TextMeasure(float(np.count_nonzero(background) / y.size), float(sharp / rest))


def is_text(pixels: np.ndarray) -> bool:
    """True when the pixels look like text on a flat background (see the module's docstring)."""
    measure = measure_text(pixels)
    return measure is not None and measure.is_text
