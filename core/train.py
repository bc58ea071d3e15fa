"""The training loop (`sr-train`): on-the-fly patches, Adam, cosine or step schedule,
whole-image validation with the standard protocol, TensorBoard, atomic resumable checkpoints,
and DistributedDataParallel when launched with torchrun.

Resuming is exact: the patch RNG of every step is derived from (seed, rank, step), so a run
killed at any point and resumed from its last checkpoint draws the same batches as a run that
never stopped.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import click
import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F
from tqdm import tqdm

from . import config as config_module
from .config import TrainConfig
from .data import PatchSampler, load_val_images
from .degradations import bicubic_downscale, crop_to_multiple, jpeg
from .metrics import rgb_psnr, y_psnr, y_ssim
from .checkpoint import load_checkpoint, save_checkpoint, trained_model
from .model import RDN, RepConv3x3, count_parameters, deepen, variant

log = logging.getLogger("sr-train")

# Settings that may differ between a checkpoint and the config that resumes it without
# changing what the model sees; any other difference is reported when resuming.
RESUME_NEUTRAL_KEYS = {"out_dir", "val", "val_every", "checkpoint_every", "val_images_logged", "val_jpeg_quality", "threads", "cache_mb", "compile", "loader_workers", "max_minutes"}


# ---------------------------------------------------------------- tensors <-> images
def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(batch)).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8_image(tensor: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) -> uint8 (H, W, 3), clamped and rounded."""
    return tensor[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def batch_psnr(sr: torch.Tensor, hr: torch.Tensor) -> float:
    """RGB PSNR (dB) of a whole batch in [0, 1], sr clamped as it would be when saved."""
    mse = F.mse_loss(sr.detach().float().clamp(0, 1), hr).item()
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 on this CPU in hardware (AVX512-BF16 or AMX), not emulated."""
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def step_rng(seed: int, rank: int, step: int) -> np.random.Generator:
    """The patch RNG of one step of one rank: each rank draws its own images, reproducibly."""
    return np.random.default_rng([seed, rank, step])


# ---------------------------------------------------------------- batches from worker processes
_worker_sampler: PatchSampler | None = None  # the forked workers' copy of the parent's sampler


def _worker_signals() -> None:
    # A forked worker inherits the parent's Python signal handlers (the trainer's stop request,
    # or Ray's sys.exit in a test process): with those, Pool.terminate's SIGTERM is swallowed and
    # close() waits forever. Workers die on SIGTERM and leave Ctrl-C to the parent.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _sample_step(seed: int, rank: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    return _worker_sampler.sample(step_rng(seed, rank, step))


class ParallelBatches:
    """The batches of steps start, start + 1, ... cut by forked worker processes, in step order.

    Each batch is a function of (seed, rank, step) alone, so they equal the in-process ones and
    resuming stays exact. At most `ahead` batches wait, so memory stays bounded.
    """

    def __init__(self, sampler: PatchSampler, seed: int, rank: int, start: int, workers: int, ahead: int = 0):
        global _worker_sampler
        _worker_sampler = sampler  # inherited by fork: the cached images are not copied up front
        self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_signals)
        self.seed, self.rank, self.next_step = seed, rank, start
        self.pending: collections.deque = collections.deque()
        self.ahead = ahead or 4 * workers

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        while len(self.pending) < self.ahead:
            self.pending.append(self.pool.apply_async(_sample_step, (self.seed, self.rank, self.next_step)))
            self.next_step += 1
        return self.pending.popleft().get()

    def close(self) -> None:
        self.pool.terminate()


# ---------------------------------------------------------------- schedule
def lr_factor(step: int, c: TrainConfig) -> float:
    """Multiplier of c.lr at a step: linear warm-up, then cosine to lr_min or step decay."""
    if step < c.warmup_steps:
        return (step + 1) / c.warmup_steps
    if c.schedule == "step":
        return c.step_gamma ** sum(step >= m for m in c.step_milestones)
    progress = min(1.0, (step - c.warmup_steps) / max(1, c.steps - c.warmup_steps))
    floor = c.lr_min / c.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def plain_into_reparam(model: RDN, plain: dict[str, torch.Tensor]) -> None:
    """Load a plain RDN's weights into a re-parameterised one: each 3x3 into its branch `main`
    (the other branches start at zero, so the function is unchanged)."""
    branches = {name for name, module in model.named_modules() if isinstance(module, RepConv3x3)}
    renamed = {}
    for key, value in plain.items():
        owner, _, leaf = key.rpartition(".")
        renamed[f"{owner}.main.{leaf}" if owner in branches else key] = value
    missing, unexpected = model.load_state_dict(renamed, strict=False)
    if unexpected or any(not any(k.startswith(f"{b}.") for b in branches) for k in missing):
        raise ValueError(f"plain weights do not fit the re-parameterised model (missing {missing[:3]}, unexpected {unexpected[:3]})")


# ---------------------------------------------------------------- validation
@torch.no_grad()
def validate(model: RDN, images: list[tuple[str, np.ndarray]], loss_name: str = "mse", jpeg_quality: int = 0) -> dict:
    """Whole-image validation, standard protocol: Y-PSNR / SSIM shaved by the scale, RGB PSNR.

    "loss" is the training loss function (l1 or mse) on [0, 1] values, so that the training and
    validation loss curves are comparable. jpeg_quality (1-100; 0 = clean) saves the LR images as
    JPEG first, as `sr-eval --jpeg` does, so that an artefact-cancelling model keeps its best
    checkpoint by what it is for.
    """
    scale = model.config.scale
    loss_fn = F.l1_loss if loss_name == "l1" else F.mse_loss
    device = next(model.parameters()).device
    model.eval()
    rows, samples = [], []
    for name, hr in images:
        hr = crop_to_multiple(hr, scale)
        lr = bicubic_downscale(hr, scale)
        if jpeg_quality:
            lr = jpeg(lr, jpeg_quality)
        sr_tensor = model(to_tensor(lr[None]).to(device)).float().cpu()
        sr = to_uint8_image(sr_tensor)
        loss = loss_fn(sr_tensor.clamp(0, 1), to_tensor(hr[None])).item()
        rows.append((y_psnr(sr, hr, scale), y_ssim(sr, hr, scale), rgb_psnr(sr, hr, scale), loss))
        samples.append((name, lr, sr, hr))
    model.train()
    psnr, ssim, rgb, loss = (float(np.mean(col)) for col in zip(*rows))
    return {"psnr": psnr, "ssim": ssim, "rgb_psnr": rgb, "loss": loss, "samples": samples}


# ---------------------------------------------------------------- the loop
class Trainer:
    """Model, optimiser, schedule and data of one run; `run` trains, validates and checkpoints.

    Building a Trainer writes nothing; `run` writes config.toml, checkpoints and TensorBoard
    events into c.out_dir (rank 0 only).
    """

    def __init__(self, config: TrainConfig, resume: bool = False, sampler: PatchSampler | None = None):
        config.validate()
        self.c = c = config
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        cuda = torch.cuda.is_available()
        self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick its fastest kernels
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        if c.threads:
            torch.set_num_threads(c.threads)
        self.out = Path(c.out_dir)
        torch.manual_seed(c.seed)
        self.model = RDN(variant(c.arch), reparam=c.reparam).to(self.device)
        if c.init_from:
            self._init_from(Path(c.init_from))
        if c.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # The average is what validation scores and best.pt keeps; the optimiser steps the raw weights.
        self.ema = torch.optim.swa_utils.AveragedModel(
            self.model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(c.ema_decay)
        ) if c.ema_decay else None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, c))
        self.amp_dtype = self._amp_dtype()
        # Gradient scaling is needed only for float16, whose small range underflows gradients.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step, self.best_psnr = 0, -math.inf
        self.resumed = resume
        if resume:
            self._restore(self.out / "last.pt")
        self.ddp = torch.nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else self.model
        # Compile the wrapper, never save it: checkpoints hold the bare model's state.
        self.forward = torch.compile(self.ddp) if c.compile else self.ddp
        self.sampler = sampler or PatchSampler(c, self.model.config.scale)
        self.val_images = load_val_images(c.val) if c.val and self.rank == 0 else []
        self.writer = None
        self.stop_signal = 0
        self.out_of_time = False  # max_minutes reached
        self.batches: ParallelBatches | None = None

    def _amp_dtype(self) -> torch.dtype | None:
        if not self.c.bf16:
            return None
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if not cpu_has_native_bf16():
            # Emulated bfloat16 is many times slower than float32 (docs/training.md, AVX2 only).
            if self.rank == 0:
                log.info("bf16: this CPU has no AVX512-BF16 or AMX; training in float32")
            return None
        return torch.bfloat16

    @property
    def scored_model(self) -> RDN:
        """The weights validation scores and checkpoints keep as `model`: the EMA when enabled."""
        return self.ema.module if self.ema else self.model

    def _init_from(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"init_from: no checkpoint at {path}")
        state = load_checkpoint(path)
        start = trained_model(state)
        wanted = self.model.config
        grown = wanted.D > start.config.D and dataclasses.replace(start.config, D=wanted.D) == wanted
        if grown:  # more blocks than the checkpoint: it grows, its function kept
            start = deepen(start, wanted.D)
        if start.config != wanted:
            raise ValueError(f"init_from: {path} holds arch {start.config.to_dict()}, the config asks for {self.c.arch!r}"
                             " (only D may be larger: new blocks start as identities)")
        if not self.c.reparam:
            self.model.load_state_dict(start.state_dict())
        elif state.get("config", {}).get("reparam") and not grown:  # its branches as saved
            self.model.load_state_dict(state["model"])
        else:
            plain_into_reparam(self.model, start.state_dict())

    def _restore(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}")
        state = load_checkpoint(path, self.device)
        if state["arch"] != self.model.config.to_dict():
            raise ValueError(f"--resume: {path} holds another architecture ({state['arch']})")
        if bool(state["config"].get("reparam")) != self.c.reparam or bool(state["config"].get("ema_decay")) != bool(self.ema):
            raise ValueError(f"--resume: {path} was trained with other reparam / ema_decay settings")
        if self.ema:
            self.model.load_state_dict(state["raw_model"])
            self.ema.module.load_state_dict(state["model"])
            self.ema.n_averaged.fill_(state["ema_updates"])
        else:
            self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best_psnr = state["step"], state["best_psnr"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if "grad_scaler" in state:
            self.scaler.load_state_dict(state["grad_scaler"])
        changed = {
            key for key, value in dataclasses.asdict(self.c).items()
            if key not in RESUME_NEUTRAL_KEYS and key in state["config"] and state["config"][key] != value
        }
        if changed:
            log.warning("--resume: %s differ(s) from the checkpoint's config; the run continues with the new value(s)", ", ".join(sorted(changed)))
        log.info("resumed from %s at step %d", path, self.step)

    def _save(self, name: str, metrics: dict | None = None) -> None:
        if self.rank != 0:
            return
        if self.writer:  # events up to the checkpoint survive a kill (the writer buffers them)
            self.writer.flush()
        extra = {"grad_scaler": self.scaler.state_dict()} if self.scaler.is_enabled() else {}
        if self.ema:
            extra.update(raw_model=self.model.state_dict(), ema_updates=int(self.ema.n_averaged.item()))
        save_checkpoint(self.out / name, dict(
            arch=self.model.config.to_dict(),
            model=self.scored_model.state_dict(),  # the bare model, never the DDP or compile wrapper
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            step=self.step,
            best_psnr=self.best_psnr,
            torch_rng=torch.get_rng_state(),
            config=dataclasses.asdict(self.c),
            metrics=metrics or {},
            **extra,
        ))

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def train_step(self, prefetch: bool = True) -> tuple[float, float]:
        """One optimiser step on one batch; returns (training loss, batch RGB PSNR in dB)."""
        if self.batches:
            lr, hr = self.batches.next()
        else:
            lr, hr = self.sampler.sample(step_rng(self.c.seed, self.rank, self.step))
        if prefetch and not self.batches:  # decode the next step's image (if not cached) while this step computes
            self.sampler.prefetch(step_rng(self.c.seed, self.rank, self.step + 1))
        memory = torch.channels_last if self.c.channels_last else torch.contiguous_format
        lr_t = to_tensor(lr).to(self.device, memory_format=memory)
        hr_t = to_tensor(hr).to(self.device, memory_format=memory)
        with self._autocast():
            sr = self.forward(lr_t)
        sr = sr.float()
        loss = F.l1_loss(sr, hr_t) if self.c.loss == "l1" else F.mse_loss(sr, hr_t)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema:
            self.ema.update_parameters(self.model)
        self.step += 1
        return loss.item(), batch_psnr(sr, hr_t)

    def _validate_and_log(self) -> dict:
        metrics = validate(self.scored_model, self.val_images, self.c.loss, self.c.val_jpeg_quality)
        samples = metrics.pop("samples")
        w = self.writer
        w.add_scalar("val/loss", metrics["loss"], self.step)
        w.add_scalar("val/psnr", metrics["psnr"], self.step)
        w.add_scalar("val/rgb_psnr", metrics["rgb_psnr"], self.step)
        w.add_scalar("val/ssim", metrics["ssim"], self.step)
        for name, lr, sr, hr in samples[: self.c.val_images_logged]:
            w.add_image(f"{name}/lr", lr, self.step, dataformats="HWC")
            w.add_image(f"{name}/sr", sr, self.step, dataformats="HWC")
            w.add_image(f"{name}/hr", hr, self.step, dataformats="HWC")
        return metrics

    def _validate_and_keep_best(self) -> float:
        """Validate, log, and save best.pt if the Y-PSNR improved; returns the Y-PSNR (dB)."""
        metrics = self._validate_and_log()
        tqdm.write(f"step {self.step}: val Y-PSNR {metrics['psnr']:.3f} dB, SSIM {metrics['ssim']:.4f}", file=sys.stderr)
        if metrics["psnr"] > self.best_psnr:
            self.best_psnr = metrics["psnr"]
            self._save("best.pt", metrics)
        return metrics["psnr"]

    def _open_outputs(self) -> None:
        """Rank 0 writes the resolved config and opens TensorBoard; other ranks write nothing."""
        if self.rank != 0:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.toml").write_text(config_module.to_toml(self.c))
        # On resume, hide the events a killed run logged after its last checkpoint (the
        # checkpoint's own step was logged before it was saved, and is kept).
        self.writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.step + 1 if self.resumed else None)

    def _stop_agreed(self) -> bool:
        """Whether any rank was asked to stop; all ranks must leave the loop at the same step."""
        if self.world == 1:
            return bool(self.stop_signal or self.out_of_time)
        flag = torch.tensor([self.stop_signal, int(self.out_of_time)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self.stop_signal, self.out_of_time = int(flag[0].item()), bool(flag[1].item())
        return bool(self.stop_signal or self.out_of_time)

    def run(self) -> int:
        """Train to c.steps or until SIGINT/SIGTERM; returns 0, or 128 + the signal number."""
        previous_handlers = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._loop()
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)

    def _loop(self) -> int:
        self._open_outputs()
        c = self.c
        if c.loader_workers:
            self.batches = ParallelBatches(self.sampler, c.seed, self.rank, self.step, c.loader_workers)
        try:
            return self._steps()
        finally:
            if self.batches:
                self.batches.close()

    def _steps(self) -> int:
        c = self.c
        deadline = time.monotonic() + c.max_minutes * 60 if c.max_minutes else math.inf
        bar = tqdm(total=c.steps, initial=self.step, disable=self.rank != 0 or None, dynamic_ncols=True)
        last_psnr, train_seconds, start_step = float("nan"), 0.0, self.step
        while self.step < c.steps and not self._stop_agreed():
            started = time.perf_counter()
            loss, psnr = self.train_step()
            train_seconds += time.perf_counter() - started
            patches_per_s = (self.step - start_step) * c.batch_size * self.world / train_seconds
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", val_psnr=f"{last_psnr:.2f}", patches_s=f"{patches_per_s:.0f}")
            if self.rank == 0 and bar.disable and self.step % 100 == 0:  # no terminal: log lines
                log.info("step %d/%d loss %.4f val %.2f dB %.0f patches/s", self.step, c.steps, loss, last_psnr, patches_per_s)
            if self.rank == 0:
                self.writer.add_scalar("train/loss", loss, self.step)
                self.writer.add_scalar("train/psnr", psnr, self.step)
                self.writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.step)
                self.writer.add_scalar("train/patches_per_s", patches_per_s, self.step)
            if self.rank == 0 and self.val_images and (self.step % c.val_every == 0 or self.step == c.steps):
                last_psnr = self._validate_and_keep_best()
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                self._save("last.pt")
            self.out_of_time = time.monotonic() > deadline
        if self.out_of_time and self.step < c.steps:
            if self.rank == 0 and self.val_images and self.step % c.val_every:
                self._validate_and_keep_best()  # the last steps before the deadline count too
            self._save("last.pt")
            tqdm.write(f"max_minutes ({c.max_minutes:g}) reached at step {self.step}; {self.out / 'last.pt'} saved, continue with --resume", file=sys.stderr)
        if self.stop_signal:
            self._save("last.pt")
            tqdm.write(f"stopped at step {self.step}; {self.out / 'last.pt'} saved, continue with --resume", file=sys.stderr)
        bar.close()
        if self.writer:
            self.writer.close()
        if self.world > 1:
            # Leave together: a rank that tears gloo down while another still validates or saves
            # can abort at exit ("terminate called without an active exception").
            dist.barrier()
            dist.destroy_process_group()
        if self.rank == 0 and not self.stop_signal and train_seconds:
            done = self.step - start_step
            best = f"; best val Y-PSNR {self.best_psnr:.3f} dB" if self.val_images else ""
            log.info("done: %d steps in %.0f s, %.1f patches/s%s", done, train_seconds, done * c.batch_size * self.world / train_seconds, best)
        return 128 + self.stop_signal if self.stop_signal else 0

    def _request_stop(self, signum, frame) -> None:
        self.stop_signal = signum
        # A second Ctrl-C aborts at once, without saving (the last checkpoint stays).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if self.rank == 0:
            print(f"\n{signal.Signals(signum).name}: saving after this step (Ctrl-C again to abort)", file=sys.stderr)


# ---------------------------------------------------------------- speed benchmark
# CPU speed-ups measured one by one against plain float32 (docs/training.md has the numbers).
SPEED_VARIANTS: dict[str, dict[str, bool]] = {
    "fp32": {"bf16": False, "channels_last": False, "compile": False},
    "fp32 + channels_last": {"bf16": False, "channels_last": True, "compile": False},
    "bf16 autocast": {"bf16": True, "channels_last": False, "compile": False},
    "bf16 + channels_last": {"bf16": True, "channels_last": True, "compile": False},
    "bf16 + channels_last + compile": {"bf16": True, "channels_last": True, "compile": True},
}
BENCHMARK_WARMUP_STEPS = 3  # oneDNN picks kernels and torch.compile compiles on the first steps


def benchmark(config: TrainConfig, steps: int, names: list[str], rounds: int = 3) -> dict[str, tuple[float, float]]:
    """Training throughput of `config` with each speed variant; writes nothing.

    Returns {variant: (patches per second, patches per CPU-second)}. Variants take turns for
    `rounds` rounds of `steps` steps and the best round counts, so that load from other
    processes disturbs all of them alike; CPU time (all threads of this process) is the fairer
    measure on a busy machine. When images are decoded on demand (cache_mb), the first variant
    also runs without the background prefetch, and the data side is timed on its own.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    sampler = PatchSampler(config, variant(config.arch).scale)
    cached = sum(img.pixels is not None for img in sampler.images)
    click.echo(f"{config.arch}, batch {config.batch_size} x {config.patch_size} px, {torch.get_num_threads()} threads, "
               f"{cached}/{len(sampler.images)} images cached, {steps} steps x {rounds} rounds")
    _benchmark_data(sampler, steps)
    runs = [(name, True) for name in names]
    if cached < len(sampler.images):
        runs.append((names[0], False))
    best: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {}
        for name, prefetch in runs:
            c = dataclasses.replace(config, out_dir=tmp, val="", **SPEED_VARIANTS[name])
            trainers[name, prefetch] = trainer = Trainer(c, sampler=sampler)
            for _ in range(BENCHMARK_WARMUP_STEPS):
                trainer.train_step(prefetch)
        for _ in range(rounds):
            for (name, prefetch), trainer in trainers.items():
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(steps):
                    trainer.train_step(prefetch)
                patches = steps * config.batch_size
                label = name if prefetch else f"{name}, no prefetch"
                rates = (patches / (time.perf_counter() - wall), patches / (time.process_time() - cpu))
                best[label] = tuple(max(a, b) for a, b in zip(best.get(label, (0.0, 0.0)), rates))
    for label, (per_second, per_cpu_second) in best.items():
        click.echo(f"{label:34s} {per_second:8.1f} patches/s {per_cpu_second:8.1f} patches/CPU-s")
    return best


def _benchmark_data(sampler: PatchSampler, batches: int) -> None:
    """CPU milliseconds to cut one batch from a cached image and to decode one uncached image."""
    cpu = time.process_time()
    for i in range(batches):
        sampler.sample(step_rng(0, 0, i))
    click.echo(f"cut + synthesise LR of one batch: {(time.process_time() - cpu) * 1000 / batches:.0f} ms CPU")
    sample = sampler.images[: max(1, batches)]
    cpu = time.process_time()
    for image in sample:
        sampler._decode(image)
    click.echo(f"decode one image (on demand): {(time.process_time() - cpu) * 1000 / len(sample):.0f} ms CPU")


# ---------------------------------------------------------------- command line
@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="TOML file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (TOML value).")
@click.option("--train", "train_dirs", multiple=True, metavar="DIR", help="Folder of HR training images (repeatable); replaces the config's [[train]].")
@click.option("--val", "val_dir", metavar="DIR", help="Folder of HR validation images.")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False), help="Checkpoint whose weights start this run (fine-tuning).")
@click.option("--out", "out_dir", help="Run folder (checkpoints, config.toml, tensorboard/).")
@click.option("--steps", type=click.IntRange(min=1), help="Total training steps.")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt exactly where it stopped.")
@click.option("--benchmark", "benchmark_steps", type=click.IntRange(min=1), metavar="STEPS", help="Measure patches/s of the CPU speed-ups over STEPS steps each; trains nothing.")
@click.option("--variant", "speed_variants", multiple=True, type=click.Choice(list(SPEED_VARIANTS)), help="With --benchmark: only these speed variants (repeatable).")
def main(config_path, overrides, train_dirs, val_dir, init_from, out_dir, steps, resume, benchmark_steps, speed_variants) -> None:
    """Train an RDN super-resolution model on folders of HR images."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    extra = {"train": list(train_dirs)} if train_dirs else {}
    for key, value in (("val", val_dir), ("init_from", init_from), ("out_dir", out_dir), ("steps", steps)):
        if value is not None:
            extra[key] = value
    try:
        config = config_module.load(config_path, overrides, extra)
        if benchmark_steps:
            benchmark(config, benchmark_steps, list(speed_variants or SPEED_VARIANTS))
            return
        trainer = Trainer(config, resume)
    except (ValueError, FileNotFoundError) as error:  # CheckpointError is a ValueError
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted before training started; nothing saved") from None
    if trainer.rank == 0:
        log.info("model: %s (%d parameters), %d training images (%.1f MB cached), device %s", config.arch, count_parameters(trainer.model), len(trainer.sampler.images), trainer.sampler.cached_mb, trainer.device)
    try:
        sys.exit(trainer.run())
    except KeyboardInterrupt:
        raise click.ClickException(f"aborted at step {trainer.step}; the last checkpoint in {trainer.out} is kept") from None


if __name__ == "__main__":
    sys.exit(main())
