"""Batch throughput: N product photos through `sr-scale` batch mode vs GIMP 2.10's own scaling.

GIMP's batch scaling (Script-Fu `gimp-image-scale`, default cubic, one gimp-console process for
all files) is the step sr-scale replaces in catalog pipelines, so the ratio is measured on the
same files in the same run. Both timings include their program's start-up (GIMP's plug-in scan,
sr-scale's model load).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from .workload import SHARED

PRODUCTS = SHARED / "data" / "train" / "products"
GIMP = "gimp-console-2.10"


def make_products(folder: Path, count: int, side: int = 500, quality: int = 90) -> list[Path]:
    """`count` side x side JPEGs from shared/data/train/products: shorter side resized, centre crop."""
    sources = sorted(PRODUCTS.glob("*.jpg"))[:count]
    if len(sources) < count:
        raise FileNotFoundError(f"need {count} product photos in {PRODUCTS}, found {len(sources)}")
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for source in sources:
        with Image.open(source) as im:
            im = im.convert("RGB")
            ratio = side / min(im.size)
            im = im.resize((max(side, round(im.width * ratio)), max(side, round(im.height * ratio))), Image.Resampling.LANCZOS)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            target = folder / f"{source.stem}.jpg"
            im.crop((left, top, left + side, top + side)).save(target, quality=quality)
            made.append(target)
    return made


def sr_scale_command() -> list[str]:
    """The sr-scale next to this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("sr-scale")
    return [str(beside)] if beside.exists() else ["sr-scale"]


def has_batch_mode() -> bool:
    done = subprocess.run([*sr_scale_command(), "--help"], capture_output=True, text=True)
    return "--output-dir" in done.stdout and "--jobs" in done.stdout


def time_sr_scale(files: list[Path], out_dir: Path, jobs: int = 1, threads: int = 0) -> float:
    """Seconds for sr-scale to enlarge every file into out_dir (batch mode, else one call per file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if has_batch_mode():
        subprocess.run([*sr_scale_command(), *map(str, files), "-o", str(out_dir), "--jobs", str(jobs),
                        "--threads", str(threads), "--overwrite"], check=True, capture_output=True)
    else:
        for source in files:
            subprocess.run([*sr_scale_command(), str(source), str(out_dir / source.name), "--threads", str(threads)],
                           check=True, capture_output=True)
    return time.perf_counter() - started


def _scheme_string(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def gimp_script(pairs: list[tuple[Path, Path]], scale: int = 2) -> str:
    """Script-Fu that loads, scales (GIMP's default cubic) and saves every (source, target) pair."""
    listed = " ".join(f"({_scheme_string(s)} {_scheme_string(t)})" for s, t in pairs)
    return f"""
(gimp-context-set-interpolation INTERPOLATION-CUBIC)
(for-each
  (lambda (pair)
    (let* ((source (car pair)) (target (cadr pair))
           (image (car (gimp-file-load RUN-NONINTERACTIVE source source))))
      (gimp-image-scale image (* {scale} (car (gimp-image-width image))) (* {scale} (car (gimp-image-height image))))
      (gimp-file-save RUN-NONINTERACTIVE image (car (gimp-image-get-active-drawable image)) target target)
      (gimp-image-delete image)))
  '({listed}))
"""


def gimp_available() -> bool:
    return shutil.which(GIMP) is not None


def time_gimp(files: list[Path], out_dir: Path, profile: Path) -> float:
    """Seconds for one gimp-console process to scale every file 2x into out_dir.

    GIMP exits 0 even when a command fails, so every output is checked afterwards.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    script = profile.parent / "sr-bench-batch.scm"
    script.write_text(gimp_script([(f, out_dir / f.name) for f in files]))
    env = {**os.environ, "HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config"), "XDG_CACHE_HOME": str(profile / "cache")}
    started = time.perf_counter()
    subprocess.run([GIMP, "-i", "-d", "-f", "-b", f"(load {_scheme_string(script)})", "-b", "(gimp-quit 0)"],
                   check=True, capture_output=True, env=env, timeout=3600)
    seconds = time.perf_counter() - started
    missing = [f.name for f in files if not (out_dir / f.name).exists()]
    if missing:
        raise RuntimeError(f"GIMP wrote no output for {len(missing)} files, e.g. {missing[0]}")
    return seconds
