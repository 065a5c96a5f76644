"""Image folders for metrics: finding, pairing by name, decoding to uint8, batching by size.

Metrics see images exactly as the references do: PIL ``convert('RGB')`` (alpha dropped), then
``ToTensor`` (``uint8 / 255``) where a reference works in [0, 1]. A file that cannot be decoded
is skipped and counted; a folder without images, a missing partner of a pair, or two images of
a pair that differ in size is a one-line UsageError.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_existing
from i2i_cli.io import image_fit
from i2i_cli.io.data import ImageItem, SkipCallback, UnreadableImageError, find_images, read_each
from i2i_cli.io.outputs import GRID_FILE
from i2i_cli.io.run_record import RUN_RECORD

PilTransform = Callable[[Image.Image], Image.Image]

_LISTED = 5


def images_in(folder: Path, role: str) -> list[ImageItem]:
    """The images of ``folder`` (recursive, sorted by key); none or no folder is a UsageError.

    In the output folder of an i2i run (it holds the run's ``run.toml``) the run's quick-look
    ``grid.png`` is not one of its images and is left out.
    """
    folder = Path(folder)
    require_existing(folder, f"{role} folder", f"{role} folder not found: {folder}")
    items = find_images(folder)
    if folder.is_dir() and (folder / RUN_RECORD).is_file():
        items = [item for item in items if item.path != folder / GRID_FILE]
    return items


def pair_by_key(
    images: Sequence[ImageItem], sources: Sequence[ImageItem], images_dir: Path, source_dir: Path
) -> list[tuple[ImageItem, ImageItem]]:
    """``(image, source)`` pairs matched by file name without suffix, sorted by it.

    An image without a source of the same name is a UsageError naming the first few; sources
    without an image are allowed (a run may translate a subset of a test set).
    """
    by_key = {item.key: item for item in sources}
    unmatched = [item.key for item in images if item.key not in by_key]
    if unmatched:
        shown = ", ".join(unmatched[:_LISTED])
        more = f" and {len(unmatched) - _LISTED} more" if len(unmatched) > _LISTED else ""
        raise UsageError(
            f"{len(unmatched)} of {len(images)} images in {images_dir} have no source of the "
            f"same name in {source_dir} (first: {shown}{more}); pairs are matched by file name"
        )
    return [(item, by_key[item.key]) for item in sorted(images, key=lambda item: item.key)]


def format_census(items: Iterable[ImageItem]) -> str:
    """``JPEG (500), PNG (2)``: the file formats of ``items`` by suffix, most frequent first.

    A result records it, so a score says whether it was computed on lossy files (EGSDE's
    protocol scores JPEGs at quality 75, egsde.md pitfall 11).
    """
    formats = Image.registered_extensions()
    counts = Counter(formats.get(item.path.suffix.lower(), item.path.suffix) for item in items)
    ordered = sorted(counts.items(), key=lambda entry: (-entry[1], entry[0]))
    return ", ".join(f"{name} ({count})" for name, count in ordered)


def decode_rgb(path: Path, transform: PilTransform | None = None) -> torch.Tensor:
    """The image at ``path`` as a (3, H, W) uint8 tensor after PIL ``convert('RGB')``."""
    try:
        with Image.open(path) as image:
            image.load()
            rgb = image.convert("RGB")
    # Pillow raises many types on corrupt data (OSError, SyntaxError, ValueError, ...).
    except Exception as error:
        raise UnreadableImageError(Path(path), str(error) or type(error).__name__) from error
    if transform is not None:
        rgb = transform(rgb)
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def resize_shorter_side(size: int) -> PilTransform:
    """torchvision ``Resize(size, BICUBIC)`` on a PIL image: shorter side to ``size``."""

    def resize(image: Image.Image) -> Image.Image:
        return image_fit.resize_shorter_side(image, size)

    return resize


def egsde_celebahq_resize(image: Image.Image) -> Image.Image:
    """EGSDE's male2female FID transform before ToTensor: PIL bilinear to 256², then to 299²."""
    image = image.resize((256, 256), Image.Resampling.BILINEAR)
    return image.resize((299, 299), Image.Resampling.BILINEAR)


def to_unit(pixels: torch.Tensor) -> torch.Tensor:
    """``ToTensor``: uint8 -> float32 in [0, 1]."""
    return pixels.float().div(255)


@dataclass
class SizeCensus:
    """The distinct image sizes met while reading, with a count each."""

    counts: dict[tuple[int, int], int]

    def add(self, pixels: torch.Tensor) -> None:
        """Count the (W, H) of a (3, H, W) image."""
        key = (int(pixels.shape[-1]), int(pixels.shape[-2]))
        self.counts[key] = self.counts.get(key, 0) + 1

    def describe(self) -> str:
        """``256x256 (40), 512x384 (2)``: the sizes, most frequent first."""
        ordered = sorted(self.counts.items(), key=lambda entry: -entry[1])
        return ", ".join(f"{w}x{h} ({n})" for (w, h), n in ordered)


def uint8_batches(
    items: Sequence[ImageItem],
    batch_size: int,
    *,
    transform: PilTransform | None = None,
    on_skip: SkipCallback | None = None,
    census: SizeCensus | None = None,
) -> Iterator[tuple[list[ImageItem], torch.Tensor]]:
    """``(items, (N, 3, H, W) uint8)`` batches of the readable images, in order; a batch ends
    early where the image size changes, so images of mixed sizes are never stacked together."""
    batch_items: list[ImageItem] = []
    batch: list[torch.Tensor] = []
    for item, pixels in read_each(items, lambda path: decode_rgb(path, transform), on_skip=on_skip):
        if census is not None:
            census.add(pixels)
        if batch and batch[0].shape != pixels.shape:
            yield batch_items, torch.stack(batch)
            batch_items, batch = [], []
        batch_items.append(item)
        batch.append(pixels)
        if len(batch) == batch_size:
            yield batch_items, torch.stack(batch)
            batch_items, batch = [], []
    if batch:
        yield batch_items, torch.stack(batch)
