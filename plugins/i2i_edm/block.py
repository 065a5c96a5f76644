"""EDM's ``UNetBlock``, shared by SongUNet and DhariwalUNet (Karras et al. 2022; dg.md §2.2)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i_edm.arguments import assign
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


def add_encoder_blocks(
    enc: MutableMapping[str, nn.Module],
    res: int,
    channels: tuple[int, int],
    count: int,
    attention: bool,
    block: Mapping[str, Any],
) -> int:
    """An encoder level's ``block0..`` from ``channels[0]`` to ``channels[1]``; its last width."""
    cin, cout = channels
    for idx in range(count):
        enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attention, **block)
        cin = cout
    return cin


def add_decoder_level(
    dec: MutableMapping[str, nn.Module],
    res: int,
    channels: tuple[int, int],
    skips: list[int],
    attention: Sequence[bool],
    lowest: bool,
    block: Mapping[str, Any],
) -> int:
    """A decoder level from ``channels[0]`` to ``channels[1]``; its last width.

    First ``in0`` (attention) and ``in1`` at the bottom, else ``up``; then one ``block{i}`` per
    entry of ``attention`` (whether it attends), each on its input joined with the last skip.
    """
    cin, width = channels
    if lowest:
        dec[f"{res}x{res}_in0"] = UNetBlock(cin, cin, attention=True, **block)
        dec[f"{res}x{res}_in1"] = UNetBlock(cin, cin, **block)
    else:
        dec[f"{res}x{res}_up"] = UNetBlock(cin, cin, up=True, **block)
    for idx, attn in enumerate(attention):
        dec[f"{res}x{res}_block{idx}"] = UNetBlock(
            cin + skips.pop(), width, attention=attn, **block
        )
        cin = width
    return cin


class EdmUNet(nn.Module):
    """What SongUNet and DhariwalUNet share: one constructor, F(x; c_noise, labels) = unet(...).

    A network declares its own constructor arguments as annotated class attributes, one row
    each with EDM's default (``arguments.py``); the rows both networks share are here. The
    constructor sets them from the call (an unknown keyword is a TypeError) and hands the
    layers to the network's ``build``, which draws the initial weights from one generator
    seeded ``init_seed``.
    """

    model_channels: int  # base width
    channel_mult: Sequence[int]  # width multiplier per resolution
    channel_mult_emb: int = 4  # embedding width multiplier
    num_blocks: int  # residual blocks per resolution
    attn_resolutions: Sequence[int]  # resolutions with self-attention
    dropout: float = 0.10  # dropout in the residual blocks
    label_dropout: float = 0.0  # training-time dropout of the class labels

    def __init__(
        self,
        img_resolution: int,  # image side at input/output
        in_channels: int,  # input colour channels
        out_channels: int,  # output colour channels
        label_dim: int = 0,  # class-label dimensionality, 0 = unconditional
        augment_dim: int = 0,  # augmentation-label dimensionality, 0 = none
        init_seed: int = 0,  # seed of the initial weights (a local generator)
        **kwargs: Any,  # the network's own arguments (its table)
    ) -> None:
        super().__init__()
        unknown = assign(self, EdmUNet, kwargs)
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments: {names}")
        self.img_resolution = img_resolution
        self.label_dim = label_dim
        generator = torch.Generator().manual_seed(init_seed)
        self.build(in_channels, out_channels, augment_dim, generator)

    def build(
        self, in_channels: int, out_channels: int, augment_dim: int, g: torch.Generator
    ) -> None:
        """The network's layers from its arguments, weights drawn from ``g`` in EDM's order."""
        raise NotImplementedError

    def add_mapping_layers(
        self,
        width: int,
        augment_dim: int,
        augment_init: Mapping[str, Any],
        init: Mapping[str, Any],
        g: torch.Generator,
    ) -> None:
        """``map_augment`` (bias-free; none at augment_dim 0), ``map_layer0``, ``map_layer1``.

        ``width`` -> emb_channels -> emb_channels; weights drawn from ``g`` in that order.
        """
        emb_channels = self.model_channels * self.channel_mult_emb
        self.map_augment = (
            Linear(augment_dim, width, bias=False, **augment_init, generator=g)
            if augment_dim
            else None
        )
        self.map_layer0 = Linear(width, emb_channels, **init, generator=g)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init, generator=g)

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
