"""Energy guidance shared by every method: weighted energies and their fp32 gradient.

An energy plugin's ``build(settings, ctx)`` returns an ``EnergyFunction``: one energy value per
batch item for the current sample ``y`` given a ``GuidanceState``. Methods combine any list of
them with weights; the gradient is always taken in float32 with autocast off, whatever the
run's precision, so mixed precision never degrades guidance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GuidanceState:
    """What an energy may look at besides the current sample, at one sampler step."""

    source: torch.Tensor
    """The source images x_0 being translated, in [-1, 1]."""
    perturbed_source: torch.Tensor
    """The source noised to the current level with the run's noise (EGSDE's x_t of x_0)."""
    t: torch.Tensor
    """The original-process timestep of each item (what time-conditioned networks receive)."""


EnergyFunction = Callable[[torch.Tensor, GuidanceState], torch.Tensor]
"""``energy(y, state) -> (B,)``: one differentiable energy value per batch item."""


@dataclass(frozen=True)
class WeightedEnergy:
    """An energy with the weight a method applies to its gradient (e.g. EGSDE's lambda_s)."""

    name: str
    weight: float
    function: EnergyFunction


def energy_gradient(
    energies: Sequence[WeightedEnergy], y: torch.Tensor, state: GuidanceState
) -> torch.Tensor:
    """grad_y sum_k w_k sum_b E_k(y, state)_b, in float32 with autocast disabled.

    Per-item energies are summed over the batch before differentiation, so item b's gradient
    depends only on item b. One backward pass serves every energy.
    """
    device_type = y.device.type
    with torch.enable_grad(), torch.autocast(device_type, enabled=False):
        point = y.detach().float().requires_grad_(True)
        state32 = GuidanceState(state.source.float(), state.perturbed_source.float(), state.t)
        total = sum(
            (e.weight * e.function(point, state32).float().sum() for e in energies if e.weight),
            start=torch.zeros((), device=y.device),
        )
        if not total.requires_grad:
            return torch.zeros_like(point)
        (gradient,) = torch.autograd.grad(total, point)
    return gradient
