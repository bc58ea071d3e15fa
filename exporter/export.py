"""`sr-export`: RDN checkpoint (torch) -> ONNX file for the torch-free engine.

The ONNX graph has one input "lr" (1, 3, h, w) and one output "sr" (1, 3, h*s, w*s), float32
RGB in [0, 1], with dynamic height and width. Metadata carries the architecture, scale,
receptive radius, training data, metrics and version. The file is written only after
onnxruntime reproduces torch's output (max abs difference <= PARITY_TOLERANCE).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import onnx
import torch

from sr_scale.core import __version__
from sr_scale.core.atomic_file import WriteError, atomic_path
from sr_scale.core.checkpoint import CheckpointError, load_checkpoint, trained_model
from sr_scale.core.model import RDN

INPUT_NAME, OUTPUT_NAME = "lr", "sr"
OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.14 loads IR 8; newer IRs lock out older runtimes for nothing
PARITY_TOLERANCE = 1e-4  # max abs difference on [0, 1] data


class ParityError(Exception):
    pass


def export(model: RDN, out: str | Path, metadata: dict[str, object] | None = None, parity_inputs: list[np.ndarray] | None = None) -> float:
    """Export `model` to `out` atomically; returns the measured max abs difference to torch.

    parity_inputs: float32 (1, 3, h, w) arrays in [0, 1]; random ones of odd sizes by default.
    """
    model = model.eval().float().to(memory_format=torch.contiguous_format)
    out = Path(out)
    example = torch.rand(1, 3, 32, 40)
    with atomic_path(out) as tmp:  # written only once the parity check passes
        torch.onnx.export(
            model, (example,), str(tmp), dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {2: "height", 3: "width"}, OUTPUT_NAME: {2: "out_height", 3: "out_width"}},
        )
        proto = onnx.load(str(tmp))
        proto.ir_version = IR_VERSION
        info = {
            "scale": model.config.scale,
            "receptive_radius": model.config.receptive_radius,
            "arch": json.dumps(model.config.to_dict()),
            "version": __version__,
            "input": "RGB float32 NCHW in [0, 1]",
        }
        info.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
        del proto.metadata_props[:]
        for key, value in info.items():
            proto.metadata_props.add(key=key, value=str(value))
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        difference = parity(model, tmp, parity_inputs)
        if difference > PARITY_TOLERANCE:
            raise ParityError(f"ONNX output differs from torch by {difference:.2e} (> {PARITY_TOLERANCE:.0e}); nothing written")
    return difference


@torch.no_grad()
def parity(model: RDN, onnx_path: Path, inputs: list[np.ndarray] | None = None) -> float:
    """Max abs difference between torch and onnxruntime on the given (or random) inputs."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    inputs = inputs or [rng.random((1, 3, h, w), dtype=np.float32) for h, w in ((17, 23), (64, 48))]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in inputs:
        expected = model(torch.from_numpy(x)).numpy()
        got = session.run(None, {INPUT_NAME: x})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
    return worst


def evaluation_summary(files: tuple[str, ...]) -> dict:
    """{"protocol", "clean": {set: {method: means}}, "jpeg75": ...} from sr-eval JSON documents.

    Only per-set means of Y-PSNR, Y-SSIM and RGB PSNR are kept (the per-image rows would bloat the model)."""
    summary: dict = {"protocol": "x2, MATLAB bicubic LR, Y-PSNR/SSIM with 2-px shave (shared/data/README.md)"}
    for file in files:
        document = json.loads(Path(file).read_text())
        if "summary" not in document:
            raise click.BadParameter(f"{file}: not an sr-eval --json file (no summary)", param_hint="--metrics")
        key = f"jpeg{document['jpeg_quality']}" if document.get("jpeg_quality") else "clean"
        summary.setdefault(key, {}).update({  # two clean runs (photos, generated text sets) add up
            set_name: {method: {k: round(v[k], 4) for k in ("y_psnr", "y_ssim", "rgb_psnr")} for method, v in methods.items()}
            for set_name, methods in document["summary"].items()
        })
    return summary


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--metrics", "metrics_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="sr-eval --json results to embed (repeatable: clean and --jpeg runs); per-set means are kept.")
@click.option("--name", default="", help="Model name stored in the metadata.")
def main(checkpoint: str, out: str, metrics_files: tuple[str, ...], name: str) -> None:
    """Export CHECKPOINT (from sr-train) to the ONNX file OUT, checked against torch."""
    try:
        state = load_checkpoint(checkpoint)
    except CheckpointError as error:
        raise click.ClickException(str(error)) from None
    model = trained_model(state)
    config = state.get("config", {})
    metadata = {
        "name": name or Path(out).stem,
        "training": {"data": config.get("train", []), "steps": state.get("step"), "loss": config.get("loss"), "patch_size": config.get("patch_size"), "batch_size": config.get("batch_size"), "degradations": {"jpeg_quality": config.get("jpeg_quality", []), "noise_sigma": config.get("noise_sigma", [])}, "synthetic_share": config.get("synthetic_share", 0.0), "ema_decay": config.get("ema_decay", 0.0), "reparam": config.get("reparam", False)},
        "metrics": evaluation_summary(metrics_files) if metrics_files else {"validation": state.get("metrics", {})},
    }
    try:
        difference = export(model, out, metadata)
    except (ParityError, WriteError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {out} (scale {model.config.scale}, parity max |diff| {difference:.1e})")


if __name__ == "__main__":
    sys.exit(main())
