"""The catalog evaluation of `sr-eval --text --halo`: is small text legible, do flat backgrounds stay clean?

Three sets are rendered by core/synthetic.py (the code the training canvases come from), each
from its own fixed seed that training never uses, so a run is reproducible to the pixel:

- text-own: lines of product text (prices, sizes, article numbers, product words) at 9-16 px
  in the training fonts and words (synthetic.TRAIN_STYLE): text like the training text;
- text-unseen: the same kinds of line in the held-out fonts and words (synthetic.HELDOUT_STYLE),
  which training never draws: text the model has not seen;
- flat-graphics: boxes, badges, discs, rules and logo polygons on white or one flat colour.

Text is black on white in three images of four, else a flat colour with contrasting text. No
image or text of an evaluation photo set (Set5, Set14, B100) goes into any of them.

The sets go through the standard protocol like any HR folder (evaluate.evaluate_folder: LR is
bicubic /2, optionally JPEG), then CatalogScorer reads each text SR back with Tesseract (ocr.py;
character error rate = edit distance / characters of the truth, pooled over a set's images) and
measures the halo (halo.py) on every image of the three sets. The HR itself is read too: the floor
that Tesseract's own errors set.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import synthetic
from .evaluate import ImageResult
from .halo import HaloError, halo_error
from .image_io import write_rgb
from .ocr import character_error_rate, character_errors, normalise, read_text, tesseract_version

TEXT_SETS = {"text-own": synthetic.TRAIN_STYLE, "text-unseen": synthetic.HELDOUT_STYLE}
FLAT_SET = "flat-graphics"
# Eval-only seeds (training draws from TrainConfig.seed's streams, never these).
SEEDS = {"text-own": 18_0001, "text-unseen": 18_0002, FLAT_SET: 18_0003}
IMAGES = 24  # per set: 144 lines of text, a few thousand characters
TEXT_WIDTH, TEXT_LINES, TEXT_PX = 384, 6, (9, 16)  # HR pixels; font sizes in HR pixels
GRAPHICS_SIZE = (256, 192)  # HR (width, height)
# (background, text colour) of the coloured text images and the flat-graphics backgrounds.
FLAT_COLOURS = (((250, 230, 120), (20, 20, 20)), ((30, 40, 110), (255, 255, 255)),
                ((200, 30, 40), (255, 255, 255)), ((225, 225, 225), (60, 60, 60)))
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
TRUTH = "truth.json"  # image name -> lines of the text drawn, next to a text set's PNGs
HR_METHOD = "HR"  # the row of the HR itself in the OCR tables


def colours(index: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Every fourth image on a flat colour (cycling through FLAT_COLOURS), the others black on white."""
    return FLAT_COLOURS[(index // 4) % len(FLAT_COLOURS)] if index % 4 == 3 else (WHITE, BLACK)


def text_image(rng: np.random.Generator, style: synthetic.TextStyle, index: int) -> tuple[np.ndarray, list[str]]:
    """Image `index` of a text set drawn with `rng`: TEXT_LINES lines of product text in `style`,
    colours by colours(index). Returns (uint8 HR (height, TEXT_WIDTH, 3), strings top to bottom)."""
    background, colour = colours(index)
    return synthetic.render_text_lines(rng, style, TEXT_WIDTH, TEXT_LINES, TEXT_PX, background, colour)


def write_text_set(folder: Path, name: str, images: int = IMAGES) -> Path:
    """Render the text set `name` (a key of TEXT_SETS) into folder/name: PNGs and truth.json."""
    rng = np.random.default_rng(SEEDS[name])
    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i in range(images):
        image, lines = text_image(rng, TEXT_SETS[name], i)
        file = f"{name}-{i:03d}.png"
        write_rgb(image, out / file)
        truth[file] = lines
    (out / TRUTH).write_text(json.dumps(truth, indent=1, ensure_ascii=False), encoding="utf-8")
    return out


def write_flat_set(folder: Path, images: int = IMAGES) -> Path:
    """Render the flat-graphics set into folder/flat-graphics (PNGs)."""
    rng = np.random.default_rng(SEEDS[FLAT_SET])
    out = Path(folder) / FLAT_SET
    out.mkdir(parents=True, exist_ok=True)
    for i in range(images):
        background = colours(i)[0]
        write_rgb(synthetic.render_graphics(rng, GRAPHICS_SIZE, background, count=int(rng.integers(3, 6))), out / f"{FLAT_SET}-{i:03d}.png")
    return out


def write_sets(folder: Path, text: bool, halo: bool, images: int = IMAGES) -> list[Path]:
    """The catalog sets asked for, rendered under folder, in the order they are evaluated."""
    sets = [write_text_set(folder, name, images) for name in TEXT_SETS] if text else []
    return sets + ([write_flat_set(folder, images)] if halo else [])


@dataclass
class TextScore:
    """OCR of one method on a set (or one image): errors in characters, characters of the truth."""

    errors: int = 0
    characters: int = 0

    @property
    def cer(self) -> float:
        return character_error_rate(self.errors, self.characters)


@dataclass
class CatalogScorer:
    """Scores each ImageResult of a catalog set as it comes (evaluate_folder's on_image).

    folders: set name -> the folder it was rendered into (for truth.json). ocr=False when
    Tesseract is absent: halo only. scale: the protocol's, pixels shaved from each side.
    """

    folders: dict[str, Path]
    scale: int
    ocr: bool = True
    text: dict[str, dict[str, TextScore]] = field(default_factory=dict)
    halo: dict[str, dict[str, HaloError]] = field(default_factory=dict)
    images: list[dict] = field(default_factory=list)
    _truth: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def truth(self, set_name: str) -> dict[str, list[str]]:
        if set_name not in self._truth:
            self._truth[set_name] = json.loads((self.folders[set_name] / TRUTH).read_text(encoding="utf-8"))
        return self._truth[set_name]

    def add(self, result: ImageResult) -> dict[str, dict]:
        """Score one image of a catalog set; returns {method: {"cer", "halo_psnr", ...}} (empty for other sets)."""
        if result.set not in self.folders:
            return {}
        row: dict[str, dict] = {}
        if result.set in TEXT_SETS and self.ocr:
            truth = "\n".join(self.truth(result.set)[result.image])
            for method, pixels in {HR_METHOD: result.hr, **result.sr}.items():
                read = read_text(pixels)
                score = TextScore(character_errors(read, truth), len(normalise(truth)))
                total = self.text.setdefault(result.set, {}).setdefault(method, TextScore())
                total.errors += score.errors
                total.characters += score.characters
                row.setdefault(method, {}).update(cer=score.cer, read=normalise(read))
        for method, pixels in result.sr.items():
            error = halo_error(pixels, result.hr, self.scale)
            self.halo.setdefault(result.set, {})[method] = self.halo.get(result.set, {}).get(method, HaloError(0.0, 0)) + error
            row.setdefault(method, {}).update(halo_mse=error.mse, halo_psnr=error.psnr)
        self.images.append({"set": result.set, "image": result.image, "methods": row})
        return row

    def document(self) -> dict:
        """What results.json holds under "catalog": per set and method, CER and halo (set means)."""
        return {
            "tesseract": tesseract_version() if self.ocr else None,
            "ocr": {s: {m: {"cer": t.cer, "errors": t.errors, "characters": t.characters} for m, t in by.items()} for s, by in self.text.items()},
            "halo": {s: {m: {"mse": h.mse, "psnr": h.psnr, "pixels": h.pixels} for m, h in by.items()} for s, by in self.halo.items()},
            "images": self.images,
        }


def _cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def catalog_table(clean: dict, jpeg: dict) -> str:
    """The issue-18 tables in Markdown from two results documents (clean LR and JPEG LR).

    One table per text set (rows: the HR itself, then every method; OCR error and Y-PSNR on clean
    and on JPEG LR), then one for the halo on flat-graphics (halo PSNR and Y-PSNR, both LR).
    """
    quality = jpeg["jpeg_quality"]
    methods = list(next(iter(clean["summary"].values())))
    both = (clean, jpeg)

    def row(method: str, values: list[str]) -> str:
        return "| " + " | ".join([f"**{method}**" if method in clean["models"] else method, *values]) + " |"

    def y_psnr(set_name: str, method: str) -> list[str]:
        return [_cell(d["summary"][set_name].get(method, {}).get("y_psnr"), 2) for d in both]

    blocks = []
    for set_name in (s for s in TEXT_SETS if s in clean["summary"]):
        head = f"| {set_name} | OCR error, clean LR | OCR error, JPEG {quality} LR | Y-PSNR, clean LR | Y-PSNR, JPEG {quality} LR |"
        cer = lambda m: [_cell(d["catalog"]["ocr"].get(set_name, {}).get(m, {}).get("cer"), 3) for d in both]  # noqa: E731
        lines = [head, "|---|---|---|---|---|", row(HR_METHOD, cer(HR_METHOD) + ["", ""])]
        blocks.append("\n".join(lines + [row(m, cer(m) + y_psnr(set_name, m)) for m in methods]))
    if FLAT_SET in clean["summary"]:
        head = f"| {FLAT_SET} | halo PSNR, clean LR | halo PSNR, JPEG {quality} LR | Y-PSNR, clean LR | Y-PSNR, JPEG {quality} LR |"
        halo = lambda m: [_cell(d["catalog"]["halo"][FLAT_SET].get(m, {}).get("psnr"), 2) for d in both]  # noqa: E731
        blocks.append("\n".join([head, "|---|---|---|---|---|"] + [row(m, halo(m) + y_psnr(FLAT_SET, m)) for m in methods]))
    said = clean["catalog"]["tesseract"] or "no Tesseract: OCR not measured"
    images = next(iter(clean["summary"].values()))[methods[0]]["images"]
    return "\n\n".join(blocks) + (f"\n\nOCR error: character error rate read by {said} (lower is better); Y-PSNR and halo PSNR"
                                  f" (core/halo.py) in dB (higher is better); LR: MATLAB bicubic /2, then JPEG quality {quality} in the"
                                  f" JPEG columns; {images} images per set.\n")
