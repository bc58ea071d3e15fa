"""Shared fixtures: real images from ../shared/data and a tiny exported RDN for fast engine tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = SHARED / "data"
SET5 = DATA / "eval" / "Set5"


@pytest.fixture(scope="session")
def butterfly() -> np.ndarray:
    """Set5 butterfly, 256x256 uint8 RGB: a real photo."""
    return np.asarray(Image.open(SET5 / "butterfly.png").convert("RGB"))


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    """A randomly initialised 'tiny' RDN exported to ONNX (torch needed only to build it)."""
    torch = pytest.importorskip("torch")
    from sr_scale.core.model import RDN, variant
    from sr_scale.exporter.export import export

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny.onnx"
    export(RDN(variant("tiny")), path, {"name": "tiny"})
    return path
