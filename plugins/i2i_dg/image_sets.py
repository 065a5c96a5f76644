"""The real and generated image sets DG's discriminator trains on (dg.md §6).

A set is a folder of images (searched recursively, e.g. the PNGs of ``i2i sample edm``, with or
without ``--subdirs``; a folder without images but with ``sample*.npz`` files, DG's gendir, is
their concatenation in name order) or one ``.npz`` (``samples`` or ``arr_0``: uint8 NHWC, as
EDM/DG write and DG's ``true_data.npz``; ``label``: class indices or one-hot rows). Images are
kept as uint8 and mapped as DG's ``ToTensor`` then ``2x - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_existing
from i2i_cli.io.data import UnreadableImageError, find_images, read_image
from i2i_cli.weights.arrays import array_error_reason

IMAGE_KEYS = ("samples", "arr_0")
LABEL_KEY = "label"


@dataclass(frozen=True)
class ImageSet:
    """uint8 images (N, H, W, C) and, when the files carry them, class indices (N,)."""

    pixels: torch.Tensor
    labels: torch.Tensor | None


def to_model_space(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1]: ToTensor, then 2x - 1 (§6)."""
    return pixels.permute(0, 3, 1, 2).float().div(255) * 2 - 1


def _class_indices(label: np.ndarray, count: int, origin: str) -> torch.Tensor:
    """Integer classes from a ``label`` array of indices (N,) or one-hot rows (N, K)."""
    if label.shape[:1] != (count,) or label.ndim not in (1, 2):
        raise UsageError(
            f"{origin}: 'label' has shape {label.shape}, expected ({count},) or (N, K)"
        )
    values = label.argmax(axis=1) if label.ndim == 2 else label
    return torch.from_numpy(np.asarray(values).astype(np.int64))


def read_npz(path: Path, role: str) -> ImageSet:
    """One .npz: its ``samples`` (or ``arr_0``) uint8 NHWC images and optional ``label``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            key = next((k for k in IMAGE_KEYS if k in data.files), None)
            if key is None:
                raise UsageError(f"--{role} {path}: no 'samples' or 'arr_0' array in the npz")
            pixels = data[key]
            label = data[LABEL_KEY] if LABEL_KEY in data.files else None
    except (OSError, ValueError) as error:
        raise UsageError(
            f"--{role} {path}: not a readable .npz ({array_error_reason(error)})"
        ) from None
    if pixels.dtype != np.uint8 or pixels.ndim != 4:
        raise UsageError(
            f"--{role} {path}: '{key}' is {pixels.dtype} {pixels.shape}, "
            "expected uint8 (N, H, W, C)"
        )
    labels = None if label is None else _class_indices(label, len(pixels), f"--{role} {path}")
    return ImageSet(torch.from_numpy(np.ascontiguousarray(pixels)), labels)


def read_folder(folder: Path, role: str) -> ImageSet:
    """A folder's images (recursively), else the concatenation of its ``sample*.npz``."""
    archives = sorted(folder.glob("sample*.npz"))
    try:
        items = find_images(folder)
    except UsageError:
        if not archives:
            raise UsageError(
                f"--{role} {folder}: no images and no sample*.npz files in the folder"
            ) from None
        return concatenate([read_npz(path, role) for path in archives], f"--{role} {folder}")
    pixels = []
    for item in items:
        try:
            image = read_image(item.path)
        except UnreadableImageError as error:
            raise UsageError(str(error)) from None
        pixels.append(((image + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0))
    sizes = {tuple(p.shape) for p in pixels}
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h}" for h, w, _ in sorted(sizes))
        raise UsageError(f"--{role} {folder}: the images differ in size ({listed})")
    return ImageSet(torch.stack(pixels), None)


def concatenate(sets: list[ImageSet], origin: str) -> ImageSet:
    """Sets joined in order; labels only when every set has them."""
    shapes = {tuple(s.pixels.shape[1:]) for s in sets}
    if len(shapes) > 1:
        raise UsageError(
            f"{origin}: the npz files hold images of different shapes {sorted(shapes)}"
        )
    labels = [s.labels for s in sets]
    joined = None if any(x is None for x in labels) else torch.cat(labels)  # type: ignore[arg-type]
    return ImageSet(torch.cat([s.pixels for s in sets]), joined)


def read_image_set(reference: str | None, role: str) -> ImageSet:
    """The set named by ``--real`` / ``--fake`` (folder or .npz); bad input -> one line."""
    if not reference:
        raise UsageError(f"i2i train discriminator needs --{role} (a folder of images or an .npz)")
    path = Path(reference).expanduser()
    if path.is_dir():
        found = read_folder(path, role)
    elif path.is_file() and path.suffix == ".npz":
        found = read_npz(path, role)
    elif path.is_file():
        raise UsageError(f"--{role} {path}: expected a folder of images or an .npz file")
    else:
        require_existing(path, f"--{role}")
        raise UsageError(f"--{role} {path} is neither a file nor a folder")
    if len(found.pixels) == 0:
        raise UsageError(f"--{role} {path}: the set is empty")
    return found


def check_images(found: ImageSet, role: str, size: int, channels: int, cond: bool) -> None:
    """The extractor reads ``size`` px, ``channels`` channels; a conditional head needs labels."""
    height, width, depth = found.pixels.shape[1:]
    if (height, width, depth) != (size, size, channels):
        raise UsageError(
            f"--{role}: images are {width}x{height}x{depth}, the feature extractor reads "
            f"{size}x{size}x{channels}"
        )
    if cond and found.labels is None:
        raise UsageError(f"--{role}: cond = true needs class labels (an .npz with a 'label' array)")
