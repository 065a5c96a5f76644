"""Every registration of the DG plugin (torch-free): its two discriminator backbones, the
``discriminator`` energy, ``sample dg`` and ``train discriminator``."""

from __future__ import annotations

from i2i_cli.api.plugin import Backbone, Energy, Method, Trainer
from i2i_dg.settings import (
    DgSampleSettings,
    DiscriminatorEnergySettings,
    DiscriminatorHeadSettings,
    DiscriminatorTrainSettings,
    PointDiscriminatorSettings,
)

dg_discriminator = Backbone(
    summary="DG's discriminator head (EncoderUNet on ADM classifier features): CIFAR-10, ImageNet.",
    settings=DiscriminatorHeadSettings,
    build="i2i_dg.build:build_head",
    presets="i2i_dg.head_presets",
)

dg_discriminator_2d = Backbone(
    summary="DG's discriminator on 2-D points (residual MLP on the VP-space point and time).",
    settings=PointDiscriminatorSettings,
    build="i2i_dg.build:build_point_discriminator",
    presets="i2i_dg.point_presets",
)

discriminator = Energy(
    summary="Discriminator guidance (DG): -log d/(1-d) of a time-dependent discriminator.",
    settings=DiscriminatorEnergySettings,
    build="i2i_dg.energy:build_discriminator_energy",
)

dg = Method(
    summary="EDM-G++: EDM's Heun sampler with discriminator guidance (DG), one image per seed.",
    settings=DgSampleSettings,
    sample="i2i_dg.sample:sample",
    presets="i2i_dg.tasks.dg",
)

discriminator_trainer = Trainer(
    summary="DG's discriminator head on noised real vs. generated images (frozen ADM features).",
    settings=DiscriminatorTrainSettings,
    train="i2i_dg.train:train_discriminator",
    presets="i2i_dg.tasks.train",
)
