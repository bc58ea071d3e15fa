"""sr-eval --text --halo: the generated catalog sets, real Tesseract OCR, the halo measure, the report's sections."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sr_scale.core import ocr
from sr_scale.core.catalog import FLAT_SET, HR_METHOD, TEXT_SETS, TRUTH, catalog_table, write_flat_set, write_text_set
from sr_scale.core.eval_cli import main
from sr_scale.core.evaluate import bicubic_upscale, make_lr
from sr_scale.core.halo import BAND, halo_band, halo_error
from sr_scale.core.image_io import read_rgb


def run_cli(*args) -> dict:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_a_text_set_is_the_same_pixels_and_truth_every_time(tmp_path):
    first, second = write_text_set(tmp_path / "a", "text-unseen", 3), write_text_set(tmp_path / "b", "text-unseen", 3)
    assert json.loads((first / TRUTH).read_text()) == json.loads((second / TRUTH).read_text())
    for png in sorted(first.glob("*.png")):
        assert (read_rgb(png) == read_rgb(second / png.name)).all()


def test_own_and_unseen_text_share_no_line(tmp_path):
    own = json.loads((write_text_set(tmp_path, "text-own", 4) / TRUTH).read_text())
    unseen = json.loads((write_text_set(tmp_path, "text-unseen", 4) / TRUTH).read_text())
    words = lambda truth: {w for lines in truth.values() for line in lines for w in line.split() if w.isalpha() and len(w) > 3}  # noqa: E731
    assert words(own) and words(unseen) and not words(own) & words(unseen)


def test_tesseract_reads_the_hr_text_better_than_its_bicubic_enlargement(tmp_path):
    folder = write_text_set(tmp_path, "text-own", 3)
    truth = json.loads((folder / TRUTH).read_text())
    errors = {"hr": 0, "bicubic": 0}
    for name, lines in truth.items():
        hr = read_rgb(folder / name)
        for key, pixels in (("hr", hr), ("bicubic", bicubic_upscale(make_lr(hr, 2), 2))):
            errors[key] += ocr.character_errors(ocr.read_text(pixels), "\n".join(lines))
    assert errors["hr"] < errors["bicubic"]


def test_character_errors_count_characters_not_layout():
    assert ocr.character_errors("  Silk   blouse \n\n 12.99\n", "Silk blouse\n12.99") == 0
    assert ocr.character_errors("Si1k blouse\n12.99", "Silk blouse\n12.99") == 1
    assert ocr.character_error_rate(1, 4) == 0.25


def box_on_white() -> np.ndarray:
    hr = np.full((64, 64, 3), 255, np.uint8)
    hr[20:40, 20:40] = (120, 40, 160)  # a purple box
    return hr


def test_halo_band_is_the_flat_background_next_to_the_edge():
    band = halo_band(box_on_white(), border=2)
    assert band[18, 30] and band[41, 30]  # background two pixels from the box
    assert not band[19, 30] and not band[20, 30] and not band[30, 30]  # the edge itself and the box's flat inside far from it
    assert not band[40 + BAND + 2, 30] and not band[5, 5]  # background far from the box


def test_halo_error_counts_error_near_edges_and_not_far_away():
    hr = box_on_white()
    near, far = hr.copy(), hr.copy()
    near[16:19, 20:40] = 235  # a light halo above the box
    far[50:53, 20:40] = 235  # the same error away from any edge
    assert halo_error(hr, hr, 2).squared_error == 0
    assert halo_error(near, hr, 2).squared_error > 0 and halo_error(far, hr, 2).squared_error == 0
    assert halo_error(near, hr, 2).psnr < halo_error(hr.copy(), hr, 2).psnr


def test_flat_graphics_have_flat_backgrounds_with_edges(tmp_path):
    for png in write_flat_set(tmp_path, 3).glob("*.png"):
        band = halo_band(read_rgb(png), border=2)
        assert 0 < band.mean() < 0.8


@pytest.fixture(scope="module")
def catalog_report(tiny_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("catalog")
    run_cli("--text", "--halo", "--catalog-images", 2, "--model", tiny_onnx, "--baseline", "bicubic", "--out", out, "--patches", 0)
    return out


def test_results_hold_ocr_of_hr_and_every_method_on_both_text_sets_and_halo_on_every_set(catalog_report):
    catalog = json.loads((catalog_report / "results.json").read_text())["catalog"]
    assert catalog["tesseract"].startswith("tesseract ")
    for name in TEXT_SETS:
        assert set(catalog["ocr"][name]) == {HR_METHOD, "bicubic", "tiny"}
        assert all(0 <= v["cer"] and v["characters"] > 0 for v in catalog["ocr"][name].values())
    assert set(catalog["halo"]) == {*TEXT_SETS, FLAT_SET}
    assert all(v["pixels"] > 0 for by in catalog["halo"].values() for v in by.values())


def test_report_shows_text_and_halo_sections_with_crops_of_every_method(catalog_report):
    page = (catalog_report / "report.html").read_text()
    assert "<h2>Text legibility" in page and "<h2>Flat-background halo" in page
    for name in (*TEXT_SETS, FLAT_SET):
        crops = re.findall(rf'src="(img/{name}/catalog-[^"]+)"', page)
        assert {c.rsplit("-", 1)[1] for c in crops} >= {"lr.png", "bicubic.png", "tiny.png", "hr.png"}
        assert all((catalog_report / c).is_file() for c in crops)
    assert ocr.TESSERACT_MISSING not in page


def test_report_says_when_tesseract_is_absent(tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-not-installed")
    ocr.tesseract_version.cache_clear()
    try:
        result = run_cli("--text", "--catalog-images", 1, "--model", tiny_onnx, "--baseline", "bicubic", "--out", tmp_path / "r", "--patches", 0)
    finally:
        ocr.tesseract_version.cache_clear()
    assert "Tesseract not found" in result.stderr
    assert ocr.TESSERACT_MISSING in (tmp_path / "r" / "report.html").read_text()
    assert json.loads((tmp_path / "r" / "results.json").read_text())["catalog"]["ocr"] == {}


def test_bench_text_makes_the_table_of_both_lr_variants_in_one_command(tiny_onnx, tmp_path):
    table_file = tmp_path / "table.md"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "bench.text", "--model", str(tiny_onnx), "--baseline", "bicubic", "--catalog-images", "1",
                    "--table", str(table_file)], cwd=root, check=True, capture_output=True)
    documents = [json.loads((tmp_path / f"table.{name}.json").read_text()) for name in ("clean", "jpeg")]
    assert [d["jpeg_quality"] for d in documents] == [0, 75]
    table = table_file.read_text()
    assert table == catalog_table(*documents)
    blocks = {block.splitlines()[0].split("|")[1].strip(): block for block in table.split("\n\n") if block.startswith("| ")}
    assert set(blocks) == {*TEXT_SETS, FLAT_SET}
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in blocks["text-unseen"].splitlines()[2:]}
    assert set(rows) == {HR_METHOD, "bicubic", "**tiny**"}
    cer = documents[1]["catalog"]["ocr"]["text-unseen"]["tiny"]["cer"]
    assert rows["**tiny**"][1].strip() == f"{cer:.3f}"  # the JPEG column
    assert "JPEG 75" in blocks["text-unseen"].splitlines()[0]
