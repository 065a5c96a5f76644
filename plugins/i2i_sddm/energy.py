"""SDDM's energy: the VGG block-AdaIN feature gap to the source (sddm.md §4, ``cond_fn``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from i2i_cli.diffusion.guidance import EnergyFunction, GuidanceState
from i2i_cli.run.model_choice import load_for_run
from i2i_sddm.blocks import block_adain_to

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_sddm.settings import VggAdainEnergySettings


def vgg_adain_energy(encoder: Callable[[torch.Tensor], torch.Tensor], area: int) -> EnergyFunction:
    """E(x) = sum (F(x) - BAdaIN(F(x), F(y0)))^2 per item, F the encoder, y0 the clean source.

    The current sample enters as is (in [-1, 1], noisy); the target is not detached, so the
    gradient also flows through F(x)'s block moments inside it (pitfall 11).
    """

    def energy(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        state.needs("source", energy="vgg-adain")
        with torch.no_grad():
            source_features = encoder(state.source)
        features = encoder(x)
        gap = features - block_adain_to(features, source_features, area)
        return gap.pow(2).flatten(1).sum(dim=1)

    return energy


def build_vgg_adain_energy(settings: VggAdainEnergySettings, ctx: RunContext) -> EnergyFunction:
    """The energy with the configured encoder loaded for the run."""
    return vgg_adain_energy(load_for_run(settings, ctx).module, settings.area)
