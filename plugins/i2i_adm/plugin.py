"""Registration of the ADM backbones and the classifier-guidance energy (torch-free)."""

from __future__ import annotations

from i2i_adm.settings import AdmClassifierSettings, AdmUNetSettings, ClassifierEnergySettings
from i2i_cli.api.plugin import Backbone, Energy

adm_unet = Backbone(
    summary="guided-diffusion UNet (ADM): afhq_dog_4m, ImageNet 256 cond/uncond and more.",
    settings=AdmUNetSettings,
    build="i2i_adm.build:build_unet",
    spec="i2i_adm.build:unet_spec",
    presets="i2i_adm.presets",
)

adm_classifier = Backbone(
    summary="guided-diffusion noisy classifier (EncoderUNet): 256x256_classifier, DG 32x32.",
    settings=AdmClassifierSettings,
    build="i2i_adm.build:build_classifier",
    presets="i2i_adm.classifier_presets",
)

classifier_energy = Energy(
    summary="Classifier guidance: -log p(y | x_t) under a noisy ADM classifier (cond_fn).",
    settings=ClassifierEnergySettings,
    build="i2i_adm.energies:build_classifier_energy",
)
