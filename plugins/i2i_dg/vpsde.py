"""The VP-SDE time map DG's discriminator is trained on (dg.md §5.1: beta 0.1..20, s 0.008, T 1).

EDM denoisers live in sigma time; DG's discriminator reads VP time tau in [0, 1] and the
VP-scaled input ``mean(tau) x``. ``compute_tau`` inverts the VP sigma(t) (EDM's sigma^-1 with
beta_d = 19.9); ``marginal_prob_mean`` is ``exp(-t^2 (b1 - b0)/4 - t b0 / 2) = 1/sqrt(1+sigma^2)``.
"""

from __future__ import annotations

import math

import torch

BETA_MIN = 0.1
BETA_MAX = 20.0
COSINE_S = 0.008


def compute_tau(sigma: torch.Tensor) -> torch.Tensor:
    """tau(sigma) = (-b0 + sqrt(b0^2 + 2 (b1 - b0) ln(1 + sigma^2))) / (b1 - b0) (dg.md §5.1)."""
    spread = BETA_MAX - BETA_MIN
    return (-BETA_MIN + torch.sqrt(BETA_MIN**2 + 2 * spread * torch.log(1 + sigma**2))) / spread


def marginal_log_mean(t: torch.Tensor) -> torch.Tensor:
    """log m(t) = -t^2 (b1 - b0) / 4 - t b0 / 2, the VP marginal's log mean coefficient."""
    return -0.25 * t**2 * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN


def marginal_prob(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the VP marginal at t: ``e^{log m}`` and ``sqrt(1 - e^{2 log m})`` (§5.1)."""
    log_mean = marginal_log_mean(t)
    return torch.exp(log_mean), torch.sqrt(1.0 - torch.exp(2.0 * log_mean))


def t_cos_from_t_lin(t: torch.Tensor) -> torch.Tensor:
    """The cosine-schedule time with the linear VP mean at t (64 px classifiers, dg.md §5.1)."""
    f0 = math.cos(COSINE_S / (1 + COSINE_S) * math.pi / 2) ** 2
    mean, _ = marginal_prob(t)
    return (1 + COSINE_S) * (2 / math.pi) * torch.arccos(math.sqrt(f0) * mean) - COSINE_S
