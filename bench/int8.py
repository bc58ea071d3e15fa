"""The int8 (QDQ) check: float32 model vs its int8 copy (exporter/int8.py), speed and Set5 Y-PSNR.

    python -m bench.int8 [--model x2] [--int8 x2-int8.onnx | --out KEEP.onnx]

The rule of the performance issue: use int8 only if it is faster than float32 through the engine
and loses at most 0.05 dB on Set5 (standard protocol). Prints both and the verdict.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click
import numpy as np

from .workload import SHARED, median_seconds, photo

SET5 = SHARED / "data" / "eval" / "Set5"
MAX_LOSS_DB = 0.05


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
@click.option("--int8", "given", type=click.Path(exists=True, dir_okay=False), default=None, help="An int8 model already made.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Keep the int8 model made here.")
@click.option("--size", default=512, show_default=True, help="Input side for the speed comparison.")
def main(model: str, given: str | None, out: str | None, size: int) -> None:
    """Quantise MODEL to int8 QDQ (or take --int8); print speed and Set5 PSNR of both and the verdict."""
    from sr_scale.core.engine import Upscaler, model_path
    from sr_scale.exporter.int8 import convert

    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(given or out or Path(tmp) / "int8.onnx")
        if not given:
            convert(model_path(model), int8)
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
