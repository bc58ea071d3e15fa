"""Shared fixtures: real images committed under tests/data and a tiny exported RDN for fast engine tests.

The one place that says where test images are. Tests read the committed copies (DATA and the set
folders below; tests/data/README.md says where each comes from), so a clone with nothing beside
it runs the whole suite. The complete sets (B100, BSD200, all of T91, the product photos) are for
training and benchmarks: `full_data()` finds them, and a test that truly needs them skips, saying
so, only when they are absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).resolve().parent / "data"
SET5 = DATA / "eval" / "Set5"  # all 5 images
SET14 = DATA / "eval" / "Set14"  # baboon, bridge (grey), lenna, monarch
T91 = DATA / "train" / "T91"  # t1, t2, t3, t5, tt1
PRODUCTS = DATA / "train" / "products"  # lt05, mb02-blue-0, mj12-orange_main
# The complete data sets: $SR_SCALE_DATA, else the team's ../shared/data beside the checkout.
FULL_DATA_ENV = "SR_SCALE_DATA"


def full_data() -> Path:
    """The folder of the complete sets (eval/B100, train/BSD200, ...); pytest.skip with the reason
    when there is none, so only tests that cannot run on the committed subset call it."""
    given = os.environ.get(FULL_DATA_ENV)
    folder = Path(given) if given else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not folder.is_dir():
        pytest.skip(f"needs the complete image sets: set {FULL_DATA_ENV} or put shared/data beside the checkout "
                    f"({folder} does not exist)")
    return folder


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
