"""Training data as idealo designed it: each step draws one HR image and cuts a batch of random
patches from it on the fly; the LR side is synthesised from each HR patch (no patch dataset).

Catalog content that photos lack (small text, badges, boxes and hard edges on flat backgrounds)
is mixed in by `synthetic_share`: that share of the steps cuts its batch from a canvas rendered
for the step by core/synthetic.py (training fonts and words only; the evaluation's text set uses
held-out ones), instead of from a training image.

Patches are uint8 numpy arrays (N, h, w, 3); conversion to tensors happens in the training loop.
"""
from __future__ import annotations

import logging
import random
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .config import DataSource, TrainConfig
from .degradations import gaussian_noise, imresize, jpeg, to_uint8
from .synthetic import render_canvas

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
# HR context kept around each patch so the bicubic downscale sees real neighbours, as it would
# on the whole image: the antialiased cubic kernel at scale 1/2 reaches 4 HR pixels (2 LR) out.
LR_MARGIN = 2
PREFETCH_LIMIT = 4  # decoded images waiting to be drawn, at most
SYNTHETIC = -1  # the image index that stands for a freshly rendered catalog canvas
CANVAS_PATCHES = 3  # a canvas is this many HR patches wide and high: patches overlap, content varies


def list_images(folder: str | Path) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_rgb(path: Path, hr_scale: float = 1.0) -> np.ndarray:
    """Decode any mode to uint8 RGB (H, W, 3), EXIF orientation applied, optionally shrunk."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        rgb = np.asarray(im.convert("RGB"))
    if hr_scale != 1.0:
        h, w = rgb.shape[:2]
        rgb = to_uint8(imresize(rgb, round(h * hr_scale), round(w * hr_scale)))
    return rgb


@dataclass
class HRImage:
    path: Path
    source: DataSource
    pixels: np.ndarray | None  # cached, symmetric-padded uint8; None when beyond the cache


class PatchSampler:
    """Draws (lr, hr) uint8 batches: lr (N, p, p, 3) and hr (N, p*s, p*s, 3).

    Images beyond the cache are decoded when drawn; `prefetch` decodes the next step's image
    on a background thread (Pillow and numpy release the GIL) so that reading overlaps training.
    """

    def __init__(self, config: TrainConfig, scale: int):
        self.config, self.scale = config, scale
        self.pad = LR_MARGIN * scale
        self.images = self._load(config.train, config.cache_mb * 2**20)
        self.cached_mb = sum(img.pixels.nbytes for img in self.images if img.pixels is not None) / 2**20
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hr-prefetch")
        self._pending: dict[int, Future] = {}
        weights = np.array([img.source.weight for img in self.images], dtype=np.float64)
        counts = {id(s): 0 for s in config.train}
        for img in self.images:
            counts[id(img.source)] += 1
        # Each folder gets its weight's share of the steps, whatever its number of images.
        weights /= np.array([counts[id(img.source)] for img in self.images])
        self.probabilities = weights / weights.sum()

    def _load(self, sources: list[DataSource], cache_bytes: int) -> list[HRImage]:
        images, used = [], 0
        window = self.config.patch_size * self.scale + 2 * self.pad
        for source in sources:
            paths = list_images(source.path)
            if not paths:
                log.warning("no image file (%s) in %s", ", ".join(sorted(IMAGE_SUFFIXES)), source.path)
            usable = len(images)
            for path in paths:
                try:
                    pixels = self._prepare(read_rgb(path, source.hr_scale))
                except Exception as error:  # noqa: BLE001 - any decoder failure means: skip it
                    log.warning("skipping unreadable image %s: %s", path, error)
                    continue
                if min(pixels.shape[:2]) < window:
                    log.warning("skipping %s: smaller than one HR patch", path)
                    continue
                keep = used + pixels.nbytes <= cache_bytes
                used += pixels.nbytes if keep else 0
                images.append(HRImage(path, source, pixels if keep else None))
            if paths and len(images) == usable:
                log.warning("no usable image in %s", source.path)
        if not images:
            folders = ", ".join(s.path for s in sources)
            raise ValueError(f"no usable training image in {folders}")
        return images

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        rgb = rgb[: h - h % self.scale, : w - w % self.scale]
        return np.pad(rgb, ((self.pad, self.pad), (self.pad, self.pad), (0, 0)), mode="symmetric")

    def _decode(self, image: HRImage) -> np.ndarray:
        try:
            return self._prepare(read_rgb(image.path, image.source.hr_scale))
        except Exception as error:  # noqa: BLE001 - it was readable when training started
            raise RuntimeError(f"cannot read training image {image.path} any more: {error}") from None

    def _pixels(self, index: int) -> np.ndarray:
        image = self.images[index]
        if image.pixels is not None:
            return image.pixels
        future = self._pending.pop(index, None)
        return future.result() if future else self._decode(image)

    def choose(self, rng: np.random.Generator) -> int:
        """Index of the image a batch drawn with `rng` cuts its patches from (rng's first draws),
        or SYNTHETIC for a rendered canvas (a `synthetic_share` of the steps)."""
        if self.config.synthetic_share and rng.random() < self.config.synthetic_share:
            return SYNTHETIC
        return int(rng.choice(len(self.images), p=self.probabilities))

    def _canvas(self, rng: np.random.Generator) -> np.ndarray:
        """A rendered catalog canvas, padded like a training image; photo backgrounds from the cache."""
        side = CANVAS_PATCHES * self.config.patch_size * self.scale
        photo = self.images[int(rng.integers(len(self.images)))].pixels
        text_px = tuple(self.config.synthetic_text_px)
        return self._prepare(render_canvas(rng, (side, side), photo=photo, text_px=text_px))

    def prefetch(self, rng: np.random.Generator) -> None:
        """Decode in the background the image that `sample` will draw with a copy of `rng`."""
        index = self.choose(rng)
        if index != SYNTHETIC and self.images[index].pixels is None and index not in self._pending:
            if len(self._pending) >= PREFETCH_LIMIT:  # prefetched but never drawn: drop them
                self._pending.clear()
            self._pending[index] = self._decoder.submit(self._decode, self.images[index])

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        c, s = self.config, self.scale
        index = self.choose(rng)
        padded = self._canvas(rng) if index == SYNTHETIC else self._pixels(index)
        hr_size = c.patch_size * s
        window = hr_size + 2 * self.pad
        windows = []
        tries = 0
        while len(windows) < c.batch_size:
            # Positions on the LR grid so that HR and LR patches stay aligned.
            y = int(rng.integers(0, (padded.shape[0] - window) // s + 1)) * s
            x = int(rng.integers(0, (padded.shape[1] - window) // s + 1)) * s
            patch = padded[y : y + window, x : x + window]
            tries += 1
            if c.flat_threshold > 0 and tries < 20 * c.batch_size:
                grey = patch[self.pad : -self.pad, self.pad : -self.pad].mean(axis=2)
                if grey.std() < c.flat_threshold:
                    continue
            windows.append(dihedral(patch, int(rng.integers(8))))
        batch = np.stack(windows)
        hr = batch[:, self.pad : self.pad + hr_size, self.pad : self.pad + hr_size]
        lr_windows = to_uint8(_downscale_batch(batch, s))
        lr = lr_windows[:, LR_MARGIN : LR_MARGIN + c.patch_size, LR_MARGIN : LR_MARGIN + c.patch_size]
        return self._degrade(np.ascontiguousarray(lr), rng), np.ascontiguousarray(hr)

    def _degrade(self, lr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        for i in range(len(lr)):
            if c.jpeg_quality and rng.random() < c.jpeg_probability:
                lr[i] = jpeg(lr[i], int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1)))
            if c.noise_sigma:
                lr[i] = gaussian_noise(lr[i], float(rng.uniform(*c.noise_sigma)), rng)
        return lr


def _downscale_batch(batch: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic downscale of (N, H, W, 3) windows; values in [0, 255], float32."""
    n, h, w, _ = batch.shape
    return np.stack([imresize(window, h // scale, w // scale) for window in batch])


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of an (H, W, ...) array: k in [0, 8)."""
    if k >= 4:
        image = image[:, ::-1]
    return np.rot90(image, k % 4)


def load_val_images(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    """Whole HR validation images as uint8 RGB, with their file names; unreadable ones skipped."""
    images = []
    for path in list_images(folder):
        try:
            images.append((path.name, read_rgb(path)))
        except Exception as error:  # noqa: BLE001 - any decoder failure means: skip it
            log.warning("skipping unreadable validation image %s: %s", path, error)
    if not images:
        raise ValueError(f"no usable validation image in {folder}")
    return images


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
