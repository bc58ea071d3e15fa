"""Decoding and encoding images for the product, with their metadata, and atomic writes.

Decoded pixels are an (H, W, C) uint8 or uint16 array, stored upright (EXIF orientation applied):
C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (alpha not premultiplied). Pillow does the work, except
for 16-bit colour, which Pillow reduces to 8 bits (pypng reads 16-bit colour PNG, tifffile reads and
writes 16-bit colour TIFF), and for writing PNG, which png_writer streams from the array without a
full-size copy. The image size is checked from the header before anything is decoded.
"""
from __future__ import annotations

import io
import logging
import os
import struct
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import atomic_file, png_writer
from .metadata import Metadata, read_metadata, save_options, upright

# Output format by file extension; anything else is refused before any work is done.
FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
    ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF",
}
# ImageMagick's format prefixes (`png:-`, `jpg:out.bin`) that name a format we write.
PREFIXES = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "png24": "PNG", "png32": "PNG", "png48": "PNG",
            "png64": "PNG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF", "gif": "GIF"}
# Like ImageMagick's Debian policy (128 megapixels): refuses decompression bombs from the header alone.
DEFAULT_MAX_PIXELS = 128_000_000

# Pillow's own bomb check is replaced by the explicit max_pixels check in read_image, which every
# caller goes through and which the user can raise.
Image.MAX_IMAGE_PIXELS = None
# Pillow and tifffile log the defects of a corrupt file they read (tifffile often a dozen lines),
# and with no logging configured Python prints them on stderr; read_image reports the file in one
# line instead. A program that configures logging still gets them.
for _library in ("PIL", "tifffile"):
    logging.getLogger(_library).addHandler(logging.NullHandler())


def _silence_libtiff() -> None:
    """Stop libtiff (inside Pillow) from printing its errors on stderr ("tempfile.tif: Using code
    not yet in table." for a corrupt LZW strip): Pillow still sees the failure and read_image
    reports it in one line. Pillow has no switch for it, so libtiff's handler is cleared through
    ctypes, in the libtiff this process loaded (Linux: found in /proc/self/maps); elsewhere, or if
    anything is unexpected, the messages stay."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "/libtiff" in line}
        for path in paths:
            ctypes.CDLL(path).TIFFSetErrorHandler(None)
    except (OSError, AttributeError):
        pass


_silence_libtiff()


class ImageError(Exception):
    """An input that cannot be read or an output that cannot be written; the message names it."""


@dataclass(frozen=True)
class Picture:
    """Decoded, upright pixels with the metadata to carry over. See the module docstring for layout."""

    pixels: np.ndarray
    metadata: Metadata = Metadata()
    source_format: str | None = None  # Pillow's format name of the input, e.g. "JPEG"

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    @property
    def is_grey(self) -> bool:
        return self.pixels.shape[2] in (1, 2)


def output_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ImageError(f"{path}: unsupported output format {suffix or '(no extension)'!r}; use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def read_image(source: str | os.PathLike | bytes, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Decode a file (path) or an in-memory file (bytes); `name` is what errors call it.

    Raises ImageError for anything unreadable, animated, or over `max_pixels` (checked from the
    header, before the pixels are allocated).
    """
    name = name or str(source if not isinstance(source, bytes) else "-")
    if isinstance(source, bytes) and not source:
        raise ImageError(f"{name}: empty input")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings about odd EXIF are not errors
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
                _check_header(im, name, max_pixels)
                deep = _is_16bit_colour(im)  # before read_metadata: PNG's getexif() decodes the pixels
                metadata = read_metadata(im)
                pixels = _decode(im, source, deep, name)
                fmt = "JPEG" if im.format == "MPO" else im.format
                if im.mode == "CMYK":
                    # The input's CMYK profile does not describe the RGB pixels now held.
                    metadata = replace(metadata, icc=None)
    except ImageError:
        raise
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        raise access_error(name, error) from None
    except UnidentifiedImageError:
        if _looks_like_tiff(source):  # e.g. 16-bit grey+alpha, which Pillow cannot open
            return _read_tiff_with_tifffile(source, name, max_pixels)
        raise ImageError(f"{name}: not an image (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as error:  # truncated or corrupt
        raise ImageError(f"{name}: cannot decode ({first_line(error)})") from None
    except Exception as error:  # pypng/tifffile raise their own types for corrupt data
        raise ImageError(f"{name}: cannot decode ({type(error).__name__}: {first_line(error)})") from None
    # The one place orientation is applied: pixels and metadata are both upright from here on.
    return Picture(orient(pixels, metadata.orientation), upright(metadata), fmt)


def is_complete_image(path: str | os.PathLike) -> bool:
    """True when `path` is a non-empty image that decodes to its end: what a batch or a restarted job
    may skip as done. False for a zero-length file (a write cut short by a power loss on a file
    system that had not flushed it), a truncated or corrupt file, or anything that is not an image.

    A JPEG is decoded at 1/8 scale (libjpeg reads the whole stream but keeps 1/64 of the pixels);
    what Pillow cannot open is tried as read_image would (tifffile, pypng), with no size limit.
    """
    try:
        if os.path.getsize(path) == 0:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.format == "JPEG":
                    im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
        return True
    except OSError as error:
        if error.errno is not None:  # cannot be read at all (gone, a folder, no permission)
            return False
    except Exception:  # noqa: BLE001 - any decoder failure means "not a finished output"
        pass
    try:
        read_image(path, max_pixels=2**63)
        return True
    except ImageError:
        return False


def _looks_like_tiff(source: str | os.PathLike | bytes) -> bool:
    if isinstance(source, bytes):
        head = source[:4]
    else:
        with open(source, "rb") as file:
            head = file.read(4)
    return head in (b"II*\0", b"MM\0*")


def _read_tiff_with_tifffile(source: str | os.PathLike | bytes, name: str, max_pixels: int) -> Picture:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(source) if isinstance(source, bytes) else source) as tiff:
            if len(tiff.pages) > 1:
                raise ImageError(f"{name}: has {len(tiff.pages)} pages; only single images are enlarged")
            page = tiff.pages[0]
            height, width = page.imagelength, page.imagewidth
            if width * height > max_pixels:
                raise ImageError(f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                                 f"limit of {max_pixels / 1e6:.0f} (raise it with --max-pixels)")
            pixels = page.asarray()
    except ImageError:
        raise
    except Exception as error:  # tifffile's own error types for corrupt files
        raise ImageError(f"{name}: cannot decode ({first_line(error)})") from None
    return Picture(_tiff_layout(pixels, name), Metadata(), "TIFF")


