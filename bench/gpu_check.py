"""The prepared GPU check (issue 16): the CUDA path and the fp16 copy on real images, against the
CPU result, timed at 1024x1024 and 4096x4096, in one JSON file, within about 8 minutes.

    python -m bench.gpu_check --json gpu-check.json                       # uses the onnxruntime installed
    python -m bench.gpu_check --wheel-dir .whl --json gpu-check.json      # onnxruntime-gpu from a wheel, maybe in parts

Run from the checkout's root. On a machine without an NVIDIA GPU it runs its CPU half (the CPU
references, the fp16 copy made and checked on the CPU) and writes `"gpu": {"ran": false, "why": ...}`;
CI runs it so (tests/test_gpu_check.py).

Getting onnxruntime-gpu onto a GPU machine whose uploads are limited (64 MiB a call here, the
wheel is ~255 MB): download the wheel for that machine's Python, split it, and send the parts
to a machine kept warm between calls; this script joins `*.whl.part-*` (sorted) back into the
wheel and installs it with --target into a scratch folder, ahead of any CPU onnxruntime:

    pip download onnxruntime-gpu --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 -d .whl
    cd .whl && w=$(ls onnxruntime_gpu-*.whl) && split -b 60M "$w" "$w.part-" && rm "$w"

CUDA and cuDNN libraries come from the machine's PyTorch (the nvidia-* pip packages it brings):
their lib folders are put on LD_LIBRARY_PATH and onnxruntime.preload_dlls() is called where it
exists, before the CUDA provider starts. Which step failed, if any, is written in the JSON.
"""
from __future__ import annotations

import glob
import json
import os
import platform
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from .workload import median_seconds

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "tests" / "data" / "eval"  # committed real photos (Set5, part of Set14)
BUDGET_S = 8 * 60
REEXEC = "SR_SCALE_GPU_CHECK_CHILD"


