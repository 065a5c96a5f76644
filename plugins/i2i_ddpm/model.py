"""The ddim-repository diffusion UNet (Ho et al. 2020 architecture; spec egsde.md §4.2).

Module names follow ``models/diffusion.py`` of ermongroup/ddim so its checkpoints load strictly.
Differences from ADM that matter: ``[sin | cos]`` timestep embedding with frequencies divided by
``half - 1``, GroupNorm eps 1e-6, plain additive time conditioning, single-head attention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """``[sin(t f_i) | cos(t f_i)]`` with ``f_i = 10000^(-i / (half - 1))`` (fairseq style)."""
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, dtype=torch.float32, device=t.device) * -(math.log(10000) / (half - 1))
    )
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


def normalize(channels: int) -> nn.GroupNorm:
    """GroupNorm(32, C) with the repository's eps 1e-6."""
    return nn.GroupNorm(32, channels, eps=1e-6)


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 conv (``conv``) when ``with_conv``."""

    def __init__(self, channels: int, with_conv: bool) -> None:
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Double the spatial size."""
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.with_conv else x


class Downsample(nn.Module):
    """Zero-pad right/bottom by one, 3x3 stride-2 conv (``conv``); else 2x2 average pooling."""

    def __init__(self, channels: int, with_conv: bool) -> None:
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve the spatial size."""
        if self.with_conv:
            return self.conv(F.pad(x, (0, 1, 0, 1)))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class ResnetBlock(nn.Module):
    """GN, swish, conv; add the projected time embedding; GN, swish, dropout, conv; residual."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, dropout: float):
        super().__init__()
        self.norm1 = normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.temb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = normalize(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """The block's output for features ``x`` and time embedding ``temb``."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1 conv projections and a residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = normalize(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + proj(softmax(q^T k / sqrt(C)) v)``."""
        b, c, height, width = x.shape
        h = self.norm(x)
        q, k, v = (
            proj(h).reshape(b, 1, c, height * width).transpose(2, 3)
            for proj in (self.q, self.k, self.v)
        )
        out = F.scaled_dot_product_attention(q, k, v)[:, 0].transpose(1, 2)
        return x + self.proj_out(out.reshape(b, c, height, width))


class TimeEmbedding(nn.Module):
    """Linear(C -> 4C), swish, Linear(4C -> 4C) (keys ``temb.dense.{0,1}``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dense = nn.ModuleList(
            [nn.Linear(channels, 4 * channels), nn.Linear(4 * channels, 4 * channels)]
        )

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """The projected time embedding."""
        return self.dense[1](F.silu(self.dense[0](embedding)))


class Level(nn.Module):
    """One resolution level: residual blocks, their attention blocks and the resampler."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()


class Model(nn.Module):
    """The ddim-repository UNet: eps from images x and (integer or float) timesteps t."""

    def __init__(
        self,
        ch: int,  # base width
        out_ch: int,  # output channels (eps)
        ch_mult: Sequence[int],  # width multiplier per level
        num_res_blocks: int,  # residual blocks per level (down path)
        attn_resolutions: Sequence[int],  # feature-map sides with attention
        dropout: float,
        in_channels: int,
        resolution: int,  # input side
        resamp_with_conv: bool = True,
        model_type: str = "simple",  # "bayesian" adds an unused per-timestep ``logvar``
        num_timesteps: int = 1000,  # length of ``logvar``
    ) -> None:
        super().__init__()
        if model_type not in ("simple", "bayesian"):
            raise ValueError(f"model_type must be 'simple' or 'bayesian', not {model_type!r}")
        if model_type == "bayesian":
            self.logvar = nn.Parameter(torch.zeros(num_timesteps))
        self.ch = ch
        self.num_levels = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        temb = 4 * ch
        self.temb = TimeEmbedding(ch)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        in_mult = (1, *ch_mult)
        self.down = nn.ModuleList()
        size = resolution
        block_in = ch
        for level in range(self.num_levels):
            down = Level()
            block_in, block_out = ch * in_mult[level], ch * ch_mult[level]
            for _ in range(num_res_blocks):
                down.block.append(ResnetBlock(block_in, block_out, temb, dropout))
                block_in = block_out
                if size in attn_resolutions:
                    down.attn.append(AttnBlock(block_in))
            if level != self.num_levels - 1:
                down.downsample = Downsample(block_in, resamp_with_conv)
                size //= 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, temb, dropout)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in, temb, dropout)
        ups: list[Level] = []
        for level in reversed(range(self.num_levels)):
            up = Level()
            block_out = ch * ch_mult[level]
            for index in range(num_res_blocks + 1):
                skip_in = ch * (in_mult[level] if index == num_res_blocks else ch_mult[level])
                up.block.append(ResnetBlock(block_in + skip_in, block_out, temb, dropout))
                block_in = block_out
                if size in attn_resolutions:
                    up.attn.append(AttnBlock(block_in))
            if level != 0:
                up.upsample = Upsample(block_in, resamp_with_conv)
                size *= 2
            ups.insert(0, up)
        self.up = nn.ModuleList(ups)
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps predicted for images ``x`` at timesteps ``t``."""
        temb = self.temb(timestep_embedding(t, self.ch))
        skips = [self.conv_in(x)]
        for level, down in enumerate(self.down):
            for index, block in enumerate(down.block):
                h = block(skips[-1], temb)
                if len(down.attn):
                    h = down.attn[index](h)
                skips.append(h)
            if level != self.num_levels - 1:
                skips.append(down.downsample(skips[-1]))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(skips[-1], temb)), temb)
        for level in reversed(range(self.num_levels)):
            up = self.up[level]
            for index, block in enumerate(up.block):
                h = block(torch.cat([h, skips.pop()], dim=1), temb)
                if len(up.attn):
                    h = up.attn[index](h)
            if level != 0:
                h = up.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
