"""Feeding ``i2i train bbdm``: each step's pairs decoded ahead of time in worker processes.

Which pairs make batch ``k`` is fixed by (run seed, k, rank) through ``EpochSampler`` (every
pair once per epoch, in a permutation seeded by the epoch). Decoding and resizing is
deterministic (there is no augmentation, bbdm.md §3), so the core's ``PrefetchedBatches``
decodes a step's pairs early in a worker (``PairReader``) and hands them over in step order.
Pairs travel as uint8 and become [-1, 1] floats on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from i2i_bbdm.paired import PairedItem, read_pair, to_model_space
from i2i_cli.base.errors import I2IError
from i2i_cli.training import EpochSampler
from i2i_cli.training.prefetch import PrefetchedBatches, StepIndices, StepReader

__all__ = ["PairBatch", "PairReader", "PrefetchedPairs", "StepIndices"]


@dataclass(frozen=True)
class PairBatch:
    """One step's pairs on the run's device, float32 in [-1, 1]: condition y and target x0."""

    source: torch.Tensor
    target: torch.Tensor


class PairReader(StepReader):
    """Batch ``indices`` of ``items`` as uint8 (B, 3, S, S) source and target tensors.

    A file that cannot be used comes back as its one-line message (a string), not as an
    exception: a worker's exception would reach the loop wrapped in a traceback.
    """

    def __init__(self, items: Sequence[PairedItem], size: int) -> None:
        self.items = list(items)
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, indices: Any) -> tuple[torch.Tensor, torch.Tensor] | str:
        try:
            pairs = [read_pair(self.items[int(i)], self.size) for i in indices]
        except I2IError as error:
            return str(error)
        sources, targets = zip(*pairs, strict=True)
        return torch.stack(sources), torch.stack(targets)


class PrefetchedPairs:
    """The loop's ``Batches``: step ``k``'s pairs, decoded ahead by ``workers`` processes.

    ``workers = 0`` decodes in the calling process, when asked. Use it as a context manager:
    leaving stops the workers.
    """

    def __init__(
        self,
        items: Sequence[PairedItem],
        size: int,
        sampler: EpochSampler,
        steps: int,
        device: torch.device,
        workers: int,
    ) -> None:
        self.stream = PrefetchedBatches(PairReader(items, size), sampler, steps, device, workers)

    def __enter__(self) -> PrefetchedPairs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (a later call starts a new stream)."""
        self.stream.close()

    def __call__(self, step: int, generator: torch.Generator | None = None) -> PairBatch:
        """Step ``step``'s batch (``generator`` is not needed: the order is the sampler's)."""
        source, target = self.stream(step, generator)
        return PairBatch(to_model_space(source), to_model_space(target))
