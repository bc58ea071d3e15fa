"""Split an image into overlapping tiles and stitch the enlarged tiles back, in pure numpy.

Each tile is the core region plus `overlap` LR pixels of real context on every side (clamped at
the image border). When overlap >= the network's receptive radius, every kept output pixel saw
exactly the context it would have seen in a whole-image pass, so tiled and whole-image results
agree up to float rounding. Memory is bounded by the tile, not the image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Tile:
    """A tile in LR pixel coordinates: `read` is what the model sees, `core` what is kept."""

    read_y0: int
    read_y1: int
    read_x0: int
    read_x1: int
    core_y0: int
    core_y1: int
    core_x0: int
    core_x1: int

    @property
    def read(self) -> tuple[slice, slice]:
        return slice(self.read_y0, self.read_y1), slice(self.read_x0, self.read_x1)

    def core_in_output(self, scale: int) -> tuple[slice, slice]:
        """Where the kept pixels go in the enlarged image."""
        return (slice(self.core_y0 * scale, self.core_y1 * scale), slice(self.core_x0 * scale, self.core_x1 * scale))

    def core_in_tile_output(self, scale: int) -> tuple[slice, slice]:
        """Which pixels of the enlarged tile are kept."""
        y0, x0 = self.core_y0 - self.read_y0, self.core_x0 - self.read_x0
        y1, x1 = y0 + self.core_y1 - self.core_y0, x0 + self.core_x1 - self.core_x0
        return slice(y0 * scale, y1 * scale), slice(x0 * scale, x1 * scale)


def _spans(length: int, tile: int) -> list[tuple[int, int]]:
    """Cut [0, length) into near-equal spans of at most `tile` pixels (no thin last sliver)."""
    count = max(1, -(-length // tile))
    bounds = [round(i * length / count) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _split(length: int, count: int) -> list[tuple[int, int]]:
    """Cut [0, length) into `count` near-equal spans."""
    bounds = [round(i * length / count) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _grid(height: int, width: int, rows: int, cols: int, overlap: int) -> Iterator[Tile]:
    for y0, y1 in _split(height, rows):
        for x0, x1 in _split(width, cols):
            yield Tile(
                max(0, y0 - overlap), min(height, y1 + overlap),
                max(0, x0 - overlap), min(width, x1 + overlap),
                y0, y1, x0, x1,
            )


def tiles(height: int, width: int, tile: int, overlap: int) -> Iterator[Tile]:
    """Square-ish tiles covering an LR image of height x width; `tile` is the core size in LR pixels.

    tile <= 0 means one tile for the whole image.
    """
    if tile <= 0:
        tile = max(height, width)
    yield from _grid(height, width, len(_spans(height, tile)), len(_spans(width, tile)), overlap)


@dataclass(frozen=True)
class TilePlan:
    """A grid of rows x cols tiles and what it costs, in LR pixels: `executed` is what the model
    runs (every tile with its overlap), `useful` what a whole-image pass would run (height x width)."""

    rows: int
    cols: int
    max_read_pixels: int  # the largest tile's read area (what one tile's activations scale with)
    executed: int
    useful: int

    @property
    def work_ratio(self) -> float:
        """Executed / useful work (1.0 = no overlap waste)."""
        return self.executed / self.useful


def _read_lengths(length: int, count: int, overlap: int) -> list[int]:
    return [min(length, b + overlap) - max(0, a - overlap) for a, b in _split(length, count)]


def _max_read(length: int, count: int, overlap: int) -> int:
    """An upper bound of the longest read span when [0, length) is cut into `count` spans (O(1))."""
    if count == 1:
        return length
    return min(length, -(-length // count) + (overlap if count == 2 else 2 * overlap))


def plan_tiles(height: int, width: int, overlap: int, max_read_pixels: int, workers: int = 1) -> TilePlan:
    """The grid that runs the least work for an LR image of height x width when no tile may read
    more than `max_read_pixels` (the memory budget of one tile in flight) and `workers` tiles run
    at once: strips or rectangles as the image's shape asks, and an image smaller than one tile
    split into `workers` pieces so every core is busy (each piece keeping its `overlap`).

    Cost = the estimated time on `workers` cores (3 equal tiles on 2 cores take 2 rounds; pieces
    that each read the whole image gain nothing), then the executed work. Overlap >= 0, workers >= 1.
    A budget below one (3 overlap + 2)^2 tile (a core as narrow as the overlap) is raised to it.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image must be at least 1x1, got {height}x{width}")
    workers = max(1, workers)
    budget = max(max_read_pixels, (3 * overlap + 2) ** 2)
    best: tuple[tuple[float, int, int], TilePlan] | None = None
    # Cores narrower than the overlap read mostly context: never worth it, so they bound the search.
    for rows in range(1, max(1, height // max(1, overlap)) + 1):
        read_height = _max_read(height, rows, overlap)
        if read_height > budget:
            continue
        # The fewest columns that fit the budget (max read width only falls as columns grow), and a
        # few more: more pieces can balance the cores.
        low, high = 1, width
        while low < high:
            middle = (low + high) // 2
            if _max_read(width, middle, overlap) * read_height <= budget:
                high = middle
            else:
                low = middle + 1
        if _max_read(width, low, overlap) * read_height > budget:
            continue
        heights = _read_lengths(height, rows, overlap)
        for cols in range(low, min(width, low + workers) + 1):
            widths = _read_lengths(width, cols, overlap)
            count = rows * cols
            executed = sum(heights) * sum(widths)
            plan = TilePlan(rows, cols, max(heights) * max(widths), executed, height * width)
            # Time on `workers` cores, in pixels run by the busiest: no less than an even share, than
            # the largest tile, or than full rounds of ceil(count / workers) average tiles.
            cost = max(executed / workers, plan.max_read_pixels, executed * -(-count // workers) / count)
            if best is None or (cost, executed, count) < best[0]:
                best = ((cost, executed, count), plan)
    assert best is not None  # cores of >= overlap pixels (read <= 3 overlap + 2) fit the raised budget
    return best[1]


def planned_tiles(height: int, width: int, plan: TilePlan, overlap: int) -> Iterator[Tile]:
    """The tiles of a plan, in grid order."""
    yield from _grid(height, width, plan.rows, plan.cols, overlap)
