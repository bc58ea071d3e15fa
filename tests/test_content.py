"""The text check of the input-aware default (core/content.py) and the text members it chooses."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_scale.core import catalog, synthetic
from sr_scale.core.content import MIN_SIDE, is_text, measure_text
from sr_scale.core.evaluate import crop_to_multiple, load_hr, make_lr
from sr_scale.core.restoration import (COMPRESSED_TEXT_MODEL, FAMILY, TEXT_MODEL, Request, decide, decide_for_file,
                                       model_for)

from conftest import PRODUCTS, SET5, SET14, T91

QUALITIES = (0, 90, 75, 40)  # 0 = clean LR


def text_lr(seed: int, index: int = 0, quality: int = 0) -> np.ndarray:
    """LR of product text lines in the training fonts (a seed unlike the evaluation's), as sr-eval makes it."""
    hr, _ = catalog.text_image(np.random.default_rng(seed), synthetic.TRAIN_STYLE, index)
    return make_lr(hr, 2, quality)


@pytest.fixture(scope="module")
def photo_hrs() -> list[np.ndarray]:
    """Every committed photo: Set5, Set14, T91's and the product photos (at half size, as training uses them)."""
    photos = [load_hr(p, 2) for folder in (SET5, SET14, T91) for p in sorted(folder.glob("*.png"))]
    return photos + [crop_to_multiple(make_lr(load_hr(p, 2), 2), 2) for p in sorted(PRODUCTS.glob("*.jpg"))]


@pytest.mark.parametrize("quality", QUALITIES)
def test_rendered_text_is_text_at_every_quality(quality):
    for index in range(4):  # black on white, and every fourth on a flat colour
        assert is_text(text_lr(5150 + index, index if index < 3 else 3, quality)), (index, quality)


@pytest.mark.parametrize("quality", QUALITIES)
def test_no_photo_is_text(photo_hrs, quality):
    found = [measure_text(make_lr(hr, 2, quality)) for hr in photo_hrs]
    assert len(found) >= 17
    assert not any(m.is_text for m in found), [m for m in found if m.is_text]


def test_small_and_flat_images_are_not_text():
    assert measure_text(np.zeros((MIN_SIDE - 1, 200, 3), np.uint8)) is None
    flat = measure_text(np.full((64, 64, 3), 200, np.uint8))
    assert (flat.background, flat.sharp, flat.is_text) == (1.0, 0.0, False)


def test_grey_alpha_and_16_bit_are_measured_like_rgb():
    lr = text_lr(5160)
    grey = np.round(lr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)[..., None]
    assert is_text(grey) and is_text(np.concatenate([grey, np.full_like(grey, 255)], axis=2))
    assert is_text(lr.astype(np.uint16) * 257)


def test_text_gets_the_text_member_of_its_compression(tmp_path: Path):
    Image.fromarray(text_lr(5170)).save(tmp_path / "tag.png")
    Image.fromarray(text_lr(5170)).save(tmp_path / "tag75.jpg", quality=75)
    Image.fromarray(text_lr(5170)).save(tmp_path / "tag40.jpg", quality=40)
    assert decide_for_file(tmp_path / "tag.png").describe() == f"clean (none), text -> {TEXT_MODEL}"
    assert decide_for_file(tmp_path / "tag75.jpg").describe() == f"q75 (tables), text -> {COMPRESSED_TEXT_MODEL}"
    assert decide_for_file(tmp_path / "tag40.jpg").describe() == f"q40 (tables), text -> {COMPRESSED_TEXT_MODEL}"
    # --model still fixes the model; the detection is still reported.
    assert decide_for_file(tmp_path / "tag.png", Request(model="x2")).describe() == "clean (none), text -> x2"
    assert model_for(75, text=True) == COMPRESSED_TEXT_MODEL and model_for(None, text=True) == TEXT_MODEL
    assert {TEXT_MODEL, COMPRESSED_TEXT_MODEL} <= set(FAMILY)


def test_without_pixels_there_is_no_text_check():
    assert decide(75, "JPEG", None).text is False
