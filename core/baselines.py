"""What the model is compared with: classic interpolation, GIMP 2.10's own scaling, other upscalers.

Two kinds of method take part in an evaluation:
- in-process ones, plain callables `lr uint8 (h, w, 3) -> sr uint8 (h*s, w*s, 3)`
  (MATLAB bicubic, Pillow Lanczos, the project's own engine);
- file-based ones (`FileUpscaler`), which read LR image files and write SR files: GIMP's
  batch mode and any external command such as the peer upscalers in shared/peers.
  They get all images of a set at once, so GIMP starts once per set, not once per image.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np
from PIL import Image

from .degradations import imresize, to_uint8

Upscale = Callable[[np.ndarray], np.ndarray]
Job = tuple[Path, Path]  # (LR file to read, SR file to write)

GIMP = "gimp-console-2.10"
# GIMP's names for its interpolations (gimp-context-set-interpolation), by baseline name.
GIMP_INTERPOLATIONS = {"gimp-cubic": "INTERPOLATION-CUBIC", "gimp-nohalo": "INTERPOLATION-NOHALO"}
# Images per GIMP process: the Script-Fu program is one argv string, which Linux caps at 128 KiB.
GIMP_BATCH = 200


class BaselineError(Exception):
    """A comparison method cannot run or produced no usable output; the message says which."""


@runtime_checkable
class FileUpscaler(Protocol):
    """A method that upscales image files outside this process."""

    def upscale_files(self, jobs: Sequence[Job], scale: int) -> list[float]:
        """Write every job's SR file; return the seconds spent per job (wall clock)."""
        ...


def bicubic(scale: int) -> Upscale:
    """MATLAB imresize bicubic (the protocol's own kernel), rounded as MATLAB rounds."""

    def upscale(lr: np.ndarray) -> np.ndarray:
        h, w = lr.shape[:2]
        return to_uint8(imresize(lr, h * scale, w * scale))

    return upscale


def lanczos(scale: int) -> Upscale:
    """Pillow's Lanczos (a = 3) resampling."""

    def upscale(lr: np.ndarray) -> np.ndarray:
        h, w = lr.shape[:2]
        return np.asarray(Image.fromarray(lr).resize((w * scale, h * scale), Image.Resampling.LANCZOS))

    return upscale


def gimp_available() -> bool:
    return shutil.which(GIMP) is not None


def _scheme_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True)
class GimpScale:
    """`gimp-image-scale` of GIMP 2.10 in batch mode, the step the product replaces (docs/gimp3.md).

    interpolation: a GIMP enum name such as INTERPOLATION-NOHALO. The seconds reported per
    image are one GIMP run's wall time divided by its images, start-up included. A run that
    takes over seconds_per_image_limit per image (plus 2 minutes) counts as hung.
    """

    interpolation: str
    executable: str = GIMP
    # Generous: on a loaded machine GIMP's two plug-in starts per image (PNG load and save) crawl.
    seconds_per_image_limit: float = 60.0

    def script(self, jobs: Sequence[Job], scale: int) -> str:
        """A Script-Fu program that loads, scales and saves every job in one GIMP process."""
        pairs = " ".join(f"({_scheme_string(str(lr))} . {_scheme_string(str(sr))})" for lr, sr in jobs)
        return (
            "(define (sr-eval-scale job)"
            " (let* ((img (car (gimp-file-load RUN-NONINTERACTIVE (car job) (car job))))"
            " (w (car (gimp-image-width img))) (h (car (gimp-image-height img))))"
            f" (gimp-image-scale img (* {scale} w) (* {scale} h))"
            " (gimp-file-save RUN-NONINTERACTIVE img (car (gimp-image-get-active-drawable img)) (cdr job) (cdr job))"
            " (gimp-image-delete img)))"
            f" (gimp-context-set-interpolation {self.interpolation})"
            f" (for-each sr-eval-scale (quote ({pairs})))"
        )

    def upscale_files(self, jobs: Sequence[Job], scale: int) -> list[float]:
        if shutil.which(self.executable) is None:
            raise BaselineError(f"{self.executable} not found: install GIMP 2.10 (Debian package gimp) for the gimp-* baselines")
        seconds: list[float] = []
        for start in range(0, len(jobs), GIMP_BATCH):
            batch = jobs[start : start + GIMP_BATCH]
            timeout = 120 + self.seconds_per_image_limit * len(batch)
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    [self.executable, "-i", "-b", self.script(batch, scale), "-b", "(gimp-quit 0)"],
                    capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                raise BaselineError(f"{self.executable} took longer than {timeout:.0f} s for {len(batch)} images") from None
            elapsed = time.perf_counter() - started
            # GIMP exits 0 even when the batch failed, so its outputs are the only evidence.
            missing = [lr for lr, sr in batch if not sr.is_file()]
            if missing:
                said = (done.stderr.strip() or done.stdout.strip() or "no message").splitlines()[-1]
                raise BaselineError(f"{self.executable} ({self.interpolation}) wrote no output for {missing[0].name}: {said}")
            seconds += [elapsed / len(batch)] * len(batch)
        return seconds


