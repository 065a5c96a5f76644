"""Discrete beta schedules, guided-diffusion's timestep respacing, and per-step coefficient tables.

The schedule is computed once per run in float64 (as guided-diffusion keeps it, spec/adm.md §3.1);
``ScheduleTables`` holds the float32 copies a sampler indexes on its device. Casting a float64
table to float32 and then indexing equals indexing and then casting (the reference's ``_extract``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

ScheduleName = Literal["linear", "cosine"]


def linear_betas(num_steps: int) -> np.ndarray:
    """Ho et al.'s linear betas, rescaled to ``num_steps`` (scale = 1000 / T; adm.md §3.1)."""
    scale = 1000.0 / num_steps
    return np.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=np.float64)


def cosine_betas(num_steps: int, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal's cosine schedule (eq. 17): ``1 - abar((i+1)/T) / abar(i/T)``, capped."""

    def alpha_bar(s: float) -> float:
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [
        min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), max_beta)
        for i in range(num_steps)
    ]
    return np.array(betas, dtype=np.float64)


def named_betas(name: ScheduleName, num_steps: int) -> np.ndarray:
    """The betas of a named schedule (``linear`` or ``cosine``)."""
    if name == "linear":
        return linear_betas(num_steps)
    if name == "cosine":
        return cosine_betas(num_steps)
    raise ValueError(f"unknown noise schedule {name!r}; expected 'linear' or 'cosine'")


def space_timesteps(num_steps: int, spec: str) -> list[int]:
    """The kept timesteps of guided-diffusion's ``space_timesteps``, sorted (adm.md §3.2).

    ``"ddimN"``: the smallest stride giving exactly N steps from 0. Otherwise a comma list of
    per-section counts; within a section the kept indices are ``start + round(j * stride)`` with
    Python's half-to-even ``round`` on a stride accumulated by repeated addition. ``""`` keeps all.
    """
    spec = spec.strip()
    if spec == "":
        return list(range(num_steps))
    if spec.startswith("ddim"):
        wanted = _positive_int(spec[len("ddim") :], spec)
        for stride in range(1, num_steps):
            if len(range(0, num_steps, stride)) == wanted:
                return list(range(0, num_steps, stride))
        if wanted == num_steps:
            return list(range(num_steps))
        raise ValueError(f"cannot take exactly {wanted} evenly strided steps of {num_steps}")
    counts = [_positive_int(part, spec) for part in spec.split(",")]
    size_per, extra = divmod(num_steps, len(counts))
    kept: list[int] = []
    start = 0
    for index, count in enumerate(counts):
        size = size_per + (1 if index < extra else 0)
        if size < count:
            raise ValueError(f"cannot take {count} steps from a section of {size} ({spec!r})")
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.append(start + round(position))
            position += stride
        start += size
    return sorted(set(kept))