def _tiff_layout(pixels: np.ndarray, name: str) -> np.ndarray:
    """tifffile's array as (H, W, C) uint8/uint16, C 1..4; ImageError for anything else (a corrupt
    file can give an empty or oddly shaped array)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    elif pixels.ndim == 3 and pixels.shape[0] in (2, 3, 4) and pixels.shape[2] not in (2, 3, 4):
        pixels = pixels.transpose(1, 2, 0)  # planar (separate) storage
    if pixels.ndim != 3 or pixels.size == 0 or pixels.dtype not in (np.uint8, np.uint16) or pixels.shape[2] > 4:
        raise ImageError(f"{name}: unsupported TIFF layout ({pixels.dtype}, shape {pixels.shape})")
    return pixels


def first_line(error: BaseException) -> str:
    """An exception as one line of text (its message's first line, else its type), for error messages."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_header(im: Image.Image, name: str, max_pixels: int) -> None:
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
                         f"limit of {max_pixels / 1e6:.0f} (raise it with --max-pixels)")
    frames = getattr(im, "n_frames", 1)
    # A camera's MPO is a JPEG whose extra frames are previews or depth maps: the first is the photo.
    if frames > 1 and im.format != "MPO":
        what = "pages" if im.format == "TIFF" else "frames"
        raise ImageError(f"{name}: has {frames} {what}; only single images are enlarged "
                         f"(split it first, e.g. convert {name} frame_%03d.png)")


