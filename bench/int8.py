"""The int8 (QDQ) attempt: quantise the float32 model statically, then compare speed and Set5 Y-PSNR.

    python -m bench.int8 [--model x2] [--out /tmp/x2.int8.onnx]

Calibration uses LR crops of training photos (T91, BSD200: never the evaluation sets). The verdict
rule of the performance issue: ship int8 only if it is faster than float32 through the engine and
loses at most 0.05 dB on Set5. The result is printed and goes into docs/performance.md by hand.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click
import numpy as np

from .workload import SHARED, median_seconds, photo

TRAIN = SHARED / "data" / "train"
SET5 = SHARED / "data" / "eval" / "Set5"
MAX_LOSS_DB = 0.05


class CalibrationCrops:
    """onnxruntime CalibrationDataReader over `count` 96x96 LR crops (protocol bicubic, /2) of training photos."""

    def __init__(self, input_name: str, count: int = 48, side: int = 96):
        from sr_scale.core.degradations import bicubic_downscale, crop_to_multiple
        from sr_scale.core.image_io import read_rgb

        rng = np.random.default_rng(0)
        paths = sorted([*(TRAIN / "T91").glob("*.png"), *(TRAIN / "BSD200").glob("*")])
        crops = []
        for path in rng.choice(paths, size=count, replace=False):
            lr = bicubic_downscale(crop_to_multiple(read_rgb(path), 2), 2)
            y, x = (int(rng.integers(0, max(1, n - side))) for n in lr.shape[:2])
            crop = lr[y : y + side, x : x + side].astype(np.float32).transpose(2, 0, 1)[None] / 255
            crops.append({input_name: np.ascontiguousarray(crop)})
        self.feeds = iter(crops)

    def get_next(self):
        return next(self.feeds, None)


def quantize(source: Path, target: Path) -> None:
    """Static QDQ quantisation: int8 per-channel weights, uint8 activations, MinMax calibration."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        input_name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        quantize_static(str(prepared), str(target), CalibrationCrops(input_name), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)


def set5_psnr(model: str | Path) -> float:
    """Mean Y-PSNR on Set5 through the engine, standard protocol."""
    from sr_scale.core.engine import Upscaler
    from sr_scale.core.evaluate import load_hr, make_lr
    from sr_scale.core.metrics import y_psnr

    upscaler = Upscaler(model)
    scores = []
    for path in sorted(SET5.glob("*.png")):
        hr = load_hr(path, 2)
        scores.append(y_psnr(upscaler.upscale(make_lr(hr, 2)), hr, 2))
    return float(np.mean(scores))


@click.command()
@click.option("--model", default="x2", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Keep the int8 model here.")
@click.option("--size", default=512, show_default=True, help="Input side for the speed comparison.")
def main(model: str, out: str | None, size: int) -> None:
    """Quantise MODEL to int8 QDQ; print speed and Set5 PSNR of both and the verdict."""
    from sr_scale.core.engine import Upscaler, model_path

    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(out) if out else Path(tmp) / "int8.onnx"
        quantize(model_path(model), int8)
        image = photo(size)
        result = {}
        for name, path in (("float32", model_path(model)), ("int8", int8)):
            upscaler = Upscaler(path)
            seconds = median_seconds(lambda: upscaler.upscale(image), 3)
            result[name] = {"seconds": seconds, "output_mp_per_s": (2 * size) ** 2 / 1e6 / seconds, "set5_psnr": set5_psnr(path)}
    loss = result["float32"]["set5_psnr"] - result["int8"]["set5_psnr"]
    faster = result["int8"]["seconds"] < result["float32"]["seconds"]
    result["verdict"] = "ship" if faster and loss <= MAX_LOSS_DB else "do not ship"
    for name in ("float32", "int8"):
        r = result[name]
        click.echo(f"{name:8} {size}x{size}: {r['seconds']:.3f} s ({r['output_mp_per_s']:.2f} out MP/s), Set5 {r['set5_psnr']:.3f} dB")
    click.echo(f"int8 loses {loss:.3f} dB and is {'faster' if faster else 'slower'}: {result['verdict']}")
    click.echo(json.dumps(result))


if __name__ == "__main__":
    main()
