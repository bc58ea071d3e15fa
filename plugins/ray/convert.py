"""One file of a job, free of Ray so it is tested on its own: fetch the bytes, enlarge them with the
core pipeline `sr-scale` runs (sr_scale.core.pipeline: decode, decision, enlargement, encode), store the result.

Errors about a file are ImageError with a message naming it; a ModelError is not about a file and
stops the job.
"""
from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass

import pyarrow.fs as pafs

from sr_scale.core.engine import ModelError
from sr_scale.core.image_io import ImageError, access_error, atomic_write, output_format
from sr_scale.core.pipeline import Settings, Upscalers, enlarge_bytes

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


@dataclass(frozen=True)
class Outcome:
    """What became of one input: status is WRITTEN, SKIPPED or FAILED; seconds of wall time."""

    status: str
    error: str | None = None
    seconds: float = 0.0
    restoration: str | None = None  # what was detected and the model used (Restoration.describe)


def fetch(fs: pafs.FileSystem, path: str, name: str) -> bytes:
    """The whole file; ImageError naming `name` when it cannot be read."""
    try:
        with fs.open_input_file(path) as file:
            return file.readall()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        raise access_error(name, error) from None
    except OSError as error:  # an object store's own errors (network, access) arrive as plain OSError
        raise ImageError(f"{name}: cannot read ({first_line(error)})") from None


def store(fs: pafs.FileSystem, path: str, data: bytes, name: str) -> None:
    """Write `data` so that no reader ever sees a partial file: a local file goes through
    image_io.atomic_write (temporary file + rename); an object store publishes an object only when
    its upload completes, and the bytes are all in memory before the upload starts."""
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            fs.create_dir(posixpath.dirname(path), recursive=True)
            atomic_write(path, lambda tmp: tmp.write_bytes(data))
        else:  # no folders to make: on an object store they would be empty marker objects
            with fs.open_output_stream(path) as out:
                out.write(data)
    except ImageError:
        raise
    except OSError as error:
        raise ImageError(f"{name}: cannot write ({first_line(error)})") from None


def enlarge_and_store(data: bytes, source: str, output_fs: pafs.FileSystem, target_path: str, target: str,
                      settings: Settings, upscalers: Upscalers) -> Outcome:
    """Enlarge fetched bytes as `sr-scale SOURCE TARGET` would and store the result; a failure about
    the file becomes a FAILED outcome. ImageMagick pass-through options are not offered by this job."""
    start = time.perf_counter()
    try:
        fmt = output_format(target)  # an unknown extension fails before the work
        encoded, restoration = enlarge_bytes(data, source, target, fmt, settings, upscalers)
        store(output_fs, target_path, encoded, target)
    except ModelError:
        raise  # the same for every file: stop the job
    except ImageError as error:
        return Outcome(FAILED, str(error), time.perf_counter() - start)
    except Exception as error:  # as sr-scale's batch: anything else fails this file, named, and not the job
        return Outcome(FAILED, f"{source}: {first_line(error)}", time.perf_counter() - start)
    return Outcome(WRITTEN, None, time.perf_counter() - start, restoration.describe())


def first_line(error: BaseException) -> str:
    """An exception as one line of text, for messages and the manifest."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

