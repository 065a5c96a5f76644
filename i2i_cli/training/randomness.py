"""Where a training step's random numbers come from: (run seed, step, rank), nothing else.

A run resumed after a kill must draw exactly what an uninterrupted run would have drawn, so no
stream carries over from one step to the next: each step gets a fresh generator, the global
generators (which dropout reads) are reseeded for the step and restored after it, and dataset
order is a permutation per epoch seeded by (run seed, epoch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.noise import item_seed


def step_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of one step on one rank, seeded from (run seed, step, rank)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(item_seed(seed, f"train-step-{step}-rank-{rank}"))
    return generator


@contextlib.contextmanager
def step_global_rng(seed: int, step: int, rank: int, device: torch.device) -> Iterator[None]:
    """Seed the global CPU (and this CUDA device's) generator for one step; restore it after.

    Modules that draw from the global generator (dropout) then see a stream fixed by
    (run seed, step, rank) instead of one that depends on how many steps this process ran.
    """
    with seeded_global_rng(item_seed(seed, f"train-global-{step}-rank-{rank}"), device):
        yield


@contextlib.contextmanager
def training_setup_rng(seed: int, device: torch.device) -> Iterator[None]:
    """The global generators seeded from the run seed while a trainer runs; restored after.

    A trainer builds its model with torch's initialisers, which draw from the global generator;
    under this the initial weights follow from the run seed alone, the same in every process
    and on every rank (each step then reseeds for itself, see ``step_global_rng``).
    """
    with seeded_global_rng(item_seed(seed, "train-setup"), device):
        yield


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """The global CPU (and ``device``'s CUDA) generator seeded with ``seed``; restored after."""
    cuda: list[int] = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


@lru_cache(maxsize=2)
def _epoch_order(size: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of a dataset of ``size`` items in ``epoch``: a permutation seeded by both."""
    generator = torch.Generator().manual_seed(item_seed(seed, f"train-epoch-{epoch}"))
    return torch.randperm(size, generator=generator)


@dataclass(frozen=True)
class EpochSampler:
    """Dataset indices of each step's batch: every item once per epoch, shared out over ranks.

    Step ``k`` of epoch ``e`` takes the ``k``-th block of ``batch_size * world_size`` items of
    epoch ``e``'s permutation; rank ``r`` takes the ``r``-th slice of that block. The last
    incomplete block of an epoch is dropped. Its only state is the step number.
    """

    size: int
    batch_size: int
    seed: int
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.size < self.batch_size * self.world_size:
            raise UsageError(
                f"{self.size} training items cannot fill one step of {self.batch_size} per "
                f"process x {self.world_size} processes; lower the batch size or add data"
            )

    @property
    def steps_per_epoch(self) -> int:
        """Complete steps in one pass over the data."""
        return self.size // (self.batch_size * self.world_size)

    def indices(self, step: int) -> torch.Tensor:
        """This rank's item indices at ``step`` (int64, on the CPU)."""
        epoch, offset = divmod(step, self.steps_per_epoch)
        start = (offset * self.world_size + self.rank) * self.batch_size
        return _epoch_order(self.size, self.seed, epoch)[start : start + self.batch_size].clone()
