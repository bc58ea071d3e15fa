"""Training configuration: one dataclass, filled from a TOML file and `--set key=value` overrides.

Unknown keys and values of the wrong type are errors, so a typo never silently trains
something else. Every run writes its resolved configuration next to its checkpoints.
"""
from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DataSource:
    """A folder of HR images (searched recursively).

    hr_scale < 1 shrinks each image (MATLAB bicubic) before it is used as HR, for large
    JPEG photos whose compression artefacts should not be learnt. weight is the share of
    training steps that draw from this folder, relative to the other folders.
    """

    path: str
    hr_scale: float = 1.0
    weight: float = 1.0


@dataclass
class TrainConfig:
    arch: str | dict = "small"  # a name from core.model.VARIANTS, or {C, D, G, G0[, scale]}
    train: list[DataSource] = field(default_factory=list)
    val: str = ""  # folder of HR images for whole-image validation
    out_dir: str = "runs/x2"
    # Batches: one random image per step, batch_size random LR patches of patch_size pixels.
    patch_size: int = 48
    batch_size: int = 16
    flat_threshold: float = 0.0  # reject HR patches whose grey std (uint8 levels) is below this
    cache_mb: int = 4096  # decoded images kept in memory; the rest are decoded on demand
    # Share of steps whose batch is cut from a rendered catalog canvas (text, badges, boxes on
    # white, flat, gradient or photo backgrounds; core/synthetic.py) instead of a training image.
    synthetic_share: float = 0.0
    # Font sizes of the canvases' text, [low, high] in HR pixels: small sizes are where text stops
    # being legible after a 2x enlargement (the evaluation's text sets use 9-16 px).
    synthetic_text_px: list[int] = field(default_factory=lambda: [9, 40])
    # Degradations of the LR patch, for the artefact-cancelling model (empty = clean LR).
    jpeg_quality: list[int] = field(default_factory=list)  # [low, high], inclusive
    jpeg_probability: float = 1.0
    noise_sigma: list[float] = field(default_factory=list)  # [low, high] in uint8 levels
    # Optimisation.
    steps: int = 20000
    loss: str = "l1"  # "l1" or "mse"
    lr: float = 5e-4
    lr_min: float = 1e-6
    schedule: str = "cosine"  # "cosine" or "step"
    warmup_steps: int = 200
    step_milestones: list[int] = field(default_factory=list)  # for schedule = "step"
    step_gamma: float = 0.5
    seed: int = 0
    init_from: str = ""  # checkpoint whose weights start this run (fine-tuning)
    # Validate and save an exponential moving average of the weights (0 = off; 0.999 ~ 1,000 steps).
    ema_decay: float = 0.0
    # Train every 3x3 conv as parallel branches, folded into one conv at export (core/model.py).
    reparam: bool = False
    # Monitoring and checkpoints.
    val_every: int = 1000
    checkpoint_every: int = 250
    val_images_logged: int = 2
    val_jpeg_quality: int = 0  # validate on LR saved as JPEG at this quality (0 = clean LR)
    # Speed.
    threads: int = 0  # 0 = torch's default
    # Processes cutting batches ahead of the optimiser (0 = in the training process, as on a CPU);
    # a GPU outruns one process's bicubic LR synthesis.
    loader_workers: int = 0
    max_minutes: float = 0.0  # stop (saving last.pt, and best.pt if it improved) after this long; 0 = no limit
    # Mixed precision: bfloat16 autocast on CPU; on CUDA bfloat16 where the GPU has it,
    # else float16 with gradient scaling.
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False  # torch.compile the model (slow first step; see docs/training.md)

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot train."""
        from .model import variant

        variant(self.arch)  # an unknown name or key is an error listing the valid ones
        if not self.train:
            raise ValueError("no training folder: set [[train]] path = ... in the config or pass --train")
        for source in self.train:
            if not 0 < source.hr_scale <= 1:
                raise ValueError(f"train.hr_scale must be in (0, 1], not {source.hr_scale} ({source.path})")
            if source.weight <= 0:
                raise ValueError(f"train.weight must be > 0, not {source.weight} ({source.path})")
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"loss must be 'l1' or 'mse', not {self.loss!r}")
        if self.schedule not in ("cosine", "step"):
            raise ValueError(f"schedule must be 'cosine' or 'step', not {self.schedule!r}")
        for name in ("jpeg_quality", "noise_sigma"):
            value = getattr(self, name)
            if value and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"{name} must be [low, high], not {value!r}")
        if self.jpeg_quality and not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"jpeg_quality must lie in [1, 100], not {self.jpeg_quality!r}")
        if self.noise_sigma and self.noise_sigma[0] < 0:
            raise ValueError(f"noise_sigma must be >= 0, not {self.noise_sigma!r}")
        if not 0 <= self.jpeg_probability <= 1:
            raise ValueError(f"jpeg_probability must be in [0, 1], not {self.jpeg_probability}")
        if self.patch_size < 8 or self.batch_size < 1 or self.steps < 1:
            raise ValueError("patch_size >= 8, batch_size >= 1 and steps >= 1 are required")
        if not 0 < self.lr_min <= self.lr:
            raise ValueError(f"0 < lr_min <= lr is required, not lr={self.lr}, lr_min={self.lr_min}")
        if self.val_every < 1 or self.checkpoint_every < 1 or self.warmup_steps < 0:
            raise ValueError("val_every >= 1, checkpoint_every >= 1 and warmup_steps >= 0 are required")
        if not 0 <= self.val_jpeg_quality <= 100:
            raise ValueError(f"val_jpeg_quality must lie in [0, 100] (0 = clean LR), not {self.val_jpeg_quality}")
        if not 0 <= self.synthetic_share <= 1:
            raise ValueError(f"synthetic_share must be in [0, 1], not {self.synthetic_share}")
        low_high = self.synthetic_text_px
        if len(low_high) != 2 or not 4 <= low_high[0] <= low_high[1]:
            raise ValueError(f"synthetic_text_px must be [low, high] with 4 <= low <= high, not {low_high}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0 = off), not {self.ema_decay}")
        if self.cache_mb < 0 or self.threads < 0 or self.loader_workers < 0 or self.max_minutes < 0:
            raise ValueError("cache_mb, threads, loader_workers and max_minutes must be >= 0")


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Check a TOML value against a field's annotation; ints are accepted for floats."""
    expected = {"int": int, "float": (int, float), "str": str, "bool": bool, "str | dict": (str, dict)}
    if annotation.startswith("list"):
        if not isinstance(value, list):
            raise ValueError(f"{name} must be a list, not {value!r}")
        if annotation == "list[DataSource]":
            return [_data_source(name, v) for v in value]
        inner = annotation[5:-1]
        return [_coerce(name, v, inner) for v in value]
    kind = expected[annotation]
    if isinstance(value, bool) and annotation != "bool" or not isinstance(value, kind):
        raise ValueError(f"{name} must be {annotation}, not {value!r}")
    return float(value) if annotation == "float" else value


