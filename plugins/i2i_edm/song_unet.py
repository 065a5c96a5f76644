"""SongUNet: the DDPM++ and NCSN++ networks of Song et al. 2021 as EDM builds them (dg.md §2.1)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from i2i_edm.block import EdmUNet, Labels, UNetBlock, add_decoder_head
from i2i_edm.layers import Conv2d, FourierEmbedding, GroupNorm, Linear, PositionalEmbedding


class SongUNet(EdmUNet):
    """DDPM++ (positional embedding, standard encoder) or NCSN++ (Fourier, residual encoder).

    Module names are EDM's: ``map_noise``, ``map_label``, ``map_augment``, ``map_layer0/1``, the
    ModuleDicts ``enc`` and ``dec`` keyed ``{res}x{res}_{conv,down,blockI,aux_*,in0,in1,up}``.
    """

    def __init__(
        self,
        img_resolution: int,  # image side at input/output
        in_channels: int,  # input colour channels
        out_channels: int,  # output colour channels
        label_dim: int = 0,  # class-label dimensionality, 0 = unconditional
        augment_dim: int = 0,  # augmentation-label dimensionality, 0 = none
        model_channels: int = 128,  # base width
        channel_mult: Sequence[int] = (1, 2, 2, 2),  # width multiplier per resolution
        channel_mult_emb: int = 4,  # embedding width multiplier
        num_blocks: int = 4,  # residual blocks per resolution
        attn_resolutions: Sequence[int] = (16,),  # resolutions with self-attention
        dropout: float = 0.10,  # dropout in the residual blocks
        label_dropout: float = 0.0,  # training-time dropout of the class labels
        embedding_type: Literal["positional", "fourier"] = "positional",  # DDPM++ | NCSN++
        channel_mult_noise: int = 1,  # noise-embedding width multiplier (DDPM++ 1, NCSN++ 2)
        encoder_type: Literal["standard", "skip", "residual"] = "standard",  # DDPM++ | NCSN++
        decoder_type: Literal["standard", "skip"] = "standard",  # DDPM++ | NCSN++
        resample_filter: Sequence[int] = (1, 1),  # DDPM++ [1,1], NCSN++ [1,3,3,1]
        init_seed: int = 0,  # seed of the initial weights (a local generator)
    ) -> None:
        super().__init__()
        if embedding_type not in ("positional", "fourier"):
            raise ValueError(f"embedding_type must be positional or fourier, not {embedding_type}")
        if encoder_type not in ("standard", "skip", "residual"):
            raise ValueError(f"encoder_type must be standard, skip or residual, not {encoder_type}")
        if decoder_type not in ("standard", "skip"):
            raise ValueError(f"decoder_type must be standard or skip, not {decoder_type}")
        g = torch.Generator().manual_seed(init_seed)
        self.img_resolution = img_resolution
        self.label_dim = label_dim
        self.label_dropout = label_dropout
        emb_channels = model_channels * channel_mult_emb
        noise_channels = model_channels * channel_mult_noise
        init = {"init_mode": "xavier_uniform"}
        init_zero = {"init_mode": "xavier_uniform", "init_weight": 1e-5}
        init_attn = {"init_mode": "xavier_uniform", "init_weight": math.sqrt(0.2)}
        fir: dict[str, Any] = {"resample_filter": resample_filter, "generator": g}  # aux paths
        block = {
            "emb_channels": emb_channels,
            "num_heads": 1,
            "dropout": dropout,
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
            if embedding_type == "positional"
            else FourierEmbedding(noise_channels, generator=g)
        )
        self.map_label = (
            Linear(label_dim, noise_channels, **init, generator=g) if label_dim else None
        )
        self.map_augment = (
            Linear(augment_dim, noise_channels, bias=False, **init, generator=g)
            if augment_dim
            else None
        )
        self.map_layer0 = Linear(noise_channels, emb_channels, **init, generator=g)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init, generator=g)

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
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                attn = res in attn_resolutions
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **block)
        skips = [b.out_channels for name, b in self.enc.items() if "aux" not in name]

        # Decoder.
        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            add_decoder_head(self.dec, res, cout, level == len(channel_mult) - 1, block)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                attn = idx == num_blocks and res in attn_resolutions
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **block)
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
