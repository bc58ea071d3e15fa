"""The peer upscalers of ../shared/peers, run through their own scripts in their own venv.

They are yardsticks, never product dependencies: when the venv (SR_PEERS_VENV, default
../peers-venv next to the checkout) or the peers folder is missing, the benchmark prints a note
and skips them.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .workload import SHARED

PEERS_DIR = SHARED / "peers"
DEFAULT_VENV = Path(__file__).resolve().parents[2] / "peers-venv"


@dataclass(frozen=True)
class Peer:
    name: str  # as the peer script takes it
    script: str  # in shared/peers
    max_input: int  # largest input side run: the runners enlarge the whole image in one pass
    why_capped: str = ""


# Input sides above max_input are not run: the whole-image runners need memory proportional to
# the widest layer (e.g. waifu2x upconv_7: 256 float32 channels, ~17 GB for a 4096x4096 input).
PEERS: tuple[Peer, ...] = (
    Peer("espcn", "upscale_peer.py", 4096),
    Peer("fsrcnn", "upscale_peer.py", 4096),
    Peer("lapsrn", "upscale_peer.py", 1024, "~1 min and several GB at 4096"),
    Peer("waifu2x-photo", "upscale_ncnn.py", 1024, "whole image in one ncnn pass: ~17 GB at 4096"),
    Peer("waifu2x-cunet", "upscale_ncnn.py", 1024, "whole image in one ncnn pass: tens of GB at 4096"),
)


def peers_python() -> Path | None:
    """The peers venv's interpreter, or None when it is not set up."""
    venv = Path(os.environ.get("SR_PEERS_VENV", DEFAULT_VENV))
    python = venv / "bin" / "python"
    return python if python.exists() and PEERS_DIR.is_dir() else None


def run_peer(python: Path, peer: Peer, source: Path, target: Path, repeat: int, threads: int = 2, timeout: float = 600) -> float:
    """Median seconds of the peer's upscale of `source` (its model loading excluded); raises on failure."""
    command = [str(python), str(PEERS_DIR / peer.script), peer.name, str(source), str(target),
               "--repeat", str(repeat), "--warmup", "1", "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    found = re.search(r"median_s=([0-9.]+)", done.stdout)
    if done.returncode != 0 or not found:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise RuntimeError(f"{peer.name}: {reason}")
    return float(found.group(1))
