"""The job's manifest: one Parquet row per input with its status, output and error.

Written once at the end of a run, whole (a local temporary file, then one atomic store), so a
manifest is never partial; a run that dies leaves the previous one in place, and its restart
records the outputs already written as skipped.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .catalog import CatalogError
from .convert import FAILED, SKIPPED, WRITTEN, store

MANIFEST_NAME = "_sr_scale_manifest.parquet"  # leading underscore: data tools skip such files
MANIFEST_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("output", pa.string()),
    ("status", pa.string()),  # written | skipped | failed
    ("error", pa.string()),  # null unless failed: the one-line message sr-scale would print
    ("seconds", pa.float64()),  # wall time spent on the file by its actor (0 when skipped)
    ("restoration", pa.string()),  # written files: the JPEG quality detected and the model (`q75 (tables) -> x2-jpeg`)
])


@dataclass
class Counts:
    written: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, table: pa.Table) -> None:
        statuses = table.column("status").to_pylist()
        self.written += statuses.count(WRITTEN)
        self.skipped += statuses.count(SKIPPED)
        self.failed += statuses.count(FAILED)

    def line(self) -> str:
        return f"sr-scale-ray: {self.written} written, {self.skipped} skipped (output exists), {self.failed} failed"


def write_manifest(fs: pafs.FileSystem, path: str, batches: Iterable[pa.Table]) -> Counts:
    """Stream `batches` (MANIFEST_SCHEMA) into a Parquet file, store it at `path`, count statuses."""
    counts = Counts()
    with tempfile.TemporaryDirectory(prefix="sr-scale-ray-") as folder:
        local = Path(folder) / "manifest.parquet"
        with pq.ParquetWriter(local, MANIFEST_SCHEMA) as writer:
            for table in batches:
                table = table.select(MANIFEST_SCHEMA.names).cast(MANIFEST_SCHEMA)
                writer.write_table(table)
                counts.add(table)
        store(fs, path, local.read_bytes(), path)
    return counts


def read_manifest(fs: pafs.FileSystem, path: str) -> pa.Table:
    return pq.read_table(path, filesystem=fs)


def previous_failures(fs: pafs.FileSystem, path: str) -> pa.Table:
    """The failed rows of the manifest at `path` (none when there is no manifest yet)."""
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return MANIFEST_SCHEMA.empty_table()
    try:
        table = read_manifest(fs, path)
    except (OSError, pa.ArrowInvalid) as error:
        raise CatalogError(f"{path}: cannot read the previous manifest ({str(error).splitlines()[0]}); "
                            "move it away or pass --retry-failed") from None
    return table.filter(pc.equal(table.column("status"), FAILED))
