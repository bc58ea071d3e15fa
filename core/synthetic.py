"""Synthetic catalog content: product text and hard-edged graphics, rendered with Pillow.

Natural photos (T91, BSD200) hold almost no text or flat graphics, yet catalog images are full of
them: prices, sizes, article numbers, badges, boxes, logos on white. Training mixes canvases made
here into its batches (`TrainConfig.synthetic_share`), and the evaluation renders its text set with
the same code from *other* fonts, words and seeds, so that legibility is measured on text the model
has never seen.

Everything is drawn from a numpy Generator, so a canvas is a pure function of the generator's
state (resumed training draws the same canvases). Canvases are rendered at twice their size and
box-filtered down, so shapes get the anti-aliased edges that real renderings have (Pillow anti-
aliases glyphs but not polygons). Images are uint8 RGB arrays (H, W, 3).

Fonts come from Debian's font packages (fonts-dejavu-core, fonts-liberation, fonts-noto-core,
fonts-freefont-ttf, fonts-roboto-unhinted, fonts-open-sans, fonts-lato, fonts-urw-base35); the
training and held-out lists share no family.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".local/share/fonts")

# File names, looked up under FONT_DIRS. No family appears in both lists.
TRAIN_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansCondensed.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
    "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSansNarrow-Regular.ttf",
    "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf",
    "NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "NotoSans-Italic.ttf", "NotoSerif-Regular.ttf",
    "Roboto-Regular.ttf", "Roboto-Bold.ttf", "Roboto-Light.ttf", "RobotoCondensed-Regular.ttf",
    "FreeSerif.ttf", "FreeMono.ttf", "URWGothic-Book.otf", "URWGothic-Demi.otf", "C059-Roman.otf",
)
HELDOUT_FONTS = (
    "Lato-Regular.ttf", "Lato-Bold.ttf", "OpenSans-Regular.ttf", "OpenSans-Semibold.ttf",
    "NimbusSans-Regular.otf", "NimbusSans-Bold.otf", "NimbusSansNarrow-Regular.otf",
    "NimbusRoman-Regular.otf", "P052-Roman.otf", "URWBookman-Light.otf", "FreeSans.ttf", "FreeSansBold.ttf",
)

# Vocabularies of product text; the held-out one shares no word with the training one.
TRAIN_WORDS = (
    "cotton", "shirt", "slim", "fit", "denim", "jacket", "leather", "boots", "wool", "scarf", "linen",
    "dress", "summer", "sale", "new", "organic", "waterproof", "lamp", "table", "chair", "oak", "steel",
    "kettle", "coffee", "grinder", "wireless", "speaker", "battery", "charger", "cable", "black", "white",
    "navy", "grey", "red", "size", "colour", "weight", "width", "height", "free", "delivery", "only",
    "price", "offer", "model", "pack", "set", "of", "with", "for", "men", "women", "kids", "Art.-Nr.",
    "EAN", "SKU", "incl.", "VAT", "in", "stock", "days", "warranty", "Made", "Germany", "Italy",
)
HELDOUT_WORDS = (
    "silk", "blouse", "hoodie", "sneakers", "canvas", "backpack", "ceramic", "vase", "walnut", "shelf",
    "blender", "toaster", "headphones", "monitor", "keyboard", "mouse", "green", "beige", "olive",
    "pink", "gold", "silver", "length", "volume", "voucher", "bestseller", "limited", "edition",
    "premium", "classic", "outdoor", "indoor", "garden", "kitchen", "bathroom", "towel", "pillow",
    "Item", "No.", "GTIN", "ref.", "excl.", "tax", "shipping", "returns", "France", "Spain", "Japan",
)
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "36", "38", "40", "42", "44", "EU 39", "UK 8", "US 10")
UNITS = ("ml", "l", "g", "kg", "cm", "mm", "m", "W", "V", "mAh", "GB", "TB", "in", "oz", "pcs")
CURRENCIES = ("€", "$", "£", "CHF ", "")


@dataclass(frozen=True)
class TextStyle:
    """Which fonts and words a rendering draws from (training, or the held-out evaluation set)."""

    fonts: tuple[str, ...]
    words: tuple[str, ...]


TRAIN_STYLE = TextStyle(TRAIN_FONTS, TRAIN_WORDS)
HELDOUT_STYLE = TextStyle(HELDOUT_FONTS, HELDOUT_WORDS)


@lru_cache(maxsize=None)
def find_fonts(names: tuple[str, ...]) -> tuple[Path, ...]:
    """Paths of the named font files found on this machine; an error naming the packages if none."""
    found = {}
    for folder in FONT_DIRS:
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.name in names and path.name not in found:
                    found[path.name] = path
    if not found:
        raise FileNotFoundError(
            "no font for synthetic text found under /usr/share/fonts: install fonts-dejavu-core, fonts-liberation, "
            "fonts-noto-core, fonts-freefont-ttf, fonts-roboto-unhinted, fonts-open-sans, fonts-lato, fonts-urw-base35"
        )
    return tuple(found[name] for name in names if name in found)


@lru_cache(maxsize=512)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _pick(rng: np.random.Generator, items: tuple):
    return items[int(rng.integers(len(items)))]


def product_line(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    """One line of catalog text: words, a price, a size, a quantity or an article number."""
    kind = int(rng.integers(5))
    if kind == 0:  # a price
        price = f"{rng.integers(1, 2000)}.{rng.integers(0, 100):02d}"
        return f"{_pick(rng, CURRENCIES)}{price}" if rng.random() < 0.7 else f"{' '.join(_pick(rng, words) for _ in range(2))} {price}"
    if kind == 1:  # size / quantity
        return f"{_pick(rng, words)} {_pick(rng, SIZES)}" if rng.random() < 0.5 else f"{rng.integers(1, 1000)} {_pick(rng, UNITS)}"
    if kind == 2:  # article number
        digits = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(5, 13))))
        return f"{_pick(rng, words)} {digits[:4]}-{digits[4:]}" if rng.random() < 0.5 else digits
    text = " ".join(_pick(rng, words) for _ in range(int(rng.integers(1, 5))))
    return text.capitalize() if rng.random() < 0.5 else text.upper() if rng.random() < 0.3 else text


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, 3))


def _contrasting(rng: np.random.Generator, background: tuple[int, int, int]) -> tuple[int, int, int]:
    """A colour at least ~100 levels of luma away from the background, as legible text is."""
    luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return _colour(rng, 0, 90) if luma > 128 else _colour(rng, 170, 256)


def _background(rng: np.random.Generator, size: tuple[int, int], photo: np.ndarray | None) -> Image.Image:
    """White (half the time: catalog pages), a flat colour, a gradient, or a crop of a photo."""
    w, h = size
    kind = rng.random()
    if kind < 0.5:
        return Image.new("RGB", size, (255, 255, 255))
    if kind < 0.7:
        return Image.new("RGB", size, _colour(rng))
    if kind < 0.85 or photo is None or min(photo.shape[:2]) < max(h, w) // 2:
        a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        ramp = a + (b - a) * t[:, None]
        grid = np.broadcast_to(ramp[None], (h, w, 3)) if len(t) == w else np.broadcast_to(ramp[:, None], (h, w, 3))
        return Image.fromarray(np.round(grid).astype(np.uint8))
    y = int(rng.integers(0, photo.shape[0] - h // 2 + 1))
    x = int(rng.integers(0, photo.shape[1] - w // 2 + 1))
    return Image.fromarray(photo[y : y + h // 2, x : x + w // 2]).resize(size, Image.BICUBIC)


def _draw_graphic(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int]) -> None:
    """A box, a rounded badge, a disc, a rule or a hard-edged polygon (a logo's shape)."""
    w, h = size
    x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
    x1, y1 = min(w, x0 + int(rng.integers(8, w // 2))), min(h, y0 + int(rng.integers(8, h // 2)))
    fill = _colour(rng)
    outline = _colour(rng) if rng.random() < 0.3 else None
    kind = int(rng.integers(5))
    if kind == 0:
        draw.rectangle((x0, y0, x1, y1), fill=fill, outline=outline, width=int(rng.integers(1, 6)))
    elif kind == 1:
        draw.rounded_rectangle((x0, y0, x1, y1), radius=int(rng.integers(2, 1 + max(2, min(x1 - x0, y1 - y0) // 2))), fill=fill)
    elif kind == 2:
        draw.ellipse((x0, y0, x1, y1), fill=fill, outline=outline)
    elif kind == 3:
        draw.line((x0, y0, x1, y0 if rng.random() < 0.5 else y1), fill=fill, width=int(rng.integers(1, 8)))
    else:
        corners = [(int(rng.integers(x0, x1 + 1)), int(rng.integers(y0, y1 + 1))) for _ in range(int(rng.integers(3, 7)))]
        draw.polygon(corners, fill=fill)


def render_canvas(
    rng: np.random.Generator,
    size: tuple[int, int],
    style: TextStyle = TRAIN_STYLE,
    photo: np.ndarray | None = None,
    text_px: tuple[int, int] = (9, 40),
) -> np.ndarray:
    """A training canvas: lines of product text and a few graphics on a catalog-like background.

    size: (width, height) of the result in pixels; text_px: range of font sizes in pixels of the
    result (rendered at twice that and halved). photo: an optional uint8 RGB image for photo
    backgrounds. Returns uint8 (height, width, 3).
    """
    w, h = size
    big = (2 * w, 2 * h)
    canvas = _background(rng, big, photo)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, 4))):
        _draw_graphic(draw, rng, big)
    fonts = find_fonts(style.fonts)
    y = int(rng.integers(0, 2 * text_px[0]))
    while y < big[1]:
        px = 2 * int(rng.integers(text_px[0], text_px[1] + 1))
        font = _font(_pick(rng, fonts), px)
        x = int(rng.integers(-px, big[0] // 2))
        under = canvas.getpixel((min(big[0] - 1, max(0, x + px)), min(big[1] - 1, y + px // 2)))
        draw.text((x, y), product_line(rng, style.words), font=font, fill=_contrasting(rng, under))
        y += int(px * rng.uniform(1.1, 2.0))
    return np.asarray(canvas.reduce(2))


def render_text_lines(
    rng: np.random.Generator,
    style: TextStyle,
    width: int,
    lines: int,
    text_px: tuple[int, int],
    background: tuple[int, int, int] = (255, 255, 255),
    colour: tuple[int, int, int] = (0, 0, 0),
) -> tuple[np.ndarray, list[str]]:
    """An evaluation image of `lines` lines of product text and the strings drawn (OCR's truth).

    One font per image, a size per line drawn from text_px (font size in pixels of the result,
    rendered at twice that and halved like the training canvases). The height is a multiple of 2
    that fits the lines with a margin. Returns (uint8 (height, width, 3), strings top to bottom).
    """
    path = _pick(rng, find_fonts(style.fonts))
    texts, rows = [], []
    for _ in range(lines):
        px = int(rng.integers(text_px[0], text_px[1] + 1))
        font = _font(path, 2 * px)
        text = product_line(rng, style.words)
        while font.getlength(text) > 2 * width - 4 * px and " " in text:  # keep the line inside the image
            text = text.rsplit(" ", 1)[0]
        texts.append(text)
        rows.append((font, px))
    margin = max(px for _, px in rows)
    pitches = [round(1.6 * px) for _, px in rows]
    height = 2 * margin + sum(pitches)
    height += height % 2
    canvas = Image.new("RGB", (2 * width, 2 * height), background)
    draw = ImageDraw.Draw(canvas)
    y = margin
    for text, (font, px), pitch in zip(texts, rows, pitches):
        draw.text((2 * px, 2 * y), text, font=font, fill=colour)
        y += pitch
    return np.asarray(canvas.reduce(2)), texts


def render_graphics(
    rng: np.random.Generator,
    size: tuple[int, int],
    background: tuple[int, int, int] = (255, 255, 255),
    count: int = 4,
) -> np.ndarray:
    """Hard-edged graphics (boxes, badges, discs, rules, logo polygons) on one flat colour.

    The evaluation's flat-background set (halo measure): the same shapes as the training
    canvases, drawn by the same code, at twice the size and halved. size: (width, height) in
    pixels of the result; count: how many shapes. Returns uint8 (height, width, 3).
    """
    w, h = size
    canvas = Image.new("RGB", (2 * w, 2 * h), background)
    draw = ImageDraw.Draw(canvas)
    for _ in range(count):
        _draw_graphic(draw, rng, (2 * w, 2 * h))
    return np.asarray(canvas.reduce(2))
