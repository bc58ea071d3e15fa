"""The filter as a designer sees it: the real GIMP 3 with its windows on an X display (Xvfb).

GIMP starts in the trixie root with the self-contained plug-in in a fresh profile, opens a JPEG in
a window and runs Filters > Enhance > AI Upscale 2x interactively. From the host, xdotool finds the
dialog by its title, ImageMagick's `import` takes a screenshot of it (written to
tests/artifacts/gimp-dialog.png, and the whole screen beside it, for a reviewer to look at),
tesseract reads its labels back, and Escape cancels it: the image must be untouched.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_gimp3 import ROOT, RUN_GIMP
from test_gimp3_bundle import install_bundle

from sr_scale.core.restoration import model_for
from sr_scale.gimp.pixels import MODELS

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("SR_SCALE_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
TITLE = "AI Upscale 2x"
WAIT = 420  # seconds for GIMP to start and show the dialog on a busy 2-core machine

# Runs in GIMP's batch Python once its windows are up: the image in a window, the filter run as
# from the menu (interactive), then what came back and the layer's pixels before and after.
BATCH = r'''
import json
io = {io!r}
img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(io + "/product.jpg"))
Gimp.Display.new(img)
Gimp.displays_flush()
def pixels(name):
    layer = img.get_layers()[0]
    w, h = layer.get_width(), layer.get_height()
    open(io + "/" + name + ".raw", "wb").write(bytes(layer.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0,
        "R'G'B' u8", Gegl.AbyssPolicy.CLAMP)))
    return [w, h]
before = pixels("before")
dirty = img.is_dirty()
proc = Gimp.get_pdb().lookup_procedure("plug-in-sr-scale-upscale")
config = proc.create_config()
config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
config.set_property("image", img)
config.set_core_object_array("drawables", img.get_selected_layers())
values = proc.run(config)
after = pixels("after")
json.dump({{"status": values.index(0).value_nick, "before": before, "after": after,
           "image": [img.get_width(), img.get_height()], "dirty": [dirty, img.is_dirty()]}}, open(io + "/report.json", "w"))
img.clean_all()
'''


def free_display() -> int:
    for number in range(90, 130):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number in 90-129")


@pytest.fixture(scope="module")
def xvfb():
    """A private X server; stopped (by its own pid) when the module is done."""
    number = free_display()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.2)
    yield number
    server.terminate()
    server.wait(timeout=30)


def x(display: int, *args: str, check: bool = True) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, env={**os.environ, "DISPLAY": f":{display}"})
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


def wait_for_window(display: int, gimp: subprocess.Popen) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = x(display, "xdotool", "search", "--onlyvisible", "--name", f"^{TITLE}$", check=False).split()
        if found:
            return found[0]
        if gimp.poll() is not None:
            break
        time.sleep(1)
    gimp.kill()
    output = gimp.communicate()[0]
    pytest.fail(f"no {TITLE!r} window within {WAIT} s; GIMP said:\n{output[-3000:]}")


def settled_screenshot(display: int, window: str, path: Path) -> np.ndarray:
    """Screenshots until two in a row are equal (GTK has drawn everything)."""
    previous = None
    for _ in range(30):
        x(display, "import", "-window", window, str(path))
        shot = np.asarray(Image.open(path).convert("RGB"))
        if previous is not None and shot.shape == previous.shape and np.array_equal(shot, previous):
            return shot
        previous = shot
        time.sleep(1)
    return previous


@pytest.fixture(scope="module")
def dialog(xvfb, tmp_path_factory, butterfly) -> dict:
    assert (ROOT / "usr/bin/gimp-3.0").exists(), f"no GIMP 3 root in {ROOT}: run tests/gimp3/make-root.sh"
    io = tmp_path_factory.mktemp("gimp3-dialog-io")
    home = io / "home"
    install_bundle(home, "3.13")
    Image.fromarray(butterfly).save(io / "product.jpg", quality=75)
    gimp = subprocess.Popen([str(RUN_GIMP), "-w", str(io), "-d", str(xvfb), str(home), BATCH.format(io=str(io))],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = wait_for_window(xvfb, gimp)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = settled_screenshot(xvfb, window, ARTIFACTS / "gimp-dialog.png")
        x(xvfb, "import", "-window", "root", str(ARTIFACTS / "gimp-screen.png"))
        name = x(xvfb, "xdotool", "getwindowname", window).strip()
        ocr_input = io / "ocr.png"
        subprocess.run(["convert", str(ARTIFACTS / "gimp-dialog.png"), "-negate", "-resize", "200%", str(ocr_input)], check=True)
        text = subprocess.run(["tesseract", str(ocr_input), "-"], capture_output=True, text=True, check=True).stdout
        x(xvfb, "xdotool", "windowfocus", "--sync", window, "key", "Escape")  # as typed (XTEST), to the dialog
        output = gimp.communicate(timeout=300)[0]
    finally:
        if gimp.poll() is None:
            gimp.kill()
    assert gimp.returncode == 0, output[-3000:]
    report = json.loads((io / "report.json").read_text())
    return {"name": name, "shot": shot, "text": text, "report": report, "io": io}


def test_dialog_window_is_titled_after_the_filter(dialog):
    assert dialog["name"] == TITLE


def test_dialog_screenshot_is_drawn_not_blank(dialog):
    shot = dialog["shot"]
    assert shot.shape[0] >= 150 and shot.shape[1] >= 300
    grey = shot.mean(axis=2)
    assert grey.std() > 10 and len(np.unique(grey)) > 16


@pytest.mark.parametrize("label", ["Model", "Tile size", "Device", "Runs inside GIMP", "Cancel",
                                   f"JPEG quality 75 detected: {model_for(75)} suggested", MODELS[model_for(75)].split()[0]])
def test_dialog_shows_its_options_to_the_eye(dialog, label):
    assert label in dialog["text"], dialog["text"]


def test_cancel_leaves_the_image_untouched(dialog):
    report = dialog["report"]
    assert report["status"] == "cancel"
    assert report["image"] == report["before"] == report["after"] == [256, 256]
    dirty_before, dirty_after = report["dirty"]
    assert dirty_after == dirty_before  # nothing was done to it, not even an empty undo step
    io = dialog["io"]
    assert (io / "before.raw").read_bytes() == (io / "after.raw").read_bytes()
