"""EDM's sampler settings (Karras et al. 2022, Algorithm 2; dg.md §3), torch-free.

Every sampler of the EDM family (``i2i sample edm``, ``i2i sample dg``) declares
``KarrasChoice`` (EDM's ``generate.py`` defaults: 18 Heun steps on eq. 5's grid, deterministic)
and samples on ``i2i_cli.run.seed_sampling.sigma_grid``.
"""

from __future__ import annotations

import math
from typing import TypedDict

from pydantic import Field

from i2i_cli.api.settings import Settings


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
    s_max: float = Field(
        math.inf,
        ge=0.0,
        allow_inf_nan=True,  # inf: no upper bound (EDM's S_tmax default); ge=0 refuses NaN
        description="Stochasticity only at sigma <= S_max (inf: no upper bound).",
    )
    s_noise: float = Field(1.0, ge=0.0, le=10.0, description="Stochastic noise inflation S_noise.")
    clip_denoised: bool = Field(
        False,
        description="Clamp each denoised estimate D(x; sigma) to [-1, 1] (guided-diffusion's "
        "clip_denoised, for eps networks read in sigma time; EDM does not clamp).",
    )

    def churn(self) -> Churn:
        """Algorithm 2's churn as the samplers' keywords (S_min is ``s_tmin``, S_max ``s_tmax``)."""
        return Churn(
            s_churn=self.s_churn, s_tmin=self.s_min, s_tmax=self.s_max, s_noise=self.s_noise
        )
