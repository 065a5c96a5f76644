"""guided-diffusion's ``UNetModel`` (Dhariwal & Nichol 2021; spec adm.md §1.3-1.5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from i2i_adm.layers import (
    AttentionBlock,
    Downsample,
    ResBlock,
    TimestepEmbedSequential,
    Upsample,
)
from i2i_cli.diffusion.nn import SkipUNet, output_head, timestep_embedding


@dataclass(frozen=True)
class EncoderConfig:
    """The constructor arguments ``UNetModel`` and ``EncoderUNetModel`` share (adm.md §1.3, §2).

    Names and defaults are guided-diffusion's. Both networks build their time MLP, down path and
    middle block from these alone (``encoder_blocks``); ``attention_resolutions`` holds
    downsample rates (``image_size // r`` of the flag). ``use_fp16`` is recorded for fidelity
    with the official flags: weights stay float32 and mixed precision comes from autocast.
    """

    image_size: int  # image side the model was trained at
    in_channels: int  # input image channels
    model_channels: int  # base width C
    out_channels: int  # UNet: 6 with learned sigma, else 3; classifier: logits
    num_res_blocks: int  # residual blocks per level
    attention_resolutions: Sequence[int]  # downsample rates with attention
    dropout: float = 0.0  # dropout inside every residual block
    channel_mult: Sequence[float] = (1, 2, 4, 8)  # width multiplier per level
    conv_resample: bool = True  # learned (conv) up/down-sampling
    use_fp16: bool = False  # trained in fp16 (recorded only)
    num_heads: int = 1  # attention heads when num_head_channels is -1
    num_head_channels: int = -1  # channels per head (-1: use num_heads)
    use_scale_shift_norm: bool = False  # FiLM-style timestep conditioning
    resblock_updown: bool = False  # resample with residual blocks
    use_new_attention_order: bool = False  # split q/k/v before heads


def time_embed_mlp(model_channels: int) -> nn.Sequential:
    """Linear(C -> 4C), SiLU, Linear(4C -> 4C) (keys ``time_embed.{0,2}``)."""
    dim = 4 * model_channels
    return nn.Sequential(nn.Linear(model_channels, dim), nn.SiLU(), nn.Linear(dim, dim))


def encoder_blocks(
    config: EncoderConfig,
) -> tuple[nn.ModuleList, TimestepEmbedSequential, list[int], int, int]:
    """The shared down path and middle block of the UNet and the encoder classifier.

    Returns ``(input_blocks, middle_block, skip_channels, channels, final_downsample_rate)``.
    """
    c = config
    emb = 4 * c.model_channels
    ch = int(c.channel_mult[0] * c.model_channels)
    blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(c.in_channels, ch, 3, padding=1))])
    skip_channels = [ch]
    ds = 1
    for level, mult in enumerate(c.channel_mult):
        for _ in range(c.num_res_blocks):
            out = int(mult * c.model_channels)
            layers: list[nn.Module] = [
                ResBlock(ch, emb, c.dropout, out, use_scale_shift_norm=c.use_scale_shift_norm)
            ]
            ch = out
            if ds in c.attention_resolutions:
                layers.append(attention_block(c, ch, c.num_heads))
            blocks.append(TimestepEmbedSequential(*layers))
            skip_channels.append(ch)
        if level != len(c.channel_mult) - 1:
            blocks.append(TimestepEmbedSequential(resample(c, ch, emb, down=True)))
            skip_channels.append(ch)
            ds *= 2
    middle = TimestepEmbedSequential(
        ResBlock(ch, emb, c.dropout, use_scale_shift_norm=c.use_scale_shift_norm),
        attention_block(c, ch, c.num_heads),
        ResBlock(ch, emb, c.dropout, use_scale_shift_norm=c.use_scale_shift_norm),
    )
    return blocks, middle, skip_channels, ch, ds


def attention_block(config: EncoderConfig, channels: int, num_heads: int) -> AttentionBlock:
    """Self-attention over ``channels`` with the config's head layout and q/k/v order."""
    return AttentionBlock(
        channels, num_heads, config.num_head_channels, config.use_new_attention_order
    )


def resample(config: EncoderConfig, channels: int, emb: int, *, down: bool) -> nn.Module:
    """Halve (``down``) or double the map: a residual block when ``resblock_updown``."""
    c = config
    if c.resblock_updown:
        return ResBlock(
            channels,
            emb,
            c.dropout,
            channels,
            use_scale_shift_norm=c.use_scale_shift_norm,
            up=not down,
            down=down,
        )
    return Downsample(channels, c.conv_resample) if down else Upsample(channels, c.conv_resample)


class UNetModel(SkipUNet):
    """The ADM UNet: eps (and variance values when learn_sigma) from x, t and optional labels.

    Arguments are guided-diffusion's ``UNetModel``'s: the ones the encoder classifier shares in
    ``config``, the UNet's own beside it.
    """

    def __init__(
        self,
        config: EncoderConfig,
        num_classes: int | None = None,  # labels of a class-conditional model
        num_heads_upsample: int = -1,  # heads on the up path (-1: config.num_heads)
    ) -> None:
        super().__init__()
        c = config
        if num_heads_upsample == -1:
            num_heads_upsample = c.num_heads
        self.image_size = c.image_size
        self.model_channels = c.model_channels
        self.num_classes = num_classes
        self.use_fp16 = c.use_fp16
        emb = 4 * c.model_channels
        self.time_embed = time_embed_mlp(c.model_channels)
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb)
        self.input_blocks, self.middle_block, skips, ch, ds = encoder_blocks(c)
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(c.channel_mult))[::-1]:
            for i in range(c.num_res_blocks + 1):
                out = int(c.model_channels * mult)
                layers: list[nn.Module] = [
                    ResBlock(
                        ch + skips.pop(),
                        emb,
                        c.dropout,
                        out,
                        use_scale_shift_norm=c.use_scale_shift_norm,
                    )
                ]
                ch = out
                if ds in c.attention_resolutions:
                    layers.append(attention_block(c, ch, num_heads_upsample))
                if level and i == c.num_res_blocks:
                    layers.append(resample(c, ch, emb, down=False))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = output_head(ch, c.out_channels)

    def embed(self, timesteps: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The timestep (plus label) embedding every ResBlock receives."""
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        if (y is None) != (self.num_classes is None):
            raise ValueError("labels y must be given iff the model is class-conditional")
        if y is not None:
            emb = emb + self.label_emb(y)
        return emb

    def forward(
        self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network output for images ``x`` at original timesteps ``timesteps``."""
        return self.unet(x, self.embed(timesteps, y))
