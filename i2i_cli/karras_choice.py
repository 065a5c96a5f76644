"""EDM's sampler settings and the sigma-time network they run on (Karras et al. 2022; dg.md §3).

Every sampler of the EDM family (``i2i sample edm``, ``i2i sample dg``) declares
``KarrasChoice`` (EDM's ``generate.py`` defaults: 18 Heun steps on eq. 5's grid, deterministic),
reads its loaded backbone as a ``SigmaNet`` and samples on ``sigma_grid``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import torch
from pydantic import Field

from i2i_cli.diffusion.denoiser import SigmaProcess
from i2i_cli.diffusion.karras import RoundSigma, karras_sigmas
from i2i_cli.errors import UsageError
from i2i_cli.settings import Settings

if TYPE_CHECKING:
    from torch import nn

    from i2i_cli.backbones import LoadedBackbone


class Churn(TypedDict):
    """Algorithm 2's stochasticity, as the keywords of ``sample_heun`` and ``sample_dg``."""

    s_churn: float
    s_tmin: float
    s_tmax: float
    s_noise: float


class KarrasChoice(Settings):
    """EDM's deterministic/stochastic Heun sampler (Karras et al. 2022, Algorithm 2; dg.md §3)."""

    steps: int = Field(18, ge=1, le=10_000, description="Heun steps N (2N - 1 network calls).")
    sigma_min: float = Field(
        0.002, gt=0.0, le=1e4, description="Lowest noise level (raised to the network's)."
    )
    sigma_max: float = Field(
        80.0, gt=0.0, le=1e4, description="Highest noise level (lowered to the network's)."
    )
    rho: float = Field(7.0, gt=0.0, le=100.0, description="Time-step exponent rho (eq. 5).")
    s_churn: float = Field(0.0, ge=0.0, le=1e4, description="Stochasticity strength S_churn.")
    s_min: float = Field(0.0, ge=0.0, description="Stochasticity only at sigma >= S_min.")
    s_max: float = Field(math.inf, ge=0.0, description="Stochasticity only at sigma <= S_max.")
    s_noise: float = Field(1.0, ge=0.0, le=10.0, description="Stochastic noise inflation S_noise.")

    def churn(self) -> Churn:
        """Algorithm 2's churn as the samplers' keywords (S_min is ``s_tmin``, S_max ``s_tmax``)."""
        return Churn(
            s_churn=self.s_churn, s_tmin=self.s_min, s_tmax=self.s_max, s_noise=self.s_noise
        )


@dataclass(frozen=True)
class SigmaNet:
    """What an EDM-family sampler needs of a loaded network: the module and its interface."""

    module: nn.Module
    shape: tuple[int, ...]
    label_dim: int
    sigma_min: float
    sigma_max: float
    round_sigma: RoundSigma | None

    @classmethod
    def of(cls, loaded: LoadedBackbone, command: str) -> SigmaNet:
        """The interface of a loaded backbone (EDM's attributes where the module has them).

        A backbone that is not a sigma-time denoiser D(x; sigma) is one usage line naming
        ``command`` (e.g. ``i2i sample edm``).
        """
        spec = loaded.spec
        if spec.target != "denoised" or not isinstance(spec.process, SigmaProcess):
            raise UsageError(
                f"backbone {loaded.name} is not a sigma-time denoiser D(x; sigma) "
                f"(target {spec.target}); {command} needs an EDM network"
            )
        module = loaded.module
        process = spec.process
        return cls(
            module=module,
            shape=tuple(spec.input_shape),
            label_dim=int(getattr(module, "label_dim", spec.num_classes) or 0),
            sigma_min=float(getattr(module, "sigma_min", process.sigma_min)),
            sigma_max=float(getattr(module, "sigma_max", process.sigma_max)),
            round_sigma=getattr(module, "round_sigma", None),
        )


def sigma_grid(net: SigmaNet, choice: KarrasChoice, device: torch.device | str) -> torch.Tensor:
    """EDM's t_steps: the range clamped to the network's (dg.md §3 step 1), eq. 5, then 0."""
    sigma_min = max(choice.sigma_min, net.sigma_min)
    sigma_max = min(choice.sigma_max, net.sigma_max)
    if not 0 < sigma_min <= sigma_max < math.inf:
        raise UsageError(
            f"sigma range [{sigma_min:g}, {sigma_max:g}] is empty after clamping to the "
            f"network's [{net.sigma_min:g}, {net.sigma_max:g}]; check --sigma-min/--sigma-max"
        )
    return karras_sigmas(
        choice.steps,
        sigma_min,
        sigma_max,
        choice.rho,
        round_sigma=net.round_sigma,
        device=device,
    )