def _decode(im: Image.Image, source: str | os.PathLike | bytes, deep: bool, name: str) -> np.ndarray:
    """Pixels as stored in the file (not yet oriented), in the layout of the module docstring."""
    if deep:
        raw = io.BytesIO(source) if isinstance(source, bytes) else source
        return _read_png16(raw) if im.format == "PNG" else _read_tiff16(raw, name)
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.uint16)[..., None]
    if mode == "I":  # 16-bit grey from some decoders arrives as 32-bit integers
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)[..., None]
    if mode == "F":
        raise ImageError(f"{name}: 32-bit floating-point images are not supported")
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(im))
    if mode == "P":
        has_transparency = "transparency" in im.info
        return np.asarray(im.convert("RGBA" if has_transparency else "RGB"))
    target = {"1": "L", "L": "L", "LA": "LA", "La": "LA", "PA": "RGBA", "RGBA": "RGBA", "RGBa": "RGBA"}.get(mode, "RGB")
    pixels = np.asarray(im.convert(target) if im.mode != target else im)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _is_16bit_colour(im: Image.Image) -> bool:
    if im.format == "PNG":
        rawmode = im.tile[0].args if im.tile else None
        rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode
        return isinstance(rawmode, str) and rawmode in ("RGB;16B", "RGBA;16B", "LA;16B")
    if im.format == "TIFF":
        bits = im.tag_v2.get(258)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return bits[0] == 16 and len(bits) >= 2
    return False


def _read_png16(raw) -> np.ndarray:
    import png

    reader = png.Reader(file=raw) if hasattr(raw, "read") else png.Reader(filename=os.fspath(raw))
    width, height, rows, info = reader.asDirect()
    return np.vstack([np.asarray(row, np.uint16) for row in rows]).reshape(height, width, info["planes"])


def _read_tiff16(raw, name: str) -> np.ndarray:
    import tifffile

    return _tiff_layout(tifffile.imread(raw), name)


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK through its embedded ICC profile when there is one (the colours printers meant), else naively."""
    icc = im.info.get("icc_profile")
    if icc:
        from PIL import ImageCms

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: fall back to Pillow's naive conversion
    return im.convert("RGB")


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 (as Pillow's ImageOps.exif_transpose does) to (H, W, C) pixels."""
    transforms: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(transforms.get(orientation, transforms[1])(pixels))


# ---------------------------------------------------------------------------------------------
# Encoding


