"""DG's guided EDM sampler (EDM-G++, ``DG/generate.py:edm_sampler``; dg.md §4).

EDM's Heun loop (``i2i_cli.diffusion.karras``) with the churn made per item: every
``BOOST_PERIOD`` steps, items whose previous log-ratio is negative are re-noised with
S_churn = 4, S_noise = 1 (boosting), and on even steps their DG correction is doubled. The
correction is the ``discriminator`` energy's: with E = -log d/(1-d), DG's
``g = -sigma^2 grad log d/(1-d) = sigma^2 grad E`` enters the Euler derivative as
``d += w1 g / t_hat`` at the per-item level t_hat. The second-order DG term is not supported
(``w2 != 0`` crashes in the reference, dg.md pitfall 8): the Heun correction is unguided.
"""

from __future__ import annotations

import math

import torch

from i2i_cli.diffusion.denoiser import SigmaDenoiser
from i2i_cli.diffusion.guidance import (
    EnergyFunction,
    GuidanceState,
    WeightedEnergy,
    energy_gradients,
)
from i2i_cli.diffusion.karras import MAX_GAMMA, RoundSigma, to_d
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.run.progress import StepCallback, no_step

BOOST_CHURN = 4.0
"""S_churn of a boosted item (``S_churn_manual``)."""
BOOST_NOISE = 1.0
"""S_noise of a boosted item (``S_noise_manual``)."""
BOOST_PERIOD = 5
"""Boosted re-noising happens on steps i % 5 == 0 (``period``)."""
BOOST_WEIGHT_PERIOD = 2
"""The correction of low-ratio items doubles on steps i % 2 == 0 (``period_weight``)."""


def per_item(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-item vector (B,) shaped to broadcast over ``x`` (B, ...)."""
    return values.reshape(-1, *[1] * (x.ndim - 1))


def boosted_churn(
    log_ratio: torch.Tensor, s_churn: float, s_noise: float, step: int, boosting: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-item (S_churn, S_noise), float32: (4, 1) for boosted items on steps i % 5 == 0.

    An item is boosted when its log-ratio from the previous step's DG evaluation is negative
    (+inf before the first step, 1e7 after a step outside the time window; dg.md pitfall 3).
    """
    churn = torch.full(log_ratio.shape, s_churn, dtype=torch.float32, device=log_ratio.device)
    noise = torch.full(log_ratio.shape, s_noise, dtype=torch.float32, device=log_ratio.device)
    if boosting and step % BOOST_PERIOD == 0:
        low = log_ratio < 0  # torch.where: a masked assignment would wait for the device
        churn = torch.where(low, BOOST_CHURN, churn)
        noise = torch.where(low, BOOST_NOISE, noise)
    return churn, noise


def dg_correction(
    discriminator: EnergyFunction, x_hat: torch.Tensor, sigma_hat: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(g, log_ratio) at (x_hat, t_hat): g = sigma^2 grad_x E = -sigma^2 grad log d/(1-d)."""
    (result,) = energy_gradients(
        [WeightedEnergy("discriminator", 1.0, discriminator)],
        x_hat,
        GuidanceState(sigma=sigma_hat),
    )
    g = per_item(sigma_hat**2, x_hat) * result.gradient.to(x_hat.dtype)
    return g, -result.value


@torch.no_grad()
def sample_dg(
    denoiser: SigmaDenoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    discriminator: EnergyFunction | None = None,
    w1: float = 2.0,
    w2: float = 0.0,
    noise: NoiseSource,
    callback: StepCallback = no_step,
    boosting: bool = False,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    round_sigma: RoundSigma | None = None,
) -> torch.Tensor:
    """EDM-G++: EDM's Heun sampler with DG's first-order correction and boosting (dg.md §4).

    ``x`` is the start state at ``sigmas[0]`` (float64 in the reference), ``sigmas`` a Karras
    grid ending in 0. Per step i: per-item gamma = min(S_churn_b / N, sqrt(2) - 1) (when
    S_min <= sigma_i <= S_max), t_hat = sigma_i (1 + gamma), x_hat = x_i + sqrt(t_hat^2 -
    sigma_i^2) S_noise_b eps (eps drawn every step); d = (x_hat - D(x_hat; t_hat)) / t_hat
    + w1 g / t_hat with g doubled for items of negative log-ratio on even steps when
    ``boosting``; Euler to sigma_{i+1}, then Heun's unguided correction where sigma_{i+1} > 0.
    ``discriminator`` is the ``discriminator`` energy bound to the run's labels (None or
    ``w1 = 0``: plain EDM with vector sigma). The callback also receives ``log_ratio`` and
    ``x_hat`` and ``guidance`` (g before boosting, None when unguided).
    """
    if w2:
        raise ValueError("DG's second-order weight is not supported (it crashes in DG itself)")
    levels = [float(s) for s in sigmas.double().tolist()]
    total = len(levels) - 1
    batch = x.shape[0]
    log_ratio = torch.full((batch,), math.inf, device=x.device)
    cap = torch.full((batch,), MAX_GAMMA, dtype=torch.float64, device=x.device)
    for i in range(total):
        sigma, sigma_next = levels[i], levels[i + 1]
        churn, noise_scale = boosted_churn(log_ratio, s_churn, s_noise, i, boosting)
        gamma = torch.minimum(churn / total, cap) if s_tmin <= sigma <= s_tmax else 0 * cap
        sigma_hat = sigma + gamma * sigma
        if round_sigma is not None:
            sigma_hat = round_sigma(sigma_hat).to(torch.float64)
        eps = noise.randn_like(x)
        scale = (sigma_hat**2 - sigma**2).sqrt()
        x_hat = x + per_item(scale, x) * per_item(noise_scale, x) * eps

        # Euler step, with DG's first-order correction.
        denoised = denoiser(x_hat, sigma_hat).to(x.dtype)
        d = to_d(x_hat, sigma_hat, denoised)
        guidance = None
        if discriminator is not None and w1:
            guidance, log_ratio = dg_correction(discriminator, x_hat, sigma_hat)
            boost = torch.ones_like(log_ratio)
            if boosting and i % BOOST_WEIGHT_PERIOD == 0:
                boost = torch.where(log_ratio < 0, 2.0, boost)
            d = d + w1 * per_item(boost.to(x.dtype), x) * guidance / per_item(sigma_hat, x)
        x = x_hat + per_item(sigma_next - sigma_hat, x) * d

        # Apply 2nd order correction (unguided).
        if sigma_next > 0:
            sigma_in = x.new_full((batch,), sigma_next)
            d_prime = to_d(x, sigma_next, denoiser(x, sigma_in).to(x.dtype))
            x = x_hat + per_item(sigma_next - sigma_hat, x) * (0.5 * d + 0.5 * d_prime)
        info = {
            "x": x,
            "x_hat": x_hat,
            "i": i,
            "total": total,
            "sigma": sigma,
            "sigma_hat": sigma_hat,
        }
        callback({**info, "denoised": denoised, "log_ratio": log_ratio, "guidance": guidance})
    return x
