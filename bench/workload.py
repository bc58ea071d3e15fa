"""What the benchmarks run on and count: real test images, the model's multiply-adds, the GEMM peak.

Needs onnx (the `train` extra) for counting; the engine itself never does.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
PHOTO = SHARED / "data" / "eval" / "Set14" / "baboon.png"


def photo(size: int) -> np.ndarray:
    """A size x size uint8 RGB image: a real photo (Set14 baboon) tiled to size, else seeded noise.

    Tiled, not resized: the model's cost does not depend on content, but the photo keeps the
    encoders (PNG/JPEG) honest.
    """
    if not PHOTO.exists():
        return np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    tile = np.asarray(Image.open(PHOTO).convert("RGB"))
    reps = (-(-size // tile.shape[0]), -(-size // tile.shape[1]), 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:size, :size])


def conv_macs(model_path: str | Path, height: int, width: int) -> int:
    """Multiply-adds of every Conv node for one (1, 3, height, width) input (biases not counted)."""
    import onnx

    model = onnx.load(str(model_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, height, width)):
        dim.Clear()
        dim.dim_value = value
    model = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.output, *model.graph.input]}
    weights = {w.name: list(w.dims) for w in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        out_n, out_c, out_h, out_w = shapes[node.output[0]]
        _, in_per_group, k_h, k_w = weights[node.input[1]]
        if not out_h or not out_w:
            raise ValueError(f"shape inference left {node.output[0]} without a size")
        macs += out_n * out_c * out_h * out_w * in_per_group * k_h * k_w
    return macs


def tiled_macs(model_path: str | Path, height: int, width: int, plan, overlap: int) -> int:
    """Multiply-adds the engine really executes for an image tiled by `plan` (a tiling.TilePlan):
    every tile with its overlap."""
    from sr_scale.core.tiling import planned_tiles

    by_shape: dict[tuple[int, int], int] = {}
    total = 0
    for t in planned_tiles(height, width, plan, overlap):
        shape = (t.read_y1 - t.read_y0, t.read_x1 - t.read_x0)
        if shape not in by_shape:
            by_shape[shape] = conv_macs(model_path, *shape)
        total += by_shape[shape]
    return total


def timed_runs(run, repeat: int, warmup: int = 1) -> list[float]:
    """Seconds of `repeat` calls of run(), after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def best_seconds(run, repeat: int) -> float:
    """Fastest of `repeat` timed calls after one warm-up (a peak, so the minimum, not the median)."""
    return min(timed_runs(run, repeat))


def median_seconds(run, repeat: int, warmup: int = 1) -> float:
    return statistics.median(timed_runs(run, repeat, warmup))


def numpy_gemm_gflops(n: int = 2048, repeat: int = 5) -> float:
    """float32 n x n matrix product through numpy's BLAS: 2 n^3 flops."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    return 2 * n**3 / best_seconds(lambda: a @ b, repeat) / 1e9


def _onnxruntime_product_rate(op: str, a: np.ndarray, b: np.ndarray, out_type: int, repeat: int, threads: int) -> float:
    """Ops (or flops) per second, in units of 1e9, of one `op` node multiplying the square a and b."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    n = a.shape[0]
    dtype = {np.dtype(np.float32): onnx.TensorProto.FLOAT, np.dtype(np.uint8): onnx.TensorProto.UINT8, np.dtype(np.int8): onnx.TensorProto.INT8}
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["c"])], op.lower(),
        [helper.make_tensor_value_info(name, dtype[x.dtype], [n, n]) for name, x in (("a", a), ("b", b))],
        [helper.make_tensor_value_info("c", out_type, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {"a": a, "b": b}
    return 2 * n**3 / best_seconds(lambda: session.run(None, feeds), repeat) / 1e9


def onnxruntime_gemm_gflops(n: int = 2048, repeat: int = 5, threads: int = 0) -> float:
    """The same product as a one-node onnxruntime MatMul graph (its MLAS kernels run our convs too)."""
    from onnx import TensorProto

    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    return _onnxruntime_product_rate("MatMul", a, b, TensorProto.FLOAT, repeat, threads)


def onnxruntime_int8_gemm_gops(n: int = 2048, repeat: int = 5, threads: int = 1) -> float:
    """uint8 x int8 -> int32 n x n product through onnxruntime's MatMulInteger (MLAS QGEMM): 2 n^3 ops."""
    from onnx import TensorProto

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (n, n), dtype=np.uint8), rng.integers(-128, 128, (n, n), dtype=np.int8)
    return _onnxruntime_product_rate("MatMulInteger", a, b, TensorProto.INT32, repeat, threads)
