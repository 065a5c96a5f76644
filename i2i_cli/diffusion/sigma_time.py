"""Adapters between index-time and sigma-time denoisers, and sigma <-> t of a discrete process.

A discrete VP process with cumulative products abar_t has x_t = sqrt(abar_t) x0 +
sqrt(1 - abar_t) eps, i.e. x_t / sqrt(abar_t) = x0 + sigma_t eps with
``sigma_t = sqrt((1 - abar_t) / abar_t)`` (Karras et al. 2022, §2 and Table 1; k-diffusion's
``DiscreteSchedule``). So the same network can be read in either time:

- ``IndexToSigma`` runs an index-time ``Denoiser`` (eps or x0 target; learned-variance
  channels are ignored) as a ``SigmaDenoiser``, exactly as k-diffusion's
  ``DiscreteEpsDDPMDenoiser`` / ``OpenAIDenoiser``: ``c_in = 1/sqrt(sigma^2 + 1)``, the network
  time ``t = sigma_to_t(sigma)`` interpolated in log sigma, ``D = x - sigma eps``. An ADM
  checkpoint then samples under ``karras.sample_heun``.
- ``SigmaToIndex`` runs a ``SigmaDenoiser`` (an EDM network) as an index-time ``Denoiser`` over
  a chosen discrete process: at original step t it returns ``D(x_t / sqrt(abar_t); sigma_t)`` as
  the x0 prediction, so the DDIM / DPM-Solver++ ODE passes and ``sample_ddim`` run on it.

Sigma tables are kept in float64 (the schedule's own precision), one copy per device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from i2i_cli.diffusion.denoiser import (
    Denoiser,
    DiscreteDenoiser,
    DiscreteProcess,
    ModelOutput,
    SigmaDenoiser,
)
from i2i_cli.diffusion.schedule import DiscreteSchedule


def process_sigmas(schedule: DiscreteSchedule) -> torch.Tensor:
    """sigma_t = sqrt((1 - abar_t) / abar_t) at every step t of ``schedule``, float64 ascending."""
    alphas_cumprod = schedule.arrays()["alphas_cumprod"]
    return torch.from_numpy(np.sqrt((1.0 - alphas_cumprod) / alphas_cumprod))


def sigma_range(process: DiscreteProcess | DiscreteSchedule) -> tuple[float, float]:
    """The natural (sigma_min, sigma_max) of a discrete process: its sigma_0 and sigma_{T-1}.

    The ends of the Karras grid for a model trained on it (k-diffusion's ``sigma_min`` and
    ``sigma_max``): about (0.01, 157.4) for the linear 1000-step process.
    """
    schedule = process.schedule() if isinstance(process, DiscreteProcess) else process
    sigmas = process_sigmas(schedule)
    return float(sigmas[0]), float(sigmas[-1])


def sigma_to_t(sigma: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """The fractional step t of each sigma: linear interpolation in log sigma between steps.

    k-diffusion's ``DiscreteSchedule.sigma_to_t`` (quantize=False), O(N log T) rather than its
    O(N T): ``low`` is the last step
    with log sigma_low <= log sigma (clamped to T-2), ``w = (log s_low - log sigma) /
    (log s_low - log s_high)`` clamped to [0, 1], ``t = (1 - w) low + w (low + 1)``. Levels
    below sigma_0 give t = 0, above sigma_{T-1} give t = T-1. Computed in float64; ``sigmas``
    is the ascending table of ``process_sigmas`` on sigma's device; the result has sigma's shape.
    """
    log_sigmas = sigmas.double().log()
    log_sigma = sigma.double().log().reshape(-1)
    # k-diffusion finds ``low`` as the argmax of a cumulative sum over the whole (T, N) table of
    # differences; the table ascends, so it is the count of steps at or below, less one.
    below = torch.searchsorted(log_sigmas, log_sigma, right=True)
    low_idx = (below - 1).clamp(min=0, max=log_sigmas.shape[0] - 2)
    high_idx = low_idx + 1
    low, high = log_sigmas[low_idx], log_sigmas[high_idx]
    w = ((low - log_sigma) / (low - high)).clamp(0, 1)
    t = (1 - w) * low_idx + w * high_idx
    return t.reshape(sigma.shape)


def t_to_sigma(t: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """sigma at fractional step t: exp((1 - w) log sigma_floor(t) + w log sigma_ceil(t)), w = frac.

    k-diffusion's ``DiscreteSchedule.t_to_sigma``, the inverse of ``sigma_to_t`` on [0, T-1];
    float64.
    """
    t = t.double()
    log_sigmas = sigmas.double().log()
    low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
    log_sigma = (1 - w) * log_sigmas[low_idx] + w * log_sigmas[high_idx]
    return log_sigma.exp()


def _per_item(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One value per item of ``x``: a scalar or [1] broadcast to [B], a [B] vector as it is."""
    values = values.reshape(-1)
    if values.numel() == 1:
        return values.expand(x.shape[0])
    if values.numel() != x.shape[0]:
        raise ValueError(f"{values.numel()} time values for a batch of {x.shape[0]} items")
    return values


