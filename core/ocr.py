"""Reading text back with Tesseract 5 (Debian: tesseract-ocr, tesseract-ocr-eng), and its error rate.

Tesseract runs as a subprocess (`tesseract stdin stdout`), one image at a time, the PNG on its
standard input: nothing is written to disk. OMP_THREAD_LIMIT=1 keeps it to one core (it is
called once per image and method; parallel threads would only fight the model's) and makes its
output the same on every machine size.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
from functools import lru_cache

import numpy as np
from PIL import Image

TESSERACT = "tesseract"
# Page segmentation 6: "a single uniform block of text", which the text set's images are.
PAGE_SEGMENTATION = "6"
LANGUAGE = "eng"
TESSERACT_MISSING = "Tesseract not found (Debian: apt-get install tesseract-ocr tesseract-ocr-eng): OCR error not measured"


class OcrError(Exception):
    """Tesseract is missing or failed; the message says which and what to install."""


@lru_cache(maxsize=None)
def tesseract_version() -> str | None:
    """'tesseract 5.3.0' or None when Tesseract (or its English data) is not installed."""
    if shutil.which(TESSERACT) is None:
        return None
    try:
        done = subprocess.run([TESSERACT, "--list-langs"], capture_output=True, text=True, timeout=60)
        version = subprocess.run([TESSERACT, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if LANGUAGE not in done.stdout.split():
        return None
    said = (version.stdout or version.stderr).strip().splitlines()
    return said[0] if said else "tesseract"


def read_text(image: np.ndarray, timeout: float = 120.0) -> str:
    """Tesseract's reading of a uint8 RGB image (H, W, 3), as it printed it."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run([TESSERACT, "stdin", "stdout", "-l", LANGUAGE, "--psm", PAGE_SEGMENTATION],
                              input=buffer.getvalue(), capture_output=True, timeout=timeout, env=env)
    except FileNotFoundError:
        raise OcrError(TESSERACT_MISSING) from None
    except subprocess.TimeoutExpired:
        raise OcrError(f"{TESSERACT} took longer than {timeout:.0f} s on one image") from None
    if done.returncode != 0:
        said = (done.stderr.decode(errors="replace").strip() or "no message").splitlines()[-1]
        raise OcrError(f"{TESSERACT} failed (exit {done.returncode}): {said}")
    return done.stdout.decode("utf-8", errors="replace")


def normalise(text: str) -> str:
    """Lines stripped, runs of spaces made one, empty lines dropped, joined by newlines.

    Layout is not what is measured: a line Tesseract splits or spaces differently should not
    count as many errors, a wrong or missing character should.
    """
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def character_errors(read: str, truth: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between the normalised texts."""
    # Imported here: the package `levenshtein` (extra "eval") is needed only once text is read.
    from Levenshtein import distance

    return distance(normalise(read), normalise(truth))


def character_error_rate(errors: int, characters: int) -> float:
    """Errors per character of the truth: 0 = read perfectly; can exceed 1 when OCR invents text."""
    return errors / characters if characters else 0.0
