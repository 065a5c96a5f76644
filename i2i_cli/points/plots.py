"""Scatter plots of 2-D point sets as PNG panels, drawn with Pillow (no plotting library).

Like the paper's figures, every panel shows [-3, 3]^2 and a point keeps its colour across the
panels (source, latent, target, ...), so the map each pass computes can be followed by eye.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from i2i_cli.base.atomic import write_atomic_bytes

EXTENT = 3.0
PANEL = 320
TITLE = 22
DOT = 4
"""Pixels per point: a 2 x 2 square."""


def point_colours(reference: np.ndarray) -> np.ndarray:
    """An RGB colour in [0, 1] per point: hue from its angle about the reference's mean.

    Computed once from the source points and reused in every panel.
    """
    centred = reference - reference.mean(axis=0)
    hue = (np.arctan2(centred[:, 1], centred[:, 0]) / (2 * np.pi)) % 1.0
    sector, fraction = np.divmod(hue * 6.0, 1.0)
    rising, falling = fraction, 1.0 - fraction
    ones, zeros = np.ones_like(hue), np.zeros_like(hue)
    table = [
        (ones, rising, zeros),
        (falling, ones, zeros),
        (zeros, ones, rising),
        (zeros, falling, ones),
        (rising, zeros, ones),
        (ones, zeros, falling),
    ]
    rgb = np.zeros((len(hue), 3))
    for index, (r, g, b) in enumerate(table):
        mask = sector == index
        rgb[mask] = np.stack([r[mask], g[mask], b[mask]], axis=1)
    return 0.15 + 0.7 * rgb


def scatter_panel(points: np.ndarray, colours: np.ndarray, title: str) -> Image.Image:
    """One square panel of ``points`` on [-3, 3]^2, each a 2x2 dot; overlaps blend colours."""
    scale = (PANEL - 2) / (2 * EXTENT)
    columns = np.floor((points[:, 0] + EXTENT) * scale).astype(np.int64)
    rows = np.floor((EXTENT - points[:, 1]) * scale).astype(np.int64)
    inside = (columns >= 0) & (columns < PANEL - 1) & (rows >= 0) & (rows < PANEL - 1)
    corner = rows[inside] * PANEL + columns[inside]
    flat = np.concatenate([corner, corner + 1, corner + PANEL, corner + PANEL + 1])
    weights = np.tile(colours[inside], (DOT, 1))
    counts = np.bincount(flat, minlength=PANEL * PANEL).astype(np.float64)
    canvas = np.ones((PANEL * PANEL, 3))
    sums = np.stack([np.bincount(flat, weights[:, c], PANEL * PANEL) for c in range(3)], axis=1)
    hit = counts > 0
    opacity = 1.0 - np.exp(-counts[hit])
    mean = sums[hit] / counts[hit, None]
    canvas[hit] = (1 - opacity[:, None]) + opacity[:, None] * mean
    pixels = (canvas.reshape(PANEL, PANEL, 3) * 255).round().astype(np.uint8)
    panel = Image.new("RGB", (PANEL, PANEL + TITLE), "white")
    panel.paste(Image.fromarray(pixels), (0, TITLE))
    draw = ImageDraw.Draw(panel)
    draw.rectangle((0, TITLE, PANEL - 1, PANEL + TITLE - 1), outline=(160, 160, 160))
    draw.text((6, 5), title, fill=(0, 0, 0))
    return panel


def scatter_figure(
    panels: Sequence[tuple[str, np.ndarray]],
    path: Path,
    colour_by: np.ndarray | None = None,
    own_colours: Sequence[int] = (),
) -> Path:
    """Write the named point sets side by side as one PNG, coloured by ``colour_by`` (default
    the first set), atomically (a killed run never leaves half a file).

    Panels listed in ``own_colours`` (by index) are coloured by their own points instead: a data
    set drawn beside samples shares no point order with them.
    """
    if not panels:
        raise ValueError("nothing to plot")
    reference = panels[0][1] if colour_by is None else colour_by
    colours = point_colours(np.asarray(reference, dtype=np.float64))
    images = []
    for index, (title, points) in enumerate(panels):
        points = np.asarray(points, dtype=np.float64)
        shown = point_colours(points) if index in own_colours else colours
        images.append(scatter_panel(points, shown, title))
    figure = Image.new("RGB", (PANEL * len(images) + 8 * (len(images) - 1), PANEL + TITLE), "white")
    for index, image in enumerate(images):
        figure.paste(image, (index * (PANEL + 8), 0))
    encoded = io.BytesIO()
    figure.save(encoded, format="PNG")
    write_atomic_bytes(encoded.getvalue(), path)
    return path
