"""Exact measurements of mini-domain images: shape (the domain), centre, area, colour, residual.

No learned model is involved. An image's brightness ``m = max_c pixel`` is read as background
plus coverage times the shape's colour. The background level is the median of m on the image's
outer frame (every shape keeps a pixel clear of the edges); the *core* (pixels within the top
quarter between background and max m) gives the shape's level (median m on the core), the
pixels within 5 % of the level give the colour, the soft coverage ``alpha = clip((m - floor) /
(level - floor), 0, 1)`` (0 below ``BACKGROUND``) gives the area (its sum) and the centre (its
mean pixel centre). The shape is whichever template (disc or square of that centre and area,
drawn as ``minidomains.coverage`` draws it) has the larger soft IoU with ``alpha``, if that IoU
is at least ``IOU_MIN`` (else ``none``: noise, a blob, two shapes). The residual is the mean
absolute difference between the image and that template re-drawn in the measured colour (0 for
a drawn image, up to 8-bit rounding). An image darker than 0.2 holds no shape (``none``).

``features`` scales the measurements into one vector per image; ``frechet`` is i2i's Fréchet
distance (``i2i_cli.metrics.frechet``) between two sets of such vectors: FID's formula on these
exact 8 features instead of Inception's 2048 (no Inception weights can be downloaded here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from minidomains import Content, coverage, render
from PIL import Image

EMPTY = 0.2
"""Images whose brightest pixel is below this (in [0, 1]) hold no shape."""
BACKGROUND = 0.2
"""Coverage below this (a fifth of the shape's level) is read as background noise, 0."""
IOU_MIN = 0.7
"""A shape is named only when its template fits with at least this soft IoU (else ``none``:
noise, blobs, two shapes); a drawn shape fits its own template at 0.92 or more."""
FEATURE_SCALE = 16.0
"""Colour, shape margin and residual are multiplied by this in ``features`` (about px units)."""


@dataclass(frozen=True)
class Measurement:
    """An image's measured content and shape."""

    content: Content
    shape: str
    iou_disc: float
    iou_square: float
    residual: float


def read_pixels(path: Path) -> np.ndarray:
    """An image file as uint8 (H, W, 3)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def measure(pixels: np.ndarray) -> Measurement:
    """The measurement of one uint8 (H, W, 3) image (see the module docstring)."""
    size = pixels.shape[0]
    values = pixels.astype(np.float64) / 255
    brightness = values.max(axis=2)
    peak = float(brightness.max())
    nothing = Measurement(
        Content(size / 2, size / 2, 0.0, (0.0, 0.0, 0.0)), "none", 0.0, 0.0, float(values.mean())
    )
    if peak < EMPTY:
        return nothing
    frame = np.concatenate(
        [brightness[0], brightness[-1], brightness[1:-1, 0], brightness[1:-1, -1]]
    )
    floor = float(np.median(frame))
    core = brightness >= floor + 0.75 * (peak - floor)
    level = float(np.median(brightness[core]))
    alpha = np.clip((brightness - floor) / max(level - floor, 1e-6), 0.0, 1.0)
    alpha[alpha < BACKGROUND] = 0.0
    area = float(alpha.sum())
    if area < 1.0:
        return nothing
    centres = np.arange(size) + 0.5
    cy = float((alpha.sum(axis=1) * centres).sum() / area)
    cx = float((alpha.sum(axis=0) * centres).sum() / area)
    full = brightness >= floor + 0.95 * (level - floor)
    colour = tuple(float(c) for c in values[full if full.any() else core].mean(axis=0))
    content = Content(cx, cy, area, colour)  # type: ignore[arg-type]
    ious = {shape: soft_iou(alpha, coverage(shape, content, size)) for shape in ("disc", "square")}
    shape = max(ious, key=ious.__getitem__)
    if ious[shape] < IOU_MIN:
        shape = "none"
    drawn = "disc" if shape == "none" else shape
    redrawn = render(drawn, content, size).astype(np.float64) / 255
    residual = float(np.abs(values - redrawn).mean())
    return Measurement(content, shape, ious["disc"], ious["square"], residual)


def soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    """sum(min(a, b)) / sum(max(a, b)) of two coverage maps."""
    return float(np.minimum(a, b).sum() / max(np.maximum(a, b).sum(), 1e-12))


def measure_folder(folder: Path, names: Sequence[str] | None = None) -> dict[str, Measurement]:
    """The measurement of every numbered PNG in ``folder`` (or of ``names``), by file name."""
    chosen = names if names is not None else sorted(p.name for p in folder.glob("[0-9]*.png"))
    return {name: measure(read_pixels(folder / name)) for name in chosen}


@dataclass(frozen=True)
class ContentError:
    """Mean content errors of a set of pairs: centre (px), sqrt(area) (px), colour (0-255)."""

    position: float
    size: float
    colour: float


def content_error(pairs: Sequence[tuple[Content, Content]]) -> ContentError:
    """Mean |centre difference|, |sqrt area difference| and mean |colour difference| x 255."""
    position = [math.hypot(a.cx - b.cx, a.cy - b.cy) for a, b in pairs]
    size = [abs(math.sqrt(a.area) - math.sqrt(b.area)) for a, b in pairs]
    colour = [255 * float(np.abs(np.subtract(a.colour, b.colour)).mean()) for a, b in pairs]
    return ContentError(float(np.mean(position)), float(np.mean(size)), float(np.mean(colour)))


def random_pairing(contents: Sequence[Content]) -> list[tuple[Content, Content]]:
    """Each content paired with the one half the list further on (a fixed derangement)."""
    shift = max(1, len(contents) // 2)
    return [(contents[i], contents[(i + shift) % len(contents)]) for i in range(len(contents))]


def target_rate(measurements: Sequence[Measurement], shape: str = "square") -> float:
    """The fraction of images measured as ``shape``."""
    return float(np.mean([m.shape == shape for m in measurements]))


def features(m: Measurement) -> np.ndarray:
    """cx, cy, sqrt(area) in px; colour, IoU margin (square - disc) and residual x 16."""
    c = m.content
    scaled = [*c.colour, m.iou_square - m.iou_disc, m.residual]
    return np.array([c.cx, c.cy, math.sqrt(c.area), *(FEATURE_SCALE * v for v in scaled)])


def frechet(a: Sequence[Measurement], b: Sequence[Measurement]) -> float:
    """i2i's Fréchet distance between the ``features`` of two sets of measurements."""
    from i2i_cli.metrics.frechet import frechet_distance

    fa = np.stack([features(m) for m in a])
    fb = np.stack([features(m) for m in b])
    return float(
        frechet_distance(
            fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False), style="edm"
        )
    )
