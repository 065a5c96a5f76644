"""Registration of the ADM backbones (torch-free at import)."""

from __future__ import annotations

from typing import Any

from i2i_adm.settings import AdmClassifierSettings, AdmUNetSettings
from i2i_cli.plugin import Backbone


def build_unet(settings: AdmUNetSettings) -> Any:
    """The ADM UNet of ``settings`` (fresh weights)."""
    from i2i_adm.build import build_unet as build

    return build(settings)


def unet_prediction(settings: AdmUNetSettings) -> Any:
    """eps, plus variance values when learn_sigma; integer timesteps of a 1000-step process."""
    from i2i_cli.diffusion.denoiser import Prediction

    return Prediction(
        target="eps",
        learned_variance=settings.learn_sigma,
        channels=settings.in_channels,
        input_shape=(settings.in_channels, settings.image_size, settings.image_size),
        num_classes=settings.num_classes if settings.class_cond else 0,
    )


def build_classifier(settings: AdmClassifierSettings) -> Any:
    """The ADM encoder classifier of ``settings`` (fresh weights)."""
    from i2i_adm.build import build_classifier as build

    return build(settings)


adm_unet = Backbone(
    summary="guided-diffusion UNet (ADM): afhq_dog_4m, ImageNet 256 cond/uncond and more.",
    settings=AdmUNetSettings,
    build=build_unet,
    prediction=unet_prediction,
    presets="i2i_adm.presets",
)

adm_classifier = Backbone(
    summary="guided-diffusion noisy classifier (EncoderUNet): 256x256_classifier, DG 32x32.",
    settings=AdmClassifierSettings,
    build=build_classifier,
    presets="i2i_adm.classifier_presets",
)
