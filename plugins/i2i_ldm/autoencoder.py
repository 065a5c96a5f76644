"""LDM's ``VQModel`` (``ldm/models/autoencoder.py``): encoder, codebook, decoder (bbdm.md §6).

State-dict keys are LDM's: ``encoder.*``, ``decoder.*``, ``quantize.embedding.weight``,
``quant_conv.*``, ``post_quant_conv.*``. SDE-BBDM runs its bridge on the pre-quantisation latent
``encode(x)`` and quantises only when decoding (``VQModelInterface``'s split).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from i2i_ldm.layers import Downsample, ResnetBlock, Upsample, conv3x3, make_attn, normalize

CODE_CHUNK = 1 << 12
"""Latent vectors matched against the codebook at once (bounds the distance matrix)."""


@dataclass(frozen=True)
class AutoencoderConfig:
    """LDM's ``ddconfig`` (``double_z`` false) plus the codebook size and the port switches."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = ()
    attn_type: str = "vanilla"
    dropout: float = 0.0
    in_channels: int = 3
    out_ch: int = 3
    resolution: int = 256
    z_channels: int = 3
    embed_dim: int = 3
    n_embed: int = 8192
    apply_proj_out: bool = True
    norm_eps: float = 1e-6

    def attention(self, channels: int) -> nn.Module:
        """One attention block of this configuration."""
        return make_attn(channels, self.attn_type, self.norm_eps, self.apply_proj_out)

    def res_block(self, channels_in: int, channels_out: int) -> ResnetBlock:
        """One residual block of this configuration."""
        return ResnetBlock(channels_in, channels_out, self.dropout, self.norm_eps)


class Level(nn.Module):
    """One resolution level: ``block`` (residual blocks), ``attn`` (after each, if any), and
    ``downsample`` / ``upsample`` when the level changes resolution."""

    def __init__(self, blocks: list[nn.Module], attns: list[nn.Module]) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """The level's residual blocks, each followed by its attention where the level has it."""
        for index, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[index](h)
        return h


class Middle(nn.Module):
    """``block_1``, ``attn_1`` (present even with no attention resolutions), ``block_2``."""

    def __init__(self, config: AutoencoderConfig, channels: int) -> None:
        super().__init__()
        self.block_1 = config.res_block(channels, channels)
        self.attn_1 = config.attention(channels)
        self.block_2 = config.res_block(channels, channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Residual block, attention, residual block."""
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(nn.Module):
    """LDM's ``Encoder``: image -> ``z_channels`` map at 1/f of its side, f = 2^(levels - 1)."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        c = config
        self.conv_in = conv3x3(c.in_channels, c.ch)
        self.down = nn.ModuleList()
        side, width = c.resolution, c.ch
        for level, mult in enumerate(c.ch_mult):
            blocks, attns = [], []
            for _ in range(c.num_res_blocks):
                blocks.append(c.res_block(width, c.ch * mult))
                width = c.ch * mult
                if side in c.attn_resolutions:
                    attns.append(c.attention(width))
            stage = Level(blocks, attns)
            if level != len(c.ch_mult) - 1:
                stage.downsample = Downsample(width)
                side //= 2
            self.down.append(stage)
        self.mid = Middle(c, width)
        self.norm_out = normalize(width, c.norm_eps)
        self.conv_out = conv3x3(width, c.z_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's latent map (before ``quant_conv``)."""
        h = self.conv_in(x)
        for stage in self.down:
            h = stage(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """LDM's ``Decoder``: ``z_channels`` map -> image at f times its side.

    ``up[i]`` is level i (built from the deepest level up, listed shallowest first); each holds
    ``num_res_blocks + 1`` residual blocks and, except level 0, an ``upsample``.
    """

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        c = config
        levels = len(c.ch_mult)
        width = c.ch * c.ch_mult[-1]
        side = c.resolution // 2 ** (levels - 1)
        self.conv_in = conv3x3(c.z_channels, width)
        self.mid = Middle(c, width)
        stages: list[Level] = []
        for level in reversed(range(levels)):
            blocks, attns = [], []
            for _ in range(c.num_res_blocks + 1):
                blocks.append(c.res_block(width, c.ch * c.ch_mult[level]))
                width = c.ch * c.ch_mult[level]
                if side in c.attn_resolutions:
                    attns.append(c.attention(width))
            stage = Level(blocks, attns)
            if level != 0:
                stage.upsample = Upsample(width)
                side *= 2
            stages.insert(0, stage)
        self.up = nn.ModuleList(stages)
        self.norm_out = normalize(width, c.norm_eps)
        self.conv_out = conv3x3(width, c.out_ch)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The image the (post-``post_quant_conv``) latent map decodes to."""
        h = self.mid(self.conv_in(z))
        for stage in reversed(self.up):
            h = stage(h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """taming's ``VectorQuantizer2`` at inference: each vector -> its nearest codebook entry.

    Nearest in squared Euclidean distance, ``|z|^2 + |e|^2 - 2 z.e``, first index on ties
    (``argmin``); the result is ``z + (e - z).detach()`` (the straight-through estimator, so
    gradients reach ``z``). No remapping of indices, no commitment loss.
    """

    def __init__(self, n_embed: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """The codebook index of every position of ``z`` (B x D x H x W) -> B x H x W.

        Distances are computed in float32 even under autocast (a half-precision matmul would
        move the choice between near codebook vectors).
        """
        b, d, height, width = z.shape
        with torch.autocast(z.device.type, enabled=False):
            flat = z.permute(0, 2, 3, 1).reshape(-1, d).float()
            codebook = self.embedding.weight.float()
            squared = codebook.pow(2).sum(dim=1)
            found = [
                (rows.pow(2).sum(dim=1, keepdim=True) + squared - 2.0 * rows @ codebook.T).argmin(1)
                for rows in flat.split(CODE_CHUNK)
            ]
        return torch.cat(found).reshape(b, height, width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` with every vector replaced by its nearest codebook vector (straight-through)."""
        codes = self.embedding(self.indices(z)).permute(0, 3, 1, 2).to(z.dtype)
        return z + (codes - z).detach()


class VQModel(nn.Module):
    """LDM's VQ-regularised autoencoder: ``encode`` to the pre-quantisation latent, ``decode``.

    ``encode(x)`` = ``quant_conv(encoder(x))``, no quantisation, no scaling (what SDE-BBDM feeds
    its bridge, bbdm.md §6 and pitfall 15); ``decode(z)`` = ``decoder(post_quant_conv(
    quantize(z)))``. Images are in [-1, 1]; the latent has ``embed_dim`` channels at 1/f side.
    """

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantize = VectorQuantizer(config.n_embed, config.embed_dim)
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, kernel_size=1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, kernel_size=1)

    @property
    def factor(self) -> int:
        """The spatial downsampling factor f."""
        return 2 ** (len(self.config.ch_mult) - 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The pre-quantisation latent ``quant_conv(encoder(x))`` of images ``x`` in [-1, 1]."""
        return self.quant_conv(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The images of latents ``z``: nearest-codebook quantisation, ``post_quant_conv``,
        decoder (LDM's ``VQModelInterface.decode``)."""
        return self.decoder(self.post_quant_conv(self.quantize(z)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``decode(encode(x))``."""
        return self.decode(self.encode(x))
