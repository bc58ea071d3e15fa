"""The `sr-scale-ray` command: `sr-scale -o OUT IN...` as a Ray Data job, for catalogs too big for
one machine. Thin click layer; Ray, pyarrow and the engine are imported only when work is done.

Exit codes as sr-scale's: 0 success, 1 error (any file failed, bad model, cannot list), 2 usage error.
"""
from __future__ import annotations

import sys

import click

from sr_scale.core import __version__
from sr_scale.core import cli_options as options
from sr_scale.imagemagick_wrapper.geometry import Geometry, GeometryType

DEFAULT_BATCH_SIZE = 4  # files per actor call: enough to amortise Ray's per-call cost, small enough to spread


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", metavar="IN...", nargs=-1, required=True)
@click.option("-o", "--output-dir", "output_dir", required=True, help="Folder or URI (s3://bucket/out) to write into.")
@options.suffix
@options.recursive
@options.overwrite
@click.option("--retry-failed", is_flag=True, help="Try again the inputs that failed in the previous run's manifest.")
@options.enlargement(GeometryType())
@options.threads("1; each actor reserves about that many CPUs")
@click.option("--manifest", default=None, help="Parquet manifest path or URI [default: OUT/_sr_scale_manifest.parquet].")
@click.option("--address", default=None, help="Ray cluster to join (auto, ray://head:10001) [default: start Ray here].")
@click.option("--num-cpus", type=click.IntRange(min=1), default=None, help="CPUs for a Ray started here [default: all].")
@click.option("--object-store-mb", type=click.IntRange(min=75), default=None, help="Object store of a Ray started here, in MiB.")
@click.option("--actors", type=click.IntRange(min=1), default=None,
              help="Enlarging actors [default: one per GPU, else one per --threads CPUs].")
@click.option("--gpus-per-actor", type=click.FloatRange(0.01, 8), default=1.0, show_default=True,
              help="Below 1 shares a GPU between actors.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True, help="Files per actor call.")
@click.version_option(__version__, "--version", prog_name="sr-scale-ray")
def main(inputs: tuple[str, ...], output_dir: str, suffix: str, recursive: bool, overwrite: bool, retry_failed: bool, resize: Geometry | None,
         scale: str | None, quality: int | None, strip: bool, model: str | None, jpeg_quality, device: str, precision: str,
         tile: int | None, tta: bool, max_pixels: int | None, verbose: bool, threads: int | None, manifest: str | None,
         address: str | None, num_cpus: int | None, object_store_mb: int | None, actors: int | None, gpus_per_actor: float,
         batch_size: int) -> None:
    """Enlarge every image of IN... (folders, files, or URIs such as s3://bucket/photos) into OUT on
    Ray, with sr-scale's names, metadata, model choice and atomic writes. Outputs that exist are
    skipped, so a restarted job continues; the manifest records every input with its status,
    output, error and what was detected (the `restoration` column).

    \b
    sr-scale-ray -o out/ photos/                                  a Ray started on this machine
    sr-scale-ray --address auto -o s3://shop/x2 s3://shop/images  on the cluster this node is in
    """
    from sr_scale.core.engine import ModelError, model_path

    from .catalog import CatalogError
    from .job import JobOptions, RayOptions, run_job

    if address is not None and (num_cpus is not None or object_store_mb is not None):
        raise click.UsageError("--num-cpus and --object-store-mb size a Ray started here; a cluster (--address) has its own")
    settings = options.to_settings(resize, scale, quality, strip, max_pixels)
    model_options = options.to_model_options(model, jpeg_quality, device, precision, threads or 1, tile, tta)
    job = JobOptions(list(inputs), output_dir, suffix=suffix, recursive=recursive, overwrite=overwrite, manifest=manifest,
                     retry_failed=retry_failed, actors=actors, threads=threads, gpus_per_actor=gpus_per_actor,
                     batch_size=batch_size)
    ray_options = RayOptions(address, num_cpus, object_store_mb)
    try:
        for needed in model_options.models_needed:
            model_path(needed)  # a missing model is refused before Ray starts
        counts = run_job(job, settings, model_options, ray_options, report=lambda line: click.echo(line, err=True),
                         report_written=_say if verbose else None)
    except (CatalogError, ModelError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(counts.line(), err=True)
    if counts.failed:
        sys.exit(1)


def _say(source: str, restoration: str) -> None:
    click.echo(f"sr-scale-ray: {source}: {restoration}", err=True)


if __name__ == "__main__":
    sys.exit(main())
