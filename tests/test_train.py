"""sr-train end to end on a handful of real photos: learning, exact resume after SIGKILL,
Ctrl-C, torchrun with two CPU processes, TensorBoard curves and clear errors for bad data."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorboard")

from click.testing import CliRunner  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from conftest import SET5, T91  # noqa: E402
from sr_scale.core.config import DataSource, TrainConfig  # noqa: E402
from sr_scale.core.checkpoint import load_model  # noqa: E402
from sr_scale.core.train import Trainer, lr_factor, main, step_rng, validate  # noqa: E402

TRAIN_IMAGES = ["t1.png", "t2.png", "t3.png", "t5.png", "tt1.png"]  # real photos, 130-290 px
# Tiny and fast: the tiny RDN, 16-pixel LR patches, 4 per batch, one thread per process.
TINY = ["--set", "arch='tiny'", "--set", "patch_size=16", "--set", "batch_size=4", "--set", "threads=1",
        "--set", "warmup_steps=5", "--set", "lr=0.002"]
CHECKPOINT_KEYS = {"arch", "model", "optimizer", "scheduler", "step", "best_psnr", "torch_rng", "config", "metrics"}


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("train")
    for name in TRAIN_IMAGES:
        shutil.copy(T91 / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def val_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("val")
    shutil.copy(SET5 / "butterfly.png", folder / "butterfly.png")
    return folder


def tiny_config(train_dir: Path, out: Path, **changes) -> TrainConfig:
    values = dict(arch="tiny", train=[DataSource(str(train_dir))], out_dir=str(out), patch_size=16, batch_size=4,
                  threads=1, warmup_steps=5, lr=0.002, steps=60, checkpoint_every=20, val_every=30)
    values.update(changes)
    return TrainConfig(**values)


def sr_train(*args: str, **popen) -> subprocess.Popen:
    """sr-train in its own process, as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "sr_scale.core.train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"sr-train ended early: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


# ---------------------------------------------------------------- learning and logging
def test_a_tiny_run_lowers_the_validation_loss_and_logs_the_four_curves(train_dir, val_dir, tmp_path):
    config = tiny_config(train_dir, tmp_path / "run", val=str(val_dir), steps=120, val_every=60)
    trainer = Trainer(config)
    before = validate(trainer.model, trainer.val_images, config.loss)
    assert trainer.run() == 0
    after = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["metrics"]
    assert after["loss"] < 0.9 * before["loss"]
    assert after["psnr"] > before["psnr"] + 0.5
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    # The blog's four curves, the learning rate and throughput.
    assert {"train/loss", "val/loss", "train/psnr", "val/psnr", "train/lr", "train/patches_per_s"} <= set(tags["scalars"])
    assert {"butterfly.png/lr", "butterfly.png/sr", "butterfly.png/hr"} <= set(tags["images"])
    assert [e.step for e in events.Images("butterfly.png/sr")] == [60, 120]
    assert len(events.Scalars("train/loss")) == 120


def test_validation_on_jpeg_lr_feeds_the_model_what_sr_eval_jpeg_does(train_dir, val_dir, tmp_path):
    from sr_scale.core.degradations import bicubic_downscale, crop_to_multiple, jpeg

    trainer = Trainer(tiny_config(train_dir, tmp_path / "run", val=str(val_dir)))
    clean = validate(trainer.model, trainer.val_images)
    compressed = validate(trainer.model, trainer.val_images, jpeg_quality=30)
    name, hr = trainer.val_images[0]
    lr = jpeg(bicubic_downscale(crop_to_multiple(hr, 2), 2), 30)
    assert (compressed["samples"][0][1] == lr).all() and not (clean["samples"][0][1] == lr).all()
    assert compressed["psnr"] != clean["psnr"]


def test_run_writes_its_resolved_config_next_to_the_checkpoints(train_dir, tmp_path):
    from sr_scale.core import config as config_module

    config = tiny_config(train_dir, tmp_path / "run", steps=2)
    Trainer(config).run()
    assert config_module.load(tmp_path / "run" / "config.toml") == config


def test_checkpoints_keep_the_keys_the_exporter_and_resume_read(train_dir, tmp_path):
    config = tiny_config(train_dir, tmp_path / "run", steps=3)
    Trainer(config).run()
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert set(state) == CHECKPOINT_KEYS
    assert state["step"] == 3 and state["config"]["arch"] == "tiny"
    assert load_model(tmp_path / "run" / "last.pt").config.G == 8


