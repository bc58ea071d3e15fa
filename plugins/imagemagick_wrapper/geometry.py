"""ImageMagick's `-resize` geometry grammar: parse it once, then compute the output size for any
input size exactly as ImageMagick 6.9/7 does (checked against the real binary in the tests).

Grammar: `N%`, `X%xY%` (or `XxY%`), `W`, `Wx`, `xH`, `WxH` (fit inside), and the flags
`^` (fill: cover the box), `!` (exact size, aspect ignored), `>` (only shrink larger images),
`<` (only enlarge smaller images), and `AREA@` (at most AREA pixels, aspect kept).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import click

# Numbers may be fractional (`50.5%`, `100.5x`); like ImageMagick, flags may stand anywhere
# (`200%x50%` and `200x50%` mean the same) and are read off before the numbers are parsed.
_FLAGS = "%!<>^@"
_SIZE = re.compile(r"^(?P<width>\d+(?:\.\d*)?)?(?:[xX](?P<height>\d+(?:\.\d*)?)?)?$")


class GeometryError(ValueError):
    """A geometry string outside the grammar, or one that gives a zero-sized image."""


@dataclass(frozen=True)
class Geometry:
    """A parsed `-resize` argument. Width and height are pixels, or percent when `percent` is set."""

    text: str
    width: float | None
    height: float | None
    percent: bool = False
    exact: bool = False  # `!`
    fill: bool = False  # `^`
    only_shrink: bool = False  # `>`
    only_enlarge: bool = False  # `<`
    area: bool = False  # `@`

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) in pixels ImageMagick gives an image of width x height pixels."""
        new_width, new_height = self._unclamped(width, height)
        if self.only_shrink:
            new_width, new_height = min(new_width, width), min(new_height, height)
        if self.only_enlarge:
            new_width, new_height = max(new_width, width), max(new_height, height)
        if new_width < 1 or new_height < 1:
            raise GeometryError(f"-resize {self.text}: gives a zero size for a {width}x{height} image")
        return new_width, new_height

    def _unclamped(self, width: int, height: int) -> tuple[int, int]:
        if self.area:
            # ImageMagick rounds down here, so the result never exceeds the pixel budget.
            factor = math.sqrt((self.width or 0) / (width * height))
            return math.floor(width * factor), math.floor(height * factor)
        if self.percent:
            x_percent = self.width if self.width is not None else self.height
            y_percent = self.height if self.height is not None else x_percent
            return _round(width * x_percent / 100), _round(height * y_percent / 100)
        # ImageMagick rounds pixel sizes to whole pixels before keeping the aspect ratio.
        box_width = _round(self.width) if self.width is not None else None
        box_height = _round(self.height) if self.height is not None else None
        if box_width is None:
            return max(_round(width * box_height / height), 1), box_height
        if box_height is None:
            return box_width, max(_round(height * box_width / width), 1)
        if self.exact:
            return box_width, box_height
        pick = max if self.fill else min
        factor = pick(box_width / width, box_height / height)
        return max(_round(width * factor), 1), max(_round(height * factor), 1)


def _round(value: float) -> int:
    """ImageMagick's floor(x + 0.5): halves go up, unlike Python's banker's round()."""
    return math.floor(value + 0.5)


def parse_geometry(text: str) -> Geometry:
    """Parse a `-resize` argument; raises GeometryError with the reason."""
    flags = "".join(c for c in text if c in _FLAGS)
    match = _SIZE.match("".join(c for c in text.strip() if c not in _FLAGS))
    if not match or (match["width"] is None and match["height"] is None):
        raise GeometryError(f"invalid geometry {text!r} (expected e.g. 200%, 800x600, 800x600^, 1000000@)")
    width = float(match["width"]) if match["width"] is not None else None
    height = float(match["height"]) if match["height"] is not None else None
    if "@" in flags and (width is None or height is not None):
        raise GeometryError(f"invalid geometry {text!r}: an area is a single number, e.g. 1000000@")
    return Geometry(
        text=text,
        width=width,
        height=height,
        percent="%" in flags,
        exact="!" in flags,
        fill="^" in flags,
        only_shrink=">" in flags,
        only_enlarge="<" in flags,
        area="@" in flags,
    )


class GeometryType(click.ParamType):
    """click parameter type for `-resize`: a bad geometry is a usage error (exit 2)."""

    name = "GEOMETRY"

    def convert(self, value, param, ctx) -> Geometry:
        if isinstance(value, Geometry):
            return value
        try:
            return parse_geometry(value)
        except GeometryError as error:
            self.fail(str(error), param, ctx)
