"""The catalog table of issue 18 in one command: OCR error, Y-PSNR and halo on clean and JPEG LR.

    python -m bench.text [SR-EVAL OPTIONS ...] [--quality 75] [--table FILE.md]

Runs `sr-eval --text --halo` twice with the given options (models, baselines, --external peers,
--catalog-images, ...), once on clean LR and once on LR saved as JPEG of --quality, keeps both
results documents next to the table (FILE.clean.json, FILE.jpeg.json) and prints the Markdown
table of core/catalog.catalog_table (docs/evaluation.md shows the command behind its numbers).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from sr_scale.core.catalog import catalog_table
from sr_scale.core.eval_cli import main as sr_eval
from sr_scale.core.image_io import atomic_write


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]})
@click.option("--quality", type=click.IntRange(1, 100), default=75, show_default=True, help="JPEG quality of the second LR.")
@click.option("--table", "table_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the table (and its two JSON files) here.")
@click.argument("sr_eval_args", nargs=-1, type=click.UNPROCESSED)
def main(quality: int, table_path: Path | None, sr_eval_args: tuple[str, ...]) -> None:
    """Everything not listed here goes to sr-eval as it is (see `sr-eval --help`)."""
    with tempfile.TemporaryDirectory(prefix="bench-text-") as work:
        documents = []
        for name, jpeg in (("clean", 0), ("jpeg", quality)):
            path = Path(table_path.with_suffix(f".{name}.json") if table_path else Path(work) / f"{name}.json")
            sr_eval.main([*sr_eval_args, "--text", "--halo", "--jpeg", str(jpeg), "--json", str(path)], standalone_mode=False)
            documents.append(json.loads(path.read_text()))
    table = catalog_table(*documents)
    click.echo("\n" + table)
    if table_path:
        atomic_write(table_path, lambda tmp: tmp.write_text(table))


if __name__ == "__main__":
    main()
