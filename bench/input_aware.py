"""The input-aware default against today's x2 and x2-jpeg and bicubic, on LR saved the ways catalogs save it.

    python -m bench.input_aware                                # the issue's full sweep, checked against the reference
    python -m bench.input_aware --set Set5 --writer pillow-420 # one set, one encoder (clean and re-saved PNG always)
    python -m bench.input_aware --make-reference --reference-models DIR|REVISION   # re-measure "today's" models
    python -m bench.input_aware --all-models --quality 88 --quality 90 ...         # every model forced: threshold table
    python -m bench.input_aware --model-file x2-jpeg=runs/new.onnx              # a retrained model, checked before it ships
    python -m bench.input_aware --tables FILE.json             # the tables of saved runs, without measuring
    python -m bench.input_aware --blocking                     # the blocking detector's accuracy
    python -m bench.input_aware --cost                         # the decision's time against the enlargement's

Per HR image of each set: the protocol's LR (sr_scale.core.evaluate.make_lr, MATLAB bicubic) is
written as a file (JPEG by Pillow 4:2:0 or by ImageMagick `convert -quality Q` with
`-sampling-factor 2x2` (4:2:0) or `1x1` (4:4:4) at each quality; a clean PNG; a Pillow q50 JPEG
re-saved as PNG), read back the way sr-scale reads it, and the pipeline's decision is taken on
that file (sr_scale.core.pipeline.restoration_for). The default's score is that of the model the
decision chose, run on the decoded LR by the same engine call sr-scale makes (int8, what `auto`
runs on CPUs with int8 dot products). Y-PSNR in dB with the protocol's shave, mean per set.

The issue's criteria are checked against **today's** x2 and x2-jpeg, the models shipped when the
input-aware default landed (before any retraining), whose scores on the same files are in the
committed REFERENCE JSON (`--make-reference` measured them; `--reference-models` names the model
files or the git revision to measure them from again, so a reviewer can reproduce them). Per point:
- the default within WITHIN_DB (WITHIN_RESAVED_DB on the re-saved PNGs) of the better of today's
  x2 and x2-jpeg, both as means over the same images;
- at q40 and q60 (STRONG), the default at least ABOVE_BICUBIC_DB above bicubic.
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import click
import numpy as np
from PIL import Image

from sr_scale.core.blocking import BLOCKED_FROM, blockiness
from sr_scale.core.data import list_images
from sr_scale.core.evaluate import bicubic_upscale, load_hr, make_lr
from sr_scale.core.image_io import read_image
from sr_scale.core.metrics import y_psnr
from sr_scale.core.pipeline import ModelOptions, restoration_for
from sr_scale.core.restoration import BLOCKING, CLEAN_MODEL, COMPRESSED_BELOW, COMPRESSED_MODEL, STRONG_MODEL, TABLES, USER

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "data" / "eval"
TRAIN = ROOT.parent / "shared" / "data" / "train"
REFERENCE = Path(__file__).with_name("results-input-aware-reference.json")
# The commit whose core/models/ holds "today's" x2 and x2-jpeg (float32 and int8), the models the
# reference was measured with: `--reference-models 35e7d07` extracts them from git.
REFERENCE_REVISION = "35e7d07"
SCALE = 2
SETS = ("Set5", "Set14", "B100")
DONE_SETS = ("Set14", "B100")  # the sets of the "done when"; Set5 is CI's (tests/test_input_aware_sweep.py)
QUALITIES = (40, 60, 75, 85, 92, 97)  # the grid
NEAR_THRESHOLD = (88, 90, 95)  # more qualities near COMPRESSED_BELOW, for --all-models threshold studies
WRITERS = ("pillow-420", "magick-420", "magick-444")
CLEAN, RESAVED = "clean PNG", "q50 re-saved PNG"
RESAVED_QUALITY = 50
STRONG = ("q40", "q60")  # the points that must beat bicubic by ABOVE_BICUBIC_DB
WITHIN_DB = 0.05  # the default may trail the better of today's models by at most this (dB)
WITHIN_RESAVED_DB = 0.15  # ... on JPEGs re-saved as PNG, where only the blocking detector can tell
ABOVE_BICUBIC_DB = 0.8  # the default's lead over bicubic at STRONG points (dB)
TODAY = (CLEAN_MODEL, COMPRESSED_MODEL)  # the models of the reference
THRESHOLDS = (86, 89, 91, 93, 96)  # candidates between the measured qualities 85, 88, 90, 92, 95


@dataclass
class Point:
    """One (set, writer, input) of the sweep; Y-PSNR in dB, means over `images`.

    forced: mean Y-PSNR of each model run on every file (the reference's x2 and x2-jpeg; with
    --all-models every model the decision chooses from). chosen: files per model the decision chose.
    per_image: name, detected quality and source, model chosen, and each method's Y-PSNR.
    """

    set: str
    writer: str
    input: str
    images: int
    bicubic: float
    default: float
    forced: dict[str, float]
    chosen: dict[str, int]
    per_image: list[dict] = field(repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.set, self.writer, self.input


@dataclass
class Check:
    """A point against the issue's criteria. best: the better of today's x2 and x2-jpeg (means over
    the point's images); gap = default - best; lead = default - bicubic (checked at STRONG only)."""

    point: Point
    today: dict[str, float]
    best: float
    gap: float
    allowed: float
    lead: float
    strong: bool

    @property
    def within(self) -> bool:
        return self.gap >= -self.allowed

    @property
    def above_bicubic(self) -> bool:
        return not self.strong or self.lead >= ABOVE_BICUBIC_DB

    @property
    def passed(self) -> bool:
        return self.within and self.above_bicubic

    def failures(self) -> list[str]:
        out = []
        if not self.within:
            out.append(f"{-self.gap:.3f} dB behind today's best (allowed {self.allowed:.2f})")
        if not self.above_bicubic:
            out.append(f"{self.lead:+.3f} dB over bicubic (needs {ABOVE_BICUBIC_DB:.1f}; short by {ABOVE_BICUBIC_DB - self.lead:.3f})")
        return out


def write_lr(lr: np.ndarray, path: Path, writer: str, quality: int | None) -> Path:
    """Save the LR as catalogs would: a JPEG of `writer` at `quality`, a clean PNG (quality None),
    or (writer "resaved") a Pillow JPEG at `quality` decoded and saved again as PNG."""
    if quality is None or writer == "resaved":
        pixels = lr if quality is None else np.asarray(Image.open(write_lr(lr, path.with_suffix(".jpg"), "pillow-420", quality)).convert("RGB"))
        Image.fromarray(pixels).save(path.with_suffix(".png"))
        return path.with_suffix(".png")
    path = path.with_suffix(".jpg")
    if writer == "pillow-420":
        Image.fromarray(lr).save(path, quality=quality, subsampling=2)
    else:
        source = path.with_suffix(".src.png")
        Image.fromarray(lr).save(source)
        sampling = "2x2" if writer == "magick-420" else "1x1"
        subprocess.run(["convert", str(source), "-quality", str(quality), "-sampling-factor", sampling, str(path)], check=True)
    return path


def kinds(writers: tuple[str, ...], qualities: tuple[int, ...]) -> list[tuple[str, str, int | None]]:
    """(writer, input label, quality) of every input kind of the sweep: each writer at each quality,
    then the clean PNG and the re-saved PNG."""
    out = [(writer, f"q{q}", q) for writer in writers for q in qualities]
    return out + [("png", CLEAN, None), ("resaved", RESAVED, RESAVED_QUALITY)]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Engines:
    """The engines of one run by model name, loaded on first use. `files` maps a name the decision
    gives (x2, x2-jpeg) to the model file to run for it (the reference's); others run as sr-scale would."""

    def __init__(self, precision: str, files: dict[str, str] | None = None):
        self.precision, self.files, self._loaded = precision, files or {}, {}

    def get(self, name: str):
        if name not in self._loaded:
            from sr_scale.core.engine import Upscaler

            self._loaded[name] = Upscaler(self.files.get(name, name), precision=self.precision)
        return self._loaded[name]

    def describe(self) -> dict[str, dict]:
        """What each loaded name ran: the file, its sha256, the precision it is."""
        return {name: {"file": str(e.path), "sha256": sha256(e.path), "precision": e.precision} for name, e in self._loaded.items()}


def sweep(set_name: str, writers: tuple[str, ...], qualities: tuple[int, ...], engines: Engines,
          forced: tuple[str, ...] = (), limit: int | None = None, on_point: Callable[[Point], None] | None = None,
          folder: Path | None = None) -> list[Point]:
    """Every input kind on the HR images of `folder` (default: the team's shared copy of the set).

    The default runs the model the decision chose for each file; the models in `forced` run on
    every file too (a forced model the decision chose is run once)."""
    paths = list_images(folder or EVAL / set_name)[:limit]
    hrs = [load_hr(path, SCALE) for path in paths]
    lrs = [make_lr(hr, SCALE) for hr in hrs]
    points = []
    with tempfile.TemporaryDirectory(prefix="sr-input-aware-") as work:
        for writer, label, quality in kinds(writers, qualities):
            per_image = []
            for i, (path, hr, lr) in enumerate(zip(paths, hrs, lrs)):
                picture = read_image(write_lr(lr, Path(work) / f"{i}", writer, quality))
                restoration = restoration_for(picture, ModelOptions())
                # ImageMagick writes a grey-looking RGB picture as a grey JPEG; the model takes RGB
                rgb = np.repeat(picture.pixels, 3, axis=2) if picture.pixels.shape[2] == 1 else picture.pixels
                scores = {name: y_psnr(engines.get(name).upscale(rgb), hr, SCALE) for name in forced}
                if restoration.model not in scores:
                    scores[restoration.model] = y_psnr(engines.get(restoration.model).upscale(rgb), hr, SCALE)
                per_image.append({"image": path.name, "quality": restoration.quality, "source": restoration.source,
                                  "model": restoration.model, "default": scores[restoration.model],
                                  "bicubic": y_psnr(bicubic_upscale(rgb, SCALE), hr, SCALE),
                                  **{name: scores[name] for name in forced}})
            point = summarise(set_name, writer, label, per_image, forced)
            points.append(point)
            if on_point:
                on_point(point)
    return points


def summarise(set_name: str, writer: str, label: str, per_image: list[dict], forced: tuple[str, ...]) -> Point:
    chosen: dict[str, int] = {}
    for image in per_image:
        chosen[image["model"]] = chosen.get(image["model"], 0) + 1
    return Point(set_name, writer, label, len(per_image), float(np.mean([i["bicubic"] for i in per_image])),
                 float(np.mean([i["default"] for i in per_image])),
                 {name: float(np.mean([i[name] for i in per_image])) for name in forced}, chosen, per_image)


def check(point: Point, reference: dict[tuple[str, str, str], Point]) -> Check:
    """The point against today's models on the same images (KeyError when the reference lacks them)."""
    today_point = reference[point.key]
    by_image = {image["image"]: image for image in today_point.per_image}
    images = [by_image[image["image"]] for image in point.per_image]
    today = {name: float(np.mean([image[name] for image in images])) for name in TODAY}
    best = max(today.values())
    allowed = WITHIN_RESAVED_DB if point.input == RESAVED else WITHIN_DB
    return Check(point, today, best, point.default - best, allowed, point.default - point.bicubic, point.input in STRONG)


def load_points(path: Path) -> list[Point]:
    return [Point(**p) for p in json.loads(Path(path).read_text())["points"]]


def load_reference(path: Path = REFERENCE) -> dict[tuple[str, str, str], Point]:
    return {point.key: point for point in load_points(path)}


def reference_models(source: str, folder: Path) -> dict[str, str]:
    """The x2 and x2-jpeg files (float32 path; the int8 copy beside it) of "today's" models: from
    `source`, a folder holding x2.onnx, x2-jpeg.onnx and their .int8.onnx copies, or a git
    revision whose core/models/ holds them (extracted into `folder`)."""
    names = {name: f"{name}.onnx" for name in TODAY}
    files = [f"{name}.onnx" for name in TODAY] + [f"{name}.int8.onnx" for name in TODAY]
    if Path(source).is_dir():
        missing = [file for file in files if not (Path(source) / file).is_file()]
        if missing:
            raise click.UsageError(f"--reference-models {source}: missing {', '.join(missing)}")
        return {name: str(Path(source) / file) for name, file in names.items()}
    for file in files:
        try:
            blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{source}:core/models/{file}"], capture_output=True, check=True).stdout
        except subprocess.CalledProcessError as error:
            raise click.UsageError(f"--reference-models {source}: neither a folder nor a git revision with core/models/{file} "
                                   f"({error.stderr.decode(errors='replace').strip().splitlines()[0] if error.stderr else 'git failed'})")
        (folder / file).write_bytes(blob)
    return {name: str(folder / file) for name, file in names.items()}


def machine() -> dict[str, str]:
    """Where a run was measured (int8 results may differ in the last digits between CPUs)."""
    import onnxruntime

    from sr_scale.core.engine import INT8_DOT_PRODUCT_FLAGS

    cpu, flags = platform.processor(), set()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = set(next(line.split(":", 1)[1].split() for line in lines if line.startswith(("flags", "Features"))))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "int8_flags": " ".join(sorted(flags & INT8_DOT_PRODUCT_FLAGS)),
            "onnxruntime": onnxruntime.__version__, "python": platform.python_version()}


