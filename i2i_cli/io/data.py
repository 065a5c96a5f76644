"""Input images: finding them in folders or paired folders, reading them, batching them.

Reading follows the reference data pipelines: PIL ``convert('RGB')`` (alpha dropped, not
composited), an optional resize + crop (``i2i_cli.io.image_fit``), then ``[0, 1] -> [-1, 1]``.
Writing outputs and resuming live in ``i2i_cli.io.outputs``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from i2i_cli.base.errors import I2IError, RunError, UsageError
from i2i_cli.base.paths import unreachable
from i2i_cli.io.image_fit import Fit, check_fit, fit_to_size

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
)
"""File suffixes (compared lower-case) that count as images when a folder is searched."""

SkipCallback = Callable[["ImageItem", str], None]
"""``on_skip(item, reason)``: called for each unreadable image that is skipped."""

Decoded = TypeVar("Decoded")
"""What the reader given to ``read_each`` makes of one file (a tensor, for instance)."""

# Pillow modes with more than 8 bits per sample that it can hand over losslessly as integers.
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_SIXTEEN_BIT_MAX = np.float32(65535)
_LISTED = 5


@dataclass(frozen=True)
class ImageItem:
    """One input image: its key (relative path without suffix, posix separators) and its file."""

    key: str
    path: Path


class UnreadableImageError(I2IError):
    """A file that cannot be decoded as an image (corrupt, truncated, not an image)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = path
        self.reason = reason


class StrictReadError(UnreadableImageError, RunError):
    """An unreadable image that stops a ``--strict`` run once it has started (exit 1)."""


# ---------------------------------------------------------------------------------------------
# Finding images


def find_images(source: Path) -> list[ImageItem]:
    """The images of ``source`` (one file, or a folder searched recursively), sorted by key.

    Non-image files and hidden files or folders (names starting with ``.``) are ignored. A
    missing path (or a broken link, or a link loop, each said as such), a folder that cannot be
    listed, a folder without images, or two files with the same key (``a.png`` and ``a.jpg``)
    is a UsageError.
    """
    source = Path(source)
    if source.is_file():
        return [_single_file_item(source)]
    if not source.is_dir():
        raise UsageError(_not_an_input(source))
    items = [ImageItem(_key(path, source), path) for path in _image_files(source)]
    if not items:
        raise UsageError(f"no images ({_suffix_list()}) found in {source}")
    _check_unique_keys(items)
    return sorted(items, key=lambda item: item.key)


def find_pairs(root: Path, a: str = "A", b: str = "B") -> list[tuple[ImageItem, ImageItem]]:
    """The images of ``root/a`` and ``root/b`` paired by key, sorted by key.

    Missing folders, or an image on one side without a partner on the other, is a UsageError
    with the counts and the first few unmatched keys.
    """
    root = Path(root)
    missing = [str(root / name) for name in (a, b) if not (root / name).is_dir()]
    if missing:
        raise UsageError(
            f"paired input needs the folders {a}/ and {b}/ under {root}; "
            f"missing: {', '.join(missing)}"
        )
    left = {item.key: item for item in find_images(root / a)}
    right = {item.key: item for item in find_images(root / b)}
    only_left = sorted(left.keys() - right.keys())
    only_right = sorted(right.keys() - left.keys())
    if only_left or only_right:
        raise UsageError(_unmatched_message(root, (a, only_left), (b, only_right)))
    return [(left[key], right[key]) for key in sorted(left)]


def _not_an_input(source: Path) -> str:
    """Why ``source`` is neither a file nor a folder: absent, a broken link, a loop, denied."""
    line = unreachable(source, "input", f"input not found: {source}")
    return line or f"input {source} is neither a file nor a folder"


def _unlisted_folder(error: OSError) -> None:
    """``os.walk``'s error handler: a folder that cannot be listed is a UsageError, not a gap."""
    raise UsageError(f"cannot list folder {error.filename}: {error.strerror or error}")


def _single_file_item(path: Path) -> ImageItem:
    """The item of an input given as one file (key: its stem); a non-image file is a UsageError."""
    if not _is_image_name(path.name):
        raise UsageError(f"{path} is not an image file (expected {_suffix_list()})")
    return ImageItem(path.stem, path)


