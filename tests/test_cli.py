"""sr-scale end to end on a matrix of real files of every kind, pipes, batches, pass-through and bad input.

The tiny random model (--model) keeps this fast: these tests check sizes, layouts and metadata,
not picture quality.
"""
import io
import os
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms

from conftest import SET14
from sr_scale.imagemagick_wrapper.cli import main

IMAGEMAGICK = shutil.which("magick") or "convert"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@dataclass(frozen=True)
class Case:
    """One input kind and what its 2x output must be: (w, h), Pillow mode, bits, metadata kept."""

    name: str
    size: tuple[int, int]
    mode: str
    bits: int = 8
    icc: bool = False
    exif: bool = False
    dpi: float | None = None


# Inputs are 48 wide x 32 high; orientation 6 (rotate on display) makes the output 64 x 96.
CASES = [
    Case("oriented.jpg", (64, 96), "RGB", icc=True, exif=True, dpi=600),
    Case("rgb.png", (96, 64), "RGB", icc=True, exif=True, dpi=144),
    Case("rgba.png", (96, 64), "RGBA"),
    Case("grey.png", (96, 64), "L"),
    Case("greyalpha.png", (96, 64), "LA"),
    Case("palette.png", (96, 64), "RGBA"),
    Case("palette.gif", (96, 64), "P"),
    Case("deep.png", (96, 64), "RGB", bits=16, icc=True, dpi=144),
    Case("deepalpha.png", (96, 64), "RGBA", bits=16),
    Case("deepgrey.png", (96, 64), "I;16", bits=16, dpi=144),
    Case("deep.tif", (96, 64), "RGB", bits=16, icc=True, dpi=144),
    Case("rgb.tif", (96, 64), "RGB", icc=True, dpi=600),
    Case("cmyk.jpg", (96, 64), "RGB", dpi=142.24),
    Case("rgb.webp", (96, 64), "RGB", icc=True, exif=True),
    Case("rgba.webp", (96, 64), "RGBA"),
    Case("rgb.bmp", (96, 64), "RGB", dpi=192),
]


def crop() -> np.ndarray:
    return np.asarray(Image.open(SET14 / "baboon.png").convert("RGB"))[200:232, 240:288]


def soft_alpha(height: int, width: int) -> np.ndarray:
    """A disc with a soft edge: opaque middle, transparent corners, a ramp between."""
    y, x = np.mgrid[:height, :width]
    distance = np.hypot((y - height / 2) / height, (x - width / 2) / width)
    return np.clip((0.45 - distance) * 1000, 0, 255).astype(np.uint8)


def imagemagick(*args: str) -> None:
    subprocess.run([IMAGEMAGICK, *args], check=True)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    rgb = crop()
    image = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x010F] = "sr-scale test camera"
    exif[0x0112] = 6
    image.save(folder / "oriented.jpg", quality=85, exif=exif, icc_profile=SRGB, xmp=XMP, dpi=(300, 300))
    exif[0x0112] = 1
    image.save(folder / "rgb.png", exif=exif, icc_profile=SRGB, dpi=(72, 72))
    image.save(folder / "rgb.webp", quality=90, exif=exif, icc_profile=SRGB)
    image.save(folder / "rgb.bmp")
    image.save(folder / "rgb.tif", icc_profile=SRGB, dpi=(300, 300))
    rgba = Image.fromarray(np.dstack([rgb, soft_alpha(32, 48)]), "RGBA")
    rgba.save(folder / "rgba.png")
    rgba.save(folder / "rgba.webp", lossless=True)
    image.convert("L").save(folder / "grey.png")
    Image.merge("LA", [image.convert("L"), rgba.getchannel("A")]).save(folder / "greyalpha.png")
    paletted = image.quantize(32)
    paletted.save(folder / "palette.png", transparency=0)
    paletted.save(folder / "palette.gif", transparency=0)
    source = str(folder / "rgb.png")
    imagemagick(source, "-depth", "16", f"PNG48:{folder / 'deep.png'}")
    imagemagick(str(folder / "rgba.png"), "-depth", "16", f"PNG64:{folder / 'deepalpha.png'}")
    imagemagick(source, "-colorspace", "Gray", "-depth", "16", f"PNG:{folder / 'deepgrey.png'}")
    imagemagick(source, "-depth", "16", str(folder / "deep.tif"))
    imagemagick(source, "-colorspace", "CMYK", str(folder / "cmyk.jpg"))
    return folder


