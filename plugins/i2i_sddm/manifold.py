"""SDDM's manifold steps: the manifold M_i, the tangent/normal split of a direction on it, the
rescaled energy directions and their Frank-Wolfe min-norm combination (sddm.md §2, §3.1, §3.2).

M_i is the set of images whose every (channel, block) has the mean and std of the reference's
blocks diffused to level i. All functions are pure; shapes are ``[B, C, H, W]`` unless stated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from i2i_cli.diffusion.schedule import ScheduleTables, at
from i2i_sddm.blocks import blockify, unblockify

FRANK_WOLFE_TOLERANCE = 1e-4
FRANK_WOLFE_ITERATIONS = 20


class Moments(NamedTuple):
    """Per-channel, per-block mean and std, ``[B, C, area, area, 1, 1]`` each."""

    mean: torch.Tensor
    std: torch.Tensor


def diffused_moments(tables: ScheduleTables, reference: Moments, t: torch.Tensor) -> Moments:
    """The block moments of ``sqrt(abar_t) y0 + sqrt(1 - abar_t) z``: M_t's parameters.

    ``mu_t = sqrt(abar_t) mu`` and ``var_t = abar_t std^2 + (1 - abar_t)`` (``q_sample_sta``,
    fed the eps-inflated std of the reference).
    """
    scale = at(tables.sqrt_alphas_cumprod, t, reference.mean)
    spread = at(tables.sqrt_one_minus_alphas_cumprod, t, reference.std)
    variance = scale**2 * reference.std**2 + spread**2
    return Moments(scale * reference.mean, variance.sqrt())


def remove_block_mean(v: torch.Tensor) -> torch.Tensor:
    """``v`` without its component along the all-ones vector of each block (blocked input)."""
    flat = v.flatten(-2)
    return (flat - flat.mean(dim=-1, keepdim=True)).reshape(v.shape)


def remove_component(v: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``v - <v, u>/<u, u> u`` per block (blocked inputs): Gram-Schmidt against ``base``."""
    flat, base_flat = v.flatten(-2), base.flatten(-2)
    ratio = (flat * base_flat).sum(dim=-1, keepdim=True) / (base_flat**2).sum(-1, keepdim=True)
    return (flat - ratio * base_flat).reshape(v.shape)


def split_on_manifold(
    x: torch.Tensor, v: torch.Tensor, level_mean: torch.Tensor, area: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tangent, normal) parts of direction ``v`` at ``x`` on M_i (``divide_gradient``).

    Per block: remove the ones-direction, then the direction ``x - mu_i`` (the reference's
    block mean at level i, not x's own), in that order; normal = v - tangent (pitfall 6).
    """
    blocked = blockify(v, area)
    tangent = remove_component(remove_block_mean(blocked), blockify(x, area) - level_mean)
    return unblockify(tangent), unblockify(blocked - tangent)


def tangent_on_manifold(
    x: torch.Tensor, v: torch.Tensor, level_mean: torch.Tensor, area: int
) -> torch.Tensor:
    """The tangent part of ``v`` at ``x`` on M_i."""
    return split_on_manifold(x, v, level_mean, area)[0]


def rescale_to(
    direction: torch.Tensor, score_tangent: torch.Tensor, step_weight: torch.Tensor, scale: float
) -> torch.Tensor:
    """``d w_i / ||d|| ||dg_m|| scale`` with norms over H, W per (item, channel) (§3.1 step 5).

    ``step_weight`` is ``beta_i / sqrt(alpha_i)``; SDDM's hard-coded 25 is ``scale``. A zero
    direction stays zero.
    """
    norm = direction.norm(dim=(-2, -1), keepdim=True)
    scaled = direction * step_weight / norm * score_tangent.norm(dim=(-2, -1), keepdim=True)
    return torch.where(norm > 0, scaled * scale, torch.zeros_like(scaled))


def min_norm_of_two(vv: torch.Tensor, vu: torch.Tensor, uu: torch.Tensor) -> torch.Tensor:
    """argmin over g in [0, 1] of ||g v + (1 - g) u||^2 from the inner products (MGDA, Alg. 1).

    ``g = (uu - vu) / (vv + uu - 2 vu)``; a 0/0 gives 1 (SDDM's rule) before clamping.
    """
    gamma = -1.0 * (vu - uu) / (vv + uu - 2 * vu)
    return torch.where(torch.isnan(gamma), torch.ones_like(gamma), gamma).clamp(0, 1)


def frank_wolfe_min_norm(
    objectives: torch.Tensor,
    dim: int,
    *,
    batch_coupled: bool = False,
    tolerance: float = FRANK_WOLFE_TOLERANCE,
    iterations: int = FRANK_WOLFE_ITERATIONS,
) -> torch.Tensor:
    """The min-norm point of the hull of the N objectives on axis ``dim`` (MGDA by Frank-Wolfe).

    Axes before ``dim`` index independent problems (the first one is the batch), axes after it
    are the vector. From uniform weights, each iteration moves toward the vertex of least
    ``(a M)_j`` (first on ties) by the exact line search ``min_norm_of_two``. A problem stops once
    the mean |gamma| of its item's problems is below ``tolerance`` (per item, so a batch gives
    each item what a run of one gives it); ``batch_coupled`` stops every problem together once
    the mean over the whole tensor is, as SDDM's ``frank_wolfe_solver`` does. All iterations run,
    stopped problems frozen, so no value is read back to the host.
    """
    shape = objectives.shape
    vectors = objectives.reshape(*shape[: dim + 1], -1)
    gram = vectors @ vectors.transpose(-1, -2)
    count = shape[dim]
    weights = torch.full((*shape[:dim], 1, count), 1.0 / count, device=objectives.device)
    weights = weights.to(gram.dtype)
    running = torch.ones(shape[0], dtype=gram.dtype, device=gram.device)
    per_item = (shape[0],) + (1,) * (weights.ndim - 1)
    for _ in range(iterations):
        weighted = weights @ gram
        vertex = torch.zeros_like(weights).scatter_(-1, weighted.argmin(dim=-1, keepdim=True), 1)
        toward = vertex @ gram
        gamma = min_norm_of_two(
            toward @ vertex.transpose(-1, -2),
            toward @ weights.transpose(-1, -2),
            weighted @ weights.transpose(-1, -2),
        )
        gamma = gamma * running.reshape(per_item)
        weights = (1 - gamma) * weights + gamma * vertex
        moved = gamma.abs().flatten(1).mean(dim=1)
        if batch_coupled:
            running = running * (moved.mean() >= tolerance).to(running.dtype)
        else:
            running = running * (moved >= tolerance).to(running.dtype)
    return (weights @ vectors).reshape(*shape[:dim], *shape[dim + 1 :])


def combine_min_norm(
    score_tangent: torch.Tensor,
    energy_directions: Sequence[torch.Tensor],
    area: int,
    *,
    per_block: bool,
    batch_coupled: bool = False,
) -> torch.Tensor:
    """The min-norm convex combination of the tangent score and the energy directions (§3.1.6).

    One combination per (item, channel), or per (item, channel, block) with ``per_block``
    (SDDM's ``detail_merge``).
    """
    parts = [score_tangent, *energy_directions]
    if not per_block:
        return frank_wolfe_min_norm(torch.stack(parts, dim=-3), 2, batch_coupled=batch_coupled)
    stacked = torch.stack([blockify(p, area) for p in parts], dim=-3)
    return unblockify(frank_wolfe_min_norm(stacked, 4, batch_coupled=batch_coupled))
