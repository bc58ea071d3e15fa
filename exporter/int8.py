"""An int8 copy of an exported model for CPUs (QDQ static quantisation with onnxruntime).

    python -m sr_scale.exporter.int8 x2.onnx x2.int8.onnx

The engine runs x2.int8.onnx in place of x2.onnx on CPUs with int8 dot products (engine.PRECISIONS).

Convolutions get int8 per-channel weights and uint8 activations, calibrated on LR crops of the
training photos (T91, BSD200; never the evaluation sets), so this is a development tool like
sr-train: it needs ../shared/data. Only the residual dense blocks are quantised (~90% of the
multiply-adds); the shallow feature extraction, global feature fusion, global residual, upsampler
and output stay float. Measured on a trained x2 (Set5 37.00 dB): quantising everything lost
0.115 dB, keeping only the output path float 0.115 dB, this split 0.042 dB (min/max ranges).
Activation ranges are the 99.999th percentiles of the calibration histograms: rare outliers
otherwise stretch a range and coarsen every other value's step. On the x2 of Set5 37.196 dB,
min/max ranges lost 0.054 dB, percentile ranges 0.016 dB.

On CPUs with int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, ARM dotprod) onnxruntime runs
the quantised convolutions several times faster than float32. Whether it may replace the float32
model is decided by measurement (bench/int8.py): faster, and at most 0.05 dB lower on Set5.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
TRAIN = SHARED / "data" / "train"
# Nodes kept float (see the module docstring), by the module names export.py's graph carries.
FLOAT_MODULES = ("/sfe1/", "/sfe2/")  # plus every node from the global feature fusion on
PERCENTILE = 99.999  # of each activation's calibration histogram, taken as its range


class CalibrationCrops:
    """onnxruntime's CalibrationDataReader over `count` side x side LR crops (protocol bicubic /2)."""

    def __init__(self, input_name: str, count: int = 64, side: int = 96, seed: int = 0):
        from sr_scale.core.degradations import bicubic_downscale, crop_to_multiple
        from sr_scale.core.image_io import read_rgb

        rng = np.random.default_rng(seed)
        paths = sorted([*(TRAIN / "T91").glob("*.png"), *(TRAIN / "BSD200").glob("*.png")])
        feeds = []
        for path in rng.permutation(paths):  # equal crop sizes: histogram calibrators stack them
            lr = bicubic_downscale(crop_to_multiple(read_rgb(path), 2), 2)
            if min(lr.shape[:2]) < side:
                continue
            y, x = (int(rng.integers(0, n - side + 1)) for n in lr.shape[:2])
            crop = lr[y : y + side, x : x + side].astype(np.float32).transpose(2, 0, 1)[None] / 255
            feeds.append({input_name: np.ascontiguousarray(crop)})
            if len(feeds) == count:
                break
        if len(feeds) < count:
            raise FileNotFoundError(f"need {count} training photos of at least {2 * side} pixels a side under {TRAIN}")
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def float_nodes(model_file: Path) -> list[str]:
    """Names of the nodes left in float: shallow feature extraction and everything from global fusion on."""
    import onnx

    names = [n.name for n in onnx.load(str(model_file)).graph.node]
    fusion = next((i for i, name in enumerate(names) if name.startswith("/global_fusion")), None)
    if fusion is None:
        raise ValueError(f"{model_file}: no /global_fusion nodes; not an RDN exported by sr-export")
    return [name for name in names[:fusion] if name.startswith(FLOAT_MODULES)] + names[fusion:]


def convert(source: str | Path, target: str | Path, calibration_count: int = 64) -> None:
    """Write a QDQ int8 version of the ONNX model `source` to `target` atomically (metadata kept)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = Path(source), Path(target)
    metadata = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
    input_name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantised = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantised), CalibrationCrops(input_name, calibration_count),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": PERCENTILE},
                        nodes_to_exclude=float_nodes(prepared))
        model = onnx.load(str(quantised))
        model.ir_version = min(model.ir_version, 8)  # as export.py: loadable by older onnxruntime
        del model.metadata_props[:]
        if "metrics" in metadata:  # measured on the float32 model, not on this copy
            metadata["metrics_of_float32"] = metadata.pop("metrics")
        for key, value in {**metadata, "precision": "int8 (QDQ, weights per channel)"}.items():
            model.metadata_props.add(key=key, value=value)
        fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
        os.close(fd)
        try:
            onnx.save(model, tmp_name)
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--calibration", default=64, show_default=True, help="LR crops of training photos used to calibrate.")
def main(source: str, target: str, calibration: int) -> None:
    """Write an int8 (QDQ) copy of the ONNX model SOURCE to TARGET; check it with `python -m bench.int8`."""
    convert(source, target, calibration)
    click.echo(f"wrote {target} (int8 QDQ)")


if __name__ == "__main__":
    sys.exit(main())
