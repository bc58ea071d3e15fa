"""Correctness of the speed work: the float16 model variant, the IO-binding path, and the benchmark's
multiply-add count (the GFLOP/s figures in docs/performance.md rest on it)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sr_scale.core.engine import Upscaler

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fp16_onnx(tiny_onnx, tmp_path_factory) -> Path:
    from sr_scale.exporter.fp16 import convert

    path = tmp_path_factory.mktemp("fp16") / "tiny.fp16.onnx"
    convert(tiny_onnx, path)
    return path


def test_fp16_model_gives_the_same_size_and_close_pixels(tiny_onnx, fp16_onnx, butterfly):
    full = Upscaler(tiny_onnx, device="cpu").upscale(butterfly)
    half = Upscaler(fp16_onnx, device="cpu").upscale(butterfly)
    assert half.shape == full.shape == (512, 512, 3)
    assert half.dtype == np.uint8
    difference = np.abs(half.astype(int) - full.astype(int))
    assert difference.max() <= 2  # float16 rounding may flip a level or two, never more
    assert difference.mean() < 0.1


def test_fp16_model_keeps_the_metadata_the_engine_needs(tiny_onnx, fp16_onnx):
    full, half = Upscaler(tiny_onnx, device="cpu"), Upscaler(fp16_onnx, device="cpu")
    assert half.scale == full.scale
    assert half.info.receptive_radius == full.info.receptive_radius
    assert half.info.metadata["precision"] == "float16"


def test_fp16_file_is_half_the_size(tiny_onnx, fp16_onnx):
    assert fp16_onnx.stat().st_size < 0.7 * tiny_onnx.stat().st_size


def test_fp16_conversion_refuses_a_file_that_is_not_onnx(tmp_path):
    from sr_scale.exporter.fp16 import convert

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(Exception):
        convert(bad, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_io_binding_path_equals_the_plain_path(tiny_onnx, butterfly):
    plain = Upscaler(tiny_onnx, device="cpu", tile=96)
    bound = Upscaler(tiny_onnx, device="cpu", tile=96)
    assert not plain.io_binding  # CPU sessions take the plain path by default
    bound.io_binding = True  # the CUDA path, exercised on the CPU provider
    np.testing.assert_array_equal(bound.upscale(butterfly), plain.upscale(butterfly))


def _bench_workload():
    """bench/ is a folder of the checkout, not an installed package: load its module by path."""
    spec = importlib.util.spec_from_file_location("bench_workload", ROOT / "bench" / "workload.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conv_macs_match_the_rdn_architecture(tiny_onnx):
    from sr_scale.core.model import variant

    c = variant("tiny")
    per_pixel = (
        c.channels * c.G0 * 9 + c.G0 * c.G0 * 9  # shallow features: two 3x3 convs
        + c.D * sum((c.G0 + i * c.G) * c.G * 9 for i in range(c.C))  # dense layers
        + c.D * (c.G0 + c.C * c.G) * c.G0  # local fusion, 1x1
        + c.D * c.G0 * c.G0 + c.G0 * c.G0 * 9  # global fusion: 1x1 then 3x3
        + c.G0 * c.channels * c.scale**2 * 9  # upsampler conv before the pixel shuffle
    )
    assert _bench_workload().conv_macs(tiny_onnx, 24, 40) == per_pixel * 24 * 40
