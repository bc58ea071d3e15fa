"""The enlargement step behind sr-scale: pass planning, grey and alpha handling, TTA, several passes."""

import numpy as np
import pytest

from conftest import PRODUCTS
from sr_scale.core.engine import DIHEDRAL, Upscaler
from sr_scale.core.image_io import Picture
from sr_scale.core.enlarge import Plan, enlarge, plan_for, resample



@pytest.mark.parametrize(("size", "passes"), [((200, 100), 1), ((201, 100), 2), ((400, 200), 2), ((401, 1), 3),
                                              ((100, 50), 0), ((50, 25), 0), ((100, 100), 1)])
def test_plan_uses_the_fewest_model_passes_that_reach_the_size(size, passes):
    assert plan_for(100, 50, size, model_scale=2) == Plan(passes, size)


def test_no_enlargement_means_no_model_call(butterfly):
    def model(rgb, passes):
        raise AssertionError("the model must not run when shrinking")

    out = enlarge(Picture(butterfly), Plan(0, (100, 80)), model)
    assert out.pixels.shape == (80, 100, 3)


def test_grey_goes_through_the_model_and_stays_one_channel(tiny_onnx, butterfly):
    engine = Upscaler(tiny_onnx)
    grey = butterfly[:40, :48, :1].copy()
    out = enlarge(Picture(grey), Plan(1, (96, 80)), lambda rgb, passes: engine.upscale(rgb, passes=passes))
    assert out.pixels.shape == (80, 96, 1) and out.pixels.dtype == np.uint8
    expected = engine.upscale(np.repeat(grey, 3, axis=2)).mean(axis=2)
    assert np.abs(out.pixels[..., 0].astype(float) - expected).max() <= 0.5


def test_alpha_is_clamped_to_its_neighbourhood_so_clear_stays_clear_and_opaque_stays_opaque(tiny_onnx, butterfly):
    engine = Upscaler(tiny_onnx)  # a random model: its raw alpha would be far off
    alpha = np.zeros((40, 48, 1), np.uint8)
    alpha[10:30, 12:36] = 255
    rgba = np.concatenate([butterfly[:40, :48], alpha], axis=2)
    out = enlarge(Picture(rgba), Plan(1, (96, 80)), lambda rgb, passes: engine.upscale(rgb, passes=passes)).pixels
    assert (out[:16, :, 3] == 0).all() and (out[24:56, 28:68, 3] == 255).all()


def test_opaque_alpha_costs_no_extra_model_pass(butterfly):
    calls = []

    def model(rgb, passes):
        calls.append(rgb.shape)
        return np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1)

    rgba = np.concatenate([butterfly[:8, :8], np.full((8, 8, 1), 255, np.uint8)], axis=2)
    out = enlarge(Picture(rgba), Plan(1, (16, 16)), model).pixels
    assert len(calls) == 1 and (out[..., 3] == 255).all()


def test_premultiplied_alpha_keeps_edge_colour_free_of_the_hidden_black(butterfly):
    """With a linear 'model' (pixel repeat + blur), straight colour would pull black from under the
    transparent pixels into the edge; premultiplied colour keeps the visible colour exact."""
    def blur_model(rgb, passes):
        big = np.repeat(np.repeat(rgb.astype(np.float32), 2, axis=0), 2, axis=1)
        padded = np.pad(big, ((1, 1), (1, 1), (0, 0)), mode="edge")
        smooth = sum(padded[dy : dy + big.shape[0], dx : dx + big.shape[1]] for dy in range(3) for dx in range(3)) / 9
        return np.rint(smooth).astype(rgb.dtype)

    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, 8:] = (200, 120, 40, 255)  # an orange half, black and clear on the left
    out = enlarge(Picture(rgba), Plan(1, (32, 32)), blur_model).pixels
    edge = out[:, 15:18]
    visible = edge[..., 3] > 0
    assert visible.any() and (np.abs(edge[visible][:, :3].astype(int) - (200, 120, 40)) <= 2).all()


