"""The on-the-fly patch sampler on real photos: geometry, LR synthesis, augmentation, caching."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SET5, T91
from sr_scale.core.config import DataSource, TrainConfig
from sr_scale.core.data import PatchSampler, dihedral, list_images, load_val_images, read_rgb
from sr_scale.core.degradations import bicubic_downscale



@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("t1.png", "t2.png", "t3.png"):
        shutil.copy(T91 / name, folder / name)
    return folder


def config_for(*folders: Path | DataSource, **changes) -> TrainConfig:
    sources = [f if isinstance(f, DataSource) else DataSource(str(f)) for f in folders]
    return TrainConfig(**{"train": sources, "patch_size": 16, "batch_size": 4, **changes})


def test_batch_has_aligned_lr_and_hr_patches_of_the_configured_size(photos):
    lr, hr = PatchSampler(config_for(photos), scale=2).sample(np.random.default_rng(0))
    assert lr.shape == (4, 16, 16, 3) and hr.shape == (4, 32, 32, 3)
    assert lr.dtype == hr.dtype == np.uint8


def test_lr_patch_is_the_matlab_bicubic_downscale_of_its_hr_patch(photos):
    # The LR side is cut from a downscaled window with 2 LR pixels of real context, so inside
    # that margin it equals downscaling the HR patch alone, whatever the flip/rotation.
    lr, hr = PatchSampler(config_for(photos, batch_size=16), scale=2).sample(np.random.default_rng(1))
    for lr_patch, hr_patch in zip(lr, hr):
        inner = np.s_[2:-2, 2:-2]
        difference = np.abs(bicubic_downscale(hr_patch, 2)[inner].astype(int) - lr_patch[inner])
        assert difference.max() <= 1


def test_lr_patch_border_sees_the_pixels_around_the_hr_patch(photos):
    # Downscaling the patch alone would mirror its own border; the sampler uses the real context.
    lr, hr = PatchSampler(config_for(photos, batch_size=16), scale=2).sample(np.random.default_rng(1))
    alone = np.stack([bicubic_downscale(patch, 2) for patch in hr])
    assert not np.array_equal(alone[:, 0], lr[:, 0])


def test_the_eight_flips_and_rotations_are_distinct():
    image = np.arange(12).reshape(3, 4)
    variants = {dihedral(image, k).tobytes() + bytes(dihedral(image, k).shape) for k in range(8)}
    assert len(variants) == 8


def test_same_rng_gives_the_same_batch(photos):
    sampler = PatchSampler(config_for(photos), scale=2)
    first = sampler.sample(np.random.default_rng([0, 0, 5]))
    again = sampler.sample(np.random.default_rng([0, 0, 5]))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_flat_patches_are_rejected_above_the_threshold(tmp_path):
    # Half the picture is a flat wall: with the threshold, no patch comes from it.
    photo = read_rgb(SET5 / "butterfly.png")
    half_flat = photo.copy()
    half_flat[:, :128] = 128
    Image.fromarray(half_flat).save(tmp_path / "half.png")
    sampler = PatchSampler(config_for(tmp_path, batch_size=32, flat_threshold=4.0), scale=2)
    _, hr = sampler.sample(np.random.default_rng(0))
    assert min(patch.mean(axis=2).std() for patch in hr) >= 4.0


def test_folder_weights_set_each_folders_share_of_the_steps(photos, tmp_path):
    shutil.copy(T91 / "t5.png", tmp_path / "t5.png")
    sampler = PatchSampler(config_for(DataSource(str(photos), weight=1.0), DataSource(str(tmp_path), weight=3.0)), scale=2)
    rng = np.random.default_rng(0)
    draws = [sampler.images[sampler.choose(rng)].path.parent for _ in range(4000)]
    assert draws.count(tmp_path) / 4000 == pytest.approx(0.75, abs=0.03)


def test_hr_scale_shrinks_images_before_use(photos):
    sampler = PatchSampler(config_for(DataSource(str(photos), hr_scale=0.5), cache_mb=100), scale=2)
    full = read_rgb(photos / "t1.png")
    padded = sampler.images[0].pixels
    assert padded.shape[0] - 2 * sampler.pad == round(full.shape[0] * 0.5) // 2 * 2


def test_images_beyond_the_cache_are_decoded_on_demand_with_the_same_batches(photos):
    cached = PatchSampler(config_for(photos), scale=2)
    on_demand = PatchSampler(config_for(photos, cache_mb=0), scale=2)
    assert all(img.pixels is None for img in on_demand.images) and on_demand.cached_mb == 0
    for step in range(6):
        on_demand.prefetch(np.random.default_rng([0, 0, step]))
        a = cached.sample(np.random.default_rng([0, 0, step]))
        b = on_demand.sample(np.random.default_rng([0, 0, step]))
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_prefetch_decodes_the_image_the_next_batch_draws(photos):
    sampler = PatchSampler(config_for(photos, cache_mb=0), scale=2)
    sampler.prefetch(np.random.default_rng(3))
    index = sampler.choose(np.random.default_rng(3))
    assert list(sampler._pending) == [index]
    sampler.sample(np.random.default_rng(3))
    assert sampler._pending == {}


def test_jpeg_degradation_changes_only_the_lr_side(photos):
    clean = PatchSampler(config_for(photos), scale=2).sample(np.random.default_rng(0))
    jpeg = PatchSampler(config_for(photos, jpeg_quality=[10, 10]), scale=2).sample(np.random.default_rng(0))
    assert np.array_equal(clean[1], jpeg[1])
    assert not np.array_equal(clean[0], jpeg[0])


def test_noise_degradation_has_the_requested_strength(photos):
    clean, _ = PatchSampler(config_for(photos), scale=2).sample(np.random.default_rng(0))
    noisy, _ = PatchSampler(config_for(photos, noise_sigma=[5.0, 5.0]), scale=2).sample(np.random.default_rng(0))
    assert (noisy.astype(float) - clean).std() == pytest.approx(5.0, rel=0.15)


def test_any_format_and_mode_is_read_as_rgb(tmp_path):
    photo = Image.open(SET5 / "bird.png")
    photo.convert("L").save(tmp_path / "grey.png")
    photo.convert("P").save(tmp_path / "palette.bmp")
    photo.convert("RGBA").save(tmp_path / "alpha.webp")
    photo.convert("CMYK").save(tmp_path / "print.jpg")
    photo.convert("I;16").save(tmp_path / "deep.tif")
    paths = list_images(tmp_path)
    assert len(paths) == 5
    for path in paths:
        rgb = read_rgb(path)
        assert rgb.dtype == np.uint8 and rgb.shape == (*photo.size[::-1], 3), path


def test_unreadable_files_are_skipped_with_a_warning_naming_them(photos, tmp_path, caplog):
    for name in ("t1.png", "t2.png"):
        shutil.copy(photos / name, tmp_path / name)
    (tmp_path / "cut.png").write_bytes((photos / "t3.png").read_bytes()[:500])
    sampler = PatchSampler(config_for(tmp_path), scale=2)
    assert sorted(img.path.name for img in sampler.images) == ["t1.png", "t2.png"]
    assert f"skipping unreadable image {tmp_path / 'cut.png'}" in caplog.text


def test_images_smaller_than_a_patch_are_skipped_with_a_warning(photos, tmp_path, caplog):
    shutil.copy(photos / "t1.png", tmp_path / "t1.png")
    Image.open(photos / "t2.png").resize((20, 20)).save(tmp_path / "thumb.png")
    sampler = PatchSampler(config_for(tmp_path), scale=2)
    assert [img.path.name for img in sampler.images] == ["t1.png"]
    assert f"skipping {tmp_path / 'thumb.png'}: smaller than one HR patch" in caplog.text


def test_a_folder_without_usable_images_among_others_is_warned_about(photos, tmp_path, caplog):
    PatchSampler(config_for(photos, tmp_path), scale=2)
    assert "no image file" in caplog.text and str(tmp_path) in caplog.text


def test_validation_images_are_whole_rgb_images_with_their_names(photos):
    images = load_val_images(photos)
    assert [name for name, _ in images] == ["t1.png", "t2.png", "t3.png"]
    assert images[0][1].shape == read_rgb(photos / "t1.png").shape
