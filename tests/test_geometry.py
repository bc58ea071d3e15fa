"""The -resize grammar against the real ImageMagick: same output size for every geometry and input size."""
import shutil
import subprocess

import click
import pytest

from sr_scale.imagemagick_wrapper.geometry import GeometryError, GeometryType, parse_geometry

INPUT_SIZES = [(37, 23), (23, 37), (640, 480), (1, 1), (255, 256), (7, 300)]
GEOMETRIES = [
    "200%", "50%", "33%", "150%", "333.3%", "200%x50%", "50x200%", "200%x",
    "100", "100x", "x100", "3x", "x3", "100.5x",
    "100x100", "100x100^", "100x100!", "100x100>", "100x100<", "2000x100<", "100x2000>",
    "200x200^", "64x64!", "999x1>", "1x999<", "1x1", "10000@", "5000@", "1@", "1000000@",
    "300x300^>", "300x300!<",
]


def imagemagick_sizes(geometry: str) -> list[tuple[int, int] | None]:
    """What the real ImageMagick gives each input size; None where it refuses (zero size).

    One call resizes every input size at once; only a call that complained is redone size by size.
    """
    binary = shutil.which("magick") or "convert"

    def run(sizes):
        canvases = [arg for width, height in sizes for arg in ("-size", f"{width}x{height}", "xc:red")]
        done = subprocess.run([binary, *canvases, "-resize", geometry, "-format", "%wx%h\\n", "info:"], capture_output=True, text=True)
        return done, [tuple(map(int, line.split("x"))) for line in done.stdout.split()]

    done, sizes = run(INPUT_SIZES)
    if done.returncode == 0 and not done.stderr:
        return sizes
    out = []
    for size in INPUT_SIZES:
        done, sizes = run([size])
        out.append(sizes[0] if done.returncode == 0 and not done.stderr else None)
    return out


def wrapper_sizes(geometry: str) -> list[tuple[int, int] | None]:
    parsed = parse_geometry(geometry)
    out = []
    for width, height in INPUT_SIZES:
        try:
            out.append(parsed.size_for(width, height))
        except GeometryError:
            out.append(None)
    return out


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_output_size_matches_real_imagemagick(geometry):
    assert wrapper_sizes(geometry) == imagemagick_sizes(geometry)


@pytest.mark.parametrize("text", ["", "abc", "100y100", "10x10x10", "%", "100x100@", "-5%", "x"])
def test_malformed_geometry_is_refused_with_the_reason(text):
    with pytest.raises(GeometryError, match="invalid geometry"):
        parse_geometry(text)


def test_zero_size_result_is_an_error_naming_the_geometry():
    with pytest.raises(GeometryError, match="1%.*zero size.*37x23"):
        parse_geometry("1%").size_for(37, 23)


def test_click_type_turns_a_bad_geometry_into_a_usage_error():
    with pytest.raises(click.BadParameter, match="invalid geometry"):
        GeometryType().convert("12q", None, None)