def _image_files(root: Path) -> Iterator[Path]:
    """Image files under ``root``, recursively, following folder links once each."""
    visited: set[str] = set()
    for folder, folders, names in os.walk(root, onerror=_unlisted_folder, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link back to a folder already searched
            folders.clear()
            continue
        visited.add(real)
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and _is_image_name(name):
                yield Path(folder, name)


def _is_image_name(name: str) -> bool:
    """Whether a file name has one of the IMAGE_SUFFIXES (any case)."""
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _key(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, without its suffix, with posix separators."""
    return path.relative_to(root).with_suffix("").as_posix()


def _suffix_list() -> str:
    """The image suffixes as a readable list."""
    return ", ".join(sorted(IMAGE_SUFFIXES))


def _check_unique_keys(items: Iterable[ImageItem]) -> None:
    """UsageError naming the files when two of them share a key (``a.png`` and ``a.jpg``)."""
    by_key: dict[str, list[Path]] = {}
    for item in items:
        by_key.setdefault(item.key, []).append(item.path)
    clashes = [sorted(paths) for paths in by_key.values() if len(paths) > 1]
    if clashes:
        shown = "; ".join(" and ".join(str(path) for path in paths) for paths in clashes[:_LISTED])
        more = f" (and {len(clashes) - _LISTED} more)" if len(clashes) > _LISTED else ""
        raise UsageError(
            f"images must differ by more than their suffix, their outputs would collide: "
            f"{shown}{more}"
        )


def _unmatched_message(root: Path, *sides: tuple[str, list[str]]) -> str:
    """The one-line error for paired folders whose keys do not match."""
    other = {sides[0][0]: sides[1][0], sides[1][0]: sides[0][0]}
    parts = [
        f"{len(keys)} in {name}/ without a match in {other[name]}/ "
        f"(first: {', '.join(keys[:_LISTED])})"
        for name, keys in sides
        if keys
    ]
    return f"unpaired images under {root}: {'; '.join(parts)}; pairs are matched by file name"


# ---------------------------------------------------------------------------------------------
# Reading images


SMALL_INPUT_FACTOR = 4
"""An input whose shorter side is below ``size / SMALL_INPUT_FACTOR`` is reported as upscaled."""

SmallCallback = Callable[[Path, tuple[int, int]], None]
"""``on_small(path, (width, height))``: an input much smaller than the size it is brought to."""


def read_image(
    path: Path,
    size: int | None = None,
    *,
    fit: Fit = "crop",
    on_small: SmallCallback | None = None,
) -> torch.Tensor:
    """The image at ``path`` as float32 (3, H, W) in [-1, 1], brought to ``size`` by ``fit``.

    8-bit files go through PIL ``convert('RGB')``; 16-bit greyscale (``I;16*``, ``I``) files are
    scaled by 1/65535 in float32 and resized in float, keeping their precision. ``size=None``
    keeps the stored size. A file that cannot be decoded raises UnreadableImageError. An image
    whose shorter side is under a quarter of ``size`` is passed to ``on_small`` first.
    """
    path = Path(path)
    _check_size(size)
    check_fit(fit)
    image = _decode(path)
    if size is not None:
        if on_small is not None and min(image.size) * SMALL_INPUT_FACTOR < size:
            on_small(path, image.size)
        image = fit_to_size(image, size, fit)
    return _to_tensor(image)


def decodable(
    items: Sequence[ImageItem],
) -> tuple[list[ImageItem], list[tuple[ImageItem, str]]]:
    """The items whose whole file decodes, and the others with the reason, in order.

    For a trainer, which reads each image many times: checked once before the first step, a
    text file named ``.png`` or a truncated JPEG is found there, not at the step that first
    draws it.
    """
    kept: list[ImageItem] = []
    rejected: list[tuple[ImageItem, str]] = []
    for item in items:
        try:
            _decode(item.path)
        except UnreadableImageError as error:
            rejected.append((item, error.reason))
        else:
            kept.append(item)
    return kept, rejected


def iter_batches(
    items: Sequence[ImageItem],
    size: int | None,
    batch_size: int,
    *,
    strict: bool = False,
    on_skip: SkipCallback | None = None,
    fit: Fit = "crop",
    on_small: SmallCallback | None = None,
) -> Iterator[tuple[list[ImageItem], torch.Tensor]]:
    """Batches ``(items, (B, 3, S, S) tensor)`` of the readable images, in order.

    An unreadable image is passed to ``on_skip(item, reason)`` and left out (the batch is filled
    from the next items), or raised when ``strict``. With ``size=None`` the images of one batch
    must share their size. An image much smaller than ``size`` goes to ``on_small``.
    """
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    batch_items: list[ImageItem] = []
    tensors: list[torch.Tensor] = []
    readable = read_each(
        items,
        lambda path: read_image(path, size, fit=fit, on_small=on_small),
        strict=strict,
        on_skip=on_skip,
    )
    for item, tensor in readable:
        if tensors:
            _check_same_size(batch_items[0], tensors[0], item, tensor)
        batch_items.append(item)
        tensors.append(tensor)
        if len(batch_items) == batch_size:
            yield batch_items, torch.stack(tensors)
            batch_items, tensors = [], []
    if batch_items:
        yield batch_items, torch.stack(tensors)


def read_each(
    items: Iterable[ImageItem],
    read: Callable[[Path], Decoded],
    *,
    strict: bool = False,
    on_skip: SkipCallback | None = None,
) -> Iterator[tuple[ImageItem, Decoded]]:
    """``(item, read(item.path))`` for each readable item, in order.

    ``read`` raises UnreadableImageError for a file it cannot decode: the item is passed to
    ``on_skip(item, reason)`` and left out, or the error is raised when ``strict``.
    """
    for item in items:
        try:
            decoded = read(item.path)
        except UnreadableImageError as error:
            if strict:
                raise StrictReadError(error.path, error.reason) from None
            if on_skip is not None:
                on_skip(item, error.reason)
            continue
        yield item, decoded


def _check_size(size: int | None) -> None:
    """UsageError unless ``size`` is None or a positive number of pixels."""
    if size is not None and size < 1:
        raise UsageError(f"image size must be at least 1 pixel, got {size}")


def _check_same_size(
    first: ImageItem, first_tensor: torch.Tensor, item: ImageItem, tensor: torch.Tensor
) -> None:
    """UsageError when two images of one batch differ in size (only possible with size=None)."""
    if tensor.shape != first_tensor.shape:
        raise UsageError(
            f"{item.path} is {_size_text(tensor)} but {first.path} is {_size_text(first_tensor)}; "
            f"images of one batch must share a size (set an image size, or use batch size 1)"
        )


def _size_text(tensor: torch.Tensor) -> str:
    """``WxH`` of a (3, H, W) tensor."""
    return f"{tensor.shape[-1]}x{tensor.shape[-2]}"


def _decode(path: Path) -> Image.Image:
    """The first frame of ``path`` as an RGB (8-bit) or F (16-bit data in [0, 1]) image."""
    try:
        with Image.open(path) as image:
            image.load()
            return _working_image(image)
    # Pillow's decoders raise many types on corrupt data (OSError, SyntaxError, ValueError,
    # EOFError, struct.error, DecompressionBombError, ...): all mean "this file is unreadable".
    except Exception as error:
        raise UnreadableImageError(path, _reason(error)) from error


def _working_image(image: Image.Image) -> Image.Image:
    """``image`` in the mode it is resized in: F in [0, 1] for 16-bit data, RGB otherwise."""
    if image.mode in _HIGH_DEPTH_MODES:
        samples = np.clip(np.asarray(image).astype(np.float32), 0, _SIXTEEN_BIT_MAX)
        return Image.fromarray(samples / _SIXTEEN_BIT_MAX)
    if image.mode == "F":
        raise ValueError("32-bit float images are not supported (their value range is unknown)")
    return image.convert("RGB")


def _reason(error: Exception) -> str:
    """A short human reason for a decoding failure."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image format Pillow can decode"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _to_tensor(image: Image.Image) -> torch.Tensor:
    """(3, H, W) float32 in [-1, 1]: ToTensor (``/255``) then ``2x - 1``; F images are in [0, 1]."""
    if image.mode == "F":
        # Bicubic overshoots in float; 8-bit resampling clamps, so clamp alike.
        unit = torch.from_numpy(np.array(image, dtype=np.float32)).clamp(0, 1)
        return (unit * 2 - 1).expand(3, -1, -1).contiguous()
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
    unit = pixels.permute(2, 0, 1).float().div(255)
    return (unit * 2 - 1).contiguous()
