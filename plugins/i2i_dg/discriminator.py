"""DG's discriminator d(x_t, tau) and the log density ratio's gradient (dg.md §5.2, §5.3).

The discriminator is a frozen ADM noisy classifier used as a feature extractor (its
``features(x, timesteps)``, the middle-block map) under DG's small trained head
(``DiscriminatorHead``). Both read the VP time tau scaled by 999; the input is the EDM-space
state mapped into VP space, ``x_vp = mean(tau) x``. ``grad_log_ratio`` is DG's
``get_grad_log_ratio`` operation for operation, including its float64/float32 handling.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from i2i_dg.head import TIME_SCALE
from i2i_dg.vpsde import compute_tau, marginal_prob, t_cos_from_t_lin

PROBABILITY_CLIP = 1e-5
"""Predictions are clipped to [1e-5, 1 - 1e-5] before the logit (dg.md pitfall 7)."""
SKIPPED_LOG_RATIO = 1e7
"""The log-ratio DG reports for a batch outside its time window (dg.md §5.2 step 2)."""


class FeatureExtractor(Protocol):
    """A noisy classifier whose middle-block map is read (the ADM classifier's ``features``)."""

    def features(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor: ...


class Discriminator(nn.Module):
    """d(x_vp, tau) = sigmoid(head(extractor.features(x_vp, 999 tau), tau, labels)) (§5.3).

    Without an extractor (DG on 2-D points) the head reads ``x_vp`` itself.
    """

    def __init__(self, extractor: nn.Module | None, head: nn.Module) -> None:
        super().__init__()
        if extractor is not None and not callable(getattr(extractor, "features", None)):
            raise TypeError("the feature extractor has no features(x, timesteps) method")
        self.extractor = extractor
        self.head = head

    def features(self, x_vp: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """The extractor's middle-block features at DG's network time 999 tau (or ``x_vp``)."""
        return read_features(self.extractor, x_vp, tau)

    def forward(
        self, x_vp: torch.Tensor, tau: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pre-sigmoid logits (B, 1) of VP-space inputs ``x_vp`` at VP times ``tau``."""
        return self.head(self.features(x_vp, tau), tau, labels)


def read_features(
    extractor: nn.Module | None, x_vp: torch.Tensor, tau: torch.Tensor
) -> torch.Tensor:
    """What the head reads: the extractor's features at network time 999 tau, else ``x_vp``."""
    if extractor is None:
        return x_vp
    return extractor.features(x_vp, tau * TIME_SCALE)  # type: ignore[operator]


def clipped_log_ratio(logits: torch.Tensor) -> torch.Tensor:
    """log(p / (1 - p)) with p = clip(sigmoid(logits), 1e-5, 1 - 1e-5), flattened to (B,)."""
    p = torch.sigmoid(logits).reshape(-1).clamp(PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return torch.log(p / (1 - p))


def vp_input(
    x: torch.Tensor, sigma: torch.Tensor, img_resolution: int = 32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_vp, network tau, mean): tau(sigma), m = mean(tau), x_vp = float32(m x) (§5.2 1, 3).

    ``sigma`` is per item; tau and m are computed in float64. For 64 px classifiers the
    networks read the cosine-schedule time while the input keeps the linear-VP mean.
    """
    sigma64 = sigma.to(torch.float64).reshape(-1)
    tau = compute_tau(sigma64)
    mean, _ = marginal_prob(tau)
    x_vp = (mean.reshape(-1, *[1] * (x.ndim - 1)) * x.to(torch.float64)).float()
    network_tau = t_cos_from_t_lin(tau) if img_resolution == 64 else tau
    return x_vp, network_tau, mean


def in_window(sigma: torch.Tensor, time_min: float, time_max: float) -> bool:
    """Whether DG guides this batch: time_min <= min(tau(sigma)) <= time_max (pitfall 2)."""
    tau_min = float(compute_tau(sigma.to(torch.float64)).min())
    return time_min <= tau_min <= time_max


def grad_log_ratio(
    discriminator: Discriminator | None,
    x: torch.Tensor,
    sigma: torch.Tensor,
    *,
    time_min: float = 0.01,
    time_max: float = 1.0,
    labels: torch.Tensor | None = None,
    img_resolution: int = 32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DG's ``get_grad_log_ratio(..., log=True)``: (g, log_ratio), g = -sigma^2 grad_x log d/(1-d).

    dg.md §5.2: outside the window (batch minimum of tau) or without a discriminator, g is
    float64 zeros and log_ratio 1e7 for every item. Otherwise the gradient is taken w.r.t. the
    float32 ``x_vp`` and multiplied in place by ``-(sigma^2 m)``, so g stays float32.
    """
    batch = x.shape[0]
    if discriminator is None or not in_window(sigma, time_min, time_max):
        skipped = torch.full((batch,), SKIPPED_LOG_RATIO, device=x.device)
        return torch.zeros_like(x, dtype=torch.float64), skipped
    x_vp, tau, mean = vp_input(x, sigma, img_resolution)
    with torch.enable_grad():
        x_vp = x_vp.detach().requires_grad_(True)
        log_ratio = clipped_log_ratio(discriminator(x_vp, tau, labels))
        (gradient,) = torch.autograd.grad(log_ratio.sum(), x_vp)
    factor = -(sigma.to(torch.float64).reshape(-1) ** 2 * mean)
    gradient.mul_(factor.reshape(-1, *[1] * (x.ndim - 1)))
    return gradient, log_ratio.detach()
