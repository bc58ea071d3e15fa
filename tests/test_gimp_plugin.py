"""The GIMP plug-in's parts outside GIMP: pixel exchange, the engine in-process and through the
sr-scale command, and the install command (into a temporary GIMP profile)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sr_scale.core import engine as core_engine
from sr_scale.core.engine import DEFAULT_MODEL, DEFAULT_TILE, DEVICES, EMBEDDED_MODELS
from sr_scale.core.image_io import read_image
from sr_scale.gimp import pixels
from sr_scale.gimp.install import PLUG_IN, default_gimp_dir, main, this_engine
from sr_scale.gimp.pixels import Engine, LayerPixels, Options, UpscaleError

SR_SCALE = Path(sysconfig.get_path("scripts")) / "sr-scale"


def layer_of(array: np.ndarray) -> LayerPixels:
    array = array if array.ndim == 3 else array[..., None]
    return LayerPixels(array.shape[1], array.shape[0], array.shape[2], array.dtype.itemsize, np.ascontiguousarray(array).tobytes())


def array_of(layer: LayerPixels) -> np.ndarray:
    dtype = np.uint8 if layer.depth == 1 else np.uint16
    return np.frombuffer(layer.data, dtype).reshape(layer.height, layer.width, layer.channels)


def read_png(path: Path, channels: int, depth: int) -> LayerPixels:
    """Stand-in for GIMP's loader: sr-scale's own decoder (grey, alpha, 16-bit colour)."""
    array = read_image(path).pixels
    assert array.shape[2] == channels and array.dtype.itemsize == depth
    return layer_of(array)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("depth", [1, 2])
def test_png_encoding_round_trips_every_layer_layout(tmp_path, channels, depth):
    rng = np.random.default_rng(channels * 10 + depth)
    dtype = np.uint8 if depth == 1 else np.uint16
    array = rng.integers(0, np.iinfo(dtype).max, size=(13, 17, channels), endpoint=True, dtype=dtype)
    path = tmp_path / "layer.png"
    path.write_bytes(pixels.encode_png(layer_of(array)))
    assert np.array_equal(array_of(read_png(path, channels, depth)), array)


def test_plug_in_copies_of_the_engines_models_devices_and_default_tile_are_the_engines():
    # The plug-in registers itself without importing the engine, so it keeps copies of these.
    assert set(pixels.MODELS) == set(EMBEDDED_MODELS)
    assert pixels.DEFAULT_MODEL == DEFAULT_MODEL == Options().model
    assert pixels.DEVICES == DEVICES and Options().device == DEVICES[0] == "auto"
    assert pixels.DEFAULT_TILE == DEFAULT_TILE == Options().tile


def test_one_onnxruntime_session_serves_every_layer_of_a_run(monkeypatch, crops, tiny_onnx):
    made = []
    real = core_engine.Upscaler

    class Counting(real):
        def __init__(self, *args, **kwargs):
            made.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(core_engine, "Upscaler", Counting)
    upscale = pixels.engine_upscaler()
    options = Options(model_file=str(tiny_onnx), tile=24, device="cpu")
    for kind in ("rgb", "rgba", "grey"):
        upscale(layer_of(crops[kind]), options, lambda fraction: None)
    assert len(made) == 1


def test_onnxruntime_error_in_process_is_one_line_for_gimps_dialog(crops, tiny_onnx, tmp_path):
    """A model whose input is fixed at 24x24 loads, then onnxruntime refuses the 48x40 layer
    with an exception type of its own: the plug-in must get an UpscaleError, not a traceback."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(tiny_onnx))
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 3, 24, 24)):
        dim.dim_value = value
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, str(fixed))
    upscale = pixels.engine_upscaler()
    with pytest.raises(UpscaleError) as caught:
        upscale(layer_of(crops["rgb"]), Options(model_file=str(fixed), tile=0, device="cpu"), lambda fraction: None)
    assert "\n" not in str(caught.value) and "dimension" in str(caught.value).lower()


