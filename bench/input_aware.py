"""The input-aware default against x2, x2-jpeg and bicubic, on LR saved the ways catalogs save it.

    python -m bench.input_aware                                   # the full sweep of docs/models.md
    python -m bench.input_aware --set Set5 --writer pillow-420    # one set, one encoder
    python -m bench.input_aware --blocking                        # the blocking detector's accuracy
    python -m bench.input_aware --cost                            # the decision's time against the enlargement's

Per HR image of each set: the protocol's LR (sr_scale.core.evaluate.make_lr, MATLAB bicubic) is
written as a file (JPEG by Pillow or ImageMagick at each quality, 4:2:0 or 4:4:4; clean PNG; a q50
JPEG re-saved as PNG), read back the way sr-scale reads it, and the pipeline's decision is taken
on that file (sr_scale.core.pipeline.restoration_for). Both models run on the decoded LR (int8,
as sr-scale runs them by default on CPUs with int8 dot products); the default's score is the
score of the model it chose for that file (the same engine call sr-scale makes). Y-PSNR with the
protocol's shave, averaged per set. Results as JSON (--out) and a Markdown table on stdout.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import click
import numpy as np
from PIL import Image

from sr_scale.core.blocking import BLOCKED_FROM, blockiness
from sr_scale.core.data import list_images
from sr_scale.core.evaluate import bicubic_upscale, load_hr, make_lr
from sr_scale.core.image_io import read_image
from sr_scale.core.metrics import y_psnr
from sr_scale.core.pipeline import ModelOptions, restoration_for
from sr_scale.core.restoration import BLOCKING, CLEAN_MODEL, COMPRESSED_BELOW, COMPRESSED_MODEL, TABLES, USER

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"
TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"
SCALE = 2
SETS = ("Set5", "Set14", "B100")
QUALITIES = (40, 60, 75, 85, 88, 90, 92, 95, 97)
WRITERS = ("pillow-420", "magick-420", "magick-444")
CLEAN, RESAVED = "clean PNG", "q50 re-saved PNG"
MODELS = (CLEAN_MODEL, COMPRESSED_MODEL)
THRESHOLDS = (86, 89, 91, 93, 96)  # candidates between the measured qualities 85, 88, 90, 92, 95


@dataclass
class Point:
    """One (set, input kind) of the sweep: mean Y-PSNR in dB, and how often each model was chosen."""

    set: str
    writer: str
    input: str
    images: int
    x2: float
    x2_jpeg: float
    bicubic: float
    default: float
    chose_x2_jpeg: int
    per_image: list[dict]  # name, detected quality and source, and each method's Y-PSNR

    @property
    def best(self) -> float:
        return max(self.x2, self.x2_jpeg)


def write_lr(lr: np.ndarray, path: Path, writer: str, quality: int | None) -> Path:
    """Save the LR as catalogs would: a JPEG of `writer` at `quality`, a clean PNG (quality None),
    or (writer "resaved") a Pillow q50 JPEG decoded and saved again as PNG."""
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
    """(writer, label, quality) of every input kind of the sweep."""
    out = [(writer, f"q{q}", q) for writer in writers for q in qualities]
    return out + [("png", CLEAN, None), ("resaved", RESAVED, 50)]


def sweep(set_name: str, writers: tuple[str, ...], qualities: tuple[int, ...], precision: str = "int8",
          limit: int | None = None, on_point=None, folder: Path | None = None) -> list[Point]:
    """Every input kind on the HR images of `folder` (default: the team's shared copy of the set)."""
    from sr_scale.core.engine import Upscaler

    engines = {name: Upscaler(name, precision=precision) for name in MODELS}
    paths = list_images(folder or EVAL / set_name)[:limit]
    hrs = [load_hr(path, SCALE) for path in paths]
    lrs = [make_lr(hr, SCALE) for hr in hrs]
    points = []
    with tempfile.TemporaryDirectory(prefix="sr-input-aware-") as work:
        for writer, label, quality in kinds(writers, qualities):
            scores = {"x2": [], "x2_jpeg": [], "bicubic": [], "default": []}
            chose, per_image = 0, []
            for i, (path, hr, lr) in enumerate(zip(paths, hrs, lrs)):
                file = write_lr(lr, Path(work) / f"{i}", writer, quality)
                picture = read_image(file)
                restoration = restoration_for(picture, ModelOptions())
                chose += restoration.model == COMPRESSED_MODEL
                # ImageMagick writes a grey-looking RGB picture as a grey JPEG; the model takes RGB
                rgb = np.repeat(picture.pixels, 3, axis=2) if picture.pixels.shape[2] == 1 else picture.pixels
                by_model = {name: y_psnr(engine.upscale(rgb), hr, SCALE) for name, engine in engines.items()}
                scores["x2"].append(by_model[CLEAN_MODEL])
                scores["x2_jpeg"].append(by_model[COMPRESSED_MODEL])
                scores["bicubic"].append(y_psnr(bicubic_upscale(rgb, SCALE), hr, SCALE))
                scores["default"].append(by_model[restoration.model])
                per_image.append({"image": path.name, "quality": restoration.quality, "source": restoration.source,
                                  "model": restoration.model, "x2": scores["x2"][-1], "x2_jpeg": scores["x2_jpeg"][-1],
                                  "bicubic": scores["bicubic"][-1]})
            point = Point(set_name, writer, label, len(hrs), **{k: float(np.mean(v)) for k, v in scores.items()},
                          chose_x2_jpeg=chose, per_image=per_image)
            points.append(point)
            if on_point:
                on_point(point)
    return points


def default_at(point: Point, threshold: int) -> float:
    """The default's mean Y-PSNR had the threshold been `threshold` (same detections, same outputs)."""
    return float(np.mean([image["x2_jpeg"] if _x2_jpeg_at(image, threshold) else image["x2"] for image in point.per_image]))


def _x2_jpeg_at(image: dict, threshold: int) -> bool:
    return image["source"] == BLOCKING or (image["quality"] is not None and image["quality"] < threshold
                                           and image["source"] in (TABLES, USER))


def at_threshold(point: Point, threshold: int) -> Point:
    """The point as the default would score it with `threshold` (saved runs of an older threshold)."""
    return replace(point, default=default_at(point, threshold),
                   chose_x2_jpeg=sum(_x2_jpeg_at(image, threshold) for image in point.per_image))


def threshold_table(points: list[Point], thresholds: tuple[int, ...]) -> str:
    """Worst and mean shortfall of the default against the better model, per threshold."""
    lines = ["| threshold (x2-jpeg below) | worst default - best (dB) | at | mean default - best (dB) |", "|---|---|---|---|"]
    for threshold in thresholds:
        gaps = [(default_at(p, threshold) - p.best, f"{p.set} {p.writer} {p.input}") for p in points]
        worst = min(gaps)
        lines.append(f"| {threshold} | {worst[0]:+.3f} | {worst[1]} | {np.mean([g for g, _ in gaps]):+.3f} |")
    return "\n".join(lines)


def table(points: list[Point]) -> str:
    lines = ["| set | LR saved by | input | x2 | x2-jpeg | bicubic | default | default - best | x2-jpeg chosen |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p.set} | {p.writer} | {p.input} | {p.x2:.2f} | {p.x2_jpeg:.2f} | {p.bicubic:.2f} | {p.default:.2f} | "
                     f"{p.default - p.best:+.3f} | {p.chose_x2_jpeg}/{p.images} |")
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


@click.command()
@click.option("--set", "sets", multiple=True, type=click.Choice(SETS), help="Sets to sweep [default: all three].")
@click.option("--writer", "writers", multiple=True, type=click.Choice(WRITERS), help="JPEG encoders [default: all].")
@click.option("--quality", "qualities", multiple=True, type=click.IntRange(1, 100), help=f"JPEG qualities [default: {QUALITIES}].")
@click.option("--precision", type=click.Choice(["int8", "float32"]), default="int8", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many images per set.")
@click.option("--blocking", is_flag=True, help="Measure the blocking detector instead (training folders, then the sets).")
@click.option("--cost", is_flag=True, help="Time the decision against the enlargement instead.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the results as JSON here.")
@click.option("--tables", "saved", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Print the tables of saved --out files (merged) instead of measuring.")
def main(sets, writers, qualities, precision, limit, blocking, cost, out, saved) -> None:
    if cost:
        click.echo("\n".join(decision_cost()))
        return
    if saved:
        points = [at_threshold(Point(**p), COMPRESSED_BELOW) for file in saved for p in json.loads(Path(file).read_text())["points"]]
        click.echo(table(points) + "\n\n" + threshold_table(points, THRESHOLDS))
        return
    if blocking:
        folders = [TRAIN / "BSD200", TRAIN / "T91", TRAIN / "products"] + [EVAL / name for name in (sets or SETS)]
        rows = blocking_accuracy(folders, limit)
        click.echo(f"| folder | LR | images | called blocked (>= {BLOCKED_FROM}) | median blockiness |\n|---|---|---|---|---|")
        for row in rows:
            click.echo(f"| {row['set']} | {row['input']} | {row['images']} | {row['called_blocked']} | {row['median_blockiness']:.3f} |")
        results = {"blocking": rows}
    else:
        points = []

        def done(point: Point) -> None:  # each point as soon as it is measured: a long run keeps what it did
            points.append(point)
            click.echo(table([point]).splitlines()[-1], err=True)
            if out:
                Path(out).write_text(json.dumps({"threshold": COMPRESSED_BELOW, "points": [asdict(p) for p in points]}, indent=1))

        for name in sets or SETS:
            sweep(name, tuple(writers) or WRITERS, tuple(qualities) or QUALITIES, precision, limit, on_point=done)
        click.echo(table(points))
        click.echo()
        click.echo(threshold_table(points, THRESHOLDS))
        results = {"threshold": COMPRESSED_BELOW, "points": [asdict(p) for p in points]}
    if out:
        Path(out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
