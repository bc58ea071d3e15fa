"""The command-line options `sr-scale` and `sr-scale-ray` share, declared once: names, types,
defaults and help. Each is a click decorator; `to_settings` and `to_model_options` turn their
values into the pipeline's dataclasses, so both commands build them the same way.

Nothing heavy is imported here: `--help` and `--version` must answer without loading the engine
(defaults that live in the engine are put into the help text only when the help is shown).
"""
from __future__ import annotations

import click

from .restoration import (CLEAN_MODEL, COMPRESSED_BELOW, COMPRESSED_MODEL, COMPRESSED_TEXT_MODEL, QUALITY_RANGE, STRONG_BELOW,
                          STRONG_MODEL, TEXT_MODEL, parse_quality)


class JpegQualityType(click.ParamType):
    """`--jpeg-quality`: 1..100 or `clean`; anything else is a usage error (exit 2) naming the range."""

    name = "N|clean"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, tuple):
            return value
        try:
            return (True, parse_quality(str(value)))
        except ValueError as error:
            self.fail(str(error), param, ctx)


class EngineDefaultOption(click.Option):
    """An option whose help names a default of the engine, read only when the help is shown."""

    def get_help_record(self, ctx):
        from .engine import DEFAULT_TILE

        self.help = self.help.format(tile=DEFAULT_TILE)
        return super().get_help_record(ctx)


def _model_help() -> str:
    return (f"Embedded model name or path to an .onnx file [default: chosen per input: {STRONG_MODEL} for JPEG "
            f"quality below {STRONG_BELOW}, {COMPRESSED_MODEL} below {COMPRESSED_BELOW} or JPEG blocking seen, "
            f"else {CLEAN_MODEL}; for text on a flat background {TEXT_MODEL}, or {COMPRESSED_TEXT_MODEL} when compressed].")




def resize(geometry_type: click.ParamType):
    """-resize, typed by the front end's geometry grammar (ImageMagick's, in the sr-scale wrapper)."""
    return click.option("-resize", "--resize", "resize", type=geometry_type, help="ImageMagick geometry: 200%, 800x600, "
                        "800x600^, 800x600!, 800x600>, 800x600<, 1000000@.")


quality = click.option("-quality", "--quality", "quality", type=click.IntRange(1, 100),
                       help="JPEG/WebP quality of the output [default: the input JPEG's, else 92].")
strip = click.option("-strip", "--strip", "strip", is_flag=True, help="Drop ICC, EXIF, XMP and comments.")
scale = click.option("--scale", type=click.Choice(["2", "4"]), help="Enlargement without -resize [default: 2].")
model = click.option("--model", default=None, help=_model_help())
jpeg_quality = click.option(
    "--jpeg-quality", "jpeg_quality", type=JpegQualityType(), default=None,
    help=f"The input's JPEG quality ({QUALITY_RANGE[0]}..{QUALITY_RANGE[1]}) or 'clean', instead of detecting it "
         "from the file's tables or blocking; picks the model as detection would.")
device = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                      help="auto: CUDA when onnxruntime has it (sr-scale-ray: one actor per GPU when the cluster has GPUs), else CPU.")
precision = click.option("--precision", type=click.Choice(["auto", "float32", "int8"]), default="auto", show_default=True,
                         help="auto: the model's int8 copy on CPUs with int8 dot products (VNNI, dotprod), else float32.")
tile = click.option("--tile", cls=EngineDefaultOption, type=click.IntRange(min=0), default=None,
                    help="Largest tile side in input pixels (0 = whole image) [default: planned per image, at least {tile}].")
tta = click.option("--tta", is_flag=True, help="Average over the 8 flips/rotations: best quality, 8x the time.")
max_pixels = click.option("--max-pixels", type=click.IntRange(min=1), default=None,
                          help="Refuse larger inputs, from the header [default: 128000000].")
suffix = click.option("--suffix", default="", help="Batch: added to each output name before the extension, e.g. _x2.")
recursive = click.option("--recursive", is_flag=True, help="Batch: also take images in subfolders (their paths are kept).")
overwrite = click.option("--overwrite", is_flag=True, help="Batch: replace existing outputs (they are skipped otherwise).")
verbose = click.option("-v", "--verbose", is_flag=True, help="Details on stderr: per file the JPEG quality detected (and how) "
                       "and the model used; why CUDA was not used.")


def threads(default_help: str):
    """--threads: tiles enlarged at once, one CPU thread each (engine.Upscaler's `threads`)."""
    return click.option("--threads", type=click.IntRange(min=0), default=None,
                        help=f"Tiles enlarged at once per file, one CPU thread each [default: {default_help}].")


def enlargement(geometry_type: click.ParamType):
    """Decorator: the options of the enlargement itself, in the order both commands show them."""
    def add(command):
        for option in reversed((resize(geometry_type), scale, quality, strip, model, jpeg_quality, device, precision,
                                tile, tta, max_pixels, verbose)):
            command = option(command)
        return command
    return add


def to_settings(resize, scale: str | None, quality: int | None, strip: bool, max_pixels: int | None, passthrough=None):
    """The pipeline's Settings from the shared options' values (UsageError for -resize with --scale)."""
    from .image_io import DEFAULT_MAX_PIXELS
    from .pipeline import Settings

    if resize is not None and scale is not None:
        raise click.UsageError("use either --scale or -resize, not both")
    return Settings(geometry=resize, scale=int(scale or 2), quality=quality, strip=strip, passthrough=passthrough,
                    max_pixels=max_pixels or DEFAULT_MAX_PIXELS)


def to_model_options(model: str | None, jpeg_quality: tuple[bool, int | None] | None, device: str, precision: str,
                     threads: int, tile: int | None, tta: bool):
    from .pipeline import ModelOptions

    given, quality_value = jpeg_quality or (False, None)
    return ModelOptions(model, device, threads, tile, tta, precision, quality_given=given, jpeg_quality=quality_value)