def test_bad_device_in_process_is_an_upscale_error(crops, tiny_onnx):
    with pytest.raises(UpscaleError, match="device must be one of"):
        pixels.engine_upscaler()(layer_of(crops["rgb"]), Options(model_file=str(tiny_onnx), device="tpu"), lambda f: None)


def test_layer_pixels_refuse_a_wrong_byte_count():
    with pytest.raises(ValueError, match="needs 12 bytes"):
        LayerPixels(2, 2, 3, 1, b"\0" * 11)


@pytest.fixture(scope="module")
def crops(butterfly) -> dict[str, np.ndarray]:
    crop = butterfly[100:140, 80:128]
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))
    alpha[:, :6] = 0
    return {"rgb": crop, "rgba": np.dstack([crop, alpha]), "grey": np.asarray(Image.fromarray(crop).convert("L"))[..., None]}


@pytest.mark.parametrize("kind", ["rgb", "rgba", "grey"])
def test_command_and_in_process_give_the_same_pixels(crops, tiny_onnx, kind):
    options = Options(model_file=str(tiny_onnx), tile=24, device="cpu")
    lr = layer_of(crops[kind])
    upscale = pixels.in_process_upscaler(this_engine(SR_SCALE))
    assert upscale is not None
    fractions = []
    in_process = upscale(lr, options, fractions.append)
    pulses = []
    via_command = pixels.upscale_with_command(this_engine(SR_SCALE), lr, options, read_png, lambda: pulses.append(1))
    assert (via_command.width, via_command.height, via_command.channels) == (96, 80, lr.channels)
    assert np.abs(array_of(in_process).astype(int) - array_of(via_command).astype(int)).max() <= 1
    assert fractions and fractions == sorted(fractions) and fractions[-1] <= 1.0
    assert pulses, "the progress bar must move while sr-scale runs"


def test_command_error_reaches_the_user_as_one_line(crops, tmp_path):
    options = Options(model_file=str(tmp_path / "missing.onnx"))
    with pytest.raises(UpscaleError, match=r"^model file not found: .*missing\.onnx$"):
        pixels.upscale_with_command(this_engine(SR_SCALE), layer_of(crops["rgb"]), options, read_png, lambda: None)


def test_missing_sr_scale_executable_says_to_reinstall(crops, tmp_path):
    engine = Engine(str(tmp_path / "gone" / "sr-scale"))
    with pytest.raises(UpscaleError, match="reinstall"):
        pixels.upscale_with_command(engine, layer_of(crops["rgb"]), Options(), read_png, lambda: None)


def test_sr_scale_is_called_with_an_argument_list():
    args = pixels.sr_scale_args(Engine("/opt/sr/bin/sr-scale"), Options(model="x2-jpeg", tile=0, device="cuda"),
                                Path("/tmp/a b/lr.png"), Path("/tmp/a b/sr.png"))
    assert args == ["/opt/sr/bin/sr-scale", "--model", "x2-jpeg", "--tile", "0", "--device", "cuda", "/tmp/a b/lr.png", "/tmp/a b/sr.png"]


