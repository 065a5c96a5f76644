"""Torch layers several backbones share, computed exactly as in guided-diffusion.

The ADM UNet and classifier, DDIB's 2-D model, DG's discriminator and SDE-BBDM's UNet all
normalise with ``GroupNorm32`` and embed time with ``timestep_embedding`` (spec adm.md §1.2,
ddib.md §2.2, dg.md §5.3, bbdm.md §7). The ddim-repository UNet's embedding is another formula
(``[sin | cos]``, frequencies over ``half - 1``) and stays with that backbone.

guided-diffusion's ``unet.py`` blocks (``ResBlock``, ``AttentionBlock``, the up/down samplers and
``TimestepEmbedSequential``) are here too: ADM's UNet and classifier and SDE-BBDM's UNet (an LDM
``openaimodel`` copy with the same layer maths) build on them. Module and parameter names follow
guided-diffusion's, so official state dicts load with ``strict=True``; attention runs through
``scaled_dot_product_attention``.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups (eps 1e-5, affine), computed in float32 and cast back.

    guided-diffusion's ``GroupNorm32``: fp16-trained weights normalise in float32. It reads
    (N, C, *spatial) maps and (N, C) feature rows alike; C must be a multiple of 32.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` in float32, returning its own dtype."""
        return super().forward(x.float()).type(x.dtype)

    def columns(self, x: torch.Tensor) -> torch.Tensor:
        """GroupNorm of (C, N) columns, channel-major: ``forward(x.T).T`` in float32, own dtype.

        Each column's groups are C/32 consecutive rows, so the statistics are sums of whole
        rows, which the CPU vectorises; torch's kernel on (N, C) rows reduces 4 or 8 values at
        a time (most of DDIB's 2-D model's time). Fewer than ``MANY_COLUMNS`` columns take that
        kernel: the separate passes would cost more than they save.
        """
        if x.shape[1] < MANY_COLUMNS:
            return self.forward(x.T).T
        values = x.float()
        channels, count = values.shape
        groups = values.view(self.num_groups, channels // self.num_groups, count)
        centred = groups - groups.mean(dim=1, keepdim=True)
        scale = torch.rsqrt((centred * centred).mean(dim=1, keepdim=True) + self.eps)
        if torch.is_grad_enabled():
            normed = (centred * scale).view(channels, count)
            return torch.addcmul(self.bias[:, None], normed, self.weight[:, None]).type(x.dtype)
        normed = centred.mul_(scale).view(channels, count)
        return normed.mul_(self.weight[:, None]).add_(self.bias[:, None]).type(x.dtype)


MANY_COLUMNS = 256
"""Fewer (C, N) columns than this take torch's kernel on the transpose."""


@functools.lru_cache(maxsize=64)
def _frequencies(half: int, max_period: float, device: torch.device) -> torch.Tensor:
    """``exp(-ln(max_period) * i / half)``, i < half, in float32 on the CPU, then on ``device``.

    The reference evaluates this float32 ``torch.exp`` on the CPU and moves the result; doing the
    same gives its frequencies on every device (a CUDA ``exp`` may round one of them the other
    way, and t up to 4000 amplifies that ulp). Cached, so a forward pass copies nothing to the
    device; built outside inference mode so autograd may save it.
    """
    with torch.inference_mode(False), torch.no_grad():
        steps = torch.arange(start=0, end=half, dtype=torch.float32)
        return torch.exp(-math.log(max_period) * steps / half).to(device=device)


def _eager_frequencies(half: int, max_period: float, device: torch.device) -> torch.Tensor:
    """``_frequencies``, computed outside any torch.compile graph (traced, its CPU exp would
    become the compiler's own).

    ``torch.compiler.disable`` imports torch._dynamo (over a second at every start), so it is
    applied only while compiling, where dynamo runs the disabled call eagerly.
    """
    if torch.compiler.is_compiling():
        return torch.compiler.disable(_frequencies)(half, max_period, device)
    return _frequencies(half, max_period, device)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[cos(t f_i) | sin(t f_i)]``, ``f_i = max_period^(-i/half)``.

    guided-diffusion's ``timestep_embedding``: ``t`` (N,) may be fractional and is read in
    float32; ``half = dim // 2``; an odd ``dim`` gets a zero column (adm.md §1.2, pitfall 1).
    """
    half = dim // 2
    freqs = _eager_frequencies(half, float(max_period), t.device)
    args = t[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU of a freshly computed ``x``, in place when no graph is recorded (saves a full map)."""
    return F.silu(x, inplace=not torch.is_grad_enabled())


class TimestepBlock(nn.Module):
    """A module whose forward also takes the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class TimestepEmbedSequential(nn.Sequential):
    """A sequence that passes the timestep embedding to the children that take it."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Apply each child, giving ``emb`` to timestep blocks."""
        for layer in self:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 conv when ``use_conv`` (key ``conv``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Double the spatial size."""
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """A 3x3 stride-2 conv when ``use_conv`` (key ``op``), else 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.op: nn.Module
        if use_conv:
            self.op = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1)
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve the spatial size."""
        return self.op(x)


class ResBlock(TimestepBlock):
    """Residual block with timestep conditioning, optional scale-shift norm and resampling.

    ``h = conv(resample(SiLU(GN(x))))``; ``GN(h) (1 + scale) + shift`` (or ``h + emb``); SiLU,
    dropout, conv; output ``skip(resample(x)) + h`` (adm.md §1.2, pitfalls 4 and 6).
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        use_scale_shift_norm: bool = False,
        up: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.updown = up or down
        self.h_upd: nn.Module = nn.Identity()
        self.x_upd: nn.Module = nn.Identity()
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        emb_out = 2 * out_channels if use_scale_shift_norm else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The block's output for features ``x`` and timestep embedding ``emb``."""
        norm_in, _, conv_in = self.in_layers
        h = silu(norm_in(x))
        if self.updown:
            h, x = self.h_upd(h), self.x_upd(x)
        h = conv_in(h)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        norm_out, _, dropout, conv_out = self.out_layers
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = torch.addcmul(shift, norm_out(h), 1 + scale)
        else:
            h = norm_out(h + emb_out)
        return self.skip_connection(x) + conv_out(dropout(silu(h)))


def heads_of(channels: int, num_heads: int, num_head_channels: int) -> int:
    """Attention heads: ``channels // num_head_channels`` when set (not -1), else ``num_heads``."""
    if num_head_channels == -1:
        return num_heads
    if channels % num_head_channels:
        raise ValueError(f"{channels} channels are not divisible by {num_head_channels} per head")
    return channels // num_head_channels


def qkv_attention(qkv: torch.Tensor, heads: int, legacy_order: bool) -> torch.Tensor:
    """Multi-head attention over a (B, 3C, T) projection; returns (B, C, T).

    Legacy order splits heads before q/k/v (``QKVAttentionLegacy``); the new order chunks q, k, v
    first (``QKVAttention``). guided-diffusion scales q and k by ``d^(-1/4)`` each, i.e. the
    logits by ``1/sqrt(d)``, which is SDPA's default scale (adm.md pitfall 2).
    """
    batch, width, length = qkv.shape
    channels = width // 3
    d = channels // heads
    if legacy_order:
        per_head = qkv.reshape(batch, heads, 3 * d, length).transpose(2, 3).contiguous()
        q, k, v = per_head.split(d, dim=-1)
    else:
        q, k, v = qkv.reshape(batch, 3, heads, d, length).permute(1, 0, 2, 4, 3).contiguous()
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(2, 3).reshape(batch, channels, length)


class AttentionBlock(nn.Module):
    """Spatial self-attention with a residual connection (keys ``norm``, ``qkv``, ``proj_out``)."""

    def __init__(
        self,
        channels: int,
        num_heads: int = 1,
        num_head_channels: int = -1,
        use_new_attention_order: bool = False,
    ) -> None:
        super().__init__()
        self.heads = heads_of(channels, num_heads, num_head_channels)
        self.legacy_order = not use_new_attention_order
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + proj(attention(norm(x)))`` over the flattened spatial positions."""
        batch, channels, *spatial = x.shape
        flat = x.reshape(batch, channels, -1)
        h = qkv_attention(self.qkv(self.norm(flat)), self.heads, self.legacy_order)
        return (flat + self.proj_out(h)).reshape(batch, channels, *spatial)


def output_head(channels: int, out_channels: int) -> nn.Sequential:
    """guided-diffusion's ``out``: GroupNorm32, SiLU, a 3x3 conv to ``out_channels`` (keys 0, 2)."""
    conv = nn.Conv2d(channels, out_channels, 3, padding=1)
    return nn.Sequential(GroupNorm32(channels), nn.SiLU(), conv)


class SkipUNet(nn.Module):
    """guided-diffusion's U-Net layout, and the pass through it given a timestep embedding.

    ADM's UNet and SDE-BBDM's build the four parts (``out`` from ``output_head``) and their own
    embedding; ``unet`` runs the encoder, keeping every block's output as a skip, the middle
    block, each decoder block on its input joined with the last skip, then the head.
    """

    input_blocks: nn.ModuleList
    middle_block: TimestepEmbedSequential
    output_blocks: nn.ModuleList
    out: nn.Sequential

    def unet(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The network output for maps ``x`` given the embedding ``emb``, in ``x``'s dtype."""
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            # Rebind h before the call so the un-concatenated map is freed (peak memory).
            h = torch.cat([h, skips.pop()], dim=1)
            h = block(h, emb)
        norm, _, conv = self.out
        return conv(silu(norm(h.type(x.dtype))))
