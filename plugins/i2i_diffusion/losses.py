"""The training objectives of DDPM and Improved DDPM: L_simple and L_hybrid = L_simple + λ L_vlb.

``L_simple`` (Ho et al. 2020, eq. 14) is the mean squared error between the noise and the
network's eps. A network that learns its variance (Nichol & Dhariwal 2021, §3.1) adds the
variational bound term ``L_t`` of its t (§2, eqs. 4-5, in bits per dimension): the KL between
the true posterior q(x_{t-1} | x_t, x_0) and p(x_{t-1} | x_t) for t > 0, the discretised
Gaussian decoder NLL of x_0 at t = 0. The mean is computed from the stopped-gradient eps, so the
vlb term only trains the variance (§3.1). With ``rescale`` it is weighted by T / 1000: the
paper's λ = 0.001 on L_vlb = T E_t[L_t] (improved-diffusion's RESCALED_MSE).
"""

from __future__ import annotations

import math

import torch

from i2i_cli.diffusion.denoiser import ModelOutput
from i2i_cli.diffusion.gaussian import p_mean_variance, q_posterior_mean_variance
from i2i_cli.diffusion.schedule import ScheduleTables

VLB_REFERENCE_STEPS = 1000
"""λ = 0.001 = 1 / 1000: the vlb term of one t is weighted by T / 1000."""
PIXEL_BIN = 1.0 / 255.0
"""Half the width of one 8-bit pixel bin in [-1, 1] (the decoder's discretisation)."""


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """The mean over every dimension but the batch."""
    return x.mean(dim=tuple(range(1, x.ndim)))


def normal_kl(
    mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) per element, in nats."""
    return 0.5 * (
        -1.0
        + logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Φ(x) by the tanh approximation 1/2 (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """log p(x) of 8-bit data in [-1, 1] under N(mean, e^(2 log_scale)), per element (DDPM §3.3).

    Each value owns the bin [x - 1/255, x + 1/255]; the two outermost bins extend to -inf and +inf.
    """
    centred = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = approx_standard_normal_cdf(inv_std * (centred + PIXEL_BIN))
    cdf_min = approx_standard_normal_cdf(inv_std * (centred - PIXEL_BIN))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_bin = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(
        x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_bin)
    )


def vlb_terms_bits(
    tables: ScheduleTables,
    output: ModelOutput,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
) -> torch.Tensor:
    """``L_t`` of each item in bits per dimension: the posterior KL (t > 0), decoder NLL (t = 0).

    ``output`` is the network's eps and variance values at ``(x_t, t)``; no clipping of x_0.
    """
    true_mean, _, true_log_variance = q_posterior_mean_variance(tables, x0, x_t, t)
    model = p_mean_variance(
        lambda _x, _t: output, tables, x_t, t, clip_denoised=False, fixed_variance="small"
    )
    kl = mean_flat(normal_kl(true_mean, true_log_variance, model.mean, model.log_variance))
    nll = -mean_flat(discretized_gaussian_log_likelihood(x0, model.mean, 0.5 * model.log_variance))
    return torch.where(t == 0, nll, kl) / math.log(2.0)


def diffusion_loss_terms(
    tables: ScheduleTables,
    output: ModelOutput,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    *,
    rescale: bool = True,
) -> dict[str, torch.Tensor]:
    """Per-item ``mse`` (L_simple), ``vb`` (learned variance only) and their sum ``loss``.

    The network output is read in float32; the vlb term sees the eps with its gradient stopped.
    """
    eps = output.prediction.float()
    terms = {"mse": mean_flat((noise.float() - eps) ** 2)}
    if output.variance_values is None:
        terms["loss"] = terms["mse"]
        return terms
    frozen = ModelOutput(eps.detach(), output.variance_values.float(), output.target)
    vb = vlb_terms_bits(tables, frozen, x0.float(), x_t.float(), t)
    if rescale:
        vb = vb * (tables.num_steps / VLB_REFERENCE_STEPS)
    terms["vb"] = vb
    terms["loss"] = terms["mse"] + vb
    return terms
