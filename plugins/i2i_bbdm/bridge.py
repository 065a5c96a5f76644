"""The linear A-Bridge of SDE-BBDM: its time, noise level and closed-form marginal (bbdm.md §2).

The bridge ``dX_s = (y - X_s) / (1 - s) ds + lambda sqrt(1 - s) dW_s`` from ``X_0 = x0`` (target)
to ``X_1 = y`` (source) has the Gaussian marginal ``X_s = (1 - s) x0 + s y + B(s) eps`` with
``B(s) = lambda (1 - s) sqrt(ln(1 / (1 - s)))``. Discrete time ``t in {1..T}`` reads ``s = t / T``.
"""

from __future__ import annotations

import torch


def bridge_time(t: torch.Tensor, steps: int) -> torch.Tensor:
    """``m_t = t / T`` in float32, one per batch item (bbdm.md §2)."""
    return t.to(torch.float32) / steps


def bridge_std(m: torch.Tensor, c_lambda: float) -> torch.Tensor:
    """``B(m) = lambda (1 - m) sqrt(ln(1 / (1 - m)))``, set to 0 at ``m = 1`` (0 * inf there).

    Computed in ``m``'s dtype (float32 as the reference); the std of the bridge at time ``m``.
    """
    std = c_lambda * (1 - m) * torch.log(1 / (1 - m)).sqrt()
    return torch.where(m == 1, torch.zeros_like(std), std)


def per_item(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """One value per batch item, shaped to broadcast over ``like`` (B, 1, 1, ...)."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))


def bridge_marginal(
    x0: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    *,
    steps: int,
    c_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_t, objective)``: ``x_t = (1 - m_t) x0 + m_t y + B_t eps`` and ``x_t - x0`` (§2).

    The objective ``m_t (y - x0) + B_t eps`` is what the network learns to predict; at ``t = T``
    ``B_T = 0`` and ``x_T = y``.
    """
    m = per_item(bridge_time(t, steps), x0)
    b = bridge_std(m, c_lambda)
    x_t = (1 - m) * x0 + m * y + b * eps
    objective = m * (y - x0) + b * eps
    return x_t, objective
