"""Probability-flow ODE passes of a discrete-time model: encode (data -> latent) and decode.

Two solvers share one grid, the (respaced) schedule's steps, and one model evaluation per step:

- ``ddim``: the first-order DDIM update (eta = 0), exactly guided-diffusion's
  ``ddim_reverse_sample_loop`` and ``ddim_sample_loop`` (DDIB's passes, ddib.md §1.4-1.5);
- ``dpmpp2m``: DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), the second-order multistep
  exponential integrator in the data-prediction form. Its first step and its step onto the end
  of the grid (abar = 1 when decoding, abar = 0 when encoding, where log-SNR is infinite) are
  first order, so the end points are DDIM's: a decode returns the last x0 estimate and an
  encode returns the last eps estimate.

Both are pure functions; the decoder's energies (classifier guidance) and x0 clipping act on
the x0 estimate exactly as in DDIM (clip, then guide; ddib.md pitfall 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from i2i_cli.diffusion.denoiser import Denoiser
from i2i_cli.diffusion.gaussian import p_mean_variance
from i2i_cli.diffusion.guidance import WeightedEnergy
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.samplers import encode_ddim, guided_x0, sample_ddim, step_state
from i2i_cli.diffusion.schedule import DiscreteSchedule, ScheduleTables
from i2i_cli.diffusion.steps import StepCallback, no_step

OdeSolver = Literal["ddim", "dpmpp2m"]
SOLVERS: tuple[str, ...] = ("ddim", "dpmpp2m")

Spacing = Literal["auto", "time", "logsnr"]
"""Where a pass's steps sit: evenly in time (guided-diffusion's respacing) or in log-SNR;
``auto`` is time for ddim (the reference) and log-SNR for dpmpp2m."""

DEFAULT_STEPS: dict[str, int | None] = {"ddim": None, "dpmpp2m": 50}
"""Steps per pass when none are asked for (None: every step of the process, the reference)."""


def solver_schedule(
    base: DiscreteSchedule, solver: OdeSolver, steps: int | None, spacing: Spacing = "auto"
) -> DiscreteSchedule:
    """The grid of an ODE pass: ``steps`` of ``base`` (default per solver), spaced by ``spacing``.

    A bad count is a ValueError saying what is allowed.
    """
    _check_solver(solver)
    steps = DEFAULT_STEPS[solver] if steps is None else steps
    if steps is None or steps == base.num_steps:
        return base
    if not 2 <= steps <= base.num_steps:
        raise ValueError(f"{steps} steps per pass: a pass takes 2 to {base.num_steps} steps")
    if spacing == "auto":
        spacing = "time" if solver == "ddim" else "logsnr"
    if spacing == "logsnr":
        return base.log_snr_spaced(steps)
    return base.respace(str(steps))


def _check_solver(solver: str) -> None:
    """Only the known solvers."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown ODE solver {solver!r} (solvers: {', '.join(SOLVERS)})")


def data_prediction(
    denoiser: Denoiser,
    tables: ScheduleTables,
    x: torch.Tensor,
    step: int,
    *,
    clip_denoised: bool,
    energies: Sequence[WeightedEnergy],
) -> torch.Tensor:
    """The x0 estimate at respaced step ``step``: clipped, then shifted by guidance (Alg. 2)."""
    t = torch.full((x.shape[0],), step, device=x.device, dtype=torch.long)
    out = p_mean_variance(denoiser, tables, x, t, clip_denoised=clip_denoised)
    if not energies:
        return out.pred_x0
    return guided_x0(tables, out, energies, x, t, step_state(tables, t))


def exponential_step(
    x: torch.Tensor, data: torch.Tensor, alpha_bar_from: float, alpha_bar_to: float
) -> torch.Tensor:
    """x_t = alpha_t D + sigma_t (x_s - alpha_s D) / sigma_s: one exponential-integrator step.

    With D the model's x0 estimate this is the DDIM update; with DPM-Solver++(2M)'s
    extrapolated D it is that solver's update ``(sigma_t/sigma_s) x_s - alpha_t (e^-h - 1) D``
    (Lu et al. 2022, eq. 9), written so that abar_to = 0 or 1 (infinite log-SNR) is exact.
    """
    alpha_s, sigma_s = math.sqrt(alpha_bar_from), math.sqrt(1.0 - alpha_bar_from)
    alpha_t, sigma_t = math.sqrt(alpha_bar_to), math.sqrt(1.0 - alpha_bar_to)
    return alpha_t * data + (sigma_t / sigma_s) * (x - alpha_s * data)


