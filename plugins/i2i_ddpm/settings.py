"""Settings of the ddim-repository UNet: the ``model`` section of its YAML config (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from i2i_cli.api.settings import Settings


class DdpmUNetSettings(Settings):
    """The ddim-repository ``model`` config plus ``data.image_size`` (egsde.md §4.2)."""

    model_type: Literal["simple", "bayesian"] = Field(
        "simple", description="model.type; 'bayesian' adds a per-timestep logvar parameter."
    )
    num_diffusion_timesteps: int = Field(
        1000, ge=1, le=100000, description="Length of the bayesian logvar (diffusion steps)."
    )
    resolution: int = Field(256, ge=8, le=1024, description="Image side (data.image_size).")
    in_channels: int = Field(3, ge=1, le=16, description="Input image channels.")
    out_ch: int = Field(3, ge=1, le=16, description="Output channels (eps).")
    ch: int = Field(128, ge=32, le=1024, description="Base width (multiple of 32).")
    ch_mult: list[int] = Field(
        default_factory=lambda: [1, 1, 2, 2, 4, 4], description="Width multiplier per level."
    )
    num_res_blocks: int = Field(2, ge=1, le=8, description="Residual blocks per level.")
    attn_resolutions: list[int] = Field(
        default_factory=lambda: [16], description="Feature-map sides with self-attention."
    )
    dropout: float = Field(0.0, ge=0.0, le=1.0, description="Dropout in residual blocks.")
    resamp_with_conv: bool = Field(True, description="Learned (conv) up/down-sampling.")


def settings_from_yml(config: Mapping[str, Any]) -> DdpmUNetSettings:
    """The settings of a ddim-repository YAML config (as a dict with ``model`` and ``data``).

    ``var_type``, ``ema`` and ``ema_rate`` are sampler and training settings, not architecture:
    they are read by the methods (e.g. EGSDE's ``fixed_variance``) and ignored here.
    """
    model = config["model"]
    steps = config.get("diffusion", {}).get("num_diffusion_timesteps", 1000)
    return DdpmUNetSettings(
        model_type=model.get("type", "simple"),
        num_diffusion_timesteps=steps,
        resolution=config["data"]["image_size"],
        in_channels=model["in_channels"],
        out_ch=model["out_ch"],
        ch=model["ch"],
        ch_mult=list(model["ch_mult"]),
        num_res_blocks=model["num_res_blocks"],
        attn_resolutions=list(model["attn_resolutions"]),
        dropout=model["dropout"],
        resamp_with_conv=model["resamp_with_conv"],
    )
