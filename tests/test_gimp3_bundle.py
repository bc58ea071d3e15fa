"""The self-contained plug-in in a real, headless GIMP 3.0 with nothing of the host inside.

`sr-scale-gimp install --self-contained` writes the bundle for Python 3.13 / manylinux x86-64 into
a fresh profile; GIMP runs in the Debian trixie root (tests/gimp3/run-gimp.sh) with only that
profile and the I/O folder bound in: no host Python, no sr-scale, no checkout. The plug-in then
runs sr-scale's engine from the bundle in GIMP's own Python 3.13, on RGB, RGBA, grey, two-layer and
16-bit images, and every result must equal the host's `sr-scale` on the same pixels within 1 level.
A bundle for Python 3.12 must fail with the mismatch in GIMP's error message, the image untouched.

Wheels come from the package index once (cached in SR_SCALE_WHEEL_CACHE, default
/var/cache/sr-scale/wheels, outside the checkout).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from test_gimp3 import BATCH, ROOT, RUN_GIMP, TILE, assert_failed_untouched, inputs, layer_pixels, sr_scale  # noqa: F401 - inputs is a fixture

from sr_scale.gimp.pixels import PLUG_IN, read_bundle

pytestmark = pytest.mark.slow

WHEEL_CACHE = Path(os.environ.get("SR_SCALE_WHEEL_CACHE", "/var/cache/sr-scale/wheels"))
SR_SCALE_GIMP = Path(sysconfig.get_path("scripts")) / "sr-scale-gimp"
CHECKOUT = Path(__file__).resolve().parents[1]

# Runs first in GIMP's batch Python: what of the host can be seen from inside the root.
ISOLATION = r'''
import importlib.util, json, os, shutil, sys
seen = {{"host_prefix": os.path.exists({prefix!r} + "/pyvenv.cfg") or os.path.exists({prefix!r} + "/bin"),
        "checkout": os.path.exists({checkout!r} + "/pyproject.toml"),
        "sr_scale": importlib.util.find_spec("sr_scale") is not None, "numpy": importlib.util.find_spec("numpy") is not None,
        "onnxruntime": importlib.util.find_spec("onnxruntime") is not None, "sr_scale_command": shutil.which("sr-scale"),
        "python": "%d.%d" % sys.version_info[:2]}}
json.dump(seen, open({io!r} + "/isolation.json", "w"))
'''


def run_isolated(io: Path, home: Path, jobs: list[dict]) -> dict:
    """Run BATCH's jobs in GIMP with only the profile (home) and io bound into the root."""
    assert (ROOT / "usr/bin/gimp-console-3.0").exists(), f"no GIMP 3 root in {ROOT}: run tests/gimp3/make-root.sh"
    (io / "jobs.json").write_text(json.dumps(jobs))
    code = ISOLATION.format(prefix=sys.prefix, checkout=str(CHECKOUT), io=str(io)) + BATCH.format(io=str(io))
    done = subprocess.run([str(RUN_GIMP), "-w", str(io), str(home), code], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"GIMP exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    report = json.loads((io / "report.json").read_text())
    report["isolation"] = json.loads((io / "isolation.json").read_text())
    return report


def install_bundle(home: Path, python: str) -> Path:
    gimp_dir = home / "config" / "GIMP" / "3.0"
    done = subprocess.run([str(SR_SCALE_GIMP), "install", "--self-contained", "--gimp-dir", str(gimp_dir), "--python", python,
                           "--platform", "linux-x86_64", "--wheels", str(WHEEL_CACHE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return gimp_dir / "plug-ins" / PLUG_IN


@pytest.fixture(scope="module")
def io_inputs(tmp_path_factory, inputs, tiny_onnx) -> tuple[Path, dict[str, Path]]:
    """The inputs and the test model copied into the one I/O folder GIMP sees."""
    io = tmp_path_factory.mktemp("gimp3-bundle-io")
    copies = {name: Path(shutil.copy(path, io / path.name)) for name, path in inputs.items()}
    copies["model"] = Path(shutil.copy(tiny_onnx, io / "tiny.onnx"))
    return io, copies


@pytest.fixture(scope="module")
def bundle_run(io_inputs) -> dict:
    io, files = io_inputs
    home = io / "home"
    folder = install_bundle(home, "3.13")
    common = {"model_file": str(files["model"]), "tile": TILE}
    jobs = [
        {"name": "rgb", "input": str(files["rgb"]), **common},
        {"name": "rgba", "input": str(files["rgba"]), **common},
        {"name": "grey", "input": str(files["grey"]), **common},
        {"name": "rgb16", "input": str(files["rgb16"]), **common},
        {"name": "layers", "input": str(files["rgb"]), "overlay": str(files["overlay"]), "offset": [7, 5], **common},
        {"name": "embedded", "input": str(files["rgb"]), "model": "x2-jpeg", "tile": TILE},
    ]
    report = run_isolated(io, home, jobs)
    report["bundle"] = read_bundle(folder)
    return report


def test_nothing_of_the_host_is_visible_inside_the_root(bundle_run):
    seen = bundle_run["isolation"]
    assert seen == {"host_prefix": False, "checkout": False, "sr_scale": False, "numpy": False, "onnxruntime": False,
                    "sr_scale_command": None, "python": "3.13"}
    assert bundle_run["registered"] and bundle_run["bundle"].python == "3.13"


@pytest.mark.parametrize("name", ["rgb", "rgba", "grey", "rgb16"])
def test_bundled_plug_in_equals_sr_scale(bundle_run, inputs, tiny_onnx, tmp_path, name):
    result = bundle_run[name]
    assert result["status"] == "success", result["message"]
    (layer,) = result["after"]["layers"]
    expected = sr_scale(inputs[name], tmp_path / "sr.png", tiny_onnx)
    got = layer_pixels(layer)
    assert got.shape == expected.shape == (80, 96, {"rgb": 3, "rgba": 4, "grey": 1, "rgb16": 3}[name])
    assert got.dtype == expected.dtype
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_bundled_plug_in_enlarges_the_selected_layer_and_doubles_offsets(bundle_run, inputs, tiny_onnx, tmp_path):
    result = bundle_run["layers"]
    assert result["status"] == "success", result["message"]
    overlay, _ = result["after"]["layers"]
    assert (overlay["x"], overlay["y"], overlay["width"], overlay["height"]) == (14, 10, 40, 32)
    expected = sr_scale(inputs["overlay"], tmp_path / "sr.png", tiny_onnx)
    assert np.abs(layer_pixels(overlay).astype(int) - expected.astype(int)).max() <= 1


def test_bundled_plug_in_runs_its_embedded_model_as_sr_scale_does(bundle_run, inputs, tmp_path):
    result = bundle_run["embedded"]
    assert result["status"] == "success", result["message"]
    (layer,) = result["after"]["layers"]
    command = Path(sysconfig.get_path("scripts")) / "sr-scale"
    subprocess.run([str(command), "--model", "x2-jpeg", "--tile", str(TILE), "--device", "cpu", str(inputs["rgb"]),
                    str(tmp_path / "sr.png")], check=True, capture_output=True)
    from sr_scale.core.image_io import read_image

    expected = read_image(tmp_path / "sr.png").pixels
    assert np.abs(layer_pixels(layer).astype(int) - expected.astype(int)).max() <= 1


def test_bundle_for_another_python_is_an_error_in_gimp_and_the_image_is_untouched(io_inputs, tmp_path):
    io, files = io_inputs
    wrong_io = tmp_path / "io"
    wrong_io.mkdir()
    shutil.copy(files["rgb"], wrong_io / "rgb.png")
    home = wrong_io / "home"
    install_bundle(home, "3.12")
    report = run_isolated(wrong_io, home, [{"name": "wrong", "input": str(wrong_io / "rgb.png"), "tile": TILE}])
    assert_failed_untouched(report["wrong"], "bundled for Python 3.12", "GIMP runs Python 3.13")
