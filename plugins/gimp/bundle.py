"""`sr-scale-gimp bundle`: a self-contained "AI Upscale 2x" plug-in folder for GIMP's own Python.

GIMP 3 runs Python plug-ins with its own interpreter: Python 3.13 in Debian trixie, the GNOME
runtime's in the Flatpak, a bundled one in the Windows and macOS installers. Those cannot start or
import the host's sr-scale, so the bundle carries everything the in-process path imports:

- the plug-in file and sr-scale's own modules that `pixels.engine_upscaler()` really loads (found by
  importing it in a fresh interpreter of this installation and copying those very files: the same
  code as `sr-scale`, never a copy that drifts), with the embedded models (core/models/*.onnx);
- numpy and onnxruntime wheels for that Python version and platform, at this installation's
  versions (so results equal sr-scale's), unpacked into `site/`. Nothing else: the in-process path
  needs no Pillow, pypng or tifffile (GIMP decodes and encodes the files itself);
- bundle.json: the Python version and platform, checked by the plug-in before numpy is imported.

The folder is built in a temporary folder beside the target and renamed in at the end, so a failed
download never leaves half a plug-in. Wheels are kept in a cache folder for offline rebuilds.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from sr_scale.gimp.pixels import BUNDLE_FILE, BUNDLE_SITE, PLUG_IN, Bundle

WHEELS = ("numpy", "onnxruntime")  # all the in-process engine imports besides the standard library
# Friendly names for the documented targets -> the pip platform tags their wheels may carry.
# pip does not widen manylinux tags by itself, hence the list (GIMP 3 distributions and the
# Flatpak's GNOME runtime all have glibc >= 2.28).
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-x86_64": ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x86_64": ("win_amd64",),
    "macos-arm64": ("macosx_14_0_arm64",),  # pip accepts older macOS versions and universal2 itself
    "macos-x86_64": ("macosx_14_0_x86_64",),
}
# Parts of the unpacked wheels the engine never loads: test suites, C headers, training tools.
PRUNED = ("numpy/_core/tests", "numpy/tests", "numpy/*/tests", "numpy/_core/include", "numpy/f2py", "numpy/typing/tests",
          "onnxruntime/tools", "onnxruntime/transformers", "onnxruntime/quantization", "onnxruntime/datasets")
_PIP_NETWORK_ERRORS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
                       "Network is unreachable", "ConnectTimeoutError", "Max retries exceeded", "Name or service not known")


class BundleError(Exception):
    """The bundle cannot be built; the message is one line for the user."""


@dataclass(frozen=True)
class Target:
    """What the bundle is for: a Python version ("3.13") and the pip platform tags of its wheels."""

    python: str
    tags: tuple[str, ...]

    @property
    def platform(self) -> str:
        return self.tags[0]


def target(python: str, platform: str) -> Target:
    """A Target from --python X.Y and --platform (a name of PLATFORMS or a pip platform tag)."""
    if not re.fullmatch(r"3\.\d{1,2}", python):
        raise BundleError(f"--python must be a Python 3 version like 3.13, not {python!r}")
    tags = PLATFORMS.get(platform, (platform,))
    system_and_machine(tags[0])  # an unknown tag fails here, before any download
    return Target(python, tags)


def system_and_machine(tag: str) -> tuple[str, str]:
    """The sys.platform and machine (as pixels.machine() names it) a pip platform tag runs on."""
    if tag == "win_amd64":
        return "win32", "x86_64"
    if tag == "win_arm64":
        return "win32", "arm64"
    found = re.fullmatch(r"(manylinux\w*?|musllinux_\d+_\d+|linux)_(x86_64|aarch64)", tag)
    if found:
        return "linux", {"aarch64": "arm64"}.get(found[2], found[2])
    found = re.fullmatch(r"macosx_\d+_\d+_(x86_64|arm64|universal2)", tag)
    if found:
        return "darwin", "" if found[1] == "universal2" else found[1]
    raise BundleError(f"unknown platform {tag!r}: use one of {', '.join(PLATFORMS)} or a pip platform tag such as "
                      "manylinux_2_28_x86_64, win_amd64, macosx_14_0_arm64")


def default_wheel_cache() -> Path:
    """Downloaded wheels are kept here for rebuilds without a network (SR_SCALE_WHEEL_CACHE overrides)."""
    if os.environ.get("SR_SCALE_WHEEL_CACHE"):
        return Path(os.environ["SR_SCALE_WHEEL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sr-scale" / "wheels"


def requirements() -> list[str]:
    """This installation's versions of the bundled packages, so the bundle computes what sr-scale does."""
    return [f"{name}=={metadata.version(name)}" for name in WHEELS]


