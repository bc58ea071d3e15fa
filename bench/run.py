"""The whole benchmark suite in one command: prints a table per section and saves everything as JSON.

    python -m bench.run                    # full suite: ~25 min on the loaded 2-core VM (8000x8000: 7 min, 200-file batch: ~10)
    python -m bench.run --quick            # tiny sizes: checks that every section runs (numbers meaningless)
    python -m bench.run --only speed --only tiling --only peers     # the quick sections, ~5 min
    python -m bench.run --only batch --batch-files 30

Run it from the checkout's root with the dev venv (needs onnx, from the `train` extra, to count
multiply-adds). Sections: gemm (machine peak), speed (engine MP/s and GFLOP/s), tiling (tile size
sweep, whole image vs tiled, threads), memory (peak RSS per input size, each in a fresh process;
its 4096 run is also the speed table's 4096 row), peers (shared/peers via the peers venv), batch
(sr-scale batch mode vs GIMP 2.10 on product JPEGs), targets (issue 16's targets side by side in
one run, bench/targets.py). Results and targets: docs/performance.md.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import click
from PIL import Image

from . import batch, memory, peers, targets, workload

SECTIONS = ("gemm", "speed", "tiling", "memory", "peers", "batch", "targets")


@dataclass(frozen=True)
class Plan:
    """Sizes in input pixels per side; repeats are timed runs after one warm-up (median reported)."""

    speed_sizes: tuple[int, ...] = (256, 1024)
    repeat: int = 3
    gemm_n: int = 2048
    tiling_size: int = 1024
    tile_sizes: tuple[int, ...] = (96, 128, 192, 256, 384, 512)
    memory_sizes: tuple[int, ...] = (1024, 2048, 4096, 8000)
    cli_memory_sizes: tuple[int, ...] = (4096,)
    peer_sizes: tuple[int, ...] = (256, 1024, 4096)
    batch_files: int = 200
    batch_side: int = 500
    target_sizes: tuple[int, ...] = (256, 1024)
    thumbnail: int = 96
    thumb_repeat: int = 5
    work_sizes: tuple[int, ...] = (1024, 2048, 4096, 8000)


FULL = Plan()
QUICK = Plan(speed_sizes=(64, 128), repeat=1, gemm_n=256, tiling_size=160, tile_sizes=(64, 96), memory_sizes=(128, 256),
             cli_memory_sizes=(128,), peer_sizes=(64,), batch_files=4, batch_side=64,
             target_sizes=(64,), thumb_repeat=1, work_sizes=(128, 256))


def echo_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[f"{c:.3g}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    click.echo(f"\n## {title}")
    click.echo("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in cells:
        click.echo("  ".join(c.rjust(w) for c, w in zip(row, widths)))


def bench_gemm(plan: Plan) -> dict:
    result = {"n": plan.gemm_n, "numpy_gflops": workload.numpy_gemm_gflops(plan.gemm_n),
              "onnxruntime_gflops": workload.onnxruntime_gemm_gflops(plan.gemm_n)}
    result["peak_gflops"] = max(result["numpy_gflops"], result["onnxruntime_gflops"])
    echo_table(f"GEMM peak (float32 {plan.gemm_n}x{plan.gemm_n} matmul, best of 5)", ["numpy GFLOP/s", "onnxruntime GFLOP/s"],
               [[result["numpy_gflops"], result["onnxruntime_gflops"]]])
    return result


def engine_row(upscaler, model_path: Path, size: int, seconds: float) -> dict:
    """Speed figures for one size: output MP/s, and GFLOP/s of the work done and of the work needed.

    Multiply-adds are counted on the float32 graph (an int8 copy does the same ones, as int8)."""
    plan = upscaler.plan(size, size)
    executed = workload.tiled_macs(model_path, size, size, plan, upscaler.info.receptive_radius)
    needed = workload.conv_macs(model_path, size, size) if size <= 4096 else executed  # whole-image shape inference gets slow
    out_mp = (size * upscaler.scale) ** 2 / 1e6
    return {"input": size, "precision": upscaler.precision, "seconds": seconds, "output_mp_per_s": out_mp / seconds,
            "gflops_executed": 2 * executed / seconds / 1e9, "gflops_useful": 2 * needed / seconds / 1e9,
            "overlap_work": executed / needed - 1}


def bench_speed(plan: Plan, model: str) -> dict:
    """Both precisions when the model has an int8 copy; "auto" (what sr-scale runs here) is noted."""
    from sr_scale.core.engine import Upscaler, int8_copy, model_path

    path = model_path(model)
    rows = []
    for precision in ("float32", "int8") if int8_copy(path) else ("float32",):
        upscaler = Upscaler(model, precision=precision)
        for size in plan.speed_sizes:
            image = workload.photo(size)
            seconds = workload.median_seconds(lambda: upscaler.upscale(image), plan.repeat)
            rows.append(engine_row(upscaler, path, size, seconds))
    auto = Upscaler(model)
    return {"model": str(model), "tile": auto.tile, "macs_per_lr_pixel": workload.conv_macs(path, 64, 64) / 64**2,
            "arch": auto.info.metadata.get("arch"), "auto_precision": auto.precision, "rows": rows}


def show_speed(speed: dict, gemm: dict | None) -> None:
    peak = gemm["peak_gflops"] if gemm else None
    rows = [[f"{r['input']}x{r['input']}", r.get("precision", "float32"), f"{r['seconds']:.3f}", f"{r['output_mp_per_s']:.2f}",
             f"{r['gflops_executed']:.0f}", f"{r['gflops_useful']:.0f}", f"{r['overlap_work']:.0%}",
             f"{r['gflops_executed'] / peak:.0%}" if peak else "-", r.get("note", "")] for r in speed["rows"]]
    echo_table(f"Engine speed: model {speed['model']} ({speed['macs_per_lr_pixel'] / 1e3:.0f} k MAC per input pixel), tile {speed['tile']}, "
               f"sr-scale runs {speed.get('auto_precision', 'float32')} here (int8 GOP/s vs the float32 GEMM peak: a yardstick only)",
               ["input", "precision", "seconds", "out MP/s", "GFLOP/s run", "GFLOP/s useful", "tile overlap work", "of GEMM peak", ""], rows)


def bench_tiling(plan: Plan, model: str) -> dict:
    """Time per tile size on one image, whole-image time, and 1 vs all threads at the default tile."""
    from sr_scale.core.engine import DEFAULT_TILE, Upscaler

    image = workload.photo(plan.tiling_size)
    rows = []
    for tile in (0, *plan.tile_sizes):
        upscaler = Upscaler(model, tile=tile)
        rows.append({"tile": tile, "seconds": workload.median_seconds(lambda: upscaler.upscale(image), plan.repeat)})
    whole = rows[0]["seconds"]
    for row in rows:
        row["overhead"] = row["seconds"] / whole - 1
    single = Upscaler(model, threads=1)
    threads = {"1": workload.median_seconds(lambda: single.upscale(image), max(1, plan.repeat - 2)),
               "all": next(r["seconds"] for r in rows if r["tile"] == DEFAULT_TILE) if DEFAULT_TILE in plan.tile_sizes else None}
    result = {"size": plan.tiling_size, "default_tile": DEFAULT_TILE, "rows": rows, "threads_seconds": threads}
    echo_table(f"Tiling: {plan.tiling_size}x{plan.tiling_size} input, tile 0 = whole image; default tile {DEFAULT_TILE}",
               ["tile", "seconds", "vs whole image"], [[r["tile"] or "whole", f"{r['seconds']:.3f}", f"{r['overhead']:+.1%}"] for r in rows])
    click.echo(f"threads: 1 -> {threads['1']:.3f} s" + (f", all cores -> {threads['all']:.3f} s" if threads["all"] else ""))
    return result


def bench_memory(plan: Plan, model: str, scratch: Path) -> dict:
    rows = []
    for size in plan.memory_sizes:
        try:
            rows.append(memory.measure(["engine", str(size), "--model", str(model)]))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            rows.append({"size": size, "error": str(error)})
    cli_rows = []
    for size in plan.cli_memory_sizes:
        source, target = scratch / f"photo{size}.png", scratch / f"photo{size}-x2.png"
        Image.fromarray(workload.photo(size)).save(source, compress_level=1)
        try:
            cli_rows.append({"size": size, **memory.measure(["cli", str(source), str(target)])})
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            cli_rows.append({"size": size, "error": str(error)})
        source.unlink()
        target.unlink(missing_ok=True)
    for row in [*rows, *cli_rows]:
        if "peak_rss_mib" in row:
            output_mib = (2 * row["size"]) ** 2 * 3 / memory.MIB
            row["limit_mib"] = 1.5 * output_mib + 300
            row["within_limit"] = row["peak_rss_mib"] < row["limit_mib"]
    table = [[f"engine {r['size']}", f"{r['seconds']:.1f}", f"{r['peak_rss_mib']:.0f}", f"{r['output_mib']:.0f}", f"{r['limit_mib']:.0f}",
              "yes" if r["within_limit"] else "NO"] if "peak_rss_mib" in r else [f"engine {r['size']}", r["error"], "", "", "", ""] for r in rows]
    table += [[f"sr-scale PNG {r['size']}", f"{r['seconds']:.1f}", f"{r['peak_rss_mib']:.0f}", f"{(2 * r['size']) ** 2 * 3 / memory.MIB:.0f}",
               f"{r['limit_mib']:.0f}", "yes" if r["within_limit"] else "NO"] if "peak_rss_mib" in r else [f"sr-scale {r['size']}", r["error"], "", "", "", ""]
              for r in cli_rows]
    echo_table("Peak memory (fresh process each; limit = 1.5 x output bytes + 300 MiB)",
               ["input side", "seconds", "peak RSS MiB", "output MiB", "limit MiB", "within"], table)
    return {"engine": rows, "cli": cli_rows}


def bench_peers(plan: Plan, scratch: Path) -> dict:
    python = peers.peers_python()
    if python is None:
        click.echo(f"\n## Peers: skipped (no peers venv at {os.environ.get('SR_PEERS_VENV', peers.DEFAULT_VENV)}; "
                   "see ../shared/peers/README.md, or set SR_PEERS_VENV)")
        return {"skipped": "no peers venv"}
    rows = []
    for size in plan.peer_sizes:
        source = scratch / f"peer{size}.png"
        Image.fromarray(workload.photo(size)).save(source, compress_level=1)
        for peer in peers.PEERS:
            row = {"peer": peer.name, "input": size}
            if size > peer.max_input:
                row["skipped"] = peer.why_capped
            else:
                try:
                    row["seconds"] = peers.run_peer(python, peer, source, scratch / "peer-out.png", plan.repeat if size < 4096 else 1)
                    row["output_mp_per_s"] = (2 * size) ** 2 / 1e6 / row["seconds"]
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    row["error"] = str(error)
            rows.append(row)
        source.unlink()
    echo_table("Peers, same images (median seconds; OpenCV models enlarge luma only)", ["peer", "input", "seconds", "out MP/s", ""],
               [[r["peer"], f"{r['input']}x{r['input']}", f"{r['seconds']:.3f}" if "seconds" in r else "-",
                 f"{r['output_mp_per_s']:.2f}" if "seconds" in r else "-", r.get("skipped") or r.get("error", "")] for r in rows])
    return {"rows": rows}


def bench_targets(plan: Plan, model: str, scratch: Path) -> dict:
    """Issue 16's targets in one run: engine vs waifu2x, thumbnail threads, whole commands, work ratios."""
    result = {"engine_vs_waifu2x": targets.engine_vs_waifu2x(model, plan.target_sizes, plan.repeat, scratch),
              "thumbnail": targets.thumbnail_threads(model, plan.thumbnail, plan.thumb_repeat),
              "whole_command": targets.whole_command(max(plan.target_sizes), plan.repeat, scratch),
              "work": targets.work_ratios(model, plan.work_sizes)}
    rows = result["engine_vs_waifu2x"]
    echo_table("Targets: engine default vs waifu2x upconv_7 photo (ncnn, 2 threads), median, model load excluded",
               ["input", "precision", "grid", "work ratio", "engine s", "engine MP/s", "waifu2x s", "waifu2x MP/s", "engine / waifu2x"],
               [[f"{r['input']}x{r['input']}", r["precision"], "x".join(map(str, r["grid"])), f"{r['work_ratio']:.3f}",
                 f"{r['engine_seconds']:.3f}", f"{r['engine_mp_per_s']:.2f}", f"{r.get('waifu2x_seconds', 0):.3f}",
                 f"{r.get('waifu2x_mp_per_s', 0):.2f}", f"{r.get('engine_vs_waifu2x', 0):.2f}x"] for r in rows])
    t, w = result["thumbnail"], result["whole_command"]
    click.echo(f"thumbnail {t['input']}x{t['input']}: 1 thread {t['seconds_1_thread']:.3f} s, 2 threads {t['seconds_2_threads']:.3f} s "
               f"(grid {t['grid_2_threads']}): {t['speedup']:.2f}x")
    click.echo(f"whole command {w['input']}x{w['input']} PNG: sr-scale {w['sr_scale_seconds']:.2f} s, waifu2x process "
               f"{w.get('waifu2x_process_seconds', float('nan')):.2f} s: {w.get('sr_scale_vs_waifu2x', float('nan')):.2f}x")
    echo_table("Executed / useful work of the default tile plan", ["input", "grid", "largest read px", "work ratio", "square 128 tiles"],
               [[r["input"], "x".join(map(str, r["grid"])), r["largest_read"], f"{r['work_ratio']:.3f}", f"{r['square_128_work_ratio']:.3f}"]
                for r in result["work"]])
    return result


