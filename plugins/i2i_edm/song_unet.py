"""SongUNet: the DDPM++ and NCSN++ networks of Song et al. 2021 as EDM builds them (dg.md §2.1)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from i2i_edm.block import EdmUNet, Labels, UNetBlock, add_decoder_level, add_encoder_blocks
from i2i_edm.layers import Conv2d, FourierEmbedding, GroupNorm, Linear, PositionalEmbedding


class SongUNet(EdmUNet):
    """DDPM++ (positional embedding, standard encoder) or NCSN++ (Fourier, residual encoder).

    Module names are EDM's: ``map_noise``, ``map_label``, ``map_augment``, ``map_layer0/1``, the
    ModuleDicts ``enc`` and ``dec`` keyed ``{res}x{res}_{conv,down,blockI,aux_*,in0,in1,up}``.
    """

    model_channels: int = 128  # base width
    channel_mult: Sequence[int] = (1, 2, 2, 2)  # width multiplier per resolution
    num_blocks: int = 4  # residual blocks per resolution
    attn_resolutions: Sequence[int] = (16,)  # resolutions with self-attention
    embedding_type: Literal["positional", "fourier"] = "positional"  # DDPM++ | NCSN++
    channel_mult_noise: int = 1  # noise-embedding width multiplier (DDPM++ 1, NCSN++ 2)
    encoder_type: Literal["standard", "skip", "residual"] = "standard"  # DDPM++ | NCSN++
    decoder_type: Literal["standard", "skip"] = "standard"  # DDPM++ | NCSN++
    resample_filter: Sequence[int] = (1, 1)  # DDPM++ [1,1], NCSN++ [1,3,3,1]

    def build(
        self, in_channels: int, out_channels: int, augment_dim: int, g: torch.Generator
    ) -> None:
        """Mapping, encoder and decoder with EDM's names, weights drawn from ``g`` in order."""
        if self.embedding_type not in ("positional", "fourier"):
            raise ValueError(
                f"embedding_type must be positional or fourier, not {self.embedding_type}"
            )
        if self.encoder_type not in ("standard", "skip", "residual"):
            raise ValueError(
                f"encoder_type must be standard, skip or residual, not {self.encoder_type}"
            )
        if self.decoder_type not in ("standard", "skip"):
            raise ValueError(f"decoder_type must be standard or skip, not {self.decoder_type}")
        img_resolution, label_dim = self.img_resolution, self.label_dim
        model_channels, channel_mult = self.model_channels, self.channel_mult
        num_blocks, attn_resolutions = self.num_blocks, self.attn_resolutions
        encoder_type, decoder_type = self.encoder_type, self.decoder_type
        resample_filter = self.resample_filter
        emb_channels = model_channels * self.channel_mult_emb
        noise_channels = model_channels * self.channel_mult_noise
        init = {"init_mode": "xavier_uniform"}
        init_zero = {"init_mode": "xavier_uniform", "init_weight": 1e-5}
        init_attn = {"init_mode": "xavier_uniform", "init_weight": math.sqrt(0.2)}
        fir: dict[str, Any] = {"resample_filter": resample_filter, "generator": g}  # aux paths
        block = {
            "emb_channels": emb_channels,
            "num_heads": 1,
            "dropout": self.dropout,
            "skip_scale": math.sqrt(0.5),
            "eps": 1e-6,
            "resample_filter": resample_filter,
            "resample_proj": True,
            "adaptive_scale": False,
            "init": init,
            "init_zero": init_zero,
            "init_attn": init_attn,
            "generator": g,
        }

        # Mapping: noise (and label, augmentation) embedding.
        self.map_noise: nn.Module = (
            PositionalEmbedding(noise_channels, endpoint=True)
            if self.embedding_type == "positional"
            else FourierEmbedding(noise_channels, generator=g)
        )
        self.map_label = (
            Linear(label_dim, noise_channels, **init, generator=g) if label_dim else None
        )
        self.add_mapping_layers(noise_channels, augment_dim, init, init, g)

        # Encoder.
        self.enc = nn.ModuleDict()
        cout = caux = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin, cout = cout, model_channels
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, 3, **init, generator=g)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, down=True, **block)
                if encoder_type == "skip":
                    self.enc[f"{res}x{res}_aux_down"] = Conv2d(caux, caux, 0, down=True, **fir)
                    self.enc[f"{res}x{res}_aux_skip"] = Conv2d(caux, cout, 1, **init, generator=g)
                if encoder_type == "residual":
                    self.enc[f"{res}x{res}_aux_residual"] = Conv2d(
                        caux, cout, 3, down=True, fused_resample=True, **init, **fir
                    )
                    caux = cout
            widths = (cout, model_channels * mult)
            attn = res in attn_resolutions
            cout = add_encoder_blocks(self.enc, res, widths, num_blocks, attn, block)
        skips = [b.out_channels for name, b in self.enc.items() if "aux" not in name]

        # Decoder.
        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            widths = (cout, model_channels * mult)
            attention = [False] * num_blocks + [res in attn_resolutions]  # the last block only
            lowest = level == len(channel_mult) - 1
            cout = add_decoder_level(self.dec, res, widths, skips, attention, lowest, block)
            if decoder_type == "skip" or level == 0:
                if decoder_type == "skip" and level < len(channel_mult) - 1:
                    self.dec[f"{res}x{res}_aux_up"] = Conv2d(
                        out_channels, out_channels, 0, up=True, **fir
                    )
                self.dec[f"{res}x{res}_aux_norm"] = GroupNorm(cout, eps=1e-6)
                self.dec[f"{res}x{res}_aux_conv"] = Conv2d(
                    cout, out_channels, 3, **init_zero, generator=g
                )

    def embedding(
        self, noise_labels: torch.Tensor, class_labels: Labels, augment_labels: Labels
    ) -> torch.Tensor:
        """The mapping network: noise embedding, halves swapped, + labels, two SiLU layers."""
        emb = self.map_noise(noise_labels)
        emb = (
            emb.reshape(emb.shape[0], 2, -1).flip(1).reshape(*emb.shape)
        )  # [cos, sin] -> [sin, cos]
        if self.map_label is not None and class_labels is not None:
            labels = self.dropped(class_labels)
            emb = emb + self.map_label(labels * math.sqrt(self.map_label.in_features))
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = F.silu(self.map_layer0(emb))
        return F.silu(self.map_layer1(emb))

    def unet(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The encoder-decoder on ``x`` [N, in_channels, H, W] given the embedding ``emb``."""

        skips = []
        aux = x
        for name, block in self.enc.items():
            if "aux_down" in name:
                aux = block(aux)
            elif "aux_skip" in name:
                x = skips[-1] = x + block(aux)
            elif "aux_residual" in name:
                x = skips[-1] = aux = (x + block(aux)) / math.sqrt(2)
            else:
                x = block(x, emb) if isinstance(block, UNetBlock) else block(x)
                skips.append(x)

        out: torch.Tensor | None = None
        tmp = x
        for name, block in self.dec.items():
            if "aux_up" in name:
                out = block(out)
            elif "aux_norm" in name:
                tmp = block(x)
            elif "aux_conv" in name:
                tmp = block(F.silu(tmp))
                out = tmp if out is None else tmp + out
            else:
                if x.shape[1] != block.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = block(x, emb)
        assert out is not None
        return out