def pip_download_args(tgt: Target, dest: Path, cache: Path, offline: bool) -> list[str]:
    args = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:", "--no-deps",
            "--python-version", tgt.python, "--dest", str(dest)]
    for tag in tgt.tags:
        args += ["--platform", tag]
    if offline:
        args += ["--no-index", "--find-links", str(cache)]
    else:
        args += ["-vv"]  # the skipped wheels' tags, for naming what exists when nothing fits
    return args + requirements()


def download_wheels(tgt: Target, dest: Path, cache: Path) -> list[Path]:
    """The WHEELS for tgt in dest: from the cache when it has them, else from the package index
    (pip's own configuration applies), keeping a copy in the cache."""
    dest.mkdir(parents=True, exist_ok=True)
    if cache.is_dir():
        done = subprocess.run(pip_download_args(tgt, dest, cache, offline=True), capture_output=True, text=True)
        if done.returncode == 0:
            return sorted(dest.glob("*.whl"))
    done = subprocess.run(pip_download_args(tgt, dest, cache, offline=False), capture_output=True, text=True)
    if done.returncode != 0:
        raise BundleError(pip_failure(tgt, done.stdout + done.stderr))
    wheels = sorted(dest.glob("*.whl"))
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            if not (cache / wheel.name).exists():
                shutil.copy2(wheel, cache / f".{wheel.name}.part")
                os.replace(cache / f".{wheel.name}.part", cache / wheel.name)
    except OSError:
        pass  # a read-only cache only costs the next build a download
    return wheels


def pip_failure(tgt: Target, output: str) -> str:
    """pip's failure as one line: no network, or which wheels do exist for the wanted version."""
    if any(marker in output for marker in _PIP_NETWORK_ERRORS):
        return (f"cannot download the {', '.join(WHEELS)} wheels for Python {tgt.python} on {tgt.platform}: "
                "the package index cannot be reached (no network?); nothing was written")
    for requirement in requirements():
        name, version = requirement.split("==")
        if f"matching distribution found for {requirement}" not in output:
            continue
        pythons, platforms = set(), set()
        # pip -vv: "Skipping link: none of the wheel's tags (cp39-cp39-win_amd64) are compatible ... NAME-VERSION-..."
        for tags, link in re.findall(r"none of the wheel's tags \(([^)]*)\).*?(\S+\.whl)", output):
            if Path(link).name.startswith(f"{name}-{version}-"):
                for tag in tags.split(", "):
                    python, _, plat = tag.split("-", 2)
                    pythons.add(python)
                    platforms.add(plat)
        exists = ("; it has wheels for Python " + ", ".join(sorted((_python_of(p) for p in pythons), key=_version_key))
                  + " on " + ", ".join(sorted(platforms))) if pythons else ""
        return f"no {name} {version} wheel for Python {tgt.python} on {tgt.platform}{exists}"
    lines = [line for line in output.splitlines() if line.startswith("ERROR:")]
    return f"pip could not download the wheels: {lines[-1].removeprefix('ERROR: ') if lines else 'exit status ' + output[-200:]}"


def _python_of(tag: str) -> str:
    digits = tag.removeprefix("cp").removeprefix("py")
    return f"{digits[0]}.{digits[1:]}" if len(digits) > 1 else digits


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def unpack_wheels(wheels: list[Path], site: Path) -> dict[str, str]:
    """Unpack each wheel into site (a wheel is a zip laid out for site-packages); name -> version."""
    packages = {}
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
        packages[name.lower()] = version
    for pattern in PRUNED:
        for path in site.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
    return packages


