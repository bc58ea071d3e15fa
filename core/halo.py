"""The flat-background halo measure: error in a band around object edges where the HR is flat.

Catalog images put objects, boxes and text on white or on one flat colour. An upscaler that rings
or smears (a light halo around a purple box on white, noise where an object meets the background)
errs in the flat pixels right next to the edges, which Y-PSNR over the whole image dilutes with
the many flat pixels far away. Precisely, on the protocol's Y channel (metrics.rgb_to_y) of HR:

- a pixel is *flat* when the range (max - min) of HR's Y over its 3x3 neighbourhood is at most
  FLAT_RANGE levels (edge pixels repeated at the image border);
- the *halo band* is the flat pixels within BAND pixels (Chebyshev distance: a square of side
  2 BAND + 1) of a pixel that is not flat, i.e. of an edge or texture, leaving out the protocol's
  shaved border (`border` pixels on each side);
- the *halo error* of SR is the mean of (Y_SR - Y_HR)^2 over the band, in levels^2, and its
  PSNR 10 log10(255^2 / error) in dB (higher = cleaner). A set's value pools the squared errors
  and band pixels of all its images (a mean over pixels, not over images).

The band starts two pixels from the last non-flat pixel (its neighbour's 3x3 holds that pixel),
so the anti-aliased edge itself, where every upscaler errs, is not counted; what is counted is
error drawn onto background that should have stayed flat.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .metrics import rgb_to_y

FLAT_RANGE = 2.0  # Y levels: JPEG-free renderings of flat colour vary by 0-1 level
BAND = 6  # HR pixels: bicubic's ringing at x2 reaches about 3, a model's halo further


@dataclass
class HaloError:
    """Summed squared Y error over the band (levels^2) and the band's size in pixels."""

    squared_error: float
    pixels: int

    def __add__(self, other: "HaloError") -> "HaloError":
        return HaloError(self.squared_error + other.squared_error, self.pixels + other.pixels)

    @property
    def mse(self) -> float | None:
        """Mean squared error on Y in the band, levels^2; None when there is no band."""
        return self.squared_error / self.pixels if self.pixels else None

    @property
    def psnr(self) -> float | None:
        """10 log10(255^2 / mse) dB; inf when exact, None when there is no band."""
        mse = self.mse
        if mse is None:
            return None
        return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _window_max(values: np.ndarray, radius: int) -> np.ndarray:
    """Max over the (2 radius + 1)^2 square around each pixel, edges repeated; same shape."""
    padded = np.pad(values, radius, mode="edge")
    side = 2 * radius + 1
    rows = sliding_window_view(padded, side, axis=0).max(axis=-1)  # separable: rows, then columns
    return sliding_window_view(rows, side, axis=1).max(axis=-1)


def flat_mask(y: np.ndarray) -> np.ndarray:
    """True where Y's range over the 3x3 neighbourhood is at most FLAT_RANGE levels; (H, W) bool."""
    return _window_max(y, 1) + _window_max(-y, 1) <= FLAT_RANGE


def halo_band(hr: np.ndarray, border: int, band: int = BAND) -> np.ndarray:
    """The halo band of a uint8 RGB HR (H, W, 3) as defined above; (H, W) bool, False in the border."""
    flat = flat_mask(rgb_to_y(hr))
    near_edge = _window_max((~flat).astype(np.uint8), band).astype(bool)
    mask = flat & near_edge
    if border:
        mask[:border], mask[-border:], mask[:, :border], mask[:, -border:] = False, False, False, False
    return mask


def halo_error(sr: np.ndarray, hr: np.ndarray, border: int, band: int = BAND) -> HaloError:
    """SR's squared Y error summed over HR's halo band; sr and hr uint8 RGB of one size."""
    mask = halo_band(hr, border, band)
    squared = (rgb_to_y(sr) - rgb_to_y(hr)) ** 2
    return HaloError(float(squared[mask].sum()), int(mask.sum()))


def halo_map(sr: np.ndarray, hr: np.ndarray, border: int, band: int = BAND) -> np.ndarray:
    """Squared Y error inside the band, 0 outside: where on the image the halo is; float64 (H, W)."""
    return np.where(halo_band(hr, border, band), (rgb_to_y(sr) - rgb_to_y(hr)) ** 2, 0.0)