def _positive_int(text: str, spec: str) -> int:
    """``text`` as a positive integer, or a ValueError naming the whole respacing ``spec``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(
            f"bad timestep respacing {spec!r}: expected 'ddimN', 'N' or comma-separated counts"
        )
    return value


@dataclass(frozen=True, eq=False)
class DiscreteSchedule:
    """A discrete diffusion process: float64 betas and the original timestep of each step."""

    betas: np.ndarray
    timestep_map: np.ndarray
    _tables: dict[str, ScheduleTables] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_betas(cls, betas: np.ndarray) -> DiscreteSchedule:
        """A schedule over all steps of ``betas`` (the identity timestep map)."""
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas <= 1)).all():
            raise ValueError("betas must be a 1-D array in (0, 1]")
        return cls(betas, np.arange(len(betas), dtype=np.int64))

    @classmethod
    def named(
        cls, name: ScheduleName = "linear", num_steps: int = 1000, respacing: str = ""
    ) -> DiscreteSchedule:
        """guided-diffusion's ``create_gaussian_diffusion`` schedule, respaced."""
        return cls.from_betas(named_betas(name, num_steps)).respace(respacing)

    @property
    def num_steps(self) -> int:
        """Number of steps of this (possibly respaced) process."""
        return len(self.betas)

    def respace(self, spec: str) -> DiscreteSchedule:
        """The process keeping ``space_timesteps(T, spec)`` (SpacedDiffusion, adm.md §3.2)."""
        return self.keep(space_timesteps(self.num_steps, spec))

    def keep(self, kept: Sequence[int]) -> DiscreteSchedule:
        """The process keeping the steps ``kept`` (ascending indices of this process).

        Each kept step gets ``beta = 1 - abar_i / abar_last`` so its cumulative products equal
        the original ones at the kept indices (SpacedDiffusion, adm.md §3.2).
        """
        kept = list(kept)
        if not kept or any(b <= a for a, b in itertools.pairwise(kept)) or kept[0] < 0:
            raise ValueError("kept steps must be ascending, distinct and non-negative")
        if kept[-1] >= self.num_steps:
            raise ValueError(f"kept steps must lie below {self.num_steps}")
        alphas_cumprod = np.cumprod(1.0 - self.betas)
        new_betas = []
        last = 1.0
        for index in kept:
            new_betas.append(1.0 - alphas_cumprod[index] / last)
            last = alphas_cumprod[index]
        return DiscreteSchedule(
            np.array(new_betas, dtype=np.float64), self.timestep_map[np.array(kept, dtype=np.int64)]
        )

    def log_snr_spaced(self, count: int) -> DiscreteSchedule:
        """The process keeping ``count`` steps evenly spaced in log-SNR, first and last included.

        log-SNR ``lambda = log(abar / (1 - abar))`` falls steeply near t = 0 under the linear
        schedule, so evenly spaced timesteps take huge lambda steps there; higher-order ODE
        solvers want even lambda steps (Lu et al. 2022, §3.4). Each target lambda takes the
        nearest unused step, so the count is exact.
        """
        if not 2 <= count <= self.num_steps:
            raise ValueError(f"cannot keep {count} of {self.num_steps} steps")
        alphas_cumprod = np.cumprod(1.0 - self.betas)
        lambdas = np.log(alphas_cumprod) - np.log1p(-alphas_cumprod)
        targets = np.linspace(lambdas[0], lambdas[-1], count)
        kept: list[int] = []
        for position, target in enumerate(targets):
            low = kept[-1] + 1 if kept else 0
            high = self.num_steps - (count - position)
            nearest = int(np.argmin(np.abs(lambdas[low : high + 1] - target))) + low
            kept.append(nearest)
        return self.keep(kept)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every float64 array guided-diffusion precomputes (adm.md §3.1), by its name there."""
        betas = self.betas
        alphas_cumprod = np.cumprod(1.0 - betas)
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
        alphas_cumprod_next = np.append(alphas_cumprod[1:], 0.0)
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        clipped = np.append(posterior_variance[1], posterior_variance[1:])
        fixed_large = np.append(posterior_variance[1], betas[1:])
        return {
            "betas": betas,
            "log_betas": np.log(betas),
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "alphas_cumprod_next": alphas_cumprod_next,
            "sqrt_alphas_cumprod": np.sqrt(alphas_cumprod),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - alphas_cumprod),
            "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod),
            "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / alphas_cumprod - 1),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": np.log(clipped),
            "posterior_mean_coef1": betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev)
            * np.sqrt(1.0 - betas)
            / (1.0 - alphas_cumprod),
            "fixed_large_variance": fixed_large,
            "fixed_large_log_variance": np.log(fixed_large),
        }

    def tables(self, device: torch.device | str = "cpu") -> ScheduleTables:
        """The float32 coefficient tables on ``device``, built once per schedule and device."""
        key = str(torch.device(device))
        if key not in self._tables:
            self._tables[key] = ScheduleTables.build(self, torch.device(device))
        return self._tables[key]


def at(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A table's values at steps ``t`` (one per item), broadcastable against ``like``."""
    values = table[t]
    return values.reshape(values.shape + (1,) * (like.ndim - values.ndim))


@dataclass(frozen=True)
class ScheduleTables:
    """Float32 per-step coefficients on one device, indexed by respaced step (adm.md §3.1)."""

    timestep_map: torch.Tensor
    betas: torch.Tensor
    log_betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    alphas_cumprod_next: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor
    fixed_large_variance: torch.Tensor
    fixed_large_log_variance: torch.Tensor

    @classmethod
    def build(cls, schedule: DiscreteSchedule, device: torch.device) -> ScheduleTables:
        """Cast ``schedule.arrays()`` to float32 tensors on ``device``."""
        arrays = schedule.arrays()
        tensors = {
            name: torch.from_numpy(array).to(torch.float32).to(device)
            for name, array in arrays.items()
        }
        timestep_map = torch.from_numpy(schedule.timestep_map.astype(np.int64)).to(device)
        return cls(timestep_map=timestep_map, **tensors)

    @property
    def num_steps(self) -> int:
        """Number of steps of the process."""
        return len(self.betas)