def bench_batch(plan: Plan, scratch: Path) -> dict:
    files = batch.make_products(scratch / "products", plan.batch_files, plan.batch_side)
    mp = len(files) * (2 * plan.batch_side) ** 2 / 1e6
    result: dict = {"files": len(files), "side": plan.batch_side, "sr_scale_batch_mode": batch.has_batch_mode()}
    runs = {"sr-scale --jobs 1": (1, 0), "sr-scale --jobs 2 --threads 1": (2, 1)}
    result["sr_scale"] = {name: batch.time_sr_scale(files, scratch / f"sr-{jobs}", jobs, threads) for name, (jobs, threads) in runs.items()}
    if batch.gimp_available():
        profile = scratch / "gimp-profile"
        profile.mkdir()
        batch.time_gimp(files[:1], scratch / "gimp-warmup", profile)  # first start creates the profile: not timed
        result["gimp_seconds"] = batch.time_gimp(files, scratch / "gimp", profile)
    else:
        click.echo(f"(GIMP batch skipped: {batch.GIMP} not found)")
    best = min(result["sr_scale"].values())
    rows = [[name, f"{s:.1f}", f"{len(files) / s:.2f}", f"{mp / s:.2f}"] for name, s in result["sr_scale"].items()]
    if "gimp_seconds" in result:
        g = result["gimp_seconds"]
        rows.append(["GIMP 2.10 Script-Fu (cubic)", f"{g:.1f}", f"{len(files) / g:.2f}", f"{mp / g:.2f}"])
        result["gimp_over_sr_scale"] = g / best
    echo_table(f"Batch: {len(files)} product JPEGs {plan.batch_side}x{plan.batch_side} -> 2x JPEG"
               + ("" if result["sr_scale_batch_mode"] else " (sr-scale has no batch mode: one call per file)"),
               ["tool", "seconds", "files/s", "out MP/s"], rows)
    if "gimp_over_sr_scale" in result:
        click.echo(f"GIMP time / best sr-scale time = {result['gimp_over_sr_scale']:.2f}")
    return result