def real_images(side: int = 160) -> dict[str, np.ndarray]:
    """Centre crops (at most side x side) of committed Set5/Set14 photos: real content, short CPU runs."""
    from PIL import Image

    found = sorted(IMAGES.glob("Set5/*.png"))[:3] + sorted(IMAGES.glob("Set14/*.png"))[:2]
    crops = {}
    for path in found:
        image = np.asarray(Image.open(path).convert("RGB"))
        y, x = max(0, (image.shape[0] - side) // 2), max(0, (image.shape[1] - side) // 2)
        crops[path.stem] = np.ascontiguousarray(image[y:y + side, x:x + side])
    return crops


def photo(size: int) -> np.ndarray:
    """A size x size real photo (the first Set14 image tiled), for the timings."""
    from PIL import Image

    source = np.asarray(Image.open(sorted(IMAGES.glob("Set14/*.png"))[0]).convert("RGB"))
    reps = (-(-size // source.shape[0]), -(-size // source.shape[1]), 1)
    return np.ascontiguousarray(np.tile(source, reps)[:size, :size])


def cuda_library_dirs() -> list[str]:
    """lib folders of the nvidia-* pip packages (cuBLAS, cuDNN, cuFFT, ... as PyTorch brings them)."""
    roots = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    return sorted({d for r in roots if r for d in glob.glob(os.path.join(r, "nvidia", "*", "lib"))})


def install_wheel(wheel_dir: Path, target: Path) -> str:
    """Join split parts if any, install the onnxruntime-gpu wheel into `target`; returns its name."""
    wheels = sorted(wheel_dir.glob("onnxruntime_gpu-*.whl"))
    parts = sorted(wheel_dir.glob("onnxruntime_gpu-*.whl.part-*"))
    if not wheels and parts:
        joined = target.parent / parts[0].name.split(".part-")[0]
        with open(joined, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        wheels = [joined]
    if not wheels:
        raise RuntimeError(f"no onnxruntime_gpu wheel or parts in {wheel_dir}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheels[0])],
                   check=True)
    return wheels[0].name


def sr_scale_importable() -> Path | None:
    """A folder that makes `sr_scale.*` importable from this checkout when it is not installed
    (symbolic links in a scratch namespace package, as pyproject's package-dir maps them)."""
    try:
        import sr_scale.core.engine  # noqa: F401

        return None
    except ImportError:
        shim = Path(tempfile.mkdtemp(prefix="sr-scale-shim-")) / "sr_scale"
        shim.mkdir()
        for name, folder in {"core": "core", "exporter": "exporter", "imagemagick_wrapper": "plugins/imagemagick_wrapper",
                             "gimp": "plugins/gimp", "ray_batch": "plugins/ray"}.items():
            (shim / name).symlink_to(ROOT / folder)
        return shim.parent


def levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def cpu_half(model: str, scratch: Path) -> dict:
    """CPU references (float32, the engine's default), and the fp16 copy made and checked on the CPU."""
    from sr_scale.core.engine import Upscaler, model_path
    from sr_scale.exporter.fp16 import convert

    images = real_images()
    float32 = Upscaler(model, device="cpu", precision="float32")
    default = Upscaler(model, device="cpu")
    references = {name: float32.upscale(image) for name, image in images.items()}
    fp16_path = scratch / "model.fp16.onnx"
    fp16_difference = convert(model_path(model), fp16_path)
    return {"images": {name: list(image.shape) for name, image in images.items()}, "default_precision": default.precision,
            "default_vs_float32_levels": max(levels(default.upscale(images[n]), references[n]) for n in images),
            "fp16_file": str(fp16_path), "fp16_cpu_max_abs_difference": fp16_difference,
            "_references": references, "_images": images}


def gpu_half(model: str, cpu: dict, deadline: float) -> dict:
    import onnxruntime as ort

    from sr_scale.core.engine import ModelError, Upscaler

    result: dict = {"onnxruntime": ort.__version__, "providers": ort.get_available_providers()}
    if hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
            result["preload_dlls"] = "ok"
        except Exception as error:  # noqa: BLE001  the reason goes into the JSON
            result["preload_dlls"] = str(error).splitlines()[0]
    try:
        runs = {"float32": Upscaler(model, device="cuda", precision="float32"),
                "fp16": Upscaler(cpu["fp16_file"], device="cuda", precision="float32")}
    except ModelError as error:
        return {**result, "ran": False, "why": str(error)}
    result["ran"] = True
    result["io_binding"] = all(u.io_binding for u in runs.values())
    for name, upscaler in runs.items():
        result[name] = {"max_levels_vs_cpu_float32": max(levels(upscaler.upscale(image), cpu["_references"][n])
                                                         for n, image in cpu["_images"].items())}
        for size in (1024, 4096):
            if time.monotonic() > deadline:
                result[name][f"seconds_{size}"] = "not run: the 8-minute budget was spent"
                continue
            image = photo(size)
            seconds = median_seconds(lambda: upscaler.upscale(image), 3 if size <= 1024 else 1)
            result[name][f"seconds_{size}"] = seconds
            result[name][f"out_mp_per_s_{size}"] = (2 * size) ** 2 / 1e6 / seconds
    return result


def has_nvidia_gpu() -> str | None:
    """Why there is no usable NVIDIA GPU, or None when nvidia-smi answers."""
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"no nvidia-smi ({error.__class__.__name__})"
    return None if done.returncode == 0 and "GPU" in done.stdout else f"nvidia-smi: {(done.stderr or done.stdout).strip()[:200]}"


@click.command()
@click.option("--model", default="x2", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default="gpu-check.json", show_default=True)
@click.option("--wheel-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder with the onnxruntime-gpu wheel or its parts.")
def main(model: str, json_path: str, wheel_dir: Path | None) -> None:
    started = time.monotonic()
    no_gpu = has_nvidia_gpu()
    if os.environ.get(REEXEC) is None and no_gpu is None:
        # Set up onnxruntime-gpu, CUDA libraries and the package path before onnxruntime is imported
        # (LD_LIBRARY_PATH is read when a process starts), then run the check in a child.
        env = dict(os.environ, **{REEXEC: "1"})
        paths = []
        setup: dict = {}
        if wheel_dir is not None:
            target = Path(tempfile.mkdtemp(prefix="ort-gpu-"))
            setup["wheel"] = install_wheel(wheel_dir, target)
            paths.append(str(target))
        shim = sr_scale_importable()
        if shim is not None:
            paths.append(str(shim))
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).strip(os.pathsep)
        libraries = cuda_library_dirs()
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*libraries, env.get("LD_LIBRARY_PATH", "")]).strip(os.pathsep)
        env["SR_SCALE_GPU_CHECK_SETUP"] = json.dumps({**setup, "cuda_library_dirs": libraries})
        sys.exit(subprocess.run([sys.executable, "-m", "bench.gpu_check", "--model", model, "--json", json_path], env=env, cwd=ROOT).returncode)
    shim = sr_scale_importable()
    if shim is not None:
        sys.path.insert(0, str(shim))
    import onnxruntime as ort

    results: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": platform.node(), "python": platform.python_version(),
                     "onnxruntime": ort.__version__, "setup": json.loads(os.environ.get("SR_SCALE_GPU_CHECK_SETUP", "{}"))}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        cpu = cpu_half(model, Path(scratch))
        results["cpu"] = {k: v for k, v in cpu.items() if not k.startswith("_") and k != "fp16_file"}
        if no_gpu is not None:
            results["gpu"] = {"ran": False, "why": f"the GPU half was not run: {no_gpu}"}
        else:
            try:
                results["gpu"] = gpu_half(model, cpu, started + BUDGET_S - 30)
            except Exception as error:  # noqa: BLE001  a failed GPU half still writes what the CPU half found
                results["gpu"] = {"ran": False, "why": f"{error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
    results["seconds"] = time.monotonic() - started
    Path(json_path).write_text(json.dumps(results, indent=1))
    gpu = results["gpu"]
    click.echo(f"cpu half: default {results['cpu']['default_precision']}, fp16 on CPU max |diff| {results['cpu']['fp16_cpu_max_abs_difference']:.2e}; "
               + ("gpu half: " + json.dumps({k: v for k, v in gpu.items() if k in ('float32', 'fp16', 'io_binding')}) if gpu.get("ran")
                  else gpu["why"]) + f"; wrote {json_path}")


if __name__ == "__main__":
    main()
