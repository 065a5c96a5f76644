"""Paired metrics over two folders: EGSDE's protocol (egsde.md §7) with pairs matched by name.

Each pair is decoded (PIL RGB), optionally resized shorter side to ``size`` with bicubic
(torchvision ``Resize(size, interpolation=3)``), turned into [0, 1] float32 (``ToTensor``) and
scored per image; the result is the mean over pairs. Under torchrun each rank scores its share
and the per-image values are gathered, summed in name order, so any world size gives the
same means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.io.data import ImageItem, UnreadableImageError
from i2i_cli.metrics import paired
from i2i_cli.metrics.images import PilTransform, decode_rgb, resize_shorter_side, to_unit

PairFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

PAIRED_METRICS: dict[str, PairFunction] = {
    "l2": paired.l2,
    "mse": paired.mse,
    "psnr": paired.psnr,
    "ssim": paired.ssim,
    "ms-ssim": paired.ms_ssim,
}
"""Per-image paired metrics by name, each ``f(image, source) -> (N,)`` on [0, 1] batches."""

Pair = tuple[ImageItem, ImageItem]


@dataclass
class PairScores:
    """Per-pair values of each metric, keyed by the image key, and the pairs skipped."""

    values: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def means(self, metrics: Sequence[str]) -> dict[str, float]:
        """The mean of each metric over the scored pairs, summed in key order (float64)."""
        keys = sorted(self.values)
        if not keys:
            raise UsageError("no pair could be scored: every image or source was unreadable")
        return {
            name: float(np.mean(np.array([self.values[key][name] for key in keys])))
            for name in metrics
        }

    def merge(self, others: Sequence[PairScores]) -> PairScores:
        """The union of several ranks' scores."""
        merged = PairScores()
        for part in others:
            merged.values.update(part.values)
            merged.skipped.extend(part.skipped)
        merged.skipped.sort()
        return merged


def _decoded_pairs(
    pairs: Sequence[Pair],
    transform: PilTransform | None,
    scores: PairScores,
    prepare_source: PilTransform | None = None,
) -> Iterator[tuple[Pair, torch.Tensor, torch.Tensor]]:
    """Each readable pair with both images as [0, 1] float32; a size mismatch is an error.

    ``prepare_source`` is applied to each source before ``transform`` (e.g. the crop the run
    that made the images applied to its inputs).
    """
    source_transform = transform
    if prepare_source is not None:
        source_transform = _then(prepare_source, transform)
    for pair in pairs:
        image, source = pair
        try:
            x = to_unit(decode_rgb(image.path, transform))
            y = to_unit(decode_rgb(source.path, source_transform))
        except UnreadableImageError as error:
            scores.skipped.append(f"{error.path}: {error.reason}")
            continue
        if x.shape != y.shape:
            raise UsageError(
                f"{image.path} is {x.shape[-1]}x{x.shape[-2]} but its source {source.path} is "
                f"{y.shape[-1]}x{y.shape[-2]} after resizing; paired metrics need equal sizes"
            )
        yield pair, x, y


def _then(first: PilTransform, second: PilTransform | None) -> PilTransform:
    """``second(first(image))`` (``first`` alone when ``second`` is None)."""
    if second is None:
        return first
    return lambda image: second(first(image))


def score_pairs(
    pairs: Sequence[Pair],
    metrics: Sequence[str],
    *,
    size: int | None,
    batch_size: int,
    device: torch.device | None = None,
    on_batch: Callable[[int], None] | None = None,
    prepare_source: PilTransform | None = None,
) -> PairScores:
    """Per-pair values of ``metrics``; consecutive pairs of one size are scored as a batch.

    ``prepare_source`` brings each source to what its image was made from, before both are
    resized to ``size``.
    """
    unknown = [name for name in metrics if name not in PAIRED_METRICS]
    if unknown:
        raise UsageError(f"unknown paired metric(s) {', '.join(unknown)}")
    transform = resize_shorter_side(size) if size is not None else None
    scores = PairScores()
    batch: list[tuple[Pair, torch.Tensor, torch.Tensor]] = []

    def flush() -> None:
        if not batch:
            return
        x = torch.stack([entry[1] for entry in batch]).to(device or "cpu")
        y = torch.stack([entry[2] for entry in batch]).to(device or "cpu")
        per_metric = {name: _checked(name, PAIRED_METRICS[name], x, y) for name in metrics}
        for index, (pair, _, _) in enumerate(batch):
            scores.values[pair[0].key] = {n: float(v[index]) for n, v in per_metric.items()}
        if on_batch is not None:
            on_batch(len(batch))
        batch.clear()

    for entry in _decoded_pairs(pairs, transform, scores, prepare_source):
        if batch and batch[0][1].shape != entry[1].shape:
            flush()
        batch.append(entry)
        if len(batch) == batch_size:
            flush()
    flush()
    return scores


def _checked(name: str, function: PairFunction, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``function(x, y)`` on the CPU as float64 numbers; a metric's size limit is a UsageError."""
    try:
        return function(x, y).detach().cpu().double()
    except ValueError as error:
        raise UsageError(f"{name}: {error}") from None