@dataclass(frozen=True)
class ExternalCommand:
    """Any upscaler run as a command per image, e.g. `python upscale_peer.py fsrcnn {in} {out}`.

    template: split like a shell would (shlex), then `{in}` and `{out}` are replaced by the LR
    and SR file paths inside each argument; no shell is involved. Seconds per image are the
    command's wall time, so process start-up and model loading are included.
    """

    template: str
    timeout: float = 600.0

    def __post_init__(self) -> None:
        if "{in}" not in self.template or "{out}" not in self.template:
            raise BaselineError(f"command template needs both {{in}} and {{out}}: {self.template!r}")
        try:
            shlex.split(self.template)
        except ValueError as error:
            raise BaselineError(f"cannot parse command template {self.template!r}: {error}") from None

    def argv(self, lr: Path, sr: Path) -> list[str]:
        return [part.replace("{in}", str(lr)).replace("{out}", str(sr)) for part in shlex.split(self.template)]

    def upscale_files(self, jobs: Sequence[Job], scale: int) -> list[float]:
        seconds = []
        for lr, sr in jobs:
            argv = self.argv(lr, sr)
            started = time.perf_counter()
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, stdin=subprocess.DEVNULL)
            except FileNotFoundError:
                raise BaselineError(f"command not found: {argv[0]}") from None
            except subprocess.TimeoutExpired:
                raise BaselineError(f"{argv[0]} took longer than {self.timeout:.0f} s on {lr.name}") from None
            seconds.append(time.perf_counter() - started)
            if done.returncode != 0 or not sr.is_file():
                said = (done.stderr.strip() or done.stdout.strip() or "no message").splitlines()[-1]
                raise BaselineError(f"{shlex.join(argv)} failed (exit {done.returncode}): {said}")
        return seconds


# The built-in baselines by name; each entry builds the method for a scale.
BASELINES: dict[str, Callable[[int], Upscale | FileUpscaler]] = {
    "bicubic": bicubic,
    "lanczos": lanczos,
    "gimp-cubic": lambda scale: GimpScale(GIMP_INTERPOLATIONS["gimp-cubic"]),
    "gimp-nohalo": lambda scale: GimpScale(GIMP_INTERPOLATIONS["gimp-nohalo"]),
}


def default_baselines() -> list[str]:
    """bicubic and Lanczos always; GIMP's cubic and NoHalo when GIMP 2.10 is installed."""
    return ["bicubic", "lanczos"] + (list(GIMP_INTERPOLATIONS) if gimp_available() else [])


def baseline(name: str, scale: int) -> Upscale | FileUpscaler:
    if name not in BASELINES:
        raise BaselineError(f"unknown baseline {name!r}: use one of {', '.join(BASELINES)} (or --external NAME=COMMAND)")
    return BASELINES[name](scale)
