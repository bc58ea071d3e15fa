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
