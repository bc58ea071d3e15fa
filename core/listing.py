"""Which files a batch enlarges and where each result goes, for `sr-scale -o` and `sr-scale-ray`
alike (the Ray job lists object-store URIs by the same rule): names kept, plus an optional suffix.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .image_io import FORMATS

# What a folder scan picks up: the formats sr-scale can also write back under the same name.
INPUT_SUFFIXES = frozenset(FORMATS)


@dataclass(frozen=True)
class Task:
    source: Path
    target: Path


def collect(inputs: list[str], out_dir: Path, suffix: str, recursive: bool) -> list[Task]:
    """Inputs -> tasks. A folder contributes its images (and, with recursive, its subfolders', whose
    relative paths are kept under out_dir); a file is taken whatever its extension so a bad one is reported.
    """
    tasks = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            for found in sorted(path.glob(pattern)):
                if found.is_file() and found.suffix.lower() in INPUT_SUFFIXES and out_dir.resolve() not in found.resolve().parents:
                    relative = found.relative_to(path)
                    tasks.append(Task(found, out_dir / relative.parent / f"{found.stem}{suffix}{found.suffix}"))
        else:
            tasks.append(Task(path, out_dir / f"{path.stem}{suffix}{path.suffix}"))
    return tasks
