"""Fuzz target for sr-scale's decoding path: `read_image` on bytes, every format sr-scale reads.

The property: whatever the bytes, `read_image` ends in a decoded picture (the layout of
image_io's docstring) or an ImageError with one line of text; never another exception, a hang
or a crash. A decoded picture must also encode again in its own format (with its metadata) or
fail with an ImageError, since sr-scale writes what it read.

Seeds are small real files (tests/data/fuzz/seeds, made from a crop of Set14 by `make_seeds`), one
per decoder path: baseline/progressive/grey/CMYK/EXIF-rotated JPEG; 8-bit, 16-bit, grey,
grey 16-bit, palette and RGBA PNG; lossy and lossless WebP; 8-bit TIFF (Pillow), 16-bit RGB TIFF
(Pillow's header, tifffile's pixels) and 16-bit grey+alpha TIFF (tifffile alone); BMP; GIF.
Inputs that once broke the property are kept in tests/data/fuzz/findings and replayed by
tests/test_fuzz_decode.py.

    python tests/fuzz_decode.py --seconds 600          # coverage-guided, atheris (pip install ".[fuzz]")
    python tests/fuzz_decode.py --make-seeds           # rewrite the seed files from the Set14 crop

CI runs the same target under hypothesis with a fixed seed and a bounded number of examples
(tests/test_fuzz_decode.py).
"""
from __future__ import annotations

import argparse
import faulthandler
import io
import signal
import sys
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

import numpy as np
from PIL import Image

from sr_scale.core.image_io import ImageError, encoded_bytes, read_image

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "data" / "fuzz" / "seeds"
FINDINGS = HERE / "data" / "fuzz" / "findings"
SOURCE = HERE / "data" / "eval" / "Set14"
# Small enough that a mutated header cannot make one example allocate much: the fuzz inputs are
# tiny, so anything over this is a header that lies, and refusing it is the right answer.
MAX_PIXELS = 1_000_000
HANG_SECONDS = 5.0  # a 24x16 picture decodes in milliseconds; this long is a hang


class Hang(BaseException):
    """Raised in the fuzzed call when it runs past HANG_SECONDS. A BaseException so that the
    `except Exception` in read_image cannot turn a hang into an ImageError."""


@contextmanager
def hang_alarm(seconds: float = HANG_SECONDS):
    """Interrupt Python code that runs too long (SIGALRM), and as a backstop for C code that
    never returns to Python, dump every thread's stack and exit after 6x as long."""
    def ring(signum, frame):
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 6, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


def check_one(data: bytes) -> str:
    """Run the decoding path on `data`; 'decoded' or 'refused', AssertionError (or Hang) otherwise."""
    printed = io.StringIO()
    with hang_alarm(), redirect_stderr(printed):
        try:
            picture = read_image(data, name="fuzz.bin", max_pixels=MAX_PIXELS)
        except ImageError as error:
            _assert_one_line(error, printed)
            return "refused"
        pixels = picture.pixels
        assert isinstance(pixels, np.ndarray) and pixels.ndim == 3, f"pixels {type(pixels)} {getattr(pixels, 'shape', '')}"
        assert pixels.dtype in (np.uint8, np.uint16) and 1 <= pixels.shape[2] <= 4, f"layout {pixels.dtype} {pixels.shape}"
        assert pixels.shape[0] * pixels.shape[1] <= MAX_PIXELS, f"{pixels.shape} over the pixel limit"
        try:
            encoded_bytes(picture, picture.source_format if picture.source_format in _WRITTEN else "PNG", name="out")
        except ImageError as error:
            _assert_one_line(error, printed)
    assert not printed.getvalue(), f"printed on stderr besides the picture: {printed.getvalue()[:300]!r}"
    return "decoded"


_WRITTEN = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


def _assert_one_line(error: ImageError, printed: io.StringIO) -> None:
    """The error is one line, and nothing else was printed (a library's log lines on stderr)."""
    text = str(error)
    assert text.strip() and "\n" not in text, f"ImageError message is not one line: {text!r}"
    assert not printed.getvalue(), f"printed on stderr besides the error: {printed.getvalue()[:300]!r}"


# ---------------------------------------------------------------------------------------------
# Seeds