def machine() -> dict:
    import numpy as np
    import onnxruntime as ort

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "")
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": model, "cores": os.cpu_count(),
            "load_average": os.getloadavg(), "python": platform.python_version(), "numpy": np.__version__, "onnxruntime": ort.__version__}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="Tiny sizes: checks that every section runs; the numbers mean nothing.")
@click.option("--only", "only", multiple=True, type=click.Choice(SECTIONS), help="Run only these sections (repeatable).")
@click.option("--model", default="x2", show_default=True, help="Embedded model name or .onnx path.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default="bench/results.json", show_default=True)
@click.option("--batch-files", type=click.IntRange(min=1), default=None, help="Product JPEGs in the batch section [default: 200].")
def main(quick: bool, only: tuple[str, ...], model: str, json_path: str, batch_files: int | None) -> None:
    """Run the benchmark suite, print its tables and save the results as JSON (after every section)."""
    plan = QUICK if quick else FULL
    if batch_files:
        plan = replace(plan, batch_files=batch_files)
    sections = only or SECTIONS
    results: dict = {"machine": machine(), "plan": asdict(plan), "quick": quick}
    click.echo(f"{results['machine']['date']}  {results['machine']['cpu']}  {results['machine']['cores']} cores  "
               f"load {results['machine']['load_average'][0]:.2f}  onnxruntime {results['machine']['onnxruntime']}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sr-bench-") as scratch_name:
        scratch = Path(scratch_name)
        save = lambda: Path(json_path).write_text(json.dumps(results, indent=1))  # noqa: E731  a killed run keeps what it measured
        # Each section in this order; the speed table waits for the memory section's large sizes.
        first = (("gemm", lambda: bench_gemm(plan)), ("speed", lambda: bench_speed(plan, model)),
                 ("tiling", lambda: bench_tiling(plan, model)), ("memory", lambda: bench_memory(plan, model, scratch)))
        last = (("peers", lambda: bench_peers(plan, scratch)), ("batch", lambda: bench_batch(plan, scratch)),
                ("targets", lambda: bench_targets(plan, model, scratch)))
        for name, bench in first:
            if name in sections:
                results[name] = bench()
                save()
        if "memory" in results and "speed" in results:  # the largest speed size is the memory run's (one run, fresh process)
            from sr_scale.core.engine import Upscaler, model_path

            upscaler = Upscaler(model)
            for row in results["memory"]["engine"]:
                if row.get("size", 0) > max(plan.speed_sizes) and row.get("size") <= 4096 and "seconds" in row:
                    results["speed"]["rows"].append({**engine_row(upscaler, model_path(model), row["size"], row["seconds"]),
                                                     "note": "one run (memory section)"})
        if "speed" in results:
            show_speed(results["speed"], results.get("gemm"))
        for name, bench in last:
            if name in sections:
                results[name] = bench()
                save()
    results["seconds"] = time.perf_counter() - started
    results["machine"]["load_average_after"] = os.getloadavg()
    Path(json_path).write_text(json.dumps(results, indent=1))
    click.echo(f"\n{results['seconds']:.0f} s in all; wrote {json_path}")


if __name__ == "__main__":
    main()