def encode(picture: Picture, fmt: str, out: BinaryIO, quality: int = 92) -> None:
    """Write `picture` as format `fmt` (Pillow's name) to a binary stream, metadata included.

    What a format cannot hold is converted: JPEG has no alpha (flattened over white) and no 16 bits,
    WebP/BMP/GIF have no 16 bits, GIF has a 256-colour palette with 1-bit transparency.
    """
    pixels, meta = picture.pixels, picture.metadata
    deep = pixels.dtype == np.uint16
    if fmt == "PNG":  # streamed from the array by strips: no full-size copy (big outputs)
        png_writer.write_png(pixels, out, _png_metadata_chunks(meta))
        return
    if fmt == "TIFF" and deep and pixels.shape[2] != 1:
        _write_tiff16(pixels, meta, out)
        return
    if deep and fmt not in ("PNG", "TIFF"):
        pixels = to_8bit(pixels)
    if fmt == "JPEG" and picture.has_alpha:
        pixels = flatten_on_white(pixels)
    image = _to_pillow(pixels)
    options = save_options(meta, fmt)
    if fmt == "JPEG":
        # ImageMagick's choice: full-resolution chroma at quality 90 and above, 4:2:0 below.
        options.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        options.update(quality=quality)
    elif fmt == "GIF":
        image = _to_gif_palette(image)
    elif fmt == "BMP" and image.mode == "LA":
        image = image.convert("RGBA")
    if fmt == "WEBP" and image.mode in ("L", "LA"):
        image = image.convert("RGBA" if image.mode == "LA" else "RGB")
    image.save(out, format=fmt, **options)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 with rounding (65535 -> 255)."""
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def flatten_on_white(pixels: np.ndarray) -> np.ndarray:
    """Drop alpha by compositing over white (for formats without alpha)."""
    peak = float(np.iinfo(pixels.dtype).max)
    colour, alpha = pixels[..., :-1].astype(np.float32), pixels[..., -1:].astype(np.float32) / peak
    return np.rint(colour * alpha + peak * (1 - alpha)).astype(pixels.dtype)


def _to_pillow(pixels: np.ndarray) -> Image.Image:
    if pixels.dtype == np.uint16:  # only single-channel grey reaches here
        return Image.fromarray(pixels[..., 0])
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    return Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)


def _to_gif_palette(image: Image.Image) -> Image.Image:
    """255 colours plus one fully transparent index where alpha < 50%."""
    if image.mode not in ("LA", "RGBA"):
        return image.convert("RGB").quantize(256)
    rgba = image.convert("RGBA")
    paletted = rgba.convert("RGB").quantize(255)
    clear = np.asarray(rgba)[..., 3] < 128
    indices = np.asarray(paletted).copy()
    indices[clear] = 255
    out = Image.fromarray(indices, "P")
    palette = paletted.getpalette()[: 255 * 3]
    out.putpalette(palette + [0, 0, 0] * (256 - len(palette) // 3))
    out.info["transparency"] = 255
    return out


def _png_metadata_chunks(meta: Metadata) -> bytes:
    """ICC profile, resolution, EXIF and XMP as PNG chunks (placed after IHDR)."""
    chunks = b""
    if meta.icc:
        chunks += png_writer.chunk(b"iCCP", b"icc\0\0" + zlib.compress(meta.icc))
    if meta.dpi:
        per_metre = [round(d / 0.0254) for d in meta.dpi]
        chunks += png_writer.chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    if meta.exif:
        chunks += png_writer.chunk(b"eXIf", meta.exif[6:] if meta.exif.startswith(b"Exif\0\0") else meta.exif)
    if meta.xmp:
        chunks += png_writer.chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + meta.xmp)
    return chunks


def _write_tiff16(pixels: np.ndarray, meta: Metadata, out: BinaryIO) -> None:
    import tifffile

    planes = pixels.shape[2]
    extratags = []
    if meta.icc:
        extratags.append((34675, 7, len(meta.icc), meta.icc, True))  # InterColorProfile, UNDEFINED
    if meta.xmp:
        extratags.append((700, 1, len(meta.xmp), meta.xmp, True))  # XMP, BYTE
    tifffile.imwrite(
        out, pixels,
        photometric="minisblack" if planes in (1, 2) else "rgb",
        extrasamples=("unassalpha",) if planes in (2, 4) else None,
        compression="zlib",
        resolution=meta.dpi, resolutionunit="INCH" if meta.dpi else None,
        extratags=extratags, metadata=None,
    )


def encoded_bytes(picture: Picture, fmt: str, quality: int = 92, name: str = "-") -> bytes:
    """The encoded file in memory; ImageError naming `name` if the encoder refuses."""
    buffer = io.BytesIO()
    _encode_or_fail(picture, fmt, buffer, quality, name)
    return buffer.getvalue()


def _encode_or_fail(picture: Picture, fmt: str, out: BinaryIO, quality: int, name: str) -> None:
    try:
        encode(picture, fmt, out, quality)
    except (ValueError, RuntimeError, KeyError) as error:  # Pillow/libtiff encoder failures
        raise ImageError(f"{name}: cannot encode as {fmt} ({first_line(error)})") from None
    except OSError as error:
        if error.errno is not None:  # the disk (full, gone): atomic_write reports it
            raise
        raise ImageError(f"{name}: cannot encode as {fmt} ({first_line(error)})") from None


def write_image(picture: Picture, path: str | os.PathLike, fmt: str | None = None, quality: int = 92) -> None:
    """Encode to `path` atomically; the format comes from `fmt` or else the extension."""
    fmt = fmt or output_format(path)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as out:  # straight to the file: the encoded image is never held in memory
            _encode_or_fail(picture, fmt, out, quality, str(path))

    atomic_write(path, write)


# ---------------------------------------------------------------------------------------------
# Atomic writes, and the plain uint8 RGB helpers the evaluation uses


def access_error(name: str, error: OSError) -> ImageError:
    """The one-line message for a file that cannot be opened (missing, a folder, no permission)."""
    reason = {FileNotFoundError: "no such file", IsADirectoryError: "is a folder", PermissionError: "permission denied"}
    return ImageError(f"{name}: {reason.get(type(error), error.strerror or error)}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """atomic_file.atomic_write (temporary file, fsync, rename), its errors as ImageError.

    Readers never see a half-written file, and nothing is left behind when write() fails.
    """
    try:
        atomic_file.atomic_write(path, write)
    except atomic_file.WriteError as error:
        raise ImageError(str(error)) from None


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


def write_rgb(pixels: np.ndarray, path: str | os.PathLike, quality: int = 92) -> None:
    """Encode uint8 RGB to `path` atomically; the format comes from the extension."""
    fmt = output_format(path)
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    image = Image.fromarray(pixels)
    atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **options))
