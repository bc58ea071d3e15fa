import subprocess
import sys

import numpy as np
import pytest

from sr_scale.core.engine import ModelError, Upscaler
from sr_scale.core.tiling import tiles


def test_tiles_cover_every_pixel_exactly_once():
    covered = np.zeros((101, 77), int)
    for tile in tiles(101, 77, tile=32, overlap=5):
        covered[tile.core_y0 : tile.core_y1, tile.core_x0 : tile.core_x1] += 1
    assert (covered == 1).all()


def test_tiled_output_equals_whole_image_output(tiny_onnx, butterfly):
    tiled = Upscaler(tiny_onnx, tile=48).upscale(butterfly)  # 256 px: 6x6 tiles
    whole = Upscaler(tiny_onnx, tile=0).upscale(butterfly)
    assert tiled.shape == (512, 512, 3)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def test_embedded_model_tiled_equals_whole_on_a_real_photo(butterfly):
    tiled = Upscaler("x2", tile=100).upscale(butterfly)
    whole = Upscaler("x2", tile=0).upscale(butterfly)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def test_sixteen_bit_images_stay_sixteen_bit(tiny_onnx, butterfly):
    deep = butterfly.astype(np.uint16) * 257
    out = Upscaler(tiny_onnx).upscale(deep)
    assert out.dtype == np.uint16 and out.shape == (512, 512, 3)


def test_cpu_is_what_the_session_really_runs_on(tiny_onnx):
    upscaler = Upscaler(tiny_onnx, device="cpu")
    assert upscaler.device == "cpu"
    assert upscaler.session.get_providers()[0] == "CPUExecutionProvider"


def test_missing_model_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Upscaler(tmp_path / "nope.onnx")


def test_corrupted_model_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    with pytest.raises(ModelError, match="cannot load model"):
        Upscaler(bad)


def test_inference_path_never_imports_torch(tmp_path, butterfly):
    code = (
        "import sys, numpy as np\n"
        "from sr_scale.core.engine import Upscaler\n"
        "from sr_scale.core import image_io, evaluate, eval_cli, results, report, tiling, metrics, degradations\n"
        "from sr_scale.imagemagick_wrapper import cli\n"
        "Upscaler('x2').upscale(np.zeros((20, 20, 3), np.uint8))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'tensorboard'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tiles_run_in_parallel_give_the_same_pixels_in_order(tiny_onnx, butterfly):
    parallel, serial = Upscaler(tiny_onnx, threads=3, tile=40), Upscaler(tiny_onnx, threads=1, tile=40)
    assert (parallel.workers, serial.workers) == (3, 1)
    seen = []
    out = parallel.upscale(butterfly, progress=seen.append)
    assert (out == serial.upscale(butterfly)).all()
    plan = parallel.plan(256, 256)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == plan.rows * plan.cols > 1
