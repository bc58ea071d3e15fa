"""An int8 copy of an exported model for CPUs (static quantisation with onnxruntime: QLinear ops, channels-last).

    python -m sr_scale.exporter.int8 x2.onnx x2.int8.onnx

The engine runs x2.int8.onnx in place of x2.onnx on CPUs with int8 dot products (engine.PRECISIONS).

Convolutions get int8 per-channel weights and uint8 activations, calibrated on LR crops: of your
own photos (`--calibration-images DIR`, e.g. the training photos; never evaluation sets), or by
default of dead-leaves images synthesised from a seed (exporter/calibration.py), so an installed
package needs no data. Only the residual dense blocks are quantised (~90% of the
multiply-adds); the shallow feature extraction, global feature fusion, global residual, upsampler
and output stay float. Measured on a trained x2 (Set5 37.00 dB): quantising everything lost
0.115 dB, keeping only the output path float 0.115 dB, this split 0.042 dB (min/max ranges).
Activation ranges are the 99.999th percentiles of the calibration histograms: rare outliers
otherwise stretch a range and coarsen every other value's step. On the x2 of Set5 37.196 dB,
min/max ranges lost 0.054 dB, percentile ranges 0.016 dB (calibrated on T91 + BSD200 crops).
On the current x2, Set5 / Set14 losses: photos 0.010 / 0.026 dB, synthesised 0.016 / 0.024 dB
(docs/performance.md, with the commands).

On CPUs with int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, ARM dotprod) onnxruntime runs
the quantised convolutions several times faster than float32. Whether it may replace the float32
model is decided by measurement (bench/int8.py): faster, and at most 0.05 dB lower on Set5.
"""
from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import click
import numpy as np

# Nodes kept float (see the module docstring), by the module names export.py's graph carries:
# these prefixes, and every node from the first FLOAT_FROM node on.
# The global fusion is quantised too since 2026-12-02 (AMX Xeon: 1.25x per tile vs 1.06x; Set5 loss
# 0.023 dB vs 0.013 with it float, T91 + BSD200 calibration; docs/performance.md). "/Add": the global residual.
FLOAT_MODULES = ("/sfe1/", "/sfe2/", "/Add")
FLOAT_FROM = "/upsampler"
# The quantised section's ops run channels-last (onnxruntime's com.microsoft QLinearConv with
# channels_last=1): left NCHW, onnxruntime wraps each QLinearConv in two Transposes, because it
# cannot carry the layout through QLinearConcat (32 transposes of the dense block activations).
CHANNELS_LAST_OPS = ("QLinearConv", "QLinearConcat", "QLinearAdd")
PERCENTILE = 99.999  # of each activation's calibration histogram, taken as its range
CROP_SIDE = 96  # LR pixels a side of each calibration crop


class Int8Error(Exception):
    """A model that cannot be quantised, or calibration images that cannot be used; one line."""


