"""The images ``i2i train diffusion`` learns from: finding them, their class labels, decoding.

Images are every image file under ``--data`` (recursively, sorted by path). Class labels, when
asked for, come from one of two explicit sources, numbered in sorted name order:

* ``folder``: the first sub-folder under ``--data`` (``data/cat/0001.png`` is class ``cat``);
  an image directly in ``--data`` has no class and is refused.
* ``prefix``: the file name up to its first ``_`` (``cat_0001.png`` is class ``cat``), as
  guided-diffusion's ``image_datasets.py`` names classes; a name without ``_`` is refused.

Each image is read as the references read it (PIL ``convert('RGB')``) and brought to the model's
size by the run's fit (``adm-crop``: ``center_crop_arr``), in a worker process; it travels as
uint8 and becomes a [-1, 1] float on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_folder
from i2i_cli.io.data import ImageItem, UnreadableImageError, decodable, find_images, read_image
from i2i_cli.io.image_fit import Fit
from i2i_cli.training.prefetch import StepReader
from i2i_diffusion.settings import LabelSource

_LISTED = 3


@dataclass(frozen=True)
class TrainingImages:
    """The training images, each one's class index, and the class names (index order)."""

    items: list[ImageItem]
    labels: list[int] | None
    classes: list[str]


def class_name(item: ImageItem, source: LabelSource) -> str | None:
    """The class ``source`` gives ``item``, or None when it has none."""
    if source == "folder":
        parts = item.key.split("/")
        return parts[0] if len(parts) > 1 else None
    name = item.path.name
    return name.split("_", 1)[0] if "_" in name and not name.startswith("_") else None


def find_training_images(folder: str | None, source: LabelSource) -> TrainingImages:
    """The images under ``folder`` with their labels from ``source`` (see the module's text)."""
    if not folder:
        raise UsageError("i2i train diffusion needs --data (a folder of images)")
    root = require_folder(Path(folder), "--data")
    found = find_images(root)
    items, left_out = decodable(found)
    if left_out:
        first = "; ".join(f"cannot read image {item.path}: {why}" for item, why in left_out[:2])
        raise UsageError(
            f"{len(left_out)} of the {len(found)} images in --data {root} cannot be read, so "
            f"nothing was trained ({first}); remove or replace them"
        )
    if source == "none":
        return TrainingImages(items, None, [])
    names = [class_name(item, source) for item in items]
    unnamed = [str(item.path) for item, name in zip(items, names, strict=True) if name is None]
    if unnamed:
        where = "is not in a class sub-folder" if source == "folder" else "has no '<class>_' prefix"
        raise UsageError(
            f"--labels {source}: {len(unnamed)} image(s) {where} (first: "
            f"{', '.join(unnamed[:_LISTED])})"
        )
    classes = sorted({name for name in names if name is not None})
    index = {name: i for i, name in enumerate(classes)}
    labels = [index[name] for name in names if name is not None]
    return TrainingImages(items, labels, classes)


def to_model_space(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 in [-1, 1]: ``v / 127.5 - 1`` (image_datasets.py)."""
    return pixels.float() / 127.5 - 1


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """A [-1, 1] image of 8-bit values back to its uint8 values (exact for 8-bit files)."""
    return ((image + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


class ImageReader(StepReader):
    """One step's images as uint8 (B, 3, S, S) and their labels (int64, zeros unlabelled)."""

    def __init__(
        self, items: Sequence[ImageItem], labels: Sequence[int] | None, size: int, fit: Fit
    ) -> None:
        self.items, self.size, self.fit = list(items), size, fit
        self.labels = torch.tensor(list(labels) if labels is not None else [0] * len(self.items))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, indices: Any) -> tuple[torch.Tensor, torch.Tensor] | str:
        chosen = [int(i) for i in indices]
        try:
            images = [
                to_uint8(read_image(self.items[i].path, self.size, fit=self.fit)) for i in chosen
            ]
        except UnreadableImageError as error:
            return str(error)
        return torch.stack(images), self.labels[chosen]
