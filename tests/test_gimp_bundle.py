"""`sr-scale-gimp bundle` and `install --self-contained` outside GIMP: what goes into the folder,
the wheels per platform, the one-line errors, and the bundle running in a bare Python.

The wheels come from the package index once and are kept in a cache outside the checkout
(SR_SCALE_WHEEL_CACHE, default /var/cache/sr-scale/wheels), so reruns need no network.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sr_scale.core.image_io import read_image
from sr_scale.gimp import bundle, pixels
from sr_scale.gimp.install import main, python_of_interpreter_file
from sr_scale.gimp.pixels import PLUG_IN, Bundle, LayerPixels, UpscaleError

WHEEL_CACHE = Path(os.environ.get("SR_SCALE_WHEEL_CACHE", "/var/cache/sr-scale/wheels"))
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def build(tmp_path: Path, *args: str) -> Path:
    done = CliRunner().invoke(main, ["bundle", *args, "-o", str(tmp_path), "--wheels", str(WHEEL_CACHE)])
    assert done.exit_code == 0, done.output
    return tmp_path


@pytest.fixture(scope="module")
def host_bundle(tmp_path_factory) -> Path:
    """A bundle for this very Python and Linux x86-64, so a bare interpreter can run it here."""
    return build(tmp_path_factory.mktemp("bundle-host"), "--python", HOST_PYTHON, "--platform", "linux-x86_64") / PLUG_IN


def test_bundle_carries_the_installed_engine_modules_byte_for_byte(host_bundle):
    import sr_scale.core.engine
    import sr_scale.core.jpeg_quality
    import sr_scale.core.restoration
    import sr_scale.core.tiling
    import sr_scale.core.enlarge

    for module in (sr_scale.core.engine, sr_scale.core.restoration, sr_scale.core.jpeg_quality, sr_scale.core.tiling, sr_scale.core.enlarge, pixels):
        relative = Path(*module.__name__.split(".")).with_suffix(".py")
        assert (host_bundle / relative).read_bytes() == Path(module.__file__).read_bytes(), relative


def test_bundle_carries_the_embedded_models_and_an_executable_plug_in(host_bundle):
    models = resources.files("sr_scale.core") / "models"
    for model in models.iterdir():
        if model.name.endswith(".onnx"):
            assert (host_bundle / "sr_scale/core/models" / model.name).read_bytes() == model.read_bytes()
    plug_in = host_bundle / f"{PLUG_IN}.py"
    assert plug_in.stat().st_mode & stat.S_IXUSR and plug_in.read_bytes().startswith(b"#!/usr/bin/env python3\n")


def test_bundle_holds_numpy_and_onnxruntime_at_this_installations_versions_and_nothing_else(host_bundle):
    record = pixels.read_bundle(host_bundle)
    assert record == Bundle(HOST_PYTHON, "manylinux_2_28_x86_64", "linux", "x86_64",
                            {"numpy": metadata.version("numpy"), "onnxruntime": metadata.version("onnxruntime")})
    top_level = {p.name for p in (host_bundle / pixels.BUNDLE_SITE).iterdir() if not p.name.endswith(".dist-info")}
    assert top_level == {"numpy", "numpy.libs", "onnxruntime"}  # no Pillow, pypng, tifffile


def test_bundle_runs_in_a_bare_python_without_sr_scale_and_equals_sr_scale(host_bundle, tmp_path, butterfly, tiny_onnx):
    """-I -S: no site-packages, no environment; only the bundle folder, as GIMP's Python sees it."""
    from sr_scale.core.restoration import model_for

    lr = np.dstack([butterfly[100:140, 80:128], np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))])
    layer = LayerPixels(48, 40, 4, 1, lr.tobytes())
    (tmp_path / "lr.raw").write_bytes(layer.data)
    script = f"""
import sys
sys.path.insert(0, {str(host_bundle)!r})
from sr_scale.gimp import pixels
upscale = pixels.upscaler_for({str(host_bundle)!r}, None, None)
import numpy, onnxruntime, sr_scale.core.engine
assert all(m.__file__.startswith({str(host_bundle)!r}) for m in (numpy, onnxruntime, sr_scale.core.engine))
advice = pixels.input_advice(bytes([3, 75, 3, 0, 2, 2, 1, 1, 1, 1]))  # GIMP's settings of a q75 JPEG
assert advice.quality == 75 and advice.model == {model_for(75)!r}, advice
assert "PIL" not in sys.modules
lr = pixels.LayerPixels(48, 40, 4, 1, open({str(tmp_path / "lr.raw")!r}, "rb").read())
sr = upscale(lr, pixels.Options(model_file={str(tiny_onnx)!r}, tile=24, device="cpu"), lambda fraction: None)
open({str(tmp_path / "sr.raw")!r}, "wb").write(sr.data)
"""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, env={})
    assert done.returncode == 0, done.stderr
    (tmp_path / "lr.png").write_bytes(pixels.encode_png(layer))
    sr_scale = Path(sys.executable).parent / "sr-scale"
    subprocess.run([str(sr_scale), "--model", str(tiny_onnx), "--tile", "24", "--device", "cpu",
                    str(tmp_path / "lr.png"), str(tmp_path / "sr.png")], check=True, capture_output=True)
    expected = read_image(tmp_path / "sr.png").pixels
    got = np.frombuffer((tmp_path / "sr.raw").read_bytes(), np.uint8).reshape(expected.shape)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_windows_bundle_zip_carries_win_amd64_wheels(tmp_path):
    build(tmp_path, "--python", "3.13", "--platform", "windows-x86_64", "--zip")
    (archive_path,) = tmp_path.iterdir()
    assert archive_path.name == f"{PLUG_IN}-python3.13-win_amd64.zip"
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        record = Bundle.from_json(archive.read(f"{PLUG_IN}/{pixels.BUNDLE_FILE}").decode())
        plug_in_mode = archive.getinfo(f"{PLUG_IN}/{PLUG_IN}.py").external_attr >> 16
        ort_tags = archive.read(f"{PLUG_IN}/site/onnxruntime-{record.packages['onnxruntime']}.dist-info/WHEEL").decode()
    assert all(name.startswith(f"{PLUG_IN}/") for name in names)
    assert f"{PLUG_IN}/site/onnxruntime/capi/onnxruntime_pybind11_state.pyd" in names
    assert "Tag: cp313-cp313-win_amd64" in ort_tags
    assert any(n.startswith(f"{PLUG_IN}/site/numpy/_core/_multiarray_umath") and n.endswith(".cp313-win_amd64.pyd") for n in names)
    assert (record.python, record.platform, record.system, record.machine) == ("3.13", "win_amd64", "win32", "x86_64")
    assert plug_in_mode & stat.S_IXUSR


