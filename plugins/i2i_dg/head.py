"""DG's discriminator head: a small guided-diffusion ``EncoderUNetModel`` on extractor features.

dg.md §5.3. DG's variant of the encoder multiplies the VP time by 999 before the sinusoidal
embedding and (conditional head) adds ``label_emb(argmax(one-hot))`` to the time embedding.
Module names follow guided-diffusion's ``unet.py`` so the released ``discriminator_*.pt`` state
dicts load strictly (``time_embed``, ``label_emb``, ``input_blocks``, ``middle_block``, ``out``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from i2i_cli.diffusion.nn import GroupNorm32, timestep_embedding

TIME_SCALE = 999.0
"""DG's networks embed 999 tau (dg.md §5.3, pitfall 6)."""


@dataclass(frozen=True)
class HeadConfig:
    """``create_classifier`` arguments of a DG head (guided-diffusion names; dg.md §5.3)."""

    image_size: int = 8  # side of the feature map it reads
    in_channels: int = 512  # feature channels
    model_channels: int = 128
    out_channels: int = 1
    num_res_blocks: int = 2
    attention_resolutions: Sequence[int] = (0, 0, 1)  # downsample rates with attention
    channel_mult: Sequence[int] = (1,)
    num_head_channels: int = 64
    condition: bool = False  # conditional head: a label embedding
    num_class: int = 1000  # rows of the label embedding (1000 even for CIFAR-10)


def _attention(qkv: torch.Tensor, heads: int, legacy: bool) -> torch.Tensor:
    """Softmax attention over (B, 3C, T): legacy [head][q|k|v][ch] or new [q|k|v][head][ch]."""
    batch, width, length = qkv.shape
    ch = width // (3 * heads)
    if legacy:
        q, k, v = qkv.reshape(batch * heads, 3 * ch, length).split(ch, dim=1)
    else:
        q, k, v = (part.reshape(batch * heads, ch, length) for part in qkv.chunk(3, dim=1))
    scale = ch**-0.25
    weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
    weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
    return torch.einsum("bts,bcs->bct", weight, v).reshape(batch, heads * ch, length)


class ResBlock(nn.Module):
    """Scale-shift ResBlock, optionally halving (2x2 average pool after norm + SiLU)."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.in_layers = nn.Sequential(
            GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels),
            nn.SiLU(),
            nn.Dropout(0.0),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``skip(x) + conv(SiLU(GN(h)(1 + scale) + shift))``, h = conv(SiLU(GN(x)))."""
        h = F.silu(self.in_layers[0](x))
        if self.down:
            h, x = F.avg_pool2d(h, 2), F.avg_pool2d(x, 2)
        h = self.in_layers[2](h)
        scale, shift = self.emb_layers(emb).type(h.dtype)[..., None, None].chunk(2, dim=1)
        h = self.out_layers[0](h) * (1 + scale) + shift
        return self.skip_connection(x) + self.out_layers[3](F.silu(h))


class AttentionBlock(nn.Module):
    """Residual self-attention, legacy q/k/v layout (keys ``norm``, ``qkv``, ``proj_out``)."""

    def __init__(self, channels: int, num_head_channels: int) -> None:
        super().__init__()
        self.heads = channels // num_head_channels
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        """``x + proj_out(attention(qkv(norm(x))))`` over the flattened positions."""
        batch, channels, *spatial = x.shape
        flat = x.reshape(batch, channels, -1)
        h = _attention(self.qkv(self.norm(flat)), self.heads, legacy=True)
        return (flat + self.proj_out(h)).reshape(batch, channels, *spatial)


class AttentionPool2d(nn.Module):
    """CLIP-style pooling: the mean token, positional embedding, new-order attention, token 0."""

    def __init__(self, spatial: int, channels: int, num_head_channels: int, out: int) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(
            torch.randn(channels, spatial**2 + 1) / channels**0.5
        )
        self.qkv_proj = nn.Conv1d(channels, 3 * channels, 1)
        self.c_proj = nn.Conv1d(channels, out, 1)
        self.heads = channels // num_head_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled (B, out) output read from the prepended mean token."""
        batch, channels = x.shape[:2]
        flat = x.reshape(batch, channels, -1)
        tokens = torch.cat([flat.mean(dim=-1, keepdim=True), flat], dim=-1)
        tokens = tokens + self.positional_embedding[None].to(tokens.dtype)
        out = _attention(self.qkv_proj(tokens), self.heads, legacy=False)
        return self.c_proj(out)[:, :, 0]


class Blocks(nn.Sequential):
    """A sequence whose ResBlocks and AttentionBlocks also receive the time embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Apply each child; convolutions take ``x`` alone."""
        for layer in self:
            x = layer(x, emb) if isinstance(layer, (ResBlock, AttentionBlock)) else layer(x)
        return x


class DiscriminatorHead(nn.Module):
    """DG's head: ``logit(features, tau, condition)`` (B, out_channels), pre-sigmoid (§5.3)."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        c = config
        self.model_channels = c.model_channels
        emb = 4 * c.model_channels
        self.time_embed = nn.Sequential(
            nn.Linear(c.model_channels, emb), nn.SiLU(), nn.Linear(emb, emb)
        )
        if c.condition:
            self.label_emb = nn.Embedding(c.num_class, emb)
        ch = int(c.channel_mult[0] * c.model_channels)
        self.input_blocks = nn.ModuleList([Blocks(nn.Conv2d(c.in_channels, ch, 3, padding=1))])
        ds = 1
        for level, mult in enumerate(c.channel_mult):
            for _ in range(c.num_res_blocks):
                out = int(mult * c.model_channels)
                layers: list[nn.Module] = [ResBlock(ch, emb, out, down=False)]
                ch = out
                if ds in c.attention_resolutions:
                    layers.append(AttentionBlock(ch, c.num_head_channels))
                self.input_blocks.append(Blocks(*layers))
            if level != len(c.channel_mult) - 1:
                self.input_blocks.append(Blocks(ResBlock(ch, emb, ch, down=True)))
                ds *= 2
        self.middle_block = Blocks(
            ResBlock(ch, emb, ch, down=False),
            AttentionBlock(ch, c.num_head_channels),
            ResBlock(ch, emb, ch, down=False),
        )
        self.out = nn.Sequential(
            GroupNorm32(ch),
            nn.SiLU(),
            AttentionPool2d(c.image_size // ds, ch, c.num_head_channels, c.out_channels),
        )

    def embed(self, tau: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """time_embed(sinusoid(999 tau)) (+ label_emb of argmax(one-hot) or of the labels)."""
        emb = self.time_embed(timestep_embedding(tau * TIME_SCALE, self.model_channels))
        if condition is not None and hasattr(self, "label_emb"):
            index = condition.argmax(dim=1) if condition.ndim == 2 else condition
            emb = emb + self.label_emb(index.long())
        return emb

    def forward(
        self, features: torch.Tensor, tau: torch.Tensor, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pre-sigmoid logits (B, out_channels) of extractor ``features`` at VP times ``tau``."""
        emb = self.embed(tau, condition)
        h = features
        for block in self.input_blocks:
            h = block(h, emb)
        return self.out(self.middle_block(h, emb).type(features.dtype))