def test_each_rank_draws_its_own_batches(train_dir, tmp_path):
    sampler = Trainer(tiny_config(train_dir, tmp_path)).sampler
    rank0 = sampler.sample(step_rng(0, 0, 7))[1]
    rank1 = sampler.sample(step_rng(0, 1, 7))[1]
    again = sampler.sample(step_rng(0, 0, 7))[1]
    assert not np.array_equal(rank0, rank1)
    assert np.array_equal(rank0, again)


def test_learning_rate_warms_up_then_follows_the_cosine_down_to_lr_min():
    c = TrainConfig(steps=1000, warmup_steps=100, lr=1e-3, lr_min=1e-5)
    assert lr_factor(0, c) == pytest.approx(0.01)
    assert lr_factor(99, c) == pytest.approx(1.0)
    assert lr_factor(550, c) == pytest.approx((1 + 0.01) / 2)
    assert lr_factor(1000, c) == pytest.approx(0.01)


def test_step_schedule_multiplies_by_gamma_at_each_milestone():
    c = TrainConfig(schedule="step", warmup_steps=0, step_milestones=[10, 20], step_gamma=0.5)
    assert [lr_factor(s, c) for s in (0, 9, 10, 19, 20, 500)] == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_fine_tuning_starts_from_the_given_checkpoint(train_dir, tmp_path):
    Trainer(tiny_config(train_dir, tmp_path / "base", steps=3)).run()
    tuned = Trainer(tiny_config(train_dir, tmp_path / "tuned", init_from=str(tmp_path / "base" / "last.pt")))
    base = load_model(tmp_path / "base" / "last.pt")
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), tuned.model.state_dict().values()))


def test_fine_tuning_from_another_architecture_is_a_clear_error(train_dir, tmp_path):
    Trainer(tiny_config(train_dir, tmp_path / "base", steps=1)).run()
    with pytest.raises(ValueError, match="init_from: .* holds arch"):
        Trainer(tiny_config(train_dir, tmp_path / "x", arch="small", init_from=str(tmp_path / "base" / "last.pt")))


def test_fine_tuning_into_more_blocks_grows_the_checkpoint(train_dir, tmp_path):
    Trainer(tiny_config(train_dir, tmp_path / "base", steps=3)).run()
    base = load_model(tmp_path / "base" / "last.pt")
    deeper = {"C": base.config.C, "D": base.config.D + 2, "G": base.config.G, "G0": base.config.G0}
    grown = Trainer(tiny_config(train_dir, tmp_path / "deep", steps=4, arch=deeper, init_from=str(tmp_path / "base" / "last.pt")))
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():  # before any step: the shallower model's function
        assert (grown.model.float()(x) - base(x)).abs().max() < 1e-6
    grown.run()
    trained = load_model(tmp_path / "deep" / "last.pt")
    assert trained.config.D == base.config.D + 2
    assert trained.blocks[-1].local_fusion.weight.abs().sum() > 0  # the identity block started to learn


def test_ema_resume_is_exact_and_best_holds_the_average(train_dir, val_dir, tmp_path):
    straight = Trainer(tiny_config(train_dir, tmp_path / "straight", steps=40, ema_decay=0.9, val=str(val_dir), val_every=20))
    straight.run()
    first = Trainer(tiny_config(train_dir, tmp_path / "split", steps=40, ema_decay=0.9))
    first._open_outputs()
    for _ in range(20):  # stopped half-way, as a killed run would be after its checkpoint
        first.train_step()
    first._save("last.pt")
    resumed = Trainer(tiny_config(train_dir, tmp_path / "split", steps=40, ema_decay=0.9), resume=True)
    resumed.run()
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    for key in ("model", "raw_model"):
        for name, weight in a[key].items():
            assert torch.equal(b[key][name], weight), (key, name)
    # The saved model is the average, not the optimiser's weights.
    assert any(not torch.equal(a["model"][k], a["raw_model"][k]) for k in a["model"])
    assert straight.best_psnr == torch.load(tmp_path / "straight" / "best.pt", weights_only=True)["best_psnr"]


def test_reparam_fine_tune_starts_from_a_plain_checkpoint_and_exports_plain(train_dir, tmp_path):
    Trainer(tiny_config(train_dir, tmp_path / "plain", steps=3)).run()
    plain = load_model(tmp_path / "plain" / "last.pt")
    tuned = Trainer(tiny_config(train_dir, tmp_path / "rep", steps=6, reparam=True, init_from=str(tmp_path / "plain" / "last.pt")))
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():  # before any step the re-parameterised model computes the plain one's function
        assert (tuned.model.float()(x) - plain(x)).abs().max() < 1e-5
    tuned.run()
    exported = load_model(tmp_path / "rep" / "last.pt")
    assert type(exported.sfe1) is torch.nn.Conv2d
    assert not torch.equal(exported.sfe1.weight, plain.sfe1.weight)  # it trained


