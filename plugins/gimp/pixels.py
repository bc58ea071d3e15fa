"""The plug-in's work outside GIMP's API: layer pixels in, enlarged layer pixels out.

Standard library only, because GIMP runs this module with its own Python (3.13 in Debian trixie,
a bundled one on Windows and macOS) that usually cannot import numpy or onnxruntime. The install
command copies it next to the plug-in file. Two ways to reach the engine:

- in-process, when that Python can import sr-scale's modules (same Python version as the
  sr-scale installation, or sr-scale installed for GIMP's Python itself);
- otherwise the installed `sr-scale` command, called with an argument list (no shell), the pixels
  travelling through PNG files in a private temporary folder. Then the enlarged layer is exactly
  what `sr-scale` makes of the same pixels, alpha and grey included.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ENGINE_FILE = "engine.json"  # written by `sr-scale-gimp install` next to the plug-in
SCALE = 2
MODELS = {"x2": "Default (photos, clean images)", "x2-jpeg": "Artefact-cancelling (JPEG, compressed images)"}
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_TILE = 128  # LR pixels per tile side, as sr-scale's engine

_BABL_COMPONENTS = {1: "Y'", 2: "Y'A", 3: "R'G'B'", 4: "R'G'B'A"}
_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # grey, grey+alpha, RGB, RGBA


class UpscaleError(Exception):
    """The engine could not enlarge a layer; the message is meant for the user."""


@dataclass(frozen=True)
class LayerPixels:
    """One layer's pixels as GEGL hands them out: rows top to bottom, channels interleaved.

    channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. depth: bytes per channel, 1 (0-255) or
    2 (0-65535, native byte order).
    """

    width: int
    height: int
    channels: int
    depth: int
    data: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.channels not in _BABL_COMPONENTS or self.depth not in (1, 2):
            raise ValueError(f"unsupported layout: {self.channels} channels of {self.depth} bytes")
        expected = self.width * self.height * self.channels * self.depth
        if len(self.data) != expected:
            raise ValueError(f"{self.width}x{self.height} layer needs {expected} bytes, got {len(self.data)}")

    @property
    def babl_format(self) -> str:
        return babl_format(self.channels, self.depth)


def babl_format(channels: int, depth: int) -> str:
    """The GEGL/babl pixel format name, e.g. "R'G'B'A u8" (gamma-encoded, as PNG files are)."""
    return f"{_BABL_COMPONENTS[channels]} u{8 * depth}"


def encode_png(pixels: LayerPixels, level: int = 1) -> bytes:
    """A PNG file of the pixels (no filtering, fast zlib level: it is read once and deleted)."""
    data = pixels.data
    if pixels.depth == 2 and sys.byteorder == "little":
        data = _swap16(data)  # PNG stores 16-bit samples big-endian
    stride = pixels.width * pixels.channels * pixels.depth
    rows = b"".join(b"\x00" + data[y * stride:(y + 1) * stride] for y in range(pixels.height))
    header = struct.pack(">IIBBBBB", pixels.width, pixels.height, 8 * pixels.depth, _PNG_COLOUR_TYPE[pixels.channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, level)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _swap16(data: bytes) -> bytes:
    swapped = bytearray(len(data))
    swapped[0::2] = data[1::2]
    swapped[1::2] = data[0::2]
    return bytes(swapped)


@dataclass(frozen=True)
class Options:
    """The procedure's arguments. model_file, when set, replaces the embedded model name."""

    model: str = "x2"
    model_file: str = ""
    tile: int = DEFAULT_TILE  # LR pixels per tile side; 0 = the whole layer at once
    device: str = "auto"

    @property
    def model_arg(self) -> str:
        return self.model_file or self.model


