"""`sr-scale-gimp install|uninstall|bundle`: put the "AI Upscale 2x" plug-in into GIMP 3's plug-ins folder.

GIMP registers a Python plug-in only as plug-ins/NAME/NAME.py with the exec bit set (otherwise
it silently ignores it), so the folder is built here rather than left to the user. By default, next
to the plug-in go its pixel module and engine.json: the absolute path of this installation's
`sr-scale` and, for a GIMP whose Python is the same version, this installation's site folders.
`--self-contained` (and `bundle`, for another machine) instead carries the engine itself, numpy and
onnxruntime for GIMP's own Python (bundle.py), for the Flatpak, Windows and macOS GIMPs.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from importlib import resources
from pathlib import Path

import click

from sr_scale.gimp.pixels import ENGINE_FILE, PLUG_IN, Engine, machine

FLATPAK_APP = "org.gimp.GIMP"  # Flathub's GIMP; its profile lives in the sandbox's own config folder
_VERSION_PROBE = "import sys; print('%d.%d' % sys.version_info[:2])"


def default_gimp_dir() -> Path:
    """GIMP 3.0's user folder on this system (GIMP3_DIRECTORY overrides it, as in GIMP itself)."""
    if os.environ.get("GIMP3_DIRECTORY"):
        return Path(os.environ["GIMP3_DIRECTORY"])
    if sys.platform == "win32":
        return Path(os.environ["APPDATA"]) / "GIMP" / "3.0"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "GIMP" / "3.0"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "GIMP" / "3.0"


def flatpak_gimp_dir() -> Path:
    """The Flatpak GIMP 3's user folder (its sandbox's XDG_CONFIG_HOME)."""
    return Path.home() / ".var" / "app" / FLATPAK_APP / "config" / "GIMP" / "3.0"


def profile_candidates() -> list[Path]:
    """GIMP 3 user folders that exist here (GIMP makes its folder on first start), system's first."""
    if os.environ.get("GIMP3_DIRECTORY"):
        return [default_gimp_dir()]
    candidates = [default_gimp_dir()] + ([flatpak_gimp_dir()] if sys.platform.startswith("linux") else [])
    return [path for path in candidates if path.is_dir()]


def is_flatpak_profile(gimp_dir: Path) -> bool:
    return FLATPAK_APP in gimp_dir.parts and ".var" in gimp_dir.parts


def interpreter_files() -> list[Path]:
    """GIMP's interpreter registrations (pygimp.interp names the Python of the Windows and macOS
    installers); a distribution's GIMP has none and runs `python3` from PATH."""
    prefixes = []
    for variable in ("ProgramFiles", "ProgramW6432", "LOCALAPPDATA"):
        if os.environ.get(variable):
            prefixes += sorted(Path(os.environ[variable]).glob("GIMP 3*")) + sorted(Path(os.environ[variable], "Programs").glob("GIMP 3*"))
    prefixes += [Path("/Applications/GIMP.app/Contents/Resources"), Path.home() / "Applications/GIMP.app/Contents/Resources"]
    return [interp for prefix in prefixes for interp in sorted((prefix / "lib" / "gimp" / "3.0" / "interpreters").glob("*.interp"))]


def python_of_interpreter_file(path: Path) -> Path | None:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        found = re.fullmatch(r"\s*python3?(?:\.exe)?\s*=\s*(.+?)\s*", line)
        if found:
            return Path(found[1])
    return None


