"""Pack a training config's images into one small archive for a rented GPU machine.

Uploads to such machines are often limited (64 MiB a call here), while the shipped configs read
~120 MB of PNG and JPEG. The pack holds each folder's images *as training uses them* (after its
`hr_scale` shrink, so the catalog photos are already halved), losslessly as WebP, and a copy of
the config whose `[[train]]` paths point into the pack. If the budget is too small for
everything, every folder keeps the same share of its images (evenly spaced in name order), and
the pack's MANIFEST.tsv lists what was kept.

    python -m gpu.pack_data configs/x2.toml .gpu/pack --max-mb 50

Writes OUT/data/<folder>/*.webp, OUT/config.toml and OUT/MANIFEST.tsv; the validation folder is
packed too (it is small). Needs the `train` extra (tomli-w).
"""
from __future__ import annotations

import dataclasses
import io
import shutil
import sys
from pathlib import Path

import click
from PIL import Image

from sr_scale.core import config as config_module
from sr_scale.core.data import list_images, read_rgb


def _webp(path: Path, hr_scale: float) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(read_rgb(path, hr_scale)).save(buffer, format="WEBP", lossless=True, method=4)
    return buffer.getvalue()


def pack(config_path: Path, out: Path, max_mb: float) -> dict[str, tuple[int, int]]:
    """Write the pack; returns {folder: (images kept, images in the folder)}."""
    config = config_module.load(config_path)
    if out.exists():
        raise click.ClickException(f"{out} exists; remove it or choose another folder")
    building = out.with_name(out.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    data = building / "data"
    folders = [(f"train{i}-{Path(s.path).name}", s.path, s.hr_scale) for i, s in enumerate(config.train)]
    if config.val:
        folders.append(("val-" + Path(config.val).name, config.val, 1.0))
    encoded = {name: [(p.stem, _webp(p, scale)) for p in list_images(path)] for name, path, scale in folders}
    total = sum(len(b) for files in encoded.values() for _, b in files)
    share = min(1.0, max_mb * 2**20 / total) if total else 1.0
    kept: dict[str, tuple[int, int]] = {}
    manifest = ["folder\tfile\tbytes"]
    for name, files in encoded.items():
        every = files if name.startswith("val-") or share >= 1 else files[:: max(1, round(1 / share))]
        (data / name).mkdir(parents=True)
        for stem, blob in every:
            (data / name / f"{stem}.webp").write_bytes(blob)
            manifest.append(f"{name}\t{stem}.webp\t{len(blob)}")
        kept[name] = (len(every), len(files))
    train = [dataclasses.replace(s, path=f"data/{name}", hr_scale=1.0) for s, (name, _, _) in zip(config.train, folders)]
    packed = dataclasses.replace(config, train=train, val=f"data/{folders[-1][0]}" if config.val else "", init_from="")
    (building / "config.toml").write_text(config_module.to_toml(packed))
    (building / "MANIFEST.tsv").write_text("\n".join(manifest) + "\n")
    building.rename(out)
    return kept


@click.command()
@click.argument("config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--max-mb", type=click.FloatRange(min=1), default=50.0, show_default=True, help="Size budget of the pack.")
def main(config_path: Path, out: Path, max_mb: float) -> None:
    """Pack CONFIG's training and validation images into the folder OUT."""
    for name, (kept, total) in pack(config_path, out, max_mb).items():
        click.echo(f"{name}: {kept}/{total} images")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    click.echo(f"wrote {out} ({size:.1f} MB)")


if __name__ == "__main__":
    sys.exit(main())
