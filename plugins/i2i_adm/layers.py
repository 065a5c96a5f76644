"""guided-diffusion's building blocks (Dhariwal & Nichol 2021, App. A; spec adm.md §1.2).

The blocks ADM shares with SDE-BBDM's UNet live in the core (``i2i_cli.diffusion.nn``) and are
re-exported here; ``AttentionPool2d`` (the classifier head) is ADM's own.
"""

from __future__ import annotations

import torch
from torch import nn

from i2i_cli.diffusion.nn import (
    AttentionBlock,
    Downsample,
    GroupNorm32,
    ResBlock,
    TimestepBlock,
    TimestepEmbedSequential,
    Upsample,
    heads_of,
    qkv_attention,
    silu,
)

__all__ = [
    "AttentionBlock",
    "AttentionPool2d",
    "Downsample",
    "GroupNorm32",
    "ResBlock",
    "TimestepBlock",
    "TimestepEmbedSequential",
    "Upsample",
    "heads_of",
    "qkv_attention",
    "silu",
]


class AttentionPool2d(nn.Module):
    """CLIP-style attention pooling: the mean token attends over all positions (adm.md §2)."""

    def __init__(
        self, spatial_size: int, channels: int, num_head_channels: int, out_channels: int
    ) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(
            torch.randn(channels, spatial_size**2 + 1) / channels**0.5
        )
        self.qkv_proj = nn.Conv1d(channels, 3 * channels, 1)
        self.c_proj = nn.Conv1d(channels, out_channels, 1)
        self.heads = heads_of(channels, 1, num_head_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled (B, out_channels) output read from the prepended mean token."""
        batch, channels = x.shape[:2]
        flat = x.reshape(batch, channels, -1)
        tokens = torch.cat([flat.mean(dim=-1, keepdim=True), flat], dim=-1)
        tokens = tokens + self.positional_embedding[None].to(tokens.dtype)
        out = qkv_attention(self.qkv_proj(tokens), self.heads, legacy_order=False)
        return self.c_proj(out)[:, :, 0]
