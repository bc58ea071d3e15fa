"""JPEG quality from the quantisation tables, against the real `identify -format %Q` of ImageMagick."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from conftest import SET14
from sr_scale.core.jpeg_quality import estimate_quality, imagemagick_quality, read_tables, scaled_table, STANDARD_LUMA

needs_imagemagick = pytest.mark.skipif(shutil.which("convert") is None, reason="ImageMagick is not installed")

# (name, Pillow save options) and (name, `convert` options): both libraries, 4:2:0 and 4:4:4, progressive.
PILLOW_WAYS = {"pillow-420": {"subsampling": 2}, "pillow-444": {"subsampling": 0},
               "pillow-progressive": {"subsampling": 2, "progressive": True}}
MAGICK_WAYS = {"magick-420": ["-sampling-factor", "2x2"], "magick-444": ["-sampling-factor", "1x1"],
               "magick-progressive": ["-interlace", "JPEG"]}
QUALITIES = range(20, 101)
IMAGEMAGICK_UNDEFINED = 92  # what `identify -format %Q` prints for tables it cannot place


def identify_quality(paths: list[Path]) -> list[int]:
    out = subprocess.run(["identify", "-format", "%Q\n", *map(str, paths)], check=True, capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(SET14 / "baboon.png").convert("RGB").crop((0, 0, 96, 96))


@needs_imagemagick
def test_estimate_matches_identify_on_files_of_pillow_and_imagemagick(photo, tmp_path):
    source = tmp_path / "source.png"
    photo.save(source)
    files = []
    for q in QUALITIES:
        for way, options in PILLOW_WAYS.items():
            files.append(tmp_path / f"{way}-{q}.jpg")
            photo.save(files[-1], quality=q, **options)
        for way, options in MAGICK_WAYS.items():
            files.append(tmp_path / f"{way}-{q}.jpg")
            subprocess.run(["convert", str(source), "-quality", str(q), *options, str(files[-1])], check=True)
    expected = identify_quality(files)
    got = [imagemagick_quality(read_tables(path)) for path in files]
    mismatches = [(path.name, e, g) for path, e, g in zip(files, expected, got) if e != g]
    assert not mismatches
    # and on libjpeg's own tables the estimate is the quality the file was saved with
    assert [estimate_quality(read_tables(path)) for path in files[::6]] == list(QUALITIES)


@needs_imagemagick
def test_grey_jpeg_uses_the_luma_only_rule(photo, tmp_path):
    files = []
    for q in (25, 50, 75, 90, 97):
        files.append(tmp_path / f"grey-{q}.jpg")
        photo.convert("L").save(files[-1], quality=q)
    assert [len(read_tables(path)) for path in files] == [1] * len(files)
    assert [imagemagick_quality(read_tables(path)) for path in files] == identify_quality(files) == [25, 50, 75, 90, 97]


@needs_imagemagick
def test_custom_tables_follow_identify_and_always_get_an_estimate(photo, tmp_path):
    """Tables no libjpeg quality makes: flat tables, and the standard ones scaled off-grid."""
    files, custom = [], [
        [[8] * 64, [8] * 64],
        [[40] * 64, [60] * 64],
        [[min(255, round(e * 2.7)) for e in STANDARD_LUMA], [200] * 64],
        [[max(1, round(e * 0.37)) for e in STANDARD_LUMA], [30] * 64],
    ]
    for i, qtables in enumerate(custom):
        files.append(tmp_path / f"custom-{i}.jpg")
        photo.save(files[-1], qtables=qtables)
    # identify prints its default, 92, where it has no estimate; estimate_quality then takes the
    # closest libjpeg luma table instead, so coarse custom tables are not mistaken for quality 92
    assert [imagemagick_quality(read_tables(path)) or IMAGEMAGICK_UNDEFINED for path in files] == identify_quality(files)
    assert imagemagick_quality(read_tables(files[2])) is None
    assert estimate_quality(read_tables(files[2])) < 50


def test_cmyk_jpeg_has_tables_and_an_estimate(photo):
    buffer = io.BytesIO()
    photo.convert("CMYK").save(buffer, "JPEG", quality=60)
    assert estimate_quality(read_tables(buffer.getvalue())) == 60


def test_files_without_tables_give_none(photo, tmp_path):
    png = tmp_path / "a.png"
    photo.save(png)
    assert read_tables(png) is None
    assert read_tables(b"\xff\xd8\xff garbage") is None
    assert read_tables(tmp_path / "missing.jpg") is None
    assert estimate_quality(None) is None and imagemagick_quality({}) is None
    assert estimate_quality({0: [1] * 10}) is None  # a table of the wrong length is no table


def test_scaled_table_is_libjpegs_at_50_and_100():
    assert scaled_table(STANDARD_LUMA, 50) == list(STANDARD_LUMA)
    assert scaled_table(STANDARD_LUMA, 100) == [1] * 64


def test_estimate_is_found_from_the_header_without_decoding(photo):
    """Only the header is read: a file cut right after its tables still gives the estimate."""
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=83)
    data = buffer.getvalue()
    start_of_scan = data.index(b"\xff\xda")
    assert estimate_quality(read_tables(data[: start_of_scan + 20])) == 83
