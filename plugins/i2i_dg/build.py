"""DG's discriminator networks from their settings: the image head (dg.md §5.3) and the 2-D one."""

from __future__ import annotations

import torch

from i2i_dg.head import DiscriminatorHead, HeadConfig
from i2i_dg.point_head import PointDiscriminator
from i2i_dg.settings import DiscriminatorHeadSettings, PointDiscriminatorSettings, int_list


def head_config(settings: DiscriminatorHeadSettings) -> HeadConfig:
    """The head's constructor arguments from its settings."""
    s = settings
    return HeadConfig(
        image_size=s.image_size,
        in_channels=s.in_channels,
        model_channels=s.width,
        out_channels=s.out_channels,
        num_res_blocks=s.depth,
        attention_resolutions=int_list(s.attention_rates),
        channel_mult=int_list(s.channel_mult),
        num_head_channels=s.num_head_channels,
        condition=s.condition,
        num_class=s.num_class,
    )


INIT_SEED = 0
"""The seed of a fresh head's initial weights (PyTorch's default initialisers)."""


def build_head(settings: DiscriminatorHeadSettings) -> DiscriminatorHead:
    """DG's head network the settings describe, initialised from a seeded generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return DiscriminatorHead(head_config(settings))


def build_point_discriminator(settings: PointDiscriminatorSettings) -> PointDiscriminator:
    """DG's 2-D discriminator the settings describe, initialised from a seeded generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return PointDiscriminator(settings.in_channels, settings.width, settings.depth)
