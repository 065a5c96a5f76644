"""Settings of ``i2i sample edm``: the network, EDM's Heun sampler and its seed-per-image output.

Defaults are EDM's ``generate.py`` on ``edm-cifar10-32x32-uncond-vp.pkl`` (dg.md §3): 18 steps
(35 network calls), deterministic; the task presets ``tasks/edm/<checkpoint>.toml`` give the
README's settings of every official checkpoint.
"""

from __future__ import annotations

import math

from pydantic import Field

from i2i_cli.model_choice import BackboneChoice
from i2i_cli.seeds import SeedOutput

DEFAULT_PRESET = "edm_cifar10_32x32_uncond_vp"
"""The backbone preset of EDM's unconditional CIFAR-10 VP network (dg.md §2.4)."""

DEFAULT_CHECKPOINT = "edm_cifar10_32x32_uncond_vp"
"""Its artifact (``i2i download --exp edm``)."""


class EdmSampleSettings(BackboneChoice, SeedOutput):
    """EDM's deterministic/stochastic Heun sampler (Karras et al. 2022, Algorithm 2; dg.md §3)."""

    backbone: str = Field("edm", description="Registered sigma-time backbone (i2i plugins).")
    preset: str | None = Field(
        DEFAULT_PRESET, description="Backbone preset: the exact flags of an official checkpoint."
    )
    checkpoint: str | None = Field(
        DEFAULT_CHECKPOINT,
        description="Weights: an artifact name from `i2i download --list`, or a file path "
        "(an EDM .pkl or a state dict).",
    )
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
    class_label: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="Class of every image of a conditional network (none: each seed draws its "
        "own, as EDM does).",
    )