@dataclass(frozen=True)
class Engine:
    """Where the sr-scale engine lives, as recorded by the install command."""

    sr_scale: str  # absolute path of the `sr-scale` executable
    python: str = ""  # "3.11": the Python version sr-scale runs on
    site: tuple[str, ...] = ()  # that Python's site folders, usable in-process by the same version

    def to_json(self) -> str:
        return json.dumps({"sr_scale": self.sr_scale, "python": self.python, "site": list(self.site)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Engine":
        fields = json.loads(text)
        return cls(str(fields["sr_scale"]), str(fields.get("python", "")), tuple(fields.get("site", ())))


def read_engine(folder: str | os.PathLike) -> Engine:
    path = Path(folder) / ENGINE_FILE
    try:
        return Engine.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UpscaleError(f"{path} is missing: install the plug-in with `sr-scale-gimp install`") from None
    except (ValueError, KeyError, TypeError) as error:
        raise UpscaleError(f"{path} is damaged ({error}): reinstall with `sr-scale-gimp install`") from None


# --- the engine in GIMP's own Python ------------------------------------------------------------

def in_process_upscaler(engine: Engine) -> Callable[[LayerPixels, Options, Callable[[float], None]], LayerPixels] | None:
    """upscale(pixels, options, progress) running sr-scale's code in this process, or None when
    this Python cannot import it.

    The recorded site folders are added only for the very Python version they belong to:
    compiled packages (numpy, onnxruntime) of another version would fail in obscure ways.
    Grey and alpha go through sr-scale's own enlarge(), so results match the command exactly.
    """
    import site

    if engine.python == f"{sys.version_info.major}.{sys.version_info.minor}":
        for folder in engine.site:
            if folder not in sys.path:
                site.addsitedir(folder)
    try:
        import numpy as np
        from sr_scale.core.engine import ModelError, Upscaler
        from sr_scale.core.image_io import Picture
        from sr_scale.imagemagick_wrapper.enlarge import Plan, enlarge
    except ImportError:
        return None

    def upscale(pixels: LayerPixels, options: Options, progress: Callable[[float], None]) -> LayerPixels:
        dtype = np.uint8 if pixels.depth == 1 else np.uint16
        lr = np.frombuffer(pixels.data, dtype=dtype).reshape(pixels.height, pixels.width, pixels.channels)
        try:
            upscaler = Upscaler(options.model_arg, device=options.device, tile=options.tile)
        except (ModelError, ValueError) as error:
            raise UpscaleError(str(error)) from None
        runs = 1 + (pixels.channels in (2, 4))  # alpha takes a second model run
        done = []

        def model(rgb, passes):
            sr = upscaler.upscale(rgb, progress=lambda f: progress((len(done) + f) / runs), passes=passes)
            done.append(True)
            return sr

        size = (pixels.width * SCALE, pixels.height * SCALE)
        sr = enlarge(Picture(lr), Plan(1, size), model).pixels
        return LayerPixels(size[0], size[1], pixels.channels, pixels.depth, np.ascontiguousarray(sr).tobytes())

    return upscale


# --- the engine through the sr-scale command ----------------------------------------------------

def sr_scale_args(engine: Engine, options: Options, lr_path: Path, sr_path: Path) -> list[str]:
    """The argument list of one `sr-scale` call (run without a shell)."""
    return [engine.sr_scale, "--model", options.model_arg, "--tile", str(options.tile), "--device", options.device,
            str(lr_path), str(sr_path)]


def run_sr_scale(args: list[str], pulse: Callable[[], None], poll: float = 0.1) -> None:
    """Run sr-scale, calling pulse() every `poll` seconds so GIMP's progress bar keeps moving."""
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        except OSError as error:
            raise UpscaleError(f"cannot run {args[0]} ({error.strerror}): reinstall with `sr-scale-gimp install`") from None
        while process.poll() is None:
            pulse()
            time.sleep(poll)
        if process.returncode != 0:
            errors.seek(0)
            lines = [line for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
            if not lines:
                raise UpscaleError(f"sr-scale failed with exit status {process.returncode}")
            raise UpscaleError(lines[-1].removeprefix("Error: "))  # click's prefix; GIMP shows its own


def upscale_with_command(engine: Engine, pixels: LayerPixels, options: Options,
                         read_png: Callable[[Path, int, int], LayerPixels], pulse: Callable[[], None]) -> LayerPixels:
    """Enlarge through `sr-scale`, exchanging PNG files in a private temporary folder.

    read_png(path, channels, depth) decodes the result in the layer's own layout; the plug-in
    passes GIMP's loader, so whatever sr-scale writes (grey, RGB, 16-bit) is read correctly.
    """
    with tempfile.TemporaryDirectory(prefix="sr-scale-gimp-") as folder:  # mode 0700
        lr_path, sr_path = Path(folder) / "lr.png", Path(folder) / "sr.png"
        lr_path.write_bytes(encode_png(pixels))
        run_sr_scale(sr_scale_args(engine, options, lr_path, sr_path), pulse)
        sr = read_png(sr_path, pixels.channels, pixels.depth)
    if (sr.width, sr.height) != (pixels.width * SCALE, pixels.height * SCALE):
        raise UpscaleError(f"sr-scale returned {sr.width}x{sr.height} for a {pixels.width}x{pixels.height} layer")
    return sr
