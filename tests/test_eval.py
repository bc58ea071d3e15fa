"""sr-eval: baselines, external commands, the CLI's outputs and the report's pictures."""
from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import SET5
from sr_scale.core.baselines import BaselineError, ExternalCommand, bicubic, lanczos
from sr_scale.core.engine import Upscaler
from sr_scale.core.eval_cli import main
from sr_scale.core.evaluate import EvalError, ImageResult, evaluate_folder, score, summarise
from sr_scale.core.results import results_document, write_json
from sr_scale.core.report import Report, ReportConfig, box_mean, error_heat_map, patch_psnr, worst_window

SR_SCALE = Path(sys.executable).parent / "sr-scale"


def run_cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_jpeg_lr_bicubic_on_set5_scores_the_31_88_db_of_targets():
    rows = evaluate_folder(SET5, {"bicubic": bicubic(2)}, scale=2, jpeg_quality=75)
    assert 31.87 <= summarise(rows)["Set5"]["bicubic"]["y_psnr"] <= 31.89


def test_every_method_is_scored_on_every_image_of_the_folder():
    rows = evaluate_folder(SET5, {"bicubic": bicubic(2), "lanczos": lanczos(2)}, scale=2)
    assert sorted((r.image, r.method) for r in rows) == sorted(
        (p.name, m) for p in SET5.glob("*.png") for m in ("bicubic", "lanczos")
    )


def test_external_command_scores_like_the_same_model_in_process(tiny_onnx, tmp_path):
    hr_folder = tmp_path / "two"
    hr_folder.mkdir()
    for name in ("bird.png", "butterfly.png"):
        (hr_folder / name).write_bytes((SET5 / name).read_bytes())
    command = ExternalCommand(f"{SR_SCALE} --model {tiny_onnx} {{in}} {{out}}")
    rows = evaluate_folder(hr_folder, {"cli": command, "engine": Upscaler(tiny_onnx).upscale}, scale=2)
    means = summarise(rows)["two"]
    assert means["cli"]["images"] == 2
    assert means["cli"]["y_psnr"] == pytest.approx(means["engine"]["y_psnr"], abs=0.01)


def test_failing_external_command_is_a_one_line_error(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import sys\nsys.exit('model file missing: nowhere.pb')\n")
    with pytest.raises(BaselineError, match=r"failed \(exit 1\): model file missing: nowhere.pb$"):
        evaluate_folder(SET5, {"broken": ExternalCommand(f"{sys.executable} {script} {{in}} {{out}}")}, scale=2)


def test_command_template_needs_in_and_out_placeholders():
    with pytest.raises(BaselineError, match=r"\{in\} and \{out\}"):
        ExternalCommand("upscale_peer.py fsrcnn input.png")


def test_external_command_output_of_the_wrong_size_is_refused(tmp_path):
    script = tmp_path / "same_size.py"
    script.write_text("import shutil, sys\nshutil.copy(sys.argv[1], sys.argv[2])\n")
    with pytest.raises(EvalError, match=r"copy made 256x256 of baby.png, expected 512x512"):
        evaluate_folder(SET5, {"copy": ExternalCommand(f"{sys.executable} {script} {{in}} {{out}}")}, scale=2)


def test_cli_writes_json_csv_and_a_report_whose_images_all_exist(tiny_onnx, tmp_path):
    out = tmp_path / "report"
    result = run_cli(SET5, "--model", tiny_onnx, "--baseline", "bicubic", "--baseline", "lanczos", "--out", out, "--patches", "3")
    assert result.exit_code == 0, result.output
    document = json.loads((out / "results.json").read_text())
    with open(out / "images.csv") as f:
        images = list(csv.DictReader(f))
    assert len(images) == 5 * 3
    tiny_mean = np.mean([float(r["y_psnr"]) for r in images if r["method"] == "tiny"])
    assert document["summary"]["Set5"]["tiny"]["y_psnr"] == pytest.approx(tiny_mean)
    assert document["summary"]["Set5"]["bicubic"]["y_psnr"] == pytest.approx(33.65, abs=0.01)
    assert len(document["patches"]["Set5/tiny"]["worst"]) == 3
    page = (out / "report.html").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) >= 5 * 9  # per image: overview, LR, 2 crops, HR, 2 error maps, gain map
    assert all((out / s).is_file() for s in sources)