def log_snr(alpha_bar: float) -> float:
    """lambda = log(alpha / sigma) = 0.5 log(abar / (1 - abar))."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


def multistep_data(
    data: torch.Tensor,
    previous: torch.Tensor,
    lambdas: tuple[float, float, float],
) -> torch.Tensor:
    """DPM-Solver++(2M)'s D = (1 + 1/2r) x0_s - (1/2r) x0_prev with r = h_prev / h (Alg. 2)."""
    lambda_prev, lambda_s, lambda_t = lambdas
    ratio = (lambda_s - lambda_prev) / (lambda_t - lambda_s)
    return data + (data - previous) / (2.0 * ratio)


def dpm_solver_2m(
    denoiser: Denoiser,
    x: torch.Tensor,
    tables: ScheduleTables,
    grid: Sequence[int],
    alpha_bars: Sequence[float],
    *,
    energies: Sequence[WeightedEnergy] = (),
    clip_denoised: bool,
    callback: StepCallback,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) along ``grid``, ending at ``alpha_bars[-1]``.

    ``grid`` holds respaced steps and ``alpha_bars`` abar at every grid step plus the end point
    (0 or 1), so ``len(alpha_bars) == len(grid) + 1``; the model is evaluated once per step.
    """
    previous: torch.Tensor | None = None
    for i, step in enumerate(grid):
        pred_x0 = data_prediction(
            denoiser,
            tables,
            x,
            step,
            clip_denoised=clip_denoised,
            energies=energies,
        )
        first_order = previous is None or i == len(grid) - 1
        data = pred_x0
        if not first_order:
            lambdas = (
                log_snr(alpha_bars[i - 1]),
                log_snr(alpha_bars[i]),
                log_snr(alpha_bars[i + 1]),
            )
            data = multistep_data(pred_x0, previous, lambdas)  # type: ignore[arg-type]
        x = exponential_step(x, data, alpha_bars[i], alpha_bars[i + 1])
        previous = pred_x0
        callback({"x": x, "i": i, "total": len(grid), "t": step, "denoised": pred_x0})
    return x


def _alpha_bars(schedule: DiscreteSchedule) -> list[float]:
    """abar of every respaced step, in float64."""
    return [float(a) for a in schedule.arrays()["alphas_cumprod"]]


@torch.no_grad()
def encode_ode(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    solver: OdeSolver = "ddim",
    clip_denoised: bool = False,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """Integrate the ODE from the data (at step 0) up to abar = 0: the latent (ddib.md §1.4).

    One model evaluation per step of ``schedule``; ``ddim`` is the reference encoder exactly.
    Encoding is never guided (ddib.md pitfall 1).
    """
    _check_solver(solver)
    if solver == "ddim":
        return encode_ddim(denoiser, x, schedule, clip_denoised=clip_denoised, callback=callback)
    grid = list(range(schedule.num_steps))
    alpha_bars = [*_alpha_bars(schedule), 0.0]
    return dpm_solver_2m(
        denoiser,
        x,
        schedule.tables(x.device),
        grid,
        alpha_bars,
        clip_denoised=clip_denoised,
        callback=callback,
    )


@torch.no_grad()
def decode_ode(
    denoiser: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    energies: Sequence[WeightedEnergy] = (),
    solver: OdeSolver = "ddim",
    noise: NoiseSource,
    clip_denoised: bool = False,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """Integrate the ODE from a latent at the last step down to abar = 1 (ddib.md §1.5).

    ``ddim`` is guided-diffusion's ``ddim_sample_loop`` with eta = 0 (it draws, and zeroes, one
    Gaussian per step from ``noise``); ``dpmpp2m`` draws nothing.
    """
    _check_solver(solver)
    guidance = {"energies": energies, "clip_denoised": clip_denoised}
    if solver == "ddim":
        return sample_ddim(
            denoiser, x, schedule, noise=noise, eta=0.0, callback=callback, **guidance
        )
    grid = list(reversed(range(schedule.num_steps)))
    alpha_bars = [*reversed(_alpha_bars(schedule)), 1.0]
    return dpm_solver_2m(
        denoiser, x, schedule.tables(x.device), grid, alpha_bars, callback=callback, **guidance
    )
