"""Feeding ``i2i train bbdm``: each step's pairs decoded ahead of time in worker processes.

The core loop asks for batch ``k`` by calling ``batches(k, generator)``; which pairs make batch
``k`` is fixed by (run seed, k, rank) through ``EpochSampler`` (every pair once per epoch, in a
permutation seeded by the epoch). Decoding and resizing is deterministic (there is no
augmentation, bbdm.md §3), so a batch decoded early in a worker is exactly the batch the step
would have read itself: ``PrefetchedPairs`` runs a torch ``DataLoader`` whose sampler yields the
index lists of steps k, k + 1, ..., each decoded whole by one worker, and hands them over in
step order. Pairs travel as uint8 (a quarter of float32's bytes), pinned when the run is on a
GPU, and become [-1, 1] floats on the device. Asked for a step other than the next one (the
first call, or a resume), it restarts the stream there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from i2i_bbdm.paired import PairedItem, read_pair, to_model_space
from i2i_cli.errors import I2IError, UsageError
from i2i_cli.training import EpochSampler

PREFETCH_PER_WORKER = 2


@dataclass(frozen=True)
class PairBatch:
    """One step's pairs on the run's device, float32 in [-1, 1]: condition y and target x0."""

    source: torch.Tensor
    target: torch.Tensor


class PairReader(Dataset):
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


class StepIndices(Sampler):
    """The item indices of steps ``first, first + 1, ..., last - 1``, one list per step."""

    def __init__(self, sampler: EpochSampler, first: int, last: int) -> None:
        self.sampler, self.first, self.last = sampler, first, last

    def __len__(self) -> int:
        return max(0, self.last - self.first)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (self.sampler.indices(step) for step in range(self.first, self.last))


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
        self.reader = PairReader(items, size)
        self.sampler, self.steps, self.device, self.workers = sampler, steps, device, workers
        self._stream: Iterator[Any] | None = None
        self._next = -1

    def __enter__(self) -> PrefetchedPairs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (a later call starts a new stream)."""
        self._stream, self._next = None, -1

    def _start(self, step: int) -> Iterator[Any]:
        """A stream of the decoded batches of steps ``step`` to the last."""
        workers = self.workers
        loader = DataLoader(
            self.reader,
            batch_size=None,
            sampler=StepIndices(self.sampler, step, self.steps),
            num_workers=workers,
            prefetch_factor=PREFETCH_PER_WORKER if workers else None,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator(),  # its base seed is drawn from here, not the global RNG
        )
        return iter(loader)

    def __call__(self, step: int, generator: torch.Generator) -> PairBatch:
        """Step ``step``'s batch (``generator`` is not needed: the order is the sampler's)."""
        if self._stream is None or step != self._next:
            self._stream = self._start(step)
        decoded = next(self._stream)
        self._next = step + 1
        if isinstance(decoded, str):
            self.close()
            raise UsageError(decoded)
        source, target = (x.to(self.device, non_blocking=True) for x in decoded)
        return PairBatch(to_model_space(source), to_model_space(target))
