"""Registration of SDE-BBDM: the method, its bridge UNet and its trainer (torch-free)."""

from __future__ import annotations

from i2i_bbdm.settings import BBDMTrainSettings, BridgeUNetSettings, SDEBBDMSettings
from i2i_cli.api.plugin import Backbone, Method, Trainer

sde_bbdm = Method(
    summary="SDE-BBDM: carry each source image to its target along a score-based Brownian bridge.",
    settings=SDEBBDMSettings,
    translate="i2i_bbdm.translate:translate_sde_bbdm",
    presets="i2i_bbdm.tasks.sde_bbdm",
)

bbdm_unet = Backbone(
    summary="SDE-BBDM's bridge UNet (sde_bbdm.networks.UNet): predicts x_t - x0 from x_t and t.",
    settings=BridgeUNetSettings,
    build="i2i_bbdm.unet:build_unet",
    spec="i2i_bbdm.unet:unet_spec",
    read_weights="i2i_bbdm.weights:read_bridge_weights",
    network_name="i2i_bbdm.settings:network_name",
    presets="i2i_bbdm.presets",
)

bbdm_trainer = Trainer(
    summary="SDE-BBDM's bridge UNet on (source, target) pairs: L1 on the objective, Adam.",
    settings=BBDMTrainSettings,
    train="i2i_bbdm.train:train_bbdm",
)
