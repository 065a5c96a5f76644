"""Classifier guidance as an energy: E(x_t) = -log p_phi(y | x_t, t) (Dhariwal & Nichol 2021).

With weight s, every sampler's guidance step ``-grad E`` is guided-diffusion's ``cond_fn``,
``s grad_x log softmax(classifier(x_t, t))[y]`` (adm.md §2): the ancestral mean moves by
``Sigma s grad log p`` (Algorithm 1), DDIM's eps by ``-sqrt(1 - abar) s grad log p``
(Algorithm 2). The class ``y`` of each item comes from the run (``GuidanceState.labels``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.guidance import EnergyFunction, GuidanceState
from i2i_cli.run.model_choice import load_for_run

if TYPE_CHECKING:
    from torch import nn

    from i2i_adm.settings import ClassifierEnergySettings
    from i2i_cli.run.context import RunContext


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log softmax(logits)[b, y_b] per item, in float32."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return -log_probs[torch.arange(len(logits), device=logits.device), labels]


def check_labels(labels: torch.Tensor, classes: int) -> None:
    """Every label names one of the classifier's classes; otherwise one usage line."""
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise UsageError(
            f"class label {int(labels.max())} is not one of the guidance classifier's "
            f"{classes} classes"
        )


def classifier_energy(classifier: nn.Module, classes: int) -> EnergyFunction:
    """E(y) = -log p(labels | y, t) under ``classifier`` (its ``classes`` logits)."""

    checked: list[torch.Tensor] = []  # the labels last checked: one host read per batch

    def energy(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        state.needs("t", "labels", energy="classifier")
        assert state.t is not None and state.labels is not None
        if not checked or checked[0] is not state.labels:
            check_labels(state.labels, classes)
            checked[:] = [state.labels]
        return negative_log_likelihood(classifier(y, state.t), state.labels)

    return energy


def build_classifier_energy(settings: ClassifierEnergySettings, ctx: RunContext) -> EnergyFunction:
    """The classifier energy of ``settings``, its network loaded once for the run."""
    loaded = load_for_run(settings, ctx)
    return classifier_energy(loaded.module, int(getattr(loaded.settings, "out_channels", 0)))
