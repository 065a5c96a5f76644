"""ADM networks from their settings (the flag-to-constructor mapping of adm.md §1.1 and §2)."""

from __future__ import annotations

from typing import Any

from i2i_adm.classifier import EncoderUNetModel
from i2i_adm.settings import (
    AdmClassifierSettings,
    AdmUNetSettings,
    attention_rates,
    channel_mult_of,
)
from i2i_adm.unet import EncoderConfig, UNetModel
from i2i_cli.diffusion.denoiser import DiscreteProcess, ModelSpec


def encoder_config(settings: AdmUNetSettings | AdmClassifierSettings, **own: Any) -> EncoderConfig:
    """The arguments both networks read alike from their flags, plus each one's ``own``."""
    s = settings
    return EncoderConfig(
        image_size=s.image_size,
        in_channels=s.in_channels,
        attention_resolutions=attention_rates(s.attention_resolutions, s.image_size),
        channel_mult=channel_mult_of(s.channel_mult, s.image_size),
        use_fp16=s.use_fp16,
        num_head_channels=s.num_head_channels,
        use_scale_shift_norm=s.use_scale_shift_norm,
        resblock_updown=s.resblock_updown,
        **own,
    )


def build_unet(settings: AdmUNetSettings) -> UNetModel:
    """``create_model``: the UNet the flags describe (weights freshly initialised)."""
    s = settings
    config = encoder_config(
        s,
        model_channels=s.num_channels,
        out_channels=2 * s.in_channels if s.learn_sigma else s.in_channels,
        num_res_blocks=s.num_res_blocks,
        dropout=s.dropout,
        num_heads=s.num_heads,
        use_new_attention_order=s.use_new_attention_order,
    )
    num_classes = s.num_classes if s.class_cond else None
    return UNetModel(config, num_classes=num_classes, num_heads_upsample=s.num_heads_upsample)


def build_classifier(settings: AdmClassifierSettings) -> EncoderUNetModel:
    """``create_classifier``: the encoder classifier the flags describe (dropout 0, 1 head)."""
    s = settings
    config = encoder_config(
        s, model_channels=s.width, out_channels=s.out_channels, num_res_blocks=s.depth
    )
    return EncoderUNetModel(config, pool=s.pool, head_name=s.head_name)


def unet_spec(settings: AdmUNetSettings) -> ModelSpec:
    """eps, plus variance values when learn_sigma, on the integer timesteps of its process."""
    return ModelSpec(
        target="eps",
        process=DiscreteProcess(settings.noise_schedule, settings.diffusion_steps),
        learned_variance=settings.learn_sigma,
        channels=settings.in_channels,
        input_shape=(settings.in_channels, settings.image_size, settings.image_size),
        num_classes=settings.num_classes if settings.class_cond else 0,
    )
