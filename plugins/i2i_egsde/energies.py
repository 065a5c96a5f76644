"""The DSE (realism) and low-pass (faithfulness) energies of EGSDE (egsde.md §1.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from i2i_cli.diffusion.guidance import EnergyFunction, GuidanceState
from i2i_cli.io.resizer import LowPassFilter
from i2i_cli.run.model_choice import load_for_run

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_egsde.settings import DSEEnergySettings, LowPassEnergySettings


def positionwise_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over positions of the channel cosine at each position (not of flattened maps).

    Each position's C-vector is divided by ``max(norm, 1e-10)`` (egsde.md pitfall 4).
    """
    a = F.normalize(a.flatten(2), dim=1, eps=1e-10)
    b = F.normalize(b.flatten(2), dim=1, eps=1e-10)
    return (a * b).sum(dim=1).mean(dim=1)


def squared_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-item sum of squared differences over every non-batch dim."""
    return (a - b).pow(2).flatten(1).sum(dim=1)


def build_dse_energy(settings: DSEEnergySettings, ctx: RunContext) -> EnergyFunction:
    """E_s(y) = cos(DSE(y, t), DSE(x_t, t)) (or minus the squared feature distance)."""
    extractor = load_for_run(settings, ctx).module

    def energy(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        state.needs("perturbed_source", "t", energy="dse")
        with torch.no_grad():
            source_features = extractor.features(state.perturbed_source, state.t)
        features = extractor.features(y, state.t)
        if settings.similarity == "cosine":
            return positionwise_cosine(features, source_features)
        return -squared_distance(features, source_features)

    return energy


def build_lowpass_energy(settings: LowPassEnergySettings, ctx: RunContext) -> EnergyFunction:
    """E_i(y) = sum ||LP(x_t) - LP(y)||^2 per image (or minus the low-passed images' cosine)."""
    filters: dict[tuple[int, int], LowPassFilter] = {}

    def energy(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        state.needs("perturbed_source", energy="lowpass")
        size = (y.shape[-2], y.shape[-1])
        if size not in filters:
            filters[size] = LowPassFilter(*size, settings.factor, settings.kernel)
        low_pass = filters[size]
        with torch.no_grad():
            target = low_pass(state.perturbed_source)
        if settings.distance == "l2":
            return squared_distance(target, low_pass(y))
        return -F.cosine_similarity(target.flatten(1), low_pass(y).flatten(1), dim=1)

    return energy
