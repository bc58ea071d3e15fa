"""One enlargement: read IN, plan, run the model, apply pass-through options, write OUT.

Shared by the one-file form and batches. Raises ImageError/ModelError with a message that names
the file; never leaves a partial output (writes are atomic, stdout is written only at the end).
"""
from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from sr_scale.core.image_io import DEFAULT_MAX_PIXELS, FORMATS, PREFIXES, ImageError, Picture, encoded_bytes, read_image, write_image
from sr_scale.core.metadata import stripped

from .enlarge import enlarge, plan_for
from .geometry import Geometry, GeometryError

DEFAULT_QUALITY = 92  # ImageMagick's default when the input is not a JPEG


@dataclass(frozen=True)
class Endpoint:
    """An input or output as ImageMagick spells it: `file`, `-` (stdin/stdout), `fmt:-`, `fmt:file`."""

    path: str | None  # None = standard input/output
    fmt: str | None  # Pillow format name forced by a `fmt:` prefix

    @property
    def name(self) -> str:
        return self.path if self.path is not None else "-"


def parse_endpoint(token: str) -> Endpoint:
    """ImageMagick reads `png:x` as a format prefix; an existing file of that name wins here."""
    if token == "-" or os.path.exists(token):
        return Endpoint(None if token == "-" else token, None)
    prefix, colon, rest = token.partition(":")
    if colon and prefix.lower() in PREFIXES and len(prefix) > 1:  # `C:\` is a drive, not a format
        return Endpoint(None if rest == "-" else rest, PREFIXES[prefix.lower()])
    if colon and len(prefix) > 1 and prefix.isalnum() and prefix.lower() not in PREFIXES and rest:
        raise ImageError(f"{token}: unsupported format prefix {prefix!r}; use one of {', '.join(sorted(PREFIXES))}")
    return Endpoint(token, None)


@dataclass(frozen=True)
class Settings:
    """What every file of a run shares; sizes in pixels, quality 1..100 (None = ImageMagick's default)."""

    geometry: Geometry | None = None
    scale: int = 2
    quality: int | None = None
    strip: bool = False
    operations: list[list[str]] = field(default_factory=list)
    imagemagick: str | None = None  # binary for the operations
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class ModelOptions:
    model: str = "x2"
    device: str = "auto"
    threads: int = 0
    tile: int | None = None
    tta: bool = False
    precision: str = "auto"  # "auto", "float32" or "int8" (engine.PRECISIONS)


class LazyUpscaler:
    """The engine, loaded on first use (never for jobs that only shrink) and shared by threads."""

    def __init__(self, options: ModelOptions):
        self.options = options
        self._upscaler = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._upscaler is None:
                from sr_scale.core.engine import Upscaler

                o = self.options
                self._upscaler = Upscaler(o.model, device=o.device, threads=o.threads,
                                          tile=o.tile, tta=o.tta, precision=o.precision)
            return self._upscaler


def output_format_for(output: Endpoint, picture_format: str | None) -> str:
    """The output format: a `fmt:` prefix, else the extension, else (stdout) the input's format."""
    if output.fmt:
        return output.fmt
    if output.path is not None:
        suffix = Path(output.path).suffix.lower()
        if suffix not in FORMATS:
            raise ImageError(f"{output.path}: unsupported output format {suffix or '(no extension)'!r}; "
                             f"use one of {', '.join(sorted(FORMATS))} or a prefix like png:{output.path}")
        return FORMATS[suffix]
    return picture_format if picture_format in FORMATS.values() else "PNG"


def check_output(source: Endpoint, output: Endpoint) -> None:
    """Refuse, before any work, outputs that would overwrite the input or cannot be written."""
    if output.path is None:
        return
    if source.path is not None and os.path.exists(output.path) and os.path.exists(source.path) \
            and os.path.samefile(source.path, output.path):
        raise ImageError(f"{output.path}: output is the input; refusing to overwrite it (write to another file)")
    folder = Path(output.path).parent
    if not folder.is_dir():
        raise ImageError(f"{output.path}: cannot write, folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ImageError(f"{output.path}: cannot write, folder {folder} is not writable")
    if os.path.isdir(output.path):
        raise ImageError(f"{output.path}: is a folder (for several inputs use -o DIR)")


def run(source: Endpoint, output: Endpoint, settings: Settings, upscaler: LazyUpscaler) -> None:
    """Enlarge one image from `source` to `output`."""
    check_output(source, output)
    if output.path is not None:
        output_format_for(output, None)  # an unknown extension fails before the work
    data = sys.stdin.buffer.read() if source.path is None else source.path
    picture = read_image(data, name=source.name, max_pixels=settings.max_pixels)
    fmt = output_format_for(output, picture.source_format)
    result, quality = process(picture, source.name, settings, upscaler)
    if output.path is None:
        sys.stdout.buffer.write(encoded_bytes(result, fmt, quality, name="-"))
        sys.stdout.buffer.flush()
    else:
        write_image(result, output.path, fmt, quality)


def process(picture: Picture, name: str, settings: Settings, upscaler: LazyUpscaler) -> tuple[Picture, int]:
    """The work on one decoded image: enlargement, pass-through options, -strip.

    Returns the result and the quality to encode it with (-quality, else the input JPEG's, else 92).
    Used by sr-scale and by the Ray job, so both write the same files.
    """
    quality = settings.quality or picture.metadata.jpeg_quality or DEFAULT_QUALITY
    try:
        result = enlarge_picture(picture, settings, upscaler)
    except MemoryError:
        raise ImageError(f"{name}: not enough memory to enlarge {picture.width}x{picture.height} "
                         "(try a smaller --tile, or --max-pixels to refuse such inputs)") from None
    if settings.operations:
        from .passthrough import apply

        result = apply(result, settings.operations, settings.imagemagick, settings.max_pixels)
    if settings.strip:
        result = replace(result, metadata=stripped(result.metadata))
    return result, quality


def enlarge_picture(picture: Picture, settings: Settings, upscaler: LazyUpscaler) -> Picture:
    if settings.geometry is not None:
        try:
            size = settings.geometry.size_for(picture.width, picture.height)
        except GeometryError as error:
            raise ImageError(f"{error}") from None
    else:
        size = (picture.width * settings.scale, picture.height * settings.scale)
    plan = plan_for(picture.width, picture.height, size, model_scale=2)
    if plan.passes == 0:
        return enlarge(picture, plan, None)
    engine = upscaler.get()
    plan = plan_for(picture.width, picture.height, size, model_scale=engine.scale)
    return enlarge(picture, plan, lambda rgb, passes: engine.upscale(rgb, passes=passes))
