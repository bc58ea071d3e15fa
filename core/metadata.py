"""Image metadata that must survive an enlargement: ICC profile, EXIF, XMP, resolution (DPI),
and the JPEG quality the input was saved at. Read from a Pillow image, updated for the new size,
turned back into Pillow save options.

Orientation: decoding turns the pixels upright, and `upright` then sets the orientation to 1 in the
field, EXIF and XMP, in that one place, so that whatever writes decoded pixels never rotates them
twice. Policy on the new size: the EXIF/XMP pixel dimensions become the new ones, and the DPI is
multiplied by the enlargement so the print size stays the same (the enlargement adds detail to the same picture, it does not make the
picture physically bigger); EXIF, JFIF/pHYs/TIFF resolution then all agree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from PIL import Image

from .jpeg_quality import estimate_quality, tables_of

# EXIF tags, by number (IFD0 and the Exif sub-IFD).
ORIENTATION = 0x0112
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128
EXIF_IFD = 0x8769
PIXEL_X_DIMENSION, PIXEL_Y_DIMENSION = 0xA002, 0xA003
# A TIFF's IFD0 is both its EXIF and its layout; these describe the layout (and ICC/XMP, carried
# separately) and must not be written back as EXIF of a new file.
TIFF_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 292, 293, 317, 318,
    319, 320, 322, 323, 324, 325, 338, 339, 340, 341, 347, 530, 531, 532, 700, 32995, 32996, 32997, 32998,
    33723, 34377, 34675, 37724,
})


@dataclass(frozen=True)
class Metadata:
    """What is kept from an input. `exif` is Pillow's serialised form (with the `Exif\\0\\0` header)."""

    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    orientation: int = 1  # EXIF orientation of the pixels it goes with, 1..8 (1 once decoded: see `upright`)
    jpeg_quality: int | None = None  # estimated from the input's quantisation tables (jpeg_quality.py), 1..100


def read_metadata(im: Image.Image) -> Metadata:
    """Collect ICC, EXIF, XMP, DPI, orientation and JPEG quality from an opened (not yet decoded) image."""
    exif = im.getexif()
    if im.format == "TIFF":
        for tag in TIFF_LAYOUT_TAGS & set(exif):
            del exif[tag]
    orientation = int(exif.get(ORIENTATION, 1) or 1)
    dpi = im.info.get("dpi")
    return Metadata(
        icc=im.info.get("icc_profile") or None,
        exif=exif.tobytes() if len(exif) else None,
        xmp=_xmp_of(im),
        dpi=(float(dpi[0]), float(dpi[1])) if dpi and dpi[0] and dpi[1] else None,
        orientation=orientation if 1 <= orientation <= 8 else 1,
        jpeg_quality=estimate_quality(tables_of(im)),
    )


def _xmp_of(im: Image.Image) -> bytes | None:
    raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if raw is None and hasattr(im, "tag_v2"):
        raw = im.tag_v2.get(700)  # TIFF's XMP tag
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return bytes(raw) if raw else None


def upright(meta: Metadata) -> Metadata:
    """Metadata for the same pixels turned upright (EXIF orientation applied): orientation 1 in the
    field, the EXIF tag and XMP's tiff:Orientation; EXIF and XMP without an orientation are kept as they are."""
    exif = meta.exif
    if exif:
        loaded = Image.Exif()
        loaded.load(exif)
        if loaded.get(ORIENTATION, 1) != 1:
            loaded[ORIENTATION] = 1
            exif = loaded.tobytes()
    return replace(meta, exif=exif, xmp=_xmp_with(meta.xmp, {"tiff:Orientation": 1}) if meta.xmp else None, orientation=1)


def for_new_size(meta: Metadata, width: int, height: int, factor_x: float, factor_y: float) -> Metadata:
    """Metadata for the upright output of width x height pixels, enlarged by factor_x, factor_y."""
    dpi = (meta.dpi[0] * factor_x, meta.dpi[1] * factor_y) if meta.dpi else None
    sizes = {"exif:PixelXDimension": width, "exif:PixelYDimension": height, "tiff:ImageWidth": width, "tiff:ImageLength": height}
    return replace(
        meta,
        exif=_exif_for(meta.exif, width, height, dpi) if meta.exif else None,
        xmp=_xmp_with(meta.xmp, sizes) if meta.xmp else None,
        dpi=dpi,
    )


def _exif_for(raw: bytes, width: int, height: int, dpi: tuple[float, float] | None) -> bytes:
    exif = Image.Exif()
    exif.load(raw)
    if dpi and (X_RESOLUTION in exif or Y_RESOLUTION in exif):
        exif[X_RESOLUTION], exif[Y_RESOLUTION] = dpi
        exif[RESOLUTION_UNIT] = 2  # inches, as the DPI is
    if EXIF_IFD in exif:  # get_ifd() would otherwise add an empty Exif sub-IFD
        sub = exif.get_ifd(EXIF_IFD)
        if PIXEL_X_DIMENSION in sub or PIXEL_Y_DIMENSION in sub:
            sub[PIXEL_X_DIMENSION], sub[PIXEL_Y_DIMENSION] = width, height
    return exif.tobytes()


def _xmp_with(xmp: bytes, values: dict[str, int]) -> bytes:
    """Rewrite the given XMP properties (name -> value), as attributes or as elements."""
    text = xmp.decode("utf-8", errors="surrogateescape")
    for name, value in values.items():
        text = re.sub(rf'({re.escape(name)}=")[^"]*(")', rf"\g<1>{value}\g<2>", text)
        text = re.sub(rf"(<{re.escape(name)}>)[^<]*(</{re.escape(name)}>)", rf"\g<1>{value}\g<2>", text)
    return text.encode("utf-8", errors="surrogateescape")


def _tiff_tags(raw: bytes) -> dict:
    exif = Image.Exif()
    exif.load(raw)
    return {tag: value for tag, value in exif.items() if tag not in TIFF_LAYOUT_TAGS and tag not in (EXIF_IFD, 0x8825)}


def stripped(meta: Metadata) -> Metadata:
    """`-strip`: no profiles or comments, as ImageMagick; the resolution is not a profile and stays."""
    return Metadata(dpi=meta.dpi, jpeg_quality=meta.jpeg_quality)


def save_options(meta: Metadata, fmt: str) -> dict:
    """Pillow save() keyword arguments carrying `meta` into format `fmt` (what that format can hold)."""
    options: dict = {}
    if fmt in ("JPEG", "PNG", "TIFF", "WEBP") and meta.icc:
        options["icc_profile"] = meta.icc
    if fmt in ("JPEG", "PNG", "WEBP") and meta.exif:
        options["exif"] = meta.exif
    if fmt == "TIFF":
        # Pillow's TIFF writer ignores exif=: the descriptive IFD0 tags go in as TIFF tags (the
        # Exif sub-IFD with camera settings is not carried into TIFF outputs).
        options["tiffinfo"] = _tiff_tags(meta.exif) if meta.exif else {}
    if fmt in ("JPEG", "PNG", "TIFF", "BMP") and meta.dpi:
        options["dpi"] = meta.dpi
    if meta.xmp:
        if fmt in ("JPEG", "WEBP"):
            options["xmp"] = meta.xmp
        elif fmt == "PNG":
            from PIL.PngImagePlugin import PngInfo

            info = PngInfo()
            info.add_itxt("XML:com.adobe.xmp", meta.xmp.decode("utf-8", errors="replace"), zip=False)
            options["pnginfo"] = info
        elif fmt == "TIFF":
            options["tiffinfo"][700] = meta.xmp
    return options
