"""int8 calibration: the user's own photos, or images synthesised from a seed (no data needed);
bad input is one line of error."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sr_scale.core import image_io

from conftest import DATA

pytest.importorskip("onnx")
from sr_scale.exporter import calibration, int8  # noqa: E402  (needs onnx, from the train extra)
from sr_scale.exporter.calibration import CalibrationError, photo_crops, synthetic_crops  # noqa: E402

T91 = DATA / "train" / "T91"


def test_synthesised_crops_are_the_same_for_a_seed_and_sized_for_calibration():
    first, again, other = synthetic_crops(3, 48, seed=0), synthetic_crops(3, 48, seed=0), synthetic_crops(3, 48, seed=1)
    assert all(crop.shape == (48, 48, 3) and crop.dtype == np.uint8 for crop in first)
    assert all((a == b).all() for a, b in zip(first, again))
    assert not all((a == b).all() for a, b in zip(first, other))
    assert all(crop.std() > 10 for crop in first)  # edges and texture, not flat colour


def test_the_default_calibration_reads_no_image(tiny_onnx, tmp_path, monkeypatch):
    """An installed package has no ../shared: the default must not look for photos anywhere."""
    def no_files(*args, **kwargs):
        raise AssertionError("the default calibration read an image file")

    monkeypatch.setattr(image_io, "read_rgb", no_files)
    monkeypatch.setattr(calibration, "read_rgb", no_files)
    int8.convert(tiny_onnx, tmp_path / "tiny.int8.onnx", calibration_count=2)
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "tiny.int8.onnx")).metadata_props}
    assert metadata["precision"].startswith("int8") and "synthesised" in metadata["calibration"]


def test_own_photos_calibrate_and_are_named_in_the_metadata(tiny_onnx, tmp_path):
    import onnx

    result = CliRunner().invoke(int8.main, [str(tiny_onnx), str(tmp_path / "own.int8.onnx"), "--calibration", "3",
                                            "--calibration-images", str(T91)])
    assert result.exit_code == 0, result.output
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "own.int8.onnx")).metadata_props}
    assert metadata["calibration"] == "3 crops of T91"


def test_fewer_photos_than_crops_are_cropped_again():
    one = sorted(T91.glob("*.png"))[0]
    crops = photo_crops([one], 3, 32)
    assert len(crops) == 3 and not (crops[0] == crops[1]).all()


def test_photos_too_small_are_a_calibration_error(tmp_path):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(CalibrationError, match=r"no image of at least 192 pixels a side"):
        photo_crops([tmp_path], 2, 96)


@pytest.mark.parametrize("case", ["empty folder", "not a model", "not an rdn", "unwritable"])
def test_bad_input_is_one_line_of_error(case, tiny_onnx, tmp_path):
    source, target, extra = tiny_onnx, tmp_path / "out.int8.onnx", []
    if case == "empty folder":
        (tmp_path / "photos").mkdir()
        extra, expected = ["--calibration-images", str(tmp_path / "photos")], "no images"
    elif case == "not a model":
        source = tmp_path / "notes.onnx"
        source.write_text("not a model")
        expected = "not an ONNX model"
    elif case == "not an rdn":
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph([helper.make_node("Relu", ["lr"], ["sr"], name="relu")], "g",
                                  [helper.make_tensor_value_info("lr", TensorProto.FLOAT, [1, 3, 8, 8])],
                                  [helper.make_tensor_value_info("sr", TensorProto.FLOAT, [1, 3, 8, 8])])
        source = tmp_path / "relu.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(source))
        expected = "not an RDN exported by sr-export"
    else:
        target, expected = tmp_path / "missing" / "out.int8.onnx", "folder"
    result = CliRunner().invoke(int8.main, [str(source), str(target), "--calibration", "2", *extra])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]  # onnxruntime prints progress
    assert len(errors) == 1 and errors[0].startswith("Error: ") and expected in errors[0], result.output
    assert not target.exists()


def test_text_share_mixes_rendered_canvases_in_and_says_so(tiny_onnx, tmp_path):
    """The text models calibrate partly on rendered catalog text (--calibration-text)."""
    canvases = calibration.canvas_crops(2, 48, seed=0)
    assert all(crop.shape == (48, 48, 3) and crop.dtype == np.uint8 for crop in canvases)
    assert all((a == b).all() for a, b in zip(canvases, calibration.canvas_crops(2, 48, seed=0)))
    result = CliRunner().invoke(int8.main, [str(tiny_onnx), str(tmp_path / "text.int8.onnx"), "--calibration", "4",
                                            "--calibration-text", "0.5"])
    assert result.exit_code == 0, result.output
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "text.int8.onnx")).metadata_props}
    assert metadata["calibration"] == "2 crops of synthesised dead leaves, 2 of rendered catalog canvases"
    bad = CliRunner().invoke(int8.main, [str(tiny_onnx), str(tmp_path / "bad.int8.onnx"), "--calibration-text", "1.5"])
    assert bad.exit_code == 2 and "1.5" in bad.output
