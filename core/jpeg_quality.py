"""The quality (1..100) a JPEG was saved at, read from its quantisation tables, the way ImageMagick's
`identify -format %Q` estimates it (checked against the real binary in tests/test_jpeg_quality.py).

Encoders built on libjpeg (Pillow, ImageMagick, GIMP, most web tools) scale the JPEG standard's
Annex K tables by the quality. ImageMagick fingerprints a file by two numbers, the sum of every
table entry and a "hash" (luma entries 2 and 53, chroma entries 0 and 63, natural order), walks the
qualities from 1 up while both numbers stay below libjpeg's for that quality, and takes the first
quality they reach. Below 51 it answers only for an exact match; from 51 on it takes the nearest
quality even when the tables are not libjpeg's ("approximate"). Here the per-quality references
are computed from the Annex K tables with libjpeg's scaling rather than carried as numbers.

Tables only live in the file header: Pillow parses them on `Image.open`, before any pixel is decoded,
so the estimate costs nothing next to the enlargement.
"""
from __future__ import annotations

import functools
import io
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

# The JPEG standard's (Annex K) quantisation tables in natural (row-major) order, as Pillow's
# `Image.quantization` and libjpeg's `quantval` hold them.
STANDARD_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)
STANDARD_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
                   47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
QUALITIES = range(1, 101)
EXACT_BELOW = 51  # ImageMagick gives no estimate under this quality unless the tables match libjpeg's

Tables = dict[int, list[int]]  # Pillow's `Image.quantization`: table id -> 64 entries, natural order


def scaled_table(table: tuple[int, ...], quality: int) -> list[int]:
    """libjpeg's table for `quality` (jpeg_quality_scaling, entries clamped to 1..255 as in baseline JPEG)."""
    factor = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((entry * factor + 50) // 100, 1), 255) for entry in table]


@functools.cache
def _references(colour: bool) -> tuple[tuple[int, int], ...]:
    """(hash, sum) of libjpeg's tables for each quality 1..100; colour = luma and chroma tables."""
    references = []
    for quality in QUALITIES:
        luma = scaled_table(STANDARD_LUMA, quality)
        if colour:
            chroma = scaled_table(STANDARD_CHROMA, quality)
            references.append((luma[2] + luma[53] + chroma[0] + chroma[63], sum(luma) + sum(chroma)))
        else:
            references.append((luma[2] + luma[53], sum(luma)))
    return tuple(references)


def _usable(tables: Tables | None) -> bool:
    return bool(tables) and 0 in tables and all(len(table) == 64 for table in tables.values())


def imagemagick_quality(tables: Tables | None) -> int | None:
    """ImageMagick's %Q for these tables, or None where it has none (no tables; tables that match no
    libjpeg quality below 51)."""
    if not _usable(tables):
        return None
    total = sum(sum(table) for table in tables.values())  # ImageMagick sums every table present
    luma = tables[0]
    colour = 1 in tables
    fingerprint = luma[2] + luma[53] + (tables[1][0] + tables[1][63] if colour else 0)
    for quality, (reference_hash, reference_sum) in zip(QUALITIES, _references(colour)):
        if fingerprint < reference_hash and total < reference_sum:
            continue  # finer than this quality: look higher
        exact = fingerprint <= reference_hash and total <= reference_sum
        return quality if exact or quality >= EXACT_BELOW else None
    return None  # finer than quality 99's tables and below 100's: ImageMagick leaves it undefined too


def estimate_quality(tables: Tables | None) -> int | None:
    """The quality these tables were made with, 1..100; None only without (usable) tables.

    ImageMagick's estimate where it has one. Where it has none (tables of a non-libjpeg encoder, a
    camera or Photoshop, that are coarser than libjpeg's quality 50), the libjpeg quality whose
    luma table has the closest sum: a defined answer for every file with tables.
    """
    quality = imagemagick_quality(tables)
    if quality is not None or not _usable(tables):
        return quality
    luma_sum = sum(tables[0])
    return min(QUALITIES, key=lambda q: (abs(sum(scaled_table(STANDARD_LUMA, q)) - luma_sum), -q))


def read_tables(source: str | os.PathLike | bytes) -> Tables | None:
    """The quantisation tables of a JPEG file or its bytes (header only), or None for anything that
    is not a readable JPEG."""
    from PIL import Image  # here, so that deciding from tables at hand (GIMP's bundle) needs no Pillow

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            return tables_of(im)
    except (OSError, ValueError, SyntaxError):  # not an image, or a damaged header: no tables to read
        return None


def tables_of(im: "Image.Image") -> Tables | None:
    """The tables of an opened (not necessarily decoded) Pillow image; None unless it is a JPEG (MPO included)."""
    tables = getattr(im, "quantization", None) if im.format in ("JPEG", "MPO") else None
    return {int(k): list(v) for k, v in tables.items()} if tables else None
