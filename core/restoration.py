"""Which restoration an input gets by default: the decision, in one place, from what the file says.

A JPEG says how it was compressed in its quantisation tables (jpeg_quality.py); an input that no
longer carries tables (a JPEG re-saved as PNG, TIFF or BMP) may still carry its 8x8 blocking
(blocking.py). The default model is then chosen by the estimated quality: `x2-jpeg-strong`, which
removes heavy blocking, below STRONG_BELOW; `x2-jpeg`, which removes lighter compression artefacts,
below COMPRESSED_BELOW; and `x2`, which keeps the most detail, for clean inputs and high-quality
JPEGs. Pixels that look like text on a flat background (content.py) get the member of the same
compression trained with rendered catalog text: `x2-text` in place of `x2`, `x2-jpeg-text` in place
of either artefact-cancelling model. The thresholds are measured (docs/models.md, "Input-aware default", `python -m
bench.input_aware`); the selection keys on the model names only, so retrained files under the same
names need nothing here but re-measured thresholds.

Documented choices for inputs that say little or contradict themselves (docs/cli.md):
- no tables and a lossless format (PNG, TIFF, BMP): the blocking detector decides;
- lossy WebP, GIF, anything else without tables: clean (`--jpeg-quality N` says otherwise);
- tables of a non-libjpeg encoder: ImageMagick's estimate, else the closest libjpeg quality;
- luma-only (grey) JPEGs: the luma table alone; CMYK JPEGs: their tables as any others;
- tables that say "high quality" on pixels that are visibly blocked (a compressed JPEG re-saved
  at a high quality): the blocking wins, since it is what the model has to remove.
Nothing here raises on a strange input: every path ends in a Restoration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .blocking import is_blocked
from .content import is_text
from .jpeg_quality import Tables, estimate_quality, read_tables

CLEAN_MODEL = "x2"  # clean inputs and JPEGs of quality >= COMPRESSED_BELOW
COMPRESSED_MODEL = "x2-jpeg"  # JPEGs of quality STRONG_BELOW..COMPRESSED_BELOW-1, and blocked pixels
STRONG_MODEL = "x2-jpeg-strong"  # JPEGs of quality < STRONG_BELOW
COMPRESSED_BELOW = 91  # x2-jpeg wins at q90, x2 at q92 (docs/models.md, "Input-aware default")
# x2-jpeg-strong wins at q30-50 (Set14 +0.09..+0.23 dB, B100 +0.07..+0.16), ties at q60 (+0.00..+0.01)
# and loses at q70 (-0.10..-0.13): docs/models.md, "`x2-jpeg-strong` (heavy blocking)".
STRONG_BELOW = 61
TEXT_MODEL = "x2-text"  # text on a flat background (content.py), clean or of high quality
COMPRESSED_TEXT_MODEL = "x2-jpeg-text"  # the same, compressed or blocked
# The text member in place of each photo member.
TEXT_MEMBER = {CLEAN_MODEL: TEXT_MODEL, COMPRESSED_MODEL: COMPRESSED_TEXT_MODEL, STRONG_MODEL: COMPRESSED_TEXT_MODEL}
FAMILY = (CLEAN_MODEL, COMPRESSED_MODEL, STRONG_MODEL, TEXT_MODEL, COMPRESSED_TEXT_MODEL)  # every model the default chooses from
QUALITY_RANGE = (1, 100)  # what --jpeg-quality takes besides "clean"
CLEAN = "clean"
# Where the quality came from.
TABLES, BLOCKING, USER, NONE = "tables", "blocking", "user", "none"
LOSSLESS_FORMATS = frozenset({"PNG", "TIFF", "BMP"})  # where a JPEG re-save keeps its blocking intact


@dataclass(frozen=True)
class Restoration:
    """What was detected in one input and the model that enlarges it.

    quality: the JPEG quality 1..100 (from the tables, or given by the user); None when none is
    known (clean, or blocking seen without tables). source: TABLES, BLOCKING, USER or NONE.
    text: the pixels look like text on a flat background (content.py).
    """

    quality: int | None
    source: str
    model: str
    text: bool = False

    @property
    def detected(self) -> str:
        """The detection in words, for -v and the Ray manifest: `q75 (tables)`, `clean (none)`,
        `blocked (blocking)`, `q95 (tables), blocked (blocking)`, `clean (none), text`."""
        if self.source == BLOCKING:
            words = f"q{self.quality} (tables), blocked (blocking)" if self.quality is not None else "blocked (blocking)"
        else:
            words = f"{'clean' if self.quality is None else f'q{self.quality}'} ({self.source})"
        return f"{words}, text" if self.text else words

    def describe(self) -> str:
        return f"{self.detected} -> {self.model}"


def model_for(quality: int | None, text: bool = False) -> str:
    """The default model for a JPEG quality (None = clean) of a photo, or of text (content.py)."""
    if quality is None or quality >= COMPRESSED_BELOW:
        model = CLEAN_MODEL
    else:
        model = STRONG_MODEL if quality < STRONG_BELOW else COMPRESSED_MODEL
    return TEXT_MEMBER[model] if text else model


def parse_quality(text: str) -> int | None:
    """`--jpeg-quality`: an integer 1..100 or `clean` (-> None). ValueError naming the range otherwise."""
    if text.strip().lower() == CLEAN:
        return None
    low, high = QUALITY_RANGE
    try:
        quality = int(text)
    except ValueError:
        quality = None
    if quality is None or not low <= quality <= high:
        raise ValueError(f"{text!r} is not a JPEG quality: use an integer {low}..{high} or {CLEAN!r}")
    return quality


@dataclass(frozen=True)
class Request:
    """What the user fixed: `model` (a name or .onnx path) replaces the choice; `given_quality`
    replaces detection (None with `quality_given` = clean)."""

    model: str | None = None
    quality_given: bool = False
    given_quality: int | None = None


def decide(table_quality: int | None, source_format: str | None, pixels: np.ndarray | None,
           request: Request = Request()) -> Restoration:
    """The restoration of one input from the quality its tables give (jpeg_quality.estimate_quality;
    None without tables), its format (Pillow's name) and, for the blocking check, its decoded
    pixels and the text check; `pixels` may be None when they are not at hand (then only the tables count)."""
    text = pixels is not None and is_text(pixels)
    if request.quality_given:
        quality, source = request.given_quality, USER
    else:
        # The blocking check is not used on text: glyph edges on a flat background fool it both
        # ways (7 of 88 clean text images called blocked, 21 of 88 q50 ones found: bench/content.py).
        quality, source = _detect(table_quality, source_format, None if text else pixels)
    photo_model = COMPRESSED_MODEL if source == BLOCKING else model_for(quality)
    model = request.model or (TEXT_MEMBER[photo_model] if text else photo_model)
    return Restoration(quality, source, model, text)


def _detect(quality: int | None, source_format: str | None, pixels: np.ndarray | None) -> tuple[int | None, str]:
    if quality is not None:
        # High-quality tables on blocked pixels: an already compressed picture saved again.
        if model_for(quality) == CLEAN_MODEL and pixels is not None and is_blocked(pixels):
            return quality, BLOCKING
        return quality, TABLES
    if pixels is not None and source_format in LOSSLESS_FORMATS and is_blocked(pixels):
        return None, BLOCKING
    return None, NONE


def decide_for_file(path: str | os.PathLike, request: Request = Request(), max_pixels: int | None = None) -> Restoration:
    """The decision for a file, as sr-scale would make it: for the GIMP filter (an image loaded from
    JPEG can re-read its file) and for tools that decide before decoding. Reads the header and
    decodes the pixels (for the blocking and text checks); an unreadable file is judged on its tables."""
    from .image_io import DEFAULT_MAX_PIXELS, ImageError, read_image

    quality = estimate_quality(read_tables(path))
    try:
        picture = read_image(path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    except ImageError:  # the enlargement will report it; the decision falls back on the tables
        return decide(quality, None, None, request)
    return decide(quality, picture.source_format, picture.pixels, request)


def decide_for_tables(tables: Tables | None, pixels: np.ndarray | None = None, source_format: str | None = None,
                      request: Request = Request()) -> Restoration:
    """The decision from quantisation tables already at hand (GIMP's "jpeg-settings" parasite,
    Pillow's `Image.quantization`), with the pixels for the blocking check when available."""
    return decide(estimate_quality(tables), source_format or ("JPEG" if tables else None), pixels, request)
