"""The streaming PNG writer: exact round trips, Pillow-sized files, memory bounded by a strip."""
import io
import subprocess
import tracemalloc

import numpy as np
import png
import pytest
from PIL import Image

from conftest import SET14
from sr_scale.core import png_writer



@pytest.fixture(scope="module")
def baboon() -> np.ndarray:
    return np.asarray(Image.open(SET14 / "baboon.png").convert("RGB"))


def decoded_by_pypng(data: bytes, shape: tuple) -> np.ndarray:
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    return np.vstack([np.asarray(row) for row in rows]).reshape(shape)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_every_layout_round_trips_exactly_across_strips(baboon, channels, dtype, monkeypatch):
    monkeypatch.setattr(png_writer, "STRIP_BYTES", 1000)  # many strips: the row above crosses strip edges
    grey_alpha = np.dstack([baboon, baboon[..., :1][::-1]])  # a 4th plane unlike the others
    pixels = np.ascontiguousarray(grey_alpha[:61, :47, (0, 3, 1, 2)[:channels] if channels < 4 else slice(None)])
    if dtype == np.uint16:
        pixels = pixels.astype(np.uint16) * 257 + np.arange(pixels.size, dtype=np.uint16).reshape(pixels.shape) % 251
    buffer = io.BytesIO()
    png_writer.write_png(pixels, buffer)
    assert (decoded_by_pypng(buffer.getvalue(), pixels.shape) == pixels).all()


def test_imagemagick_reads_it_like_the_array(baboon, tmp_path):
    path = tmp_path / "out.png"
    with path.open("wb") as out:
        png_writer.write_png(baboon, out)
    ppm = subprocess.run(["convert", str(path), "ppm:-"], capture_output=True, check=True).stdout
    assert (np.asarray(Image.open(io.BytesIO(ppm))) == baboon).all()


def test_files_are_as_small_as_pillows(baboon):
    ours, pillows = io.BytesIO(), io.BytesIO()
    png_writer.write_png(baboon, ours)
    Image.fromarray(baboon).save(pillows, "PNG")  # adaptive filters, zlib level 6
    assert len(ours.getvalue()) <= 1.05 * len(pillows.getvalue())
    assert len(ours.getvalue()) < 0.9 * baboon.nbytes  # the filters do work on a photo


def test_memory_stays_within_a_few_strips_of_a_big_image(baboon, tmp_path):
    big = np.tile(baboon, (8, 8, 1))  # 4000 x 4000 px, 48 MB
    tracemalloc.start()
    with (tmp_path / "big.png").open("wb") as out:
        png_writer.write_png(big, out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40 * png_writer.STRIP_BYTES < big.nbytes / 4, peak  # intermediates of one strip
    assert Image.open(tmp_path / "big.png").size == (big.shape[1], big.shape[0])
