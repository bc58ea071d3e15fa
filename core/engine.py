"""The inference engine: runs an exported RDN (ONNX) with onnxruntime, tile by tile.

Torch-free by design: this module and everything it imports need only numpy and onnxruntime,
so `pip install sr-scale[cpu]` stays light. Images in and out are (H, W, 3) uint8 or uint16
arrays; the model itself works on float32 RGB in [0, 1].
"""
from __future__ import annotations

import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from .threads import ThreadPlan, plan_engine
from .tiling import TilePlan, plan_tiles, planned_tiles

log = logging.getLogger(__name__)

# Models shipped inside the package, by name.
EMBEDDED_MODELS: dict[str, str] = {
    "x2": "x2.onnx",  # the default: clean photos and catalog images
    "x2-jpeg": "x2-jpeg.onnx",  # artefact-cancelling: JPEG-compressed (and lightly noisy) inputs
    "x2-jpeg-strong": "x2-jpeg-strong.onnx",  # heavy blocking: JPEGs of low quality (below 61)
    "x2-text": "x2-text.onnx",  # text on a flat background (price tags, banners), clean
    "x2-jpeg-text": "x2-jpeg-text.onnx",  # the same, compressed
}
DEFAULT_MODEL = "x2"
# The smallest tile of the automatic plan (tile=None): tiles in flight may each read as much as a
# DEFAULT_TILE x DEFAULT_TILE tile with its overlap, or more when the image's memory budget allows.
DEFAULT_TILE = 128  # LR pixels per tile side
# The memory contract of docs/performance.md: peak RSS < 1.5 x output bytes + 300 MiB. What the
# process holds besides its tiles (Python, onnxruntime, the model: 77-81 MiB measured after a warm-up
# run, bench/memory.py's rss_before_mib less its input), the input, the output and the allocator's
# slack (tile_memory_budget) leave the rest to tiles in flight, less TILE_SPARE.
MEMORY_LIMIT_OUTPUT_FACTOR = 1.5
MEMORY_LIMIT_MIB = 300
PROCESS_MIB = 80
TILE_SPARE = 0.05  # of what is left to the tiles: peaks of one plan moved by up to 7 MiB between runs
MIB = 1024 * 1024
# onnxruntime's activations per LR pixel a tile reads, per channel of the model's widest tensor
# (an RDN's dense concatenations: G0 + C*G channels in a block, D*G0 in the global fusion), with
# the memory-pattern planner off (Upscaler._open) and the arena serving tiles of a few near-equal
# shapes. Measured on x2 (128 channels), one session, 1 thread, reads of 192^2 and 320^2: float32
# 1.85-1.99 KB (3.2-3.7 KB with the planner on), int8 0.66-0.67 KB (its activations are uint8
# between QLinear ops; 1.2-1.3 KB with the planner on); int8 in whole runs of 1024-4096 px with two
# tiles in flight, 0.69-0.72 KB (peak RSS less process, input and output; docs/performance.md).
ACTIVATION_BYTES_PER_CHANNEL = {"float32": 16, "float16": 16, "int8": 5.5}
# A model without `arch` metadata (not written by sr-export) is assumed this wide: 4 KB per pixel
# in float32, twice the shipped x2's.
UNKNOWN_WIDTH_CHANNELS = 256
DEVICES = ("auto", "cpu", "cuda")
# "auto": a model's int8 copy (x2.onnx -> x2.int8.onnx beside it, made by sr_scale.exporter.int8)
# on CPUs with int8 dot-product instructions, else the float32 file.
PRECISIONS = ("auto", "float32", "int8")
INT8_SUFFIX = ".int8.onnx"
# /proc/cpuinfo flags of fast int8 products: x86 VNNI (AVX-512 or AVX), AMX, ARM dotprod, and AVX2
# (u8s8 through vpmaddubsw, which can saturate: on an AVX2-only EPYC the shipped x2.int8 ran 1.9x
# faster than float32 per tile and still lost <= 0.05 dB on Set5, tests/test_int8.py; docs/performance.md).
# Elsewhere (SSE-only x86, ARM without dotprod) "auto" stays float32.
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "avx2"})


class ModelError(Exception):
    """The model file is missing, unreadable or not an sr-scale model."""


@dataclass(frozen=True)
class ModelInfo:
    """What an exported model says about itself (ONNX metadata written by sr-export)."""

    scale: int
    receptive_radius: int  # LR pixels of context each output pixel depends on
    metadata: dict[str, str]


def model_path(model: str | os.PathLike) -> Path:
    """An embedded model's name, or a path to an .onnx file."""
    name = str(model)
    if name in EMBEDDED_MODELS:
        return Path(str(resources.files(__package__) / "models" / EMBEDDED_MODELS[name]))
    path = Path(name)
    if path.suffix.lower() != ".onnx" and not path.exists():
        raise ModelError(f"unknown model {name!r}: use one of {', '.join(EMBEDDED_MODELS)} or a path to an .onnx file")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return path