class CalibrationCrops:
    """onnxruntime's CalibrationDataReader over prepared model inputs (calibration.as_feeds)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def float_nodes(model_file: Path, float_modules: tuple[str, ...] = FLOAT_MODULES, float_from: str = FLOAT_FROM) -> list[str]:
    """Names of the nodes left in float: those of `float_modules` and everything from the first
    `float_from` node on (an RDN's /global_fusion, or a later module such as /upsampler)."""
    import onnx

    names = [n.name for n in onnx.load(str(model_file)).graph.node]
    if not any(name.startswith("/global_fusion") for name in names):
        raise Int8Error(f"{model_file}: no /global_fusion nodes; not an RDN exported by sr-export")
    start = next((i for i, name in enumerate(names) if name.startswith(float_from)), len(names))
    return [name for name in names[:start] if name.startswith(float_modules)] + names[start:]


def channels_last(model) -> None:
    """Rewrite a QOperator graph in place so its quantised section runs NHWC, bit-identical output.

    One Transpose to NHWC after each QuantizeLinear that feeds the section, one back to NCHW
    (on the uint8 data) before each DequantizeLinear that leaves it; QLinearConv becomes
    onnxruntime's com.microsoft QLinearConv with channels_last=1 (weights unchanged), QLinearConcat
    joins on axis 3, QLinearAdd is elementwise. Raises Int8Error on a graph it cannot rewrite.
    """
    from onnx import helper

    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    nhwc: set[str] = set()
    rewritten = []
    for node in list(model.graph.node):
        if node.op_type in CHANNELS_LAST_OPS:
            data = (0,) if node.op_type == "QLinearConv" else (0, 3) if node.op_type == "QLinearAdd" else tuple(range(2, len(node.input), 3))
            if not all(node.input[k] in nhwc for k in data):
                raise Int8Error(f"cannot run {node.name} channels-last: an input comes from outside the quantised section")
            if node.op_type == "QLinearConv":
                node.domain = "com.microsoft"
                node.attribute.append(helper.make_attribute("channels_last", 1))
            elif node.op_type == "QLinearConcat":
                next(a for a in node.attribute if a.name == "axis").i = 3
            nhwc.add(node.output[0])
        elif node.op_type == "DequantizeLinear" and node.input[0] in nhwc:
            nchw = node.input[0] + "_nchw"
            rewritten.append(helper.make_node("Transpose", [node.input[0]], [nchw], name=node.name + "_to_nchw", perm=[0, 3, 1, 2]))
            node.input[0] = nchw
        elif any(name in nhwc for name in node.input):
            raise Int8Error(f"cannot run the quantised section channels-last: {node.name} ({node.op_type}) reads it")
        rewritten.append(node)
        if node.op_type == "QuantizeLinear" and all(c.op_type in CHANNELS_LAST_OPS for c in consumers.get(node.output[0], [None])):
            transposed = node.output[0] + "_nhwc"
            rewritten.append(helper.make_node("Transpose", [node.output[0]], [transposed], name=node.name + "_to_nhwc", perm=[0, 2, 3, 1]))
            for consumer in consumers[node.output[0]]:
                consumer.input[:] = [transposed if name == node.output[0] else name for name in consumer.input]
            nhwc.add(transposed)
    del model.graph.node[:]
    model.graph.node.extend(rewritten)


def convert(source: str | Path, target: str | Path, calibration_count: int = 64,
            calibration_images: Iterable[str | Path] = (), float_modules: tuple[str, ...] = FLOAT_MODULES,
            float_from: str = FLOAT_FROM, nhwc: bool = True, text_share: float = 0.0) -> None:
    """Write an int8 version of the ONNX model `source` to `target` atomically (metadata kept).

    Calibrated on `calibration_count` LR crops of `calibration_images` (files or folders), or of
    synthesised images when none are given; `text_share` of the crops (0..1) are rendered catalog
    canvases instead (calibration.canvas_crops), for the text models. `nhwc=False` skips the channels-last rewrite
    (slower, same pixels: the reference its test compares with). Raises Int8Error for a source that is not an sr-export
    model and for unusable calibration images.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from sr_scale.core.atomic_file import atomic_write
    from sr_scale.core.image_io import first_line

    from .calibration import CalibrationError, as_feeds, canvas_crops, photo_crops, synthetic_crops

    source, target = Path(source), Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():  # before minutes of calibration, not after
        raise Int8Error(f"{target}: cannot write, folder {folder} does not exist")
    try:
        metadata = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
        input_name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    except Exception as error:  # onnx and onnxruntime raise their own types (DecodeError, InvalidProtobuf)
        raise Int8Error(f"{source}: not an ONNX model ({first_line(error)})") from None
    images = [Path(p) for p in calibration_images]
    canvases = round(calibration_count * text_share)
    photos = calibration_count - canvases
    try:
        crops = (photo_crops(images, photos, CROP_SIDE) if images else synthetic_crops(photos, CROP_SIDE)) if photos else []
    except CalibrationError as error:
        raise Int8Error(str(error)) from None
    crops += canvas_crops(canvases, CROP_SIDE)
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantised = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        try:
            excluded = float_nodes(prepared, float_modules, float_from)
        except Int8Error:
            raise Int8Error(f"{source}: no /global_fusion nodes; not an RDN exported by sr-export") from None
        quantize_static(str(prepared), str(quantised), CalibrationCrops(as_feeds(crops, input_name)),
                        quant_format=QuantFormat.QOperator, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": PERCENTILE},
                        nodes_to_exclude=excluded)
        model = onnx.load(str(quantised))
        if nhwc:
            channels_last(model)
        model.ir_version = min(model.ir_version, 8)  # as export.py: loadable by older onnxruntime
        del model.metadata_props[:]
        if "metrics" in metadata:  # measured on the float32 model, not on this copy
            metadata["metrics_of_float32"] = metadata.pop("metrics")
        calibrated_on = f"{photos} crops of " + (", ".join(p.name for p in images) if images else "synthesised dead leaves")
        calibrated_on += f", {canvases} of rendered catalog canvases" if canvases else ""
        for key, value in {**metadata, "precision": "int8 (QLinear ops channels-last, weights per channel)", "calibration": calibrated_on}.items():
            model.metadata_props.add(key=key, value=value)
        atomic_write(target, lambda tmp: onnx.save(model, str(tmp)))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--calibration", default=64, show_default=True, type=click.IntRange(min=1),
              help="Number of LR crops used to calibrate.")
@click.option("--calibration-images", "calibration_images", multiple=True, type=click.Path(exists=True),
              help="Photos to calibrate on: a file or folder (searched recursively), repeatable; "
                   "the training photos suit. Default: images synthesised from a seed.")
@click.option("--calibration-text", "text_share", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of the crops cut from rendered catalog text canvases instead (for the text models).")
def main(source: str, target: str, calibration: int, calibration_images: tuple[str, ...], text_share: float) -> None:
    """Write an int8 copy (QLinear ops, channels-last) of the ONNX model SOURCE to TARGET; check it with `python -m bench.int8`."""
    from sr_scale.core.atomic_file import WriteError

    try:
        convert(source, target, calibration, calibration_images, text_share=text_share)
    except (Int8Error, WriteError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {target} (int8, channels-last)")


if __name__ == "__main__":
    sys.exit(main())
