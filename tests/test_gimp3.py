"""The "AI Upscale 2x" filter in a real, headless GIMP 3.0 (Debian trixie root, tests/gimp3).

One GIMP call runs every case, because each call costs seconds: the plug-in is installed with
`sr-scale-gimp install` into a fresh profile, GIMP loads RGB, RGBA, grey and two-layer images,
runs the procedure, exports, and dumps every layer's pixels. The plug-in calls this very
installation's `sr-scale` (GIMP's Python 3.13 cannot import it), so its results are compared
with `sr-scale` run directly on the same pixels.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_scale.core.engine import EMBEDDED_MODELS
from sr_scale.core.image_io import read_image
from sr_scale.gimp.install import PLUG_IN
from sr_scale.gimp.pixels import LayerPixels, encode_png

pytestmark = pytest.mark.slow

ROOT = Path(os.environ.get("SR_SCALE_GIMP3_ROOT", "/var/cache/sr-scale/gimp3-root"))
RUN_GIMP = Path(__file__).parent / "gimp3" / "run-gimp.sh"
PLUG_IN_FILE = Path(__file__).parents[1] / "plugins" / "gimp" / PLUG_IN / f"{PLUG_IN}.py"
TILE = 24  # small, so the 48x40 test images are enlarged in several tiles

# Runs inside GIMP (python-fu-eval; Gimp, Gegl, Gio in scope). Jobs come from jobs.json.
BATCH = r'''
import json, time
io = {io!r}
pdb = Gimp.get_pdb()
proc = pdb.lookup_procedure("plug-in-sr-scale-upscale")
report = {{"registered": proc is not None, "menu": list(proc.get_menu_paths()), "label": proc.get_menu_label(),
          "image_types": proc.get_image_types()}}

def dump(image, name):
    layers = []
    for i, layer in enumerate(image.get_layers()):
        channels = (1 if layer.is_gray() else 3) + (1 if layer.has_alpha() else 0)
        depth = 2 if image.get_precision() == Gimp.Precision.U16_NON_LINEAR else 1
        fmt = {{1: "Y'", 2: "Y'A", 3: "R'G'B'", 4: "R'G'B'A"}}[channels] + (" u16" if depth == 2 else " u8")
        w, h = layer.get_width(), layer.get_height()
        data = layer.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
        path = "%s/%s-%d.raw" % (io, name, i)
        with open(path, "wb") as f:
            f.write(bytes(data))
        _, x, y = layer.get_offsets()
        layers.append({{"name": layer.get_name(), "width": w, "height": h, "channels": channels, "depth": depth,
                       "x": x, "y": y, "raw": path}})
    return {{"width": image.get_width(), "height": image.get_height(), "layers": layers}}

for job in json.load(open(io + "/jobs.json")):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(job["input"]))
    if "overlay" in job:
        layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(job["overlay"]))
        image.insert_layer(layer, None, 0)
        layer.set_offsets(*job["offset"])
        image.set_selected_layers([layer])
    if job.get("lock"):
        image.get_selected_layers()[0].set_lock_content(True)
    result = {{"before": dump(image, job["name"] + "-before")}}
    if job.get("gimp_scale"):
        Gimp.context_push()
        Gimp.context_set_interpolation(Gimp.InterpolationType.NOHALO)
        image.scale(image.get_width() * 2, image.get_height() * 2)
        Gimp.context_pop()
    else:
        config = proc.create_config()
        config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
        config.set_property("image", image)
        config.set_core_object_array("drawables", image.get_selected_layers())
        config.set_property("model", job.get("model", "x2"))
        config.set_property("model-file", job.get("model_file", ""))
        config.set_property("tile", job["tile"])
        config.set_property("device", "cpu")
        start = time.monotonic()
        values = proc.run(config)
        result["seconds"] = time.monotonic() - start
        result["status"] = values.index(0).value_nick
        result["message"] = pdb.get_last_error()
    result["after"] = dump(image, job["name"] + "-after")
    if job.get("export"):
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(job["export"]), None)
    report[job["name"]] = result
    image.delete()

with open(io + "/report.json", "w") as f:
    json.dump(report, f)
'''


def engine_paths() -> list[str]:
    """Host paths the recorded `sr-scale` needs, to be seen at the same paths inside the root:
    this environment, its base Python, and the checkout when the install is editable."""
    paths = [sys.prefix]
    if sys.base_prefix not in ("/usr", "/usr/local"):
        paths.append(sys.base_prefix)  # pyenv, uv, conda: the whole interpreter tree
    else:  # a distribution's Python: its binary and standard library only, never all of /usr
        paths += [os.path.realpath(sys.executable), sysconfig.get_path("stdlib")]
    import sr_scale.gimp

    package_root = Path(sr_scale.gimp.__file__).resolve().parents[2]
    if not str(package_root).startswith(sys.prefix):
        paths.append(str(package_root))
    return list(dict.fromkeys(paths))


def sr_scale(lr: Path, sr: Path, model: Path) -> np.ndarray:
    """The reference: the sr-scale command on the same pixels and options."""
    command = Path(sysconfig.get_path("scripts")) / "sr-scale"
    subprocess.run([str(command), "--model", str(model), "--tile", str(TILE), "--device", "cpu", str(lr), str(sr)],
                   check=True, capture_output=True)
    return read_image(sr).pixels


def assert_failed_untouched(result: dict, *phrases: str) -> None:
    """The run was an execution error whose message holds every phrase; the 48x40 image is as it was."""
    assert result["status"] == "execution-error"
    assert all(phrase in result["message"] for phrase in phrases), result["message"]
    before, after = result["before"], result["after"]
    assert (after["width"], after["height"]) == (before["width"], before["height"]) == (48, 40)
    assert np.array_equal(layer_pixels(after["layers"][0]), layer_pixels(before["layers"][0]))


def layer_pixels(layer: dict) -> np.ndarray:
    data = np.fromfile(layer["raw"], dtype=np.uint8 if layer["depth"] == 1 else np.uint16)
    return data.reshape(layer["height"], layer["width"], layer["channels"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, butterfly) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gimp3-inputs")
    crop = butterfly[100:140, 80:128]  # 48x40, wings and edges
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))
    alpha[:, :6] = 0  # fully transparent columns: their colour must not bleed in
    files = {
        "rgb": Image.fromarray(crop),
        "rgba": Image.fromarray(np.dstack([crop, alpha]), "RGBA"),
        "grey": Image.fromarray(crop).convert("L"),
        "overlay": Image.fromarray(np.dstack([butterfly[20:36, 30:50], np.full((16, 20), 200, np.uint8)]), "RGBA"),
    }
    for name, image in files.items():
        image.save(folder / f"{name}.png")
    # 16-bit colour (Pillow cannot write it): 8-bit levels spread over 16 bits plus fine detail.
    rgb16 = crop.astype(np.uint16) * 257 + np.random.default_rng(0).integers(0, 256, crop.shape, dtype=np.uint16)
    (folder / "rgb16.png").write_bytes(encode_png(LayerPixels(48, 40, 3, 2, rgb16.tobytes())))
    return {name: folder / f"{name}.png" for name in [*files, "rgb16"]}


@pytest.fixture(scope="module")
def gimp_run(tmp_path_factory, inputs, tiny_onnx) -> dict:
    """Install the plug-in into a fresh profile and run every job in one headless GIMP."""
    assert (ROOT / "usr/bin/gimp-console-3.0").exists(), f"no GIMP 3 root in {ROOT}: run tests/gimp3/make-root.sh"
    io = tmp_path_factory.mktemp("gimp3-io")
    home = io / "home"
    subprocess.run([str(Path(sysconfig.get_path("scripts")) / "sr-scale-gimp"), "install",
                    "--gimp-dir", str(home / "config" / "GIMP" / "3.0")], check=True, capture_output=True)
    missing = io / "no-such-model.onnx"
    jobs = [
        {"name": "rgb", "input": str(inputs["rgb"]), "model_file": str(tiny_onnx), "tile": TILE, "export": str(io / "rgb-2x.png")},
        {"name": "rgba", "input": str(inputs["rgba"]), "model_file": str(tiny_onnx), "tile": TILE},
        {"name": "grey", "input": str(inputs["grey"]), "model_file": str(tiny_onnx), "tile": TILE, "export": str(io / "grey-2x.png")},
        {"name": "layers", "input": str(inputs["rgb"]), "overlay": str(inputs["overlay"]), "offset": [7, 5],
         "model_file": str(tiny_onnx), "tile": TILE},
        {"name": "rgb16", "input": str(inputs["rgb16"]), "model_file": str(tiny_onnx), "tile": TILE},
        {"name": "artefact-model", "input": str(inputs["grey"]), "model": "x2-jpeg", "tile": TILE},
        {"name": "gimp-scale", "input": str(inputs["rgb"]), "gimp_scale": True},
        {"name": "missing-model", "input": str(inputs["rgb"]), "model_file": str(missing), "tile": TILE},
        {"name": "locked", "input": str(inputs["rgb"]), "model_file": str(tiny_onnx), "tile": TILE, "lock": True},
    ]
    (io / "jobs.json").write_text(json.dumps(jobs))
    binds = [arg for path in engine_paths() for arg in ("-r", path)]
    binds += ["-r", str(tiny_onnx.parent), "-r", str(inputs["rgb"].parent), "-w", str(io)]
    done = subprocess.run([str(RUN_GIMP), *binds, str(home), BATCH.format(io=str(io))], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"GIMP exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    report = json.loads((io / "report.json").read_text())
    report["io"] = io
    return report


def test_plug_in_is_registered_from_the_installed_folder_under_filters_enhance(gimp_run):
    assert gimp_run["registered"]
    assert (gimp_run["menu"], gimp_run["label"], gimp_run["image_types"]) == (["<Image>/Filters/Enhance"], "AI Upscale 2x", "RGB*, GRAY*")


@pytest.mark.parametrize("name", ["rgb", "grey"])
def test_exported_image_matches_sr_scale(gimp_run, inputs, tiny_onnx, tmp_path, name):
    assert gimp_run[name]["status"] == "success", gimp_run[name]["message"]
    exported = read_image(gimp_run["io"] / f"{name}-2x.png").pixels
    expected = sr_scale(inputs[name], tmp_path / "sr.png", tiny_onnx)
    assert exported.shape == expected.shape == (80, 96, {"rgb": 3, "grey": 1}[name])
    assert np.abs(exported.astype(int) - expected.astype(int)).max() <= 1


def test_rgba_layer_matches_sr_scale_alpha_included(gimp_run, inputs, tiny_onnx, tmp_path):
    result = gimp_run["rgba"]
    assert result["status"] == "success", result["message"]
    (layer,) = result["after"]["layers"]
    expected = sr_scale(inputs["rgba"], tmp_path / "sr.png", tiny_onnx)
    assert expected.shape == (80, 96, 4)
    assert np.abs(layer_pixels(layer).astype(int) - expected.astype(int)).max() <= 1


def test_16_bit_image_stays_16_bit_and_matches_sr_scale(gimp_run, inputs, tiny_onnx, tmp_path):
    result = gimp_run["rgb16"]
    assert result["status"] == "success", result["message"]
    (layer,) = result["after"]["layers"]
    expected = sr_scale(inputs["rgb16"], tmp_path / "sr.png", tiny_onnx)
    assert expected.dtype == np.uint16 and layer["depth"] == 2
    assert np.abs(layer_pixels(layer).astype(int) - expected.astype(int)).max() <= 1


def test_artefact_cancelling_model_runs_or_is_reported_missing(gimp_run):
    result = gimp_run["artefact-model"]
    if "x2-jpeg" in EMBEDDED_MODELS:
        assert result["status"] == "success", result["message"]
        assert (result["after"]["width"], result["after"]["height"]) == (96, 80)
    else:
        assert result["status"] == "execution-error"
        assert "x2-jpeg" in result["message"]
        assert (result["after"]["width"], result["after"]["height"]) == (48, 40)


def test_two_layers_selected_one_by_model_other_by_gimp_offsets_doubled(gimp_run, inputs, tiny_onnx, tmp_path):
    result = gimp_run["layers"]
    assert result["status"] == "success", result["message"]
    assert (result["after"]["width"], result["after"]["height"]) == (96, 80)
    overlay, background = result["after"]["layers"]
    assert (overlay["x"], overlay["y"], overlay["width"], overlay["height"]) == (14, 10, 40, 32)
    expected = sr_scale(inputs["overlay"], tmp_path / "sr.png", tiny_onnx)
    assert np.abs(layer_pixels(overlay).astype(int) - expected.astype(int)).max() <= 1
    # The unselected layer is GIMP's own scaling, exactly as image.scale does it.
    (gimp_scaled,) = gimp_run["gimp-scale"]["after"]["layers"]
    assert np.array_equal(layer_pixels(background), layer_pixels(gimp_scaled))


def test_missing_model_is_an_execution_error_and_leaves_the_image_unchanged(gimp_run):
    assert_failed_untouched(gimp_run["missing-model"], "no-such-model.onnx")


def test_locked_layer_is_an_execution_error_and_leaves_the_image_unchanged(gimp_run):
    """GIMP refuses to write locked pixels only after the image was scaled: checked before."""
    assert_failed_untouched(gimp_run["locked"], "locked", "Background")


def test_plug_in_files_compile_with_the_python_of_gimps_root():
    pixels_file = PLUG_IN_FILE.parents[1] / "pixels.py"
    for source in (PLUG_IN_FILE, pixels_file):
        done = subprocess.run(["chroot", str(ROOT), "python3", "-c", "import sys; compile(sys.stdin.read(), sys.argv[1], 'exec')",
                               source.name], stdin=source.open("rb"), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
