"""Torch layers several backbones share, computed exactly as guided-diffusion's ``nn.py``.

The ADM UNet and classifier, DDIB's 2-D model, DG's discriminator and SDE-BBDM's UNet all
normalise with ``GroupNorm32`` and embed time with ``timestep_embedding`` (spec adm.md §1.2,
ddib.md §2.2, dg.md §5.3, bbdm.md). The ddim-repository UNet's embedding is another formula
(``[sin | cos]``, frequencies over ``half - 1``) and stays with that backbone.
"""

from __future__ import annotations

import functools
import math

import torch
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


@torch.compiler.disable  # traced, the CPU exp would become the compiler's own
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


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[cos(t f_i) | sin(t f_i)]``, ``f_i = max_period^(-i/half)``.

    guided-diffusion's ``timestep_embedding``: ``t`` (N,) may be fractional and is read in
    float32; ``half = dim // 2``; an odd ``dim`` gets a zero column (adm.md §1.2, pitfall 1).
    """
    half = dim // 2
    freqs = _frequencies(half, float(max_period), t.device)
    args = t[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding
