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
def resize_matrix(in_len: int, out_len: int) -> np.ndarray:
    """(out_len, in_len) float64 matrix M so that M @ signal equals MATLAB imresize on one axis.

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
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), columns.ravel()), weights.ravel())
    return matrix


def imresize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """MATLAB `imresize(image, [out_h out_w], 'bicubic')` without rounding.

    image: (H, W) or (H, W, C), any numeric dtype; returns float32 of the same value range.
    """
    rows = resize_matrix(image.shape[0], out_h).astype(np.float32)
    cols = resize_matrix(image.shape[1], out_w).astype(np.float32)
    x = image.astype(np.float32)
    if x.ndim == 2:
        return rows @ x @ cols.T
    # tensordot runs on BLAS; einsum would not.
    out = np.tensordot(rows, x, axes=(1, 0))  # (out_h, W, C)
    return np.ascontiguousarray(np.tensordot(cols, out, axes=(1, 1)).transpose(1, 0, 2))


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
