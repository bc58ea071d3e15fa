"""Faults from outside: a batch killed with SIGKILL and run again, two sr-scale processes writing
one output at once, a Ray job whose enlarging actor is killed mid-run. Real processes, real kills;
afterwards every good output is present, complete and what an uninterrupted run writes, and no
temporary file is left."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import PRODUCTS, SET5, SET14
from sr_scale.core.atomic_file import temporary_files
from sr_scale.core.image_io import read_image

BROKEN = "truncated.png"
GOOD_COUNT = 10


def sr_scale(*args: object) -> list[str]:
    return [sys.executable, "-m", "sr_scale.imagemagick_wrapper.cli", *map(str, args)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Ten 160x160 crops of real photos (PNG and JPEG) and one truncated PNG: big enough that
    writing a 320x320 output takes a moment a kill can land in."""
    folder = tmp_path_factory.mktemp("inputs")
    photos = sorted(SET5.glob("*.png")) + [SET14 / "baboon.png", SET14 / "lenna.png", SET14 / "monarch.png"]
    photos += [PRODUCTS / "lt05.jpg", PRODUCTS / "mb02-blue-0.jpg"]
    for k, photo in enumerate(photos[:GOOD_COUNT]):
        with Image.open(photo) as image:
            crop = image.convert("RGB").crop((40, 40, 200, 200))
        crop.save(folder / f"p{k:02d}.png") if k % 2 == 0 else crop.save(folder / f"p{k:02d}.jpg", quality=90)
    whole = (folder / "p00.png").read_bytes()
    (folder / BROKEN).write_bytes(whole[: len(whole) // 2])
    return folder


@pytest.fixture(scope="module")
def reference(inputs, tiny_onnx, tmp_path_factory) -> dict[str, bytes]:
    """What one uninterrupted `sr-scale -o` writes for the inputs."""
    out = tmp_path_factory.mktemp("reference")
    done = subprocess.run(sr_scale("-o", out, "--jobs", "1", "--model", tiny_onnx, inputs), capture_output=True, text=True)
    assert done.returncode == 1 and f"{GOOD_COUNT} written" in done.stderr, done.stderr  # 1: the truncated file
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _check_complete(out: Path, reference: dict[str, bytes], besides: tuple[str, ...] = ()) -> None:
    """Every good output there, decodable, 2x, byte for byte the uninterrupted run's; nothing else
    (but the files named in `besides`)."""
    assert temporary_files(out) == []
    assert sorted(p.name for p in out.iterdir() if p.name not in besides) == sorted(reference)
    for name, expected in reference.items():
        picture = read_image(out / name)
        assert (picture.width, picture.height) == (320, 320)
        assert (out / name).read_bytes() == expected, name


def _kill_while_writing(command: list[str], out: Path, timeout: float = 300) -> list[Path]:
    """Start `command`, SIGKILL it the moment a temporary output file appears in `out`; returns
    the temporary files left behind (none if the kill landed just after a rename)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while not temporary_files(out):
            if process.poll() is not None:
                pytest.fail(f"the batch ended (exit {process.returncode}) before a write could be interrupted")
            if time.monotonic() > deadline:
                pytest.fail(f"no output was being written after {timeout} s")
            time.sleep(0.001)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    return temporary_files(out)


@pytest.mark.slow  # three batches of ten files in their own processes
def test_a_batch_killed_halfway_and_run_again_ends_complete_with_no_temporary_files(inputs, reference, tiny_onnx, tmp_path):
    command = sr_scale("-o", tmp_path, "--jobs", "1", "--model", tiny_onnx, inputs)
    left = []
    for _ in range(5):  # until a kill lands inside a write (it nearly always does at once)
        left = _kill_while_writing(command, tmp_path)
        if left:
            break
    assert left, "no kill landed inside a write"
    written = [p for p in tmp_path.iterdir() if p.name in reference]
    assert len(written) < GOOD_COUNT  # killed halfway: some outputs still to do
    for path in written:  # what was already there is complete: writes are atomic
        assert path.read_bytes() == reference[path.name]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and f"{GOOD_COUNT - len(written)} written, {len(written)} skipped" in again.stderr, again.stderr
    assert again.stderr.count("Error: ") == 1 and BROKEN in again.stderr
    _check_complete(tmp_path, reference)


@pytest.mark.slow  # six pairs of sr-scale processes
def test_two_processes_writing_one_output_at_once_leave_one_whole_file(inputs, tiny_onnx, tmp_path):
    """Two different pictures written to one path at the same moment: the file is one of them,
    whole, never a mix or a truncation, and neither writer fails or leaves a temporary file."""
    sources = [inputs / "p00.png", inputs / "p02.png"]
    expected = []
    for k, source in enumerate(sources):
        subprocess.run(sr_scale(source, tmp_path / f"alone{k}.png", "--model", tiny_onnx), check=True, capture_output=True)
        expected.append((tmp_path / f"alone{k}.png").read_bytes())
    assert expected[0] != expected[1]
    out_dir = tmp_path / "shared"
    out_dir.mkdir()
    seen = set()
    for _ in range(6):
        writers = [subprocess.Popen(sr_scale(source, out_dir / "out.png", "--model", tiny_onnx), stderr=subprocess.PIPE, text=True)
                   for source in sources]
        for writer in writers:
            assert writer.wait(timeout=300) == 0, writer.stderr.read()
            writer.stderr.close()
        result = (out_dir / "out.png").read_bytes()
        assert result in expected
        seen.add(expected.index(result))
        assert [p.name for p in out_dir.iterdir()] == ["out.png"]
    assert seen  # which one wins is up to the scheduler; each run left exactly one of the two


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc: Linux), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _enlarging_actors(driver: int) -> list[int]:
    """The Ray worker processes of `driver`'s job that hold an EnlargeActor (Ray names the process
    after the actor class)."""
    actors = []
    for pid in _descendants(driver):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"EnlargeActor" in title:
            actors.append(pid)
    return actors


@pytest.mark.slow  # starts Ray twice, in processes of its own
def test_a_ray_job_whose_actor_is_killed_completes_when_run_again_with_the_manifest_right(inputs, reference, tiny_onnx, tmp_path):
    pytest.importorskip("ray.data", reason="sr-scale-ray needs the ray extra: pip install -e '.[ray]'")
    from sr_scale.ray_batch.manifest import MANIFEST_NAME

    command = [sys.executable, "-m", "sr_scale.ray_batch.cli", "-o", str(tmp_path), "--model", str(tiny_onnx),
               "--num-cpus", "2", "--object-store-mb", "128", "--actors", "1", "--batch-size", "1", str(inputs)]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a Ray of its own, not one running here
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    killed, done_at_kill = [], 0
    deadline = time.monotonic() + 300
    while not killed and driver.poll() is None and time.monotonic() < deadline:
        done_at_kill = sum(p.name in reference for p in tmp_path.iterdir())
        if done_at_kill:  # the actor is at work
            for pid in _enlarging_actors(driver.pid):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.01)
    try:
        first_exit = driver.wait(timeout=300)
    finally:
        driver.kill()
        driver.stderr.close()
    assert killed, f"no enlarging actor was found at work (driver exit {driver.returncode})"
    assert done_at_kill < GOOD_COUNT  # killed mid-run
    written_first = sum(p.name in reference for p in tmp_path.iterdir())
    if (tmp_path / MANIFEST_NAME).exists():  # the first run finished (Ray restarted the actor): its manifest
        _check_manifest(tmp_path / MANIFEST_NAME, inputs, skipped=0)
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 1, again.stderr  # 1: the truncated file
    _check_manifest(tmp_path / MANIFEST_NAME, inputs, skipped=written_first)
    _check_complete(tmp_path, reference, besides=(MANIFEST_NAME,))
    print(f"actor {killed} killed with {done_at_kill} outputs written; first run exit {first_exit}, {written_first} outputs; "
          f"rerun: {again.stderr.strip().splitlines()[-1]}")


def _check_manifest(path: Path, inputs: Path, skipped: int) -> None:
    """Each input listed once: the broken one failed, the others written, `skipped` of them skipped."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    assert sorted(Path(row["source"]).name for row in rows) == sorted(p.name for p in inputs.iterdir())
    statuses = {Path(row["source"]).name: row["status"] for row in rows}
    assert statuses.pop(BROKEN) == "failed"
    assert sorted(statuses.values()) == sorted(["skipped"] * skipped + ["written"] * (GOOD_COUNT - skipped))



def test_a_write_removes_the_temporary_files_of_dead_writers_and_keeps_a_live_ones(tmp_path):
    import fcntl

    from sr_scale.core.atomic_file import atomic_write

    dead, alive, other = tmp_path / ".out.png.dead.tmp", tmp_path / ".out.png.alive.tmp", tmp_path / ".other.png.x.tmp"
    for path in (dead, alive, other):
        path.write_bytes(b"half a picture")
    with alive.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a writer at work holds its temporary file
        atomic_write(tmp_path / "out.png", lambda tmp: tmp.write_bytes(b"whole"))
        assert temporary_files(tmp_path) == [other, alive]  # another target's files are not looked at
    assert (tmp_path / "out.png").read_bytes() == b"whole"
