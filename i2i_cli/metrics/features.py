"""Batched Inception feature extraction over a folder, sharded across torchrun ranks.

Each rank decodes and featurises its share of the images (``runtime.shard``) in batches, adds
them to float64 sums, and the sums are all-reduced, so the statistics do not depend on the world
size beyond float64 rounding. KID needs the features themselves: they are gathered and put back
in image-key order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from i2i_cli.io.data import ImageItem
from i2i_cli.metrics.detectors import Detector
from i2i_cli.metrics.frechet import FeatureStats
from i2i_cli.metrics.images import SizeCensus, egsde_celebahq_resize, uint8_batches

if TYPE_CHECKING:
    from i2i_cli.run.progress import RunProgress
    from i2i_cli.run.runtime import Runtime


@dataclass
class Extraction:
    """What extraction over one image set produced: statistics, optional features, counts."""

    stats: FeatureStats
    features: np.ndarray | None = None
    skipped: list[str] = field(default_factory=list)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Images that went into the statistics."""
        return self.stats.count

    def sizes_text(self) -> str:
        """The stored image sizes met, most frequent first."""
        return SizeCensus(dict(self.sizes)).describe()


def _local_pass(
    items: Sequence[ImageItem],
    detector: Detector,
    batch_size: int,
    keep_features: bool,
    progress: RunProgress | None,
) -> tuple[FeatureStats, list[tuple[str, np.ndarray]], list[str], SizeCensus]:
    """Sums (and keyed features) of this rank's items, with its skips and its size census."""
    stats = FeatureStats(dim=detector.dim)
    keyed: list[tuple[str, np.ndarray]] = []
    skipped: list[str] = []
    census = SizeCensus({})
    transform = egsde_celebahq_resize if detector.transform == "egsde-celebahq" else None

    def on_skip(item: ImageItem, reason: str) -> None:
        skipped.append(f"{item.path}: {reason}")
        if progress is not None:
            progress.skip_items(1)

    for batch_items, batch in uint8_batches(
        items, batch_size, transform=transform, on_skip=on_skip, census=census
    ):
        features = detector.features(batch).numpy()
        stats.add(features)
        if keep_features:
            keyed.extend(zip([item.key for item in batch_items], features, strict=True))
        if progress is not None:
            progress.advance_items(len(batch_items))
    return stats, keyed, skipped, census


def extract(
    items: Sequence[ImageItem],
    detector: Detector,
    runtime: Runtime,
    *,
    batch_size: int,
    keep_features: bool = False,
    progress: RunProgress | None = None,
    description: str = "images",
) -> Extraction:
    """Feature statistics of ``items`` over every rank (and the features, in key order)."""
    if progress is not None:
        progress.start_items(len(items), description)
    local, keyed, skipped, census = _local_pass(
        runtime.shard(items), detector, batch_size, keep_features, progress
    )
    stats = _all_reduced(local, runtime)
    gathered = runtime.all_gather_objects((keyed, skipped, census.counts))
    sizes: dict[tuple[int, int], int] = {}
    for _, _, counts in gathered:
        for size, count in counts.items():
            sizes[size] = sizes.get(size, 0) + count
    all_skipped = sorted(entry for _, rank_skipped, _ in gathered for entry in rank_skipped)
    features = None
    if keep_features:
        rows = sorted((pair for rank_keyed, _, _ in gathered for pair in rank_keyed), key=_key)
        features = np.stack([row for _, row in rows]) if rows else np.zeros((0, detector.dim))
    return Extraction(stats=stats, features=features, skipped=all_skipped, sizes=sizes)


def _key(pair: tuple[str, np.ndarray]) -> str:
    """The image key of a keyed feature row."""
    return pair[0]


def _all_reduced(local: FeatureStats, runtime: Runtime) -> FeatureStats:
    """``local``'s sums added over ranks (on the device for NCCL, on the CPU for gloo)."""
    if runtime.dist.world_size == 1:
        return local
    device = runtime.device if runtime.device.type == "cuda" else torch.device("cpu")
    count = torch.tensor([float(local.count)], dtype=torch.float64, device=device)
    total = torch.from_numpy(local.total).to(device)
    outer = torch.from_numpy(local.outer).to(device)
    for tensor in (count, total, outer):
        runtime.all_reduce_sum(tensor)
    merged = FeatureStats(dim=local.dim)
    merged.merge(int(count.item()), total.cpu().numpy(), outer.cpu().numpy())
    return merged
