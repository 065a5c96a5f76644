"""Energy guidance: fp32 gradients (weighted sum or one by one with values), optional state."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.guidance import (
    GuidanceState,
    WeightedEnergy,
    energy_gradient,
    energy_gradients,
)


def state_like(y: torch.Tensor) -> GuidanceState:
    return GuidanceState(y.clone(), torch.zeros_like(y), torch.zeros(len(y), dtype=torch.long))


def test_gradient_is_float32_and_unchanged_under_bf16_autocast() -> None:
    """Autocast does not reach the energy: a bf16 input gives the fp32 gradient of its values."""
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(16, 16)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(16, 16, generator=generator) / 4)
        layer.bias.copy_(torch.randn(16, generator=generator))
    y = torch.randn(2, 16, generator=generator).bfloat16()

    def energy(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return layer(x).pow(2).sum(dim=1)

    energies = [WeightedEnergy("quadratic", 3.0, energy)]
    plain = energy_gradient(energies, y.float(), state_like(y.float()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = energy_gradient(energies, y, state_like(y))
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain, atol=1e-6, rtol=1e-5)


def test_weights_scale_and_sum_the_gradients() -> None:
    y = torch.randn(3, 4)

    def first(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return x.pow(2).sum(dim=1)

    def second(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return x.sum(dim=1)

    both = energy_gradient(
        [WeightedEnergy("a", 2.0, first), WeightedEnergy("b", -1.0, second)], y, state_like(y)
    )
    torch.testing.assert_close(both, 4 * y - 1)


def test_item_gradients_are_independent_of_the_batch() -> None:
    y = torch.randn(4, 5)

    def coupled(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return (x * state.source).sum(dim=1) ** 2

    energies = [WeightedEnergy("c", 1.0, coupled)]
    whole = energy_gradient(energies, y, state_like(y))
    single = energy_gradient(energies, y[1:2], state_like(y[1:2]))
    torch.testing.assert_close(whole[1:2], single)


def test_zero_weights_cost_nothing() -> None:
    calls = []

    def counted(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        calls.append(1)
        return x.sum(dim=1)

    y = torch.randn(2, 3)
    gradient = energy_gradient([WeightedEnergy("off", 0.0, counted)], y, state_like(y))
    assert not calls
    assert torch.equal(gradient, torch.zeros_like(y))


def test_each_energy_comes_with_its_value_and_own_gradient() -> None:
    """energy_gradients: per energy, E(y) (B,) and grad_y E unweighted; their weighted sum is
    energy_gradient."""
    y = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    centre = torch.ones(4)

    def pull(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return 0.5 * (x - centre).pow(2).sum(dim=1)

    def tilt(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return x[:, 0] * 3.0

    energies = [WeightedEnergy("pull", 2.0, pull), WeightedEnergy("tilt", -1.0, tilt)]
    results = energy_gradients(energies, y, GuidanceState())
    assert [r.name for r in results] == ["pull", "tilt"]
    torch.testing.assert_close(results[0].value, 0.5 * (y - centre).pow(2).sum(dim=1))
    torch.testing.assert_close(results[0].gradient, y - centre)
    torch.testing.assert_close(results[1].value, 3.0 * y[:, 0])
    torch.testing.assert_close(results[1].gradient, torch.tensor([[3.0, 0, 0, 0]]).expand(3, 4))
    combined = sum(r.weight * r.gradient for r in results)
    torch.testing.assert_close(energy_gradient(energies, y, GuidanceState()), combined)


def test_an_energy_reading_what_the_method_lacks_is_one_usage_line() -> None:
    state = GuidanceState(t=torch.zeros(2, dtype=torch.long))
    state.needs("t", energy="toy")
    with pytest.raises(UsageError, match="energy classifier needs labels"):
        state.needs("t", "labels", energy="classifier")


def test_a_step_state_keeps_the_run_fields_and_sets_the_step_fields() -> None:
    labels = torch.tensor([3, 1])
    run = GuidanceState(labels=labels)
    step = run.at(sigma=torch.tensor([0.5, 0.5]))
    assert step.labels is labels and run.sigma is None
    assert step.float32().sigma is not None and step.float32().labels is labels
