"""What a trainer plugin hands the core loop: model, optimiser, loss, batches and options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Loss = Callable[[nn.Module, Any, torch.Generator], torch.Tensor]
"""``loss(model, batch, generator) -> scalar``; every random draw through ``generator``."""

Batches = Callable[[int, torch.Generator], Any]
"""``batches(step, generator) -> batch``: this rank's batch of a step, drawn from ``generator``."""

OptimizerFactory = Callable[[nn.Module], torch.optim.Optimizer]
"""``factory(model) -> optimizer``, called once the model is on the run's device."""


@dataclass
class TrainingRecipe:
    """A trainer's model, optimiser, loss and batches, and how the loop should run them."""

    model: nn.Module
    optimizer: torch.optim.Optimizer | OptimizerFactory
    loss: Loss
    batches: Batches
    steps: int
    settings: Mapping[str, Any]
    """The trainer's resolved settings, stored in checkpoints and compared on resume."""
    lr_multiplier: Callable[[int], float] | None = None
    """Learning rate of step k = base rate x multiplier(k) (None: constant)."""
    warmup_steps: int = 0
    """Ramp the rate linearly over the first steps: step k is scaled by min(1, (k + 1) / n)."""
    ema_decay: float | None = None
    """Keep an exponential moving average of the weights (saved in every checkpoint)."""
    export_ema: bool = True
    """``model.pt`` holds the EMA weights when EMA is on; False exports the raw weights."""
    grad_clip: float | None = None
    """Clip the gradients' global L2 norm to this value (None: no clipping)."""
    checkpoint_every: int = 500
    log_every: int = 10
    resume_may_change: frozenset[str] = field(default_factory=lambda: frozenset({"steps"}))
    """Settings a resumed run may change (e.g. training longer)."""
    check_memory: bool = True
    """Before the first step, call the loss once more on two of its items to measure the memory a
    step needs (``i2i_cli.run.memory``); a loss with side effects (tallies, logs) sets False."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("steps, checkpoint_every and log_every must be positive")
        if self.warmup_steps < 0:
            raise ValueError("warmup_steps must not be negative")

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimiser, made by the factory for ``model`` when a factory was given."""
        if isinstance(self.optimizer, torch.optim.Optimizer):
            return self.optimizer
        return self.optimizer(model)

    def rate_multiplier(self, step: int) -> float:
        """The factor on the base learning rate at ``step`` (0-based): warmup x schedule."""
        factor = self.lr_multiplier(step) if self.lr_multiplier is not None else 1.0
        if self.warmup_steps:
            factor *= min(1.0, (step + 1) / self.warmup_steps)
        return factor


LOOP_OPTIONS = ("ema_decay", "grad_clip", "checkpoint_every", "log_every")
"""Recipe fields a trainer's settings hold under the same names."""


def loop_options(settings: Any) -> dict[str, Any]:
    """The recipe's loop options (EMA decay, gradient clipping, checkpoint and log intervals)
    that ``settings`` hold, by name: ``TrainingRecipe(..., **loop_options(settings))``."""
    return {name: getattr(settings, name) for name in LOOP_OPTIONS if hasattr(settings, name)}
