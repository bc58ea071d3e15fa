"""The GPU training path, run here on the CPU: pack a config's data, then train from the pack
with gpu/train.sh exactly as a rented GPU machine would (fixed minutes, checkpoints out)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import DATA, SET5  # noqa: E402
from sr_scale.core import config as config_module  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
T91_PHOTOS = ["t1.png", "t2.png", "t3.png", "t5.png", "tt1.png"]


@pytest.fixture
def small_config(tmp_path) -> Path:
    photos, halved, val = tmp_path / "photos", tmp_path / "halved", tmp_path / "val"
    for folder, names in ((photos, T91_PHOTOS[:3]), (halved, T91_PHOTOS[3:])):
        folder.mkdir()
        for name in names:
            shutil.copy(DATA / "train" / "T91" / name, folder / name)
    val.mkdir()
    shutil.copy(SET5 / "butterfly.png", val / "butterfly.png")
    path = tmp_path / "small.toml"
    path.write_text(textwrap.dedent(f"""
        arch = "tiny"
        val = "{val}"
        patch_size = 16
        batch_size = 4
        threads = 1
        val_every = 1000
        [[train]]
        path = "{photos}"
        [[train]]
        path = "{halved}"
        hr_scale = 0.5
        weight = 2.0
    """))
    return path


def test_pack_keeps_shares_applies_hr_scale_and_points_the_config_inside(small_config, tmp_path):
    from gpu.pack_data import pack

    kept = pack(small_config, tmp_path / "pack", max_mb=1000)
    assert kept == {"train0-photos": (3, 3), "train1-halved": (2, 2), "val-val": (1, 1)}
    packed = config_module.load(tmp_path / "pack" / "config.toml")
    assert [(s.path, s.hr_scale, s.weight) for s in packed.train] == [("data/train0-photos", 1.0, 1.0), ("data/train1-halved", 1.0, 2.0)]
    from PIL import Image

    original = Image.open(DATA / "train" / "T91" / T91_PHOTOS[3]).size
    assert Image.open(tmp_path / "pack" / "data" / "train1-halved" / "t5.webp").size == tuple(round(v / 2) for v in original)
    # A budget too small for everything keeps every folder's share, and the validation set whole.
    whole_mb = sum(p.stat().st_size for p in (tmp_path / "pack" / "data").rglob("*.webp")) / 2**20
    small = pack(small_config, tmp_path / "small-pack", max_mb=whole_mb / 2)
    assert small["val-val"] == (1, 1) and small["train0-photos"][0] < 3


def test_gpu_train_script_trains_for_the_given_minutes_and_writes_checkpoints(small_config, tmp_path):
    from gpu.pack_data import pack

    pack(small_config, tmp_path / "pack", max_mb=1000)
    result = subprocess.run(["bash", str(ROOT / "gpu" / "train.sh"), str(tmp_path / "pack"), "0.05", str(tmp_path / "out"),
                             "--set", "steps=100000"], capture_output=True, text=True, timeout=600,
                            env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "device: CPU (no CUDA)" in result.stdout
    assert "max_minutes (0.05) reached" in result.stderr
    state = torch.load(tmp_path / "out" / "last.pt", weights_only=True)
    assert 0 < state["step"] < 100000 and (tmp_path / "out" / "best.pt").exists()
