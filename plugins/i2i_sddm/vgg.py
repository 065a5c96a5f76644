"""The AdaIN ``vgg_normalised`` encoder (Huang & Belongie 2017) with the official file's keys.

The file is an ``nn.Sequential`` of 53 modules: a 1x1 colour conv, then VGG-19's 16 convs to
relu5_4, each 3x3 conv preceded by a reflection pad, with max-pools between stages. Module
indices are the state-dict keys (``0.*``, ``2.*``, ``5.*``, ...).
"""

from __future__ import annotations

import torch
from torch import nn

from i2i_cli.diffusion.denoiser import ModelSpec
from i2i_sddm.settings import AdaINEncoderSettings

STAGES = ((3, 64, 2), (64, 128, 2), (128, 256, 4), (256, 512, 4), (512, 512, 4))
"""Per stage: input channels, output channels and number of 3x3 convs."""

LEVEL_ENDS = (4, 11, 18, 31, 44)
"""Modules up to relu1_1, relu2_1, ..., relu5_1 (StageVGG's enc_1 ... enc_5)."""


def encoder_modules() -> list[nn.Module]:
    """The 53 modules of the encoder, in the file's order."""
    modules: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    for stage, (inputs, outputs, convs) in enumerate(STAGES):
        if stage:
            modules.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        for k in range(convs):
            modules += [nn.ReflectionPad2d(1), nn.Conv2d(inputs if k == 0 else outputs, outputs, 3)]
            modules.append(nn.ReLU())
    return modules


class AdaINEncoder(nn.Sequential):
    """The encoder's modules (all, or those up to its level); forward gives relu{level}_1."""

    def __init__(self, level: int = 1, layers: str = "all") -> None:
        modules = encoder_modules()
        super().__init__(*(modules if layers == "all" else modules[: LEVEL_ENDS[level - 1]]))
        self.level = level
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in list(self)[: LEVEL_ENDS[self.level - 1]]:
            x = module(x)
        return x


def build_encoder(settings: AdaINEncoderSettings) -> AdaINEncoder:
    """The encoder of ``settings`` (weights not loaded)."""
    return AdaINEncoder(settings.level, settings.layers)


def encoder_spec(settings: AdaINEncoderSettings) -> ModelSpec:
    """A feature extractor: raw output, any image size."""
    return ModelSpec(target="raw", channels=STAGES[settings.level - 1][1])