def sr_scale(*args: str, model: Path | None = None, stdin: bytes | None = None):
    """Run the command in-process; returns click's Result (exit_code, stdout_bytes, stderr)."""
    argv = [str(a) for a in args] + (["--model", str(model)] if model else [])
    return CliRunner().invoke(main, argv, input=stdin, catch_exceptions=False)


def bits_of(path: Path) -> int:
    """Bits per sample as ImageMagick reports them (Pillow shows 16-bit colour as 8-bit)."""
    return int(subprocess.run(["identify", "-format", "%z", str(path)], capture_output=True, text=True).stdout)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_kind_of_image_keeps_its_layout_depth_and_metadata(case, samples, tiny_onnx, tmp_path):
    out = tmp_path / f"out{Path(case.name).suffix}"
    result = sr_scale(samples / case.name, out, model=tiny_onnx)
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size == case.size
        assert im.mode == case.mode
        assert bits_of(out) == case.bits
        assert (im.info.get("icc_profile") == SRGB) == case.icc
        exif = im.getexif()
        assert (exif.get(0x010F) == "sr-scale test camera") == case.exif
        assert exif.get(0x0112, 1) == 1
        if case.dpi:
            assert im.info["dpi"][0] == pytest.approx(case.dpi, abs=0.5)


def test_alpha_stays_transparent_where_it_was_and_opaque_where_it_was(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.png"
    assert sr_scale(samples / "rgba.png", out, model=tiny_onnx).exit_code == 0
    alpha = np.asarray(Image.open(out))[..., 3]
    assert alpha[0, 0] == 0 and alpha[32, 48] == 255


def test_xmp_is_kept_with_orientation_reset(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.jpg"
    assert sr_scale(samples / "oriented.jpg", out, model=tiny_onnx).exit_code == 0
    xmp = Image.open(out).info["xmp"]
    assert b'tiff:Orientation="1"' in xmp


def test_strip_drops_profiles_and_exif(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.jpg"
    assert sr_scale(samples / "oriented.jpg", "-strip", out, model=tiny_onnx).exit_code == 0
    with Image.open(out) as im:
        assert "icc_profile" not in im.info and "xmp" not in im.info and not im.getexif().get(0x010F)


def test_quality_defaults_to_the_input_jpeg_quality(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.jpg"
    assert sr_scale(samples / "oriented.jpg", out, model=tiny_onnx).exit_code == 0
    assert _identify(out, "%Q") == "85"


def test_quality_option_sets_the_jpeg_quality(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.jpg"
    assert sr_scale(samples / "rgb.png", "-quality", "70", out, model=tiny_onnx).exit_code == 0
    assert _identify(out, "%Q") == "70"


def test_quality_of_a_png_input_defaults_to_92(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.jpg"
    assert sr_scale(samples / "rgb.png", out, model=tiny_onnx).exit_code == 0
    assert _identify(out, "%Q") == "92"


@pytest.mark.parametrize("geometry", ["300%", "100x", "x50", "200x200!", "120x120^", "1500@", "50%", "20x20", "500x500>"])
def test_resize_gives_the_size_imagemagick_gives(geometry, samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.png"
    assert sr_scale(samples / "rgb.png", "-resize", geometry, out, model=tiny_onnx).exit_code == 0
    expected = _identify_resize(samples / "rgb.png", geometry)
    assert Image.open(out).size == expected


def test_shrinking_never_loads_the_model(samples, tmp_path):
    out = tmp_path / "out.png"
    result = sr_scale(samples / "rgb.png", "-resize", "50%", out, "--model", tmp_path / "missing.onnx")
    assert result.exit_code == 0 and Image.open(out).size == (24, 16)


def test_scale_4_is_two_model_passes(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.png"
    assert sr_scale(samples / "grey.png", "--scale", "4", out, model=tiny_onnx).exit_code == 0
    assert Image.open(out).size == (192, 128) and Image.open(out).mode == "L"


def test_tta_runs_and_keeps_the_size(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.png"
    assert sr_scale(samples / "rgb.png", "--tta", out, model=tiny_onnx).exit_code == 0
    assert Image.open(out).size == (96, 64)


def test_passthrough_options_run_in_imagemagick_after_the_model_in_order(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.png"
    result = sr_scale(samples / "oriented.jpg", "-resize", "200%", "-colorspace", "Gray", "-negate", "-flop", out, model=tiny_onnx)
    assert result.exit_code == 0, result.output
    reference = tmp_path / "reference.png"
    assert sr_scale(samples / "oriented.jpg", reference, model=tiny_onnx).exit_code == 0
    imagemagick(str(reference), "-colorspace", "Gray", "-negate", "-flop", str(tmp_path / "expected.png"))
    with Image.open(out) as im, Image.open(tmp_path / "expected.png") as expected:
        assert im.mode == "L" and im.size == expected.size == (64, 96)
        assert np.abs(np.asarray(im, int) - np.asarray(expected.convert("L"), int)).max() <= 1
        assert im.getexif().get(0x010F) == "sr-scale test camera"  # metadata survives ImageMagick


def test_exif_goes_into_a_tiff_output(samples, tiny_onnx, tmp_path):
    out = tmp_path / "out.tif"
    assert sr_scale(samples / "oriented.jpg", out, model=tiny_onnx).exit_code == 0
    with Image.open(out) as im:
        assert im.getexif().get(0x010F) == "sr-scale test camera" and im.info.get("icc_profile") == SRGB


def test_passthrough_without_imagemagick_names_the_option(samples, tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = sr_scale(samples / "rgb.png", "-unsharp", "0x1", tmp_path / "out.png", model=tiny_onnx)
    assert result.exit_code == 1 and "-unsharp" in result.stderr and "ImageMagick" in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_pipe_from_stdin_to_stdout_with_format_prefix(samples, tiny_onnx):
    result = sr_scale("-", "jpg:-", model=tiny_onnx, stdin=(samples / "rgb.png").read_bytes())
    assert result.exit_code == 0
    with Image.open(io.BytesIO(result.stdout_bytes)) as im:
        assert im.format == "JPEG" and im.size == (96, 64)


def test_stdout_without_prefix_keeps_the_input_format(samples, tiny_onnx):
    result = sr_scale(samples / "grey.png", "-", model=tiny_onnx)
    assert Image.open(io.BytesIO(result.stdout_bytes)).format == "PNG"


def test_format_prefix_on_a_file_overrides_the_extension(samples, tiny_onnx, tmp_path):
    out = tmp_path / "picture.bin"
    assert sr_scale(samples / "rgb.png", f"webp:{out}", model=tiny_onnx).exit_code == 0
    assert Image.open(out).format == "WEBP"


def test_pipe_through_a_real_shell(samples, tiny_onnx):
    """The installed entry point in a real pipeline, bytes in and out."""
    script = f'cat "{samples / "rgb.png"}" | "{sys.executable}" -m sr_scale.imagemagick_wrapper.cli - png:- --model "{tiny_onnx}"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, check=True)
    assert Image.open(io.BytesIO(done.stdout)).size == (96, 64)


# --- batches ---------------------------------------------------------------------------------


@pytest.fixture
def folder_of_images(samples, tmp_path) -> Path:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(samples / "rgb.png", folder / "a.png")
    shutil.copy(samples / "oriented.jpg", folder / "b.jpg")
    shutil.copy(samples / "grey.png", folder / "sub" / "c.png")
    (folder / "broken.jpg").write_text("not a picture")
    return folder


def test_batch_keeps_names_adds_suffix_recurses_and_reports_the_bad_file(folder_of_images, tiny_onnx, tmp_path):
    out = tmp_path / "out"
    result = sr_scale("-o", out, "--suffix", "_x2", "--recursive", "--jobs", "2", folder_of_images, model=tiny_onnx)
    assert result.exit_code == 1  # one file failed
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a_x2.png", "b_x2.jpg", "sub/c_x2.png"]
    assert "broken.jpg" in result.stderr and "3 written, 0 skipped" in result.stderr and "1 failed" in result.stderr


def test_batch_without_recursive_leaves_subfolders_alone(folder_of_images, tiny_onnx, tmp_path):
    out = tmp_path / "out"
    sr_scale("-o", out, folder_of_images / "a.png", folder_of_images / "b.jpg", model=tiny_onnx)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg"]


def test_batch_skips_existing_outputs_unless_overwrite(folder_of_images, samples, tiny_onnx, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(samples / "grey.png", out / "a.png")  # a finished image, though not this input's
    kept = (out / "a.png").read_bytes()
    result = sr_scale("-o", out, folder_of_images / "a.png", model=tiny_onnx)
    assert result.exit_code == 0 and (out / "a.png").read_bytes() == kept and "1 skipped" in result.stderr
    result = sr_scale("-o", out, "--overwrite", folder_of_images / "a.png", model=tiny_onnx)
    assert result.exit_code == 0 and Image.open(out / "a.png").size == (96, 64)


def test_batch_makes_again_an_output_that_is_empty_or_does_not_decode(folder_of_images, tiny_onnx, tmp_path):
    """A power cut can leave a zero-length or truncated output: a rerun must not skip it forever."""
    out = tmp_path / "out"
    sr_scale("-o", out, folder_of_images / "a.png", folder_of_images / "b.jpg", model=tiny_onnx)
    good = {name: (out / name).read_bytes() for name in ("a.png", "b.jpg")}
    (out / "a.png").write_bytes(b"")
    (out / "b.jpg").write_bytes(good["b.jpg"][: len(good["b.jpg"]) // 2])
    result = sr_scale("-o", out, folder_of_images / "a.png", folder_of_images / "b.jpg", model=tiny_onnx)
    assert result.exit_code == 0 and "2 written, 0 skipped" in result.stderr
    assert {name: (out / name).read_bytes() for name in good} == good


def test_batch_refuses_two_inputs_with_the_same_output_name(folder_of_images, samples, tiny_onnx, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(samples / "grey.png", other / "a.png")
    result = sr_scale("-o", tmp_path / "out", folder_of_images / "a.png", other / "a.png", model=tiny_onnx)
    assert result.exit_code == 1 and "same output name" in result.stderr
    assert Image.open(tmp_path / "out" / "a.png").mode == "RGB"  # the first one, not replaced by the grey one


def test_batch_prints_no_progress_bar_when_not_on_a_terminal(folder_of_images, tiny_onnx, tmp_path):
    result = sr_scale("-o", tmp_path / "out", folder_of_images / "a.png", folder_of_images / "b.jpg", model=tiny_onnx)
    assert result.stderr.strip().splitlines() == ["sr-scale: 2 written, 0 skipped (output exists), 0 failed"]


# --- bad input: a one-line error naming the file, the right exit code, nothing left behind ------


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


BAD_INPUTS = {
    "empty.png": lambda samples: b"",
    "truncated.jpg": lambda samples: (samples / "oriented.jpg").read_bytes()[:600],
    "truncated.png": lambda samples: (samples / "rgb.png").read_bytes()[:300],
    "text.jpg": lambda samples: b"this is a text file, not a JPEG\n",
    "bomb.png": lambda samples: _png_header(100000, 100000) + b"\0" * 64,
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_line_error_and_no_output(name, samples, tiny_onnx, tmp_path):
    source = tmp_path / name
    source.write_bytes(BAD_INPUTS[name](samples))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = sr_scale(source, out_dir / "out.png", model=tiny_onnx)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]
    assert list(out_dir.iterdir()) == []


def test_output_folder_that_does_not_exist_is_refused_before_work(samples, tiny_onnx, tmp_path):
    result = sr_scale(samples / "rgb.png", tmp_path / "nowhere" / "out.png", model=tiny_onnx)
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_output_path_that_is_a_folder_is_refused_and_nothing_is_added(samples, tiny_onnx, tmp_path):
    out_dir = tmp_path / "out"
    (out_dir / "out.png").mkdir(parents=True)
    result = sr_scale(samples / "rgb.png", out_dir / "out.png", model=tiny_onnx)
    assert result.exit_code == 1 and "out.png" in result.stderr
    assert [p.name for p in out_dir.iterdir()] == ["out.png"]


def test_output_equal_to_input_is_refused_and_input_untouched(samples, tiny_onnx, tmp_path):
    source = tmp_path / "same.png"
    shutil.copy(samples / "rgb.png", source)
    before = source.read_bytes()
    result = sr_scale(source, source, model=tiny_onnx)
    assert result.exit_code == 1 and "output is the input" in result.stderr
    assert source.read_bytes() == before


@pytest.mark.parametrize("args", [["--bogus"], ["-nosuchoption", "1"], ["-resize", "12q"], ["--scale", "3"]])
def test_usage_errors_exit_2(args, samples, tiny_onnx, tmp_path):
    result = sr_scale(samples / "rgb.png", *args, tmp_path / "out.png", model=tiny_onnx)
    assert result.exit_code == 2 and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("where", ["before OUT", "after OUT"])
def test_an_unknown_single_dash_option_is_named_as_imagemagick_names_it(where, samples, tiny_onnx, tmp_path):
    # Before OUT it would otherwise take OUT as its argument and leave one path ("give IN OUT").
    args = ["-frobnicate", tmp_path / "out.png"] if where == "before OUT" else [tmp_path / "out.png", "-frobnicate"]
    result = sr_scale(samples / "rgb.png", *args, model=tiny_onnx)
    assert result.exit_code == 2 and not (tmp_path / "out.png").exists()
    assert result.stderr.strip().splitlines()[-1] == "Error: unrecognized option '-frobnicate'"


def test_missing_model_file_is_an_error_naming_it(samples, tmp_path):
    result = sr_scale(samples / "rgb.png", tmp_path / "out.png", "--model", tmp_path / "absent.onnx")
    assert result.exit_code == 1 and "absent.onnx" in result.stderr and not (tmp_path / "out.png").exists()


def test_corrupted_model_file_is_an_error_naming_it(samples, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    result = sr_scale(samples / "rgb.png", tmp_path / "out.png", "--model", bad)
    assert result.exit_code == 1 and "bad.onnx" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists()


def test_help_and_version_do_not_load_the_engine():
    code = ("import sys\nfrom sr_scale.imagemagick_wrapper.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "assert 'onnxruntime' not in sys.modules and 'sr_scale.core.engine' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def _identify(path: Path, fmt: str) -> str:
    return subprocess.run(["identify", "-format", fmt, str(path)], capture_output=True, text=True).stdout


def _identify_resize(path: Path, geometry: str) -> tuple[int, int]:
    done = subprocess.run([IMAGEMAGICK, str(path), "-resize", geometry, "-format", "%wx%h", "info:"],
                          capture_output=True, text=True, check=True)
    width, height = done.stdout.split("x")
    return int(width), int(height)


def test_batch_shows_a_progress_bar_on_a_terminal(folder_of_images, tiny_onnx, tmp_path):
    import pty

    primary, secondary = pty.openpty()
    command = [sys.executable, "-m", "sr_scale.imagemagick_wrapper.cli", "-o", str(tmp_path / "out"),
               str(folder_of_images / "a.png"), str(folder_of_images / "b.jpg"), "--model", str(tiny_onnx)]
    done = subprocess.run(command, stderr=secondary, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(secondary)
    shown = b""
    try:
        while chunk := os.read(primary, 4096):
            shown += chunk
    except OSError:  # EIO: the terminal's other end is closed and everything has been read
        pass
    os.close(primary)
    assert done.returncode == 0 and b"100%" in shown and b"2 written" in shown


def test_artefact_cancelling_model_is_picked_by_name_and_beats_x2_on_jpeg_inputs(tmp_path):
    from sr_scale.core.evaluate import load_hr, make_lr
    from sr_scale.core.metrics import y_psnr

    hr = load_hr(SET14 / "lenna.png", 2)
    Image.fromarray(make_lr(hr, 2, jpeg_quality=75)).save(tmp_path / "lr.png")  # LR as a catalog JPEG left it
    scores = {}
    for model in ("x2", "x2-jpeg"):
        result = CliRunner().invoke(main, ["--model", model, str(tmp_path / "lr.png"), str(tmp_path / f"{model}.png")])
        assert result.exit_code == 0, result.output
        scores[model] = y_psnr(np.asarray(Image.open(tmp_path / f"{model}.png")), hr, 2)
    assert scores["x2-jpeg"] > scores["x2"] + 0.3, scores
