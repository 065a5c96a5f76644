"""Closed-form Gaussian diffusion quantities (Ho et al. 2020; Nichol & Dhariwal 2021).

Pure functions of ``ScheduleTables`` and tensors; ``t`` is always the respaced step index of each
item, and networks are called with the original timestep ``tables.timestep_map[t]``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from i2i_cli.diffusion.denoiser import Denoiser, ModelOutput
from i2i_cli.diffusion.schedule import ScheduleTables, at

FixedVariance = Literal["small", "large"]


class MeanVariance(NamedTuple):
    """The reverse-step Gaussian p(x_{t-1} | x_t) and the estimates it came from."""

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor
    pred_x0: torch.Tensor
    model_output: ModelOutput


def q_sample(
    tables: ScheduleTables, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) for given noise (DDPM eq. 4)."""
    return (
        at(tables.sqrt_alphas_cumprod, t, x0) * x0
        + at(tables.sqrt_one_minus_alphas_cumprod, t, x0) * noise
    )


def q_posterior_mean_variance(
    tables: ScheduleTables, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, variance and clipped log variance of q(x_{t-1} | x_t, x_0) (DDPM eqs. 6-7)."""
    mean = (
        at(tables.posterior_mean_coef1, t, x_t) * x0 + at(tables.posterior_mean_coef2, t, x_t) * x_t
    )
    variance = at(tables.posterior_variance, t, x_t)
    log_variance = at(tables.posterior_log_variance_clipped, t, x_t)
    return mean, variance.expand_as(x_t), log_variance.expand_as(x_t)


def x0_from_eps(
    tables: ScheduleTables, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """x_0 = sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps (inverse of DDPM eq. 4)."""
    return (
        at(tables.sqrt_recip_alphas_cumprod, t, x_t) * x_t
        - at(tables.sqrt_recipm1_alphas_cumprod, t, x_t) * eps
    )


def eps_from_x0(
    tables: ScheduleTables, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor
) -> torch.Tensor:
    """eps = (sqrt(1/abar_t) x_t - x_0) / sqrt(1/abar_t - 1)."""
    scaled = at(tables.sqrt_recip_alphas_cumprod, t, x_t) * x_t
    return (scaled - x0) / at(tables.sqrt_recipm1_alphas_cumprod, t, x_t)


def x0_of(
    tables: ScheduleTables, output: ModelOutput, x_t: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """The x_0 estimate of an output of any discrete target: x0 as is, eps through eq. 4."""
    if output.target == "eps":
        return x0_from_eps(tables, x_t, t, output.prediction)
    if output.target == "x0":
        return output.prediction
    raise ValueError(f"a backbone predicting {output.target!r} has no x_0 reading here")


def eps_of(
    tables: ScheduleTables, output: ModelOutput, x_t: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """The eps estimate of an output of any discrete target: eps as is, x0 through eq. 4."""
    if output.target == "eps":
        return output.prediction
    if output.target == "x0":
        return eps_from_x0(tables, x_t, t, output.prediction)
    raise ValueError(f"a backbone predicting {output.target!r} has no eps reading here")


def model_log_variance(
    tables: ScheduleTables,
    output: ModelOutput,
    x_t: torch.Tensor,
    t: torch.Tensor,
    fixed_variance: FixedVariance,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reverse-step variance and its log: learned range (Improved DDPM eq. 15) or fixed.

    Learned: ``log s2 = f log beta_t + (1 - f) log beta~_t`` with ``f = (v + 1) / 2``.
    Fixed small: beta~_t (clipped log). Fixed large: ``[beta~_1, beta_1, ..., beta_T-1]``.
    """
    if output.variance_values is not None:
        min_log = at(tables.posterior_log_variance_clipped, t, x_t)
        max_log = at(tables.log_betas, t, x_t)
        fraction = (output.variance_values + 1) / 2
        log_variance = fraction * max_log + (1 - fraction) * min_log
        return torch.exp(log_variance), log_variance
    if fixed_variance == "small":
        variance = at(tables.posterior_variance, t, x_t)
        log_variance = at(tables.posterior_log_variance_clipped, t, x_t)
    else:
        variance = at(tables.fixed_large_variance, t, x_t)
        log_variance = at(tables.fixed_large_log_variance, t, x_t)
    return variance.expand_as(x_t), log_variance.expand_as(x_t)


def p_mean_variance(
    denoiser: Denoiser,
    tables: ScheduleTables,
    x_t: torch.Tensor,
    t: torch.Tensor,
    *,
    clip_denoised: bool = True,
    fixed_variance: FixedVariance = "large",
) -> MeanVariance:
    """p(x_{t-1} | x_t) from one network evaluation at the original timestep (adm.md §3.3)."""
    output = denoiser(x_t, tables.timestep_map[t])
    variance, log_variance = model_log_variance(tables, output, x_t, t, fixed_variance)
    pred_x0 = x0_of(tables, output, x_t, t)
    if clip_denoised:
        pred_x0 = pred_x0.clamp(-1, 1)
    mean, _, _ = q_posterior_mean_variance(tables, pred_x0, x_t, t)
    return MeanVariance(mean, variance, log_variance, pred_x0, output)
