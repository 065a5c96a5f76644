"""SDE-BBDM's paired data sets (bbdm.md §9): finding the (source, target) pairs, reading one.

Three layouts under the data folder, each read for one split (``train``, ``val``):

* ``edges2shoes`` (pix2pix): ``<split>/*`` images, each ``[source | target]`` side by side; the
  left half is the condition y (the edge map), the right half the target x0 (the shoe). The
  width must be exactly twice the height (pix2pix's 512x256 files), so two equal square halves.
* ``cityscapes`` (torchvision's Cityscapes layout): ``leftImg8bit/<split>/<city>/
  <name>_leftImg8bit.png`` (the target photo) and ``gtFine/<split>/<city>/<name>_gtFine_color.png``
  (the source: the RGBA colour map, resized as RGBA like torchvision, then its alpha dropped).
* ``ab`` (CelebAMask-HQ, face2comics): ``<split>/A/*`` (source) and ``<split>/B/*`` (target).

Pairs are matched **by file name** (relative path without suffix; for Cityscapes the name before
``_leftImg8bit`` / ``_gtFine_color``) and sorted by it. The reference pairs its A/B data sets by
position in two unsorted ``os.listdir`` listings (pitfall 14), which pairs correctly only when
both listings happen to come out in the same order; matching by name is what that intends.

Both sides are read as the reference reads them: PIL ``convert('RGB')`` (alpha dropped), then
torchvision v2 ``Resize((size, size))`` on the PIL image, i.e. Pillow bilinear with antialias,
aspect ratio not kept; ``to_model_space`` then maps ``v`` to ``(v / 255 - 0.5) * 2`` in [-1, 1].
A pair whose two sides differ in aspect ratio (by more than 1 %) is refused: aligned pairs share
their framing (CelebAMask-HQ's 512 px masks and 1024 px photos are both square).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_folder
from i2i_cli.io.data import ImageItem, UnreadableImageError, find_images, find_pairs
from i2i_cli.io.image_fit import fit_to_size

Layout = Literal["edges2shoes", "cityscapes", "ab"]
LAYOUTS: tuple[Layout, ...] = ("edges2shoes", "cityscapes", "ab")

CITYSCAPES_PHOTO = "_leftImg8bit"
CITYSCAPES_COLOUR = "_gtFine_color"
ASPECT_TOLERANCE = 0.01
_LISTED = 5


@dataclass(frozen=True)
class PairedItem:
    """One training pair of ``layout``: its key, the source (condition y) and target (x0) files.

    In ``edges2shoes`` both are the one file holding the pair side by side.
    """

    key: str
    source: Path
    target: Path
    layout: Layout


# ---------------------------------------------------------------------------------------------
# Finding the pairs


def find_paired(data: Path, layout: str, split: str = "train") -> list[PairedItem]:
    """The pairs of ``split`` under ``data`` in ``layout``, sorted by key (bbdm.md §9).

    A missing folder, a folder without images, or an image without its partner is one line.
    """
    data = Path(data).expanduser()
    require_folder(data, "--data")
    if layout == "edges2shoes":
        return _side_by_side(data, split)
    if layout == "cityscapes":
        return _cityscapes(data, split)
    if layout == "ab":
        return _a_b(data, split)
    raise UsageError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")


def _folder(path: Path, layout: str, expected: str) -> Path:
    """``path`` when it is a folder, else the line saying what the layout expects."""
    if not path.is_dir():
        raise UsageError(f"layout {layout}: no folder {path} (expected {expected})")
    return path


def _side_by_side(data: Path, split: str) -> list[PairedItem]:
    """edges2shoes: every image of ``<split>/`` is a pair (left: source, right: target)."""
    folder = _folder(data / split, "edges2shoes", f"{split}/ of [source | target] images")
    return [PairedItem(i.key, i.path, i.path, "edges2shoes") for i in find_images(folder)]


def _a_b(data: Path, split: str) -> list[PairedItem]:
    """ab: ``<split>/A/<name>`` (source) with ``<split>/B/<name>`` (target)."""
    folder = _folder(data / split, "ab", f"{split}/A/ (source) and {split}/B/ (target)")
    return [PairedItem(a.key, a.path, b.path, "ab") for a, b in find_pairs(folder, "A", "B")]


def _cityscapes(data: Path, split: str) -> list[PairedItem]:
    """cityscapes: ``gtFine/<split>`` colour maps (source) with ``leftImg8bit/<split>`` photos."""
    photos = _folder(data / "leftImg8bit" / split, "cityscapes", f"leftImg8bit/{split}/<city>/")
    maps = _folder(data / "gtFine" / split, "cityscapes", f"gtFine/{split}/<city>/")
    photo_of = _by_name(find_images(photos), CITYSCAPES_PHOTO)
    map_of = _by_name(
        [i for i in find_images(maps) if i.key.endswith(CITYSCAPES_COLOUR)], CITYSCAPES_COLOUR
    )
    if not photo_of:
        raise UsageError(f"no *{CITYSCAPES_PHOTO}.png images under {photos}")
    unmatched = [
        f"{len(keys)} in {side} without a partner (first: {', '.join(sorted(keys)[:_LISTED])})"
        for side, keys in (
            (f"leftImg8bit/{split}", photo_of.keys() - map_of.keys()),
            (f"gtFine/{split}", map_of.keys() - photo_of.keys()),
        )
        if keys
    ]
    if unmatched:
        raise UsageError(
            f"unpaired Cityscapes images under {data}: {'; '.join(unmatched)}; "
            f"<name>{CITYSCAPES_PHOTO}.png pairs with <name>{CITYSCAPES_COLOUR}.png"
        )
    return [PairedItem(key, map_of[key], photo_of[key], "cityscapes") for key in sorted(photo_of)]


def _by_name(items: list[ImageItem], suffix: str) -> dict[str, Path]:
    """``{key without suffix: path}`` of the items whose key ends with ``suffix``."""
    return {i.key.removesuffix(suffix): i.path for i in items if i.key.endswith(suffix)}


# ---------------------------------------------------------------------------------------------
# Checking and reading pairs


def check_pairs(items: Sequence[PairedItem]) -> None:
    """Every pair's sizes fit its layout, read from the file headers only (no decoding).

    So that a file the layout cannot use stops the run before its first step, not hours in.
    """
    for item in items:
        if item.layout == "edges2shoes":
            _check_side_by_side(item.source, _header_size(item.source))
        else:
            _check_aspect(item, _header_size(item.source), _header_size(item.target))


def read_pair(item: PairedItem, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(source, target) as uint8 (3, size, size) tensors, resized as bbdm.md §9.

    An unreadable file, an edges2shoes file that is not twice as wide as high, or a pair whose
    sides differ in aspect ratio is one line (UsageError).
    """
    if item.layout == "edges2shoes":
        source, target = _halves(item.source)
    else:
        rgba = item.layout == "cityscapes"  # torchvision opens the colour map as stored (RGBA)
        source, target = _open(item.source, keep_alpha=rgba), _open(item.target)
        _check_aspect(item, source.size, target.size)
    return _resized(source, size), _resized(target, size)


