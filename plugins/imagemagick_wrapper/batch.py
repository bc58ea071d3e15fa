"""Several inputs (files or folders) into one output folder (listed by sr_scale.core.listing):
existing outputs skipped unless overwriting (only whole images that decode: an empty or truncated
output left by a crash is made again), bad files reported and passed over, a summary at the end.
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import click

from sr_scale.core.engine import ModelError
from sr_scale.core.image_io import ImageError, is_complete_image
from sr_scale.core.listing import Task
from sr_scale.core.pipeline import Settings, Upscalers
from sr_scale.core.restoration import Restoration

from .job import Endpoint, run


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"sr-scale: {self.done} written, {self.skipped} skipped (output exists), {self.failed} failed"


def run_batch(tasks: list[Task], settings: Settings, upscalers: Upscalers, jobs: int, overwrite: bool,
              report: Callable[[Task, Restoration], None] | None = None) -> Summary:
    """Run every task, `jobs` at a time; errors are printed one line each and counted; `report`
    (for -v) gets each written file's decision."""
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
            restoration = run(Endpoint(str(task.source), None), Endpoint(str(task.target), None), settings, upscalers)
            if report is not None:
                report(task, restoration)
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