def version_of(command: list[str]) -> str | None:
    """"X.Y" printed by a Python started with `command`, or None when it cannot be run."""
    try:
        done = subprocess.run([*command, "-c", _VERSION_PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = done.stdout.strip()
    return answer if done.returncode == 0 and re.fullmatch(r"3\.\d+", answer) else None


def gimp_python(gimp_dir: Path) -> str | None:
    """The Python version GIMP runs plug-ins with, where it can be found out; None otherwise."""
    if is_flatpak_profile(gimp_dir):
        flatpak = shutil.which("flatpak")
        return version_of([flatpak, "run", f"--command=python3", FLATPAK_APP]) if flatpak else None
    for interp in interpreter_files():
        python = python_of_interpreter_file(interp)
        if python is not None and (version := version_of([str(python)])):
            return version
    if sys.platform.startswith("linux"):
        for python in ("/usr/bin/python3", shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
            if python and (version := version_of([python])):
                return version
    return None


def this_platform() -> str:
    """The bundle platform name (bundle.PLATFORMS) of this machine."""
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux" if sys.platform.startswith("linux") else sys.platform)
    return f"{system}-{machine()}"


def ask_or_fail(question: str, why: str, **prompt) -> str:
    """Ask on a terminal; elsewhere (a script, CI) fail with what to pass instead."""
    if sys.stdin.isatty():
        return click.prompt(question, **prompt)
    raise click.ClickException(why)


def find_sr_scale() -> Path:
    """The `sr-scale` of this very installation (same environment as this command)."""
    name = "sr-scale.exe" if sys.platform == "win32" else "sr-scale"
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.is_file():
        return beside
    found = shutil.which("sr-scale")
    if not found:
        raise click.ClickException("cannot find the sr-scale command of this installation; pass --sr-scale PATH")
    return Path(found)


def this_engine(sr_scale: Path) -> Engine:
    site_folders = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    return Engine(os.path.abspath(sr_scale), f"{sys.version_info.major}.{sys.version_info.minor}", tuple(site_folders))


def install(gimp_dir: Path, engine: Engine) -> Path:
    """Write plug-ins/sr-scale-upscale/ into gimp_dir (replacing an older copy); returns the plug-in file."""
    from sr_scale.gimp.bundle import put_in_place

    plug_ins = gimp_dir / "plug-ins"
    plug_ins.mkdir(parents=True, exist_ok=True)
    target = plug_ins / PLUG_IN
    package = resources.files("sr_scale.gimp")
    # Built beside the target and renamed in, so GIMP never scans a half-written plug-in.
    staging = Path(tempfile.mkdtemp(prefix=f".{PLUG_IN}.", dir=plug_ins))
    try:
        plug_in = staging / f"{PLUG_IN}.py"
        plug_in.write_bytes(package.joinpath(PLUG_IN, f"{PLUG_IN}.py").read_bytes())
        plug_in.chmod(0o755)
        module_folder = staging / "sr_scale" / "gimp"
        module_folder.mkdir(parents=True)
        (module_folder / "__init__.py").write_text('"""Copied by `sr-scale-gimp install`."""\n', encoding="utf-8")
        (module_folder / "pixels.py").write_bytes(package.joinpath("pixels.py").read_bytes())
        (staging / ENGINE_FILE).write_text(engine.to_json(), encoding="utf-8")
        put_in_place(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise click.ClickException(f"cannot install into {target}: {error.strerror or error}") from None
    return target / f"{PLUG_IN}.py"


def uninstall(gimp_dir: Path) -> bool:
    """Remove the plug-in folder; False when it was not installed there."""
    target = gimp_dir / "plug-ins" / PLUG_IN
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True


gimp_dir_option = click.option(
    "--gimp-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="GIMP 3 user folder (default: the system's, e.g. ~/.config/GIMP/3.0).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Install or remove the GIMP 3 filter Filters > Enhance > "AI Upscale 2x"."""


python_option = click.option("--python", "python", default=None, metavar="X.Y",
                              help="GIMP's Python version (GIMP 3.0.4 on Debian trixie: 3.13; Help > About > Components).")
platform_option = click.option("--platform", "platform_name", default=None, metavar="TAG",
                                help="linux-x86_64, windows-x86_64, macos-arm64, macos-x86_64 or a pip platform tag.")
wheels_option = click.option("--wheels", "wheels", type=click.Path(file_okay=False, path_type=Path), default=None,
                             help="Folder of cached wheels (default ~/.cache/sr-scale/wheels; SR_SCALE_WHEEL_CACHE).")


def bundle_target(python: str, platform_name: str):
    from sr_scale.gimp import bundle

    try:
        return bundle.target(python, platform_name)
    except bundle.BundleError as error:
        raise click.BadParameter(str(error)) from None


def choose_gimp_dir() -> Path:
    """The one GIMP 3 profile here; asks (on a terminal) when there are several or none."""
    found = profile_candidates()
    if len(found) == 1:
        return found[0]
    names = ", ".join(map(str, found))
    if found:
        answer = ask_or_fail(f"Several GIMP 3 profiles ({names}); install into", f"several GIMP 3 profiles: {names}; pass --gimp-dir",
                             type=click.Choice([str(p) for p in found]), default=str(found[0]))
        return Path(answer)
    default = default_gimp_dir()
    answer = ask_or_fail("No GIMP 3 profile found (start GIMP 3 once); install into", f"no GIMP 3 profile found "
                         f"(start GIMP 3 once, or pass --gimp-dir; the Flatpak's is {flatpak_gimp_dir()})", default=str(default))
    return Path(answer)


@main.command("install")
@gimp_dir_option
@click.option("--sr-scale", "sr_scale", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The sr-scale executable the plug-in calls (default: this installation's).")
@click.option("--self-contained", is_flag=True,
              help="Carry the engine, numpy and onnxruntime for GIMP's own Python (Flatpak, Windows, macOS GIMP).")
@python_option
@platform_option
@wheels_option
def install_command(gimp_dir: Path | None, sr_scale: Path | None, self_contained: bool, python: str | None,
                    platform_name: str | None, wheels: Path | None) -> None:
    """Install (or update) the plug-in for the current user."""
    if not self_contained:
        plug_in = install(gimp_dir or default_gimp_dir(), this_engine(sr_scale or find_sr_scale()))
        click.echo(f"installed {plug_in}\nrestart GIMP 3, then use Filters > Enhance > AI Upscale 2x")
        return
    from sr_scale.gimp import bundle

    gimp_dir = gimp_dir or choose_gimp_dir()
    python = python or gimp_python(gimp_dir) or ask_or_fail(
        "GIMP's Python version (X.Y)", f"cannot tell which Python GIMP in {gimp_dir} runs: pass --python X.Y")
    tgt = bundle_target(python, platform_name or this_platform())
    try:
        folder = bundle.bundle_into(tgt, gimp_dir / "plug-ins", wheels or bundle.default_wheel_cache())
    except bundle.BundleError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot install into {gimp_dir / 'plug-ins'}: {error.strerror or error}") from None
    click.echo(f"installed {folder / (PLUG_IN + '.py')} (self-contained, Python {tgt.python}, {tgt.platform})\n"
               "restart GIMP 3, then use Filters > Enhance > AI Upscale 2x")


@main.command("bundle")
@python_option
@platform_option
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write sr-scale-upscale/ (or the .zip) into.")
@click.option("--zip", "as_zip", is_flag=True, help="Write one archive to unpack into GIMP's plug-ins folder instead.")
@wheels_option
def bundle_command(python: str | None, platform_name: str | None, out: Path, as_zip: bool, wheels: Path | None) -> None:
    """Write a self-contained plug-in folder for GIMP's own Python (another machine's GIMP)."""
    from sr_scale.gimp import bundle

    if python is None or platform_name is None:
        raise click.UsageError("bundle needs --python X.Y and --platform " + "|".join(bundle.PLATFORMS))
    tgt = bundle_target(python, platform_name)
    cache = wheels or bundle.default_wheel_cache()
    try:
        written = bundle.bundle_zip(tgt, out, cache) if as_zip else bundle.bundle_into(tgt, out, cache)
    except bundle.BundleError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write into {out}: {error.strerror or error}") from None
    click.echo(f"wrote {written} (Python {tgt.python}, {tgt.platform})")


@main.command("uninstall")
@gimp_dir_option
def uninstall_command(gimp_dir: Path | None) -> None:
    """Remove the plug-in."""
    folder = gimp_dir or default_gimp_dir()
    if not uninstall(folder):
        raise click.ClickException(f"the plug-in is not installed in {folder / 'plug-ins'}")
    click.echo(f"removed {folder / 'plug-ins' / PLUG_IN}")


if __name__ == "__main__":
    sys.exit(main())
