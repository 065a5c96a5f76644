"""DhariwalUNet: the ADM network of Dhariwal & Nichol 2021 as EDM builds it (dg.md §2.3)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from i2i_edm.block import EdmUNet, Labels, UNetBlock, add_decoder_head
from i2i_edm.layers import Conv2d, GroupNorm, Linear, PositionalEmbedding


class DhariwalUNet(EdmUNet):
    """ADM with EDM's layer names (``edm-imagenet-64x64-cond-adm``).

    Unlike SongUNet: positional frequencies without endpoint, no half swap, a bias-free label map
    added after ``map_layer1`` (no sqrt(label_dim) factor), scale-and-shift blocks with
    ``out_channels // 64`` heads (none below 64 channels), attention in every block of a level.
    """

    def __init__(
        self,
        img_resolution: int,  # image side at input/output
        in_channels: int,  # input colour channels
        out_channels: int,  # output colour channels
        label_dim: int = 0,  # class-label dimensionality, 0 = unconditional
        augment_dim: int = 0,  # augmentation-label dimensionality, 0 = none
        model_channels: int = 192,  # base width
        channel_mult: Sequence[int] = (1, 2, 3, 4),  # width multiplier per resolution
        channel_mult_emb: int = 4,  # embedding width multiplier
        num_blocks: int = 3,  # residual blocks per resolution
        attn_resolutions: Sequence[int] = (32, 16, 8),  # resolutions with self-attention
        dropout: float = 0.10,  # dropout in the residual blocks
        label_dropout: float = 0.0,  # training-time dropout of the class labels
        init_seed: int = 0,  # seed of the initial weights (a local generator)
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(init_seed)
        self.img_resolution = img_resolution
        self.label_dim = label_dim
        self.label_dropout = label_dropout
        emb_channels = model_channels * channel_mult_emb
        third = math.sqrt(1 / 3)
        init = {"init_mode": "kaiming_uniform", "init_weight": third, "init_bias": third}
        init_zero = {"init_mode": "kaiming_uniform", "init_weight": 0.0, "init_bias": 0.0}
        block = {
            "emb_channels": emb_channels,
            "channels_per_head": 64,
            "dropout": dropout,
            "init": init,
            "init_zero": init_zero,
            "generator": g,
        }

        # Mapping.
        self.map_noise = PositionalEmbedding(model_channels)
        self.map_augment = (
            Linear(augment_dim, model_channels, bias=False, **init_zero, generator=g)
            if augment_dim
            else None
        )
        self.map_layer0 = Linear(model_channels, emb_channels, **init, generator=g)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init, generator=g)
        self.map_label = (
            Linear(
                label_dim,
                emb_channels,
                bias=False,
                init_mode="kaiming_normal",
                init_weight=math.sqrt(label_dim),
                generator=g,
            )
            if label_dim
            else None
        )

        # Encoder.
        self.enc = nn.ModuleDict()
        cout = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin, cout = cout, model_channels * mult
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, 3, **init, generator=g)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, down=True, **block)
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                attn = res in attn_resolutions
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **block)
        skips = [b.out_channels for b in self.enc.values()]

        # Decoder.
        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            add_decoder_head(self.dec, res, cout, level == len(channel_mult) - 1, block)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                attn = res in attn_resolutions
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **block)
        self.out_norm = GroupNorm(cout)
        self.out_conv = Conv2d(cout, out_channels, 3, **init_zero, generator=g)

    def embedding(
        self, noise_labels: torch.Tensor, class_labels: Labels, augment_labels: Labels
    ) -> torch.Tensor:
        """The mapping network: silu(map_layer1(silu(map_layer0(pos(c_noise)))) + map_label(y))."""
        emb = self.map_noise(noise_labels)
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = F.silu(self.map_layer0(emb))
        emb = self.map_layer1(emb)
        if self.map_label is not None and class_labels is not None:
            labels = self.dropped(class_labels)
            emb = emb + self.map_label(labels)
        return F.silu(emb)

    def unet(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The encoder-decoder on ``x`` [N, in_channels, H, W] given the embedding ``emb``."""
        skips = []
        for block in self.enc.values():
            x = block(x, emb) if isinstance(block, UNetBlock) else block(x)
            skips.append(x)
        for block in self.dec.values():
            if x.shape[1] != block.in_channels:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x, emb)
        return self.out_conv(F.silu(self.out_norm(x)))
