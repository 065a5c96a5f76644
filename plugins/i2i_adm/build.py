"""ADM networks from their settings (the flag-to-constructor mapping of adm.md §1.1 and §2)."""

from __future__ import annotations

from i2i_adm.classifier import EncoderUNetModel
from i2i_adm.settings import (
    AdmClassifierSettings,
    AdmUNetSettings,
    attention_rates,
    channel_mult_of,
)
from i2i_adm.unet import UNetModel


def build_unet(settings: AdmUNetSettings) -> UNetModel:
    """``create_model``: the UNet the flags describe (weights freshly initialised)."""
    s = settings
    return UNetModel(
        image_size=s.image_size,
        in_channels=s.in_channels,
        model_channels=s.num_channels,
        out_channels=2 * s.in_channels if s.learn_sigma else s.in_channels,
        num_res_blocks=s.num_res_blocks,
        attention_resolutions=attention_rates(s.attention_resolutions, s.image_size),
        dropout=s.dropout,
        channel_mult=channel_mult_of(s.channel_mult, s.image_size),
        num_classes=s.num_classes if s.class_cond else None,
        use_fp16=s.use_fp16,
        num_heads=s.num_heads,
        num_head_channels=s.num_head_channels,
        num_heads_upsample=s.num_heads_upsample,
        use_scale_shift_norm=s.use_scale_shift_norm,
        resblock_updown=s.resblock_updown,
        use_new_attention_order=s.use_new_attention_order,
    )


def build_classifier(settings: AdmClassifierSettings) -> EncoderUNetModel:
    """``create_classifier``: the encoder classifier the flags describe."""
    s = settings
    return EncoderUNetModel(
        image_size=s.image_size,
        in_channels=s.in_channels,
        model_channels=s.width,
        out_channels=s.out_channels,
        num_res_blocks=s.depth,
        attention_resolutions=attention_rates(s.attention_resolutions, s.image_size),
        channel_mult=channel_mult_of(s.channel_mult, s.image_size),
        use_fp16=s.use_fp16,
        num_head_channels=s.num_head_channels,
        use_scale_shift_norm=s.use_scale_shift_norm,
        resblock_updown=s.resblock_updown,
        pool=s.pool,
        head_name=s.head_name,
    )
