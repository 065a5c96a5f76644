"""Registration of the EDM backbone (torch-free)."""

from __future__ import annotations

from i2i_cli.plugin import Backbone
from i2i_edm.settings import EdmSettings

edm = Backbone(
    summary="EDM denoisers: EDM/VP/VE/iDDPM preconditioning around DDPM++, NCSN++ or ADM "
    "(an EDM .pkl records its own network).",
    settings=EdmSettings,
    build="i2i_edm.build:build",
    spec="i2i_edm.build:spec",
    read_weights="i2i_edm.pickles:read_edm_weights",
    network_name="i2i_edm.settings:network_name",
    presets="i2i_edm.presets",
)
