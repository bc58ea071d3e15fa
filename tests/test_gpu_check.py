"""The prepared GPU check (bench/gpu_check.py) runs its CPU half here and says the GPU half was not run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_gpu_check_runs_its_cpu_half_without_a_gpu(tmp_path):
    if subprocess.run("nvidia-smi -L", shell=True, capture_output=True).returncode == 0:
        pytest.skip("this machine has an NVIDIA GPU: the check runs its GPU half (run it by hand, it takes minutes)")
    out = tmp_path / "gpu-check.json"
    done = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["gpu"]["ran"] is False and "not run" in result["gpu"]["why"]
    cpu = result["cpu"]
    assert len(cpu["images"]) == 5 and cpu["default_precision"] in ("float32", "int8")
    assert 0 < cpu["fp16_cpu_max_abs_difference"] < 2e-3
    assert cpu["default_vs_float32_levels"] <= (1 if cpu["default_precision"] == "float32" else 40)
    assert "GPU half was not run" in done.stdout
