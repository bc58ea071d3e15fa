"""The catalog batch step the filter replaces, in a real headless GIMP 3: a folder of files scaled
by a Script-Fu and a Python-Fu batch, before (`gimp-image-scale` / `image.scale`) and after (the
filter called with its named arguments), a broken file among them whose error is reported while
the others are written. The scripts are the ones docs/gimp.md shows (SCRIPT_FU, PYTHON_FU).
"""
from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from test_gimp3 import RUN_GIMP, inputs  # noqa: F401 - inputs is a fixture
from test_gimp3_bundle import install_bundle

from sr_scale.core.image_io import read_image

pytestmark = pytest.mark.slow

# Script-Fu: the old line was (gimp-image-scale img (* 2 (car (gimp-image-get-width img))) (* 2 (car (gimp-image-get-height img))))
SCRIPT_FU = r'''
(for-each
  (lambda (in)
    (let ((out (string-append "{out}/" (car (reverse (strbreakup in "/"))))))
      (catch (gimp-message (string-append "sr-scale batch: " in " failed (GIMP's error above)"))
        (let ((img (car (gimp-file-load RUN-NONINTERACTIVE in))))
          (plug-in-sr-scale-upscale #:run-mode RUN-NONINTERACTIVE #:image img
                                    #:drawables (car (gimp-image-get-selected-layers img)))
          (gimp-file-save RUN-NONINTERACTIVE img out -1)
          (gimp-image-delete img)))))
  (car (file-glob "{src}/*.png" 1)))
'''

# Python-Fu: the old line was image.scale(image.get_width() * 2, image.get_height() * 2)
PYTHON_FU = r'''
import glob, os, sys
failed = []
for path in sorted(glob.glob("{src}/*.png")):
    try:
        image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
        if image is None:  # GIMP 3.0 returns None for a file it cannot read
            raise RuntimeError(Gimp.get_pdb().get_last_error())
        upscale = Gimp.get_pdb().lookup_procedure("plug-in-sr-scale-upscale")
        config = upscale.create_config()
        config.set_property("image", image)
        config.set_core_object_array("drawables", image.get_selected_layers())
        if upscale.run(config).index(0) != Gimp.PDBStatusType.SUCCESS:
            raise RuntimeError(Gimp.get_pdb().get_last_error())
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path("{out}/" + os.path.basename(path)), None)
        image.delete()
    except Exception as error:
        failed.append(f"{{os.path.basename(path)}}: {{getattr(error, 'message', error)}}")
for line in failed:
    print("sr-scale batch:", line, file=sys.stderr)
if failed:
    raise SystemExit(f"{{len(failed)}} file(s) failed")
'''


@pytest.fixture(scope="module")
def folder(tmp_path_factory, inputs) -> tuple[Path, Path]:
    """A profile with the self-contained plug-in, and a folder: two images and one broken file."""
    io = tmp_path_factory.mktemp("gimp3-batch")
    src = io / "in"
    src.mkdir()
    shutil.copy(inputs["rgb"], src / "a.png")
    shutil.copy(inputs["grey"], src / "b.png")
    (src / "broken.png").write_bytes(inputs["rgb"].read_bytes()[:300])  # cut short: GIMP cannot load it
    install_bundle(io / "home", "3.13")
    return io, src


def run_batch(io: Path, name: str, code: str, script_fu: bool) -> tuple[subprocess.CompletedProcess, Path]:
    out = io / f"out-{name}"
    out.mkdir()
    flags = ["-s"] if script_fu else []
    done = subprocess.run([str(RUN_GIMP), *flags, "-w", str(io), str(io / "home"), code.format(src=io / "in", out=out)],
                          capture_output=True, text=True, timeout=900)
    return done, out


def expected(path: Path, tmp_path: Path) -> np.ndarray:
    command = Path(sysconfig.get_path("scripts")) / "sr-scale"
    subprocess.run([str(command), "--device", "cpu", str(path), str(tmp_path / path.name)], check=True, capture_output=True)
    return read_image(tmp_path / path.name).pixels


def check_outputs(out: Path, src: Path, tmp_path: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    for name in ("a.png", "b.png"):
        got, want = read_image(out / name).pixels, expected(src / name, tmp_path)
        assert got.shape == want.shape and np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_script_fu_batch_upscales_the_folder_and_reports_the_broken_file(folder, tmp_path):
    io, src = folder
    done, out = run_batch(io, "script-fu", SCRIPT_FU, script_fu=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"sr-scale batch: {src / 'broken.png'} failed" in done.stderr
    assert "broken.png" in done.stderr.split("sr-scale batch:")[0]  # GIMP's own reason comes first
    check_outputs(out, src, tmp_path)


def test_python_fu_batch_upscales_the_folder_and_reports_the_broken_file(folder, tmp_path):
    io, src = folder
    done, out = run_batch(io, "python-fu", PYTHON_FU, script_fu=False)
    assert done.returncode != 0  # the batch says a file failed
    lines = [line for line in done.stderr.splitlines() if line.startswith("sr-scale batch:")]
    assert len(lines) == 1 and lines[0].startswith("sr-scale batch: broken.png: ") and "broken.png" in lines[0].split(": ", 2)[2]
    check_outputs(out, src, tmp_path)
