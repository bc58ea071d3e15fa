import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from sr_scale.core.model import RDN, variant  # noqa: E402
from sr_scale.exporter import export as export_module  # noqa: E402


def test_onnx_matches_torch_within_1e4_on_a_real_photo(tiny_onnx, butterfly):
    torch.manual_seed(0)  # the same weights as the fixture's model
    model = RDN(variant("tiny")).eval()
    lr = (butterfly[:61, :90].astype(np.float32) / 255).transpose(2, 0, 1)[None].copy()
    assert export_module.parity(model, tiny_onnx, [lr]) <= 1e-4


def test_onnx_has_dynamic_height_and_width(tiny_onnx):
    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    for h, w in ((5, 7), (40, 19)):
        out = session.run(None, {"lr": np.zeros((1, 3, h, w), np.float32)})[0]
        assert out.shape == (1, 3, 2 * h, 2 * w)


def test_metadata_carries_scale_architecture_and_version(tiny_onnx):
    meta = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert meta["scale"] == "2"
    assert json.loads(meta["arch"])["G0"] == variant("tiny").G0
    assert meta["version"] and meta["name"] == "tiny"


def test_export_fails_and_writes_nothing_when_parity_breaks(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "parity", lambda *args: 3e-3)
    out = tmp_path / "broken.onnx"
    with pytest.raises(export_module.ParityError, match="3.00e-03"):
        export_module.export(RDN(variant("tiny")), out)
    assert list(tmp_path.iterdir()) == []


def test_metrics_embed_the_per_set_means_of_clean_and_jpeg_sr_eval_runs(tiny_onnx, tmp_path):
    from click.testing import CliRunner

    from conftest import SET5
    from sr_scale.core.eval_cli import main as sr_eval

    files = []
    for jpeg in (0, 75):
        path = tmp_path / f"eval{jpeg}.json"
        result = CliRunner().invoke(sr_eval, [str(SET5), "--model", str(tiny_onnx), "--baseline", "bicubic", "--jpeg", str(jpeg),
                                              "--json", str(path)])
        assert result.exit_code == 0, result.output
        files.append(str(path))
    summary = export_module.evaluation_summary(tuple(files))
    assert set(summary) == {"protocol", "clean", "jpeg75"}
    for key, file in zip(("clean", "jpeg75"), files):
        document = json.loads(open(file).read())
        assert summary[key]["Set5"]["tiny"]["y_psnr"] == round(document["summary"]["Set5"]["tiny"]["y_psnr"], 4)
        assert set(summary[key]["Set5"]) == {"bicubic", "tiny"}
    assert summary["clean"]["Set5"]["bicubic"]["y_psnr"] > summary["jpeg75"]["Set5"]["bicubic"]["y_psnr"]
