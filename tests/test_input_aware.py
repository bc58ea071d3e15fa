"""sr-scale chooses the model by the input, says so with -v, and takes --jpeg-quality / --model overrides."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sr_scale.core.degradations import jpeg
from sr_scale.core.evaluate import load_hr, make_lr
from sr_scale.core.restoration import decide_for_file
from sr_scale.imagemagick_wrapper.cli import main

from conftest import SET14
from test_content import text_lr


def make_decision_folder(folder: Path) -> Path:
    """Real LR crops saved the ways a catalog holds them: a q40, a q75 and a q95 JPEG, a clean PNG, a q50
    JPEG re-saved as PNG, a lossy WebP (64x64, so the shipped models run in a moment), and a price
    tag of rendered text as PNG and as a q75 JPEG (192x~70)."""
    folder.mkdir(parents=True, exist_ok=True)
    lr = make_lr(load_hr(SET14 / "lenna.png", 2), 2)[40:104, 40:104]
    Image.fromarray(lr).save(folder / "q40.jpg", quality=40)
    Image.fromarray(lr).save(folder / "q75.jpg", quality=75)
    Image.fromarray(lr).save(folder / "q95.jpg", quality=95)
    Image.fromarray(lr).save(folder / "clean.png")
    Image.fromarray(jpeg(lr, 50)).save(folder / "resaved.png")
    Image.fromarray(lr).save(folder / "photo.webp", quality=60)
    tag = text_lr(5190)  # lines of product text on white: the text members
    Image.fromarray(tag).save(folder / "tag.png")
    Image.fromarray(tag).save(folder / "tag75.jpg", quality=75)
    return folder


EXPECTED = {"q40.jpg": "q40 (tables) -> x2-jpeg-strong", "q75.jpg": "q75 (tables) -> x2-jpeg", "q95.jpg": "q95 (tables) -> x2", "clean.png": "clean (none) -> x2",
            "resaved.png": "blocked (blocking) -> x2-jpeg", "photo.webp": "clean (none) -> x2",
            "tag.png": "clean (none), text -> x2-text", "tag75.jpg": "q75 (tables), text -> x2-jpeg-text"}


def verbose_lines(stderr: str, prog: str = "sr-scale") -> dict[str, str]:
    """{file name: decision} from -v output (`sr-scale: PATH: DECISION`)."""
    found = {}
    for line in stderr.splitlines():
        if line.startswith(f"{prog}: ") and " -> " in line:
            path, _, decision = line[len(prog) + 2:].rpartition(": ")
            found[Path(path).name] = decision
    return found


@pytest.fixture(scope="module")
def decision_folder(tmp_path_factory) -> Path:
    return make_decision_folder(tmp_path_factory.mktemp("decisions"))


def test_verbose_batch_says_per_file_what_was_detected_and_the_model(decision_folder, tmp_path):
    result = CliRunner().invoke(main, ["-v", "-o", str(tmp_path / "out"), str(decision_folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert verbose_lines(result.stderr) == EXPECTED
    assert {name: decide_for_file(decision_folder / name).describe() for name in EXPECTED} == EXPECTED


def test_the_chosen_model_is_the_one_that_runs(decision_folder, tmp_path):
    runner = CliRunner()
    for name, model in (("q40.jpg", "x2-jpeg-strong"), ("q75.jpg", "x2-jpeg"), ("clean.png", "x2"), ("tag.png", "x2-text")):
        by_default, forced = tmp_path / f"default-{name}.png", tmp_path / f"forced-{name}.png"
        assert runner.invoke(main, [str(decision_folder / name), str(by_default)]).exit_code == 0
        assert runner.invoke(main, ["--model", model, str(decision_folder / name), str(forced)]).exit_code == 0
        assert np.array_equal(np.asarray(Image.open(by_default)), np.asarray(Image.open(forced)))


def test_jpeg_quality_overrides_detection(decision_folder, tmp_path):
    result = CliRunner().invoke(main, ["-v", "--jpeg-quality", "clean", str(decision_folder / "q40.jpg"), str(tmp_path / "a.png")])
    assert result.exit_code == 0 and "q40.jpg: clean (user) -> x2" in result.stderr
    result = CliRunner().invoke(main, ["-v", "--jpeg-quality", "30", str(decision_folder / "clean.png"), str(tmp_path / "b.png")])
    assert result.exit_code == 0 and "clean.png: q30 (user) -> x2-jpeg-strong" in result.stderr


def test_model_overrides_the_choice_and_is_reported(decision_folder, tmp_path, tiny_onnx):
    result = CliRunner().invoke(main, ["-v", "--model", str(tiny_onnx), str(decision_folder / "q40.jpg"), str(tmp_path / "a.png")])
    assert result.exit_code == 0 and f"q40.jpg: q40 (tables) -> {tiny_onnx}" in result.stderr


@pytest.mark.parametrize("value", ["0", "101", "lossy"])
def test_a_wrong_jpeg_quality_is_a_usage_error_naming_the_range(decision_folder, tmp_path, value):
    result = CliRunner().invoke(main, ["--jpeg-quality", value, str(decision_folder / "q40.jpg"), str(tmp_path / "a.png")])
    assert result.exit_code == 2 and "1..100 or 'clean'" in result.stderr
    assert not (tmp_path / "a.png").exists()


def test_without_verbose_nothing_is_said(decision_folder, tmp_path):
    result = CliRunner().invoke(main, [str(decision_folder / "q40.jpg"), str(tmp_path / "a.png")])
    assert result.exit_code == 0 and result.stderr == ""


def test_sr_scale_and_sr_scale_ray_share_their_enlargement_options():
    """One definition of each shared option (core/cli_options.py): same names, types, defaults, help."""
    ray_cli = pytest.importorskip("sr_scale.ray_batch.cli")
    ctx = main.make_context("sr-scale", ["a", "b"])

    def described(command) -> dict[str, tuple]:
        return {p.name: (tuple(p.opts), type(p.type).__name__, p.default, p.get_help_record(ctx)[1] if p.help else None)
                for p in command.params if hasattr(p, "help")}

    ours, ray = described(main), described(ray_cli.main)
    shared = ("resize", "scale", "quality", "strip", "model", "jpeg_quality", "device", "precision", "tile", "tta",
              "max_pixels", "verbose", "suffix", "recursive", "overwrite")
    assert {name: ours[name] for name in shared} == {name: ray[name] for name in shared}
    assert "[default: planned per image" in ours["tile"][3]
