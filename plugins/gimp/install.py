"""`sr-scale-gimp install|uninstall`: put the "AI Upscale 2x" plug-in into GIMP 3's plug-ins folder.

GIMP registers a Python plug-in only as plug-ins/NAME/NAME.py with the exec bit set (otherwise
it silently ignores it), so the folder is built here rather than left to the user. Next to the
plug-in go its pixel module and engine.json: the absolute path of this installation's
`sr-scale` and, for a GIMP whose Python is the same version, this installation's site folders.
"""
from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from importlib import resources
from pathlib import Path

import click

from sr_scale.gimp.pixels import ENGINE_FILE, Engine

PLUG_IN = "sr-scale-upscale"


def default_gimp_dir() -> Path:
    """GIMP 3.0's user folder on this system (GIMP3_DIRECTORY overrides it, as in GIMP itself)."""
    if os.environ.get("GIMP3_DIRECTORY"):
        return Path(os.environ["GIMP3_DIRECTORY"])
    if sys.platform == "win32":
        return Path(os.environ["APPDATA"]) / "GIMP" / "3.0"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "GIMP" / "3.0"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "GIMP" / "3.0"


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
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
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


@main.command("install")
@gimp_dir_option
@click.option("--sr-scale", "sr_scale", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The sr-scale executable the plug-in calls (default: this installation's).")
def install_command(gimp_dir: Path | None, sr_scale: Path | None) -> None:
    """Install (or update) the plug-in for the current user."""
    plug_in = install(gimp_dir or default_gimp_dir(), this_engine(sr_scale or find_sr_scale()))
    click.echo(f"installed {plug_in}\nrestart GIMP 3, then use Filters > Enhance > AI Upscale 2x")


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
