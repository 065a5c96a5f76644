"""Settings of ``i2i sample dg``: an EDM network, EDM's grid and churn, and DG's correction.

Defaults are DG's ``generate.py`` on CIFAR-10 unconditional (dg.md §4): 18 Heun steps,
deterministic, w1 = 2, no boosting, the epoch-60 unconditional discriminator; the task presets
``tasks/dg/cifar10-uncond.toml`` / ``cifar10-cond.toml`` give the README's two commands.
"""

from __future__ import annotations

from pydantic import Field

from i2i_cli.karras_choice import KarrasChoice
from i2i_cli.model_choice import BackboneChoice
from i2i_cli.seeds import SeedOutput
from i2i_dg.settings import DiscriminatorEnergySettings


class DgSampleSettings(BackboneChoice, KarrasChoice, SeedOutput):
    """EDM-G++ (Kim et al. 2023): EDM's Heun sampler with discriminator guidance (dg.md §4)."""

    backbone: str = Field("edm", description="Registered sigma-time backbone (i2i plugins).")
    preset: str | None = Field(
        None,
        description="Backbone preset to check the EDM checkpoint against (none: the file's own "
        "record decides).",
    )
    checkpoint: str | None = Field(
        "edm_cifar10_32x32_uncond_vp", description="EDM network weights: an artifact or a path."
    )
    w1: float = Field(
        2.0, ge=0.0, le=1e4, description="DG weight of the first-order term (0: plain EDM)."
    )
    boosting: bool = Field(
        False, description="Re-noise and double the correction of low log-ratio samples."
    )
    data: str | None = Field(
        None,
        description="On a 2-D model: the data set (concentric_rings, ...) the points are "
        "scored against (support precision, coverage, sliced Wasserstein).",
    )
    discriminator: DiscriminatorEnergySettings = Field(
        default_factory=DiscriminatorEnergySettings,
        description="The discriminator energy: head/extractor checkpoints, time window, cond.",
    )
