"""The EGSDE sampler (Zhao et al. 2022, Algorithm 1), and SDEdit as its energy-free case."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from i2i_cli.diffusion.denoiser import Denoiser
from i2i_cli.diffusion.gaussian import eps_of, q_sample
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradient
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.schedule import DiscreteSchedule, at
from i2i_cli.run.progress import StepCallback, no_step


@torch.no_grad()
def sample_egsde(
    denoiser: Denoiser,
    x0: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    start_step: int,
    energies: Sequence[WeightedEnergy] = (),
    noise: NoiseSource,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """Translate sources ``x0`` by the energy-guided reverse VP-SDE from step M = ``start_step``.

    One draw ``e`` perturbs the source to ``y = q(x0, M-1; e)`` and, at every step i, gives the
    perturbed source ``x_i = q(x0, i; e)`` the energies compare against (egsde.md §1.2). Each step
    ``mean = (y - beta_i / sqrt(1 - abar_i) eps) / sqrt(alpha_i) - beta_i / sqrt(alpha_i) *
    grad_y sum_k w_k E_k(y, x_i)`` then ``y = mean + [i > 0] sigma_i z`` with the fixed-small
    posterior variance. With no energies (SDEdit) no gradient is computed at all.
    """
    tables = schedule.tables(x0.device)
    if not 1 <= start_step <= tables.num_steps:
        raise ValueError(f"start_step must lie in [1, {tables.num_steps}], got {start_step}")
    active = [energy for energy in energies if energy.weight]
    e = noise.randn_like(x0)
    first = torch.full((x0.shape[0],), start_step - 1, device=x0.device, dtype=torch.long)
    y = q_sample(tables, x0, first, e)
    for k, i in enumerate(range(start_step - 1, -1, -1)):
        t = torch.full_like(first, i)
        original_t = tables.timestep_map[t]
        beta = at(tables.betas, t, y)
        sqrt_alpha = torch.sqrt(1.0 - beta)
        eps = eps_of(tables, denoiser(y, original_t), y, t)
        mean = (y - beta / at(tables.sqrt_one_minus_alphas_cumprod, t, y) * eps) / sqrt_alpha
        if active:
            state = GuidanceState(x0, q_sample(tables, x0, t, e), t=original_t)
            mean = mean - beta / sqrt_alpha * energy_gradient(active, y, state).to(mean.dtype)
        z = noise.randn_like(y)
        sigma = torch.exp(0.5 * at(tables.posterior_log_variance_clipped, t, y))
        y = mean + (i > 0) * sigma * z
        callback({"i": k, "total": start_step, "t": i, "x": y})
    return y
