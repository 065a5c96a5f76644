"""The ILVR sampler (Choi et al. 2021, Algorithm 1, as ilvr_adm implements it; sddm.md §10)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from i2i_cli.diffusion.denoiser import Denoiser
from i2i_cli.diffusion.gaussian import FixedVariance, q_sample
from i2i_cli.diffusion.guidance import WeightedEnergy, bind
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.samplers import ddpm_step
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.run.progress import StepCallback, no_step


@torch.no_grad()
def sample_ilvr(
    denoiser: Denoiser,
    reference: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    low_pass: Callable[[torch.Tensor], torch.Tensor],
    range_t: int,
    energies: Sequence[WeightedEnergy] = (),
    noise: NoiseSource,
    clip_denoised: bool = True,
    fixed_variance: FixedVariance = "large",
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """Sample from x_T ~ N(0, I), replacing the low frequencies by the reference's at each step.

    After the ancestral step at respaced index i > ``range_t``:
    ``x <- x - phi(x) + phi(q(reference, i))``, the reference noised to level i (not i-1, as
    the reference code does), its noise drawn after the step's own. ``energies`` guide each
    ancestral step's mean (they see the reference as ``source``).
    """
    tables = schedule.tables(reference.device)
    x = noise.randn(reference.shape, device=reference.device)
    steps = range(tables.num_steps - 1, -1, -1)
    energies = bind(energies, source=reference)
    for k, i in enumerate(steps):
        t = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        x, pred_x0 = ddpm_step(
            denoiser,
            tables,
            x,
            t,
            noise=noise,
            energies=energies,
            clip_denoised=clip_denoised,
            fixed_variance=fixed_variance,
        )
        if i > range_t:
            z = noise.randn(reference.shape, device=reference.device)
            x = x - low_pass(x) + low_pass(q_sample(tables, reference, t, z))
        callback({"i": k, "total": tables.num_steps, "t": i, "x": x, "denoised": pred_x0})
    return x