def test_sixteen_bit_alpha_image_stays_sixteen_bit(tiny_onnx, butterfly):
    engine = Upscaler(tiny_onnx)
    deep = np.concatenate([butterfly[:20, :24], butterfly[:20, :24, :1]], axis=2).astype(np.uint16) * 257
    out = enlarge(Picture(deep), Plan(1, (48, 40)), lambda rgb, passes: engine.upscale(rgb, passes=passes)).pixels
    assert out.dtype == np.uint16 and out.shape == (40, 48, 4)


def test_resample_reaches_the_exact_size_in_sixteen_bits():
    deep = (np.random.default_rng(0).random((30, 20, 3)) * 65535).astype(np.uint16)
    out = resample(deep, (37, 41))
    assert out.shape == (41, 37, 3) and out.dtype == np.uint16


def test_two_passes_equal_two_single_upscales(tiny_onnx, butterfly):
    engine = Upscaler(tiny_onnx)
    small = butterfly[:24, :32]
    assert (engine.upscale(small, passes=2) == engine.upscale(engine.upscale(small))).all()


def test_tta_is_the_mean_over_the_eight_flips_and_rotations(tiny_onnx, butterfly):
    plain, tta = Upscaler(tiny_onnx), Upscaler(tiny_onnx, tta=True)
    small = butterfly[:24, :32]
    def float_sr(rgb: np.ndarray) -> np.ndarray:  # the model's float32 output on the whole image, unclamped
        return plain.run(np.ascontiguousarray(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 255))[0].transpose(1, 2, 0)

    runs = [inverse(float_sr(forward(small))) for forward, inverse in DIHEDRAL]
    expected = np.clip(np.rint(np.mean(runs, axis=0) * 255), 0, 255)
    assert np.abs(tta.upscale(small).astype(int) - expected).max() <= 1


def test_dihedral_pairs_are_eight_distinct_invertible_transforms():
    image = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    assert len({forward(image).tobytes() for forward, _ in DIHEDRAL}) == 8
    assert all((inverse(forward(image)) == image).all() for forward, inverse in DIHEDRAL)


def _cut_out(name: str) -> np.ndarray:
    """A real product photo as an RGBA cut-out: its white background made transparent at full
    resolution (median-filtered mask), box-averaged to a third so edges are anti-aliased, black
    under the clear pixels as many cut-out files have; cropped to a region around the product's edge."""
    from PIL import Image, ImageFilter

    full = Image.open(PRODUCTS / name).convert("RGB")
    size = (full.width // 3, full.height // 3)
    rgb = np.asarray(full.resize(size, Image.Resampling.LANCZOS))
    mask = Image.fromarray(((np.asarray(full).min(axis=2) < 230) * 255).astype(np.uint8)).filter(ImageFilter.MedianFilter(7))
    rgba = np.dstack([rgb, np.asarray(mask.resize(size, Image.Resampling.BOX))])
    rgba[rgba[..., 3] == 0, :3] = 0
    return rgba[120:248, 80:208].copy()


def test_colour_hidden_under_clear_pixels_does_not_reach_the_visible_output(tiny_onnx):
    """On a real cut-out, black or white junk under the clear pixels gives the same visible result,
    so edges cannot pick up a dark or light fringe from it (straight colour through the model would)."""
    engine = Upscaler(tiny_onnx)
    model = lambda rgb, passes: engine.upscale(rgb, passes=passes)  # noqa: E731
    black = _cut_out("mj12-orange_main.jpg")[::2, ::2].copy()
    white = black.copy()
    white[white[..., 3] == 0, :3] = 255
    outputs = [enlarge(Picture(rgba), Plan(1, (128, 128)), model).pixels for rgba in (black, white)]
    visible = outputs[0][..., 3] > 0
    assert visible.any() and (outputs[0][..., 3] == outputs[1][..., 3]).all()
    assert (outputs[0][visible] == outputs[1][visible]).all()
    straight = [engine.upscale(np.ascontiguousarray(rgba[..., :3])) for rgba in (black, white)]
    assert (straight[0][visible] != straight[1][visible]).any()  # the fringe this avoids
