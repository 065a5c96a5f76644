"""DDPM ancestral and DDIM steps, both directions, and their loops: pure functions.

Every random draw goes through the injected ``NoiseSource``; nothing here owns an RNG. A step
takes the respaced step index ``t`` of each item; networks and energies receive the original
timestep ``tables.timestep_map[t]`` (guided-diffusion's SpacedDiffusion, adm.md §3.4). Guidance
is a list of energies (``i2i_cli.diffusion.guidance``): the ancestral step shifts its mean by
``-Sigma grad E`` (guided-diffusion's ``condition_mean``), the DDIM step its eps by
``+sqrt(1 - abar) grad E`` (``condition_score``). Each loop's callback receives ``x``, ``i``,
``total``, ``t`` (the respaced step) and ``denoised`` (the x_0 estimate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import torch

from i2i_cli.diffusion.denoiser import Denoiser
from i2i_cli.diffusion.gaussian import (
    FixedVariance,
    MeanVariance,
    eps_from_x0,
    p_mean_variance,
    x0_from_eps,
)
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradient
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.schedule import DiscreteSchedule, ScheduleTables, at
from i2i_cli.diffusion.steps import StepCallback, no_step


class StepResult(NamedTuple):
    """One reverse (or forward) step: the new state and the x_0 estimate it used."""

    sample: torch.Tensor
    pred_x0: torch.Tensor


def _nonzero_mask(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """1 for items not at step 0, 0 for those at it, broadcastable against ``like``."""
    return (t != 0).to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def guided_mean(
    out: MeanVariance,
    energies: Sequence[WeightedEnergy],
    x: torch.Tensor,
    state: GuidanceState,
) -> torch.Tensor:
    """Guided mean mu - Sigma grad E(x_t) (Dhariwal & Nichol 2021, Algorithm 1, E = -log p)."""
    return out.mean.float() - out.variance * energy_gradient(energies, x, state).float()


def guided_x0(
    tables: ScheduleTables,
    out: MeanVariance,
    energies: Sequence[WeightedEnergy],
    x: torch.Tensor,
    t: torch.Tensor,
    state: GuidanceState,
) -> torch.Tensor:
    """Guidance on the score: eps' = eps + sqrt(1 - abar_t) grad E(x_t) (Algorithm 2).

    Returns the x_0 estimate recomputed from eps' (not clipped again, as the reference does).
    """
    eps = eps_from_x0(tables, x, t, out.pred_x0)
    gradient = energy_gradient(energies, x, state)
    eps = eps + (1 - at(tables.alphas_cumprod, t, x)).sqrt() * gradient
    return x0_from_eps(tables, x, t, eps)


def step_state(tables: ScheduleTables, t: torch.Tensor) -> GuidanceState:
    """What energies see at respaced steps ``t``: the original timestep of each item."""
    return GuidanceState(t=tables.timestep_map[t])


def ddpm_step(
    denoiser: Denoiser,
    tables: ScheduleTables,
    x: torch.Tensor,
    t: torch.Tensor,
    *,
    noise: NoiseSource,
    energies: Sequence[WeightedEnergy] = (),
    clip_denoised: bool = True,
    fixed_variance: FixedVariance = "large",
) -> StepResult:
    """One ancestral step x_{t-1} = mu + [t > 0] sigma z (DDPM Algorithm 2; adm.md §3.4).

    Draws one Gaussian per call, also at t = 0, as guided-diffusion's ``p_sample`` does.
    """
    out = p_mean_variance(
        denoiser, tables, x, t, clip_denoised=clip_denoised, fixed_variance=fixed_variance
    )
    z = noise.randn_like(x)
    mean = out.mean
    if energies:
        mean = guided_mean(out, energies, x, step_state(tables, t))
    sample = mean + _nonzero_mask(t, x) * torch.exp(0.5 * out.log_variance) * z
    return StepResult(sample, out.pred_x0)


def ddim_step(
    denoiser: Denoiser,
    tables: ScheduleTables,
    x: torch.Tensor,
    t: torch.Tensor,
    *,
    eta: float = 0.0,
    noise: NoiseSource,
    energies: Sequence[WeightedEnergy] = (),
    clip_denoised: bool = True,
) -> StepResult:
    """One DDIM step with stochasticity ``eta`` (Song et al. 2021, eq. 12; adm.md §3.4).

    ``x_{t-1} = x0 sqrt(abar_prev) + sqrt(1 - abar_prev - s^2) eps + [t > 0] s z`` with
    ``s = eta sqrt((1 - abar_prev)/(1 - abar)) sqrt(1 - abar/abar_prev)``. Draws one Gaussian
    per call even for eta = 0, so its noise stream matches guided-diffusion's.
    """
    out = p_mean_variance(denoiser, tables, x, t, clip_denoised=clip_denoised)
    pred_x0 = out.pred_x0
    if energies:
        pred_x0 = guided_x0(tables, out, energies, x, t, step_state(tables, t))
    eps = eps_from_x0(tables, x, t, pred_x0)
    alpha_bar = at(tables.alphas_cumprod, t, x)
    alpha_bar_prev = at(tables.alphas_cumprod_prev, t, x)
    sigma = (
        eta
        * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar))
        * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
    )
    z = noise.randn_like(x)
    mean = pred_x0 * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma**2) * eps
    return StepResult(mean + _nonzero_mask(t, x) * sigma * z, pred_x0)


def ddim_reverse_step(
    denoiser: Denoiser,
    tables: ScheduleTables,
    x: torch.Tensor,
    t: torch.Tensor,
    *,
    clip_denoised: bool = False,
) -> StepResult:
    """One deterministic DDIM encoding step x_t -> x_{t+1} (the reverse ODE; DDIB eq. 5).

    ``x_{t+1} = x0 sqrt(abar_next) + sqrt(1 - abar_next) eps``, eps re-derived from x0. No noise.
    """
    out = p_mean_variance(denoiser, tables, x, t, clip_denoised=clip_denoised)
    eps = eps_from_x0(tables, x, t, out.pred_x0)
    alpha_bar_next = at(tables.alphas_cumprod_next, t, x)
    sample = out.pred_x0 * torch.sqrt(alpha_bar_next) + torch.sqrt(1 - alpha_bar_next) * eps
    return StepResult(sample, out.pred_x0)


def _steps(tables: ScheduleTables, steps: Sequence[int] | None, descending: bool) -> list[int]:
    """The respaced step indices a loop visits (all of them by default), checked."""
    if steps is None:
        ordered = range(tables.num_steps)
        return list(reversed(ordered)) if descending else list(ordered)
    steps = list(steps)
    if any(not 0 <= s < tables.num_steps for s in steps):
        raise ValueError(f"steps must lie in [0, {tables.num_steps - 1}]")
    return steps


def _step_tensor(step: int, x: torch.Tensor) -> torch.Tensor:
    """The respaced index ``step`` for every item of ``x``."""
    return torch.full((x.shape[0],), step, device=x.device, dtype=torch.long)


StepFunction = Callable[..., StepResult]
"""``step(denoiser, tables, x, t, **options) -> StepResult``: one of the steps above."""


def run_steps(
    step: StepFunction,
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    steps: Sequence[int] | None,
    callback: StepCallback,
    *,
    descending: bool,
) -> torch.Tensor:
    """``step`` at each visited respaced step, reporting ``x, i, total, t, denoised`` each time."""
    tables = schedule.tables(x.device)
    visit = _steps(tables, steps, descending)
    for i, index in enumerate(visit):
        result = step(denoiser, tables, x, _step_tensor(index, x))
        x = result.sample
        callback({"x": x, "i": i, "total": len(visit), "t": index, "denoised": result.pred_x0})
    return x


def run_guided(
    step: StepFunction,
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    energies: Sequence[WeightedEnergy],
    noise: NoiseSource,
    steps: Sequence[int] | None,
    callback: StepCallback,
) -> torch.Tensor:
    """``step`` down the chain (default T-1 ... 0), each time with the energies and the noise."""
    guided = partial(step, noise=noise, energies=energies)
    return run_steps(guided, denoiser, x, schedule, steps, callback, descending=True)


@torch.no_grad()
def sample_ddpm(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    energies: Sequence[WeightedEnergy] = (),
    noise: NoiseSource,
    steps: Sequence[int] | None = None,
    clip_denoised: bool = True,
    fixed_variance: FixedVariance = "large",
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """Ancestral sampling from ``x`` at the first of ``steps`` (default: all, T-1 ... 0)."""
    step = partial(ddpm_step, clip_denoised=clip_denoised, fixed_variance=fixed_variance)
    return run_guided(
        step, denoiser, x, schedule, energies=energies, noise=noise, steps=steps, callback=callback
    )


@torch.no_grad()
def encode_ddim(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    steps: Sequence[int] | None = None,
    clip_denoised: bool = False,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """Deterministic DDIM encoding x_0 -> x_T through the reverse ODE (default: 0 ... T-1)."""
    step = partial(ddim_reverse_step, clip_denoised=clip_denoised)
    return run_steps(step, denoiser, x, schedule, steps, callback, descending=False)


@torch.no_grad()
def sample_ddim(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    energies: Sequence[WeightedEnergy] = (),
    noise: NoiseSource,
    eta: float = 0.0,
    steps: Sequence[int] | None = None,
    clip_denoised: bool = True,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """DDIM sampling (decoding) from ``x`` at the first of ``steps`` (default: T-1 ... 0)."""
    step = partial(ddim_step, eta=eta, clip_denoised=clip_denoised)
    return run_guided(
        step, denoiser, x, schedule, energies=energies, noise=noise, steps=steps, callback=callback
    )
