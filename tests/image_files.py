"""Small image files for the tests: a constant RGB image, saved with its folders created."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def save(image: Image.Image, path: Path) -> Path:
    """Save ``image`` at ``path`` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def rgb(width: int, height: int, colour: tuple[int, int, int] = (10, 20, 30)) -> Image.Image:
    """A constant RGB image."""
    return Image.new("RGB", (width, height), colour)
