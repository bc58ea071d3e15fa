"""The HTML report opened from disk in a real headless Chromium (Debian package `chromium`)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import SET5
from sr_scale.core.eval_cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
# Appended to a copy of the page: after every image has loaded or failed, list what the browser got.
IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const seen = Array.from(document.images).map(i => [i.getAttribute("src"), i.complete, i.naturalWidth, i.naturalHeight]);
  const pre = document.createElement("pre");
  pre.id = "image-check";
  pre.textContent = JSON.stringify(seen);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def report(tiny_onnx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(main, [str(SET5), "--model", str(tiny_onnx), "--baseline", "bicubic", "--out", str(out), "--patches", "3"])
    assert result.exit_code == 0, result.output
    return out


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def images_seen_by_chromium(report_dir: Path, tmp_path: Path) -> list[list]:
    """Open a copy of report.html (same folder, so the same relative links) and read the image check."""
    page = (report_dir / "report.html").read_text()
    probe = report_dir / "probe.html"
    probe.write_text(page.replace("</body>", IMAGE_CHECK + "</body>"))
    try:
        dom = chromium(tmp_path, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()).stdout
    finally:
        probe.unlink()
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.S)
    assert found, "the page's image check did not run"
    return json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"'))


def test_every_image_of_the_report_renders_in_chromium_at_its_file_size(report, tmp_path):
    seen = images_seen_by_chromium(report, tmp_path)
    linked = re.findall(r'<img [^>]*src="([^"]+)"', (report / "report.html").read_text())
    assert [s[0] for s in seen] == linked and len(linked) > 40
    for src, complete, width, height in seen:
        with Image.open(report / src) as png:
            assert complete and (width, height) == png.size, src


def test_the_image_check_notices_a_missing_picture(report, tmp_path):
    crop = report / "img" / "Set5" / "0002-butterfly-sr-tiny.png"
    kept = crop.read_bytes()
    crop.unlink()
    try:
        seen = {s[0]: s[2] for s in images_seen_by_chromium(report, tmp_path)}
    finally:
        crop.write_bytes(kept)
    assert seen["img/Set5/0002-butterfly-sr-tiny.png"] == 0
    assert seen["img/Set5/0002-butterfly-hr.png"] == 96


def test_a_screenshot_of_the_report_shows_tables_plots_and_pictures(report, tmp_path):
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,2400", "--virtual-time-budget=20000", f"--screenshot={shot}", (report / "report.html").as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    colours = np.unique(pixels.reshape(-1, 3) // 8, axis=0)
    assert pixels.shape[:2] == (2400, 1280)
    assert (pixels < 250).any(axis=-1).mean() > 0.05  # far from a blank white page
    assert len(colours) > 500  # photographs, not just text and lines
