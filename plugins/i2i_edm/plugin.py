"""Every registration of the EDM plugin (torch-free: discovery and --help stay instant): the
``edm`` backbone and ``i2i sample edm``."""

from __future__ import annotations

from i2i_cli.api.plugin import Backbone, Method
from i2i_edm.settings import EdmSampleSettings, EdmSettings

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

edm_sampler = Method(
    summary="EDM: Heun sampling (Karras et al. 2022) of an EDM network, one image per seed.",
    settings=EdmSampleSettings,
    sample="i2i_edm.sample:sample",
    presets="i2i_edm.tasks.edm",
)