def make_seeds(folder: Path = SEEDS) -> list[Path]:
    """Write one small real file per decoder path into `folder`, from a 24x16 crop of Set14 baboon
    and of bridge (Set14's grey photo)."""
    import png
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.open(SOURCE / "baboon.png").convert("RGB").crop((200, 100, 224, 116))
    grey = Image.open(SOURCE / "bridge.png").convert("L").crop((100, 100, 124, 116))
    array = np.asarray(rgb)
    alpha = np.asarray(grey)
    rgba = Image.fromarray(np.dstack([array, alpha]), "RGBA")
    deep = array.astype(np.uint16) * 257 + np.arange(24, dtype=np.uint16)[None, :, None]  # low bits used too
    grey_deep = alpha.astype(np.uint16) * 257
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 clockwise to display
    writers = {
        "rgb.jpg": lambda out: rgb.save(out, "JPEG", quality=90),
        "progressive.jpg": lambda out: rgb.save(out, "JPEG", quality=75, progressive=True, subsampling=2),
        "grey.jpg": lambda out: grey.save(out, "JPEG", quality=90),
        "cmyk.jpg": lambda out: rgb.convert("CMYK").save(out, "JPEG", quality=90),
        "rotated.jpg": lambda out: rgb.save(out, "JPEG", quality=90, exif=exif),
        "rgb.png": lambda out: rgb.save(out, "PNG"),
        "rgba.png": lambda out: rgba.save(out, "PNG"),
        "grey.png": lambda out: grey.save(out, "PNG"),
        "palette.png": lambda out: rgba.quantize(16).save(out, "PNG", transparency=0),
        "rgb16.png": lambda out: png.Writer(24, 16, greyscale=False, bitdepth=16).write(out, deep.reshape(16, -1).tolist()),
        "grey16.png": lambda out: png.Writer(24, 16, greyscale=True, bitdepth=16).write(out, grey_deep.tolist()),
        "rgb.webp": lambda out: rgb.save(out, "WEBP", quality=80),
        "rgba-lossless.webp": lambda out: rgba.save(out, "WEBP", lossless=True),
        "rgb.tif": lambda out: rgb.save(out, "TIFF", compression="tiff_lzw"),
        "rgb16.tif": lambda out: tifffile.imwrite(out, deep, photometric="rgb", compression="zlib", metadata=None),
        "greyalpha16.tif": lambda out: tifffile.imwrite(out, np.dstack([grey_deep, grey_deep[::-1]]), photometric="minisblack",
                                                        extrasamples=("unassalpha",), metadata=None),
        "rgb.bmp": lambda out: rgb.save(out, "BMP"),
        "palette.gif": lambda out: rgb.quantize(32).save(out, "GIF"),
    }
    paths = []
    for name, write in writers.items():
        buffer = io.BytesIO()
        write(buffer)
        path = folder / name
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def seeds() -> dict[str, bytes]:
    """The committed seed files by name."""
    return {path.name: path.read_bytes() for path in sorted(SEEDS.iterdir()) if path.is_file()}


# ---------------------------------------------------------------------------------------------
# The long run: atheris (libFuzzer's coverage-guided mutator) over the same target


def _atheris_run(seconds: int, corpus: Path) -> int:
    try:
        import atheris
    except ImportError:
        print("fuzz_decode: atheris is not installed (pip install '.[fuzz]')", file=sys.stderr)
        return 2
    with atheris.instrument_imports():  # coverage feedback from the decoders' Python: Pillow's plug-ins, tifffile, pypng
        import PIL.BmpImagePlugin, PIL.GifImagePlugin, PIL.JpegImagePlugin, PIL.PngImagePlugin  # noqa: E401, F401
        import PIL.TiffImagePlugin, PIL.WebPImagePlugin, png, tifffile  # noqa: E401, F401
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in seeds().items():
        (corpus / name).write_bytes(data)

    def target(data: bytes) -> None:
        check_one(data)

    # libFuzzer's own -timeout catches hangs in C code too; a finding is written as a crash-* file
    # beside the others (rename it and it is a regression test); its last line says "Done N runs in S second(s)".
    argv = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-timeout={int(HANG_SECONDS * 2)}",
            "-rss_limit_mb=2048", "-max_len=65536", f"-artifact_prefix={FINDINGS}/"]
    FINDINGS.mkdir(parents=True, exist_ok=True)
    atheris.Setup(argv, target)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="how long atheris fuzzes [600]")
    parser.add_argument("--corpus", type=Path, default=Path("fuzz-corpus"),
                        help="atheris's working corpus, seeded from tests/data/fuzz/seeds [./fuzz-corpus]")
    parser.add_argument("--make-seeds", action="store_true", help="rewrite the seed files and exit")
    args = parser.parse_args(argv)
    if args.make_seeds:
        for path in make_seeds():
            print(f"{path} ({path.stat().st_size} bytes)")
        return 0
    return _atheris_run(args.seconds, args.corpus)


if __name__ == "__main__":
    sys.exit(main())
