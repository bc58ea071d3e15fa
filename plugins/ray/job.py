"""One run of the catalog job: list, skip what exists, enlarge the rest on Ray, write the manifest."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from sr_scale.core.engine import ModelError
from sr_scale.core.pipeline import ModelOptions, Settings

from .catalog import CatalogError, existing_outputs, join_location, list_catalog, resolve
from .convert import FAILED, SKIPPED, WRITTEN
from .manifest import MANIFEST_NAME, MANIFEST_SCHEMA, Counts, previous_failures, write_manifest
from .pipeline import plan_actors, run_pipeline


@dataclass(frozen=True)
class JobOptions:
    """What to enlarge and how to spread it; None means the default chosen from the cluster."""

    inputs: list[str]
    output_dir: str
    suffix: str = ""
    recursive: bool = False
    overwrite: bool = False
    manifest: str | None = None  # default: OUT/_sr_scale_manifest.parquet
    retry_failed: bool = False  # else inputs that failed in the previous manifest are not tried again
    actors: int | None = None
    threads: int | None = None
    gpus_per_actor: float = 1.0
    batch_size: int = 4


@dataclass(frozen=True)
class RayOptions:
    """Where to run: a cluster address, or a Ray started here with these CPUs and object store (MiB)."""

    address: str | None = None
    num_cpus: int | None = None
    object_store_mb: int | None = None


def run_job(job: JobOptions, settings: Settings, options: ModelOptions, ray_options: RayOptions,
            report: Callable[[str], None] = lambda line: None,
            report_written: Callable[[str, str], None] | None = None) -> Counts:
    """Enlarge every input not yet done; `report` gets one line per failed file, `report_written`
    (source, restoration) each written one (for -v). Returns the counts."""
    catalog = list_catalog(job.inputs, job.output_dir, job.suffix, job.recursive)
    if catalog.tasks.num_rows == 0:
        raise CatalogError(f"no images found in {', '.join(job.inputs)}")
    manifest_fs, manifest_path = resolve(job.manifest or join_location(job.output_dir, MANIFEST_NAME))
    done = set() if job.overwrite else existing_outputs(catalog, job.output_dir)
    exists = pc.is_in(catalog.tasks.column("target_path"), value_set=pa.array(sorted(done), pa.string()))
    skipped, todo = catalog.tasks.filter(exists), catalog.tasks.filter(pc.invert(exists))
    batches: list[Iterable[pa.Table]] = [[_skipped_rows(skipped)]]
    if not (job.overwrite or job.retry_failed):
        failed_before = previous_failures(manifest_fs, manifest_path)
        again = pc.is_in(todo.column("source"), value_set=failed_before.column("source").combine_chunks())
        batches.append([_carried_rows(todo.filter(again), failed_before)])
        todo = todo.filter(pc.invert(again))
    if todo.num_rows:
        _check_model(options)
    with _ray(ray_options, needed=todo.num_rows > 0):
        if todo.num_rows:
            plan = _plan(job, options)
            batches.append(run_pipeline(catalog, todo, plan, options, settings, job.batch_size))
        return write_manifest(manifest_fs, manifest_path, _reporting(batches, report, report_written))


def _skipped_rows(skipped: pa.Table) -> pa.Table:
    rows = skipped.num_rows
    return pa.table({
        "source": skipped.column("source"), "output": skipped.column("target"),
        "status": pa.array([SKIPPED] * rows, pa.string()), "error": pa.nulls(rows, pa.string()),
        "seconds": pa.array([0.0] * rows, pa.float64()), "restoration": pa.nulls(rows, pa.string()),
    }, schema=MANIFEST_SCHEMA)


def _carried_rows(carried: pa.Table, failed_before: pa.Table) -> pa.Table:
    """Inputs that failed last time, with last time's error: a broken file stays broken."""
    errors = dict(zip(failed_before.column("source").to_pylist(), failed_before.column("error").to_pylist()))
    rows = carried.num_rows
    return pa.table({
        "source": carried.column("source"), "output": carried.column("target"),
        "status": pa.array([FAILED] * rows, pa.string()),
        "error": pa.array([errors[source] for source in carried.column("source").to_pylist()], pa.string()),
        "seconds": pa.array([0.0] * rows, pa.float64()), "restoration": pa.nulls(rows, pa.string()),
    }, schema=MANIFEST_SCHEMA)


def _reporting(sources: list[Iterable[pa.Table]], report: Callable[[str], None],
               report_written: Callable[[str, str], None] | None) -> Iterator[pa.Table]:
    for source in sources:
        for table in source:
            columns = [table.column(name).to_pylist() for name in ("source", "status", "error", "restoration")]
            for name, status, error, restoration in zip(*columns):
                if status == FAILED:
                    report(f"Error: {error}")
                elif status == WRITTEN and report_written is not None:
                    report_written(name, restoration)
            yield table


def _check_model(options: ModelOptions) -> None:
    """Load the model once on the driver (on CPU, which every driver has), so that a bad model file
    is a one-line error before Ray starts rather than a failure of every actor."""
    from sr_scale.core.engine import Upscaler

    for model in options.models_needed:
        Upscaler(model, device="cpu", threads=1)


def _plan(job: JobOptions, options: ModelOptions):
    import ray

    resources = ray.cluster_resources()
    gpus = 0.0 if options.device == "cpu" else resources.get("GPU", 0.0)
    if options.device == "cuda" and gpus == 0:
        raise ModelError("--device cuda: the Ray cluster has no GPUs")
    return plan_actors(resources.get("CPU", 1.0), gpus, job.actors, job.threads, job.gpus_per_actor)


@contextmanager
def _ray(ray_options: RayOptions, needed: bool) -> Iterator[None]:
    """Join or start Ray for the job (not when nothing is to be done); a Ray that was already
    running in this process (a notebook, a test) is used as it is and left running."""
    if not needed:
        yield
        return
    import ray

    if ray.is_initialized():
        yield
        return
    memory = ray_options.object_store_mb * 2**20 if ray_options.object_store_mb else None
    if ray_options.address is None:
        from sr_scale.core.threads import usable_cpus

        # Ray counts the host's cores; a pinned or quota-limited process has fewer (core/threads.py).
        ray.init(num_cpus=ray_options.num_cpus or usable_cpus(), object_store_memory=memory, include_dashboard=False,
                 logging_level=logging.WARNING)
    else:
        ray.init(address=ray_options.address, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()