def _unreadable(path: Path, error: Exception) -> UsageError:
    """The one-line error of a file Pillow cannot read."""
    reason = str(error) or type(error).__name__
    return UsageError(str(UnreadableImageError(path, reason)))


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header."""
    try:
        with Image.open(path) as image:
            return image.size
    except Exception as error:  # Pillow raises many types on corrupt data
        raise _unreadable(path, error) from None


def _open(path: Path, *, keep_alpha: bool = False) -> Image.Image:
    """The decoded image as RGB (``convert('RGB')``: alpha dropped), or RGBA with ``keep_alpha``."""
    try:
        with Image.open(path) as image:
            image.load()
            if keep_alpha and image.mode == "RGBA":
                return image.copy()
            return image.convert("RGB")
    except Exception as error:  # Pillow raises many types on corrupt data
        raise _unreadable(path, error) from None


def _halves(path: Path) -> tuple[Image.Image, Image.Image]:
    """An edges2shoes file's left (source) and right (target) halves."""
    image = _open(path)
    width, height = _check_side_by_side(path, image.size)
    half = width // 2
    return image.crop((0, 0, half, height)), image.crop((half, 0, width, height))


def _check_side_by_side(path: Path, size: tuple[int, int]) -> tuple[int, int]:
    """``size`` when it is twice as wide as high (two square halves), else one line."""
    width, height = size
    if width != 2 * height:
        raise UsageError(
            f"{path} is {width}x{height}: an edges2shoes file holds [source | target] side by "
            "side, so its width must be twice its height"
        )
    return size


def _check_aspect(item: PairedItem, source: tuple[int, int], target: tuple[int, int]) -> None:
    """UsageError when the two sides of a pair are framed differently (aspect ratios differ)."""
    (sw, sh), (tw, th) = source, target
    if abs(sw * th - tw * sh) > ASPECT_TOLERANCE * tw * sh:
        raise UsageError(
            f"pair {item.key}: {item.source} is {sw}x{sh} but {item.target} is {tw}x{th}; "
            "the two sides of a pair must have the same aspect ratio"
        )


def _resized(image: Image.Image, size: int) -> torch.Tensor:
    """torchvision v2 ``Resize((size, size))`` of a PIL image, as uint8 (3, size, size)."""
    resized = fit_to_size(image, size, "stretch").convert("RGB")
    return torch.from_numpy(np.array(resized, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def to_model_space(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float32 in [-1, 1]: ToDtype(scale=True), then ``(x - 0.5) * 2``."""
    return (pixels.float() / 255 - 0.5) * 2


# ---------------------------------------------------------------------------------------------
# Writing a split as two folders (for translate and evaluate)


def write_split(items: Sequence[PairedItem], size: int, output: Path) -> tuple[Path, Path]:
    """``output/source/<key>.png`` and ``output/target/<key>.png``, resized as in training.

    ``i2i translate sde-bbdm --input output/source`` then translates what the reference's
    ``eval.py`` translates, and ``output/target`` is what its metrics compare with (§9).
    """
    check_pairs(items)
    folders = (Path(output) / "source", Path(output) / "target")
    for item in items:
        for folder, pixels in zip(folders, read_pair(item, size), strict=True):
            path = folder / f"{item.key}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(path)
    return folders


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m i2i_bbdm.paired --data DIR --layout L [--split val] --output OUT``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m i2i_bbdm.paired",
        description="Write a paired split as source/ and target/ PNG folders (bbdm.md §9).",
    )
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--layout", required=True, choices=LAYOUTS)
    parser.add_argument("--split", default="val")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        items = find_paired(args.data, args.layout, args.split)
        source, target = write_split(items, args.image_size, args.output)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(items)} pairs at {args.image_size} px: sources in {source}, targets in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