def int8_copy(path: Path) -> Path | None:
    """The int8 copy kept beside a float32 model file (x2.onnx -> x2.int8.onnx), if there is one."""
    copy = path.with_suffix(INT8_SUFFIX)
    return copy if copy.is_file() and copy != path else None


def cpu_has_int8_dot_product(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True on CPUs whose flags list int8 dot-product instructions (Linux; False where unknown)."""
    try:
        return bool(INT8_DOT_PRODUCT_FLAGS & set(Path(cpuinfo).read_text().split()))
    except OSError:
        return False


def choose_model_file(model: str | os.PathLike, precision: str, on_cpu: bool) -> Path:
    """The file to run for `model` at `precision` ("auto", "float32" or "int8") on this device."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    path = model_path(model)
    if precision == "float32":
        return path
    copy = int8_copy(path)
    if precision == "int8":
        if copy is None:
            raise ModelError(f"--precision int8: no int8 copy of {model} ({path.with_suffix(INT8_SUFFIX).name}); "
                             "make one with python -m sr_scale.exporter.int8")
        return copy
    return copy if copy is not None and on_cpu and cpu_has_int8_dot_product() else path


def _providers(device: str) -> list[str]:
    """The providers asked for: CUDA first where this onnxruntime has it (and device allows)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ModelError("--device cuda: this onnxruntime has no CUDA provider (install sr-scale[gpu])")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def tile_memory_budget(height: int, width: int, scale: int, itemsize: int, tta: bool = False) -> int:
    """Bytes the tiles in flight may hold for an (height, width) LR image of `itemsize`-byte
    channels so the process stays within the memory contract (docs/performance.md), TILE_SPARE kept."""
    output = height * width * scale * scale * 3 * itemsize
    lr = height * width * 3 * itemsize
    # The input, and as much again for the allocator's slack, which grows with the tile count
    # (measured: 0.5-0.6 input sizes at 2048-4096 beyond the tiles' activations).
    held = output + 2 * lr + PROCESS_MIB * MIB
    if tta:  # the float32 sum of the views
        held += height * width * scale * scale * 3 * 4
    limit = MEMORY_LIMIT_OUTPUT_FACTOR * output + MEMORY_LIMIT_MIB * MIB
    return max(0, int((1 - TILE_SPARE) * (limit - held)))


class Upscaler:
    """An onnxruntime session over one model, and tiled enlargement of whole images.

    tile: None (default) plans tiles per image within its memory budget, never smaller than
    DEFAULT_TILE; N > 0 caps every tile's read at that of an N x N tile (shapes still chosen per
    image); 0 runs the whole image at once. threads: CPUs to use (0 = all this process may use,
    core/threads.py).
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, device: str = "auto", threads: int = 0, tile: int | None = None,
                 tta: bool = False, precision: str = "auto"):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
        asked = _providers(device)
        self.tile = tile
        self.threads = threads
        # Precision, threads and workers follow the provider the session really got: an
        # onnxruntime-gpu without a usable CUDA falls back to the CPU, and must then run as the
        # CPU build does (the int8 copy, tiles in parallel), not the float32 file meant for the GPU.
        self.session, self.path, self.thread_plan = self._open(model, precision, asked)
        self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        if asked[0] == "CUDAExecutionProvider" and self.device != "cuda":
            if device == "cuda":
                raise ModelError("--device cuda: onnxruntime could not start CUDA (check the driver and CUDA libraries)")
            log.info("CUDA not used: onnxruntime-gpu could not start its CUDA provider (no NVIDIA driver, or CUDA/cuDNN "
                     "libraries missing); running on the CPU as the [cpu] install does")
            self.session, self.path, self.thread_plan = self._open(model, precision, ["CPUExecutionProvider"])
        self.workers = self.thread_plan.workers
        self._one_tile_session = None  # every thread on one run: images smaller than one tile
        self._pool: ThreadPoolExecutor | None = None
        self.info = read_info(self.session)
        self.precision = model_precision(self.info)  # what the file is, not what its name suggests
        self.scale = self.info.scale
        self.activation_bytes = activation_bytes_per_read_pixel(self.info, self.precision)  # per read pixel, for plan()
        # Self-ensemble: average the model over the 8 flips/rotations (8x the compute).
        self.tta = tta
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        # IO binding on CUDA: the output is allocated on the device and copied back once per tile.
        self.io_binding = self.device == "cuda"

    def _open(self, model, precision: str, providers: list[str], plan: ThreadPlan | None = None) -> tuple:
        """(session, file run, thread plan) for `model` on `providers` (the first is the one aimed
        at), with the engine's thread plan unless `plan` is given."""
        import onnxruntime as ort

        on_cpu = providers[0] == "CPUExecutionProvider"
        path = choose_model_file(model, precision, on_cpu=on_cpu)
        plan = plan or plan_engine(self.threads, parallel_tiles=on_cpu and self.tile != 0)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = plan.threads
        options.log_severity_level = 3
        # The memory-pattern planner pre-allocates each input shape's whole plan and keeps it:
        # with tiles of a few shapes it nearly doubled the activations held (ACTIVATION_BYTES_PER_CHANNEL).
        options.enable_mem_pattern = False
        # A CUDA provider that cannot load logs ERROR lines through onnxruntime's default logger
        # before falling back: expected with device "auto", and "cuda" ends in one line of error;
        # onnxruntime's own reasons are shown with -v (logging INFO) only.
        hush = not on_cpu and not log.isEnabledFor(logging.INFO)
        if hush:
            ort.set_default_logger_severity(4)
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except ModelError:
            raise
        except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelError(f"cannot load model {path}: {str(error).splitlines()[0]}") from None
        finally:
            if hush:
                ort.set_default_logger_severity(3)
        return session, path, plan

    def plan(self, height: int, width: int, itemsize: int = 1) -> TilePlan:
        """The tile grid for an LR image of height x width (`itemsize` bytes per channel: 1 or 2)."""
        overlap = self.info.receptive_radius
        if self.tile == 0:
            return plan_tiles(height, width, overlap, height * width, 1)
        floor = ((self.tile or DEFAULT_TILE) + 2 * overlap) ** 2
        if self.tile is None:
            budget = tile_memory_budget(height, width, self.scale, itemsize, self.tta)
            per_tile = max(floor, budget // self.activation_bytes // self.workers)
        else:
            per_tile = floor
        if self.tile is None and self.workers > 1 and height * width <= per_tile:
            # A thumbnail runs whole on every thread (session_for): pieces of it on one thread each
            # run a third more work (96x96 int8, 2-core EPYC: 4.1 vs 3.2 output MP/s; docs/performance.md).
            return plan_tiles(height, width, overlap, per_tile, 1)
        return plan_tiles(height, width, overlap, per_tile, self.workers)

    def session_for(self, plan: TilePlan):
        """The session that runs `plan`: the engine's, or for one tile while the engine runs tiles
        in parallel, one of the same file with every thread on that tile (made on first use)."""
        if plan.rows * plan.cols > 1 or self.workers == 1:
            return self.session
        if self._one_tile_session is None:
            self._one_tile_session = self._open(self.path, "float32", ["CPUExecutionProvider"], ThreadPlan(1, self.workers))[0]
        return self._one_tile_session

    def run(self, lr: np.ndarray, session=None) -> np.ndarray:
        """One forward pass: float32 (1, 3, h, w) in [0, 1] -> float32 (1, 3, h*s, w*s), unclamped.
        `session`: the engine's unless given (session_for; on CUDA always the engine's)."""
        if self.io_binding:
            binding = self.session.io_binding()
            binding.bind_cpu_input(self.input_name, lr)
            binding.bind_output(self.output_name, self.device)
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0]
        return (session or self.session).run(None, {self.input_name: lr})[0]

    def upscale(self, image: np.ndarray, progress: Callable[[float], None] | None = None, passes: int = 1) -> np.ndarray:
        """Enlarge an (H, W, 3) uint8 or uint16 image by scale**passes (passes >= 1); same dtype out.

        Tiles are run one at a time and written straight into the result, so memory beyond the
        input and output images is bounded by the tile size (with tta, one float32 output more).
        """
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB array, got shape {image.shape}")
        if image.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"expected uint8 or uint16 pixels, got {image.dtype}")
        if passes < 1:
            raise ValueError(f"passes must be at least 1, got {passes}")
        views = DIHEDRAL if self.tta else DIHEDRAL[:1]
        runs = passes * len(views)
        for p in range(passes):
            if len(views) == 1:
                image = self._upscale_once(image, _sub_progress(progress, p, runs))
                continue
            # One float32 sum, in place: each view's tiles are added straight into it, through the
            # view's own flip/rotation of the sum (a numpy view), so no view's output is ever held.
            h, w = image.shape[:2]
            total = np.zeros((h * self.scale, w * self.scale, 3), np.float32)
            for v, (forward, _) in enumerate(views):
                self._add_upscaled(np.ascontiguousarray(forward(image)), forward(total), _sub_progress(progress, p * len(views) + v, runs))
            peak = float(np.iinfo(image.dtype).max)
            total *= peak / len(views)
            image = np.clip(np.rint(total, out=total), 0, peak, out=total).astype(image.dtype)
        return image

    def _upscale_once(self, image: np.ndarray, progress: Callable[[float], None] | None) -> np.ndarray:
        peak = float(np.iinfo(image.dtype).max)
        h, w = image.shape[:2]
        s = self.scale
        out = np.empty((h * s, w * s, 3), dtype=image.dtype)
        for where, kept in self._tiles(image, progress):
            # In place: a tile's float32 output is the largest temporary of a run.
            kept *= peak
            out[where] = np.clip(np.rint(kept, out=kept), 0, peak, out=kept)
        return out

    def _add_upscaled(self, image: np.ndarray, total: np.ndarray, progress: Callable[[float], None] | None) -> None:
        """Add one enlargement, float32 in [0, 1]-ish (unclamped), into `total` (for averaging)."""
        for where, kept in self._tiles(image, progress):
            total[where] += kept

    def _tiles(self, image: np.ndarray, progress: Callable[[float], None] | None):
        """Yield (output slices, enlarged float32 pixels) tile by tile, in grid order, with
        self.workers tiles in flight at most (so memory stays bounded by the tile size)."""
        peak = float(np.iinfo(image.dtype).max)
        s = self.scale
        plan = self.plan(*image.shape[:2], image.dtype.itemsize)
        grid = list(planned_tiles(*image.shape[:2], plan, self.info.receptive_radius))
        session = self.session_for(plan)

        def enlarge(tile):
            lr = image[tile.read].astype(np.float32).transpose(2, 0, 1)[None] / peak
            sr = self.run(np.ascontiguousarray(lr), session)[0].transpose(1, 2, 0)
            return tile.core_in_output(s), sr[tile.core_in_tile_output(s)]

        if len(grid) == 1 or self.workers == 1:
            for i, tile in enumerate(grid):
                yield enlarge(tile)
                if progress:
                    progress((i + 1) / len(grid))
            return
        pool = self._tile_pool()
        in_flight: deque = deque()
        for i in range(len(grid)):
            while len(in_flight) < self.workers and i + len(in_flight) < len(grid):
                in_flight.append(pool.submit(enlarge, grid[i + len(in_flight)]))
            yield in_flight.popleft().result()
            if progress:
                progress((i + 1) / len(grid))

    def _tile_pool(self) -> ThreadPoolExecutor:
        """The threads that run tiles in parallel (onnxruntime's run() releases the GIL), kept for
        the engine's life: a fresh thread costs onnxruntime its per-thread buffers again on every
        image (a 96x96 thumbnail on 1 thread: 16.7 ms through a new thread, 12.0 ms without)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sr-scale-tile")
        return self._pool


# The 8 flips/rotations of the square as (forward, inverse) pairs on (H, W, C) arrays.
DIHEDRAL: tuple[tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]], ...] = tuple(
    pair
    for k in range(4)
    for pair in (
        (lambda a, k=k: np.rot90(a, k), lambda a, k=k: np.rot90(a, -k)),
        (lambda a, k=k: np.rot90(a[:, ::-1], k), lambda a, k=k: np.rot90(a, -k)[:, ::-1]),
    )
)


def _sub_progress(progress: Callable[[float], None] | None, run: int, runs: int) -> Callable[[float], None] | None:
    """Map one run's progress (0..1) onto the whole job's."""
    if progress is None:
        return None
    return lambda fraction: progress((run + fraction) / runs)


def read_info(session) -> ModelInfo:
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    try:
        return ModelInfo(int(metadata["scale"]), int(metadata["receptive_radius"]), metadata)
    except (KeyError, ValueError):
        raise ModelError("not an sr-scale model: its ONNX metadata has no scale/receptive_radius") from None


def activation_bytes_per_read_pixel(info: ModelInfo, precision: str) -> int:
    """Bytes of onnxruntime activations one tile holds per LR pixel it reads (for the memory
    budget of Upscaler.plan): the model's widest tensor in channels (from its `arch` metadata)
    times the measured bytes per channel of its precision."""
    try:
        arch = json.loads(info.metadata["arch"])
        width = max(arch["G0"] + arch["C"] * arch["G"], arch["D"] * arch["G0"])
    except (KeyError, ValueError, TypeError):
        width = UNKNOWN_WIDTH_CHANNELS
    return round(width * ACTIVATION_BYTES_PER_CHANNEL.get(precision, ACTIVATION_BYTES_PER_CHANNEL["float32"]))


def model_precision(info: ModelInfo) -> str:
    """"float32", "float16" or "int8": the first word of the `precision` metadata key that the fp16 and
    int8 exporters write; sr-export's own (float32) files have none."""
    return (info.metadata.get("precision") or "float32").split()[0]


def describe(info: ModelInfo) -> dict:
    """Metadata with its JSON fields decoded, for --version and model cards."""
    out = dict(info.metadata)
    for key in ("arch", "metrics", "metrics_of_float32", "training"):
        if key in out:
            out[key] = json.loads(out[key])
    return out
