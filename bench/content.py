"""How often core/content.py calls an input text, per kind of picture and JPEG quality of its LR.

    python -m bench.content [--json FILE]      # ~2 min on 2 cores

Photos: Set5, Set14, B100 (the sets the project tunes on) and the training photos (T91, BSD200,
the product photos at half size); text: lines of product text rendered with the training fonts and
words, and hard-edged graphics, from a seed of their own (DETECTOR_SEED: not the evaluation's text
sets, which are what the text models are judged on; those are counted last, as a report of what
the default gives them). Every HR is made LR by the standard protocol
and, for q > 0, saved by Pillow as JPEG of that quality (4:2:0) before the measure.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from sr_scale.core import catalog, synthetic
from sr_scale.core.blocking import is_blocked
from sr_scale.core.content import is_text, measure_text
from sr_scale.core.evaluate import crop_to_multiple, load_hr, make_lr
from sr_scale.core.image_io import FORMATS, atomic_write

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
QUALITIES = (0, 90, 75, 50, 40)  # 0 = clean LR
DETECTOR_SEED = 18_0900
RENDERED = 40  # images of each rendered kind


def _photos(folder: Path, halve: bool = False) -> list[np.ndarray]:
    """The folder's images as HR; halve: at half size first (the product photos, as training uses them)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FORMATS)
    return [crop_to_multiple(make_lr(load_hr(p, 2), 2), 2) if halve else load_hr(p, 2) for p in files]


def _rendered() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(DETECTOR_SEED)
    text, graphics = [], []
    for i in range(RENDERED):
        text.append(catalog.text_image(rng, synthetic.TRAIN_STYLE, i)[0])
    for i in range(RENDERED):
        graphics.append(synthetic.render_graphics(rng, catalog.GRAPHICS_SIZE, catalog.colours(i)[0]))
    return text, graphics


def _evaluation_text() -> list[np.ndarray]:
    """The HR images of sr-eval --text's sets (text-own, text-unseen: what the text models are judged
    on), to report which model the default gives them; the thresholds were not chosen on them."""
    with tempfile.TemporaryDirectory(prefix="bench-content-") as folder:
        sets = [catalog.write_text_set(Path(folder), name) for name in catalog.TEXT_SETS]
        return [load_hr(p, 2) for s in sets for p in sorted(s.glob("*.png"))]


def groups() -> dict[str, list[np.ndarray]]:
    """HR images per kind (uint8 RGB)."""
    evaluation = [hr for name in ("Set5", "Set14", "B100") for hr in _photos(DATA / "eval" / name)]
    train = _photos(DATA / "train" / "T91") + _photos(DATA / "train" / "BSD200")
    text, graphics = _rendered()
    return {"Set5+Set14+B100": evaluation, "T91+BSD200": train, "products": _photos(DATA / "train" / "products", halve=True),
            "rendered text": text, "rendered graphics": graphics, "sr-eval text sets": _evaluation_text()}


@click.command()
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the counts here.")
def main(json_path: Path | None) -> None:
    """Per kind and quality: how many LR images are called text, and (why restoration.py skips the
    blocking check on text) how many are called blocked when saved losslessly; then the check's cost."""
    rows: dict = {}
    for kind, images in groups().items():
        for quality in QUALITIES:
            lrs = [make_lr(hr, 2, quality) for hr in images]
            texts = sum(1 for lr in lrs if is_text(lr))
            blocked = sum(1 for lr in lrs if is_blocked(lr))
            rows[f"{kind} q{quality or 'clean'}"] = {"images": len(images), "text": texts, "blocked": blocked}
            click.echo(f"{kind:18s} {('q' + str(quality)) if quality else 'clean':6s} text {texts:4d}  blocked {blocked:4d}  of {len(images)}")
    baboon = load_hr(DATA / "eval" / "Set14" / "baboon.png", 2)
    for side in (480, 1024, 4096):  # the check reads at most the central blocking.MAX_SIDE square
        photo = np.resize(baboon, (side, side, 3))
        seconds = []
        for _ in range(5):
            start = time.perf_counter()
            measure_text(photo)
            seconds.append(time.perf_counter() - start)
        rows[f"cost {side}x{side} ms"] = round(1000 * statistics.median(seconds), 1)
        click.echo(f"text check on {side}x{side}: {rows[f'cost {side}x{side} ms']} ms (median of 5)")
    if json_path:
        atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(rows, indent=1) + "\n"))


if __name__ == "__main__":
    main()
