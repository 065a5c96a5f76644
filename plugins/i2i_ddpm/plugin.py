"""Registration of the DDPM backbone (torch-free at import)."""

from __future__ import annotations

from typing import Any

from i2i_cli.plugin import Backbone
from i2i_ddpm.settings import DdpmUNetSettings


def build(settings: DdpmUNetSettings) -> Any:
    """The ddim-repository UNet of ``settings`` (fresh weights)."""
    from i2i_ddpm.model import Model

    return Model(
        ch=settings.ch,
        out_ch=settings.out_ch,
        ch_mult=settings.ch_mult,
        num_res_blocks=settings.num_res_blocks,
        attn_resolutions=settings.attn_resolutions,
        dropout=settings.dropout,
        in_channels=settings.in_channels,
        resolution=settings.resolution,
        resamp_with_conv=settings.resamp_with_conv,
        model_type=settings.model_type,
        num_timesteps=settings.num_diffusion_timesteps,
    )


def prediction(settings: DdpmUNetSettings) -> Any:
    """eps with a fixed variance; integer timesteps of a 1000-step process."""
    from i2i_cli.diffusion.denoiser import Prediction

    return Prediction(
        target="eps",
        learned_variance=False,
        channels=settings.out_ch,
        input_shape=(settings.in_channels, settings.resolution, settings.resolution),
    )


ddpm_unet = Backbone(
    summary="ermongroup/ddim UNet: EGSDE's celebahq_female_ddpm.pth (module. keys accepted).",
    settings=DdpmUNetSettings,
    build=build,
    prediction=prediction,
    presets="i2i_ddpm.presets",
)
