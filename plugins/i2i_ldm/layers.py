"""The layers of LDM's autoencoder (``ldm/modules/diffusionmodules/model.py``), LDM key names.

GroupNorm with 32 groups and LDM's eps 1e-6, swish, residual blocks without a time input,
single-head spatial self-attention, a stride-2 convolution after right/bottom zero padding, and
nearest-neighbour upsampling followed by a 3x3 convolution (bbdm.md §6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from i2i_ldm.settings import GROUPS


def normalize(channels: int, eps: float) -> nn.GroupNorm:
    """LDM's ``Normalize``: affine GroupNorm over 32 groups."""
    return nn.GroupNorm(GROUPS, channels, eps=eps, affine=True)


def conv3x3(channels_in: int, channels_out: int) -> nn.Conv2d:
    """A 3x3 convolution with 1 pixel of zero padding (size preserving)."""
    return nn.Conv2d(channels_in, channels_out, kernel_size=3, stride=1, padding=1)


def conv1x1(channels_in: int, channels_out: int) -> nn.Conv2d:
    """A pointwise convolution."""
    return nn.Conv2d(channels_in, channels_out, kernel_size=1)


class ResnetBlock(nn.Module):
    """``x' = skip(x) + conv2(drop(swish(norm2(conv1(swish(norm1(x)))))))``, no time input.

    ``skip`` is the identity when the widths agree, else the 1x1 ``nin_shortcut``.
    """

    def __init__(self, channels_in: int, channels_out: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.norm1 = normalize(channels_in, eps)
        self.conv1 = conv3x3(channels_in, channels_out)
        self.norm2 = normalize(channels_out, eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(channels_out, channels_out)
        self.nin_shortcut = (
            conv1x1(channels_in, channels_out) if channels_in != channels_out else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, shaped like ``x`` with ``channels_out`` channels."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the pixels: ``x + proj_out(softmax(q k^T / sqrt(C)) v)``.

    q, k, v are 1x1 convolutions of ``norm(x)``. With ``apply_proj_out`` false the block returns
    ``x + softmax(q k^T / sqrt(C)) v``: the SDE-BBDM port's ``NonLocalBlock`` holds ``proj_out``
    but never applies it (bbdm.md §6, pitfall 15).
    """

    def __init__(self, channels: int, eps: float, apply_proj_out: bool = True) -> None:
        super().__init__()
        self.norm = normalize(channels, eps)
        self.q = conv1x1(channels, channels)
        self.k = conv1x1(channels, channels)
        self.v = conv1x1(channels, channels)
        self.proj_out = conv1x1(channels, channels)
        self.apply_proj_out = apply_proj_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus its attended values (one head of all C channels)."""
        b, c, height, width = x.shape
        h = self.norm(x)
        q, k, v = (conv(h).reshape(b, 1, c, height * width).transpose(-1, -2) for conv in self.qkv)
        attended = F.scaled_dot_product_attention(q, k, v)
        h = attended.transpose(-1, -2).reshape(b, c, height, width)
        if self.apply_proj_out:
            h = self.proj_out(h)
        return x + h

    @property
    def qkv(self) -> tuple[nn.Conv2d, nn.Conv2d, nn.Conv2d]:
        """The query, key and value projections."""
        return self.q, self.k, self.v


def make_attn(channels: int, attn_type: str, eps: float, apply_proj_out: bool) -> nn.Module:
    """LDM's ``make_attn``: an ``AttnBlock`` ('vanilla') or the identity ('none')."""
    if attn_type == "none":
        return nn.Identity()
    return AttnBlock(channels, eps, apply_proj_out)


class Downsample(nn.Module):
    """Halve the side: zero-pad one pixel right and bottom, then a 3x3 stride-2 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` at half its height and width."""
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0.0))


class Upsample(nn.Module):
    """Double the side: nearest-neighbour x2, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` at twice its height and width."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
