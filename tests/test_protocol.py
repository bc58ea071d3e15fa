"""The evaluation protocol of shared/data/README.md, checked against its published numbers."""
import numpy as np
import pytest

from conftest import SET5
from sr_scale.core.evaluate import bicubic_upscale, evaluate_folder, summarise
from sr_scale.core.metrics import rgb_to_y, ssim


def test_bicubic_on_set5_scores_the_published_33_65_db():
    rows = evaluate_folder(SET5, {"bicubic": lambda lr: bicubic_upscale(lr, 2)}, scale=2)
    mean = summarise(rows)["Set5"]["bicubic"]
    assert 33.64 <= mean["y_psnr"] <= 33.67
    assert mean["images"] == 5


def test_y_channel_follows_matlab_rgb2ycbcr():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    assert rgb_to_y(rgb).tolist() == [[16, 235, 81]]


def test_ssim_of_an_image_with_itself_is_one():
    image = np.random.default_rng(0).random((40, 50)) * 255
    assert ssim(image, image) == pytest.approx(1.0)
