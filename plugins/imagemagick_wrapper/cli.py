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
from sr_scale.core import cli_options as options

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
@options.enlargement(GeometryType())
@options.threads("0 = all cores, shared among --jobs in a batch")
@click.option("-o", "--output-dir", "output_dir", type=click.Path(file_okay=False), help="Batch: write every input into this folder.")
@options.suffix
@options.recursive
@click.option("--jobs", type=click.IntRange(min=0), default=0,
              help="Batch: files processed at once, sharing the cores [default: 0 = one per CPU core].")
@options.overwrite
@click.version_option(__version__, "--version", prog_name="sr-scale")
@click.pass_context
def main(ctx: click.Context, paths: tuple[str, ...], resize: Geometry | None, quality: int | None, strip: bool, scale: str | None,
         model: str | None, jpeg_quality, device: str, precision: str, threads: int | None, tile: int | None, tta: bool,
         max_pixels: int | None, verbose: bool, output_dir: str | None, suffix: str, recursive: bool, jobs: int, overwrite: bool) -> None:
    """Enlarge images with a Residual Dense Network, the ImageMagick way.

    \b
    sr-scale IN OUT                      2x (OUT's extension or fmt: prefix picks the format)
    sr-scale IN -resize 300% OUT         model passes, then an exact resample
    sr-scale IN -resize 200% -unsharp 0x1 OUT   other options go to ImageMagick, in order
    sr-scale - png:-  <in.jpg >out.png   pipes
    sr-scale -o DIR [--suffix _x2] [--recursive] [--jobs N] IN...   batches

    The model fits the input: JPEG-compressed ones (quality read from the file, or blocking seen in
    a PNG/TIFF/BMP) get the artefact-cancelling x2-jpeg (x2-jpeg-strong below quality 61), others
    x2; -v says what was detected.
    """
    from sr_scale.core.engine import ModelError
    from sr_scale.core.image_io import ImageError
    from sr_scale.core.pipeline import Upscalers

    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="sr-scale: %(message)s")
    if output_dir is None and len(paths) != 2:
        raise click.UsageError("give IN OUT, or several inputs with -o DIR", ctx)
    operations = ctx.meta.get(OPERATIONS_KEY, [])
    settings = options.to_settings(resize, scale, quality, strip, max_pixels, passthrough=_passthrough(operations, ctx))
    threads = threads or 0
    try:
        if output_dir is not None:
            from sr_scale.core.threads import plan_batch

            plan = plan_batch(jobs, threads)  # one job per usable CPU, sharing them
            jobs, threads = plan.jobs, plan.threads
        upscalers = Upscalers(options.to_model_options(model, jpeg_quality, device, precision, threads, tile, tta))
        if output_dir is None:
            _one(paths[0], paths[1], settings, upscalers, verbose)
        else:
            _batch(list(paths), output_dir, suffix, recursive, jobs, overwrite, settings, upscalers, verbose)
    except (ImageError, ModelError) as error:
        raise click.ClickException(str(error)) from None


def _passthrough(operations: list[list[str]], ctx: click.Context):
    """ImageMagick's pass-through options as the pipeline's pass-through step (None without any)."""
    if not operations:
        return None
    import functools

    from sr_scale.core.image_io import ImageError

    from .passthrough import UnknownOption, apply, check_available

    try:
        binary = check_available(operations)
    except UnknownOption as error:
        raise click.UsageError(str(error), ctx) from None
    except ImageError as error:
        raise click.ClickException(str(error)) from None
    return functools.partial(apply, operations=operations, binary=binary)


def _say(source, restoration) -> None:
    click.echo(f"sr-scale: {source}: {restoration.describe()}", err=True)


def _one(source: str, output: str, settings, upscalers, verbose: bool) -> None:
    from .job import parse_endpoint, run

    restoration = run(parse_endpoint(source), parse_endpoint(output), settings, upscalers)
    if verbose:
        _say(source, restoration)


def _batch(inputs: list[str], output_dir: str, suffix: str, recursive: bool, jobs: int, overwrite: bool, settings, upscalers,
           verbose: bool) -> None:
    from pathlib import Path

    from sr_scale.core.listing import collect

    from .batch import run_batch

    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.ClickException(f"{output_dir}: cannot create the output folder ({error.strerror})") from None
    tasks = collect(inputs, out, suffix, recursive)
    if not tasks:
        raise click.ClickException(f"no images found in {', '.join(inputs)}")
    report = (lambda task, restoration: _say(task.source, restoration)) if verbose else None
    summary = run_batch(tasks, settings, upscalers, jobs, overwrite, report)
    click.echo(summary.line(), err=True)
    if summary.failed:
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
