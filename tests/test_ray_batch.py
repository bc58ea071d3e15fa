"""sr-scale-ray on a local Ray (2 CPUs, a small object store): the same files as sr-scale's batch
mode, every broken input in the manifest with its error, nothing redone on a second run."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

# The job is the optional `ray` extra (pip install -e ".[ray]"); without it there is nothing to test.
pytest.importorskip("ray.data", reason="sr-scale-ray needs the ray extra: pip install -e '.[ray]'")
import pyarrow.fs as pafs  # noqa: E402  (after the check: pyarrow comes with the extra)
import pyarrow.parquet as pq  # noqa: E402

from sr_scale.core.listing import collect  # noqa: E402
from sr_scale.imagemagick_wrapper.cli import main as sr_scale_main  # noqa: E402
from sr_scale.ray_batch import job as ray_job  # noqa: E402
from sr_scale.ray_batch.catalog import list_catalog  # noqa: E402
from sr_scale.ray_batch.cli import main as sr_scale_ray_main  # noqa: E402
from sr_scale.ray_batch.manifest import MANIFEST_NAME  # noqa: E402
from sr_scale.ray_batch.pipeline import FETCH_CPUS, plan_actors  # noqa: E402

from conftest import PRODUCTS, SET14  # noqa: E402

BROKEN = ("truncated.png", "not-an-image.jpg", "empty.webp")


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance as small as a laptop's: 2 CPUs, 128 MiB of object store, no dashboard.

    Ray's workers take the environment the driver has at ray.init: the credentials of the local
    S3 test server (fake ones, that server accepts any) are set before it.
    """
    import ray

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "sr-scale-test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "sr-scale-test")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        ray.init(num_cpus=2, object_store_memory=128 * 2**20, include_dashboard=False, logging_level=logging.WARNING)
        yield ray
        ray.shutdown()


def _crop(path: Path, box: tuple[int, int, int, int]) -> Image.Image:
    with Image.open(path) as image:
        return image.crop(box)


@pytest.fixture(scope="module")
def catalog_folder(tmp_path_factory) -> Path:
    """Small crops of real photos, in the formats and layouts a catalog holds, and broken files."""
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "shoes").mkdir()
    product = _crop(PRODUCTS / "mb02-blue-0.jpg", (400, 500, 464, 548))
    exif = Image.Exif()
    exif[0x010F] = "catalog camera"
    exif[0x0112] = 6  # stored sideways: the output must come out upright
    product.save(folder / "bag.jpg", quality=88, exif=exif, dpi=(300, 300))
    _crop(PRODUCTS / "lt05.jpg", (300, 300, 348, 340)).save(folder / "shoes" / "left.jpg", quality=95)
    baboon = _crop(SET14 / "baboon.png", (200, 240, 248, 272)).convert("RGB")
    baboon.save(folder / "baboon.png")
    baboon.convert("L").save(folder / "shoes" / "grey.png")
    alpha = Image.fromarray(np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (32, 1)))
    rgba = baboon.copy()
    rgba.putalpha(alpha)
    rgba.save(folder / "cutout.png")
    _crop(SET14 / "monarch.png", (100, 100, 140, 136)).save(folder / "monarch.webp", quality=90)
    whole = (folder / "baboon.png").read_bytes()
    (folder / BROKEN[0]).write_bytes(whole[: len(whole) // 2])
    (folder / BROKEN[1]).write_text("a price list, not a picture")
    (folder / BROKEN[2]).write_bytes(b"")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST_NAME}


def _sr_scale_ray(*args, model: Path) -> object:
    argv = [str(a) for a in args] + ["--model", str(model)]
    return CliRunner().invoke(sr_scale_ray_main, argv, catch_exceptions=False)


@pytest.fixture(scope="module")
def reference(catalog_folder, tiny_onnx, tmp_path_factory) -> tuple[Path, str]:
    """What `sr-scale --recursive -o OUT` writes for the catalog, and what it prints."""
    out = tmp_path_factory.mktemp("reference")
    argv = ["-o", str(out), "--recursive", "--suffix", "_x2", str(catalog_folder), "--model", str(tiny_onnx)]
    result = CliRunner().invoke(sr_scale_main, argv, catch_exceptions=False)
    assert result.exit_code == 1, result.stderr  # the broken files
    return out, result.stderr


@pytest.fixture(scope="module")
def first_run(local_ray, catalog_folder, tiny_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray-out")
    result = _sr_scale_ray("-o", out, "--recursive", "--suffix", "_x2", catalog_folder, model=tiny_onnx)
    return out, result


@pytest.mark.slow  # starts Ray and its actors
def test_every_good_image_is_written_byte_for_byte_as_sr_scale_writes_it(first_run, reference):
    out, _ = first_run
    expected = _files(reference[0])
    assert len(expected) == 6
    assert _files(out) == expected


@pytest.mark.slow  # starts Ray and its actors
def test_every_broken_image_is_in_the_manifest_with_sr_scale_s_error(first_run, reference, catalog_folder):
    out, result = first_run
    manifest = pq.read_table(out / MANIFEST_NAME).to_pylist()
    assert len(manifest) == 9  # every input, good or broken
    failed = {row["source"]: row["error"] for row in manifest if row["status"] == "failed"}
    assert sorted(Path(source).name for source in failed) == sorted(BROKEN)
    sr_scale_failed = [line.split(": ")[1] for line in reference[1].splitlines() if line.startswith("Error: ")]
    assert sorted(failed) == sorted(sr_scale_failed)  # the files sr-scale refuses, named as sr-scale names them
    assert all(error.startswith(f"{source}: ") and "\n" not in error for source, error in failed.items())
    assert all(row["status"] == "written" and Path(row["output"]).is_file() for row in manifest if row["status"] != "failed")
    assert result.exit_code == 1 and "6 written, 0 skipped (output exists), 3 failed" in result.stderr


@pytest.mark.slow  # starts Ray and its actors
def test_a_second_run_does_no_work(first_run, catalog_folder, tiny_onnx, monkeypatch):
    out, _ = first_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != MANIFEST_NAME}

    def no_work(*args, **kwargs):
        raise AssertionError("the second run started the pipeline")

    monkeypatch.setattr(ray_job, "run_pipeline", no_work)
    result = _sr_scale_ray("-o", out, "--recursive", "--suffix", "_x2", catalog_folder, model=tiny_onnx)
    assert "0 written, 6 skipped (output exists), 3 failed" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != MANIFEST_NAME} == before
    statuses = sorted(row["status"] for row in pq.read_table(out / MANIFEST_NAME).to_pylist())
    assert statuses == ["failed"] * 3 + ["skipped"] * 6