def test_cli_summary_csv_has_the_gain_over_the_reference(tiny_onnx, tmp_path):
    out = tmp_path / "report"
    run_cli(SET5, "--model", tiny_onnx, "--baseline", "bicubic", "--baseline", "lanczos", "--reference", "lanczos", "--out", out, "--patches", "0")
    with open(out / "summary.csv") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    gain = float(rows["bicubic"]["y_psnr"]) - float(rows["lanczos"]["y_psnr"])
    assert float(rows["bicubic"]["y_psnr_gain_over_lanczos"]) == pytest.approx(gain)
    assert float(rows["lanczos"]["y_psnr_gain_over_lanczos"]) == 0.0


def test_cli_refuses_a_report_folder_inside_an_hr_folder(tmp_path):
    (tmp_path / "hr").mkdir()
    result = CliRunner().invoke(main, [str(tmp_path / "hr"), "--out", str(tmp_path / "hr" / "report")])
    assert result.exit_code == 2
    assert "inside the HR folder" in result.output


def test_cli_names_the_valid_baselines_when_given_an_unknown_one(tiny_onnx):
    result = CliRunner().invoke(main, [str(SET5), "--model", str(tiny_onnx), "--baseline", "nearest"])
    assert result.exit_code == 1
    assert "unknown baseline 'nearest': use one of bicubic, lanczos, gimp-cubic, gimp-nohalo" in result.output


def test_cli_refuses_a_reference_that_is_not_a_baseline(tiny_onnx):
    result = CliRunner().invoke(main, [str(SET5), "--model", str(tiny_onnx), "--baseline", "lanczos"])
    assert result.exit_code == 2
    assert "--reference 'bicubic' is not among the baselines (lanczos)" in result.output


def test_cli_refuses_an_external_method_named_like_a_baseline(tiny_onnx):
    result = CliRunner().invoke(main, [str(SET5), "--model", str(tiny_onnx), "--baseline", "bicubic", "--external", "bicubic=cp {in} {out}"])
    assert result.exit_code == 2
    assert "two methods are named 'bicubic'" in result.output


def test_error_heat_map_is_darker_where_the_error_is_larger():
    error = np.array([[0.0, 10.0, 100.0, 1000.0, 10000.0]])
    brightness = error_heat_map(error).astype(int).sum(axis=-1)[0]
    assert brightness[0] == 3 * 255
    assert (np.diff(brightness) < 0).all()


def test_crop_window_lands_on_the_largest_error():
    error = np.zeros((200, 300))
    error[120:150, 200:230] = 50.0
    y, x = worst_window(error, 48)
    assert y <= 120 and y + 48 >= 150 and x <= 200 and x + 48 >= 230


def test_patch_psnr_is_infinite_where_a_patch_is_exact():
    error = np.zeros((64, 64))
    error[32:, 32:] = 255.0**2 / 100  # 20 dB
    values = patch_psnr(error, 32)
    assert np.isinf(values[0, 0]) and values[1, 1] == pytest.approx(20.0)


def damaged_result(butterfly: np.ndarray) -> ImageResult:
    """Butterfly with a perfect 'model' except a noisy square at (x 160-224, y 64-128)."""
    rng = np.random.default_rng(0)
    model = butterfly.copy()
    model[64:128, 160:224] = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    lr = butterfly[::2, ::2]
    reference = bicubic(2)(lr)
    scores = {m: score("Set5", "butterfly.png", m, sr, butterfly, 2, 0.0) for m, sr in (("bicubic", reference), ("model", model))}
    return ImageResult("Set5", "butterfly.png", butterfly, lr, {"bicubic": reference, "model": model}, scores)


def test_worst_patches_come_from_the_damaged_area_and_best_are_exact(butterfly, tmp_path):
    report = Report(tmp_path, ReportConfig(reference="bicubic", models=["model"], patch=32, patches=4))
    report.add_image(damaged_result(butterfly))
    ranked = report.ranked()[("Set5", "model")]
    assert all(160 <= p.x + 16 < 224 and 64 <= p.y + 16 < 128 for p in ranked["worst"])
    assert all(np.isinf(p.psnr) for p in ranked["best"])
    assert [p.psnr for p in ranked["worst"]] == sorted(p.psnr for p in ranked["worst"])


