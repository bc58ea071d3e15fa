"""Training configuration: TOML file + overrides onto one dataclass; mistakes are errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from sr_scale.core import config
from sr_scale.core.config import DataSource, TrainConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_shipped_x2_config_resolves_to_the_documented_run():
    c = config.load(CONFIGS / "x2.toml")
    c.validate()
    assert (c.arch, c.patch_size, c.batch_size, c.loss, c.schedule) == ("small", 48, 16, "l1", "cosine")
    assert [(s.path, s.hr_scale, s.weight) for s in c.train] == [
        ("../shared/data/train/T91", 1.0, 1.0),
        ("../shared/data/train/BSD200", 1.0, 2.0),
        ("../shared/data/train/products", 0.5, 1.0),
    ]


def test_every_shipped_config_is_valid():
    for path in CONFIGS.glob("*.toml"):
        config.load(path).validate()


def test_overrides_take_toml_values_and_bare_words():
    c = config.load(CONFIGS / "x2.toml", ["steps=10", "loss=mse", "jpeg_quality=[30, 90]", "lr=1"])
    assert (c.steps, c.loss, c.jpeg_quality, c.lr) == (10, "mse", [30, 90], 1.0)


def test_cli_values_win_over_the_file_and_overrides():
    c = config.load(CONFIGS / "x2.toml", ["steps=10"], {"steps": 20, "train": ["my/photos"]})
    assert c.steps == 20 and c.train == [DataSource("my/photos")]


def test_resolved_config_round_trips_through_toml(tmp_path):
    c = config.load(CONFIGS / "x2.toml", ["noise_sigma=[0, 5]"])
    (tmp_path / "config.toml").write_text(config.to_toml(c))
    assert config.load(tmp_path / "config.toml") == c


def test_unknown_key_is_an_error_that_suggests_the_close_one():
    with pytest.raises(ValueError, match=r"unknown config key\(s\): 'batchsize' \(did you mean 'batch_size'\?\)"):
        config.from_dict({"batchsize": 8})


def test_unknown_key_in_a_train_table_is_an_error():
    with pytest.raises(ValueError, match="unknown key.*scale"):
        config.from_dict({"train": [{"path": "x", "scale": 0.5}]})


def test_train_table_without_path_is_an_error():
    with pytest.raises(ValueError, match="has no path"):
        config.from_dict({"train": [{"weight": 2}]})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("steps", "100", "steps must be int, not '100'"),
        ("steps", 1.5, "steps must be int, not 1.5"),
        ("steps", True, "steps must be int, not True"),
        ("bf16", 1, "bf16 must be bool, not 1"),
        ("jpeg_quality", 50, "jpeg_quality must be a list, not 50"),
        ("noise_sigma", ["a"], "noise_sigma must be float, not 'a'"),
    ],
)
def test_value_of_the_wrong_type_is_an_error(key, value, message):
    with pytest.raises(ValueError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        config.from_dict({key: value})


def test_ints_are_accepted_where_floats_are_expected():
    assert config.from_dict({"lr": 1}).lr == 1.0


def test_broken_toml_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("steps = = 3\n")
    with pytest.raises(ValueError, match=f"^{path}: "):
        config.load(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train": []}, "no training folder"),
        ({"arch": "huge"}, "unknown RDN variant 'huge'"),
        ({"loss": "l3"}, "loss must be 'l1' or 'mse'"),
        ({"schedule": "linear"}, "schedule must be 'cosine' or 'step'"),
        ({"jpeg_quality": [90, 30]}, "jpeg_quality must be \\[low, high\\]"),
        ({"jpeg_quality": [0, 30]}, "jpeg_quality must lie in \\[1, 100\\]"),
        ({"noise_sigma": [-1.0, 2.0]}, "noise_sigma must be >= 0"),
        ({"patch_size": 4}, "patch_size >= 8"),
        ({"lr_min": 1.0}, "0 < lr_min <= lr"),
        ({"train": [DataSource("x", hr_scale=2.0)]}, "hr_scale must be in \\(0, 1\\]"),
        ({"train": [DataSource("x", weight=0.0)]}, "weight must be > 0"),
        ({"synthetic_text_px": [20, 8]}, "synthetic_text_px must be \\[low, high\\]"),
        ({"synthetic_text_px": [2, 8]}, "4 <= low <= high"),
    ],
)
def test_settings_that_cannot_train_are_rejected(changes, message):
    values = {"train": [DataSource("photos")], **changes}
    with pytest.raises(ValueError, match=message):
        TrainConfig(**values).validate()
