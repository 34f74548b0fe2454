"""The per-case QA figure as pixels: one slice of the base image in grey, the PET over it in
the ``hot`` colour map, each region's outline in its colour, and two lines of text above.

Drawn with numpy and Pillow rather than matplotlib axes, which took about 60 ms of a case's
0.5 s of extraction CPU for one panel (the pixels here take a few ms).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

TARGET_PX = 512  # a slice is enlarged by a whole factor to about this size
TEXT_PX = 32  # the band above the slice holding the two lines of text
PET_ALPHA = 0.45  # opacity of the PET over the base image
OUTLINE_PX = 2


def _unit(values: np.ndarray) -> np.ndarray:
    """``values`` scaled to 0-1 between their minimum and maximum (0 when constant)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape)
    return (values - low) / (high - low)


def compose(
    base: np.ndarray, pet: np.ndarray | None, outlines: list[tuple[np.ndarray, str]]
) -> np.ndarray:
    """RGB pixels (0-1) of the slice ``base`` with ``pet`` (same shape, shown where > 0) over
    it and the outline of each (mask, colour name) of ``outlines``, later ones on top."""
    rgb = np.repeat(_unit(base)[..., None], 3, axis=2)
    if pet is not None and (pet > 0).any():
        shown = pet > 0
        hot = colormaps["hot"](_unit(pet[shown]))[:, :3]
        rgb[shown] = (1.0 - PET_ALPHA) * rgb[shown] + PET_ALPHA * hot
    factor = max(1, TARGET_PX // max(base.shape))
    rgb = rgb.repeat(factor, axis=0).repeat(factor, axis=1)
    for region, colour in outlines:
        inside = region.repeat(factor, axis=0).repeat(factor, axis=1)
        width = min(OUTLINE_PX, factor)
        rgb[inside & ~ndimage.binary_erosion(inside, iterations=width)] = to_rgb(colour)
    return rgb


def write_qa_png(rgb: np.ndarray, lines: list[str], out: Path) -> Path:
    """Write ``rgb`` (0-1) as PNG under a black band with ``lines`` of white text."""
    height, width = rgb.shape[:2]
    canvas = Image.new("RGB", (width, height + TEXT_PX))
    canvas.paste(Image.fromarray(np.round(rgb * 255).astype(np.uint8)), (0, TEXT_PX))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for number, line in enumerate(lines):
        draw.text((4, 2 + number * TEXT_PX // 2), line, fill="white", font=font)
    canvas.save(out, format="PNG")
    return out
