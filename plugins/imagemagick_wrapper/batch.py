"""Several inputs (files or folders) into one output folder: names kept (plus an optional suffix),
existing outputs skipped unless overwriting (only whole images that decode: an empty or truncated
output left by a crash is made again), bad files reported and passed over, a summary at the end.
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click

from sr_scale.core.engine import ModelError
from sr_scale.core.image_io import FORMATS, ImageError, is_complete_image

from .job import Endpoint, LazyUpscaler, Settings, run

# What a folder scan picks up: the formats sr-scale can also write back under the same name.
INPUT_SUFFIXES = frozenset(FORMATS)


@dataclass(frozen=True)
class Task:
    source: Path
    target: Path


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"sr-scale: {self.done} written, {self.skipped} skipped (output exists), {self.failed} failed"


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


def run_batch(tasks: list[Task], settings: Settings, upscaler: LazyUpscaler, jobs: int, overwrite: bool) -> Summary:
    """Run every task, `jobs` at a time; errors are printed one line each and counted."""
    summary = Summary()
    todo, claimed = [], {}
    for task in tasks:
        if task.target in claimed:  # e.g. a/x.png and b/x.png into one folder: never let one replace the other
            summary.failed += 1
            click.echo(f"Error: {task.source}: same output name as {claimed[task.target]} ({task.target}); "
                       "use separate runs or --recursive on their parent folder", err=True)
            continue
        claimed[task.target] = task.source
        if not overwrite and is_complete_image(task.target):
            summary.skipped += 1
        else:
            todo.append(task)

    def one(task: Task) -> str | None:
        try:
            task.target.parent.mkdir(parents=True, exist_ok=True)
            run(Endpoint(str(task.source), None), Endpoint(str(task.target), None), settings, upscaler)
            return None
        except ModelError:
            raise  # the same for every file: stop the batch
        except ImageError as error:
            return str(error)
        except Exception as error:  # anything unforeseen: report it for this file and go on with the others
            return f"{task.source}: {type(error).__name__}: {error}"

    show_bar = sys.stderr.isatty() and len(todo) > 1
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = pool.map(one, todo)
        with click.progressbar(results, length=len(todo), label="sr-scale", file=sys.stderr) if show_bar else _plain(results) as bar:
            for error in bar:
                if error is None:
                    summary.done += 1
                else:
                    summary.failed += 1
                    click.echo(f"Error: {error}", err=True)
    return summary


class _plain:
    """Stands in for the progress bar when stderr is not a terminal: iterate, print nothing."""

    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return self.items

    def __exit__(self, *exc):
        return False
