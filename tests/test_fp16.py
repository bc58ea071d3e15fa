"""The fp16 exporter's bad input: one line of error, nothing written."""
import pytest
from click.testing import CliRunner

pytest.importorskip("onnx")
from sr_scale.exporter import fp16  # noqa: E402  (needs onnx, from the train extra)


def test_a_file_that_is_not_a_model_is_one_line_of_error(tmp_path):
    source = tmp_path / "notes.onnx"
    source.write_text("a price list, not a model")
    result = CliRunner().invoke(fp16.main, [str(source), str(tmp_path / "half.onnx")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [result.output.strip()] and "not an ONNX model" in result.output
    assert not (tmp_path / "half.onnx").exists()


def test_a_missing_target_folder_is_one_line_of_error(tiny_onnx, tmp_path):
    result = CliRunner().invoke(fp16.main, [str(tiny_onnx), str(tmp_path / "missing" / "half.onnx")])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "cannot write to" in result.output
    assert len(result.output.strip().splitlines()) == 1
