"""Registration of the DDPM backbone (torch-free at import)."""

from __future__ import annotations

from i2i_cli.api.plugin import Backbone
from i2i_ddpm.settings import DdpmUNetSettings

ddpm_unet = Backbone(
    summary="ermongroup/ddim UNet: EGSDE's celebahq_female_ddpm.pth (module. keys accepted).",
    settings=DdpmUNetSettings,
    build="i2i_ddpm.build:build_unet",
    spec="i2i_ddpm.build:unet_spec",
    presets="i2i_ddpm.presets",
)
