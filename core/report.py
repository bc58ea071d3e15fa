"""The static HTML report of `sr-eval --out DIR`: where the model helps and where it does not.

Modelled on how idealo judged its RDN (shared/docs/idealo-blog-magnifying-glass.txt): a table
of scores, LR | baseline | model | HR crops side by side, heat maps of the pixel-wise squared
error, the best and worst patches by PSNR, and the per-image gain over the baseline.

With `--text` / `--halo` two more sections show the catalog sets (core/catalog.py): the OCR error
and halo measure of every method, and crops of a few images, LR | every method | HR.

Pictures are PNG files under DIR/img, written as each image is evaluated, so only one image is
in memory at a time; the ranked patches are small crops kept in bounded heaps. The page needs
no server and no script: open DIR/report.html from disk. Drawing is numpy + Pillow only.
"""
from __future__ import annotations

import heapq
import html
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .catalog import FLAT_SET, HR_METHOD, TEXT_SETS
from .evaluate import ImageResult, ImageScore
from .halo import BAND, halo_map
from .image_io import atomic_write
from .metrics import rgb_to_y, shave
from .ocr import TESSERACT_MISSING

# Squared error on Y (levels^2) mapped to colour on a log scale; errors at or above this saturate.
# 2500 = 50 levels: anything that far off is plainly wrong to the eye.
ERROR_CEILING = 2500.0
# Light = small error, dark = large, as in the blog's heat map. (position in [0, 1], RGB)
ERROR_COLOURS = ((0.0, (255, 255, 255)), (0.25, (255, 236, 160)), (0.5, (246, 150, 60)), (0.75, (190, 40, 50)), (1.0, (45, 0, 50)))
# Gain maps: blue where the model's squared error is below the baseline's, red where above.
GAIN_COLOURS = ((0.0, (178, 24, 43)), (0.5, (255, 255, 255)), (1.0, (33, 102, 172)))
GAIN_RADIUS = 2  # gain maps compare errors averaged over 5x5 pixels
MAX_HEAT_MAP_SIDE = 1024  # heat maps of larger images are block-averaged down to this
SHOWCASE = 2  # images per catalog set shown as crops of every method


@dataclass(frozen=True)
class ReportConfig:
    """reference: the baseline models are compared with; models: their display names.
    crop / patch: sides in HR pixels; patches: how many best and how many worst per model and set."""

    reference: str
    models: list[str]
    scale: int = 2
    crop: int = 96
    patch: int = 32
    patches: int = 6


@dataclass
class RankedPatch:
    """A patch of one image (top-left x, y in HR pixels) with the model's and the reference's Y-PSNR (dB)."""

    psnr: float
    image: str
    x: int
    y: int
    reference_psnr: float
    pixels: dict[str, np.ndarray] = field(repr=False)  # "hr", "reference", "model" -> uint8 crop
    files: dict[str, str] = field(default_factory=dict)  # same keys -> PNG path relative to the report


def colourise(t: np.ndarray, colours: tuple) -> np.ndarray:
    """Values t in [0, 1] (H, W) -> uint8 RGB by linear interpolation between colour stops."""
    stops = np.array([c[0] for c in colours])
    rgb = np.array([c[1] for c in colours], dtype=np.float64)
    t = np.clip(t, 0.0, 1.0)
    out = np.stack([np.interp(t, stops, rgb[:, k]) for k in range(3)], axis=-1)
    return np.rint(out).astype(np.uint8)