@pytest.mark.slow  # starts Ray and its actors
def test_a_restarted_job_enlarges_only_what_is_missing(first_run, local_ray, catalog_folder, tiny_onnx, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)
    (out / "bag_x2.jpg").unlink()  # as if the job had died before this file
    (out / MANIFEST_NAME).unlink()
    result = _sr_scale_ray("-o", out, "--recursive", "--suffix", "_x2", catalog_folder, model=tiny_onnx)
    rows = {Path(row["source"]).name: row["status"] for row in pq.read_table(out / MANIFEST_NAME).to_pylist()}
    assert rows["bag.jpg"] == "written" and list(rows.values()).count("skipped") == 5
    assert (out / "bag_x2.jpg").read_bytes() == (first_run[0] / "bag_x2.jpg").read_bytes()
    assert "1 written, 5 skipped" in result.stderr


@pytest.mark.slow  # starts Ray and its actors
def test_a_restarted_job_redoes_outputs_left_empty_or_truncated(first_run, local_ray, catalog_folder, tiny_onnx, tmp_path):
    """A power cut can leave a zero-length or half-written output: it is enlarged again, not skipped."""
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)
    (out / "bag_x2.jpg").write_bytes(b"")
    whole = (out / "baboon_x2.png").read_bytes()
    (out / "baboon_x2.png").write_bytes(whole[: len(whole) // 2])
    (out / MANIFEST_NAME).unlink()
    result = _sr_scale_ray("-o", out, "--recursive", "--suffix", "_x2", catalog_folder, model=tiny_onnx)
    rows = {Path(row["source"]).name: row["status"] for row in pq.read_table(out / MANIFEST_NAME).to_pylist()}
    assert rows["bag.jpg"] == rows["baboon.png"] == "written" and "2 written, 4 skipped" in result.stderr
    assert _files(out) == _files(first_run[0])


def test_only_finished_outputs_count_as_existing(catalog_folder, tmp_path):
    from sr_scale.ray_batch.catalog import existing_outputs

    out = tmp_path / "out"
    catalog = list_catalog([str(catalog_folder)], str(out), "", False)
    out.mkdir()
    shutil.copy(catalog_folder / "baboon.png", out / "baboon.png")  # a whole image
    (out / "monarch.webp").write_bytes(b"")  # a write cut short
    whole = (catalog_folder / "baboon.png").read_bytes()
    (out / "cutout.png").write_bytes(whole[: len(whole) // 2])
    (out / "notes.txt").write_text("not an output of this catalog")
    assert existing_outputs(catalog, str(out)) == {str(out / "baboon.png")}


def test_uri_inputs_are_named_as_sr_scale_names_local_ones(catalog_folder, tmp_path):
    out = catalog_folder / "out"  # inside the input: earlier outputs must not become inputs
    out.mkdir(exist_ok=True)
    (out / "old.png").write_bytes((catalog_folder / "baboon.png").read_bytes())
    try:
        expected = [(str(t.source), str(t.target)) for t in collect([str(catalog_folder)], out, "_x2", recursive=True)]
        catalog = list_catalog([catalog_folder.as_uri()], out.as_uri(), "_x2", recursive=True)
        tasks = catalog.tasks.to_pylist()
        assert [(row["source_path"], row["target_path"]) for row in tasks] == expected
        assert tasks[0]["source"] == catalog_folder.as_uri() + "/" + Path(expected[0][0]).name
    finally:
        shutil.rmtree(out)


def test_a_laptop_plan_leaves_cpu_for_reading():
    plan = plan_actors(cluster_cpus=2, cluster_gpus=0)
    assert plan.actors == 2 and plan.gpus == 0 and plan.threads == 1
    assert plan.actors * plan.cpus + FETCH_CPUS <= 2


def test_a_single_threaded_actor_plan_still_leaves_cpu_for_reading():
    plan = plan_actors(cluster_cpus=2, cluster_gpus=0, actors=1, threads=2)
    assert plan.actors == 1 and plan.cpus + FETCH_CPUS <= 2


def test_a_gpu_cluster_gets_one_actor_per_gpu():
    plan = plan_actors(cluster_cpus=16, cluster_gpus=4)
    assert (plan.actors, plan.gpus) == (4, 1.0) and plan.cpus < 1


def test_a_missing_model_is_one_line_error_before_ray_starts(catalog_folder, tmp_path):
    result = CliRunner().invoke(sr_scale_ray_main, ["-o", str(tmp_path / "out"), str(catalog_folder),
                                                    "--model", str(tmp_path / "none.onnx")])
    assert result.exit_code == 1 and result.stderr.strip() == f"Error: model file not found: {tmp_path / 'none.onnx'}"


def test_an_unlistable_input_uri_is_one_line_error(tmp_path, tiny_onnx):
    result = _sr_scale_ray("-o", tmp_path / "out", "nosuchscheme://bucket/images", model=tiny_onnx)
    assert result.exit_code == 1 and result.stderr.startswith("Error: nosuchscheme://bucket/images: cannot open")
    assert len(result.stderr.strip().splitlines()) == 1


# --- an object store: S3 served by moto on 127.0.0.1, read and written through pyarrow ----------


@pytest.fixture(scope="module")
def s3_endpoint(local_ray) -> str:
    """host:port of a local S3 server holding bucket `catalog`."""
    moto_server = pytest.importorskip("moto.server", reason="the S3 test needs moto[server] (pip install 'moto[server]')")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


def _s3(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1", allow_bucket_creation=True,
                             access_key="sr-scale-test", secret_key="sr-scale-test")


@pytest.mark.slow  # starts Ray and its actors
def test_an_s3_catalog_is_enlarged_into_s3_as_sr_scale_enlarges_local_files(s3_endpoint, catalog_folder, reference, tiny_onnx):
    s3 = _s3(s3_endpoint)
    s3.create_dir("catalog")
    for path in catalog_folder.rglob("*"):
        if path.is_file():
            with s3.open_output_stream(f"catalog/in/{path.relative_to(catalog_folder)}") as upload:
                upload.write(path.read_bytes())
    query = f"?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    result = _sr_scale_ray("-o", f"s3://catalog/out{query}", "--recursive", "--suffix", "_x2", f"s3://catalog/in{query}",
                           model=tiny_onnx)
    assert result.exit_code == 1 and "6 written, 0 skipped (output exists), 3 failed" in result.stderr
    for name, data in _files(reference[0]).items():
        with s3.open_input_file(f"catalog/out/{name}") as download:
            assert download.readall() == data, name
    with s3.open_input_file(f"catalog/out/{MANIFEST_NAME}") as download:
        manifest = pq.read_table(download).to_pylist()
    failed = {row["source"]: row["error"] for row in manifest if row["status"] == "failed"}
    assert sorted(failed) == sorted(f"s3://catalog/in/{name}" for name in BROKEN)
    assert all(error.startswith(f"{source}: ") for source, error in failed.items())
    assert {row["output"] for row in manifest if row["status"] == "written"} == {f"s3://catalog/out/{name}" for name in _files(reference[0])}


@pytest.mark.slow  # starts Ray actors with both shipped models
def test_ray_makes_sr_scale_s_decision_for_every_file_and_records_it(local_ray, tmp_path):
    from test_input_aware import EXPECTED, make_decision_folder, verbose_lines

    folder = make_decision_folder(tmp_path / "in")
    result = CliRunner().invoke(sr_scale_ray_main, ["-v", "-o", str(tmp_path / "out"), str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    manifest = pq.read_table(tmp_path / "out" / MANIFEST_NAME).to_pylist()
    recorded = {Path(row["source"]).name: row["restoration"] for row in manifest}
    assert recorded == EXPECTED == verbose_lines(result.stderr, "sr-scale-ray")
    sr_scale = CliRunner().invoke(sr_scale_main, ["-v", "-o", str(tmp_path / "sr-scale"), str(folder)], catch_exceptions=False)
    assert verbose_lines(sr_scale.stderr) == recorded
    assert _files(tmp_path / "out") == _files(tmp_path / "sr-scale")
