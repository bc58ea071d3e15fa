"""Image quality metrics of the standard SR protocol (RDN/EDSR papers), numpy only.

Inputs are uint8 (or float in [0, 255]) RGB arrays (H, W, 3) of equal size.
"""
from __future__ import annotations

import numpy as np


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Y of MATLAB's rgb2ycbcr on uint8 RGB, rounded as MATLAB rounds: values in [16, 235]."""
    x = rgb.astype(np.float64)
    y = 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0
    return np.floor(y + 0.5)


def shave(image: np.ndarray, border: int) -> np.ndarray:
    return image[border:-border, border:-border] if border else image


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def y_psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR on the Y channel with `border` pixels shaved from every side (border = scale)."""
    return psnr(shave(rgb_to_y(sr), border), shave(rgb_to_y(hr), border))


def rgb_psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    return psnr(shave(sr, border), shave(hr, border))


def _gaussian_valid_matrix(length: int, size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """(length - size + 1, length) matrix applying a normalised Gaussian in 'valid' mode."""
    taps = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    taps /= taps.sum()
    out = length - size + 1
    matrix = np.zeros((out, length))
    for i in range(size):
        matrix[np.arange(out), np.arange(out) + i] = taps[i]
    return matrix


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two single-channel images in [0, 255]: Wang et al. 2004, 11x11 Gaussian (1.5)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    rows, cols = _gaussian_valid_matrix(a.shape[0]), _gaussian_valid_matrix(a.shape[1])

    def blur(x: np.ndarray) -> np.ndarray:
        return rows @ x @ cols.T

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def y_ssim(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    return ssim(shave(rgb_to_y(sr), border), shave(rgb_to_y(hr), border))
