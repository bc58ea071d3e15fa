"""One `sr-scale IN OUT`: ImageMagick's spelling of inputs and outputs (`file`, `-`, `fmt:-`,
`fmt:file`), the checks made before any work, and stdin/stdout. The work itself is the core
pipeline's (sr_scale.core.pipeline), shared with sr-scale-ray and the GIMP filter.

Raises ImageError/ModelError with a message that names the file; never leaves a partial output
(writes are atomic, stdout is written only at the end).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sr_scale.core.image_io import FORMATS, PREFIXES, ImageError
from sr_scale.core import pipeline
from sr_scale.core.pipeline import Settings, Upscalers
from sr_scale.core.restoration import Restoration


@dataclass(frozen=True)
class Endpoint:
    """An input or output as ImageMagick spells it: `file`, `-` (stdin/stdout), `fmt:-`, `fmt:file`."""

    path: str | None  # None = standard input/output
    fmt: str | None  # Pillow format name forced by a `fmt:` prefix

    @property
    def name(self) -> str:
        return self.path if self.path is not None else "-"


def parse_endpoint(token: str) -> Endpoint:
    """ImageMagick reads `png:x` as a format prefix; an existing file of that name wins here."""
    if token == "-" or os.path.exists(token):
        return Endpoint(None if token == "-" else token, None)
    prefix, colon, rest = token.partition(":")
    if colon and prefix.lower() in PREFIXES and len(prefix) > 1:  # `C:\` is a drive, not a format
        return Endpoint(None if rest == "-" else rest, PREFIXES[prefix.lower()])
    if colon and len(prefix) > 1 and prefix.isalnum() and prefix.lower() not in PREFIXES and rest:
        raise ImageError(f"{token}: unsupported format prefix {prefix!r}; use one of {', '.join(sorted(PREFIXES))}")
    return Endpoint(token, None)


def output_format_for(output: Endpoint, picture_format: str | None) -> str:
    """The output format: a `fmt:` prefix, else the extension, else (stdout) the input's format."""
    if output.fmt:
        return output.fmt
    if output.path is not None:
        suffix = Path(output.path).suffix.lower()
        if suffix not in FORMATS:
            raise ImageError(f"{output.path}: unsupported output format {suffix or '(no extension)'!r}; "
                             f"use one of {', '.join(sorted(FORMATS))} or a prefix like png:{output.path}")
        return FORMATS[suffix]
    return picture_format if picture_format in FORMATS.values() else "PNG"


def check_output(source: Endpoint, output: Endpoint) -> None:
    """Refuse, before any work, outputs that would overwrite the input or cannot be written."""
    if output.path is None:
        return
    if source.path is not None and os.path.exists(output.path) and os.path.exists(source.path) \
            and os.path.samefile(source.path, output.path):
        raise ImageError(f"{output.path}: output is the input; refusing to overwrite it (write to another file)")
    folder = Path(output.path).parent
    if not folder.is_dir():
        raise ImageError(f"{output.path}: cannot write, folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ImageError(f"{output.path}: cannot write, folder {folder} is not writable")
    if os.path.isdir(output.path):
        raise ImageError(f"{output.path}: is a folder (for several inputs use -o DIR)")


def run(source: Endpoint, output: Endpoint, settings: Settings, upscalers: Upscalers) -> Restoration:
    """Enlarge one image from `source` to `output`; returns what was decided for it."""
    check_output(source, output)
    if output.path is not None:
        output_format_for(output, None)  # an unknown extension fails before the work
    picture = pipeline.read(sys.stdin.buffer.read() if source.path is None else source.path, source.name, settings)
    fmt = output_format_for(output, picture.source_format)
    enlarged = pipeline.process(picture, source.name, settings, upscalers)
    if output.path is None:
        sys.stdout.buffer.write(pipeline.encode(enlarged, fmt, name="-"))
        sys.stdout.buffer.flush()
    else:
        pipeline.write(enlarged, output.path, fmt)
    return enlarged.restoration
