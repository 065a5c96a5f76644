"""DhariwalUNet: the ADM network of Dhariwal & Nichol 2021 as EDM builds it (dg.md §2.3)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from i2i_edm.block import EdmUNet, Labels, UNetBlock, add_decoder_level, add_encoder_blocks
from i2i_edm.layers import Conv2d, GroupNorm, Linear, PositionalEmbedding


class DhariwalUNet(EdmUNet):
    """ADM with EDM's layer names (``edm-imagenet-64x64-cond-adm``).

    Unlike SongUNet: positional frequencies without endpoint, no half swap, a bias-free label map
    added after ``map_layer1`` (no sqrt(label_dim) factor), scale-and-shift blocks with
    ``out_channels // 64`` heads (none below 64 channels), attention in every block of a level.
    """

    model_channels: int = 192  # base width
    channel_mult: Sequence[int] = (1, 2, 3, 4)  # width multiplier per resolution
    num_blocks: int = 3  # residual blocks per resolution
    attn_resolutions: Sequence[int] = (32, 16, 8)  # resolutions with self-attention

    def build(
        self, in_channels: int, out_channels: int, augment_dim: int, g: torch.Generator
    ) -> None:
        """Mapping, encoder, decoder and output layers with EDM's names, weights from ``g``."""
        img_resolution, label_dim = self.img_resolution, self.label_dim
        model_channels, channel_mult = self.model_channels, self.channel_mult
        num_blocks, attn_resolutions = self.num_blocks, self.attn_resolutions
        emb_channels = model_channels * self.channel_mult_emb
        third = math.sqrt(1 / 3)
        init = {"init_mode": "kaiming_uniform", "init_weight": third, "init_bias": third}
        init_zero = {"init_mode": "kaiming_uniform", "init_weight": 0.0, "init_bias": 0.0}
        block = {
            "emb_channels": emb_channels,
            "channels_per_head": 64,
            "dropout": self.dropout,
            "init": init,
            "init_zero": init_zero,
            "generator": g,
        }

        # Mapping.
        self.map_noise = PositionalEmbedding(model_channels)
        self.add_mapping_layers(model_channels, augment_dim, init_zero, init, g)
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
            widths = (cout, model_channels * mult)
            attn = res in attn_resolutions
            cout = add_encoder_blocks(self.enc, res, widths, num_blocks, attn, block)
        skips = [b.out_channels for b in self.enc.values()]

        # Decoder.
        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            widths = (cout, model_channels * mult)
            attention = [res in attn_resolutions] * (num_blocks + 1)  # every block of the level
            lowest = level == len(channel_mult) - 1
            cout = add_decoder_level(self.dec, res, widths, skips, attention, lowest, block)
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
