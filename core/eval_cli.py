"""`sr-eval`: the command line of the evaluation protocol (evaluate.py) and its report (report.py).

Library errors (EvalError, BaselineError, ImageError, ModelError) become one-line click errors
here, and only here; a wrong choice of methods (MethodChoiceError) is a usage error (exit 2).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from .baselines import BaselineError
from .data import list_images
from .catalog import IMAGES, TEXT_SETS, CatalogScorer, write_sets
from .evaluate import EvalError, ImageResult, ImageScore, MethodChoiceError, build_methods, evaluate_folder, summarise
from .image_io import ImageError, atomic_write
from .ocr import TESSERACT_MISSING, OcrError, tesseract_version
from .results import results_document, summary_markdown, write_csv, write_json


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
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
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
@click.option("--text", is_flag=True, help="Also the generated text sets (text-own, text-unseen): OCR error with Tesseract, Y-PSNR.")
@click.option("--halo", is_flag=True, help="Also the generated flat-graphics set; the halo measure on every generated set.")
@click.option("--catalog-images", type=click.IntRange(1, 1000), default=IMAGES, show_default=True, help="Images per generated set.")
def main(folders, models, baselines, externals, reference, jpeg_quality, out_dir, json_path, csv_path, crop, patch, patches, threads, tta, precision,
         text, halo, catalog_images) -> None:
    """Score models and baselines on folders of HR images with the standard x2 protocol,
    and optionally write a static HTML report (--out) with crops, error heat maps and patches.

    --text and --halo add the catalog sets rendered by core/synthetic.py (docs/evaluation.md)."""
    with tempfile.TemporaryDirectory(prefix="sr-eval-catalog-") as work:
        _run(list(folders), models, baselines, externals, reference, jpeg_quality, out_dir, json_path, csv_path, crop, patch, patches, threads,
             tta, precision, write_sets(Path(work), text, halo, catalog_images) if text or halo else [])


def _run(folders, models, baselines, externals, reference, jpeg_quality, out_dir, json_path, csv_path, crop, patch, patches, threads, tta,
         precision, catalog_folders: list[Path]) -> None:
    from .engine import ModelError

    if not folders and not catalog_folders:
        raise click.UsageError("give HR folders, --text or --halo")
    if out_dir:
        _check_outside(out_dir, folders)
    set_names = [f.name for f in folders + catalog_folders]
    if len(set(set_names)) != len(set_names):
        raise click.UsageError(f"two HR folders share a name ({', '.join(set_names)}): sets are named after their folders")
    try:
        methods, upscalers, scale = build_methods(models, baselines, externals, reference, threads, tta, precision)
    except MethodChoiceError as error:
        raise click.UsageError(str(error)) from None
    except (ModelError, BaselineError) as error:
        raise click.ClickException(str(error)) from None

    report = None
    if out_dir:
        from .report import Report, ReportConfig

        try:
            report = Report(out_dir, ReportConfig(reference=reference, models=list(upscalers), crop=crop, patch=patch, patches=patches, scale=scale))
        except OSError as error:
            raise click.ClickException(f"--out {out_dir}: cannot create it ({error.strerror or error})") from None
    scorer = None
    if catalog_folders:
        ocr = tesseract_version() is not None
        if not ocr and any(f.name in TEXT_SETS for f in catalog_folders):
            click.echo(f"warning: {TESSERACT_MISSING}; the text sets get Y-PSNR only", err=True)
        scorer = CatalogScorer({f.name: f for f in catalog_folders}, scale, ocr)

    def on_image(result: ImageResult) -> None:
        catalog = scorer.add(result) if scorer else {}
        if report:
            report.add_image(result)
            if catalog:
                report.add_catalog(result, catalog)

    bar = _progress_bar(sum(len(list_images(f)) for f in folders + catalog_folders))
    rows: list[ImageScore] = []
    try:
        for folder in folders + catalog_folders:
            rows += evaluate_folder(folder, methods, scale, jpeg_quality, on_image=on_image,
                                    on_progress=(lambda note, done: (bar.set_postfix_str(note, refresh=False), bar.update(done))) if bar else None)
    except (EvalError, BaselineError, ImageError, ModelError, OcrError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # the report's folders could not be made
        raise click.ClickException(f"cannot write the report: {error}") from None
    finally:
        if bar:
            bar.close()

    summary = summarise(rows)
    width = max([8, *map(len, summary)])
    click.echo(f"{'set':{width}} {'method':28} {'Y-PSNR':>8} {'SSIM':>7} {'RGB-PSNR':>9} {'s/img':>7}")
    for set_name, by_method in summary.items():
        for method, m in by_method.items():
            click.echo(f"{set_name:{width}} {method:28} {m['y_psnr']:8.3f} {m['y_ssim']:7.4f} {m['rgb_psnr']:9.3f} {m['seconds']:7.3f}")
    if scorer:
        _echo_catalog(scorer.document())
    from .engine import describe

    model_names = list(upscalers)
    extra = {"model_metadata": {name: describe(u.info) for name, u in upscalers.items()}} | (report.json_extras() if report else {})
    if scorer:
        extra["catalog"] = scorer.document()
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


def _echo_catalog(catalog: dict) -> None:
    """The OCR error and halo PSNR per generated set and method, after the main table."""
    click.echo(f"\n{'set':14} {'method':28} {'OCR error':>9} {'halo dB':>8}   ({catalog['tesseract'] or TESSERACT_MISSING})")
    for set_name, by_method in catalog["halo"].items():
        ocr = catalog["ocr"].get(set_name, {})
        for method in [m for m in ocr if m not in by_method] + list(by_method):
            cer = f"{ocr[method]['cer']:9.3f}" if method in ocr else f"{'':9}"
            psnr = by_method.get(method, {}).get("psnr")
            click.echo(f"{set_name:14} {method:28} {cer} {'' if psnr is None else f'{psnr:8.2f}':>8}")


if __name__ == "__main__":
    sys.exit(main())
