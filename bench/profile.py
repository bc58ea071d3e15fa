"""Where the engine's time goes: onnxruntime's per-op profile of one tile, and the machine's GEMM rates.

    python -m bench.profile --model core/models/x2.onnx --model core/models/x2.int8.onnx --read 160
    python -m bench.profile --gemm-only

For each model: the median wall seconds of one (1, 3, read, read) run after a warm-up (no
profiler attached), and the share of kernel time per op type from onnxruntime's profiler
(SessionOptions.enable_profiling, `runs` runs summed). The GEMM line says what MLAS does on this
CPU: float32 MatMul vs uint8 x int8 MatMulInteger, one thread, best of 5. Int8 products several
times the float32 rate come from int8 dot products; over ~8x, from AMX tiles (AVX-512 VNNI does
4x the float32 multiply-adds per cycle at most, AMX far more).
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import click
import numpy as np

from .workload import best_seconds, onnxruntime_gemm_gflops, onnxruntime_int8_gemm_gops


def session(model: str | Path, threads: int, profile_dir: Path | None = None, spinning: bool = True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_dir is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_dir / "ort")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def op_profile(model: str | Path, height: int, width: int, threads: int = 1, runs: int = 3) -> dict:
    """Median wall seconds of one run (no profiler) and kernel milliseconds per op type (profiled, summed over runs)."""
    rng = np.random.default_rng(0)
    feed = rng.random((1, 3, height, width), dtype=np.float32)
    plain = session(model, threads)
    name = plain.get_inputs()[0].name
    plain.run(None, {name: feed})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        plain.run(None, {name: feed})
        times.append(time.perf_counter() - started)
    per_op: dict[str, float] = defaultdict(float)
    with tempfile.TemporaryDirectory() as tmp:
        profiled = session(model, threads, Path(tmp))
        for _ in range(runs):  # the profiler's own first run included: kernel times barely change
            profiled.run(None, {name: feed})
        events = json.loads(Path(profiled.end_profiling()).read_text())
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"] / 1000
    total = sum(per_op.values())
    return {"model": str(model), "read": [height, width], "threads": threads, "seconds": statistics.median(times),
            "kernel_ms": total / runs, "share": {op: ms / total for op, ms in sorted(per_op.items(), key=lambda kv: -kv[1])}}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "models", multiple=True, help="ONNX files to profile (repeatable).")
@click.option("--read", default=160, show_default=True, help="Side of the (square) tile read, LR pixels.")
@click.option("--threads", default=1, show_default=True)
@click.option("--runs", default=3, show_default=True)
@click.option("--gemm-only", is_flag=True, help="Only the GEMM rates.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def main(models: tuple[str, ...], read: int, threads: int, runs: int, gemm_only: bool, json_path: str | None) -> None:
    """Per-op profile of one tile per model, and float32 vs int8 GEMM rates of onnxruntime's MLAS."""
    result: dict = {"gemm": {"float32_gflops_1_thread": onnxruntime_gemm_gflops(2048, threads=1), "int8_gops_1_thread": onnxruntime_int8_gemm_gops(2048)}}
    g = result["gemm"]
    click.echo(f"GEMM 2048, 1 thread: float32 {g['float32_gflops_1_thread']:.0f} GFLOP/s, u8s8 {g['int8_gops_1_thread']:.0f} GOP/s "
               f"({g['int8_gops_1_thread'] / g['float32_gflops_1_thread']:.1f}x)")
    result["models"] = [] if gemm_only else [op_profile(m, read, read, threads, runs) for m in models]
    for p in result["models"]:
        shares = ", ".join(f"{op} {share:.1%}" for op, share in list(p["share"].items())[:8])
        click.echo(f"{p['model']}: {p['seconds']:.3f} s per {read}x{read} run ({threads} thread(s)); kernel time: {shares}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
