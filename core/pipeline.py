"""The per-image pipeline every front end runs: read -> decide -> enlarge -> pass-through -> write.

`sr-scale` (one file, batches, pipes), `sr-scale-ray` (actors) and the GIMP filter (through
restoration.decide_for_file and enlarge.enlarge) call these functions, so they decide and enlarge
the same way; the front ends keep only their grammar and their I/O (ImageMagick's `fmt:file` and
stdin/stdout, pyarrow filesystems, GIMP layers).

Errors about a file are ImageError with a message naming it; ModelError is about the model and the
same for every file. Outputs are written atomically (image_io.write_image).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from .enlarge import enlarge, plan_for
from .image_io import DEFAULT_MAX_PIXELS, ImageError, Picture, encoded_bytes, read_image, write_image
from .metadata import stripped
from .restoration import FAMILY, Request, Restoration, decide, model_for

DEFAULT_QUALITY = 92  # the output JPEG/WebP quality when the input is not a JPEG (ImageMagick's default)


class Resize(Protocol):
    """A requested output size (the ImageMagick wrapper's Geometry); size_for raises ValueError
    when it gives no valid size."""

    def size_for(self, width: int, height: int) -> tuple[int, int]: ...


@dataclass(frozen=True)
class Settings:
    """What every file of a run shares; sizes in pixels, quality 1..100 (None = the input JPEG's, else 92).

    passthrough: applied to the enlarged picture as passthrough(picture, max_pixels=...) (ImageMagick's
    options in sr-scale), or None.
    """

    geometry: Resize | None = None
    scale: int = 2
    quality: int | None = None
    strip: bool = False
    passthrough: Callable[..., Picture] | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class ModelOptions:
    """How to run the model. model None = chosen per input (restoration.py); a name or .onnx path
    fixes it. jpeg_quality: see restoration.Request (quality_given with None = clean)."""

    model: str | None = None
    device: str = "auto"
    threads: int = 0
    tile: int | None = None
    tta: bool = False
    precision: str = "auto"  # engine.PRECISIONS
    quality_given: bool = False
    jpeg_quality: int | None = None

    @property
    def request(self) -> Request:
        return Request(self.model, self.quality_given, self.jpeg_quality)

    @property
    def models_needed(self) -> tuple[str, ...]:
        """The models a run may use: the one given, else those the decision chooses from."""
        if self.model:
            return (self.model,)
        if self.quality_given:
            return (model_for(self.jpeg_quality), model_for(self.jpeg_quality, text=True))
        return FAMILY


class Upscalers:
    """One engine per model name, loaded on first use (never for jobs that only shrink) and shared
    by the threads of a batch."""

    def __init__(self, options: ModelOptions):
        self.options = options
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def get(self, model: str):
        """The engine.Upscaler of `model` (a name or path), loading it on first use."""
        with self._lock:
            if model not in self._loaded:
                from .engine import Upscaler

                o = self.options
                self._loaded[model] = Upscaler(model, device=o.device, threads=o.threads, tile=o.tile, tta=o.tta,
                                               precision=o.precision)
            return self._loaded[model]


@dataclass(frozen=True)
class Enlarged:
    """One result: the picture, the quality to encode it with, and what was decided for it."""

    picture: Picture
    quality: int
    restoration: Restoration


def read(source: str | os.PathLike | bytes, name: str, settings: Settings) -> Picture:
    """Decode a path or a file's bytes (`name` is what errors call it), refusing inputs over settings.max_pixels."""
    return read_image(source, name=name, max_pixels=settings.max_pixels)


def restoration_for(picture: Picture, options: ModelOptions) -> Restoration:
    """The decision for a decoded input (its tables' quality was read with its header)."""
    return decide(picture.metadata.jpeg_quality, picture.source_format, picture.pixels, options.request)


def process(picture: Picture, name: str, settings: Settings, upscalers: Upscalers) -> Enlarged:
    """Decide, enlarge, apply pass-through options and -strip on one decoded input.

    The encode quality is -quality, else the input JPEG's, else DEFAULT_QUALITY.
    """
    restoration = restoration_for(picture, upscalers.options)
    quality = settings.quality or picture.metadata.jpeg_quality or DEFAULT_QUALITY
    try:
        result = enlarge_picture(picture, settings, lambda: upscalers.get(restoration.model))
    except MemoryError:
        raise ImageError(f"{name}: not enough memory to enlarge {picture.width}x{picture.height} "
                         "(try a smaller --tile, or --max-pixels to refuse such inputs)") from None
    if settings.passthrough is not None:
        result = settings.passthrough(result, max_pixels=settings.max_pixels)
    if settings.strip:
        result = replace(result, metadata=stripped(result.metadata))
    return Enlarged(result, quality, restoration)


def enlarge_picture(picture: Picture, settings: Settings, engine: Callable[[], object]) -> Picture:
    """The picture at the requested size; `engine()` gives the Upscaler, asked only when the model runs."""
    if settings.geometry is not None:
        try:
            size = settings.geometry.size_for(picture.width, picture.height)
        except ValueError as error:
            raise ImageError(f"{error}") from None
    else:
        size = (picture.width * settings.scale, picture.height * settings.scale)
    plan = plan_for(picture.width, picture.height, size, model_scale=2)
    if plan.passes == 0:
        return enlarge(picture, plan, None)
    upscaler = engine()
    plan = plan_for(picture.width, picture.height, size, model_scale=upscaler.scale)
    return enlarge(picture, plan, lambda rgb, passes: upscaler.upscale(rgb, passes=passes))


def encode(enlarged: Enlarged, fmt: str, name: str) -> bytes:
    """The result as the bytes of a `fmt` file (Pillow's format name); `name` is what errors call it."""
    return encoded_bytes(enlarged.picture, fmt, enlarged.quality, name=name)


def write(enlarged: Enlarged, target: str | os.PathLike, fmt: str) -> None:
    """The result written to `target` atomically."""
    write_image(enlarged.picture, target, fmt, enlarged.quality)


def enlarge_bytes(data: bytes, source: str, target: str, fmt: str, settings: Settings, upscalers: Upscalers) -> tuple[bytes, Restoration]:
    """Encoded input -> encoded output in `fmt`, as `sr-scale SOURCE TARGET` writes it (for object stores)."""
    enlarged = process(read(data, source, settings), source, settings, upscalers)
    return encode(enlarged, fmt, target), enlarged.restoration
