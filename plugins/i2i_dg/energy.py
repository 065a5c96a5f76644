"""DG's correction as an energy: E(x; sigma) = -log d/(1-d) of the discriminator (dg.md §4).

With weight w, a sigma-time sampler's guided denoised ``D - w sigma^2 grad_x E`` moves the ODE
derivative by ``d += w g / sigma`` with DG's ``g = -sigma^2 grad_x log d/(1-d)``: exactly the
first-order DG term of ``DG/generate.py``. The energy reads ``state.sigma`` per item (and
``state.labels`` for the conditional head); outside DG's time window (batch minimum of tau,
dg.md pitfall 2) it is the constant -1e7, whose gradient is zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from i2i_cli.diffusion.guidance import EnergyFunction, GuidanceState
from i2i_cli.run.model_choice import load_for_run
from i2i_dg.discriminator import (
    SKIPPED_LOG_RATIO,
    Discriminator,
    clipped_log_ratio,
    in_window,
    vp_input,
)

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_dg.settings import DiscriminatorEnergySettings


def discriminator_energy(
    discriminator: Discriminator,
    *,
    time_min: float = 0.01,
    time_max: float = 1.0,
    cond: bool = False,
    img_resolution: int = 32,
) -> EnergyFunction:
    """E(y, state) = -log d/(1-d) at (y, state.sigma), clipped as DG (dg.md §5.2), (B,)."""

    def energy(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        state.needs("sigma", energy="discriminator")
        if cond:
            state.needs("labels", energy="discriminator")
        assert state.sigma is not None
        sigma = state.sigma.reshape(-1).expand(y.shape[0])
        if not in_window(sigma, time_min, time_max):
            return y.new_full((y.shape[0],), -SKIPPED_LOG_RATIO)
        x_vp, tau, _ = vp_input(y, sigma, img_resolution)
        labels = state.labels if cond else None
        return -clipped_log_ratio(discriminator(x_vp, tau, labels))

    return energy


def build_discriminator_energy(
    settings: DiscriminatorEnergySettings, ctx: RunContext
) -> EnergyFunction:
    """The ``discriminator`` energy of ``settings``: head and extractor loaded once for the run."""
    head = load_for_run(settings, ctx)
    choice = settings.extractor()
    extractor = None if choice is None else load_for_run(choice, ctx)
    module = None if extractor is None else extractor.module
    discriminator = Discriminator(module, head.module).eval().requires_grad_(False)
    resolution = 0 if extractor is None else int(getattr(extractor.settings, "image_size", 32))
    return discriminator_energy(
        discriminator,
        time_min=settings.time_min,
        time_max=settings.time_max,
        cond=settings.cond,
        img_resolution=resolution,
    )