def _data_source(name: str, value: Any) -> DataSource:
    if isinstance(value, str):
        return DataSource(path=value)
    if not isinstance(value, dict):
        raise ValueError(f"{name} entries must be a path or a table, not {value!r}")
    known = {f.name: f.type for f in dataclasses.fields(DataSource)}
    unknown = set(value) - set(known)
    if unknown:
        raise ValueError(f"unknown key(s) in {name}: {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    if "path" not in value:
        raise ValueError(f"{name} entry {value!r} has no path")
    return DataSource(**{k: _coerce(f"{name}.{k}", v, known[k]) for k, v in value.items()})


def from_dict(values: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        hints = [f"{key!r}" + "".join(f" (did you mean {m!r}?)" for m in difflib.get_close_matches(key, fields, 1)) for key in unknown]
        raise ValueError(f"unknown config key(s): {', '.join(hints)}")
    checked = {k: _coerce(k, v, fields[k]) for k, v in values.items()}
    return dataclasses.replace(base or TrainConfig(), **checked)


def parse_override(text: str) -> tuple[str, Any]:
    """'key=value' with a TOML value; bare words are taken as strings."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"override {text!r} is not key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def load(path: str | Path | None, overrides: list[str] = (), extra: dict[str, Any] | None = None) -> TrainConfig:
    """The config file, then `key=value` overrides, then `extra` (typed values from CLI options)."""
    values: dict[str, Any] = {}
    if path:
        with open(path, "rb") as f:
            try:
                values = tomllib.load(f)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"{path}: {error}") from None
    values.update(parse_override(o) for o in overrides)
    values.update(extra or {})
    return from_dict(values)


def to_toml(config: TrainConfig) -> str:
    import tomli_w

    values = dataclasses.asdict(config)
    return tomli_w.dumps(values)
