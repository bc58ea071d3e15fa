"""Training checkpoints: plain data only, so a checkpoint from anywhere cannot run code.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts, read back with torch's
`weights_only` unpickler, which refuses anything else (a pickle that would import or call Python
objects). Keys written by `sr-train`:

- `arch`: the RDNConfig as a dict; `config`: the TrainConfig as a dict (with `reparam`, `ema_decay`)
- `model`: the weights to deploy or fine-tune from (the EMA weights when `ema_decay` > 0), in the
  re-parameterised form when `config["reparam"]`; `raw_model`: the optimiser's own weights (EMA runs)
- `optimizer`, `scheduler`, `step`, `best_psnr`, `torch_rng`, `metrics`, optionally `grad_scaler`

Loading needs torch; export and training import this module, never each other.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch

from .atomic_file import atomic_write
from .image_io import first_line
from .model import RDN, RDNConfig, fuse_reparam


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message is one line naming the file."""


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically and durably: a crash while saving never leaves a truncated checkpoint."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """The checkpoint's dict; CheckpointError if it is missing, damaged or holds Python objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it still reads fine
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path}: refused, not a plain-data checkpoint ({_unpickler_reason(error)})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line(error)})") from None
    if not isinstance(state, dict) or "arch" not in state or "model" not in state:
        raise CheckpointError(f"{path}: not an sr-train checkpoint (no arch or model)")
    return state


def _unpickler_reason(error: Exception) -> str:
    """The line of torch's long weights_only message that names what was refused."""
    _, marker, rest = str(error).partition("WeightsUnpickler error:")
    lines = [line.strip() for line in rest.splitlines() if line.strip()]
    return lines[0].split(". ")[0] if marker and lines else "it asks to load Python objects"


def trained_model(state: dict) -> RDN:
    """The deployable plain RDN of a checkpoint dict (re-parameterised branches folded)."""
    reparam = bool(state.get("config", {}).get("reparam", False))
    model = RDN(RDNConfig(**state["arch"]), reparam=reparam)
    model.load_state_dict(state["model"])
    return fuse_reparam(model) if reparam else model


def load_model(path: str | Path) -> RDN:
    """Rebuild the deployable RDN from a checkpoint file (its architecture is stored in it)."""
    return trained_model(load_checkpoint(path))
