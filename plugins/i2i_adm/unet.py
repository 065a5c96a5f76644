"""guided-diffusion's ``UNetModel`` (Dhariwal & Nichol 2021; spec adm.md §1.3-1.5)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from i2i_adm.layers import (
    AttentionBlock,
    Downsample,
    GroupNorm32,
    ResBlock,
    TimestepEmbedSequential,
    Upsample,
    silu,
    timestep_embedding,
)


def time_embed_mlp(model_channels: int) -> nn.Sequential:
    """Linear(C -> 4C), SiLU, Linear(4C -> 4C) (keys ``time_embed.{0,2}``)."""
    dim = 4 * model_channels
    return nn.Sequential(nn.Linear(model_channels, dim), nn.SiLU(), nn.Linear(dim, dim))


def encoder_blocks(
    *,
    in_channels: int,
    model_channels: int,
    channel_mult: Sequence[float],
    num_res_blocks: int,
    attention_resolutions: Sequence[int],
    dropout: float,
    num_heads: int,
    num_head_channels: int,
    use_scale_shift_norm: bool,
    resblock_updown: bool,
    use_new_attention_order: bool,
    conv_resample: bool = True,
) -> tuple[nn.ModuleList, TimestepEmbedSequential, list[int], int, int]:
    """The shared down path and middle block of the UNet and the encoder classifier.

    Returns ``(input_blocks, middle_block, skip_channels, channels, final_downsample_rate)``.
    """
    emb = 4 * model_channels
    ch = int(channel_mult[0] * model_channels)
    blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
    skip_channels = [ch]
    ds = 1
    for level, mult in enumerate(channel_mult):
        for _ in range(num_res_blocks):
            out = int(mult * model_channels)
            layers: list[nn.Module] = [
                ResBlock(ch, emb, dropout, out, use_scale_shift_norm=use_scale_shift_norm)
            ]
            ch = out
            if ds in attention_resolutions:
                layers.append(
                    AttentionBlock(ch, num_heads, num_head_channels, use_new_attention_order)
                )
            blocks.append(TimestepEmbedSequential(*layers))
            skip_channels.append(ch)
        if level != len(channel_mult) - 1:
            down: nn.Module = (
                ResBlock(ch, emb, dropout, ch, use_scale_shift_norm=use_scale_shift_norm, down=True)
                if resblock_updown
                else Downsample(ch, conv_resample)
            )
            blocks.append(TimestepEmbedSequential(down))
            skip_channels.append(ch)
            ds *= 2
    middle = TimestepEmbedSequential(
        ResBlock(ch, emb, dropout, use_scale_shift_norm=use_scale_shift_norm),
        AttentionBlock(ch, num_heads, num_head_channels, use_new_attention_order),
        ResBlock(ch, emb, dropout, use_scale_shift_norm=use_scale_shift_norm),
    )
    return blocks, middle, skip_channels, ch, ds


class UNetModel(nn.Module):
    """The ADM UNet: eps (and variance values when learn_sigma) from x, t and optional labels.

    Arguments mirror guided-diffusion's ``UNetModel``; ``attention_resolutions`` holds
    downsample rates (``image_size // r`` of the flag). ``use_fp16`` is accepted for fidelity
    with the official flags: weights stay float32 and mixed precision comes from autocast.
    """

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        model_channels: int,  # base width C
        out_channels: int,  # 6 with learned sigma, else 3
        num_res_blocks: int,
        attention_resolutions: Sequence[int],  # downsample rates with attention
        dropout: float = 0.0,
        channel_mult: Sequence[float] = (1, 2, 4, 8),
        conv_resample: bool = True,
        num_classes: int | None = None,
        use_fp16: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
    ) -> None:
        super().__init__()
        if num_heads_upsample == -1:
            num_heads_upsample = num_heads
        self.image_size = image_size
        self.model_channels = model_channels
        self.num_classes = num_classes
        self.use_fp16 = use_fp16
        emb = 4 * model_channels
        self.time_embed = time_embed_mlp(model_channels)
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb)
        self.input_blocks, self.middle_block, skips, ch, ds = encoder_blocks(
            in_channels=in_channels,
            model_channels=model_channels,
            channel_mult=channel_mult,
            num_res_blocks=num_res_blocks,
            attention_resolutions=attention_resolutions,
            dropout=dropout,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown,
            use_new_attention_order=use_new_attention_order,
            conv_resample=conv_resample,
        )
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                out = int(model_channels * mult)
                layers: list[nn.Module] = [
                    ResBlock(
                        ch + skips.pop(),
                        emb,
                        dropout,
                        out,
                        use_scale_shift_norm=use_scale_shift_norm,
                    )
                ]
                ch = out
                if ds in attention_resolutions:
                    layers.append(
                        AttentionBlock(
                            ch, num_heads_upsample, num_head_channels, use_new_attention_order
                        )
                    )
                if level and i == num_res_blocks:
                    layers.append(
                        ResBlock(
                            ch, emb, dropout, ch, use_scale_shift_norm=use_scale_shift_norm, up=True
                        )
                        if resblock_updown
                        else Upsample(ch, conv_resample)
                    )
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        first = int(channel_mult[0] * model_channels)
        self.out = nn.Sequential(
            GroupNorm32(ch), nn.SiLU(), nn.Conv2d(first, out_channels, 3, padding=1)
        )

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
        emb = self.embed(timesteps, y)
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            # Rebind h before the call so the un-concatenated map is freed (peak memory).
            h = torch.cat([h, skips.pop()], dim=1)
            h = block(h, emb)
        norm, _, conv = self.out
        return conv(silu(norm(h.type(x.dtype))))
