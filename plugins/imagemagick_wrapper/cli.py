"""The `sr-scale` command. Thin click layer: the engine is imported only when work is done,
so `--help` and `--version` answer instantly.

Exit codes: 0 success, 1 error (bad input, model, write), 2 usage error.
"""
from __future__ import annotations

import sys

import click

from sr_scale.core import __version__


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@click.option("--model", default="x2", show_default=True, help="Embedded model name or path to an .onnx file.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=0), default=0, help="CPU threads (0 = all cores).")
@click.option("--tile", type=click.IntRange(min=0), default=None, help="Tile side in input pixels (0 = whole image).")
@click.option("--quality", "-quality", type=click.IntRange(1, 100), default=92, show_default=True, help="JPEG/WebP quality.")
@click.version_option(__version__, "--version", prog_name="sr-scale")
def main(input_path: str, output_path: str, model: str, device: str, threads: int, tile: int | None, quality: int) -> None:
    """Enlarge image IN 2x with a Residual Dense Network and write OUT (format from its extension)."""
    from sr_scale.core.engine import DEFAULT_TILE, ModelError, Upscaler
    from sr_scale.core.image_io import ImageError, output_format, read_rgb, write_rgb

    try:
        _same_file_guard(input_path, output_path)
        output_format(output_path)  # refuse an unknown format before spending compute
        pixels = read_rgb(input_path)
        upscaler = Upscaler(model, device=device, threads=threads, tile=DEFAULT_TILE if tile is None else tile)
        write_rgb(upscaler.upscale(pixels), output_path, quality=quality)
    except (ImageError, ModelError) as error:
        raise click.ClickException(str(error)) from None


def _same_file_guard(input_path: str, output_path: str) -> None:
    import os

    from sr_scale.core.image_io import ImageError

    if os.path.exists(output_path) and os.path.exists(input_path) and os.path.samefile(input_path, output_path):
        raise ImageError(f"{output_path}: output is the input; refusing to overwrite it")


if __name__ == "__main__":
    sys.exit(main())
