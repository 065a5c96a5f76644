"""Ground-truth targets of paired translation, from a folder or a data set's own val split.

Layouts (bbdm.md 9): ``folder`` (one target per name), ``edges2shoes`` (the right half of each
``<split>/*.jpg``, [source | target] side by side) and ``cityscapes`` (the photos
``leftImg8bit/<split>/<city>/<name>_leftImg8bit.png``). A translation pairs with the target of
the same name; in the data set layouts the name is the file's stem, with Cityscapes'
``_gtFine_color`` / ``_leftImg8bit`` suffix dropped, so translations of the colour maps,
nested by city or not, find their photos. Images and targets are resized to a square with PIL
bilinear, aspect ratio not kept, as SDE-BBDM's data pipeline resizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_folder
from i2i_cli.io.data import ImageItem, UnreadableImageError, find_images
from i2i_cli.io.image_fit import fit_to_size
from i2i_cli.metrics.images import decode_rgb

CITYSCAPES_SUFFIXES = ("_gtFine_color", "_leftImg8bit")
"""Suffixes of Cityscapes colour maps (sources) and photos (targets), dropped when pairing."""

_LISTED = 5


def pairing_key(key: str, layout: str) -> str:
    """The name an image or target pairs by: its key (folder), or its stem (data set layouts)."""
    if layout == "folder":
        return key
    stem = PurePosixPath(key).name
    if layout == "cityscapes":
        for suffix in CITYSCAPES_SUFFIXES:
            stem = stem.removesuffix(suffix)
    return stem


def target_items(root: Path, layout: str, split: str) -> list[ImageItem]:
    """The targets under ``root`` in ``layout``, keyed by ``pairing_key``, sorted by key."""
    root = Path(root).expanduser()
    require_folder(root, "target folder", f"target folder not found: {root}")
    if layout == "folder":
        return find_images(root)
    if layout == "edges2shoes":
        folder = _layout_folder(root / split, layout, f"{split}/*.jpg, [source | target] files")
        items = find_images(folder)
    else:
        folder = _layout_folder(
            root / "leftImg8bit" / split, layout, f"leftImg8bit/{split}/<city>/*_leftImg8bit.png"
        )
        items = [i for i in find_images(folder) if i.key.endswith(CITYSCAPES_SUFFIXES[1])]
        if not items:
            raise UsageError(f"no *{CITYSCAPES_SUFFIXES[1]}.png photos under {folder}")
    return _rekeyed(items, layout, folder, "targets")


def _layout_folder(path: Path, layout: str, expected: str) -> Path:
    """``path`` if it is a folder, else the line saying what the layout expects."""
    if not path.is_dir():
        raise UsageError(f"target layout {layout}: no folder {path} (expected {expected})")
    return path


def _rekeyed(items: Sequence[ImageItem], layout: str, folder: Path, role: str) -> list[ImageItem]:
    """``items`` keyed by ``pairing_key``; two files with one key is a UsageError."""
    by_key: dict[str, ImageItem] = {}
    for item in items:
        key = pairing_key(item.key, layout)
        if key in by_key:
            raise UsageError(
                f"two {role} under {folder} pair by the name {key}: {by_key[key].path} and "
                f"{item.path}"
            )
        by_key[key] = ImageItem(key, item.path)
    return [by_key[key] for key in sorted(by_key)]


def rekeyed_images(items: Sequence[ImageItem], layout: str, folder: Path) -> list[ImageItem]:
    """Translated images keyed as their targets are (``pairing_key``)."""
    return _rekeyed(items, layout, folder, "images")


def read_target(path: Path, layout: str, size: int) -> torch.Tensor:
    """A target as (3, H, W) uint8: the right half for edges2shoes; resized when ``size`` > 0."""
    if layout != "edges2shoes":
        return read_image(path, size)

    def right_half(image: Image.Image) -> Image.Image:
        width, height = image.size
        if width != 2 * height:
            raise UsageError(
                f"{path} is {width}x{height}: an edges2shoes file holds [source | target] side "
                "by side, so its width must be twice its height"
            )
        half = image.crop((width // 2, 0, width, height))
        return fit_to_size(half, size, "stretch") if size else half

    return decode_rgb(path, right_half)


def read_image(path: Path, size: int) -> torch.Tensor:
    """An image as (3, H, W) uint8, resized to ``size`` x ``size`` (bilinear) when ``size`` > 0."""
    return decode_rgb(path, (lambda image: fit_to_size(image, size, "stretch")) if size else None)


def write_targets(items: Sequence[ImageItem], layout: str, size: int, out: Path) -> list[str]:
    """Each target as ``<out>/<key>.png`` (lossless); unreadable ones are listed, not written."""
    out.mkdir(parents=True, exist_ok=True)
    skipped = []
    for item in items:
        try:
            pixels = read_target(item.path, layout, size)
        except UnreadableImageError as error:
            skipped.append(f"{error.path}: {error.reason}")
            continue
        target = out / f"{item.key}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels.permute(1, 2, 0).numpy())).save(target)
    return skipped
