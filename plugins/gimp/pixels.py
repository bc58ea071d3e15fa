"""The plug-in's work outside GIMP's API: layer pixels in, enlarged layer pixels out.

Standard library only, because GIMP runs this module with its own Python (3.13 in Debian trixie,
a bundled one on Windows and macOS) that usually cannot import numpy or onnxruntime. The install
and bundle commands copy it next to the plug-in file. Three ways to reach the engine:

- a self-contained bundle (`sr-scale-gimp bundle`, bundle.json beside the plug-in): sr-scale's
  engine modules, numpy and onnxruntime for GIMP's very Python version and platform, run in-process;
- in-process, when that Python can import sr-scale's modules (same Python version as the
  sr-scale installation, or sr-scale installed for GIMP's Python itself);
- otherwise the installed `sr-scale` command, called with an argument list (no shell), the pixels
  travelling through PNG files in a private temporary folder. Then the enlarged layer is exactly
  what `sr-scale` makes of the same pixels, alpha and grey included.
"""
from __future__ import annotations

import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PLUG_IN = "sr-scale-upscale"  # GIMP loads plug-ins/PLUG_IN/PLUG_IN.py only (names must match)
ENGINE_FILE = "engine.json"  # written by `sr-scale-gimp install` next to the plug-in
BUNDLE_FILE = "bundle.json"  # written by `sr-scale-gimp bundle` next to the plug-in
BUNDLE_SITE = "site"  # the bundle's folder of unpacked wheels (numpy, onnxruntime)
SCALE = 2
# Copies of the engine's constants (the plug-in cannot import the engine to register itself):
# tests/test_gimp_plugin.py ties each to sr_scale.core.engine's.
MODELS = {"x2": "Default (photos, clean images)", "x2-jpeg": "Artefact-cancelling (JPEG, compressed images)",
          "x2-jpeg-strong": "Strong artefact-cancelling (JPEG of low quality)",
          "x2-text": "Text on a flat background (price tags, banners)",
          "x2-jpeg-text": "Text on a flat background, JPEG-compressed"}
DEFAULT_MODEL = "x2"
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

    def array(self):
        """The pixels as a numpy array (height, width, channels), uint8 or uint16, without a copy."""
        import numpy as np

        dtype = np.uint8 if self.depth == 1 else np.uint16
        return np.frombuffer(self.data, dtype=dtype).reshape(self.height, self.width, self.channels)


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

    model: str = DEFAULT_MODEL
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


Progress = Callable[[float], None]  # fraction done, 0-1
Upscale = Callable[[LayerPixels, Options, Progress], LayerPixels]


def python_version() -> str:
    """This interpreter's "major.minor", the unit compiled wheels are made for."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def machine() -> str:
    """This machine's architecture under one name per kind (Windows says AMD64, Linux aarch64)."""
    name = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(name, name)


def upscaler_for(folder: str | os.PathLike, read_png: Callable[[Path, int, int], LayerPixels],
                 pulse: Callable[[], None]) -> Upscale:
    """How the plug-in installed in `folder` enlarges a layer: from its bundle when it carries
    one, otherwise in-process from the recorded installation or through its `sr-scale` command."""
    bundle = read_bundle(folder)
    if bundle is not None:
        return bundle_upscaler(folder, bundle)
    engine = read_engine(folder)
    in_process = in_process_upscaler(engine)
    if in_process is not None:
        return in_process
    return lambda pixels, options, progress: upscale_with_command(engine, pixels, options, read_png, pulse)


def engine_note(folder: str | os.PathLike) -> str:
    """One line for the dialog: where the model runs (bundled in GIMP's Python, or which sr-scale)."""
    bundle = read_bundle(folder)
    if bundle is not None:
        return (f"Runs inside GIMP (Python {bundle.python}, onnxruntime {bundle.packages.get('onnxruntime', '?')}, "
                "self-contained)")
    return f"Runs {read_engine(folder).sr_scale}"


