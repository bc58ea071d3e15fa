"""Which files a job enlarges and where each result goes: the catalog, listed once on the driver.

Local paths go through sr-scale's own batch listing (`sr_scale.core.listing.collect`),
so the names are sr-scale's by construction. URIs (`s3://bucket/photos`, `gs://...`, `file:///srv/in`,
anything `pyarrow.fs.FileSystem.from_uri` accepts) are listed with pyarrow by the same rule: a folder
gives its images (with `recursive`, its subfolders' too, their relative folders kept under OUT), a
file is taken whatever its extension so that a bad one is reported, the output is
OUT/relative-folder/STEM+SUFFIX+EXT, and files already under OUT are left out.
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from sr_scale.core.image_io import is_complete_image
from sr_scale.core.listing import INPUT_SUFFIXES, collect

# One row per input file; filesystems are referred to by their index in Catalog.filesystems.
TASK_SCHEMA = pa.schema([
    ("source", pa.string()),  # as messages and the manifest name it: a local path or a URI
    ("target", pa.string()),
    ("source_fs", pa.int32()),
    ("source_path", pa.string()),  # the path that source's filesystem takes
    ("target_path", pa.string()),  # the path that the output filesystem takes
])


@dataclass(frozen=True)
class Catalog:
    """Every input of a job. filesystems[0] is the output's; tasks follows TASK_SCHEMA."""

    filesystems: tuple[pafs.FileSystem, ...]
    tasks: pa.Table

    @property
    def output_fs(self) -> pafs.FileSystem:
        return self.filesystems[0]


def is_uri(location: str) -> bool:
    return "://" in location


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """A local path or URI -> (filesystem, path on it). Local paths become absolute, because Ray
    workers do not run in the driver's working directory."""
    if not is_uri(location):
        return pafs.LocalFileSystem(), os.path.abspath(location)
    try:
        return pafs.FileSystem.from_uri(location)
    except (ValueError, OSError) as error:  # unknown scheme, or a filesystem pyarrow was built without
        raise CatalogError(f"{location}: cannot open ({str(error).splitlines()[0]})") from None


class CatalogError(Exception):
    """An input or output location that cannot be listed or opened; the message names it."""


def list_catalog(inputs: list[str], output_dir: str, suffix: str, recursive: bool) -> Catalog:
    """All inputs -> Catalog (not yet checked against existing outputs)."""
    output_fs, output_root = resolve(output_dir)
    filesystems: list[pafs.FileSystem] = [output_fs]
    rows: dict[str, list] = {name: [] for name in TASK_SCHEMA.names}
    local_inputs = [given for given in inputs if not is_uri(given)]
    if local_inputs and not is_uri(output_dir):
        filesystems.append(pafs.LocalFileSystem())
        for task in collect([os.path.abspath(given) for given in local_inputs], Path(output_root), suffix, recursive):
            _add(rows, str(task.source), str(task.target), len(filesystems) - 1, str(task.source), str(task.target))
        local_inputs = []
    for given in [*local_inputs, *(given for given in inputs if is_uri(given))]:
        fs, root = resolve(given)
        filesystems.append(fs)
        for relative in _files_in(fs, root, given, recursive):
            source_path = posixpath.join(root, relative) if relative else root
            if fs.type_name == output_fs.type_name and _is_within(source_path, output_root):
                continue  # an earlier output, not an input
            folder, name = posixpath.split(relative or posixpath.basename(root))
            stem, extension = posixpath.splitext(name)
            target_relative = posixpath.join(folder, f"{stem}{suffix}{extension}")
            _add(rows, _display(given, relative), _display(output_dir, target_relative), len(filesystems) - 1,
                 source_path, posixpath.join(output_root, target_relative))
    return Catalog(tuple(filesystems), pa.table(rows, schema=TASK_SCHEMA))


def _add(rows: dict[str, list], source: str, target: str, source_fs: int, source_path: str, target_path: str) -> None:
    for name, value in zip(TASK_SCHEMA.names, (source, target, source_fs, source_path, target_path)):
        rows[name].append(value)


def _files_in(fs: pafs.FileSystem, root: str, given: str, recursive: bool) -> list[str]:
    """Image files under a folder as sorted relative paths; [""] for a file (or a missing path, so
    that it is reported as a failed input like sr-scale reports it)."""
    try:
        info = fs.get_file_info(root)
        if info.type != pafs.FileType.Directory:
            return [""]
        found = fs.get_file_info(pafs.FileSelector(root, recursive=recursive))
    except OSError as error:  # no credentials, no such bucket, network
        raise CatalogError(f"{given}: cannot list ({str(error).splitlines()[0]})") from None
    prefix = root.rstrip("/") + "/"
    return sorted(
        entry.path[len(prefix):] for entry in found
        if entry.type == pafs.FileType.File and posixpath.splitext(entry.path)[1].lower() in INPUT_SUFFIXES
    )


def _is_within(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def join_location(location: str, relative: str) -> str:
    """A local path or URI with `relative` appended; a URI keeps its query (?region=..., ?endpoint_override=...)."""
    if not is_uri(location):
        return os.path.join(location, relative)
    parts = urlsplit(location)
    return parts._replace(path=parts.path.rstrip("/") + "/" + relative).geturl()


def _display(location: str, relative: str) -> str:
    """location + relative, without a URI's query (endpoint and region options are not names)."""
    if is_uri(location):
        parts = urlsplit(location)
        location = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return location.rstrip("/") + "/" + relative if relative else location


def existing_outputs(catalog: Catalog, output_dir: str) -> set[str]:
    """Paths of the catalog's outputs already written, listed in one pass (one LIST for an object
    store rather than a HEAD per file). Only finished outputs count: never a zero-length file, and on
    a local disk only a file that decodes (image_io.is_complete_image), so a file cut short by a
    crash is enlarged again. An object store publishes an object only once its upload completes,
    so there a non-empty object is whole (and checking it would mean downloading it)."""
    _, root = resolve(output_dir)
    try:
        found = catalog.output_fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as error:
        raise CatalogError(f"{output_dir}: cannot list ({str(error).splitlines()[0]})") from None
    targets = set(catalog.tasks.column("target_path").to_pylist())
    written = {entry.path for entry in found if entry.type == pafs.FileType.File and entry.size and entry.path in targets}
    if isinstance(catalog.output_fs, pafs.LocalFileSystem):
        written = {path for path in written if is_complete_image(path)}
    return written
