"""ImageMagick pass-through options: the result is read back under the user's --max-pixels."""
import numpy as np
import pytest
from PIL import Image

from sr_scale.core.image_io import DEFAULT_MAX_PIXELS, ImageError, Picture
from sr_scale.imagemagick_wrapper.passthrough import apply, imagemagick

pytestmark = pytest.mark.skipif(imagemagick() is None, reason="ImageMagick is not installed (tests/setup.sh installs it)")

# Debian's ImageMagick policy refuses images over 128 MP by itself; a user working on such images
# raises its limits the same way (MAGICK_CONFIGURE_PATH), so the test does.
LARGE_POLICY = """<policymap>
  <policy domain="resource" name="area" value="1GP"/>
  <policy domain="resource" name="memory" value="2GiB"/>
  <policy domain="resource" name="map" value="2GiB"/>
  <policy domain="resource" name="disk" value="4GiB"/>
</policymap>
"""


def _grey(butterfly: np.ndarray, height: int, width: int) -> Picture:
    """A grey picture of the given size tiled from a real photo."""
    grey = np.asarray(Image.fromarray(butterfly).convert("L"))
    reps = (-(-height // grey.shape[0]), -(-width // grey.shape[1]))
    return Picture(np.tile(grey, reps)[:height, :width, None])


@pytest.mark.slow  # ImageMagick writes and sr-scale reads a 130-megapixel image
def test_an_output_over_128_megapixels_is_read_back_when_max_pixels_allows_it(butterfly, tmp_path, monkeypatch):
    (tmp_path / "policy.xml").write_text(LARGE_POLICY)
    monkeypatch.setenv("MAGICK_CONFIGURE_PATH", str(tmp_path))
    picture = _grey(butterfly, 2800, 2900)  # x4 by ImageMagick's -scale: 11200 x 11600 = 130 MP
    result = apply(picture, [["-scale", "400%"]], imagemagick(), max_pixels=200_000_000)
    assert result.pixels.shape == (11200, 11600, 1) and result.pixels.size > DEFAULT_MAX_PIXELS
    assert (result.pixels[:4, :4, 0] == picture.pixels[0, 0, 0]).all()  # -scale repeats each pixel


def test_an_operation_growing_past_max_pixels_is_refused_in_one_line(butterfly):
    picture = _grey(butterfly, 60, 80)
    with pytest.raises(ImageError, match=r"^ImageMagick's output: 320x240 is 0 megapixels, over the limit of 0 \(raise it with --max-pixels\)$"):
        apply(picture, [["-scale", "400%"]], imagemagick(), max_pixels=60 * 80 * 4)


def test_the_enlarged_picture_itself_is_never_refused(butterfly):
    """--max-pixels limits inputs; sr-scale's own enlargement may exceed it, and an ImageMagick
    option that keeps the size must not fail on it."""
    picture = _grey(butterfly, 60, 80)
    result = apply(picture, [["-negate"]], imagemagick(), max_pixels=1000)
    assert (result.pixels == 255 - picture.pixels).all()