def test_in_process_is_not_attempted_for_another_python_version(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", list(sys.path))
    engine = Engine(str(SR_SCALE), "2.7", (str(tmp_path / "site"),))
    pixels.in_process_upscaler(engine)
    assert str(tmp_path / "site") not in sys.path


def test_damaged_engine_record_is_a_clear_error(tmp_path):
    (tmp_path / pixels.ENGINE_FILE).write_text("{not json")
    with pytest.raises(UpscaleError, match="damaged"):
        pixels.read_engine(tmp_path)
    with pytest.raises(UpscaleError, match="sr-scale-gimp install"):
        pixels.read_engine(tmp_path / "elsewhere")


def test_install_puts_an_executable_plug_in_in_its_own_folder(tmp_path):
    gimp_dir = tmp_path / "GIMP" / "3.0"
    done = CliRunner().invoke(main, ["install", "--gimp-dir", str(gimp_dir)])
    assert done.exit_code == 0, done.output
    folder = gimp_dir / "plug-ins" / PLUG_IN
    plug_in = folder / f"{PLUG_IN}.py"
    assert plug_in.stat().st_mode & stat.S_IXUSR and plug_in.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert (folder / "sr_scale" / "gimp" / "pixels.py").read_bytes() == Path(pixels.__file__).read_bytes()
    assert sorted(p.name for p in (gimp_dir / "plug-ins").iterdir()) == [PLUG_IN]  # no staging left over
    engine = pixels.read_engine(folder)
    assert os.path.isabs(engine.sr_scale) and os.access(engine.sr_scale, os.X_OK)
    assert Path(engine.sr_scale).name == "sr-scale"


def test_install_again_replaces_the_old_copy(tmp_path):
    gimp_dir = tmp_path / "GIMP" / "3.0"
    CliRunner().invoke(main, ["install", "--gimp-dir", str(gimp_dir)])
    stale = gimp_dir / "plug-ins" / PLUG_IN / "stale.py"
    stale.write_text("")
    done = CliRunner().invoke(main, ["install", "--gimp-dir", str(gimp_dir), "--sr-scale", str(SR_SCALE)])
    assert done.exit_code == 0, done.output
    assert not stale.exists()
    assert json.loads((gimp_dir / "plug-ins" / PLUG_IN / pixels.ENGINE_FILE).read_text())["sr_scale"] == str(SR_SCALE)


def test_uninstall_removes_the_plug_in_and_says_when_there_is_none(tmp_path):
    gimp_dir = tmp_path / "GIMP" / "3.0"
    CliRunner().invoke(main, ["install", "--gimp-dir", str(gimp_dir)])
    done = CliRunner().invoke(main, ["uninstall", "--gimp-dir", str(gimp_dir)])
    assert done.exit_code == 0, done.output
    assert not (gimp_dir / "plug-ins" / PLUG_IN).exists()
    again = CliRunner().invoke(main, ["uninstall", "--gimp-dir", str(gimp_dir)])
    assert again.exit_code == 1 and "not installed" in again.output


def test_default_profile_follows_gimp_rules(monkeypatch, tmp_path):
    monkeypatch.delenv("GIMP3_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert default_gimp_dir() == tmp_path / "config" / "GIMP" / "3.0"
    monkeypatch.setenv("GIMP3_DIRECTORY", str(tmp_path / "custom"))
    assert default_gimp_dir() == tmp_path / "custom"


def test_installed_copy_runs_in_process_from_the_recorded_site_folders(tmp_path, crops, tiny_onnx):
    """What GIMP's Python does when it is the same version as sr-scale's: a fresh interpreter
    without site packages (-S) imports the copied module, then the engine through engine.json."""
    CliRunner().invoke(main, ["install", "--gimp-dir", str(tmp_path)])
    folder = tmp_path / "plug-ins" / PLUG_IN
    lr = layer_of(crops["rgba"])
    (tmp_path / "lr.raw").write_bytes(lr.data)
    script = f"""
import sys
sys.path.insert(0, {str(folder)!r})
from sr_scale.gimp import pixels
assert pixels.__file__.startswith({str(folder)!r}), pixels.__file__
upscale = pixels.in_process_upscaler(pixels.read_engine({str(folder)!r}))
lr = pixels.LayerPixels({lr.width}, {lr.height}, 4, 1, open({str(tmp_path / "lr.raw")!r}, "rb").read())
sr = upscale(lr, pixels.Options(model_file={str(tiny_onnx)!r}, tile=24, device="cpu"), lambda fraction: None)
open({str(tmp_path / "sr.raw")!r}, "wb").write(sr.data)
"""
    done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (tmp_path / "lr.png").write_bytes(pixels.encode_png(lr))
    subprocess.run([str(SR_SCALE), "--model", str(tiny_onnx), "--tile", "24", "--device", "cpu",
                    str(tmp_path / "lr.png"), str(tmp_path / "sr.png")], check=True, capture_output=True)
    expected = read_image(tmp_path / "sr.png").pixels
    in_process = np.frombuffer((tmp_path / "sr.raw").read_bytes(), np.uint8).reshape(expected.shape)
    assert np.abs(in_process.astype(int) - expected.astype(int)).max() <= 1


def gimp_jpeg_settings(quality: int, tables: dict[int, list[int]] | None = None) -> bytes:
    """A "jpeg-settings" parasite as GIMP's JPEG loader writes it (YCbCr, 2x2 1x1 1x1 sampling)."""
    import struct

    tables = tables or {}
    head = bytes([3, quality, 3, len(tables), 2, 2, 1, 1, 1, 1])
    return head + b"".join(struct.pack(">64H", *table) for table in tables.values())


def test_jpeg_quality_gimp_detected_gives_sr_scales_choice():
    from sr_scale.core.restoration import model_for

    for quality in (40, 75, 95):
        advice = pixels.input_advice(gimp_jpeg_settings(quality))
        assert advice == pixels.Advice(quality, model_for(quality))
        assert advice.note == f"JPEG quality {quality} detected: {model_for(quality)} suggested"


def test_jpeg_tables_gimp_kept_are_estimated_as_sr_scale_does(tmp_path, butterfly):
    """Tables that are not libjpeg's (GIMP then stores them): the estimate of core/jpeg_quality."""
    from sr_scale.core.jpeg_quality import estimate_quality, read_tables
    from sr_scale.core.restoration import model_for

    custom = {0: [min(255, 3 + i) for i in range(64)], 1: [min(255, 5 + 2 * i) for i in range(64)]}
    Image.fromarray(butterfly).save(tmp_path / "custom.jpg", qtables=[custom[0], custom[1]])
    tables = read_tables(tmp_path / "custom.jpg")
    advice = pixels.input_advice(gimp_jpeg_settings(0, tables))
    assert advice == pixels.Advice(estimate_quality(tables), model_for(estimate_quality(tables)))


def test_no_jpeg_settings_no_advice():
    assert pixels.input_advice(None) is None


def test_a_text_layer_gets_the_text_member_as_sr_scale_chooses_it():
    """The dialog passes the first selected layer: text on a flat background is seen there too."""
    from sr_scale.core.restoration import COMPRESSED_TEXT_MODEL, TEXT_MODEL

    from test_content import text_lr

    lr = text_lr(5180)
    layer = pixels.LayerPixels(lr.shape[1], lr.shape[0], 3, 1, lr.tobytes())
    assert pixels.input_advice(None, layer) == pixels.Advice(None, TEXT_MODEL, True)
    advice = pixels.input_advice(gimp_jpeg_settings(75), layer)
    assert advice == pixels.Advice(75, COMPRESSED_TEXT_MODEL, True)
    assert advice.note == f"JPEG quality 75 detected, text on a flat background: {COMPRESSED_TEXT_MODEL} suggested"
    photo = pixels.LayerPixels(64, 64, 3, 1, np.full((64, 64, 3), 128, np.uint8).tobytes())
    assert pixels.input_advice(None, photo) is None  # neither a JPEG nor text: nothing to suggest


def test_a_large_layer_is_advised_from_its_middle_alone():
    """The dialog reads only advice_box of a large layer: the checks look at that middle anyway, so
    the advice is the whole layer's, and a 2500 x 1700 layer costs a 1024 x 1024 read."""
    from test_content import text_lr

    lr = text_lr(5180)
    canvas = np.full((1700, 2500, 3), 255, np.uint8)
    top, left = (1700 - lr.shape[0]) // 2, (2500 - lr.shape[1]) // 2
    canvas[top:top + lr.shape[0], left:left + lr.shape[1]] = lr
    box = pixels.advice_box(2500, 1700)
    assert box == (738, 338, 1024, 1024)
    x, y, w, h = box
    middle = np.ascontiguousarray(canvas[y:y + h, x:x + w])
    whole = pixels.LayerPixels(2500, 1700, 3, 1, canvas.tobytes())
    part = pixels.LayerPixels(w, h, 3, 1, middle.tobytes())
    for parasite in (None, gimp_jpeg_settings(75)):
        assert pixels.input_advice(parasite, part) == pixels.input_advice(parasite, whole)
    assert pixels.input_advice(None, part).text
    assert pixels.advice_box(300, 200) == (0, 0, 300, 200)  # small layers: the whole of it
