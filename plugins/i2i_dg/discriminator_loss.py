"""DG's discriminator training step (dg.md §6, §5.1): VP perturbation, frozen features, BCE.

Per batch, ``train.py`` draws VP times t by importance sampling (one ``rand(B)``), perturbs
``x_t = mean(t) x + std(t) z`` (z ~ N(0, I)), reads the frozen extractor's middle-block features
at 999 t under ``no_grad`` and trains the head's ``sigmoid`` output against real = 1 / fake = 0
with ``BCELoss``; Adam(lr, weight decay) updates the head alone. ``i2i_dg.train`` runs this
on the core training loop.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from i2i_dg.discriminator import read_features
from i2i_dg.vpsde import BETA_MAX, BETA_MIN, marginal_prob


def _integral_beta(t: torch.Tensor) -> torch.Tensor:
    """I(t) = t^2 (b1 - b0) / 2 + t b0, the integrated VP rate (dg.md §5.1)."""
    return 0.5 * t**2 * (BETA_MAX - BETA_MIN) + t * BETA_MIN


def antiderivative(t: torch.Tensor) -> torch.Tensor:
    """A(t) = ln(1 - e^{-I(t)}) + I(t), the antiderivative of the likelihood weighting."""
    integral = _integral_beta(t)
    return torch.log(1.0 - torch.exp(-integral)) + integral


def normalizing_constant(t_min: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Z = A(1) - A(t_min) in float32, the mass of DG's importance-sampling density (§5.1)."""
    low = antiderivative(torch.tensor(t_min, dtype=torch.float32, device=device))
    return antiderivative(torch.tensor(1.0, dtype=torch.float32, device=device)) - low


def diffusion_time(
    u: torch.Tensor, t_min: float = 1e-5, importance_sampling: bool = True
) -> torch.Tensor:
    """DG's ``get_diffusion_time`` from its uniform draw u (dg.md §5.1), float32 like u.

    Importance sampling: ``Z = A(1) - A(t_min)``, ``t = (-b0 + sqrt(b0^2 + 2 (b1 - b0)
    ln(1 + exp(Z u + A(t_min))))) / (b1 - b0)``; otherwise ``t = u (1 - t_min) + t_min``.
    """
    if not importance_sampling:
        return u * (1.0 - t_min) + t_min
    low = antiderivative(torch.tensor(t_min, dtype=torch.float32, device=u.device))
    total = normalizing_constant(t_min, u.device)
    spread = BETA_MAX - BETA_MIN
    inner = torch.log(1.0 + torch.exp(total * u + low))
    return (-BETA_MIN + torch.sqrt(BETA_MIN**2 + 2 * spread * inner)) / spread


def perturb(x: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """x_t = mean(t) x + std(t) z, the VP marginal sample (dg.md §6)."""
    mean, std = marginal_prob(t)
    shape = (-1, *[1] * (x.ndim - 1))
    return mean.reshape(shape) * x + std.reshape(shape) * z


@dataclass(frozen=True)
class StepOutput:
    """What one training step computed: times, perturbed inputs, sigmoid outputs, BCE loss."""

    t: torch.Tensor
    perturbed: torch.Tensor
    prediction: torch.Tensor
    loss: torch.Tensor


def discriminator_step(
    extractor: nn.Module | None,
    head: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    u: torch.Tensor,
    z: torch.Tensor,
    *,
    classes: torch.Tensor | None = None,
    t_min: float = 1e-5,
    importance_sampling: bool = True,
) -> StepOutput:
    """BCE(sigmoid(head(features(x_t, t), t)), targets) for x in [-1, 1] (dg.md §6).

    ``extractor`` is the frozen ADM classifier (its ``features`` at 999 t, under ``no_grad``),
    or None where the network reads the perturbed points themselves (DG on 2-D points);
    ``head`` is the trained network (possibly wrapped for DDP); ``u`` and ``z`` are the
    step's uniform and normal draws.
    """
    t = diffusion_time(u, t_min, importance_sampling)
    perturbed = perturb(x, t, z)
    with torch.no_grad():
        features = read_features(extractor, perturbed, t)
    logits = head(features, t, classes)
    prediction = torch.sigmoid(logits.float()).reshape(-1)
    with torch.autocast(prediction.device.type, enabled=False):
        loss = F.binary_cross_entropy(prediction, targets.float())
    return StepOutput(t, perturbed, prediction, loss)


def make_optimizer(head: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """DG's optimiser: Adam over the head's parameters (betas 0.9/0.999, eps 1e-8)."""
    return torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)


def time_bins(count: int) -> list[str]:
    """Names of ``count`` equal-width VP-time bins on [0, 1]: ``"0.00-0.20"``, ..."""
    edges = [k / count for k in range(count + 1)]
    return [f"{a:.2f}-{b:.2f}" for a, b in itertools.pairwise(edges)]


def bin_index(t: torch.Tensor, count: int) -> torch.Tensor:
    """The bin of each VP time (t = 1 falls in the last bin)."""
    return (t.detach() * count).long().clamp(0, count - 1)


@dataclass
class Tally:
    """Correct predictions and items per VP-time bin, and the summed loss of the steps."""

    correct: torch.Tensor
    items: torch.Tensor
    loss: float = 0.0
    steps: int = 0

    @classmethod
    def empty(cls, bins: int, device: torch.device) -> Tally:
        """A tally of nothing over ``bins`` bins."""
        zeros = torch.zeros(bins, dtype=torch.float64, device=device)
        return cls(zeros, zeros.clone())

    def add(self, out: StepOutput, targets: torch.Tensor) -> None:
        """Count one step: accuracy of ``prediction > 0.5`` against the targets, per bin."""
        right = ((out.prediction.detach() > 0.5).float() == targets.float()).double()
        index = bin_index(out.t, len(self.items))
        self.correct.index_add_(0, index, right)
        self.items.index_add_(0, index, torch.ones_like(right))
        self.loss += float(out.loss.detach())
        self.steps += 1

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.correct.zero_()
        self.items.zero_()
        self.loss, self.steps = 0.0, 0

    def summary(self, names: list[str]) -> dict[str, object]:
        """Overall accuracy, accuracy per bin (null for an empty bin) and the mean loss."""
        total = float(self.items.sum())
        per_bin = {
            name: (float(c / n) if n > 0 else None)
            for name, c, n in zip(names, self.correct.tolist(), self.items.tolist(), strict=True)
        }
        return {
            "accuracy": float(self.correct.sum()) / total if total else math.nan,
            "accuracy_by_t": per_bin,
            "bce": self.loss / self.steps if self.steps else math.nan,
        }
