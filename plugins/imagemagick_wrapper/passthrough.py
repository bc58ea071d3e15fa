"""ImageMagick options the wrapper does not implement (`-unsharp 0x1`, `-colorspace Gray`, ...),
picked out of the command line and applied by the real ImageMagick after the AI step, in order.

ImageMagick does only the pixel work: the enlarged picture goes to it as a lossless PNG and comes
back as TIFF (which also holds CMYK), and sr-scale encodes the output itself so metadata, -quality
and atomic writes behave the same with or without pass-through options.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

from sr_scale.core.image_io import DEFAULT_MAX_PIXELS, ImageError, Picture, encoded_bytes, read_image

# How many arguments an ImageMagick option takes. `-name` takes one unless listed here; `+name`
# takes none unless listed here. (ImageMagick has no machine-readable arity list.)
NO_ARGUMENT = frozenset("""
-adjoin -antialias -append -auto-gamma -auto-level -auto-orient -average -black-point-compensation
-clamp -clip -clut -coalesce -combine -compare -composite -contrast -deconstruct -despeckle -enhance
-equalize -fft -flatten -flip -flop -hald-clut -ift -magnify -minify -monochrome -mosaic -negate
-noop -normalize -quiet -reverse -separate -strip -transpose -transverse -trim -unique -verbose
""".split())
TWO_ARGUMENTS = frozenset("""
-annotate -distort +distort -evaluate -floodfill +floodfill -function -morphology -set -sparse-color
-statistic
""".split())
PLUS_ONE_ARGUMENT = frozenset("""
+contrast-stretch +define +level +level-colors +noise +opaque +profile +set +sigmoidal-contrast +transparent
""".split())


def arity(option: str) -> int:
    if option in TWO_ARGUMENTS:
        return 2
    if option.startswith("+"):
        return 1 if option in PLUS_ONE_ARGUMENT else 0
    return 0 if option in NO_ARGUMENT else 1


def looks_like_option(token: str) -> bool:
    """`-x`/`+x` with a letter after the sign; `-` alone (stdin/stdout) and numbers are not options."""
    return len(token) > 1 and token[0] in "-+" and token[1].isalpha()


def imagemagick() -> str | None:
    """The ImageMagick command on PATH: `magick` (7) first, then `convert` (6)."""
    return shutil.which("magick") or shutil.which("convert")


@functools.lru_cache(maxsize=1)
def known_options(binary: str) -> frozenset[str]:
    """Every option name this ImageMagick knows (`-list command`); empty if it cannot tell."""
    try:
        listed = subprocess.run([binary, "-list", "command"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(line.strip() for line in listed.stdout.splitlines() if looks_like_option(line.strip()))


class UnknownOption(ImageError):
    """An option neither sr-scale nor the installed ImageMagick has: a usage error."""


def check_known(option: str) -> None:
    """UnknownOption, in ImageMagick's words, for an option the installed ImageMagick does not have
    either; nothing when there is no ImageMagick or it cannot tell (check_available says so)."""
    binary = imagemagick()
    known = known_options(binary) if binary else frozenset()
    if known and option not in known:
        raise UnknownOption(f"unrecognized option '{option}'")


def check_available(operations: list[list[str]]) -> str:
    """The ImageMagick binary to run `operations` with; ImageError naming the option otherwise."""
    binary = imagemagick()
    if binary is None:
        raise ImageError(f"{operations[0][0]}: not implemented by sr-scale, and ImageMagick (magick or convert) "
                         "is not on PATH to apply it")
    for operation in operations:
        check_known(operation[0])
    return binary


def apply(picture: Picture, operations: list[list[str]], binary: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Run ImageMagick's `operations` (each [option, *arguments]) on the pixels; metadata is kept.

    ImageMagick's result is read back under `max_pixels` (--max-pixels), or under the size of the
    picture handed to it when that is larger: sr-scale's own enlargement is never refused, and an
    operation that grows it further is held to the user's limit.
    """
    with tempfile.TemporaryDirectory(prefix="sr-scale-") as folder:
        source, result = Path(folder) / "in.png", Path(folder) / "out.tif"
        source.write_bytes(encoded_bytes(replace(picture, metadata=type(picture.metadata)()), "PNG"))
        command = [binary, str(source), *(token for operation in operations for token in operation), f"TIFF:{result}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not result.exists():
            message = (done.stderr.strip().splitlines() or ["no output"])[0]
            raise ImageError(f"ImageMagick failed on {' '.join(' '.join(o) for o in operations)}: {message}")
        processed = read_image(result.read_bytes(), name="ImageMagick's output",
                               max_pixels=max(max_pixels, picture.width * picture.height))
    return replace(picture, pixels=processed.pixels)
