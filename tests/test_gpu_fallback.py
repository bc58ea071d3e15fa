"""sr-scale installed with the [gpu] extra (onnxruntime-gpu) on a machine whose CUDA is not usable
(no NVIDIA driver, or CUDA/cuDNN libraries missing) runs exactly as the [cpu] install: the same
file (int8 where the CPU has it), the same thread plan, the same bytes out, nothing on stderr.

onnxruntime and onnxruntime-gpu cannot share a venv, so the test builds a second one with
onnxruntime-gpu (~255 MB wheel, from pip's cache after the first run) and the checkout installed
without dependencies; it is kept in SR_SCALE_GPU_VENV (default ~/.cache/sr-scale/gpu-venv) and
reused while it still imports.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GPU_VENV = Path(os.environ.get("SR_SCALE_GPU_VENV", Path.home() / ".cache" / "sr-scale" / "gpu-venv"))
RUNTIME = ["onnxruntime-gpu>=1.17", "numpy>=1.24", "pillow>=11", "click>=8.1", "pypng>=0.20220715", "tifffile>=2023.1"]
PROBE = ("import json, onnxruntime as ort\nfrom sr_scale.core.engine import Upscaler\n"
         "auto, cpu = Upscaler('x2'), Upscaler('x2', device='cpu')\n"
         "print(json.dumps({'providers': ort.get_available_providers(), 'device': auto.device, 'file': auto.path.name,"
         " 'cpu_file': cpu.path.name, 'plan': [auto.workers, auto.thread_plan.threads],"
         " 'cpu_plan': [cpu.workers, cpu.thread_plan.threads], 'ort': ort.__version__}))")

pytestmark = pytest.mark.slow


def _usable_cuda() -> bool:
    return shutil.which("nvidia-smi") is not None and subprocess.run(["nvidia-smi"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def gpu_python() -> Path:
    if _usable_cuda():
        pytest.skip("this machine has a working NVIDIA driver: the fallback needs a machine without usable CUDA")
    python = GPU_VENV / "bin" / "python"
    ready = python.exists() and subprocess.run([str(python), "-c", "import onnxruntime, sr_scale.core.engine"],
                                               capture_output=True).returncode == 0
    if not ready:
        shutil.rmtree(GPU_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(GPU_VENV)], check=True)
        subprocess.run([*_pip(python), *RUNTIME], check=True)
    # The cached venv may hold another checkout (an older clone): its models would give other bytes.
    where = subprocess.run([str(python), "-c", "import sr_scale.core.engine as e; print(e.__file__)"], capture_output=True, text=True)
    if where.returncode != 0 or not Path(where.stdout.strip()).resolve().is_relative_to(ROOT.resolve()):
        subprocess.run([*_pip(python), "--no-deps", "-e", str(ROOT)], check=True)
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "onnxruntime-gpu" in names and "onnxruntime" not in names, names
    return python


def _pip(python: Path) -> list[str]:
    return [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def _sr_scale(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python.parent / "sr-scale"), *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, butterfly) -> Path:
    path = tmp_path_factory.mktemp("gpu") / "butterfly.png"
    Image.fromarray(butterfly[:120, :160]).save(path)
    return path


def test_gpu_build_without_cuda_chooses_file_and_threads_as_the_cpu_build(gpu_python):
    done = subprocess.run([str(gpu_python), "-c", PROBE], capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    assert "CUDAExecutionProvider" in seen["providers"]  # the [gpu] build offers CUDA...
    assert seen["device"] == "cpu"  # ...which cannot start here
    assert (seen["file"], seen["plan"]) == (seen["cpu_file"], seen["cpu_plan"])
    assert done.stderr == ""
    from sr_scale.core.engine import Upscaler  # this venv: the [cpu] build

    cpu_build = Upscaler("x2")
    assert (seen["file"], seen["plan"]) == (cpu_build.path.name, [cpu_build.workers, cpu_build.thread_plan.threads])


def test_gpu_build_without_cuda_writes_the_cpu_bytes_silently(gpu_python, photo, tmp_path):
    auto = _sr_scale(gpu_python, str(photo), str(tmp_path / "auto.png"))
    assert (auto.returncode, auto.stderr, auto.stdout) == (0, "", "")
    forced_cpu = _sr_scale(gpu_python, "--device", "cpu", str(photo), str(tmp_path / "cpu.png"))
    assert forced_cpu.returncode == 0
    assert (tmp_path / "auto.png").read_bytes() == (tmp_path / "cpu.png").read_bytes()
    cpu_build = subprocess.run([str(Path(sys.executable).parent / "sr-scale"), str(photo), str(tmp_path / "cpu-build.png")],
                               capture_output=True, text=True, timeout=600)  # this venv: the [cpu] install
    assert cpu_build.returncode == 0
    assert (tmp_path / "auto.png").read_bytes() == (tmp_path / "cpu-build.png").read_bytes()


def test_verbose_says_why_cuda_was_not_used(gpu_python, photo, tmp_path):
    done = _sr_scale(gpu_python, "-v", str(photo), str(tmp_path / "v.png"))
    assert done.returncode == 0 and "CUDA not used" in done.stderr


def test_device_cuda_is_one_line_of_error(gpu_python, photo, tmp_path):
    done = _sr_scale(gpu_python, "--device", "cuda", str(photo), str(tmp_path / "c.png"))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "--device cuda" in done.stderr
    assert not (tmp_path / "c.png").exists()
