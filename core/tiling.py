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


def tiles(height: int, width: int, tile: int, overlap: int) -> Iterator[Tile]:
    """Tiles covering an LR image of height x width; `tile` is the core size in LR pixels.

    tile <= 0 means one tile for the whole image.
    """
    if tile <= 0:
        tile = max(height, width)
    for y0, y1 in _spans(height, tile):
        for x0, x1 in _spans(width, tile):
            yield Tile(
                max(0, y0 - overlap), min(height, y1 + overlap),
                max(0, x0 - overlap), min(width, x1 + overlap),
                y0, y1, x0, x1,
            )