def squared_error(sr: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """Pixel-wise squared error on the protocol's Y channel, float64 (H, W), levels^2."""
    return (rgb_to_y(sr) - rgb_to_y(hr)) ** 2


def block_mean(values: np.ndarray, max_side: int = MAX_HEAT_MAP_SIDE) -> np.ndarray:
    """Average non-overlapping k x k blocks so the larger side is at most max_side (k = 1 if small)."""
    k = math.ceil(max(values.shape) / max_side)
    if k <= 1:
        return values
    h, w = values.shape[0] // k * k, values.shape[1] // k * k
    return values[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def error_heat_map(error: np.ndarray) -> np.ndarray:
    """Squared error (levels^2) -> RGB; log scale from 0 to ERROR_CEILING, darker is worse."""
    return colourise(np.log1p(block_mean(error)) / math.log1p(ERROR_CEILING), ERROR_COLOURS)


def box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2 radius + 1)^2 neighbourhood of each pixel (edge pixels repeated), same shape."""
    side = 2 * radius + 1
    padded = np.pad(values, radius, mode="edge")
    integral = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]
    return sums / side**2


def gain_heat_map(reference_error: np.ndarray, model_error: np.ndarray) -> np.ndarray:
    """Where the model's squared error is lower than the reference's (blue) or higher (red).

    Both errors are averaged over 5x5 pixels first: the pixel-wise difference is mostly noise,
    the local one shows which areas (edges, texture, flat) the model handles better.
    """
    d = block_mean(box_mean(reference_error, GAIN_RADIUS)) - block_mean(box_mean(model_error, GAIN_RADIUS))
    t = np.sign(d) * np.log1p(np.abs(d)) / math.log1p(ERROR_CEILING)
    return colourise(0.5 + 0.5 * t, GAIN_COLOURS)


def worst_window(error: np.ndarray, side: int) -> tuple[int, int]:
    """(y, x) of the side x side window with the largest summed error, on a grid of side/4 steps."""
    h, w = error.shape
    side = min(side, h, w)
    step = max(1, side // 4)
    integral = np.pad(error.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(0, h - side + 1, step)
    xs = np.arange(0, w - side + 1, step)
    sums = integral[ys[:, None] + side, xs[None, :] + side] - integral[ys[:, None], xs[None, :] + side] \
        - integral[ys[:, None] + side, xs[None, :]] + integral[ys[:, None], xs[None, :]]
    i, j = np.unravel_index(np.argmax(sums), sums.shape)
    return int(ys[i]), int(xs[j])


def patch_psnr(error: np.ndarray, side: int) -> np.ndarray:
    """Y-PSNR (dB) of each non-overlapping side x side patch of a squared-error map; inf where exact."""
    h, w = error.shape[0] // side * side, error.shape[1] // side * side
    mse = error[:h, :w].reshape(h // side, side, w // side, side).mean(axis=(1, 3))
    with np.errstate(divide="ignore"):
        return 10 * np.log10(255.0**2 / mse)


def nearest(lr: np.ndarray, scale: int) -> np.ndarray:
    """LR shown at HR size without any interpolation (each pixel repeated scale x scale)."""
    return lr.repeat(scale, axis=0).repeat(scale, axis=1)


def slug(text: str) -> str:
    """A file-name-safe version of an image or method name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def save_png(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def with_box(lr: np.ndarray, y: int, x: int, side: int) -> np.ndarray:
    """The LR image with a 1-pixel box around the LR area of a crop."""
    image = Image.fromarray(lr)
    ImageDraw.Draw(image).rectangle((x, y, x + side - 1, y + side - 1), outline=(255, 0, 255))
    return np.asarray(image)


def fmt_db(value: float) -> str:
    return "&infin;" if math.isinf(value) else f"{value:.2f}"


@dataclass
class ImageEntry:
    """What the page shows for one image: scores, file names of its pictures, the crop position."""

    set: str
    image: str
    scores: dict[str, ImageScore]
    files: dict[str, str]
    crop: tuple[int, int, int]  # y, x, side in HR pixels


@dataclass
class CatalogEntry:
    """Crops of one catalog image: every method's, LR's and HR's, and what each method scored."""

    set: str
    image: str
    files: dict[str, str]  # "lr", "hr", "sr-<method>" -> PNG path relative to the report
    scores: dict[str, dict]  # method -> {"cer", "halo_psnr", ...} (catalog.CatalogScorer.add)
    crop: tuple[int, int, int, int]  # y, x, height, width in HR pixels


class Report:
    """Collects pictures image by image (add_image, add_catalog), then writes report.html (write)."""

    def __init__(self, out: Path, config: ReportConfig):
        self.out = Path(out)
        self.config = config
        self.out.mkdir(parents=True, exist_ok=True)
        self.entries: list[ImageEntry] = []
        # (set, model) -> heaps: best keeps the N highest PSNR (min-heap), worst the N lowest.
        self.best: dict[tuple[str, str], list] = {}
        self.worst: dict[tuple[str, str], list] = {}
        self._tiebreak = itertools.count()
        self.catalog: list[CatalogEntry] = []

    # --- per image -----------------------------------------------------------------------
    def add_image(self, result: ImageResult) -> None:
        c, s = self.config, self.config.scale
        folder = Path("img") / slug(result.set)
        stem = f"{len(self.entries):04d}-{slug(Path(result.image).stem)}"
        errors = {m: squared_error(result.sr[m], result.hr) for m in [c.reference, *c.models]}
        # Crop where the reference errs most: the detailed area where a better upscaler can show.
        side = min(c.crop, *result.hr.shape[:2]) // s * s
        y, x = worst_window(errors[c.reference], side)
        y, x = y // s * s, x // s * s
        files: dict[str, str] = {}

        def put(key: str, pixels: np.ndarray) -> None:
            files[key] = (folder / f"{stem}-{slug(key)}.png").as_posix()
            save_png(pixels, self.out / files[key])

        put("overview", with_box(result.lr, y // s, x // s, side // s))
        put("lr", nearest(result.lr[y // s : (y + side) // s, x // s : (x + side) // s], s))
        for method in [c.reference, *c.models]:
            put(f"sr-{method}", result.sr[method][y : y + side, x : x + side])
            put(f"error-{method}", error_heat_map(errors[method]))
        put("hr", result.hr[y : y + side, x : x + side])
        for model in c.models:
            put(f"gain-{model}", gain_heat_map(errors[c.reference], errors[model]))
            self._rank_patches(result, model, errors)
        self.entries.append(ImageEntry(result.set, result.image, dict(result.scores), files, (y, x, side)))

    def add_catalog(self, result: ImageResult, scores: dict[str, dict]) -> None:
        """Crops of every method for the first SHOWCASE images of a catalog set.

        Text: the top-left of the image (its first lines), 2 crop wide and crop tall. Graphics:
        the crop x crop window where the first model's halo error (halo.halo_map) is largest.
        """
        if sum(entry.set == result.set for entry in self.catalog) >= SHOWCASE:
            return
        s, (h, w) = self.config.scale, result.hr.shape[:2]
        if result.set in TEXT_SETS:
            y, x, height, width = 0, 0, min(h, self.config.crop) // s * s, min(w, 2 * self.config.crop) // s * s
        else:
            side = min(self.config.crop, h, w) // s * s
            focus = self.config.models[0] if self.config.models else self.config.reference
            y, x = worst_window(halo_map(result.sr[focus], result.hr, s), side)
            y, x, height, width = y // s * s, x // s * s, side, side
        folder = Path("img") / slug(result.set)
        stem = f"catalog-{len(self.catalog):03d}-{slug(Path(result.image).stem)}"
        files: dict[str, str] = {}
        window = (slice(y, y + height), slice(x, x + width))
        pictures = {"lr": nearest(result.lr[y // s : (y + height) // s, x // s : (x + width) // s], s)}
        pictures |= {f"sr-{m}": sr[window] for m, sr in result.sr.items()} | {"hr": result.hr[window]}
        for key, pixels in pictures.items():
            files[key] = (folder / f"{stem}-{slug(key)}.png").as_posix()
            save_png(pixels, self.out / files[key])
        self.catalog.append(CatalogEntry(result.set, result.image, files, scores, (y, x, height, width)))

    def _rank_patches(self, result: ImageResult, model: str, errors: dict[str, np.ndarray]) -> None:
        c = self.config
        if c.patches == 0:
            return
        # Patches start inside the protocol's shaved border, on a grid of patch-sized steps.
        border = c.scale
        model_psnr = patch_psnr(shave(errors[model], border), c.patch)
        reference_psnr = patch_psnr(shave(errors[c.reference], border), c.patch)
        key = (result.set, model)
        for (i, j), value in np.ndenumerate(model_psnr):
            y, x = border + i * c.patch, border + j * c.patch
            for heap, sign in ((self.best.setdefault(key, []), 1.0), (self.worst.setdefault(key, []), -1.0)):
                item = (sign * value, -next(self._tiebreak))  # on a tie the earlier patch stays
                if len(heap) < c.patches or item > heap[0][:2]:
                    window = (slice(y, y + c.patch), slice(x, x + c.patch))
                    patch = RankedPatch(float(value), result.image, x, y, float(reference_psnr[i, j]),
                                        {"hr": result.hr[window].copy(), "reference": result.sr[c.reference][window].copy(), "model": result.sr[model][window].copy()})
                    entry = (*item, patch)
                    if len(heap) < c.patches:
                        heapq.heappush(heap, entry)
                    else:
                        heapq.heapreplace(heap, entry)

    # --- the page --------------------------------------------------------------------------
    def ranked(self) -> dict[tuple[str, str], dict[str, list[RankedPatch]]]:
        """Best patches highest first, worst patches lowest first, per (set, model)."""
        return {
            key: {
                "best": [e[2] for e in sorted(self.best[key], key=lambda e: (-e[0], -e[1]))],
                "worst": [e[2] for e in sorted(self.worst[key], key=lambda e: (-e[0], -e[1]))],
            }
            for key in self.best
        }

    def json_extras(self) -> dict:
        """The ranked patches' positions and PSNRs, for results.json."""
        return {
            "patches": {
                f"{set_name}/{model}": {
                    kind: [{"image": p.image, "x": p.x, "y": p.y, "side": self.config.patch, "y_psnr": p.psnr, "reference_y_psnr": p.reference_psnr} for p in patches]
                    for kind, patches in lists.items()
                }
                for (set_name, model), lists in self.ranked().items()
            }
        }

    def _save_patches(self) -> dict[tuple[str, str], dict[str, list[RankedPatch]]]:
        ranked = self.ranked()
        for (set_name, model), lists in ranked.items():
            for kind, patches in lists.items():
                for k, p in enumerate(patches):
                    for what, pixels in p.pixels.items():
                        p.files[what] = (Path("img") / slug(set_name) / f"patch-{slug(model)}-{kind}-{k}-{slug(what)}.png").as_posix()
                        save_png(nearest(pixels, 3), self.out / p.files[what])
        return ranked

    def write(self, document: dict) -> Path:
        """Write the pictures that needed every image (patches, legends) and report.html."""
        ranked = self._save_patches()
        save_png(colourise(np.tile(np.linspace(0, 1, 256), (12, 1)), ERROR_COLOURS), self.out / "img" / "legend-error.png")
        save_png(colourise(np.tile(np.linspace(0, 1, 256), (12, 1)), GAIN_COLOURS), self.out / "img" / "legend-gain.png")
        page = render_page(self.config, document, self.entries, ranked, self.catalog)
        path = self.out / "report.html"
        atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
        return path


# --- HTML ------------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child, td.name { text-align: left; }
tr.model td { font-weight: bold; }
td.up { color: #1a5fa8; } td.down { color: #b2182b; }
figure { display: inline-block; margin: 0 6px 8px 0; vertical-align: top; }
figcaption { font-size: 12px; color: #444; text-align: center; }
img.crop, img.patch, img.wide { image-rendering: pixelated; }
img.crop { width: 192px; height: 192px; }
img.wide { image-rendering: pixelated; zoom: 2; }
.warning { color: #b2182b; }
img.heat { max-width: 320px; }
section.image { border-top: 1px solid #ddd; padding-top: 0.5em; margin-top: 1em; }
.legend { display: inline-block; margin-right: 2em; font-size: 12px; }
.legend img { width: 256px; height: 12px; display: block; }
.legend span { display: flex; justify-content: space-between; width: 256px; }
"""


def e(text: object) -> str:
    return html.escape(str(text))


def figure(src: str, caption: str, css: str) -> str:
    return f'<figure><img class="{css}" src="{e(src)}" alt="{e(caption)}"><figcaption>{caption}</figcaption></figure>'


def signed(value: float) -> str:
    css = "up" if value > 0 else "down" if value < 0 else ""
    return f'<td class="{css}">{value:+.2f}</td>'


def summary_table(config: ReportConfig, summary: dict) -> str:
    head = "<tr><th>set</th><th>method</th><th>Y-PSNR dB</th><th>SSIM</th><th>RGB PSNR dB</th><th>s / image</th><th>gain over " + e(config.reference) + "</th><th>images</th></tr>"
    body = []
    for set_name, by_method in summary.items():
        ref = by_method[config.reference]["y_psnr"]
        for method, m in by_method.items():
            css = ' class="model"' if method in config.models else ""
            body.append(
                f"<tr{css}><td>{e(set_name)}</td><td class=name>{e(method)}</td><td>{m['y_psnr']:.3f}</td><td>{m['y_ssim']:.4f}</td>"
                f"<td>{m['rgb_psnr']:.3f}</td><td>{m['seconds']:.3f}</td>{signed(m['y_psnr'] - ref)}<td>{m['images']}</td></tr>"
            )
    return f"<table>{head}{''.join(body)}</table>"


def anchor(entry: ImageEntry) -> str:
    """The id of an image's section, which the gain plot's bars link to."""
    return e(slug(f"{entry.set}-{entry.image}"))


def gain_plot(entries: list[ImageEntry], reference: str, model: str) -> str:
    """An inline SVG bar chart: per image, the model's Y-PSNR minus the reference's (dB)."""
    gains = [en.scores[model].y_psnr - en.scores[reference].y_psnr for en in entries]
    # Bars fill about 720 px whatever the number of images, within 3..40 px each.
    bar, gap, left, top, height = min(40, max(3, 720 // max(1, len(gains)) - 1)), 1, 48, 12, 200
    width = left + len(gains) * (bar + gap) + 10
    # Axis from -span to +span dB, dropping the side no bar reaches; whole dB so plots compare.
    largest = max((abs(g) for g in gains if math.isfinite(g)), default=1.0)
    step = max(1, math.ceil(largest / 3))  # whole dB between grid lines, at most 3 per side
    span = max(1, math.ceil(largest / step)) * step
    lo = -span if min(gains, default=0.0) < 0 else 0.0
    hi = span if max(gains, default=0.0) > 0 or lo == 0.0 else 0.0
    scale_y = height / (hi - lo)

    def to_y(v: float) -> float:
        return top + (hi - v) * scale_y

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 40}" role="img" aria-label="gain of {e(model)} over {e(reference)} per image">']
    for tick in range(int(lo), int(hi) + 1, step):
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{to_y(tick):.1f}" y2="{to_y(tick):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 4}" y="{to_y(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick:+d}</text>')
    previous_set = None
    for k, (entry, g) in enumerate(zip(entries, gains)):
        x = left + k * (bar + gap)
        y0, y1 = sorted((to_y(0.0), to_y(g)))
        colour = "#2166ac" if g >= 0 else "#b2182b"
        parts.append(f'<a href="#{anchor(entry)}"><rect x="{x}" y="{y0:.1f}" width="{bar}" height="{max(y1 - y0, 0.5):.1f}" fill="{colour}">'
                     f'<title>{e(entry.set)}/{e(entry.image)}: {g:+.2f} dB</title></rect></a>')
        if entry.set != previous_set:
            parts.append(f'<line x1="{x - gap / 2}" x2="{x - gap / 2}" y1="{top}" y2="{top + height + 14}" stroke="#888"/>'
                         f'<text x="{x + 2}" y="{top + height + 28}" font-size="12">{e(entry.set)}</text>')
            previous_set = entry.set
    parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{to_y(0):.1f}" y2="{to_y(0):.1f}" stroke="#000"/>'
                 f'<text x="4" y="{top + height / 2}" font-size="11" transform="rotate(-90 10 {top + height / 2})">dB</text></svg>')
    return "".join(parts)


def legends() -> str:
    values = [math.expm1(t * math.log1p(ERROR_CEILING)) for t in (0.0, 0.25, 0.5, 0.75)]
    ticks = "".join(f"<i>{v:.0f}</i>" for v in values) + f"<i>&ge;{ERROR_CEILING:.0f}</i>"
    gain = "".join(f"<i>{v}</i>" for v in ("model worse", "same", "model better"))
    return (f'<div class="legend">squared error on Y (levels&sup2;, log scale)<img src="img/legend-error.png" alt="error colour scale"><span>{ticks}</span></div>'
            f'<div class="legend">squared error, baseline minus model<img src="img/legend-gain.png" alt="gain colour scale"><span>{gain}</span></div>')


def image_section(config: ReportConfig, entry: ImageEntry) -> str:
    ref = entry.scores[config.reference]
    rows = "".join(
        f"<tr><td class=name>{e(m)}</td><td>{fmt_db(s.y_psnr)}</td><td>{s.y_ssim:.4f}</td><td>{fmt_db(s.rgb_psnr)}</td><td>{s.seconds:.3f}</td>{signed(s.y_psnr - ref.y_psnr)}</tr>"
        for m, s in entry.scores.items()
    )
    table = f"<table><tr><th>method</th><th>Y-PSNR</th><th>SSIM</th><th>RGB PSNR</th><th>s</th><th>gain</th></tr>{rows}</table>"
    f = entry.files
    y, x, side = entry.crop
    crops = [figure(f["lr"], "LR (nearest)", "crop"), figure(f[f"sr-{config.reference}"], f"{e(config.reference)} {fmt_db(ref.y_psnr)} dB", "crop")]
    crops += [figure(f[f"sr-{m}"], f"{e(m)} {fmt_db(entry.scores[m].y_psnr)} dB", "crop") for m in config.models]
    crops.append(figure(f["hr"], "HR", "crop"))
    heat = [figure(f[f"error-{m}"], f"squared error, {e(m)}", "heat") for m in [config.reference, *config.models]]
    heat += [figure(f[f"gain-{m}"], f"where {e(m)} beats {e(config.reference)} (5x5 mean)", "heat") for m in config.models]
    return (f'<section class="image" id="{anchor(entry)}"><h3>{e(entry.set)} / {e(entry.image)}</h3>'
            f'{figure(f["overview"], f"LR, crop at x={x}, y={y} ({side} px HR)", "heat")}{table}'
            f'<div>{"".join(crops)}</div><div>{"".join(heat)}</div></section>')


def patch_block(config: ReportConfig, title: str, model: str, patches: list[RankedPatch]) -> str:
    cells = []
    for p in patches:
        labels = {"hr": "HR", "reference": config.reference, "model": model}
        pics = "".join(f'<img class="patch" src="{e(p.files[w])}" alt="{e(label)}" title="{e(label)}">' for w, label in labels.items())
        cells.append(f"<figure>{pics}<figcaption>{e(p.image)} ({p.x}, {p.y}): {fmt_db(p.psnr)} dB<br>{e(config.reference)} {fmt_db(p.reference_psnr)} dB</figcaption></figure>")
    return f"<h4>{title}</h4><p>each: HR | {e(config.reference)} | {e(model)}</p><div>{''.join(cells)}</div>"


def catalog_figures(entries: list[CatalogEntry], set_name: str, label) -> str:
    """LR | every method | HR crops of a catalog set's showcased images; label(scores) -> caption suffix."""
    blocks = []
    for entry in (en for en in entries if en.set == set_name):
        y, x, height, width = entry.crop
        figures = [figure(entry.files["lr"], "LR (nearest)", "wide")]
        figures += [figure(entry.files[f"sr-{m}"], f"{e(m)}{label(entry.scores.get(m, {}))}", "wide")
                    for m in entry.scores if f"sr-{m}" in entry.files]
        figures.append(figure(entry.files["hr"], f"HR{label(entry.scores.get(HR_METHOD, {}))}", "wide"))
        blocks.append(f"<h4>{e(entry.image)} (x={x}, y={y}, {width}x{height} HR px)</h4><div>{''.join(figures)}</div>")
    return "".join(blocks)


def _value(value: float | None, digits: int) -> str:
    if value is None:
        return ""
    return "&infin;" if math.isinf(value) else f"{value:.{digits}f}"


def text_section(config: ReportConfig, document: dict, catalog: list[CatalogEntry]) -> str:
    """OCR error (CER) and Y-PSNR of every method on each text set, then the crops."""
    info = document["catalog"]
    parts = ["<h2>Text legibility (generated text sets)</h2>",
             f"<p>Lines of product text at 9-16 px rendered by core/synthetic.py (text-own: the training fonts and words; "
             f"text-unseen: held-out fonts and words), LR by the protocol, enlarged by each method, then read by "
             f"{e(info['tesseract']) if info['tesseract'] else '<b>nobody</b>'}. OCR error = edit distance / characters of the truth "
             f"(lower is better); the HR row is Tesseract's own floor.</p>"]
    if not info["tesseract"]:
        parts.append(f'<p class="warning"><b>{e(TESSERACT_MISSING)}.</b> Only Y-PSNR is shown.</p>')
    for set_name in (s for s in TEXT_SETS if s in document["summary"]):
        ocr = info["ocr"].get(set_name, {})
        scores = document["summary"][set_name]
        rows = [f"<tr><td class=name>{HR_METHOD}</td><td>{_value(ocr.get(HR_METHOD, {}).get('cer'), 3)}</td><td></td><td></td></tr>"] if ocr else []
        for method, m in scores.items():
            css = ' class="model"' if method in config.models else ""
            halo = info["halo"].get(set_name, {}).get(method, {}).get("psnr")
            rows.append(f"<tr{css}><td class=name>{e(method)}</td><td>{_value(ocr.get(method, {}).get('cer'), 3)}</td>"
                        f"<td>{m['y_psnr']:.2f}</td><td>{_value(halo, 2)}</td></tr>")
        parts.append(f"<h3>{e(set_name)} ({next(iter(scores.values()))['images']} images)</h3>"
                     f"<table><tr><th>method</th><th>OCR error</th><th>Y-PSNR dB</th><th>halo PSNR dB</th></tr>{''.join(rows)}</table>")
        parts.append(catalog_figures(catalog, set_name, lambda s: f" CER {s['cer']:.3f}" if "cer" in s else ""))
    return "\n".join(parts)


def halo_section(config: ReportConfig, document: dict, catalog: list[CatalogEntry]) -> str:
    """The halo measure on the flat-graphics set, then crops where the first model's halo is largest."""
    halo = document["catalog"]["halo"].get(FLAT_SET, {})
    scores = document["summary"][FLAT_SET]
    rows = []
    for method, m in scores.items():
        css = ' class="model"' if method in config.models else ""
        h = halo.get(method, {})
        rows.append(f"<tr{css}><td class=name>{e(method)}</td><td>{_value(h.get('psnr'), 2)}</td><td>{_value(h.get('mse'), 2)}</td><td>{m['y_psnr']:.2f}</td></tr>")
    return (f"<h2>Flat-background halo (generated {e(FLAT_SET)})</h2>"
            f"<p>Boxes, badges, discs, rules and logo shapes on white or one flat colour (core/synthetic.py). Halo error: mean squared "
            f"error on Y over the flat HR pixels within {BAND} px of an edge (core/halo.py), as PSNR (higher = cleaner background).</p>"
            f"<table><tr><th>method</th><th>halo PSNR dB</th><th>halo MSE levels&sup2;</th><th>Y-PSNR dB</th></tr>{''.join(rows)}</table>"
            + catalog_figures(catalog, FLAT_SET, lambda s: f" {_value(s.get('halo_psnr'), 2)} dB" if s.get("halo_psnr") is not None else ""))


def render_page(config: ReportConfig, document: dict, entries: list[ImageEntry], ranked: dict, catalog: list[CatalogEntry] = ()) -> str:
    protocol = document["protocol"]
    parts = [
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>sr-eval report</title><style>{STYLE}</style></head><body>",
        "<h1>sr-eval report</h1>",
        f"<p>x{protocol['scale']}; LR: {e(protocol['lr'])}; Y-PSNR and SSIM on Y ({e(protocol['y'])}) with {protocol['shave']} pixels shaved; "
        f"models: {e(', '.join(config.models))}{' (8-view self-ensemble)' if document.get('tta') else ''}; compared with <b>{e(config.reference)}</b>. Data: results.json, images.csv, summary.csv, summary.md.</p>",
        "<h2>Scores (mean per set)</h2>", summary_table(config, document["summary"]),
    ]
    if "catalog" in document:
        if any(s in document["summary"] for s in TEXT_SETS):
            parts.append(text_section(config, document, list(catalog)))
        if FLAT_SET in document["summary"]:
            parts.append(halo_section(config, document, list(catalog)))
    for model in config.models:
        parts += [f"<h2>Gain of {e(model)} over {e(config.reference)} per image (Y-PSNR, dB)</h2>",
                  "<p>Click a bar to go to its image.</p>", gain_plot(entries, config.reference, model)]
    for (set_name, model), lists in ranked.items():
        parts.append(f"<h2>{e(set_name)}: best and worst {config.patch}x{config.patch} patches of {e(model)}</h2>")
        parts.append(patch_block(config, f"{len(lists['best'])} best by Y-PSNR", model, lists["best"]))
        parts.append(patch_block(config, f"{len(lists['worst'])} worst by Y-PSNR", model, lists["worst"]))
    parts += ["<h2>Images</h2>", legends()]
    parts += [image_section(config, entry) for entry in entries]
    parts.append("</body></html>")
    return "\n".join(parts)