def test_results_json_writes_infinite_psnr_as_null(butterfly, tmp_path):
    report = Report(tmp_path, ReportConfig(reference="bicubic", models=["model"], patches=2))
    result = damaged_result(butterfly)
    report.add_image(result)
    write_json(tmp_path / "results.json", results_document(list(result.scores.values()), "bicubic", ["model"], 2, 0, report.json_extras()))
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["patches"]["Set5/model"]["best"][0]["y_psnr"] is None


def test_crops_show_the_same_area_in_every_picture(butterfly, tmp_path):
    report = Report(tmp_path, ReportConfig(reference="bicubic", models=["model"], crop=64))
    report.add_image(damaged_result(butterfly))
    entry = report.entries[0]
    y, x, side = entry.crop
    hr_crop = np.asarray(Image.open(tmp_path / entry.files["hr"]))
    lr_crop = np.asarray(Image.open(tmp_path / entry.files["lr"]))
    assert side == 64 and hr_crop.shape == lr_crop.shape == (64, 64, 3)
    assert (hr_crop == butterfly[y : y + 64, x : x + 64]).all()
    assert (lr_crop[::2, ::2] == butterfly[::2, ::2][y // 2 : y // 2 + 32, x // 2 : x // 2 + 32]).all()


def run_in_terminal(argv: list[str], columns: int = 100) -> str:
    """Run a command with a pseudo-terminal (of the given width) as stdout and stderr; return what it showed."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closes once the process has exited
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=120)
    os.close(controller)
    return shown.decode(errors="replace")


def test_progress_bar_shows_on_a_terminal(tiny_onnx):
    shown = run_in_terminal([str(Path(sys.executable).parent / "sr-eval"), str(SET5), "--model", str(tiny_onnx), "--baseline", "bicubic"])
    assert "5/5 [" in shown and "Set5/woman.png" in shown


def test_progress_bar_stays_out_of_logs(tiny_onnx):
    result = CliRunner().invoke(main, [str(SET5), "--model", str(tiny_onnx), "--baseline", "bicubic"])
    assert result.exit_code == 0
    assert result.stderr == "" and "img/s" not in result.output


def test_box_mean_averages_each_neighbourhood():
    values = np.arange(49, dtype=float).reshape(7, 7)
    smooth = box_mean(values, 1)
    assert smooth.shape == (7, 7)
    assert smooth[3, 3] == pytest.approx(values[2:5, 2:5].mean())


def peak_bytes_of_a_report_on_copies(butterfly_file: Path, copies: int, tmp_path: Path) -> int:
    import tracemalloc

    folder = tmp_path / f"copies{copies}"
    folder.mkdir()
    for k in range(copies):
        (folder / f"b{k}.png").write_bytes(butterfly_file.read_bytes())
    report = Report(tmp_path / f"report{copies}", ReportConfig(reference="bicubic", models=["lanczos"], patches=4))
    tracemalloc.start()
    try:
        evaluate_folder(folder, {"bicubic": bicubic(2), "lanczos": lanczos(2)}, scale=2, on_image=report.add_image)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_images(tmp_path):
    few = peak_bytes_of_a_report_on_copies(SET5 / "butterfly.png", 2, tmp_path)
    many = peak_bytes_of_a_report_on_copies(SET5 / "butterfly.png", 6, tmp_path)
    assert many < few * 1.15


def test_cli_report_folder_that_cannot_be_made_is_a_one_line_error(tiny_onnx, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, [str(SET5), "--model", str(tiny_onnx), "--baseline", "bicubic", "--out", str(blocker / "report")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: --out {blocker / 'report'}: cannot create it (Not a directory)"]


def test_the_protocol_is_a_library_without_click_and_without_a_cycle_with_the_report():
    import subprocess

    code = (
        "import sys\n"
        "import sr_scale.core.evaluate, sr_scale.core.results, sr_scale.core.report\n"
        "assert 'click' not in sys.modules, 'the protocol imports click'\n"
        "assert 'sr_scale.core.eval_cli' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_wrong_choice_of_methods_is_a_library_error_not_a_click_one(tiny_onnx):
    from sr_scale.core.evaluate import MethodChoiceError, build_methods

    with pytest.raises(MethodChoiceError, match="--reference 'bicubic' is not among the baselines"):
        build_methods([str(tiny_onnx)], ["lanczos"], [], "bicubic", threads=1)


def test_cli_without_folders_text_or_halo_is_a_usage_error():
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 2
    assert "give HR folders, --text or --halo" in result.output
