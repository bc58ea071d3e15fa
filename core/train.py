"""The training loop (`sr-train`): on-the-fly patches, Adam, cosine or step schedule,
whole-image validation with the standard protocol, TensorBoard, atomic resumable checkpoints,
and DistributedDataParallel when launched with torchrun.

Resuming is exact: the patch RNG of every step is derived from (seed, rank, step), so a run
killed at any point and resumed from its last checkpoint draws the same batches as a run that
never stopped.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import click
import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F

from . import config as config_module
from .config import TrainConfig
from .data import PatchSampler, load_val_images
from .degradations import bicubic_downscale, crop_to_multiple
from .metrics import rgb_psnr, y_psnr, y_ssim
from .model import RDN, RDNConfig, count_parameters, variant

log = logging.getLogger("sr-train")


# ---------------------------------------------------------------- tensors <-> images
def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(batch)).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8_image(tensor: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) -> uint8 (H, W, 3), clamped and rounded."""
    return tensor[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


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


# ---------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, **state) -> None:
    """Write atomically: a crash while saving never leaves a truncated checkpoint."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_model(path: str | Path) -> RDN:
    """Rebuild an RDN from a checkpoint (its architecture is stored in it)."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = RDN(RDNConfig(**state["arch"]))
    model.load_state_dict(state["model"])
    return model


# ---------------------------------------------------------------- validation
@torch.no_grad()
def validate(model: RDN, images: list[tuple[str, np.ndarray]]) -> dict:
    """Whole-image validation, standard protocol: Y-PSNR / SSIM shaved by the scale, RGB PSNR."""
    scale = model.config.scale
    model.eval()
    rows, samples = [], []
    for name, hr in images:
        hr = crop_to_multiple(hr, scale)
        lr = bicubic_downscale(hr, scale)
        sr_tensor = model(to_tensor(lr[None]))
        sr = to_uint8_image(sr_tensor)
        loss = F.mse_loss(sr_tensor.clamp(0, 1), to_tensor(hr[None])).item()
        rows.append((y_psnr(sr, hr, scale), y_ssim(sr, hr, scale), rgb_psnr(sr, hr, scale), loss))
        samples.append((name, lr, sr, hr))
    model.train()
    psnr, ssim, rgb, loss = (float(np.mean(col)) for col in zip(*rows))
    return {"psnr": psnr, "ssim": ssim, "rgb_psnr": rgb, "loss": loss, "samples": samples}


# ---------------------------------------------------------------- the loop
class Trainer:
    def __init__(self, config: TrainConfig, resume: bool):
        config.validate()
        self.c = c = config
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else torch.device("cpu")
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if c.threads:
            torch.set_num_threads(c.threads)
        self.out = Path(c.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(c.seed)
        self.model = RDN(variant(c.arch)).to(self.device)
        if c.init_from:
            self.model.load_state_dict(load_model(c.init_from).state_dict())
        if c.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, c))
        self.step, self.best_psnr = 0, -math.inf
        if resume:
            self._restore(self.out / "last.pt")
        self.ddp = (
            torch.nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else self.model
        )
        self.sampler = PatchSampler(c, self.model.config.scale)
        self.val_images = load_val_images(c.val) if c.val and self.rank == 0 else []
        self.writer = None
        if self.rank == 0:
            (self.out / "config.toml").write_text(config_module.to_toml(c))
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        self.stop_requested = False

    def _restore(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}")
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state["arch"] != self.model.config.to_dict():
            raise ValueError(f"--resume: {path} holds another architecture ({state['arch']})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best_psnr = state["step"], state["best_psnr"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at step %d", path, self.step)

    def _save(self, name: str, metrics: dict | None = None) -> None:
        if self.rank != 0:
            return
        save_checkpoint(
            self.out / name,
            arch=self.model.config.to_dict(),
            model=self.model.state_dict(),  # the bare model, never the DDP wrapper
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            step=self.step,
            best_psnr=self.best_psnr,
            torch_rng=torch.get_rng_state(),
            config=dataclasses.asdict(self.c),
            metrics=metrics or {},
        )

    def _autocast(self):
        if not self.c.bf16:
            return nullcontext()
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def train_step(self) -> float:
        rng = np.random.default_rng([self.c.seed, self.rank, self.step])
        lr, hr = self.sampler.sample(rng)
        memory = torch.channels_last if self.c.channels_last else torch.contiguous_format
        lr_t = to_tensor(lr).to(self.device, memory_format=memory)
        hr_t = to_tensor(hr).to(self.device, memory_format=memory)
        with self._autocast():
            sr = self.ddp(lr_t)
        sr = sr.float()
        loss = F.l1_loss(sr, hr_t) if self.c.loss == "l1" else F.mse_loss(sr, hr_t)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return loss.item()

    def _validate_and_log(self) -> dict:
        metrics = validate(self.model, self.val_images)
        samples = metrics.pop("samples")
        w = self.writer
        w.add_scalar("val/loss", metrics["loss"], self.step)
        w.add_scalar("val/psnr", metrics["psnr"], self.step)
        w.add_scalar("val/ssim", metrics["ssim"], self.step)
        for name, lr, sr, hr in samples[: self.c.val_images_logged]:
            w.add_image(f"{name}/lr", lr, self.step, dataformats="HWC")
            w.add_image(f"{name}/sr", sr, self.step, dataformats="HWC")
            w.add_image(f"{name}/hr", hr, self.step, dataformats="HWC")
        return metrics

    def run(self) -> None:
        from tqdm import tqdm

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._request_stop)
        c = self.c
        bar = tqdm(total=c.steps, initial=self.step, disable=self.rank != 0 or None, dynamic_ncols=True)
        last_psnr, started, start_step = float("nan"), time.perf_counter(), self.step
        while self.step < c.steps and not self.stop_requested:
            loss = self.train_step()
            patches_per_s = (self.step - start_step) * c.batch_size * self.world / (time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", psnr=f"{last_psnr:.2f}", patches_s=f"{patches_per_s:.0f}")
            if self.rank == 0 and bar.disable and self.step % 100 == 0:  # no terminal: log lines
                log.info("step %d/%d loss %.4f val %.2f dB %.0f patches/s", self.step, c.steps, loss, last_psnr, patches_per_s)
            if self.rank == 0:
                self.writer.add_scalar("train/loss", loss, self.step)
                self.writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.step)
                self.writer.add_scalar("train/patches_per_s", patches_per_s, self.step)
            if self.rank == 0 and self.val_images and (self.step % c.val_every == 0 or self.step == c.steps):
                metrics = self._validate_and_log()
                last_psnr = metrics["psnr"]
                bar.write(f"step {self.step}: val Y-PSNR {metrics['psnr']:.3f} dB, SSIM {metrics['ssim']:.4f}")
                if metrics["psnr"] > self.best_psnr:
                    self.best_psnr = metrics["psnr"]
                    self._save("best.pt", metrics)
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                self._save("last.pt")
        if self.stop_requested:
            self._save("last.pt")
            bar.write(f"stopped at step {self.step}; resume with --resume")
        bar.close()
        if self.writer:
            self.writer.close()
        if self.world > 1:
            dist.destroy_process_group()

    def _request_stop(self, signum, frame) -> None:
        self.stop_requested = True


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="TOML file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (TOML value).")
@click.option("--out", "out_dir", help="Run folder (checkpoints, config.toml, tensorboard/).")
@click.option("--steps", type=int, help="Total training steps.")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt exactly where it stopped.")
def main(config_path, overrides, out_dir, steps, resume) -> None:
    """Train an RDN super-resolution model on folders of HR images."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    extra = [f"out_dir={out_dir!r}"] if out_dir else []
    extra += [f"steps={steps}"] if steps else []
    try:
        config = config_module.load(config_path, [*overrides, *extra])
        trainer = Trainer(config, resume)
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from None
    log.info("model: %s (%d parameters)", config.arch, count_parameters(trainer.model))
    trainer.run()


if __name__ == "__main__":
    sys.exit(main())
