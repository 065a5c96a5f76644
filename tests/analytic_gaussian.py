"""An analytic diffusion model: data x0 ~ N(MU, S^2) in every dimension, exact in both times.

For x = x0 + sigma n the optimal denoiser is ``D(x; sigma) = (S^2 x + sigma^2 MU) / (S^2 +
sigma^2)``, so the probability-flow ODE ``dx/dsigma = (x - D)/sigma = (x - MU) sigma / (S^2 +
sigma^2)`` has the exact solution ``x(sigma) = MU + (x(sigma0) - MU) sqrt((S^2 + sigma^2) / (S^2
+ sigma0^2))`` (VE form). A discrete VP process with x_t = sqrt(abar) x0 + sqrt(1 - abar) eps is
the same process at sigma_t = sqrt((1 - abar)/abar) scaled by sqrt(abar), so its exact eps
model is ``eps = sigma (x_t / sqrt(abar) - MU) / (S^2 + sigma^2)``.

Every map here is affine in x with slope independent of the item, so a sampler driven by these
models sends x to ``MU + a (x - MU)`` with a factor ``a`` that depends only on its grid: its
error is ``|a - a_exact| |x - MU|`` item by item, and error ratios do not depend on the draw.
"""

from __future__ import annotations

import torch

from i2i_cli.diffusion.denoiser import DiscreteProcess, ModelSpec, Target
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.diffusion.sigma_time import process_sigmas, t_to_sigma

MU = 0.3
"""Data mean (per dimension)."""
S = 0.5
"""Data standard deviation (per dimension; EDM's sigma_data)."""
LINEAR = DiscreteProcess("linear", 1000)
"""The discrete process of the index-time model (ADM's linear 1000-step schedule)."""


def per_item(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A scalar or [B] vector of per-item values, float64, shaped to broadcast against x."""
    return values.double().reshape(-1).expand(x.shape[0]).reshape(-1, *([1] * (x.ndim - 1)))


def exact_denoised(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """D(x; sigma) = (S^2 x + sigma^2 MU) / (S^2 + sigma^2), computed in float64."""
    s = per_item(sigma, x)
    return (S**2 * x.double() + s**2 * MU) / (S**2 + s**2)


def ve_flow(x: torch.Tensor, sigma_from: float, sigma_to: float) -> torch.Tensor:
    """The exact ODE map x(sigma_from) -> x(sigma_to) = MU + (x - MU) sqrt(...) (float64)."""
    factor = ((S**2 + sigma_to**2) / (S**2 + sigma_from**2)) ** 0.5
    return MU + (x.double() - MU) * factor


class GaussianSigmaDenoiser:
    """The exact ``SigmaDenoiser`` D(x; sigma), returned in x's dtype; records each call."""

    def __init__(self) -> None:
        self.sigmas: list[torch.Tensor] = []

    @property
    def calls(self) -> int:
        """Number of evaluations so far."""
        return len(self.sigmas)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.sigmas.append(sigma.detach().clone())
        return exact_denoised(x, sigma).to(x.dtype)


class GaussianVPModel:
    """A network-like ``model(x_t, t)`` of a discrete VP process: the exact eps (or x0).

    At an integer original step t, sigma_t is the process's own; a fractional t reads sigma by
    log-sigma interpolation (``t_to_sigma``), the reading of fractional time k-diffusion's
    adapters assume. ``variance_channels`` appends that many junk channels (a learned-variance
    head the adapters must drop).
    """

    def __init__(
        self,
        schedule: DiscreteSchedule | None = None,
        target: Target = "eps",
        variance_channels: bool = False,
    ) -> None:
        self.sigmas = process_sigmas(schedule or LINEAR.schedule())
        self.target = target
        self.variance_channels = variance_channels
        self.times: list[torch.Tensor] = []

    @property
    def calls(self) -> int:
        """Number of evaluations so far."""
        return len(self.times)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.times.append(t.detach().clone())
        sigma = t_to_sigma(t, self.sigmas) if t.is_floating_point() else self.sigmas[t]
        s = per_item(sigma, x)
        y = x.double() * (1 + s**2).sqrt()
        eps = s * (y - MU) / (S**2 + s**2)
        out = (eps if self.target == "eps" else y - s * eps).to(x.dtype)
        if self.variance_channels:
            out = torch.cat([out, torch.full_like(out, 0.25)], dim=1)
        return out


def vp_spec(
    channels: int, target: Target = "eps", learned_variance: bool = False, size: int = 4
) -> ModelSpec:
    """The ``ModelSpec`` of ``GaussianVPModel`` on images of ``channels`` x size x size."""
    return ModelSpec(
        target=target,
        process=LINEAR,
        learned_variance=learned_variance,
        channels=channels,
        input_shape=(channels, size, size),
    )
