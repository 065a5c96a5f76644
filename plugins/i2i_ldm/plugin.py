"""Registration of LDM's VQ-f4 autoencoder as the ``vq-f4`` backbone (torch-free)."""

from __future__ import annotations

from i2i_cli.api.plugin import Backbone
from i2i_ldm.settings import VqAutoencoderSettings

vq_f4 = Backbone(
    summary="LDM's VQ-regularised autoencoder (VQModel, vq-f4): SDE-BBDM's latent space.",
    settings=VqAutoencoderSettings,
    build="i2i_ldm.build:build_vq_autoencoder",
    spec="i2i_ldm.build:vq_autoencoder_spec",
    read_weights="i2i_ldm.weights:read_vq_weights",
    presets="i2i_ldm.presets",
)
