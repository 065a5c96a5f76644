"""Registration of SDDM, its VGG block-AdaIN energy and the AdaIN encoder (torch-free)."""

from __future__ import annotations

from i2i_cli.api.plugin import Backbone, Energy, Method
from i2i_sddm.settings import AdaINEncoderSettings, SDDMSettings, VggAdainEnergySettings

sddm = Method(
    summary="SDDM: sampling with scores decomposed on the source's block-AdaIN manifolds.",
    settings=SDDMSettings,
    translate="i2i_sddm.translate:translate_sddm",
    presets="i2i_sddm.tasks.sddm",
)

vgg_adain = Energy(
    summary="SDDM's energy: VGG relu1_1 features vs their block AdaIN to the source's.",
    settings=VggAdainEnergySettings,
    build="i2i_sddm.energy:build_vgg_adain_energy",
)

adain_vgg = Backbone(
    summary="The AdaIN vgg_normalised VGG-19 encoder (features up to relu{level}_1).",
    settings=AdaINEncoderSettings,
    build="i2i_sddm.vgg:build_encoder",
    spec="i2i_sddm.vgg:encoder_spec",
    presets="i2i_sddm.presets",
)
