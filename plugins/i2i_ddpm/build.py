"""The ddim-repository UNet from its settings, and what its output means."""

from __future__ import annotations

from i2i_cli.diffusion.denoiser import DiscreteProcess, ModelSpec
from i2i_ddpm.model import Model
from i2i_ddpm.settings import DdpmUNetSettings


def build_unet(settings: DdpmUNetSettings) -> Model:
    """The UNet of ``settings`` (fresh weights); the settings are ``Model``'s own arguments."""
    arguments = settings.model_dump(exclude={"num_diffusion_timesteps"})
    return Model(**arguments, num_timesteps=settings.num_diffusion_timesteps)


def unet_spec(settings: DdpmUNetSettings) -> ModelSpec:
    """eps with a fixed variance, on the integer timesteps of a linear-beta process."""
    side = settings.resolution
    return ModelSpec(
        target="eps",
        process=DiscreteProcess("linear", settings.num_diffusion_timesteps),
        learned_variance=False,
        channels=settings.out_ch,
        input_shape=(settings.in_channels, side, side),
    )
