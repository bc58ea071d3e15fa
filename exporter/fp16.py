"""A float16 copy of an exported model, for the CUDA provider (half the weights' bytes and memory traffic,
tensor cores where the GPU has them).

    python -m sr_scale.exporter.fp16 x2.onnx x2.fp16.onnx

Inputs and outputs stay float32 (the conversion inserts casts), so the engine runs the copy like any
other model: `sr-scale --device cuda --model x2.fp16.onnx IN OUT`. The file is written only when
onnxruntime's result on the CPU stays within FP16_TOLERANCE of the float32 model. On CPUs without
float16 arithmetic onnxruntime runs it through casts and it is slower than the float32 file:
it is meant for GPUs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np
import onnx

from sr_scale.core.atomic_file import WriteError, atomic_path
from sr_scale.core.image_io import first_line

IR_VERSION = 8  # as export.py: newer IRs lock out older onnxruntime releases for nothing
FP16_TOLERANCE = 2e-3  # max abs difference on [0, 1] output: half a uint8 step is ~2e-3


class Fp16Error(Exception):
    """A model that cannot be converted, or a copy too far from the original; one line."""


def convert(source: str | Path, target: str | Path) -> float:
    """Write a float16 version of the ONNX model `source` to `target` atomically; returns the max abs
    difference between the two on CPU (random inputs in [0, 1])."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = onnx.load(str(source))
    except Exception as error:  # protobuf's DecodeError and friends: not an ONNX file
        raise Fp16Error(f"{source}: not an ONNX model ({first_line(error)})") from None
    metadata = {p.key: p.value for p in model.metadata_props}
    half = convert_float_to_float16(model, keep_io_types=True)
    half.ir_version = IR_VERSION
    sort_nodes(half.graph)  # the converter appends its input casts at the end; ONNX wants producers first
    del half.metadata_props[:]
    for key, value in {**metadata, "precision": "float16"}.items():
        half.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(half)
    with atomic_path(target) as tmp:  # written only once the result is checked
        onnx.save(half, str(tmp))
        difference = max_difference(Path(source), tmp)
        if difference > FP16_TOLERANCE:
            raise Fp16Error(f"float16 output differs by {difference:.1e} (> {FP16_TOLERANCE:.0e}); nothing written")
    return difference


def sort_nodes(graph: onnx.GraphProto) -> None:
    """Reorder graph.node in place so that every node comes after the producers of its inputs."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in known for name in n.input)]
        if not ready:
            raise Fp16Error(f"graph has a cycle or a dangling input at node {pending[0].name!r}")
        for node in ready:
            known.update(node.output)
        ordered += ready
        placed = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in placed]
    del graph.node[:]
    graph.node.extend(ordered)


def max_difference(reference: Path, candidate: Path, sizes: tuple[tuple[int, int], ...] = ((37, 53), (64, 64))) -> float:
    """Max abs difference of two models' outputs on the CPU provider, over random (1, 3, h, w) inputs."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (reference, candidate)]
    worst = 0.0
    for h, w in sizes:
        lr = rng.random((1, 3, h, w), dtype=np.float32)
        a, b = (s.run(None, {s.get_inputs()[0].name: lr})[0] for s in sessions)
        if a.shape != b.shape:
            raise Fp16Error(f"output shapes differ: {a.shape} vs {b.shape}")
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
def main(source: str, target: str) -> None:
    """Write a float16 copy of the ONNX model SOURCE to TARGET (for --device cuda)."""
    try:
        difference = convert(source, target)
    except (Fp16Error, WriteError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {target} (float16, max |diff| to float32 on CPU {difference:.1e})")


if __name__ == "__main__":
    sys.exit(main())
