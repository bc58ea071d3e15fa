"""`sr-eval`: the standard x2 protocol, run through the same engine `sr-scale` uses.

HR is cropped to a multiple of the scale, LR is MATLAB bicubic (optionally saved as JPEG),
and the score is Y-PSNR / SSIM with `scale` pixels shaved, averaged per set (data/README.md).
Every method (models and baselines) sees the same LR pixels. Images are handled one at a
time, so memory is bounded by one image and its outputs whatever the size of the folder.
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable

import click
import numpy as np

from .baselines import BaselineError, FileUpscaler, Upscale, bicubic
from .data import list_images
from .degradations import bicubic_downscale, crop_to_multiple, jpeg
from .image_io import ImageError, atomic_write, read_rgb, write_rgb

METRICS = ("y_psnr", "y_ssim", "rgb_psnr", "seconds")


class EvalError(Exception):
    """The evaluation cannot go on (no images, a method returned the wrong size, ...)."""


@dataclass
class ImageScore:
    """One method on one image. PSNR in dB (peak 255), SSIM in [-1, 1], seconds of wall time."""

    set: str
    image: str
    method: str
    y_psnr: float
    y_ssim: float
    rgb_psnr: float
    seconds: float


@dataclass
class ImageResult:
    """Everything known about one HR image once every method has run; handed to the report.

    hr and the SR outputs are uint8 (H, W, 3); lr is uint8 (H/s, W/s, 3).
    """

    set: str
    image: str
    hr: np.ndarray
    lr: np.ndarray
    sr: dict[str, np.ndarray]
    scores: dict[str, ImageScore]


def make_lr(hr: np.ndarray, scale: int, jpeg_quality: int = 0) -> np.ndarray:
    """The protocol's LR of a (cropped) uint8 HR image; JPEG round trip when jpeg_quality > 0."""
    lr = bicubic_downscale(hr, scale)
    return jpeg(lr, jpeg_quality) if jpeg_quality else lr


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The protocol's bicubic baseline: MATLAB imresize of the LR back to HR size."""
    return bicubic(scale)(lr)


def score(set_name: str, image: str, method: str, sr: np.ndarray, hr: np.ndarray, scale: int, seconds: float) -> ImageScore:
    from .metrics import rgb_psnr, y_psnr, y_ssim

    return ImageScore(set_name, image, method, y_psnr(sr, hr, scale), y_ssim(sr, hr, scale), rgb_psnr(sr, hr, scale), seconds)


def load_hr(path: Path, scale: int) -> np.ndarray:
    """HR as the protocol wants it: RGB (grey as three equal planes), cropped to a multiple of scale."""
    hr = crop_to_multiple(read_rgb(path), scale)
    if min(hr.shape[:2]) < 4 * scale:
        raise EvalError(f"{path}: {hr.shape[1]}x{hr.shape[0]} is too small to evaluate at x{scale}")
    return hr


def run_file_methods(
    paths: list[Path], methods: dict[str, FileUpscaler], scale: int, jpeg_quality: int, work: Path,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, tuple[list[Path], list[float]]]:
    """Write each image's LR once as PNG (lossless, so the pixels are exactly the protocol's LR)
    and let every file-based method process the whole list in one go."""
    lr_files = []
    for i, path in enumerate(paths):
        lr_files.append(work / "lr" / f"{i:06d}.png")
        lr_files[-1].parent.mkdir(exist_ok=True)
        write_rgb(make_lr(load_hr(path, scale), scale, jpeg_quality), lr_files[-1])
    outputs = {}
    for k, (name, method) in enumerate(methods.items()):
        if on_progress:
            on_progress(f"{name} on {len(paths)} images", 0)
        folder = work / f"sr{k}"
        folder.mkdir()
        sr_files = [folder / f"{i:06d}.png" for i in range(len(paths))]
        outputs[name] = (sr_files, method.upscale_files(list(zip(lr_files, sr_files)), scale))
    return outputs


