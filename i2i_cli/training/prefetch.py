"""Feeding the core loop: each step's batch decoded ahead of time in worker processes.

The loop asks for batch ``k`` by calling ``batches(k, generator)``; which items make batch ``k``
is fixed by (run seed, k, rank) through ``EpochSampler``. A trainer whose decoding is
deterministic (any randomness, such as flips, is drawn afterwards from the step's generator)
can therefore decode batch ``k`` early in a worker and get exactly what the step would have
read itself: ``PrefetchedBatches`` runs a torch ``DataLoader`` whose sampler yields the index
lists of steps k, k + 1, ..., each decoded whole by one worker through the trainer's
``StepReader``, and hands them over in step order, moved to the run's device (pinned first when
the run is on a GPU). Asked for a step other than the next one (the first call, or a resume),
it restarts the stream there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from i2i_cli.base.errors import UsageError
from i2i_cli.training.randomness import EpochSampler

PREFETCH_PER_WORKER = 2
MOST_AUTO_WORKERS = 8

Decoded = tuple[torch.Tensor, ...]


class StepReader(Dataset):
    """A trainer's decoder: ``reader[indices]`` is one step's tensors, or a one-line error.

    ``__getitem__`` receives the item indices of a whole step and returns a tuple of CPU
    tensors (uint8 travels at a quarter of float32's bytes), or a string saying why an item
    cannot be used: a worker's exception would reach the loop wrapped in a traceback.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, indices: Any) -> Decoded | str:
        raise NotImplementedError


class StepIndices(Sampler):
    """The item indices of steps ``first, first + 1, ..., last - 1``, one list per step."""

    def __init__(self, sampler: EpochSampler, first: int, last: int) -> None:
        self.sampler, self.first, self.last = sampler, first, last

    def __len__(self) -> int:
        return max(0, self.last - self.first)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (self.sampler.indices(step) for step in range(self.first, self.last))


class PrefetchedBatches:
    """Step ``k``'s decoded tensors on ``device``, read ahead by ``workers`` processes.

    ``workers = 0`` decodes in the calling process, when asked. Use it as a context manager:
    leaving stops the workers. A reader's error string becomes a UsageError.
    """

    def __init__(
        self,
        reader: Dataset,
        sampler: EpochSampler,
        steps: int,
        device: torch.device,
        workers: int,
    ) -> None:
        self.reader = reader
        self.sampler, self.steps, self.device, self.workers = sampler, steps, device, workers
        self._stream: Iterator[Any] | None = None
        self._next = -1

    def __enter__(self) -> PrefetchedBatches:
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

    def __call__(self, step: int, generator: torch.Generator | None = None) -> Decoded:
        """Step ``step``'s tensors on the device (in the sampler's order; ``generator`` unused)."""
        if self._stream is None or step != self._next:
            self._stream = self._start(step)
        decoded = next(self._stream)
        self._next = step + 1
        if isinstance(decoded, str):
            self.close()
            raise UsageError(decoded)
        return tuple(x.to(self.device, non_blocking=True) for x in decoded)


def decoding_workers(requested: int | None, world_size: int) -> int:
    """``requested``, or by default this process's share of the CPUs (1 to 8) for each rank."""
    if requested is not None:
        return requested
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MOST_AUTO_WORKERS, (cpus or 1) // world_size))