@dataclass(frozen=True)
class Advice:
    """sr-scale's input-aware choice for an image GIMP loaded from a JPEG."""

    quality: int | None  # the detected JPEG quality 1..100; None when GIMP kept no usable settings
    model: str  # the model sr-scale would choose for it
    text: bool = False  # the layer looks like text on a flat background (core/content.py)

    @property
    def note(self) -> str:
        """One line for the dialog."""
        found = "No JPEG quality detected" if self.quality is None else f"JPEG quality {self.quality} detected"
        return f"{found}{', text on a flat background' if self.text else ''}: {self.model} suggested"


def jpeg_settings(data: bytes) -> tuple[int | None, dict[int, list[int]] | None]:
    """GIMP's "jpeg-settings" parasite (file-jpeg's jpeg-settings.c) -> (quality, tables).

    Layout: colour space, quality, number of components, number of tables (one byte each), two
    sampling bytes per component, then each table as 64 big-endian 16-bit entries (natural order).
    GIMP stores the tables only when they are not libjpeg's; for libjpeg's, its quality byte is exact.
    """
    if len(data) < 4:
        return None, None
    quality, components, count = data[1], data[2], data[3]
    start = 4 + 2 * components
    if count == 0 or len(data) < start + 128 * count:
        return (quality if 1 <= quality <= 100 else None), None
    tables = {t: list(struct.unpack(">64H", data[start + 128 * t:start + 128 * (t + 1)])) for t in range(count)}
    return None, tables


def input_advice(parasite: bytes | None, layer: LayerPixels | None = None) -> Advice | None:
    """sr-scale's decision (core/restoration.py) for an image from GIMP's "jpeg-settings" parasite
    and the pixels of its (first selected) layer, whole or its advice_box (the same decision), as
    sr-scale decides for the file; None for an image
    that is neither a JPEG nor text, or where this Python cannot import the decision (the command mode)."""
    if parasite is None and layer is None:
        return None
    try:
        decision = restoration()
        from sr_scale.core.jpeg_quality import estimate_quality
    except ImportError:
        return None
    quality, tables = jpeg_settings(parasite) if parasite is not None else (None, None)
    if tables is not None:
        quality = estimate_quality(tables)
    chosen = decision.decide(quality, "JPEG" if parasite is not None else None, layer.array() if layer else None)
    if parasite is None and not chosen.text:
        return None
    return Advice(quality, chosen.model, chosen.text)


def advice_box(width: int, height: int) -> tuple[int, int, int, int] | None:
    """(left, top, width, height) of the part of a width x height layer that input_advice needs: the
    middle the checks look at (at most 1024 x 1024, core/blocking.centre_box), so a large layer is
    not read whole before the dialog opens; None where this Python cannot import the decision."""
    try:
        from sr_scale.core.blocking import centre_box
    except ImportError:
        return None
    return centre_box(width, height)


def restoration():
    """sr-scale's input-aware decision module (numpy only; ImportError where it is not at hand)."""
    from sr_scale.core import restoration as module

    return module


# --- the engine in GIMP's own Python ------------------------------------------------------------

