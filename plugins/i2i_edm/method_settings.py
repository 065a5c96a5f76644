"""Settings of ``i2i sample edm``: the network, EDM's Heun sampler and its seed-per-image output.

Defaults are EDM's ``generate.py`` on ``edm-cifar10-32x32-uncond-vp.pkl`` (dg.md §3): 18 steps
(35 network calls), deterministic; the task presets ``tasks/edm/<checkpoint>.toml`` give the
README's settings of every official checkpoint. No preset by default: an EDM pickle records its
network, which decides what is built (``i2i_cli.backbones``); a preset given by a task,
``--config`` or ``--set preset=`` is checked against the file.
"""

from __future__ import annotations

from pydantic import Field

from i2i_cli.karras_choice import KarrasChoice
from i2i_cli.model_choice import BackboneChoice
from i2i_cli.seeds import SeedOutput

DEFAULT_CHECKPOINT = "edm_cifar10_32x32_uncond_vp"
"""Its artifact (``i2i download --exp edm``)."""


class EdmSampleSettings(BackboneChoice, KarrasChoice, SeedOutput):
    """EDM's deterministic/stochastic Heun sampler (Karras et al. 2022, Algorithm 2; dg.md §3)."""

    backbone: str = Field("edm", description="Registered sigma-time backbone (i2i plugins).")
    preset: str | None = Field(
        None,
        description="Backbone preset to check the checkpoint against (none: the file's own "
        "record decides; an artifact's manifest preset builds a plain state dict).",
    )
    checkpoint: str | None = Field(
        DEFAULT_CHECKPOINT,
        description="Weights: an artifact name from `i2i download --list`, or a file path "
        "(an EDM .pkl or a state dict).",
    )
    data: str | None = Field(
        None,
        description="On a 2-D model: the data set (concentric_rings, ...) the points are "
        "scored against (support precision, coverage, sliced Wasserstein).",
    )
    class_label: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="Class of every image of a conditional network (none: each seed draws its "
        "own, as EDM does).",
    )
