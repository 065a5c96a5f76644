"""One way to call any discrete-time backbone: what its output means, adapted to (eps, v).

A backbone plugin declares a ``Prediction``; ``DiscreteDenoiser`` turns a network and its
prediction into a callable ``denoiser(x, t) -> ModelOutput`` with ``t`` the timestep index of the
*original* process (guided-diffusion's ``timestep_map[t]``). Samplers only ever see that callable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
from torch import nn


@dataclass(frozen=True)
class Prediction:
    """What a discrete-time backbone predicts and how it reads time.

    ``target``: the first ``channels`` output channels are the noise ``eps`` or the clean ``x0``.
    ``learned_variance``: ``channels`` more output channels hold v in [-1, 1], the interpolation
    between log beta and the clipped log posterior variance (Nichol & Dhariwal 2021, eq. 15).
    ``time_scale``: the network is called with ``t * time_scale`` (1.0 for networks trained on
    the integer index of a 1000-step process).
    ``input_shape``: one input without the batch dimension: (channels, height, width) for
    images, (2,) for 2-D points.
    """

    target: Literal["eps", "x0"] = "eps"
    learned_variance: bool = False
    channels: int = 3
    time_scale: float = 1.0
    input_shape: tuple[int, ...] = (3, 256, 256)
    num_classes: int = 0
    """Number of class labels the network takes as ``y`` (0: unconditional)."""


class ModelOutput(NamedTuple):
    """A backbone's output split by meaning: the mean prediction and optional variance values."""

    prediction: torch.Tensor
    """eps or x0 (see ``Prediction.target``), shaped like x."""
    variance_values: torch.Tensor | None
    """v in [-1, 1] of a learned-range variance, or None for a fixed variance."""
    target: Literal["eps", "x0"] = "eps"
    """What ``prediction`` holds."""


Denoiser = Callable[[torch.Tensor, torch.Tensor], ModelOutput]
"""``denoiser(x, t) -> ModelOutput`` with ``t`` the original-process timestep of each item."""


@dataclass(frozen=True)
class DiscreteDenoiser:
    """Adapts ``model(x, t[, y])`` and its ``Prediction`` to the ``Denoiser`` interface."""

    model: nn.Module | Callable[..., torch.Tensor]
    prediction: Prediction
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> ModelOutput:
        """Run the network at original-process timesteps ``t`` and split its channels."""
        p = self.prediction
        time = t if p.time_scale == 1.0 else t * p.time_scale
        out = self.model(x, time, **self.model_kwargs)
        expected = 2 * p.channels if p.learned_variance else p.channels
        if out.shape[1] != expected:
            raise ValueError(
                f"the backbone returned {out.shape[1]} channels, its prediction declares "
                f"{expected} (learned_variance={p.learned_variance})"
            )
        if p.learned_variance:
            mean_part, variance_values = torch.split(out, p.channels, dim=1)
            return ModelOutput(mean_part, variance_values, p.target)
        return ModelOutput(out, None, p.target)

    def with_labels(self, y: torch.Tensor | None) -> DiscreteDenoiser:
        """The same denoiser, passing class labels ``y`` to a class-conditional network."""
        if y is None:
            return self
        return DiscreteDenoiser(self.model, self.prediction, {**self.model_kwargs, "y": y})
