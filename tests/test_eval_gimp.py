"""GIMP 2.10's own scaling as a baseline, through a real gimp-console-2.10 batch run (Set5 only, for time)."""
from __future__ import annotations

import pytest
from PIL import Image

from conftest import SET5
from sr_scale.core.baselines import BaselineError, GimpScale, baseline
from sr_scale.core.evaluate import evaluate_folder, summarise


def test_gimp_nohalo_on_set5_scores_the_33_82_db_of_targets():
    rows = evaluate_folder(SET5, {"gimp-nohalo": baseline("gimp-nohalo", 2)}, scale=2)
    mean = summarise(rows)["Set5"]["gimp-nohalo"]
    assert 33.80 <= mean["y_psnr"] <= 33.84
    assert mean["images"] == 5


def test_gimp_batch_failure_names_the_image_gimp_did_not_write(tmp_path):
    not_png = tmp_path / "broken.png"
    not_png.write_text("not an image")
    with pytest.raises(BaselineError, match=r"wrote no output for broken.png"):
        GimpScale("INTERPOLATION-NOHALO").upscale_files([(not_png, tmp_path / "out.png")], 2)


def test_gimp_reads_and_writes_paths_with_quotes_and_spaces(tmp_path):
    folder = tmp_path / 'a "quoted" name with \\ and spaces'
    folder.mkdir()
    lr = folder / "bird lr.png"
    Image.open(SET5 / "bird.png").reduce(2).save(lr)
    GimpScale("INTERPOLATION-CUBIC").upscale_files([(lr, folder / "bird sr.png")], 2)
    with Image.open(folder / "bird sr.png") as sr:
        assert sr.size == (288, 288)
