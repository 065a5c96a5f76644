"""What a backbone declares (``ModelSpec``) and the one way samplers call an index-time network.

A backbone plugin declares a ``ModelSpec``: how the network reads time (the index of a discrete
process, or a continuous noise level sigma), what its output means, the process it was trained
on, its input shape and its number of classes. ``DiscreteDenoiser`` turns an index-time network
and its spec into ``denoiser(x, t) -> ModelOutput`` with ``t`` the timestep of the *original*
process (guided-diffusion's ``timestep_map[t]``); sigma-time networks are called as
``denoiser(x, sigma) -> D(x; sigma)`` (``SigmaDenoiser``). Samplers only ever see these callables;
``i2i_cli.diffusion.sigma_time`` adapts one kind to the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from i2i_cli.diffusion.schedule import DiscreteSchedule, ScheduleName

Target = Literal["eps", "x0", "denoised", "raw"]
"""What a network's mean output holds: the noise eps, the clean x0 of a discrete process,
EDM's denoised D(x; sigma) of a sigma-time process, or a method's own objective (``raw``, e.g.
SDE-BBDM's x_t - x_0) that only that method knows how to read."""

TimeKind = Literal["index", "sigma"]


@dataclass(frozen=True)
class DiscreteProcess:
    """A discrete-time VP process of ``steps`` steps with a named beta schedule (DDPM, ADM)."""

    noise_schedule: ScheduleName = "linear"
    steps: int = 1000

    def schedule(self, respacing: str = "") -> DiscreteSchedule:
        """The process's schedule, respaced by ``respacing`` (guided-diffusion's syntax)."""
        return DiscreteSchedule.named(self.noise_schedule, self.steps, respacing)


@dataclass(frozen=True)
class SigmaProcess:
    """A continuous process x = x0 + sigma n on [sigma_min, sigma_max] (Karras et al. 2022)."""

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    sigma_data: float = 0.5


Process = DiscreteProcess | SigmaProcess


@dataclass(frozen=True)
class ModelSpec:
    """What a backbone predicts, how it reads time and the process it was trained on.

    ``target``: what the first ``channels`` output channels hold (see ``Target``).
    ``learned_variance``: ``channels`` more output channels hold v in [-1, 1], the interpolation
    between log beta and the clipped log posterior variance (Nichol & Dhariwal 2021, eq. 15).
    ``process``: a ``DiscreteProcess`` (the network reads the timestep index, times
    ``time_scale``) or a ``SigmaProcess`` (it reads sigma). ``input_shape``: one input without
    the batch dimension, (channels, height, width) for images, (2,) for 2-D points.
    """

    target: Target = "eps"
    process: Process = field(default_factory=DiscreteProcess)
    learned_variance: bool = False
    channels: int = 3
    time_scale: float = 1.0
    input_shape: tuple[int, ...] = (3, 256, 256)
    num_classes: int = 0
    """Number of class labels the network takes as ``y`` (0: unconditional)."""

    @property
    def time(self) -> TimeKind:
        """How the network reads time: ``index`` of a discrete process or continuous ``sigma``."""
        return "sigma" if isinstance(self.process, SigmaProcess) else "index"

    def discrete_process(self) -> DiscreteProcess:
        """The discrete process of an index-time backbone; a sigma-time one is a ValueError."""
        if not isinstance(self.process, DiscreteProcess):
            raise ValueError("this backbone reads continuous sigma, not a discrete timestep")
        return self.process


class ModelOutput(NamedTuple):
    """A backbone's output split by meaning: the mean prediction and optional variance values."""

    prediction: torch.Tensor
    """eps, x0 or a raw objective (see ``target``), shaped like x."""
    variance_values: torch.Tensor | None
    """v in [-1, 1] of a learned-range variance, or None for a fixed variance."""
    target: Target = "eps"
    """What ``prediction`` holds."""


Denoiser = Callable[[torch.Tensor, torch.Tensor], ModelOutput]
"""``denoiser(x, t) -> ModelOutput`` with ``t`` the original-process timestep of each item."""

SigmaDenoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``denoiser(x, sigma) -> D(x; sigma)``: the denoised estimate of x = x0 + sigma n (EDM)."""


@dataclass(frozen=True)
class DiscreteDenoiser:
    """Adapts an index-time ``model(x, t[, y])`` and its ``ModelSpec`` to ``Denoiser``."""

    model: nn.Module | Callable[..., torch.Tensor]
    spec: ModelSpec
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> ModelOutput:
        """Run the network at original-process timesteps ``t`` and split its channels."""
        spec = self.spec
        time = t if spec.time_scale == 1.0 else t * spec.time_scale
        out = self.model(x, time, **self.model_kwargs)
        expected = 2 * spec.channels if spec.learned_variance else spec.channels
        if out.shape[1] != expected:
            raise ValueError(
                f"the backbone returned {out.shape[1]} channels, its spec declares "
                f"{expected} (learned_variance={spec.learned_variance})"
            )
        if spec.learned_variance:
            mean_part, variance_values = torch.split(out, spec.channels, dim=1)
            return ModelOutput(mean_part, variance_values, spec.target)
        return ModelOutput(out, None, spec.target)

    def with_labels(self, y: torch.Tensor | None) -> DiscreteDenoiser:
        """The same denoiser, passing class labels ``y`` to a class-conditional network."""
        if y is None:
            return self
        return DiscreteDenoiser(self.model, self.spec, {**self.model_kwargs, "y": y})
