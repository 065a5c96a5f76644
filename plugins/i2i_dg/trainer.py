"""Registration of ``i2i train discriminator``: DG's discriminator training (torch-free)."""

from __future__ import annotations

from i2i_cli.plugin import Trainer
from i2i_dg.train_settings import DiscriminatorTrainSettings

discriminator = Trainer(
    summary="DG's discriminator head on noised real vs. generated images (frozen ADM features).",
    settings=DiscriminatorTrainSettings,
    train="i2i_dg.training:train_discriminator",
    presets="i2i_dg.tasks.train",
)
