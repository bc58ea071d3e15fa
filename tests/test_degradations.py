import numpy as np
import pytest

from sr_scale.core.degradations import bicubic_downscale, imresize, resize_matrix


def test_halving_a_ramp_gives_the_pixel_centres_away_from_the_border():
    # Cubic convolution reproduces linear signals, so LR pixel j (1-based) sits at 2j - 0.5.
    ramp = np.arange(1, 33, dtype=np.float64)
    lr = resize_matrix(32, 16) @ ramp
    assert np.allclose(lr[2:-2], 2 * np.arange(3, 15) - 0.5)


def test_border_uses_symmetric_padding_like_matlab():
    # MATLAB imresize(1:8, 0.5) first value, from the antialiased a=-0.5 kernel over a mirrored border.
    lr = resize_matrix(8, 4) @ np.arange(1, 9, dtype=np.float64)
    assert lr[0] == pytest.approx(1.44921875)
    assert lr[-1] == pytest.approx(7.55078125)


def test_weights_of_each_output_pixel_sum_to_one():
    for n_in, n_out in ((10, 5), (7, 14), (33, 16)):
        assert np.allclose(resize_matrix(n_in, n_out).sum(axis=1), 1)


def test_constant_image_stays_constant():
    flat = np.full((20, 30, 3), 117, np.uint8)
    assert (bicubic_downscale(flat, 2) == 117).all()


def test_colour_image_matches_per_channel_resize():
    rng = np.random.default_rng(0)
    rgb = rng.random((12, 18, 3)) * 255
    whole = imresize(rgb, 6, 9)
    per_channel = np.stack([imresize(rgb[..., c], 6, 9) for c in range(3)], axis=2)
    assert np.allclose(whole, per_channel, atol=1e-3)
