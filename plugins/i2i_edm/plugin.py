"""Registration of the EDM backbone (torch-free)."""

from __future__ import annotations

from i2i_cli.plugin import Backbone
from i2i_edm.settings import EdmSettings

edm = Backbone(
    summary="EDM denoisers: VP/VE/EDM preconditioning around DDPM++, NCSN++ or ADM (.pkl).",
    settings=EdmSettings,
    build="i2i_edm.build:build",
    spec="i2i_edm.build:spec",
    read_weights="i2i_edm.pickles:read_edm_weights",
    presets="i2i_edm.presets",
)