def test_a_python_without_wheels_is_one_line_naming_what_exists(tmp_path):
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["bundle", "--python", "3.6", "--platform", "windows-x86_64", "-o", str(out),
                                     "--wheels", str(tmp_path / "empty-cache")])
    assert done.exit_code == 1
    (line,) = done.output.strip().splitlines()
    assert line.startswith("Error: no numpy ") and "for Python 3.6 on win_amd64; it has wheels for Python" in line
    assert "3.13" in line.split("it has wheels for", 1)[1] and "win_amd64" in line.split("it has wheels for", 1)[1]
    assert not out.exists() or not any(out.iterdir())


def test_no_network_is_a_clear_error_and_nothing_is_written(tmp_path, monkeypatch):
    for variable in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # ignore the machine's local wheel folders
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    out = tmp_path / "out"
    out.mkdir()
    done = CliRunner().invoke(main, ["bundle", "--python", "3.13", "--platform", "linux-x86_64", "-o", str(out),
                                     "--wheels", str(tmp_path / "empty-cache")])
    assert done.exit_code == 1
    (line,) = done.output.strip().splitlines()
    assert "cannot be reached" in line and "nothing was written" in line
    assert list(out.iterdir()) == []


def test_unknown_platform_is_a_usage_error_listing_the_targets(tmp_path):
    done = CliRunner().invoke(main, ["bundle", "--python", "3.13", "--platform", "amiga", "-o", str(tmp_path)])
    assert done.exit_code == 2
    assert "linux-x86_64, windows-x86_64, macos-arm64, macos-x86_64" in done.output


