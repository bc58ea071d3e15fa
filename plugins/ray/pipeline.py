"""The Ray Data pipeline: catalog rows -> fetch tasks -> a pool of enlarging actors -> manifest rows.

Fetch tasks only read bytes (I/O, a tenth of a CPU each); each actor holds one onnxruntime session
(sr_scale.core.engine.Upscaler) and decodes, enlarges, encodes and stores, so only encoded files
ever travel through Ray's object store. Actors ask for a little less than a whole CPU each, so the
fetch tasks always find room: were the actors to take every CPU, reading would never be scheduled
and the job would stall (on a 2-CPU laptop, two actors take 1.8 CPUs and leave 0.2 for reading).
"""
from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.fs as pafs

from sr_scale.core.image_io import ImageError
from sr_scale.core.pipeline import ModelOptions, Settings, Upscalers

from .catalog import Catalog
from .convert import FAILED, Outcome, enlarge_and_store, fetch

FETCH_CPUS = 0.1  # reading a file is waiting on I/O
ACTOR_CPU_SHARE = 0.9  # of each core an actor's onnxruntime threads use: the rest is for fetching
ROWS_PER_BLOCK = 16  # small blocks spread a short job over every actor; capped by MAX_BLOCKS
MAX_BLOCKS = 20_000  # bounds the driver's bookkeeping for catalogs of millions


@dataclass(frozen=True)
class ActorPlan:
    """The actor pool: `actors` actors, each reserving `cpus` CPUs and `gpus` GPUs, running
    onnxruntime with `threads` intra-op threads."""

    actors: int
    cpus: float
    gpus: float
    threads: int


def plan_actors(cluster_cpus: float, cluster_gpus: float, actors: int | None = None, threads: int | None = None,
                gpus_per_actor: float = 1.0) -> ActorPlan:
    """One actor per GPU (per `gpus_per_actor`) when the cluster has GPUs, else one actor per
    `threads` CPUs; each reserves ACTOR_CPU_SHARE of its threads' CPUs so fetch tasks can run."""
    threads = threads or 1
    if cluster_gpus > 0:
        count = actors or max(1, math.floor(cluster_gpus / gpus_per_actor))
        return ActorPlan(count, ACTOR_CPU_SHARE, gpus_per_actor, threads)
    count = actors or max(1, math.floor(cluster_cpus / threads))
    cpus = min(ACTOR_CPU_SHARE * threads, (cluster_cpus - FETCH_CPUS) / count)
    if cpus <= 0:
        raise ValueError(f"{cluster_cpus} CPUs cannot hold {count} actors and a fetch task")
    return ActorPlan(count, round(cpus, 3), 0.0, threads)


def fetch_batch(batch: pa.Table, filesystems: tuple[pafs.FileSystem, ...]) -> pa.Table:
    """Ray task: add the bytes of every source (`data`) and the error of those that cannot be read."""
    data, errors = [], []
    for fs_index, path, source in zip(batch.column("source_fs").to_pylist(), batch.column("source_path").to_pylist(),
                                      batch.column("source").to_pylist()):
        try:
            data.append(fetch(filesystems[fs_index], path, source))
            errors.append(None)
        except ImageError as error:
            data.append(None)
            errors.append(str(error))
    return batch.append_column("data", pa.array(data, pa.binary())).append_column("fetch_error", pa.array(errors, pa.string()))


class EnlargeActor:
    """Ray actor: one onnxruntime session, loaded when the actor starts so a bad model stops the job
    at once; turns fetched rows into manifest rows."""

    def __init__(self, options: ModelOptions, settings: Settings, output_fs: pafs.FileSystem):
        self.upscalers = Upscalers(options)
        for model in options.models_needed:
            self.upscalers.get(model)
        self.settings = settings
        self.output_fs = output_fs

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = {"source": [], "output": [], "status": [], "error": [], "seconds": [], "restoration": []}
        for row in batch.select(["source", "target", "target_path", "data", "fetch_error"]).to_pylist():
            if row["fetch_error"] is not None:
                outcome = Outcome(FAILED, row["fetch_error"])
            else:
                outcome = enlarge_and_store(row["data"], row["source"], self.output_fs, row["target_path"], row["target"],
                                            self.settings, self.upscalers)
            for name, value in zip(rows, (row["source"], row["target"], outcome.status, outcome.error, outcome.seconds,
                                          outcome.restoration)):
                rows[name].append(value)
        return pa.table(rows)


def run_pipeline(catalog: Catalog, todo: pa.Table, plan: ActorPlan, options: ModelOptions, settings: Settings,
                 batch_size: int) -> Iterator[pa.Table]:
    """Manifest rows for every row of `todo`, in batches, as the actors finish them."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()
    rows_per_block = max(ROWS_PER_BLOCK, math.ceil(todo.num_rows / MAX_BLOCKS))
    dataset = ray.data.from_arrow([todo.slice(start, rows_per_block) for start in range(0, todo.num_rows, rows_per_block)])
    fetched = dataset.map_batches(fetch_batch, batch_format="pyarrow", batch_size=batch_size, num_cpus=FETCH_CPUS,
                                  fn_kwargs={"filesystems": catalog.filesystems})
    enlarged = fetched.map_batches(
        EnlargeActor, batch_format="pyarrow", batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=plan.actors), num_cpus=plan.cpus, num_gpus=plan.gpus or None,
        fn_constructor_kwargs={"options": replace(options, threads=plan.threads), "settings": settings,
                               "output_fs": catalog.output_fs},
    )
    yield from enlarged.iter_batches(batch_format="pyarrow", batch_size=None)