def table(checks: list[Check]) -> str:
    """Markdown: per point today's x2 and x2-jpeg, bicubic, the default and the two checks."""
    lines = ["| set | LR saved by | input | today's x2 | today's x2-jpeg | bicubic | default | default - today's best | "
             "default - bicubic | models chosen | check |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in checks:
        p = c.point
        chosen = ", ".join(f"{name} {n}/{p.images}" for name, n in sorted(p.chosen.items()))
        verdict = "pass" if c.passed else "FAIL: " + "; ".join(c.failures())
        lines.append(f"| {p.set} | {p.writer} | {p.input} | {c.today[CLEAN_MODEL]:.2f} | {c.today[COMPRESSED_MODEL]:.2f} | "
                     f"{p.bicubic:.2f} | {p.default:.2f} | {_signed(c.gap, 3)} | {_signed(c.lead, 2)} | {chosen} | {verdict} |")
    return "\n".join(lines)


def _signed(value: float, digits: int) -> str:
    """`+0.000` for a value that rounds to zero (never `-0.000`)."""
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if float(text) == 0 else text


def forced_table(points: list[Point]) -> str:
    """Markdown: every forced model's mean per point, next to bicubic and the default."""
    names = sorted({name for p in points for name in p.forced})
    lines = ["| set | LR saved by | input | " + " | ".join(names) + " | bicubic | default | models chosen |",
             "|---|---|---|" + "---|" * len(names) + "---|---|---|"]
    for p in points:
        chosen = ", ".join(f"{name} {n}/{p.images}" for name, n in sorted(p.chosen.items()))
        lines.append(f"| {p.set} | {p.writer} | {p.input} | " + " | ".join(f"{p.forced[n]:.2f}" if n in p.forced else "" for n in names)
                     + f" | {p.bicubic:.2f} | {p.default:.2f} | {chosen} |")
    return "\n".join(lines)


def summary(checks: list[Check]) -> str:
    failed = [c for c in checks if not c.passed]
    lines = [f"{len(checks) - len(failed)} of {len(checks)} points pass."]
    lines += [f"- {c.point.set} {c.point.writer} {c.point.input}: " + "; ".join(c.failures()) for c in failed]
    return "\n".join(lines)


def default_at(point: Point, threshold: int) -> float:
    """The default's mean Y-PSNR had the threshold been `threshold` (same detections, same outputs;
    needs x2 and x2-jpeg forced on every file; files given to STRONG_MODEL keep it: its threshold is another)."""
    def score(image: dict) -> float:
        if image["model"] == STRONG_MODEL:
            return image["default"]
        return image[COMPRESSED_MODEL] if _x2_jpeg_at(image, threshold) else image[CLEAN_MODEL]

    return float(np.mean([score(image) for image in point.per_image]))


def _x2_jpeg_at(image: dict, threshold: int) -> bool:
    return image["source"] == BLOCKING or (image["quality"] is not None and image["quality"] < threshold
                                           and image["source"] in (TABLES, USER))


def threshold_table(points: list[Point], thresholds: tuple[int, ...]) -> str:
    """Worst and mean shortfall of a two-model default against the better model, per threshold."""
    points = [p for p in points if set(TODAY) <= set(p.forced)]
    lines = ["| threshold (x2-jpeg below) | worst default - best (dB) | at | mean default - best (dB) |", "|---|---|---|---|"]
    for threshold in thresholds:
        gaps = [(default_at(p, threshold) - max(p.forced[n] for n in TODAY), f"{p.set} {p.writer} {p.input}") for p in points]
        worst = min(gaps)
        lines.append(f"| {threshold} | {worst[0]:+.3f} | {worst[1]} | {np.mean([g for g, _ in gaps]):+.3f} |")
    return "\n".join(lines)


def blocking_accuracy(folders: list[Path], limit: int | None) -> list[dict]:
    """Share of LR images the detector calls blocked: clean (false positives), and JPEGs saved at
    q50/q75/q90 then re-saved as PNG (detections)."""
    rows = []
    for folder in folders:
        lrs = [make_lr(load_hr(path, SCALE), SCALE) for path in list_images(folder)[:limit]]
        for label, quality in (("clean", 0), ("q50 as PNG", 50), ("q75 as PNG", 75), ("q90 as PNG", 90)):
            values = [blockiness(make_lr_from(lr, quality)) for lr in lrs]
            rows.append({"set": folder.name, "input": label, "images": len(values),
                         "called_blocked": int(sum(v >= BLOCKED_FROM for v in values)),
                         "median_blockiness": float(np.median(values))})
    return rows


def make_lr_from(lr: np.ndarray, quality: int) -> np.ndarray:
    from sr_scale.core.degradations import jpeg

    return jpeg(lr, quality) if quality else lr


def decision_cost(side: int = 500) -> list[str]:
    """Time of the decision (tables, and the blocking check on decoded pixels) against the
    enlargement of the same side x side LR, taken in one run: PNG and q95 JPEG (both are checked
    for blocking; a JPEG below the threshold is decided from its header alone)."""
    import time

    from sr_scale.core.engine import Upscaler

    lr = np.tile(make_lr(load_hr(EVAL / "Set14" / "lenna.png", SCALE), SCALE), (2, 2, 1))[:side, :side]
    engine = Upscaler(CLEAN_MODEL)
    lines = []
    with tempfile.TemporaryDirectory() as work:
        for name, quality in (("PNG", None), ("JPEG q95", 95)):
            picture = read_image(write_lr(lr, Path(work) / "lr", "pillow-420", quality))
            started = time.perf_counter()
            for _ in range(5):
                restoration = restoration_for(picture, ModelOptions())
            decided = (time.perf_counter() - started) / 5
            started = time.perf_counter()
            engine.upscale(picture.pixels)
            enlarged = time.perf_counter() - started
            lines.append(f"{name} {side}x{side}: {restoration.describe()}; decision {decided * 1000:.1f} ms, "
                         f"enlargement {enlarged:.2f} s ({100 * decided / enlarged:.2f}% of it)")
    return lines


def _rounded(points: list[Point], digits: int = 4) -> list[dict]:
    """The points as JSON-ready dicts, dB rounded to `digits` (0.0001 dB is far below any criterion)."""
    def r(value):
        return round(value, digits) if isinstance(value, float) else value

    out = []
    for p in points:
        d = asdict(p)
        d.update(bicubic=r(p.bicubic), default=r(p.default), forced={k: r(v) for k, v in p.forced.items()},
                 per_image=[{k: r(v) for k, v in image.items()} for image in p.per_image])
        out.append(d)
    return out


def dump(body: dict) -> str:
    """JSON with one line per point (the reference stays small enough to diff and commit)."""
    head = {k: v for k, v in body.items() if k not in ("points", "checks")}
    lines = json.dumps(head, indent=1)[:-2].splitlines()
    for key in ("points", "checks"):
        if key in body:
            rows = ",\n".join("  " + json.dumps(row) for row in body[key])
            lines.append(f' ,"{key}": [\n{rows}\n ]' if lines[-1] != "{" else f' "{key}": [\n{rows}\n ]')
    return lines[0] + "\n" + "\n".join(lines[1:]) + "\n}\n"


def _check_json(c: Check) -> dict:
    return {"set": c.point.set, "writer": c.point.writer, "input": c.point.input, "today": c.today, "best": c.best,
            "default": c.point.default, "bicubic": c.point.bicubic, "gap": c.gap, "allowed": c.allowed, "lead": c.lead,
            "strong": c.strong, "within": c.within, "above_bicubic": c.above_bicubic, "passed": c.passed}


@click.command()
@click.option("--set", "sets", multiple=True, type=click.Choice(SETS),
              help=f"Sets to sweep [default: {', '.join(DONE_SETS)}; with --make-reference {', '.join(SETS)}].")
@click.option("--writer", "writers", multiple=True, type=click.Choice(WRITERS), help="JPEG encoders [default: all].")
@click.option("--quality", "qualities", multiple=True, type=click.IntRange(1, 100),
              help=f"JPEG qualities [default: the issue's {', '.join(map(str, QUALITIES))}; {', '.join(map(str, NEAR_THRESHOLD))} "
                   "are the threshold's neighbours].")
@click.option("--precision", type=click.Choice(["int8", "float32"]), default="int8", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many images per set.")
@click.option("--reference", "reference_file", type=click.Path(dir_okay=False), default=str(REFERENCE), show_default=True,
              help="Today's x2 and x2-jpeg per point (read; written by --make-reference).")
@click.option("--make-reference", is_flag=True, help="Measure the reference: today's x2 and x2-jpeg on every file, and the "
              "default they make; writes --reference.")
@click.option("--reference-models", "models_source", default=None, metavar="DIR|REVISION",
              help=f"With --make-reference: the models to measure, a folder with x2.onnx, x2-jpeg.onnx and their int8 copies, or a "
                   f"git revision [default: the embedded models; today's are those of {REFERENCE_REVISION}].")
@click.option("--model-file", "model_files", multiple=True, metavar="NAME=PATH",
              help="Run PATH (float32 .onnx; its .int8.onnx beside it) where the decision chooses NAME, e.g. a retrained "
                   "x2-jpeg before it ships; a NAME the decision never chooses (a candidate third model) runs on every file.")
@click.option("--all-models", is_flag=True, help="Also run every model the decision chooses from on every file (the threshold table).")
@click.option("--blocking", is_flag=True, help="Measure the blocking detector instead (training folders, then the sets).")
@click.option("--cost", is_flag=True, help="Time the decision against the enlargement instead.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the results as JSON here (kept up to date point by point).")
@click.option("--markdown", type=click.Path(dir_okay=False), default=None, help="Write the table (and the failing points) as Markdown here.")
@click.option("--tables", "saved", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Print the tables of saved --out or --reference files (merged; --set, --writer, --quality select) instead of measuring.")
def main(sets, writers, qualities, precision, limit, reference_file, make_reference, models_source, model_files, all_models, blocking,
         cost, out, markdown, saved) -> None:
    if cost:
        click.echo("\n".join(decision_cost()))
        return
    if blocking:
        folders = [TRAIN / "BSD200", TRAIN / "T91", TRAIN / "products"] + [EVAL / name for name in (sets or SETS)]
        rows = blocking_accuracy(folders, limit)
        click.echo(f"| folder | LR | images | called blocked (>= {BLOCKED_FROM}) | median blockiness |\n|---|---|---|---|---|")
        for row in rows:
            click.echo(f"| {row['set']} | {row['input']} | {row['images']} | {row['called_blocked']} | {row['median_blockiness']:.3f} |")
        if out:
            Path(out).write_text(json.dumps({"blocking": rows}, indent=1))
        return
    if models_source and not make_reference:
        raise click.UsageError("--reference-models goes with --make-reference")
    reference = {} if make_reference else load_reference(Path(reference_file))
    if saved:
        wanted = {(name, writer, label) for name in (sets or SETS)
                  for writer, label, _ in kinds(tuple(writers) or WRITERS, tuple(qualities) or QUALITIES + NEAR_THRESHOLD)}
        points = [p for file in saved for p in load_points(Path(file)) if p.key in wanted]  # --set/--writer/--quality select
        report(points, reference, markdown, command=None)
        return
    sets = sets or (SETS if make_reference else DONE_SETS)  # the reference holds Set5 too, for CI
    writers, qualities = tuple(writers) or WRITERS, tuple(qualities) or QUALITIES
    command = "python -m bench.input_aware " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="sr-reference-models-") as models_folder:
        files = reference_models(models_source, Path(models_folder)) if models_source else {}
        family = tuple(dict.fromkeys(ModelOptions().models_needed))  # what the decision chooses from
        given = dict(_name_and_path(text) for text in model_files)
        if make_reference and given:
            raise click.UsageError("--model-file does not go with --make-reference (use --reference-models)")
        files.update(given)
        if make_reference:
            forced = TODAY
        else:
            forced = (family if all_models else ()) + tuple(name for name in given if name not in family)
        engines = Engines(precision, files)
        points: list[Point] = []
        header = {"command": command, "threshold": COMPRESSED_BELOW, "precision": precision, "machine": machine(),
                  "reference_models": (models_source or "embedded") if make_reference else None}

        def save() -> None:
            body = {**header, "models": engines.describe(), "points": _rounded(points)}
            if make_reference:
                Path(reference_file).write_text(dump(body))
            if out:
                if not make_reference:
                    body["checks"] = [_check_json(check(p, reference)) for p in points if p.key in reference]
                Path(out).write_text(dump(body))

        def done(point: Point) -> None:  # each point as soon as it is measured: a long run keeps what it did
            points.append(point)
            label = f"{point.set} {point.writer} {point.input}: default {point.default:.3f}, bicubic {point.bicubic:.3f}"
            click.echo(label + "".join(f", {n} {v:.3f}" for n, v in point.forced.items()), err=True)
            save()

        for name in sets:
            sweep(name, writers, qualities, engines, forced, limit, on_point=done)
    report(points, load_reference(Path(reference_file)), markdown, command)


def _name_and_path(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise click.UsageError(f"--model-file {text!r}: give NAME=PATH of an existing .onnx file")
    return name, path


def report(points: list[Point], reference: dict, markdown: str | None, command: str | None) -> None:
    """Print (and write as Markdown) the checked table, the forced models' table when there are
    any, and the threshold table when x2 and x2-jpeg were forced."""
    checks = [check(p, reference) for p in points if p.key in reference]
    unchecked = [p for p in points if p.key not in reference]
    parts = [table(checks), summary(checks)]
    if unchecked:
        parts.append(f"{len(unchecked)} points have no reference (not in the issue's grid): "
                     + ", ".join(" ".join(p.key) for p in unchecked))
    if any(p.forced for p in points) or unchecked:
        parts.append(forced_table(points))
    if any(set(TODAY) <= set(p.forced) for p in points):
        parts.append(threshold_table(points, THRESHOLDS))
    text = "\n\n".join(parts)
    click.echo(text)
    if markdown:
        Path(markdown).write_text((f"    {command}\n\n" if command else "") + text + "\n")


if __name__ == "__main__":
    main()
