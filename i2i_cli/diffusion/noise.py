"""Noise sources: every random draw of a sampler goes through one, never through a global RNG.

``PerItemNoise`` gives each item (image, sample) its own generator seeded from (run seed, item
key), so an item's result does not depend on batch size, order or world size; ``SeedNoise`` seeds
item ``k``'s generator with the integer ``k`` itself, as EDM's ``generate.py`` does.
``RecordedNoise`` replays the tensors a reference implementation drew (golden-file parity).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch


class NoiseSource(Protocol):
    """Where a sampler gets its Gaussian noise; ``shape`` includes the batch dimension."""

    def randn(
        self,
        shape: Sequence[int],
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor: ...

    def randn_like(self, x: torch.Tensor) -> torch.Tensor: ...


def item_seed(seed: int, key: str) -> int:
    """A 63-bit generator seed from the run seed and an item key (sha256: stable everywhere)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


NoiseFactory = Callable[[int, Sequence[str], "torch.device | str"], "NoiseSource"]
"""``factory(run_seed, item_keys, device)``: the noise source of one batch of items.

The pipeline makes one per batch; ``PerItemNoise`` is the default, ``SeedNoise`` EDM's scheme.
"""


class GeneratorStack:
    """One ``torch.Generator`` per item, seeded as given: row ``b`` of every draw from ``b``."""

    def __init__(self, generator_seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._generators = [
            torch.Generator(device=self.device).manual_seed(seed) for seed in generator_seeds
        ]
        self.keys = [str(seed) for seed in generator_seeds]

    def _check_batch(self, shape: Sequence[int]) -> None:
        """A draw must have one row per item."""
        if not shape or shape[0] != len(self.keys):
            raise ValueError(
                f"noise of shape {tuple(shape)} requested for {len(self.keys)} items; "
                "the first dimension must equal the number of items"
            )

    def _per_item(
        self,
        draw: Callable[..., torch.Tensor],
        shape: Sequence[int],
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Row ``b`` of ``shape`` drawn by ``draw`` from generator ``b``, stacked, on ``device``."""
        self._check_batch(shape)
        rows = [
            draw(tuple(shape[1:]), generator=g, device=self.device, dtype=dtype)
            for g in self._generators
        ]
        return torch.stack(rows).to(device or self.device)

    def randn(self, shape: Sequence[int], **placement: Any) -> torch.Tensor:
        """Standard normal noise of ``shape``, item by item from each item's generator
        (``device``, ``dtype`` as keywords: ``_per_item``)."""
        return self._per_item(torch.randn, shape, **placement)

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        """Standard normal noise shaped, typed and placed like ``x``."""
        return self.randn(x.shape, device=x.device, dtype=x.dtype)

    def rand(self, shape: Sequence[int], **placement: Any) -> torch.Tensor:
        """Uniform [0, 1) noise of ``shape``, item by item from each item's generator."""
        return self._per_item(torch.rand, shape, **placement)


class PerItemNoise(GeneratorStack):
    """Item ``k``'s generator seeded from (run seed, key ``k``): independent of batch and rank."""

    def __init__(self, seed: int, keys: Sequence[str], device: torch.device | str = "cpu") -> None:
        super().__init__([item_seed(seed, key) for key in keys], device)
        self.keys = list(keys)


def seed_of_key(key: str) -> int:
    """The seed an EDM output key names: its last path component (``[dir/]{k:06d}`` is k)."""
    return int(key.rsplit("/", 1)[-1])


class SeedNoise(GeneratorStack):
    """EDM's ``StackedRandomGenerator``: item ``k`` is an integer seed, its generator seeded with
    ``seed % 2**32`` (NVlabs/edm ``generate.py``), so a seed's image is the reference's.

    The run seed is not used: in EDM's scheme the item is its seed (``--seeds 0-49999``); a key
    ``[dir/]{k:06d}`` (``--subdirs``) is seed k. Besides ``randn``/``randn_like`` it has EDM's
    ``randint`` (one integer per generator, in its stream).
    """

    def __init__(self, seed: int, keys: Sequence[str], device: torch.device | str = "cpu") -> None:
        super().__init__([seed_of_key(key) % (1 << 32) for key in keys], device)
        self.keys = list(keys)

    def randint(self, high: int) -> torch.Tensor:
        """One integer in [0, high) per item: ``torch.randint(high, size=[])`` of its generator."""
        rows = [torch.randint(high, (), generator=g, device=self.device) for g in self._generators]
        return torch.stack(rows)


class RecordedNoise:
    """Replays recorded tensors in draw order, checking each requested shape."""

    def __init__(self, tensors: Sequence[torch.Tensor]) -> None:
        self._tensors = list(tensors)
        self._next = 0

    @property
    def remaining(self) -> int:
        """How many recorded draws are left."""
        return len(self._tensors) - self._next

    def randn(
        self,
        shape: Sequence[int],
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """The next recorded tensor, which must have ``shape``."""
        if self.remaining == 0:
            raise ValueError(f"recorded noise exhausted after {len(self._tensors)} draws")
        tensor = self._tensors[self._next]
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(
                f"recorded draw {self._next} has shape {tuple(tensor.shape)}, "
                f"requested {tuple(shape)}"
            )
        self._next += 1
        return tensor.to(device=device, dtype=dtype)

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        """The next recorded tensor, placed and typed like ``x``."""
        return self.randn(x.shape, device=x.device, dtype=x.dtype)

    def assert_exhausted(self) -> None:
        """Fail unless every recorded draw was consumed (the replay followed the reference)."""
        if self.remaining:
            raise AssertionError(f"{self.remaining} recorded draws were not consumed")


class GeneratorNoise:
    """Every draw from one ``torch.Generator`` seeded once: for batches that are one item.

    Used where a batch is not a set of independent items with keys (a cloud of 2-D points):
    the whole draw depends on the seed and the batch size, not on per-item seeds.
    """

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def randn(
        self,
        shape: Sequence[int],
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Standard normal noise of ``shape`` from the generator, moved to ``device``."""
        x = torch.randn(tuple(shape), generator=self.generator, dtype=dtype, device=self.device)
        return x.to(device) if device is not None else x

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        """Standard normal noise shaped, typed and placed like ``x``."""
        return self.randn(x.shape, dtype=x.dtype, device=x.device)
