"""The smoke sampler: a pure function that perturbs with injected noise and box-filters."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from i2i_cli.noise import NoiseSource
from i2i_cli.progress import StepCallback, no_step


def box_filter(x: torch.Tensor) -> torch.Tensor:
    """The 3x3 mean of each pixel's neighbourhood, edges replicated, per channel."""
    channels = x.shape[1]
    kernel = torch.full((channels, 1, 3, 3), 1.0 / 9.0, dtype=x.dtype, device=x.device)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=channels)


def sample_smoke(
    x: torch.Tensor,
    noise: NoiseSource,
    noise_level: float,
    steps: int,
    *,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """``x + noise_level * z`` (z from ``noise``), then ``steps`` box filters, clamped to [-1,1]."""
    y = x + noise_level * noise.randn_like(x)
    for i in range(steps):
        y = box_filter(y)
        callback({"i": i, "total": steps, "x": y})
    return y.clamp(-1.0, 1.0)
