"""Synthetic catalog content: reproducible, legible, and the held-out style really held out."""
from __future__ import annotations

import re

import numpy as np

from sr_scale.core import synthetic


def _family(name: str) -> str:
    """'LiberationSansNarrow-Bold.ttf' -> 'LiberationSans': the typeface, without weight or width."""
    return re.sub(r"(Bold|Italic|Oblique|Regular|Book|Demi|Light|Roman|Semibold|Condensed|Narrow)+$", "", name.split("-")[0].split(".")[0])


def test_canvas_is_a_pure_function_of_the_rng():
    a = synthetic.render_canvas(np.random.default_rng(7), (120, 96))
    b = synthetic.render_canvas(np.random.default_rng(7), (120, 96))
    c = synthetic.render_canvas(np.random.default_rng(8), (120, 96))
    assert a.shape == (96, 120, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() > 5  # something was drawn


def test_held_out_style_shares_no_font_family_and_no_word():
    train = {_family(f) for f in synthetic.TRAIN_FONTS}
    heldout = {_family(f) for f in synthetic.HELDOUT_FONTS}
    assert train.isdisjoint(heldout), train & heldout
    assert not {w.lower() for w in synthetic.TRAIN_WORDS} & {w.lower() for w in synthetic.HELDOUT_WORDS}


def test_every_listed_font_is_installed():
    # tests/setup.sh installs the Debian font packages named in the module docstring.
    assert len(synthetic.find_fonts(synthetic.TRAIN_FONTS)) == len(synthetic.TRAIN_FONTS)
    assert len(synthetic.find_fonts(synthetic.HELDOUT_FONTS)) == len(synthetic.HELDOUT_FONTS)


def test_text_lines_fit_and_are_dark_on_white():
    image, lines = synthetic.render_text_lines(np.random.default_rng(3), synthetic.HELDOUT_STYLE, 320, 5, (9, 16))
    assert len(lines) == 5 and all(lines)
    assert image.shape[1] == 320 and image.shape[0] % 2 == 0
    ink = image.min(axis=2) < 128
    assert ink.any()
    # Nothing touches the right border: every line was shortened to fit.
    assert not ink[:, -4:].any()
    assert image[0].min() == 255 and image[-1].min() == 255  # margins above and below