def _as_dims(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-item vector reshaped to broadcast against ``x`` and cast to its dtype."""
    return values.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def _original_process(schedule: DiscreteSchedule) -> DiscreteSchedule:
    """``schedule`` itself, if it keeps every step of its process (identity timestep map)."""
    if not np.array_equal(schedule.timestep_map, np.arange(schedule.num_steps)):
        raise ValueError(
            "a sigma-time adapter needs the original (unrespaced) process of the model; "
            "respace the ODE grid instead"
        )
    return schedule


@dataclass(frozen=True, eq=False)
class _SigmaTable:
    """The float64 sigma table of a process, copied once to each device it is used on."""

    sigmas: torch.Tensor
    _copies: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False)

    def on(self, device: torch.device) -> torch.Tensor:
        """The table on ``device``."""
        key = str(device)
        if key not in self._copies:
            self._copies[key] = self.sigmas.to(device)
        return self._copies[key]


@dataclass(frozen=True, eq=False)
class IndexToSigma:
    """An index-time ``Denoiser`` run as a ``SigmaDenoiser`` (k-diffusion's ``OpenAIDenoiser``).

    ``schedule`` is the ORIGINAL process the network was trained on (every step); use
    ``for_denoiser`` to read it from a ``DiscreteDenoiser``'s spec.
    """

    denoiser: Denoiser
    schedule: DiscreteSchedule
    _table: _SigmaTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _original_process(self.schedule)
        object.__setattr__(self, "_table", _SigmaTable(process_sigmas(self.schedule)))

    @classmethod
    def for_denoiser(cls, denoiser: DiscreteDenoiser) -> IndexToSigma:
        """The adapter over the process the denoiser's ``ModelSpec`` declares."""
        return cls(denoiser, denoiser.spec.discrete_process().schedule())

    def with_labels(self, y: torch.Tensor | None) -> IndexToSigma:
        """The same adapter and sigma table over the denoiser given class labels ``y``."""
        if y is None:
            return self
        if not isinstance(self.denoiser, DiscreteDenoiser):
            raise ValueError("class labels need a DiscreteDenoiser under the adapter")
        labelled = object.__new__(IndexToSigma)
        object.__setattr__(labelled, "denoiser", self.denoiser.with_labels(y))
        object.__setattr__(labelled, "schedule", self.schedule)
        object.__setattr__(labelled, "_table", self._table)
        return labelled

    @property
    def sigmas(self) -> torch.Tensor:
        """sigma_t of every step of the process, float64 ascending (CPU)."""
        return self._table.sigmas

    @property
    def sigma_min(self) -> float:
        """sigma_0, the lowest level the network was trained at."""
        return float(self._table.sigmas[0])

    @property
    def sigma_max(self) -> float:
        """sigma_{T-1}, the highest level the network was trained at."""
        return float(self._table.sigmas[-1])

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """D(x; sigma) = x - sigma eps(c_in x, t(sigma)), c_in = 1/sqrt(sigma^2 + 1).

        (k-diffusion's ``DiscreteEpsDDPMDenoiser.forward`` with c_out = -sigma; an x0 target
        is D itself.) The network gets the VP input c_in x = sqrt(abar) x at the fractional
        original-process step ``sigma_to_t(sigma)``, in float32 (float64 when x is float64).
        """
        sigma = _per_item(sigma, x)
        t = sigma_to_t(sigma, self._table.on(x.device))
        t = t.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
        s = _as_dims(sigma, x)
        c_in = 1 / (s**2 + 1).sqrt()
        output = self.denoiser(x * c_in, t)
        if output.target == "eps":
            return x + output.prediction.to(x.dtype) * -s
        if output.target == "x0":
            return output.prediction.to(x.dtype)
        raise ValueError(
            f"a backbone predicting {output.target!r} cannot run as a sigma-time denoiser"
        )


@dataclass(frozen=True, eq=False)
class SigmaToIndex:
    """A ``SigmaDenoiser`` run as an index-time ``Denoiser`` over a chosen discrete process.

    ``schedule`` is the ORIGINAL process the index-time samplers are built on (every step;
    they respace it and call the denoiser with original steps). The network sees sigma_t of
    those steps: the linear 1000-step process spans about [0.01, 157.4].
    """

    denoiser: SigmaDenoiser
    schedule: DiscreteSchedule
    _table: _SigmaTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _original_process(self.schedule)
        object.__setattr__(self, "_table", _SigmaTable(process_sigmas(self.schedule)))

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> ModelOutput:
        """x0 = D(x_t / sqrt(abar_t); sigma_t) with sigma_t = sqrt((1 - abar_t) / abar_t).

        ``1/sqrt(abar_t) = sqrt(1 + sigma_t^2)``. Integer ``t`` reads the table; a fractional
        ``t`` is interpolated in log sigma (``t_to_sigma``). The denoiser gets sigma as a [B]
        vector in the dtype of ``x``; its output is returned as an ``x0`` prediction.
        """
        sigmas = self._table.on(x.device)
        t = _per_item(t, x)
        sigma = t_to_sigma(t, sigmas) if t.is_floating_point() else sigmas[t]
        scale = _as_dims((1 + sigma**2).sqrt(), x)
        denoised = self.denoiser(x * scale, sigma.to(x.dtype))
        return ModelOutput(denoised.to(x.dtype), None, "x0")
