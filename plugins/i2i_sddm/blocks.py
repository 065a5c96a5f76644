"""Block statistics and block AdaIN: the parametrisation of SDDM's manifolds (sddm.md §2).

``area`` is the number of blocks per side (not the block size): a 256x256 image with area 16 has
16x16 blocks of 16x16 pixels. Statistics are per channel and per block; a blocked tensor has shape
``[..., area, area, H/area, W/area]`` and its statistics ``[..., area, area, 1, 1]``.
"""

from __future__ import annotations

import torch

MOMENT_EPS = 1e-5
"""Added to the (unbiased) variance before the square root, as AdaIN's ``calc_mean_std`` does."""


def check_area(height: int, width: int, area: int) -> None:
    """Raise ValueError unless ``area`` blocks per side tile an ``height`` x ``width`` image."""
    if area < 1 or height % area or width % area:
        raise ValueError(f"{area} blocks per side do not tile a {height}x{width} image")


def blockify(x: torch.Tensor, area: int) -> torch.Tensor:
    """``[..., H, W] -> [..., area, area, H/area, W/area]``: element (r, c, y, x) is pixel
    (r H/area + y, c W/area + x)."""
    height, width = x.shape[-2:]
    check_area(height, width, area)
    rows = x.reshape(*x.shape[:-2], area, height // area, area, width // area)
    return rows.transpose(-2, -3)


def unblockify(blocks: torch.Tensor) -> torch.Tensor:
    """The inverse of ``blockify``: ``[..., a, a, h, w] -> [..., a h, a w]``."""
    rows, cols, height, width = blocks.shape[-4:]
    return blocks.transpose(-2, -3).reshape(*blocks.shape[:-4], rows * height, cols * width)


def moments(x: torch.Tensor, eps: float = MOMENT_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and ``sqrt(unbiased variance + eps)`` over the last two dims, kept as 1x1."""
    flat = x.reshape(*x.shape[:-2], -1)
    std = (flat.var(dim=-1) + eps).sqrt()
    return flat.mean(dim=-1)[..., None, None], std[..., None, None]


def block_moments(x: torch.Tensor, area: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel, per-block mean and std of an image, ``[B, C, area, area, 1, 1]`` each."""
    return moments(blockify(x, area))


def adain(content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """AdaIN (Huang & Belongie 2017): ``(c - mean_c) / std_c * std + mean`` over the last dims."""
    content_mean, content_std = moments(content)
    return (content - content_mean) / content_std * std + mean


def block_adain(
    content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, area: int
) -> torch.Tensor:
    """BAdaIN: every block of every channel of ``content`` given the block moments ``mean, std``.

    With the moments of level i this is SDDM's projection (retraction) onto the manifold M_i.
    """
    return unblockify(adain(blockify(content, area), mean, std))


def block_adain_to(content: torch.Tensor, style: torch.Tensor, area: int) -> torch.Tensor:
    """BAdaIN(content, style): ``content``'s blocks given the moments of ``style``'s blocks."""
    return block_adain(content, *block_moments(style, area), area)
