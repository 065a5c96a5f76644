"""Energy guidance shared by every method: weighted energies, their values and fp32 gradients.

An energy plugin's ``build(settings, ctx)`` returns an ``EnergyFunction``: one energy value per
batch item for the current sample ``y`` given a ``GuidanceState``. Lower energy is preferred:
every sampler moves the score by ``-grad_y sum_k w_k E_k`` (EGSDE's realism and faithfulness
terms, classifier guidance as ``E = -log p(y | x_t)``, DG's ``E = -log d/(1-d)``). Methods
combine energies with weights (``energy_gradient``) or take them one by one with their values
(``energy_gradients``: SDDM's Frank-Wolfe, DG's boosting); ``bind`` gives them what the method
knows (class labels, the source) beside the sampler's time. Gradients are always taken in float32
with autocast off, whatever the run's precision, so mixed precision never degrades guidance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace

import torch

from i2i_cli.base.errors import UsageError


@dataclass(frozen=True)
class GuidanceState:
    """What an energy may look at besides the current sample, at one sampler step.

    Every field is optional: a sampler fills in its time (``t`` or ``sigma``), a method what it
    has (the source of a translation, class labels); an energy reads what it needs.
    """

    source: torch.Tensor | None = None
    """The source images x_0 being translated, in [-1, 1]."""
    perturbed_source: torch.Tensor | None = None
    """The source noised to the current level with the run's noise (EGSDE's x_t of x_0)."""
    t: torch.Tensor | None = None
    """The original-process timestep of each item (index-time samplers)."""
    sigma: torch.Tensor | None = None
    """The noise level of each item (sigma-time samplers)."""
    labels: torch.Tensor | None = None
    """Class labels of each item (classifier guidance toward a class, class-conditional DG)."""

    def at(self, **step: torch.Tensor | None) -> GuidanceState:
        """This state with the step's fields (``t``, ``sigma``, ``perturbed_source``) set."""
        return replace(self, **step)

    def float32(self) -> GuidanceState:
        """Floating tensors cast to float32 (time indices and labels kept as they are)."""
        cast = {}
        for name in ("source", "perturbed_source", "sigma"):
            value = getattr(self, name)
            if value is not None and value.is_floating_point():
                cast[name] = value.float()
        return replace(self, **cast)

    def needs(self, *names: str, energy: str) -> None:
        """One usage line unless every field in ``names`` is set (what ``energy`` reads)."""
        known = {f.name for f in fields(self)}
        missing = [n for n in names if n not in known or getattr(self, n) is None]
        if missing:
            raise UsageError(
                f"energy {energy} needs {', '.join(missing)}, which this method does not give it"
            )


EnergyFunction = Callable[[torch.Tensor, GuidanceState], torch.Tensor]
"""``energy(y, state) -> (B,)``: one differentiable energy value per batch item."""


@dataclass(frozen=True)
class WeightedEnergy:
    """An energy with the weight a method applies to its gradient (e.g. EGSDE's lambda_s)."""

    name: str
    weight: float
    function: EnergyFunction


def bind(energies: Sequence[WeightedEnergy], **fields: torch.Tensor) -> list[WeightedEnergy]:
    """The energies seeing ``fields`` (what a method knows for the whole batch: ``labels``,
    ``source``) in every state a sampler gives them, beside the sampler's own ``t``/``sigma``."""

    def bound(energy: WeightedEnergy) -> WeightedEnergy:
        def function(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
            return energy.function(y, state.at(**fields))

        return WeightedEnergy(energy.name, energy.weight, function)

    return [bound(energy) for energy in energies]


@dataclass(frozen=True)
class EnergyGradient:
    """One energy's per-item value E(y) (B,) and its gradient grad_y E, both unweighted."""

    name: str
    weight: float
    value: torch.Tensor
    gradient: torch.Tensor


def energy_gradients(
    energies: Sequence[WeightedEnergy], y: torch.Tensor, state: GuidanceState
) -> list[EnergyGradient]:
    """Each energy's value and gradient grad_y E_k(y, state), in float32 with autocast off.

    One backward pass per energy; item b's gradient depends only on item b (per-item energies
    are summed over the batch before differentiation). Zero-weight energies are skipped.
    """
    results = []
    with torch.enable_grad(), torch.autocast(y.device.type, enabled=False):
        state32 = state.float32()
        for energy in energies:
            if not energy.weight:
                continue
            point = y.detach().float().requires_grad_(True)
            value = energy.function(point, state32).float()
            if value.requires_grad:
                (gradient,) = torch.autograd.grad(value.sum(), point)
            else:
                gradient = torch.zeros_like(point)
            results.append(EnergyGradient(energy.name, energy.weight, value.detach(), gradient))
    return results


def energy_gradient(
    energies: Sequence[WeightedEnergy], y: torch.Tensor, state: GuidanceState
) -> torch.Tensor:
    """grad_y sum_k w_k sum_b E_k(y, state)_b, in float32 with autocast disabled.

    Per-item energies are summed over the batch before differentiation, so item b's gradient
    depends only on item b. One backward pass serves every energy.
    """
    with torch.enable_grad(), torch.autocast(y.device.type, enabled=False):
        point = y.detach().float().requires_grad_(True)
        state32 = state.float32()
        total = sum(
            (e.weight * e.function(point, state32).float().sum() for e in energies if e.weight),
            start=torch.zeros((), device=y.device),
        )
        if not total.requires_grad:
            return torch.zeros_like(point)
        (gradient,) = torch.autograd.grad(total, point)
    return gradient
