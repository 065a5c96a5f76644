"""Classifier guidance as an ADM energy: E = -log p(y | x_t), the reference's cond_fn."""

from __future__ import annotations

import pytest
import torch

from i2i_adm.energies import classifier_energy
from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradient


class TinyClassifier(torch.nn.Module):
    """Logits linear in x and t: log p(y | x) has a closed-form gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(
            torch.randn(4, 12, generator=torch.Generator().manual_seed(2))
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T + 1e-3 * t.float()[:, None]


def test_minus_the_weighted_gradient_is_the_reference_cond_fn() -> None:
    """-grad(s E) = s grad_x log softmax(logits)[y] = s (W_y - sum_k p_k W_k)."""
    classifier = TinyClassifier()
    x = torch.randn(3, 3, 2, 2, generator=torch.Generator().manual_seed(3))
    t, labels = torch.tensor([5, 500, 999]), torch.tensor([0, 3, 1])
    energy = WeightedEnergy("classifier", 10.0, classifier_energy(classifier, 4))
    gradient = energy_gradient([energy], x, GuidanceState(t=t, labels=labels))
    with torch.no_grad():
        probs = torch.softmax(classifier(x, t), dim=-1)
        w = classifier.weight
        expected = 10.0 * (w[labels] - probs @ w).reshape_as(x)
    torch.testing.assert_close(-gradient, expected, atol=1e-5, rtol=1e-5)


def test_a_label_the_classifier_lacks_and_a_run_without_labels_are_one_line() -> None:
    energy = classifier_energy(TinyClassifier(), 4)
    x, t = torch.zeros(1, 3, 2, 2), torch.tensor([1])
    with pytest.raises(UsageError, match="not one of the guidance classifier's 4 classes"):
        energy(x, GuidanceState(t=t, labels=torch.tensor([7])))
    with pytest.raises(UsageError, match="needs labels"):
        energy(x, GuidanceState(t=t))
