"""Atomic, durable file writes: the one write path of every file sr-scale makes (images, reports,
models, checkpoints).

A temporary file in the target's folder is written, flushed to disk (fsync), given the permissions
a plain `open()` would give (0o666 less the umask), renamed over the target, and the folder is
flushed so that the rename itself survives a power cut. Readers see the old file or the complete
new one, never a partial or zero-length one; when writing fails nothing is left behind.

A writer killed outright (SIGKILL, OOM killer, power cut) cannot remove its temporary file. Each
writer holds an exclusive lock (flock) on its temporary file while it works, and the kernel drops
the lock when the process dies; so the next write of the same target removes the temporary files
nobody holds, and a killed batch that is run again ends with no temporary file left.

Torch-free and standard library only: the inference path and the training loop both use it.
"""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, and no clean-up of abandoned temporary files
    fcntl = None


class WriteError(Exception):
    """A file that cannot be written (folder missing or read-only, disk full); the message names it."""


def _read_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else set and restored
    once, at import: the umask is process-wide, so flipping it while other threads create files or
    folders would give those the wrong permissions."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


# Read once, when the module is imported (before any batch thread exists), never per write.
UMASK = _read_umask()
FILE_MODE = 0o666 & ~UMASK  # what open() gives a new file


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without an exception, the file
    written there replaces `path` (durably, see the module docstring). On an exception, the
    temporary file is removed and `path` is untouched.

    Raises WriteError when the folder cannot hold the file or the disk refuses it; other exceptions
    of the block (an encoder's, a parity check's) pass through unchanged.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    _remove_abandoned(folder, target.name)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=folder)
    except OSError as error:
        raise WriteError(f"{path}: cannot write to {folder} ({error.strerror or error})") from None
    tmp = Path(tmp_name)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # "a writer is alive": held until fd is closed, or the process dies
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes it 0o600
        os.replace(tmp, target)
        _fsync_folder(folder)
    except OSError as error:
        raise WriteError(f"{path}: cannot write ({error.strerror or error})") from None
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


TEMPORARY_SUFFIX = ".tmp"  # temporary files are .NAME.<random>.tmp beside NAME


def temporary_files(folder: str | os.PathLike, name: str = "*") -> list[Path]:
    """The temporary files of atomic writes to `name` (any name by default) in `folder`."""
    pattern = f".{glob.escape(name) if name != '*' else '*'}.*{TEMPORARY_SUFFIX}"
    return sorted(Path(folder).glob(pattern))


def _remove_abandoned(folder: Path, name: str) -> None:
    """Remove the temporary files of `name` whose writer died: those whose lock anyone can take.
    A live writer's file is locked and kept. (Should the lock be taken in the instant between a
    writer's mkstemp and its flock, the writer still succeeds: it reopens its file by name.)"""
    if fcntl is None:
        return
    for stale in temporary_files(folder, name):
        try:
            fd = os.open(stale, os.O_RDONLY)
        except OSError:
            continue  # gone already, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            stale.unlink(missing_ok=True)
        except OSError:
            pass  # locked: its writer is at work
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call write(tmp) on a temporary file beside `path`, then put it in place (see atomic_path)."""
    with atomic_path(path) as tmp:
        write(tmp)


def _fsync_file(path: Path) -> None:
    """Flush a file's data to disk (the writer may have closed it without fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk; POSIX only (Windows cannot open folders)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