# A fresh interpreter of this installation imports what the plug-in imports in-process, and says
# which sr_scale modules that loaded: exactly those files go into the bundle.
_MODULE_PROBE = """
import json, sys
from sr_scale.gimp import pixels
pixels.engine_upscaler()
pixels.restoration()
print(json.dumps({name: module.__file__ for name, module in sys.modules.items()
                  if name.split(".")[0] == "sr_scale" and getattr(module, "__file__", None)}))
"""


def engine_modules() -> dict[str, Path]:
    """Bundle path (e.g. "sr_scale/core/engine.py") -> the installed file, for every sr_scale
    module the in-process path imports."""
    done = subprocess.run([sys.executable, "-c", _MODULE_PROBE], capture_output=True, text=True)
    if done.returncode != 0:
        raise BundleError(f"this installation's engine does not import: {done.stderr.strip().splitlines()[-1:]}")
    modules = {}
    for name, file in json.loads(done.stdout.strip().splitlines()[-1]).items():
        parts = name.split(".")
        relative = "/".join(parts) + ("/__init__.py" if Path(file).name == "__init__.py" else ".py")
        modules[relative] = Path(file)
    return modules


def write_plug_in(folder: Path) -> None:
    """The plug-in file (executable: GIMP skips it otherwise), sr-scale's engine modules and models."""
    package = resources.files("sr_scale.gimp")
    plug_in = folder / f"{PLUG_IN}.py"
    plug_in.write_bytes(package.joinpath(PLUG_IN, f"{PLUG_IN}.py").read_bytes())
    plug_in.chmod(0o755)
    for relative, source in engine_modules().items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / relative)
    models = resources.files("sr_scale.core") / "models"
    (folder / "sr_scale" / "core" / "models").mkdir(parents=True, exist_ok=True)
    for model in models.iterdir():
        if model.name.endswith(".onnx"):
            (folder / "sr_scale" / "core" / "models" / model.name).write_bytes(model.read_bytes())


def build(tgt: Target, staging: Path, cache: Path) -> Bundle:
    """The whole plug-in folder in staging (empty, already created)."""
    system, machine = system_and_machine(tgt.platform)
    with tempfile.TemporaryDirectory(prefix="sr-scale-wheels-") as downloads:
        packages = unpack_wheels(download_wheels(tgt, Path(downloads), cache), staging / BUNDLE_SITE)
    write_plug_in(staging)
    bundle = Bundle(tgt.python, tgt.platform, system, machine, packages)
    (staging / BUNDLE_FILE).write_text(bundle.to_json(), encoding="utf-8")
    return bundle


def put_in_place(staging: Path, target: Path) -> None:
    """Rename the finished folder onto target, replacing an older copy (never half of one)."""
    staging.chmod(0o755)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def bundle_into(tgt: Target, folder: Path, cache: Path) -> Path:
    """Write folder/sr-scale-upscale/ for tgt; returns it. Nothing is left behind on failure."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{PLUG_IN}.", dir=folder))
    try:
        build(tgt, staging, cache)
        put_in_place(staging, folder / PLUG_IN)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / PLUG_IN


def zip_name(tgt: Target) -> str:
    return f"{PLUG_IN}-python{tgt.python}-{tgt.platform}.zip"


def bundle_zip(tgt: Target, folder: Path, cache: Path) -> Path:
    """Write folder/sr-scale-upscale-pythonX.Y-TAG.zip holding sr-scale-upscale/ (exec bit kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    archive_path = folder / zip_name(tgt)
    with tempfile.TemporaryDirectory(prefix=f".{PLUG_IN}.", dir=folder) as work:
        staging = Path(work) / PLUG_IN
        staging.mkdir()
        build(tgt, staging, cache)
        partial = Path(work) / archive_path.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.rglob("*")):
                info = zipfile.ZipInfo.from_file(path, f"{PLUG_IN}/{path.relative_to(staging).as_posix()}")
                info.external_attr = ((0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644) | (0o040000 if path.is_dir() else 0o100000)) << 16
                if path.is_dir():
                    archive.writestr(info, b"")
                else:
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
        os.replace(partial, archive_path)
    return archive_path
