"""A model's precision is what its file says (the `precision` metadata the exporters write), not
what its name suggests; sr-eval names each model once."""
import shutil

import pytest

from sr_scale.core.engine import Upscaler
from sr_scale.core.evaluate import build_methods


@pytest.fixture(scope="module")
def copies(tiny_onnx, tmp_path_factory):
    """tiny.onnx with its int8 copy beside it, and an fp16 copy under a name that says nothing."""
    pytest.importorskip("onnx")
    from sr_scale.exporter import fp16, int8

    folder = tmp_path_factory.mktemp("precision")
    shutil.copy(tiny_onnx, folder / "tiny.onnx")
    int8.convert(folder / "tiny.onnx", folder / "tiny.int8.onnx", calibration_count=4)
    fp16.convert(folder / "tiny.onnx", folder / "half.onnx")
    return folder


def test_an_fp16_copy_reports_float16(copies):
    assert Upscaler(copies / "half.onnx").precision == "float16"


def test_each_file_reports_its_own_precision(copies):
    assert Upscaler(copies / "tiny.onnx", precision="float32").precision == "float32"
    assert Upscaler(copies / "tiny.int8.onnx").precision == "int8"


def test_sr_eval_names_an_int8_file_given_by_path_once(copies):
    _, upscalers, _ = build_methods([str(copies / "tiny.int8.onnx")], ["bicubic"], [], "bicubic", threads=1)
    assert list(upscalers) == ["tiny.int8"]


def test_sr_eval_marks_the_int8_copy_it_runs_in_place_of_the_model(copies):
    _, upscalers, _ = build_methods([str(copies / "tiny.onnx")], ["bicubic"], [], "bicubic", threads=1, precision="int8")
    assert list(upscalers) == ["tiny.int8"]
    _, upscalers, _ = build_methods([str(copies / "half.onnx")], ["bicubic"], [], "bicubic", threads=1, precision="float32")
    assert list(upscalers) == ["half"]
