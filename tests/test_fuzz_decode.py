"""The decoding path under fuzzing (tests/fuzz_decode.py): real seed files of every format we read,
mutated by hypothesis with a fixed seed and a bounded number of examples, and every input that
once broke it kept as a regression test."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_decode import FINDINGS, check_one, seeds
from sr_scale.core.image_io import FORMATS, read_image

SEEDS = seeds()
# Examples per seed file in CI: 18 seeds x 120 = 2160 inputs, about a minute on a quiet core.
EXAMPLES_PER_SEED = 120
# Values that make header fields lie in interesting ways: zero, one, sign bits, all ones.
LYING_VALUES = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` with 1-6 edits: a byte set or flipped, a 2/4-byte field overwritten with a lying
    value (either byte order), a run deleted, bytes inserted or repeated, or the tail cut off.
    Half the positions fall in the first 256 bytes, where the headers are."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        if len(data) < 2:
            break
        at = draw(st.one_of(st.integers(0, min(255, len(data) - 1)), st.integers(0, len(data) - 1)))
        edit = draw(st.sampled_from(["set", "flip", "field", "delete", "insert", "repeat", "truncate"]))
        if edit == "set":
            data[at] = draw(st.integers(0, 255))
        elif edit == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "field":
            width = draw(st.sampled_from([2, 4]))
            value = draw(st.sampled_from(LYING_VALUES)) % (1 << (8 * width))
            data[at : at + width] = value.to_bytes(width, draw(st.sampled_from(["little", "big"])))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "repeat":
            start = draw(st.integers(0, len(data) - 1))
            data[at:at] = data[start : start + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


def test_the_seeds_cover_every_format_sr_scale_reads_and_each_decodes():
    decoded = {name: read_image(data, name=name) for name, data in SEEDS.items()}
    assert {p.source_format for p in decoded.values()} == set(FORMATS.values())
    assert decoded["rgb16.png"].pixels.dtype == decoded["rgb16.tif"].pixels.dtype == np.uint16
    assert decoded["greyalpha16.tif"].pixels.shape == (16, 24, 2)  # the tifffile-only path
    assert decoded["grey.jpg"].pixels.shape == (16, 24, 1)
    assert decoded["cmyk.jpg"].pixels.shape == decoded["palette.gif"].pixels.shape == (16, 24, 3)
    assert decoded["palette.png"].pixels.shape == (16, 24, 4)
    assert decoded["rotated.jpg"].pixels.shape == (24, 16, 3)  # EXIF orientation applied


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutated_files_decode_or_are_refused_with_one_line(name):
    @settings(max_examples=EXAMPLES_PER_SEED, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(mutated(SEEDS[name]))
    def property(data: bytes) -> None:
        check_one(data)

    property()


@pytest.mark.parametrize("path", sorted(FINDINGS.glob("*")) if FINDINGS.is_dir() else [], ids=lambda p: p.name)
def test_inputs_that_once_broke_the_decoder_are_refused_with_one_line(path):
    assert check_one(path.read_bytes()) in ("decoded", "refused")


@pytest.mark.parametrize("path", sorted(FINDINGS.glob("*")) if FINDINGS.is_dir() else [], ids=lambda p: p.name)
def test_sr_scale_reports_a_finding_in_one_line_and_writes_nothing(path, tmp_path):
    """As a user sees it: no library log lines or traceback on stderr, exit 1, no output file."""
    done = subprocess.run([sys.executable, "-m", "sr_scale.imagemagick_wrapper.cli", str(path), str(tmp_path / "out.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"Error: {path}: "), done.stderr
    assert list(tmp_path.iterdir()) == []
