"""The `sr-scale` command. Thin click layer over job.py (one file) and batch.py (several);
the engine is imported only when work is done, so `--help` and `--version` answer instantly.

ImageMagick habits: `sr-scale IN [-resize GEOMETRY] [-quality N] [-strip] [-unsharp 0x1 ...] OUT`.
Options sr-scale does not implement are taken out of the command line before click parses it
(their arity comes from passthrough.arity) and handed to ImageMagick, in order, after the AI step.

Exit codes: 0 success, 1 error (bad input, model, write; in a batch: any file failed), 2 usage error.
"""
from __future__ import annotations

import sys

import click

from sr_scale.core import __version__

from .geometry import Geometry, GeometryType

OPERATIONS_KEY = "sr_scale.operations"


class ImageMagickCommand(click.Command):
    """A click command that first lifts ImageMagick pass-through options out of the arguments."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from .passthrough import UnknownOption, arity, check_known, looks_like_option

        own = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                takes = 0 if param.is_flag or param.count else param.nargs
                for name in param.opts + param.secondary_opts:
                    own[name] = takes
        kept, operations, i = [], [], 0
        while i < len(args):
            token = args[i]
            if token == "--":
                kept.extend(args[i:])
                break
            name = token.split("=", 1)[0] if token.startswith("--") else token
            if name in own or token.startswith("--") or not looks_like_option(token):
                takes = own.get(name, 0) if "=" not in token else 0
                kept.extend(args[i : i + 1 + takes])
                i += 1 + takes
                continue
            try:  # named before anything else: an unknown option would otherwise take OUT as its argument
                check_known(token)
            except UnknownOption as error:
                raise click.UsageError(str(error), ctx) from None
            takes = arity(token)
            if i + takes >= len(args):
                raise click.UsageError(f"{token}: needs {takes} argument{'s' if takes > 1 else ''}", ctx)
            operations.append(args[i : i + 1 + takes])
            i += 1 + takes
        ctx.meta[OPERATIONS_KEY] = operations
        return super().parse_args(ctx, kept)


@click.command(cls=ImageMagickCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", metavar="IN... OUT", nargs=-1, required=True)
@click.option("-resize", "resize", type=GeometryType(), help="ImageMagick geometry: 200%, 800x600, 800x600^, 800x600!, 800x600>, 800x600<, 1000000@.")
@click.option("-quality", "--quality", "quality", type=click.IntRange(1, 100), help="JPEG/WebP quality [default: the input JPEG's, else 92].")
@click.option("-strip", "--strip", "strip", is_flag=True, help="Drop ICC, EXIF, XMP and comments.")
@click.option("--scale", type=click.Choice(["2", "4"]), help="Enlargement without -resize [default: 2].")
@click.option("--model", default="x2", show_default=True, help="Embedded model name or path to an .onnx file.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["auto", "float32", "int8"]), default="auto", show_default=True,
              help="auto: the model's int8 copy on CPUs with int8 dot products (VNNI, dotprod), else float32.")
@click.option("--threads", type=click.IntRange(min=0), default=0, help="CPU threads per model run (0 = all cores).")
@click.option("--tile", type=click.IntRange(min=0), default=None, help="Largest tile side in input pixels (0 = whole image) [default: planned per image, at least 128].")
@click.option("--tta", is_flag=True, help="Average over the 8 flips/rotations: best quality, 8x the time.")
@click.option("-o", "--output-dir", "output_dir", type=click.Path(file_okay=False), help="Batch: write every input into this folder.")
@click.option("--suffix", default="", help="Batch: added to each output name before the extension, e.g. _x2.")
@click.option("--recursive", is_flag=True, help="Batch: also take images in subfolders (their paths are kept).")
@click.option("--jobs", type=click.IntRange(min=0), default=0,
              help="Batch: files processed at once, sharing the cores [default: 0 = one per CPU core].")
@click.option("--overwrite", is_flag=True, help="Batch: replace existing outputs (they are skipped otherwise).")
@click.option("-v", "--verbose", is_flag=True, help="Details on stderr, e.g. why CUDA was not used.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Refuse larger inputs, from the header [default: 128000000].")
@click.version_option(__version__, "--version", prog_name="sr-scale")
@click.pass_context
def main(ctx: click.Context, paths: tuple[str, ...], resize: Geometry | None, quality: int | None, strip: bool, scale: str | None,
         model: str, device: str, precision: str, threads: int, tile: int | None, tta: bool, output_dir: str | None, suffix: str,
         recursive: bool, jobs: int, overwrite: bool, verbose: bool, max_pixels: int | None) -> None:
    """Enlarge images with a Residual Dense Network, the ImageMagick way.

    \b
    sr-scale IN OUT                      2x (OUT's extension or fmt: prefix picks the format)
    sr-scale IN -resize 300% OUT         model passes, then an exact resample
    sr-scale IN -resize 200% -unsharp 0x1 OUT   other options go to ImageMagick, in order
    sr-scale - png:-  <in.jpg >out.png   pipes
    sr-scale -o DIR [--suffix _x2] [--recursive] [--jobs N] IN...   batches
    """
    from sr_scale.core.engine import ModelError
    from sr_scale.core.image_io import DEFAULT_MAX_PIXELS, ImageError

    from .job import LazyUpscaler, ModelOptions, Settings

    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="sr-scale: %(message)s")
    if resize is not None and scale is not None:
        raise click.UsageError("use either --scale or -resize, not both", ctx)
    if output_dir is None and len(paths) != 2:
        raise click.UsageError("give IN OUT, or several inputs with -o DIR", ctx)
    operations = ctx.meta.get(OPERATIONS_KEY, [])
    try:
        binary = _imagemagick_for(operations, ctx)
        settings = Settings(geometry=resize, scale=int(scale or 2), quality=quality, strip=strip, operations=operations,
                            imagemagick=binary, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
        if output_dir is not None:
            from sr_scale.core.threads import plan_batch

            plan = plan_batch(jobs, threads)  # one job per usable CPU, sharing them
            jobs, threads = plan.jobs, plan.threads
        upscaler = LazyUpscaler(ModelOptions(model, device, threads, tile, tta, precision))
        if output_dir is None:
            _one(paths[0], paths[1], settings, upscaler)
        else:
            _batch(list(paths), output_dir, suffix, recursive, jobs, overwrite, settings, upscaler)
    except (ImageError, ModelError) as error:
        raise click.ClickException(str(error)) from None


def _imagemagick_for(operations: list[list[str]], ctx: click.Context) -> str | None:
    if not operations:
        return None
    from .passthrough import UnknownOption, check_available

    try:
        return check_available(operations)
    except UnknownOption as error:
        raise click.UsageError(str(error), ctx) from None


def _one(source: str, output: str, settings, upscaler) -> None:
    from .job import parse_endpoint, run

    run(parse_endpoint(source), parse_endpoint(output), settings, upscaler)


def _batch(inputs: list[str], output_dir: str, suffix: str, recursive: bool, jobs: int, overwrite: bool, settings, upscaler) -> None:
    from pathlib import Path

    from .batch import collect, run_batch

    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.ClickException(f"{output_dir}: cannot create the output folder ({error.strerror})") from None
    tasks = collect(inputs, out, suffix, recursive)
    if not tasks:
        raise click.ClickException(f"no images found in {', '.join(inputs)}")
    summary = run_batch(tasks, settings, upscaler, jobs, overwrite)
    click.echo(summary.line(), err=True)
    if summary.failed:
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
