import numpy as np
import pytest

from sr_scale.core.degradations import bicubic_downscale, gaussian_noise, imresize, jpeg, resize_matrix, to_uint8


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


def test_doubling_matches_matlab_imresize_of_1_to_4():
    # MATLAB: imresize([1 2 3 4], [1 8], 'bicubic'). Output pixel centres fall at 0.75, 1.25, ...
    # (1-based input coordinates); the kernel weights at offsets 0.25/0.75/1.25/1.75 are
    # 0.8671875 / 0.2265625 / -0.0703125 / -0.0234375, the border mirrored (x(0) = x(1)).
    row = np.array([[1, 2, 3, 4]], dtype=np.float64)
    up = imresize(row, 1, 8)[0]
    expected = [0.90625, 1.1796875, 1.7265625, 2.25, 2.75, 3.2734375, 3.8203125, 4.09375]
    assert np.allclose(up, expected, atol=1e-6)


def test_fast_resize_equals_the_matrix_form_in_both_directions():
    rng = np.random.default_rng(1)
    image = rng.random((23, 31, 3)) * 255
    for out_h, out_w in ((11, 15), (46, 62), (23, 10), (7, 93)):
        rows, cols = resize_matrix(23, out_h), resize_matrix(31, out_w)
        expected = np.einsum("oh,hwc,pw->opc", rows, image, cols)
        assert np.allclose(imresize(image, out_h, out_w), expected, atol=1e-3)


def test_to_uint8_rounds_half_away_from_zero_and_clips_like_matlab():
    assert to_uint8(np.array([-3.0, 0.49, 0.5, 1.5, 2.5, 254.5, 300.0])).tolist() == [0, 0, 1, 2, 3, 255, 255]


def test_jpeg_round_trip_loses_more_at_low_quality(butterfly):
    error = {q: np.abs(jpeg(butterfly, q).astype(int) - butterfly).mean() for q in (20, 90)}
    assert 0 < error[90] < error[20]


def test_gaussian_noise_has_the_requested_sigma_in_uint8_levels():
    flat = np.full((200, 200, 3), 128, np.uint8)
    noisy = gaussian_noise(flat, 3.0, np.random.default_rng(0))
    assert noisy.astype(float).std() == pytest.approx(3.0, rel=0.05)
