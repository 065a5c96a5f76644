"""SDE-BBDM's reverse samplers: the full T-step sampler and the fast skip-step one (bbdm.md §4-5).

Both start at the source itself, ``x_T = y``, and call ``net(x, t)`` for the raw objective
prediction ``x_t - x0`` (ModelSpec target ``raw``) at integer times ``t``. Every Gaussian draw
goes through the injected ``NoiseSource``, in the reference's order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from i2i_bbdm.bridge import bridge_std
from i2i_bbdm.settings import check_taus, evaluation_taus
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.run.progress import StepCallback, no_step

__all__ = [
    "BridgeNet",
    "check_taus",
    "evaluation_taus",
    "full_step_coefficients",
    "sample_bridge",
    "sample_bridge_fast",
]

BridgeNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``net(x_t, t) -> objective``: the predicted ``x_t - x0`` at integer times ``t`` (B,) long."""


def full_step_coefficients(
    t: int, steps: int, c_lambda: float
) -> tuple[float, float, float, float]:
    """``(c_xt, c_yt, c_epst, c_zt)`` of the step ``t -> t - 1``, ``t >= 2``, in float64 (§4).

    With ``beta_t = T - t + 1``, ``gamma_t = ln(T / beta_t)`` (= -ln(1 - (t-1)/T)) and
    ``C = 1 - 1/beta_t + 1/(beta_t gamma_t)``: ``c_xt = (1 + 1/(T gamma_t)) / C``,
    ``c_yt = (1/beta_t - (t-1)/(T beta_t gamma_t)) / C``, ``c_epst = 1/(T gamma_t) / C`` and
    ``c_zt = lambda / C sqrt(1 - t/T + 1/T) sqrt(1/T)``.
    """
    T = steps
    beta = T - t + 1
    gamma = math.log(T / beta)
    C = 1 - 1 / beta + 1 / (beta * gamma)
    c_xt = (1 + 1 / (T * gamma)) / C
    c_yt = (1 / beta - (t - 1) / (T * beta * gamma)) / C
    c_epst = (1 / (T * gamma)) / C
    c_zt = c_lambda / C * math.sqrt(1 - t / T + 1 / T) * math.sqrt(1 / T)
    return c_xt, c_yt, c_epst, c_zt


def times_like(x: torch.Tensor, t: int) -> torch.Tensor:
    """The integer time ``t`` once per batch item of ``x`` (a LongTensor on its device)."""
    return torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)


@torch.no_grad()
def sample_bridge(
    net: BridgeNet,
    y: torch.Tensor,
    *,
    steps: int,
    c_lambda: float,
    noise: NoiseSource,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """The full reverse bridge of SDE-BBDM's ``sampling_step``, T network calls (bbdm.md §4).

    From ``x_T = y``, for ``t = T .. 2``: ``x_{t-1} = c_xt x_t - c_yt y - c_epst obj - c_zt z``
    with ``obj = net(x_t, t)`` and ``z ~ N(0, I)`` drawn only for ``t > 2`` (every term after
    the first subtracted, the noise too); the last step is ``x_0 = x_1 - net(x_1, 1)``.
    """
    x = y
    for k, t in enumerate(range(steps, 0, -1)):
        obj = net(x, times_like(x, t))
        if t == 1:
            x = x - obj
        else:
            c_xt, c_yt, c_epst, c_zt = full_step_coefficients(t, steps, c_lambda)
            x = c_xt * x - c_yt * y - c_epst * obj
            if t > 2:
                x = x - c_zt * noise.randn_like(x)
        callback({"i": k, "total": steps, "t": t, "x": x})
    return x


@torch.no_grad()
def sample_bridge_fast(
    net: BridgeNet,
    y: torch.Tensor,
    *,
    taus: Sequence[int],
    steps: int,
    c_lambda: float,
    noise: NoiseSource,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """The skip-step reverse bridge of ``fast_sampling_step`` over decreasing ``taus`` (§5).

    From ``x = y`` (whatever ``taus[0]``), at each ``tau`` with successor ``tau'`` (0 after the
    last): ``x0_hat = x - net(x, tau)``; the last step returns ``x0_hat``; otherwise, with the
    bridge means ``ybar = (1 - m) x0_hat + m y`` at ``m = tau/T`` and ``m' = tau'/T``, the noise
    levels ``B' = B(m')`` and ``B = B(m)`` (1 at ``tau = T``) and ``sigma = B'/2``:
    ``x = ybar' + sqrt(B'^2 - sigma^2) / B (x - ybar) + sigma z``, one draw ``z`` per step.
    """
    check_taus(taus, steps)
    x = y
    for k, tau in enumerate(taus):
        x0_hat = x - net(x, times_like(x, tau))
        after = taus[k + 1] if k + 1 < len(taus) else 0
        if after == 0:
            x = x0_hat
        else:
            # torch.full fills on the device; torch.tensor would copy from the host and wait.
            m = torch.full((), tau / steps, dtype=torch.float32, device=x.device)
            m_after = torch.full((), after / steps, dtype=torch.float32, device=x.device)
            y_bar = (1 - m) * x0_hat + m * y
            y_bar_after = (1 - m_after) * x0_hat + m_after * y
            b_after = bridge_std(m_after, c_lambda)
            b = bridge_std(m, c_lambda) if tau != steps else torch.ones_like(m)
            sigma = 0.5 * b_after
            z = noise.randn_like(x)
            x = y_bar_after + (b_after**2 - sigma**2).sqrt() / b * (x - y_bar) + sigma * z
        callback({"i": k, "total": len(taus), "t": tau, "x": x})
    return x
