"""How LR images are made from HR ones: MATLAB-compatible bicubic resizing, JPEG and noise.

All functions here are numpy-only (no torch), so evaluation and the inference path can use them.
Images are float32 arrays in [0, 255] (H, W, C) unless a docstring says otherwise.
"""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5, as MATLAB's imresize uses."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=64)
def contributions(in_len: int, out_len: int) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB imresize's cubic contributions on one axis: (indices, weights), each (taps, out_len).

    Output pixel j = sum over k of weights[k, j] * input[indices[k, j]] (0-based indices).
    Antialiased when downscaling (the kernel is stretched by 1/scale), symmetric border.
    """
    scale = out_len / in_len
    kernel_scale = min(scale, 1.0)
    width = 4.0 / kernel_scale
    j = np.arange(1, out_len + 1, dtype=np.float64)
    u = j / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in 1-based input coordinates
    left = np.floor(u - width / 2)
    taps = int(np.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based
    weights = kernel_scale * _cubic(kernel_scale * (u[:, None] - indices))
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    columns = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    used = np.any(weights != 0, axis=0)  # MATLAB also drops taps that are zero for every pixel
    return columns[:, used].T.copy(), weights[:, used].T.copy()


def resize_matrix(in_len: int, out_len: int) -> np.ndarray:
    """(out_len, in_len) float64 matrix M so that M @ signal equals MATLAB imresize on one axis."""
    indices, weights = contributions(in_len, out_len)
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_len), indices.shape)
    np.add.at(matrix, (rows.ravel(), indices.ravel()), weights.ravel())
    return matrix


def _resize_first_axis(x: np.ndarray, out_len: int) -> np.ndarray:
    """Resize float32 x along axis 0 as a sum over the few kernel taps.

    A handful of vectorised multiply-adds instead of a dense matrix product: ~10x less work on
    whole photos, and no BLAS threads, which on a busy CPU spin against torch's own threads.
    """
    indices, weights = contributions(x.shape[0], out_len)
    shape = (out_len,) + (1,) * (x.ndim - 1)
    out = weights[0].astype(np.float32).reshape(shape) * x[indices[0]]
    for k in range(1, len(indices)):
        out += weights[k].astype(np.float32).reshape(shape) * x[indices[k]]
    return out


def imresize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """MATLAB `imresize(image, [out_h out_w], 'bicubic')` without rounding.

    image: (H, W) or (H, W, C), any numeric dtype; returns float32 of the same value range.
    """
    rows = _resize_first_axis(image.astype(np.float32), out_h)
    # Gathering whole rows of a contiguous array is much faster than gathering strided columns.
    columns_first = np.ascontiguousarray(rows.swapaxes(0, 1))
    return np.ascontiguousarray(_resize_first_axis(columns_first, out_w).swapaxes(0, 1))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round half away from zero and clip, as MATLAB's uint8() does, for values in [0, 255]."""
    return np.clip(np.floor(image + 0.5), 0, 255).astype(np.uint8)


def crop_to_multiple(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w = hr.shape[:2]
    return hr[: h - h % scale, : w - w % scale]


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """The standard protocol's LR: HR (uint8, H and W multiples of scale) -> uint8 LR."""
    h, w = hr.shape[:2]
    return to_uint8(imresize(hr, h // scale, w // scale))


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip a uint8 RGB image through Pillow's JPEG encoder (4:2:0 subsampling)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add noise of standard deviation sigma (in uint8 levels) and requantise to uint8."""
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return to_uint8(noisy)
