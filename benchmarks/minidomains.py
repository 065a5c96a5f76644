"""The mini-benchmark's two procedural domains: one filled disc (A) or one filled square (B).

Every image is ``SIZE`` x ``SIZE`` RGB on black with one axis-aligned shape of one colour; its
*content* is the shape's centre (cx, cy), its area and its colour, its *domain* the shape. A
pair (A, B) shares the content exactly: the square has the disc's centre, area and colour, so
the ideal translation of a disc is known to the pixel. Shapes are drawn by 8 x 8 supersampling
(coverage-weighted edges), so sub-pixel content is visible in the image.

As ``i2i`` data (``write_domains``): ``<root>/train/A``, ``<root>/train/B`` (image folders for
the diffusion models, the DSE and, matched by name, the bridge's ``ab`` layout), ``<root>/test/A``
(the held-out sources), ``<root>/test/B`` (their ideal translations), ``<root>/real/B`` (more
real targets, the distribution reference) and ``content.json`` (every image's content).

Run ``python benchmarks/minidomains.py --output data/mini`` to write them on their own.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16
"""Image side in pixels."""
RADIUS = (3.0, 5.0)
"""Range of the disc radius (the square has the same area: side = r sqrt(pi))."""
COLOUR = (0.35, 1.0)
"""Range of each colour channel (in [0, 1]); the background is 0."""
SUPERSAMPLE = 8
"""Sub-pixel samples per side when drawing."""
SHAPES = ("disc", "square")
"""Domain A's shape, then domain B's."""


@dataclass(frozen=True)
class Content:
    """What a translation must keep: centre (px, image coordinates), area (px^2), colour."""

    cx: float
    cy: float
    area: float
    colour: tuple[float, float, float]


def draw_content(rng: np.random.Generator, size: int = SIZE) -> Content:
    """A random content: radius in ``RADIUS``, centre at least r + 1 from every edge."""
    radius = rng.uniform(*RADIUS)
    margin = radius + 1.0
    cx, cy = rng.uniform(margin, size - margin, size=2)
    colour = tuple(float(c) for c in rng.uniform(*COLOUR, size=3))
    return Content(float(cx), float(cy), float(math.pi * radius**2), colour)  # type: ignore[arg-type]


def coverage(shape: str, content: Content, size: int = SIZE) -> np.ndarray:
    """The fraction of each pixel inside the shape, (size, size) in [0, 1], by supersampling."""
    steps = (np.arange(size * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    y, x = np.meshgrid(steps, steps, indexing="ij")
    dx, dy = x - content.cx, y - content.cy
    if shape == "disc":
        inside = dx**2 + dy**2 <= content.area / math.pi
    elif shape == "square":
        half = math.sqrt(content.area) / 2
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    else:
        raise ValueError(f"unknown shape {shape!r} (one of {', '.join(SHAPES)})")
    return inside.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def render(shape: str, content: Content, size: int = SIZE) -> np.ndarray:
    """The image of ``content`` drawn as ``shape``: uint8 (size, size, 3) on black."""
    alpha = coverage(shape, content, size)[:, :, None]
    pixels = alpha * np.asarray(content.colour)[None, None, :]
    return np.floor(pixels * 255 + 0.5).astype(np.uint8)


def write_image(pixels: np.ndarray, path: Path) -> None:
    """Write uint8 RGB pixels as a PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_domains(
    root: Path, *, train: int = 1000, test: int = 64, real: int = 256, seed: int = 0
) -> dict[str, dict[str, Content]]:
    """Write the domains under ``root`` (layout in the module docstring); returns the contents.

    ``train`` pairs (each side also an unpaired domain), ``test`` held-out pairs and ``real``
    extra targets, each split from its own seeded generator; existing files are overwritten.
    """
    contents: dict[str, dict[str, Content]] = {}
    for offset, (split, count) in enumerate((("train", train), ("test", test), ("real", real))):
        rng = np.random.default_rng([seed, offset])
        sides = ("B",) if split == "real" else ("A", "B")
        contents[split] = {}
        for index in range(count):
            name = f"{index:05d}.png"
            content = draw_content(rng)
            contents[split][name] = content
            for side in sides:
                shape = SHAPES[0] if side == "A" else SHAPES[1]
                write_image(render(shape, content), root / split / side / name)
    table = {split: {k: asdict(v) for k, v in items.items()} for split, items in contents.items()}
    (root / "content.json").write_text(json.dumps(table, indent=1), encoding="utf-8")
    return contents


def read_contents(root: Path) -> dict[str, dict[str, Content]]:
    """The contents ``write_domains`` recorded in ``<root>/content.json``."""
    table = json.loads((root / "content.json").read_text(encoding="utf-8"))
    return {
        split: {
            name: Content(v["cx"], v["cy"], v["area"], tuple(v["colour"]))  # type: ignore[arg-type]
            for name, v in items.items()
        }
        for split, items in table.items()
    }


def main() -> None:
    """Write the domains to ``--output``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="Root folder of the data.")
    parser.add_argument("--train", type=int, default=1000, help="Training pairs.")
    parser.add_argument("--test", type=int, default=64, help="Held-out pairs.")
    parser.add_argument("--real", type=int, default=256, help="Extra real targets.")
    parser.add_argument("--seed", type=int, default=0, help="Generator seed.")
    args = parser.parse_args()
    write_domains(args.output, train=args.train, test=args.test, real=args.real, seed=args.seed)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