@pytest.mark.parametrize(("tag", "expected"), [
    ("win_amd64", ("win32", "x86_64")), ("manylinux_2_28_x86_64", ("linux", "x86_64")),
    ("manylinux2014_aarch64", ("linux", "arm64")), ("macosx_14_0_arm64", ("darwin", "arm64")),
    ("macosx_13_0_universal2", ("darwin", "")),
])
def test_platform_tags_map_to_the_system_the_plug_in_checks(tag, expected):
    assert bundle.system_and_machine(tag) == expected


def test_wrong_python_is_reported_before_numpy_is_imported(tmp_path):
    record = Bundle("3.12", "manylinux_2_28_x86_64", "linux", "x86_64")
    (tmp_path / pixels.BUNDLE_FILE).write_text(record.to_json())
    message = pixels.bundle_mismatch(record, "3.13", "linux", "x86_64")
    assert message.startswith("this plug-in was bundled for Python 3.12 on manylinux_2_28_x86_64, but GIMP runs Python 3.13")
    assert pixels.bundle_mismatch(record, "3.12", "linux", "x86_64") is None
    assert pixels.bundle_mismatch(Bundle("3.12", "macosx_13_0_universal2", "darwin", ""), "3.12", "darwin", "arm64") is None
    if pixels.python_version() != "3.12":
        with pytest.raises(UpscaleError, match="bundled for Python 3.12"):
            pixels.upscaler_for(tmp_path, None, None)


def test_install_self_contained_writes_the_bundle_into_the_profile(tmp_path, monkeypatch):
    gimp_dir = tmp_path / "GIMP" / "3.0"
    done = CliRunner().invoke(main, ["install", "--self-contained", "--gimp-dir", str(gimp_dir), "--python", HOST_PYTHON,
                                     "--platform", "linux-x86_64", "--wheels", str(WHEEL_CACHE)])
    assert done.exit_code == 0, done.output
    folder = gimp_dir / "plug-ins" / PLUG_IN
    assert pixels.read_bundle(folder).python == HOST_PYTHON and not (folder / pixels.ENGINE_FILE).exists()
    assert sorted(p.name for p in (gimp_dir / "plug-ins").iterdir()) == [PLUG_IN]  # no staging left over


def test_install_self_contained_finds_the_flatpak_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("GIMP3_DIRECTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    flatpak = tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0"
    flatpak.mkdir(parents=True)
    done = CliRunner().invoke(main, ["install", "--self-contained", "--python", HOST_PYTHON, "--platform", "linux-x86_64",
                                     "--wheels", str(WHEEL_CACHE)])
    assert done.exit_code == 0, done.output
    assert pixels.read_bundle(flatpak / "plug-ins" / PLUG_IN) is not None


def test_install_self_contained_without_a_profile_asks_or_says_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.delenv("GIMP3_DIRECTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    done = CliRunner().invoke(main, ["install", "--self-contained", "--python", "3.13", "--wheels", str(WHEEL_CACHE)])
    assert done.exit_code == 1 and "no GIMP 3 profile found" in done.output and "--gimp-dir" in done.output


def test_gimps_python_is_read_from_its_interpreter_file(tmp_path):
    interp = tmp_path / "pygimp.interp"
    interp.write_text("python=C:\\Program Files\\GIMP 3\\bin\\python.exe\npython3=C:\\Program Files\\GIMP 3\\bin\\python.exe\n"
                      "/usr/bin/python=C:\\Program Files\\GIMP 3\\bin\\python.exe\n:Python:E::py::python3:\n")
    assert str(python_of_interpreter_file(interp)) == "C:\\Program Files\\GIMP 3\\bin\\python.exe"