def evaluate_folder(
    folder: Path,
    methods: dict[str, Upscale | FileUpscaler],
    scale: int,
    jpeg_quality: int = 0,
    on_image: Callable[[ImageResult], None] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> list[ImageScore]:
    """Score every method on every image of an HR folder (searched recursively).

    methods: name -> in-process callable (lr uint8 -> sr uint8) or FileUpscaler.
    on_image gets each image's full result (for pictures) before the next image is read;
    on_progress(note, images_done) is called before each file-method batch (0 images done)
    and after each image (1 done).
    """
    folder = Path(folder)
    paths = list_images(folder)
    if not paths:
        raise EvalError(f"{folder}: no images (png, jpg, webp, bmp, tif) found")
    file_methods = {name: m for name, m in methods.items() if isinstance(m, FileUpscaler)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sr-eval-") as work:
        outputs = run_file_methods(paths, file_methods, scale, jpeg_quality, Path(work), on_progress) if file_methods else {}
        for i, path in enumerate(paths):
            name = path.relative_to(folder).as_posix()
            hr = load_hr(path, scale)
            lr = make_lr(hr, scale, jpeg_quality)
            result = ImageResult(folder.name, name, hr, lr, {}, {})
            for method, upscale in methods.items():
                if method in outputs:
                    sr_files, seconds = outputs[method]
                    sr, elapsed = read_rgb(sr_files[i]), seconds[i]
                else:
                    started = time.perf_counter()
                    sr = upscale(lr)
                    elapsed = time.perf_counter() - started
                if sr.shape != hr.shape:
                    raise EvalError(f"{method} made {sr.shape[1]}x{sr.shape[0]} of {name}, expected {hr.shape[1]}x{hr.shape[0]}")
                result.sr[method] = sr
                result.scores[method] = score(folder.name, name, method, sr, hr, scale, elapsed)
                rows.append(result.scores[method])
            if on_image:
                on_image(result)
            if on_progress:
                on_progress(f"{folder.name}/{name}", 1)
    return rows


def summarise(rows: list[ImageScore]) -> dict[str, dict[str, dict[str, float]]]:
    """{set: {method: {y_psnr, y_ssim, rgb_psnr, seconds, images}}} with means over images."""
    summary: dict = {}
    for row in rows:
        summary.setdefault(row.set, {}).setdefault(row.method, []).append(row)
    return {
        s: {m: {k: float(np.mean([getattr(r, k) for r in rs])) for k in METRICS} | {"images": len(rs)} for m, rs in methods.items()}
        for s, methods in summary.items()
    }


def gains(rows: list[ImageScore], reference: str) -> dict[tuple[str, str], dict[str, float]]:
    """Y-PSNR of every other method minus the reference's, per image: {(set, image): {method: dB}}."""
    by_image: dict[tuple[str, str], dict[str, float]] = {}
    for row in rows:
        by_image.setdefault((row.set, row.image), {})[row.method] = row.y_psnr
    return {key: {m: v - scores[reference] for m, v in scores.items() if m != reference} for key, scores in by_image.items()}


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


# --- command line -------------------------------------------------------------------------

class ExternalSpec(click.ParamType):
    """NAME=COMMAND TEMPLATE, e.g. fsrcnn='peers-venv/bin/python upscale_peer.py fsrcnn {in} {out}'."""

    name = "NAME=COMMAND"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        name, sep, template = value.partition("=")
        if not sep or not name.strip() or not template.strip():
            self.fail(f"expected NAME=COMMAND with {{in}} and {{out}}, got {value!r}", param, ctx)
        from .baselines import ExternalCommand

        try:
            return name.strip(), ExternalCommand(template.strip())
        except BaselineError as error:
            self.fail(str(error), param, ctx)


def build_methods(
    models: Iterable[str], baselines: Iterable[str], externals: Iterable[tuple[str, FileUpscaler]], reference: str, threads: int,
    tta: bool = False, precision: str = "auto",
) -> tuple[dict[str, Upscale | FileUpscaler], dict, int]:
    """Baselines, external commands and models by display name, the models' Upscalers, and the scale.

    A model is named after its embedded name or its file's stem, plus ".int8" when its int8 copy
    is what runs (precision). Names must be unique.
    """
    from .baselines import baseline, default_baselines
    from .engine import Upscaler

    upscalers = {}
    for m in models:
        upscaler = Upscaler(m, threads=threads, tta=tta, precision=precision)
        name = Path(m).stem if m.lower().endswith(".onnx") else m
        upscalers[name + (".int8" if upscaler.precision == "int8" else "")] = upscaler
    for upscaler in upscalers.values():
        # onnxruntime allocates its buffers on the first run: keep that out of the first image's time.
        upscaler.upscale(np.zeros((16, 16, 3), np.uint8))
    scales = {u.scale for u in upscalers.values()}
    if len(scales) > 1:
        raise click.UsageError(f"the models have different scales ({sorted(scales)}): evaluate them separately")
    scale = scales.pop() if scales else 2
    externals = list(externals)
    names = list(baselines or default_baselines()) + [name for name, _ in externals] + list(upscalers)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise click.UsageError(f"two methods are named {duplicates[0]!r}: rename the --external one or the model file")
    methods: dict[str, Upscale | FileUpscaler] = {name: baseline(name, scale) for name in (baselines or default_baselines())}
    methods |= dict(externals)
    if reference not in methods:
        raise click.UsageError(f"--reference {reference!r} is not among the baselines ({', '.join(methods)})")
    methods |= {name: u.upscale for name, u in upscalers.items()}
    return methods, upscalers, scale


def _progress_bar(total: int):
    """A tqdm bar on an interactive terminal; None otherwise (logs stay clean)."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional for the runtime install
        return None
    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)


def _check_outside(out: Path, folders: list[Path]) -> None:
    """The report must not land inside an HR folder: its PNGs would be read as HR next time."""
    out = out.resolve()
    for folder in folders:
        if out == folder.resolve() or folder.resolve() in out.parents:
            raise click.UsageError(f"--out {out} is inside the HR folder {folder}: choose another folder")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "models", multiple=True, default=["x2"], show_default=True, help="Embedded name or .onnx path (repeatable).")
@click.option("--baseline", "baselines", multiple=True, metavar="NAME",
              help="bicubic, lanczos, gimp-cubic, gimp-nohalo (repeatable). Default: bicubic, lanczos, and GIMP's two when gimp-console-2.10 is installed.")
@click.option("--external", "externals", multiple=True, type=ExternalSpec(),
              help="Another upscaler as NAME='COMMAND ... {in} {out}' (repeatable), run once per image.")
@click.option("--reference", metavar="NAME", default="bicubic", show_default=True, help="Baseline the report compares the models with.")
@click.option("--jpeg", "jpeg_quality", type=click.IntRange(0, 100), default=0, help="Save LR as JPEG of this quality (0 = clean LR).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Write report.html, results.json, images.csv, summary.csv, summary.md and img/ here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the results JSON here.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the per-image CSV here.")
@click.option("--crop", type=click.IntRange(16, 1024), default=96, show_default=True, help="Side of the side-by-side crops, HR pixels.")
@click.option("--patch", type=click.IntRange(8, 256), default=32, show_default=True, help="Side of the ranked patches, HR pixels.")
@click.option("--patches", type=click.IntRange(0, 100), default=6, show_default=True, help="How many best and worst patches per model and set.")
@click.option("--threads", type=click.IntRange(min=0), default=0, help="CPU threads for the models (0 = all cores).")
@click.option("--tta", is_flag=True, help="Run the models as a self-ensemble over 8 flips/rotations (8x slower).")
@click.option("--precision", type=click.Choice(["auto", "float32", "int8"]), default="auto", show_default=True,
              help="As sr-scale's: auto runs a model's int8 copy on CPUs with int8 dot products; its name gets .int8.")
def main(folders, models, baselines, externals, reference, jpeg_quality, out_dir, json_path, csv_path, crop, patch, patches, threads, tta, precision) -> None:
    """Score models and baselines on folders of HR images with the standard x2 protocol,
    and optionally write a static HTML report (--out) with crops, error heat maps and patches."""
    from .engine import ModelError

    if out_dir:
        _check_outside(out_dir, list(folders))
    set_names = [f.name for f in folders]
    if len(set(set_names)) != len(set_names):
        raise click.UsageError(f"two HR folders share a name ({', '.join(set_names)}): sets are named after their folders")
    try:
        methods, upscalers, scale = build_methods(models, baselines, externals, reference, threads, tta, precision)
    except (ModelError, BaselineError) as error:
        raise click.ClickException(str(error)) from None

    report = None
    if out_dir:
        from .report import Report, ReportConfig

        try:
            report = Report(out_dir, ReportConfig(reference=reference, models=list(upscalers), crop=crop, patch=patch, patches=patches, scale=scale))
        except OSError as error:
            raise click.ClickException(f"--out {out_dir}: cannot create it ({error.strerror or error})") from None
    bar = _progress_bar(sum(len(list_images(f)) for f in folders))
    rows: list[ImageScore] = []
    try:
        for folder in folders:
            rows += evaluate_folder(folder, methods, scale, jpeg_quality,
                                    on_image=report.add_image if report else None,
                                    on_progress=(lambda note, done: (bar.set_postfix_str(note, refresh=False), bar.update(done))) if bar else None)
    except (EvalError, BaselineError, ImageError, ModelError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # the report's folders could not be made
        raise click.ClickException(f"cannot write the report: {error}") from None
    finally:
        if bar:
            bar.close()

    summary = summarise(rows)
    click.echo(f"{'set':8} {'method':28} {'Y-PSNR':>8} {'SSIM':>7} {'RGB-PSNR':>9} {'s/img':>7}")
    for set_name, by_method in summary.items():
        for method, m in by_method.items():
            click.echo(f"{set_name:8} {method:28} {m['y_psnr']:8.3f} {m['y_ssim']:7.4f} {m['rgb_psnr']:9.3f} {m['seconds']:7.3f}")
    from .engine import describe

    model_names = list(upscalers)
    extra = {"model_metadata": {name: describe(u.info) for name, u in upscalers.items()}} | (report.json_extras() if report else {})
    document = results_document(rows, reference, model_names, scale, jpeg_quality, extra, tta)
    try:
        if report:
            write_json(out_dir / "results.json", document)
            write_csv(out_dir / "images.csv", document["images"])
            write_csv(out_dir / "summary.csv", document["summary_table"])
            text = summary_markdown(document["summary"], reference, model_names)
            atomic_write(out_dir / "summary.md", lambda tmp: tmp.write_text(text))
            click.echo(f"report: {report.write(document)}")
        if json_path:
            write_json(json_path, document)
        if csv_path:
            write_csv(csv_path, document["images"])
    except ImageError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write the report: {error}") from None


if __name__ == "__main__":
    sys.exit(main())