def test_synthetic_share_cuts_batches_from_rendered_canvases(train_dir, tmp_path):
    from sr_scale.core.data import SYNTHETIC, PatchSampler

    config = tiny_config(train_dir, tmp_path, synthetic_share=0.5, patch_size=24, batch_size=4)
    sampler = PatchSampler(config, 2)
    drawn = [sampler.choose(step_rng(0, 0, step)) for step in range(200)]
    assert 70 < drawn.count(SYNTHETIC) < 130
    step = drawn.index(SYNTHETIC)
    lr, hr = sampler.sample(step_rng(0, 0, step))
    again = sampler.sample(step_rng(0, 0, step))
    assert lr.shape == (4, 24, 24, 3) and hr.shape == (4, 48, 48, 3)
    assert np.array_equal(lr, again[0]) and np.array_equal(hr, again[1])  # resumable: a function of the step
    assert Trainer(config).train_step()[0] > 0


# ---------------------------------------------------------------- interruptions
@pytest.mark.slow
def test_resume_after_sigkill_ends_with_the_weights_and_losses_of_an_uninterrupted_run(train_dir, tmp_path):
    args = [*TINY, "--train", str(train_dir), "--steps", "150", "--set", "checkpoint_every=10"]
    code, stderr = finish(sr_train(*args, "--out", str(tmp_path / "straight")))
    assert code == 0, stderr

    killed = sr_train(*args, "--out", str(tmp_path / "killed"))
    wait_for(tmp_path / "killed" / "last.pt", killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    stopped_at = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["step"]
    assert 0 < stopped_at < 150, "the run must be killed mid-way for this test to mean anything"
    code, stderr = finish(sr_train(*args, "--out", str(tmp_path / "killed"), "--resume"))
    assert code == 0, stderr
    assert f"resumed from {tmp_path / 'killed' / 'last.pt'} at step {stopped_at}" in stderr

    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert resumed["step"] == straight["step"] == 150
    for name, weight in straight["model"].items():
        assert torch.equal(resumed["model"][name], weight), name
    # TensorBoard shows one trajectory: the killed run's steps after its checkpoint are purged.
    assert scalars(tmp_path / "killed", "train/loss") == scalars(tmp_path / "straight", "train/loss")


def test_a_run_with_loader_workers_finishes_and_exits(train_dir, tmp_path):
    # The workers are forked after the trainer's SIGTERM handler is installed; they must still die
    # when the pool is closed, or sr-train hangs after its last step (as it once did, timing-dependent).
    run = sr_train(*TINY, "--train", str(train_dir), "--steps", "3", "--set", "loader_workers=2", "--out", str(tmp_path))
    try:
        code, stderr = finish(run, timeout=180)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail("sr-train with loader_workers=2 did not exit after its last step")
    assert code == 0, stderr
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 3


def test_ctrl_c_saves_the_current_step_and_exits_cleanly(train_dir, tmp_path):
    run = sr_train(*TINY, "--train", str(train_dir), "--steps", "1000000", "--set", "checkpoint_every=20", "--out", str(tmp_path))
    wait_for(tmp_path / "last.pt", run)
    run.send_signal(signal.SIGINT)
    code, stderr = finish(run, timeout=60)
    assert code == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    step = torch.load(tmp_path / "last.pt", weights_only=True)["step"]
    assert f"stopped at step {step}" in stderr
    assert 20 <= step < 1000000


@pytest.mark.slow
def test_torchrun_with_two_cpu_processes_saves_one_checkpoint_set(train_dir, val_dir, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "sr_scale.core.train", *TINY, "--train", str(train_dir), "--val", str(val_dir),
               "--steps", "20", "--set", "val_every=20", "--set", "checkpoint_every=10", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.toml", "last.pt", "tensorboard"]
    assert len(list((out / "tensorboard").iterdir())) == 1  # rank 1 logs nothing
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 20
    assert not any(k.startswith("module.") for k in state["model"])  # the bare model, not DDP's wrapper
    # Two ranks, 4 patches each per step.
    assert scalars(out, "train/patches_per_s")[-1][1] > 0


# ---------------------------------------------------------------- bad input
def run_cli(*args: str):
    return CliRunner().invoke(main, [*TINY, *args])


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    return lines[0]


def test_missing_training_folder_is_a_one_line_error(tmp_path):
    result = run_cli("--train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert error_line(result) == f"Error: image folder not found: {tmp_path / 'nowhere'}"


def test_folder_without_images_is_a_one_line_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")
    result = run_cli("--train", str(tmp_path), "--out", str(tmp_path / "run"))
    assert error_line(result) == f"Error: no usable training image in {tmp_path}"


def test_folder_of_broken_files_is_an_error_and_each_file_is_named(tmp_path, caplog):
    (tmp_path / "truncated.jpg").write_bytes((SET5 / "bird.png").read_bytes()[:300])
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    result = run_cli("--train", str(tmp_path), "--out", str(tmp_path / "run"))
    assert error_line(result) == f"Error: no usable training image in {tmp_path}"
    warned = caplog.text
    assert str(tmp_path / "truncated.jpg") in warned and str(tmp_path / "garbage.png") in warned


def test_unreadable_validation_images_are_skipped_and_none_left_is_an_error(train_dir, tmp_path, caplog):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    result = run_cli("--train", str(train_dir), "--val", str(tmp_path), "--out", str(tmp_path / "run"))
    assert error_line(result) == f"Error: no usable validation image in {tmp_path}"
    assert str(tmp_path / "broken.png") in caplog.text


def test_unknown_config_key_is_a_one_line_error_with_a_suggestion(train_dir, tmp_path):
    result = run_cli("--train", str(train_dir), "--set", "stpes=10")
    assert error_line(result) == "Error: unknown config key(s): 'stpes' (did you mean 'steps'?)"


def test_config_value_of_the_wrong_type_is_a_one_line_error(train_dir):
    result = run_cli("--train", str(train_dir), "--set", "batch_size='many'")
    assert error_line(result) == "Error: batch_size must be int, not 'many'"


def test_resume_without_a_checkpoint_is_a_one_line_error(train_dir, tmp_path):
    result = run_cli("--train", str(train_dir), "--out", str(tmp_path), "--resume")
    assert error_line(result) == f"Error: --resume: no checkpoint at {tmp_path / 'last.pt'}"


def test_a_trained_checkpoint_exports_to_a_model_sr_scale_uses(train_dir, tmp_path, butterfly):
    pytest.importorskip("onnxruntime")
    from sr_scale.core.engine import Upscaler
    from sr_scale.exporter.export import main as export_main

    Trainer(tiny_config(train_dir, tmp_path / "run", steps=3)).run()
    result = CliRunner().invoke(export_main, [str(tmp_path / "run" / "last.pt"), str(tmp_path / "mine.onnx")])
    assert result.exit_code == 0, result.output
    sr = Upscaler(model=tmp_path / "mine.onnx", device="cpu").upscale(butterfly)
    assert sr.shape == (512, 512, 3) and sr.dtype == np.uint8


def test_benchmark_prints_patches_per_second_of_each_variant_and_writes_nothing(train_dir, tmp_path):
    result = run_cli("--train", str(train_dir), "--out", str(tmp_path / "run"), "--benchmark", "2",
                     "--variant", "fp32", "--variant", "bf16 + channels_last")
    assert result.exit_code == 0, result.output
    rates = [line for line in result.output.splitlines() if "patches/CPU-s" in line]
    assert [line.split("  ")[0] for line in rates] == ["fp32", "bf16 + channels_last"]
    assert "decode one image (on demand)" in result.output
    assert not (tmp_path / "run").exists()


def test_worker_processes_cut_the_same_batches_and_max_minutes_stops_cleanly(train_dir, val_dir, tmp_path):
    from sr_scale.core.train import ParallelBatches

    config = tiny_config(train_dir, tmp_path / "a")
    sampler = Trainer(config).sampler
    batches = ParallelBatches(sampler, config.seed, 0, 5, workers=2)
    try:
        for step in range(5, 12):
            lr, hr = batches.next()
            expected = sampler.sample(step_rng(config.seed, 0, step))
            assert np.array_equal(lr, expected[0]) and np.array_equal(hr, expected[1])
    finally:
        batches.close()
    # A time budget smaller than one step: stops after the first step with last.pt and best.pt saved.
    run = Trainer(tiny_config(train_dir, tmp_path / "b", steps=10_000, loader_workers=2, max_minutes=1e-6, val=str(val_dir)))
    assert run.run() == 0
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert state["step"] == 1 and (tmp_path / "b" / "best.pt").exists()


def test_bf16_trains_in_float32_where_the_cpu_would_only_emulate_it(train_dir, tmp_path, monkeypatch):
    from sr_scale.core import train

    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    assert Trainer(tiny_config(train_dir, tmp_path / "avx2", bf16=True)).amp_dtype is None
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    assert Trainer(tiny_config(train_dir, tmp_path / "bf16", bf16=True)).amp_dtype == torch.bfloat16
    assert Trainer(tiny_config(train_dir, tmp_path / "off", bf16=False)).amp_dtype is None
