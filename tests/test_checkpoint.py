"""Checkpoints are plain data: a pickle payload is refused (and never runs), old ones still load,
and export loads them without importing the training loop."""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from sr_scale.core.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint  # noqa: E402
from sr_scale.core.model import RDN, variant  # noqa: E402

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


class _Payload:
    """Unpickling this calls Path.touch(marker): code that a checkpoint must never run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_payload_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    model = RDN(variant("tiny"))
    torch.save({"arch": model.config.to_dict(), "model": model.state_dict(), "config": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(evil)
    assert not marker.exists()
    message = str(error.value)
    assert "evil.pt" in message and "refused" in message and "\n" not in message


def test_sr_export_refuses_the_payload_in_one_line(tmp_path):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"arch": {}, "model": {}, "x": _Payload(marker)}, f)
    result = subprocess.run([sys.executable, "-m", "sr_scale.exporter.export", str(evil), str(tmp_path / "out.onnx")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert not marker.exists() and not (tmp_path / "out.onnx").exists()
    assert result.stderr.count("\n") == 1 and "refused" in result.stderr, result.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in CHECKPOINTS.glob("*.pt")))
def test_committed_checkpoints_load_as_plain_data(name):
    model = load_model(CHECKPOINTS / name)
    # The architecture its training config asked for ("small", or grown ones such as {"D": 6, ...}).
    assert model.config == variant(load_checkpoint(CHECKPOINTS / name)["config"]["arch"])


def test_damaged_and_missing_checkpoints_are_one_line_errors(tmp_path):
    model = RDN(variant("tiny"))
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"arch": model.config.to_dict(), "model": model.state_dict()})
    assert load_model(good).config == model.config
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    for path in (truncated, tmp_path / "absent.pt"):
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(path)
        assert path.name in str(error.value) and "\n" not in str(error.value)


def test_export_does_not_import_the_training_loop():
    code = "import sys, sr_scale.exporter.export; print('sr_scale.core.train' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
