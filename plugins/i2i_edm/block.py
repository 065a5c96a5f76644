"""EDM's ``UNetBlock``, shared by SongUNet and DhariwalUNet (Karras et al. 2022; dg.md §2.2)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i_edm.layers import Conv2d, GroupNorm, Linear, attention_weights, seeded

Labels = torch.Tensor | None
"""Class or augmentation labels [N, dim], or none."""


class UNetBlock(nn.Module):
    """Residual block with an embedding-conditioned norm, optional resampling and self-attention.

    ``h = conv0(silu(norm0(x)))``; the embedding enters as a scale and shift
    (``adaptive_scale``) or as a bias of ``norm1``; ``h = (conv1(dropout(h)) + skip(x)) *
    skip_scale``; with heads, ``h = (proj(attention(norm2(h))) + h) * skip_scale``. The qkv
    channels are interleaved per channel: index ``(head * C/heads + c) * 3 + {q, k, v}``.
    """

    def __init__(
        self,
        in_channels: int,  # input channels
        out_channels: int,  # output channels
        emb_channels: int,  # width of the noise/label embedding
        up: bool = False,  # 2x up-sampling in conv0 and the skip
        down: bool = False,  # 2x down-sampling in conv0 and the skip
        attention: bool = False,  # self-attention after the residual part
        num_heads: int | None = None,  # attention heads (None: out_channels // channels_per_head)
        channels_per_head: int = 64,  # head width when num_heads is None
        dropout: float = 0.0,  # dropout before conv1
        skip_scale: float = 1.0,  # factor on each residual sum
        eps: float = 1e-5,  # GroupNorm epsilon
        resample_filter: Sequence[int] = (1, 1),  # FIR filter of the resampling
        resample_proj: bool = False,  # 1x1 conv on a resampling skip even without channel change
        adaptive_scale: bool = True,  # scale-and-shift conditioning instead of a bias
        init: Mapping[str, Any] | None = None,  # init of conv0, affine, skip
        init_zero: Mapping[str, Any] | None = None,  # init of conv1 and proj
        init_attn: Mapping[str, Any] | None = None,  # init of qkv (None: ``init``)
        generator: torch.Generator | None = None,  # initialisation draws
    ) -> None:
        super().__init__()
        g = seeded(generator)
        init = dict(init or {})
        init_zero = dict(init_zero if init_zero is not None else {"init_weight": 0.0})
        init_attn = dict(init_attn) if init_attn is not None else init
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.emb_channels = emb_channels
        if not attention:
            self.num_heads = 0
        else:
            self.num_heads = (
                num_heads if num_heads is not None else out_channels // channels_per_head
            )
        self.dropout = dropout
        self.skip_scale = skip_scale
        self.adaptive_scale = adaptive_scale
        resample = {"up": up, "down": down, "resample_filter": resample_filter}

        self.norm0 = GroupNorm(in_channels, eps=eps)
        self.conv0 = Conv2d(in_channels, out_channels, 3, **resample, **init, generator=g)
        affine_out = out_channels * (2 if adaptive_scale else 1)
        self.affine = Linear(emb_channels, affine_out, **init, generator=g)
        self.norm1 = GroupNorm(out_channels, eps=eps)
        self.conv1 = Conv2d(out_channels, out_channels, 3, **init_zero, generator=g)
        self.skip: Conv2d | None = None
        if out_channels != in_channels or up or down:
            kernel = 1 if resample_proj or out_channels != in_channels else 0
            self.skip = Conv2d(in_channels, out_channels, kernel, **resample, **init, generator=g)
        if self.num_heads:
            self.norm2 = GroupNorm(out_channels, eps=eps)
            self.qkv = Conv2d(out_channels, out_channels * 3, 1, **init_attn, generator=g)
            self.proj = Conv2d(out_channels, out_channels, 1, **init_zero, generator=g)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The block's output for features ``x`` [N, C_in, H, W] and embedding ``emb`` [N, E]."""
        orig = x
        x = self.conv0(F.silu(self.norm0(x)))
        params = self.affine(emb).unsqueeze(2).unsqueeze(3).to(x.dtype)
        if self.adaptive_scale:
            scale, shift = params.chunk(chunks=2, dim=1)
            x = F.silu(torch.addcmul(shift, self.norm1(x), scale + 1))
        else:
            x = F.silu(self.norm1(x + params))
        x = self.conv1(F.dropout(x, p=self.dropout, training=self.training))
        x = x + (self.skip(orig) if self.skip is not None else orig)
        x = x * self.skip_scale

        if self.num_heads:
            n, c = x.shape[0], x.shape[1]
            qkv = self.qkv(self.norm2(x)).reshape(n * self.num_heads, c // self.num_heads, 3, -1)
            q, k, v = qkv.unbind(2)
            w = attention_weights(q, k)
            a = torch.einsum("nqk,nck->ncq", w, v)
            x = self.proj(a.reshape(*x.shape)) + x
            x = x * self.skip_scale
        return x


def add_decoder_head(
    dec: MutableMapping[str, nn.Module],
    res: int,
    channels: int,
    lowest: bool,
    block: Mapping[str, Any],
) -> None:
    """A decoder level's first blocks: ``in0`` (attention), ``in1`` at the bottom, else ``up``."""
    if lowest:
        dec[f"{res}x{res}_in0"] = UNetBlock(channels, channels, attention=True, **block)
        dec[f"{res}x{res}_in1"] = UNetBlock(channels, channels, **block)
    else:
        dec[f"{res}x{res}_up"] = UNetBlock(channels, channels, up=True, **block)


class EdmUNet(nn.Module):
    """What SongUNet and DhariwalUNet share: F(x; c_noise, labels) = unet(x, embedding(...))."""

    label_dropout: float = 0.0

    def embedding(
        self, noise_labels: torch.Tensor, class_labels: Labels, augment_labels: Labels
    ) -> torch.Tensor:
        """The mapping network's embedding [N, E] of the noise labels and class/augment labels."""
        raise NotImplementedError

    def unet(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The encoder-decoder on ``x`` conditioned on the embedding ``emb``."""
        raise NotImplementedError

    def forward(
        self,
        x: torch.Tensor,
        noise_labels: torch.Tensor,
        class_labels: Labels = None,
        augment_labels: Labels = None,
    ) -> torch.Tensor:
        """F(x; c_noise, labels): the raw network output, shaped [N, out_channels, H, W]."""
        return self.unet(x, self.embedding(noise_labels, class_labels, augment_labels))

    def dropped(self, labels: torch.Tensor) -> torch.Tensor:
        """EDM's label dropout: in training, each row's labels zeroed with p = label_dropout."""
        if not (self.training and self.label_dropout):
            return labels
        keep = F.dropout(torch.ones_like(labels[:, :1]), p=self.label_dropout)
        return labels * (keep > 0).to(labels.dtype)