@dataclass(frozen=True)
class Bundle:
    """What a self-contained bundle was built for, as `sr-scale-gimp bundle` recorded it."""

    python: str  # "3.13": the only Python version its compiled wheels load in
    platform: str  # the wheels' platform tag, e.g. "manylinux_2_28_x86_64", "win_amd64"
    system: str  # sys.platform of that tag: "linux", "win32", "darwin"
    machine: str  # as machine() names it: "x86_64", "arm64"; "" = any (macOS universal2)
    packages: dict[str, str] = field(default_factory=dict)  # bundled wheels: name -> version

    def to_json(self) -> str:
        return json.dumps({"python": self.python, "platform": self.platform, "system": self.system,
                           "machine": self.machine, "packages": self.packages}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Bundle":
        fields = json.loads(text)
        return cls(str(fields["python"]), str(fields["platform"]), str(fields["system"]), str(fields.get("machine", "")),
                   {str(k): str(v) for k, v in fields.get("packages", {}).items()})


def read_bundle(folder: str | os.PathLike) -> Bundle | None:
    """The bundle record beside the plug-in, or None for a plug-in installed in the default mode."""
    path = Path(folder) / BUNDLE_FILE
    try:
        return Bundle.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UpscaleError(f"{path} is damaged ({error}): rebuild the plug-in with `sr-scale-gimp bundle`") from None


def bundle_mismatch(bundle: Bundle, python: str | None = None, system: str | None = None,
                    arch: str | None = None) -> str | None:
    """Why this interpreter cannot load the bundle's compiled wheels (None when it can).

    Checked before numpy is imported: wheels of another Python version or system fail to import
    with obscure messages at best, so the user gets this one line in GIMP's error dialog instead.
    """
    python, system, arch = python or python_version(), system or sys.platform, arch or machine()
    if (python, system) == (bundle.python, bundle.system) and bundle.machine in ("", arch):
        return None
    return (f"this plug-in was bundled for Python {bundle.python} on {bundle.platform}, but GIMP runs Python {python} "
            f"on {system} {arch}: rebuild it with `sr-scale-gimp bundle --python {python}` for this platform")


def bundle_upscaler(folder: str | os.PathLike, bundle: Bundle) -> Upscale:
    """upscale() from the bundle's own engine modules and wheels; UpscaleError when this Python
    cannot load them (wrong version or platform, a damaged bundle)."""
    problem = bundle_mismatch(bundle)
    if problem:
        raise UpscaleError(problem)
    for path in (str(Path(folder) / BUNDLE_SITE), str(Path(folder))):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return engine_upscaler()
    except ImportError as error:
        raise UpscaleError(f"the bundled engine does not load in this GIMP ({error}): rebuild the plug-in with "
                           "`sr-scale-gimp bundle`") from None


def in_process_upscaler(engine: Engine) -> Upscale | None:
    """upscale(pixels, options, progress) running sr-scale's code in this process, or None when
    this Python cannot import it.

    The recorded site folders are added only for the very Python version they belong to:
    compiled packages (numpy, onnxruntime) of another version would fail in obscure ways.
    """
    import site

    if engine.python == python_version():
        for folder in engine.site:
            if folder not in sys.path:
                site.addsitedir(folder)
    try:
        return engine_upscaler()
    except ImportError:
        return None


def engine_upscaler() -> Upscale:
    """upscale() on sr-scale's engine, imported here (ImportError when this Python lacks it).

    Grey and alpha go through sr-scale's own through_model(), so results match the command.
    One onnxruntime session per (model, device, tile) serves every layer of the run. Every
    failure of the engine (onnxruntime's own exception types, ValueError, ModelError) becomes
    one UpscaleError line for GIMP's error dialog; only MemoryError passes, the plug-in reports it.
    """
    import numpy as np
    from sr_scale.core.engine import Upscaler
    from sr_scale.core.enlarge import through_model

    sessions: dict[tuple[str, str, int], Upscaler] = {}

    def upscale(pixels: LayerPixels, options: Options, progress: Progress) -> LayerPixels:
        lr = pixels.array()
        dtype = lr.dtype
        runs = 1 + (pixels.channels in (2, 4) and not (lr[..., -1] == np.iinfo(dtype).max).all())  # alpha: a second run
        done = []

        def model(rgb):
            sr = upscaler.upscale(rgb, progress=lambda f: progress(min(1.0, (len(done) + f) / runs)))
            done.append(True)
            return sr

        try:
            key = (options.model_arg, options.device, options.tile)
            if key not in sessions:
                sessions[key] = Upscaler(options.model_arg, device=options.device, tile=options.tile)
            upscaler = sessions[key]
            sr = through_model(lr, model)
        except MemoryError:
            raise
        except Exception as error:  # noqa: BLE001 - onnxruntime raises types of its own, not RuntimeError
            raise UpscaleError(one_line(error)) from None
        return LayerPixels(sr.shape[1], sr.shape[0], pixels.channels, pixels.depth, np.ascontiguousarray(sr).tobytes())

    return upscale


def one_line(error: BaseException) -> str:
    """An exception as one line for GIMP's error dialog (its first line, or its type's name)."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


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
