"""DG's discriminator for 2-D points: a time-conditioned residual MLP d(x_vp, tau) -> one logit.

On points there is no pretrained feature extractor to borrow (DG's images read the frozen ADM
classifier's features, dg.md §5.3), so the network reads the VP-space point itself. Like DG's
head it embeds the VP time as ``999 tau`` (sinusoidal, then Linear-SiLU-Linear) and returns
pre-sigmoid logits (B, 1); each block is ``h + Linear(SiLU(Linear(SiLU(h)) + Linear(emb)))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from i2i_cli.diffusion.nn import silu, timestep_embedding

TIME_SCALE = 999.0
"""DG's networks embed 999 tau (dg.md §5.3, pitfall 6)."""


class PointBlock(nn.Module):
    """One residual MLP block conditioned on the time embedding."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)
        self.time = nn.Linear(width, width)
        self.outer = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``h + outer(SiLU(inner(SiLU(h)) + time(emb)))`` for rows ``h`` (B, W)."""
        return h + self.outer(silu(self.inner(F.silu(h)) + self.time(emb)))


class PointDiscriminator(nn.Module):
    """Logits of d(x_vp, tau) for VP-space points (B, D) at VP times tau (B,)."""

    def __init__(self, in_channels: int = 2, width: int = 128, depth: int = 3) -> None:
        super().__init__()
        self.width = width
        self.time_embed = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.input = nn.Linear(in_channels, width)
        self.blocks = nn.ModuleList(PointBlock(width) for _ in range(depth))
        self.out = nn.Linear(width, 1)

    def forward(
        self, x: torch.Tensor, tau: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pre-sigmoid logits (B, 1); ``labels`` must be None (no conditional 2-D head)."""
        if labels is not None:
            raise ValueError("the 2-D discriminator is unconditional")
        steps = (tau.reshape(-1) * TIME_SCALE).expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(steps, self.width).to(x.dtype))
        h = self.input(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(F.silu(h))
