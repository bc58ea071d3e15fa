"""Decoding and encoding: orientation, every channel layout and bit depth, metadata, bombs, atomicity."""
import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from conftest import SET14
from sr_scale.core.image_io import ImageError, Picture, atomic_write, encoded_bytes, is_complete_image, read_image, write_image
from sr_scale.core.jpeg_quality import estimate_quality
from sr_scale.core.metadata import Metadata, for_new_size, upright

IMAGEMAGICK = shutil.which("magick") or "convert"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 40x56 (h x w) crop of a real photo: not square, so a wrong rotation changes the shape."""
    return np.asarray(Image.open(SET14 / "baboon.png").convert("RGB"))[100:140, 200:256]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow_does(photo, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", exif=exif, quality=95)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue()))))
    decoded = read_image(buffer.getvalue())
    assert decoded.pixels.shape == expected.shape and (decoded.pixels == expected).all()
    assert decoded.metadata.orientation == 1  # the pixels are upright now, and the metadata says so


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_pixels_survive_a_round_trip_exactly(photo, channels, fmt):
    deep = (photo.astype(np.uint16) * 257 + np.arange(photo.shape[1], dtype=np.uint16)[None, :, None])
    layout = {1: deep[..., :1], 2: deep[..., :2], 3: deep, 4: np.concatenate([deep, deep[..., :1]], axis=2)}[channels]
    back = read_image(encoded_bytes(Picture(np.ascontiguousarray(layout)), fmt))
    assert back.pixels.dtype == np.uint16 and back.pixels.shape == layout.shape
    assert (back.pixels == layout).all()


def test_sixteen_bit_png_written_by_imagemagick_reads_as_sixteen_bit(tmp_path):
    path = tmp_path / "deep.png"
    subprocess.run([IMAGEMAGICK, str(SET14 / "baboon.png"), "-crop", "30x20+0+0", "-depth", "16", f"PNG48:{path}"], check=True)
    picture = read_image(path)
    assert picture.pixels.dtype == np.uint16 and picture.pixels.shape == (20, 30, 3)
    assert (picture.pixels % 257 == 0).all()  # 8-bit values scaled by ImageMagick, not truncated by us


@pytest.mark.parametrize("quality", [40, 75, 90, 97])
def test_jpeg_quality_estimate_matches_imagemagick(tmp_path, quality):
    path = tmp_path / "q.jpg"
    subprocess.run([IMAGEMAGICK, str(SET14 / "baboon.png"), "-quality", str(quality), str(path)], check=True)
    reported = subprocess.run(["identify", "-format", "%Q", str(path)], capture_output=True, text=True).stdout
    assert estimate_quality(Image.open(path).quantization) == int(reported) == quality


def test_huge_png_header_is_refused_before_decoding():
    header = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
    with pytest.raises(ImageError, match="100000x100000.*over the limit"):
        read_image(header + _chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _chunk(b"IEND", b""), name="bomb.png")


def test_animated_gif_is_refused_not_silently_cut_to_one_frame(photo):
    buffer = io.BytesIO()
    frames = [Image.fromarray(photo), Image.fromarray(photo[::-1].copy())]
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="has 2 frames"):
        read_image(buffer.getvalue(), name="anim.gif")


def test_camera_mpo_jpeg_reads_as_its_first_picture(photo):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "MPO", save_all=True, append_images=[Image.fromarray(photo[:20, :20].copy())])
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == 2
    picture = read_image(buffer.getvalue())
    assert picture.pixels.shape == photo.shape and picture.source_format == "JPEG"


def test_palette_transparency_becomes_alpha(photo):
    image = Image.fromarray(photo).quantize(16)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=3)
    picture = read_image(buffer.getvalue())
    assert picture.has_alpha and (picture.pixels[..., 3] == 0).any() and (picture.pixels[..., 3] == 255).any()


def test_metadata_for_new_size_scales_dpi_and_pixel_dimensions():
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif.get_ifd(0x8769)[0xA002] = 56
    meta = Metadata(exif=exif.tobytes(), dpi=(300.0, 300.0),
                    xmp=b'<x:xmpmeta><rdf:Description tiff:Orientation="1" exif:PixelXDimension="56"/></x:xmpmeta>')
    new = for_new_size(meta, 80, 112, 2.0, 2.0)
    loaded = Image.Exif()
    loaded.load(new.exif)
    assert loaded[0x010F] == "Maker" and loaded.get_ifd(0x8769)[0xA002] == 80
    assert new.dpi == (600.0, 600.0)
    assert b'exif:PixelXDimension="80"' in new.xmp


def test_upright_sets_orientation_one_in_the_field_exif_and_xmp():
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Maker"
    meta = Metadata(exif=exif.tobytes(), orientation=6,
                    xmp=b'<x:xmpmeta><rdf:Description tiff:Orientation="6" exif:PixelXDimension="56"/></x:xmpmeta>')
    new = upright(meta)
    loaded = Image.Exif()
    loaded.load(new.exif)
    assert new.orientation == 1 and loaded[0x0112] == 1 and loaded[0x010F] == "Maker"
    assert b'tiff:Orientation="1"' in new.xmp and b'exif:PixelXDimension="56"' in new.xmp


def test_a_rotated_jpeg_read_and_written_back_shows_upright(photo, tmp_path):
    """Decoding applies EXIF orientation 6 to the pixels; writing them back must not carry the 6
    along, or every viewer rotates the picture a second time (whatever path writes it)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Camera", 6  # as a phone held upright writes it: stored sideways
    rotated = tmp_path / "camera.jpg"
    Image.fromarray(photo).save(rotated, "JPEG", exif=exif, quality=95)
    upright_view = np.asarray(ImageOps.exif_transpose(Image.open(rotated)))
    picture = read_image(rotated)
    assert picture.metadata.orientation == 1 and picture.pixels.shape == upright_view.shape == (56, 40, 3)
    for name in ("copy.jpg", "copy.png"):
        write_image(picture, tmp_path / name)
        written = Image.open(tmp_path / name)
        assert written.getexif().get(0x0112, 1) == 1 and written.getexif()[0x010F] == "Camera", name
        assert ImageOps.exif_transpose(written).size == (40, 56), name


def test_cmyk_jpeg_with_profile_decodes_to_rgb_without_the_cmyk_profile(tmp_path):
    path = tmp_path / "cmyk.jpg"
    subprocess.run([IMAGEMAGICK, str(SET14 / "baboon.png"), "-crop", "30x20+0+0", "-colorspace", "CMYK", str(path)], check=True)
    assert Image.open(path).mode == "CMYK"
    picture = read_image(path)
    reference = np.asarray(Image.open(SET14 / "baboon.png").convert("RGB"))[:20, :30].astype(int)
    assert picture.pixels.shape == (20, 30, 3) and picture.metadata.icc is None
    assert np.abs(picture.pixels.astype(int) - reference).mean() < 12  # colours, not inverted or garbled


def test_icc_profile_is_carried_into_every_format_that_holds_one(photo):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture = Picture(photo, Metadata(icc=icc))
    for fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
        assert Image.open(io.BytesIO(encoded_bytes(picture, fmt))).info.get("icc_profile") == icc, fmt


def test_failed_atomic_write_leaves_nothing_behind(tmp_path):
    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(ImageError, match="No space left"):
        atomic_write(tmp_path / "out.png", fail)
    assert list(tmp_path.iterdir()) == []


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_a_whole_image_is_complete_and_a_cut_one_is_not(photo, fmt, tmp_path):
    whole = tmp_path / f"whole.{fmt.lower()}"
    Image.fromarray(photo).save(whole, fmt)
    data = whole.read_bytes()
    cut, empty = tmp_path / f"cut.{fmt.lower()}", tmp_path / f"empty.{fmt.lower()}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    empty.write_bytes(b"")
    assert is_complete_image(whole) and not is_complete_image(cut) and not is_complete_image(empty)


def test_a_sixteen_bit_grey_alpha_tiff_that_pillow_cannot_open_is_complete(photo, tmp_path):
    import tifffile

    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, (photo[..., :2].astype(np.uint16) * 257), photometric="minisblack", extrasamples=("unassalpha",))
    assert is_complete_image(path)


def test_a_missing_file_or_a_folder_is_not_a_complete_image(tmp_path):
    assert not is_complete_image(tmp_path / "missing.png") and not is_complete_image(tmp_path)
