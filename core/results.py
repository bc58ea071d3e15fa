"""The files `sr-eval` writes: the results document (JSON), CSV rows and the Markdown summary.

Every write is atomic (image_io.atomic_write): a crash leaves the old file or none, never half of one.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Iterable

from .evaluate import ImageScore, summarise
from .image_io import atomic_write


def finite(value: float) -> float | None:
    """JSON has no infinity: a PSNR of identical images (inf) is written as null."""
    return value if math.isfinite(value) else None


def write_json(path: Path, results: dict) -> None:
    text = json.dumps(results, indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_csv(path: Path, records: Iterable[dict]) -> None:
    records = list(records)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else [f.name for f in fields(ImageScore)])
    writer.writeheader()
    writer.writerows(records)
    atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue()))


def summary_records(summary: dict, reference: str) -> list[dict]:
    """One flat record per (set, method), with the Y-PSNR gain over the reference."""
    return [
        {"set": s, "method": m} | values | {f"y_psnr_gain_over_{reference}": values["y_psnr"] - by_method[reference]["y_psnr"]}
        for s, by_method in summary.items()
        for m, values in by_method.items()
    ]


def summary_markdown(summary: dict, reference: str, models: list[str]) -> str:
    """Y-PSNR / SSIM per method (rows) and set (columns) as a Markdown table, for model cards."""
    sets = list(summary)
    methods = list(dict.fromkeys(m for by_method in summary.values() for m in by_method))
    lines = ["| method | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
    for method in methods:
        cells = [f"{summary[s][method]['y_psnr']:.2f} / {summary[s][method]['y_ssim']:.4f}" for s in sets]
        name = f"**{method}**" if method in models else method
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nY-PSNR dB / SSIM, standard x2 protocol; reference baseline: {reference}.\n"


def _sanitise(value):
    """Replace non-finite floats anywhere in a JSON-bound structure with None."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {k: _sanitise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitise(v) for v in value]
    return value


def results_document(rows: list[ImageScore], reference: str, models: list[str], scale: int, jpeg_quality: int, extra: dict | None = None,
                     tta: bool = False) -> dict:
    """What the JSON file holds: protocol, per-set means, per-image rows (and report extras)."""
    summary = summarise(rows)
    document = {
        "protocol": {"scale": scale, "shave": scale, "lr": "MATLAB bicubic" + (f", then JPEG quality {jpeg_quality}" if jpeg_quality else ""), "y": "MATLAB rgb2ycbcr"},
        "jpeg_quality": jpeg_quality,
        "reference": reference,
        "models": models,
        "tta": tta,
        "summary": summary,
        "summary_table": summary_records(summary, reference),
        "images": [asdict(r) for r in rows],
    }
    return _sanitise(document | (extra or {}))
