"""Per-step code reads nothing back from the device: what replaced each host read still agrees."""

from __future__ import annotations

import pytest
import torch

import i2i_adm.energies as adm_energies
from i2i_adm.energies import classifier_energy
from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.guidance import GuidanceState
from i2i_dg.edm_gpp import BOOST_CHURN, BOOST_NOISE, boosted_churn


class Logits(torch.nn.Module):
    """A 4-class classifier of (B, 3, 2, 2) inputs."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :4]


def test_the_classifier_energy_checks_each_labels_tensor_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[torch.Tensor] = []
    original = adm_energies.check_labels
    monkeypatch.setattr(
        adm_energies,
        "check_labels",
        lambda labels, n: checked.append(labels) or original(labels, n),
    )
    energy = classifier_energy(Logits(), 4)
    x, t = torch.zeros(2, 3, 2, 2), torch.tensor([1, 1])
    labels = torch.tensor([0, 3])
    for _ in range(5):  # the steps of one batch
        energy(x, GuidanceState(t=t, labels=labels))
    assert len(checked) == 1
    with pytest.raises(UsageError, match="not one of the guidance classifier's 4 classes"):
        energy(x, GuidanceState(t=t, labels=torch.tensor([0, 9])))  # the next batch's labels


def test_boosting_selects_the_low_ratio_items_without_masked_assignment() -> None:
    log_ratio = torch.tensor([0.5, -1.0, float("inf"), -1e-3])
    churn, noise = boosted_churn(log_ratio, 0.0, 1.003, step=5, boosting=True)
    assert churn.tolist() == [0.0, BOOST_CHURN, 0.0, BOOST_CHURN]
    assert noise.tolist() == pytest.approx([1.003, BOOST_NOISE, 1.003, BOOST_NOISE])
    assert churn.dtype == noise.dtype == torch.float32
    churn, _ = boosted_churn(log_ratio, 0.0, 1.0, step=4, boosting=True)
    assert churn.tolist() == [0.0] * 4
