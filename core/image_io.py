"""Decoding and encoding images for the product: Pillow in, numpy in the middle, Pillow out,
with atomic writes. Pixels are (H, W, 3) uint8 RGB arrays.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Output format by file extension; anything else is refused before any work is done.
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


class ImageError(Exception):
    """An input that cannot be read or an output that cannot be written; the message names it."""


def output_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ImageError(f"{path}: unsupported output format {suffix or '(no extension)'!r}; use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 RGB, EXIF orientation applied."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise ImageError(f"{path}: cannot decode ({error})") from None


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call write(tmp) on a temporary file in the target folder, then rename it over `path`.

    Readers never see a half-written file, and nothing is left behind when write() fails.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise ImageError(f"{path}: cannot write to {folder} ({error.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as error:
        raise ImageError(f"{path}: cannot write ({error.strerror or error})") from None
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_rgb(pixels: np.ndarray, path: str | os.PathLike, quality: int = 92) -> None:
    """Encode uint8 RGB to `path` atomically; the format comes from the extension."""
    fmt = output_format(path)
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    image = Image.fromarray(pixels)
    atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **options))
