"""A training step that would not fit in memory is refused in one line naming --batch-size, from
the activations measured on one item (issue 16.2); the check changes nothing the step draws."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.run.memory import GIB, first_items, leading_items, saved_activation_bytes, step_fits
from i2i_cli.training import run_training
from tests.toy_training import make_context, mlp, toy_recipe, weights


def test_saved_activations_are_counted_once_per_storage() -> None:
    layer = torch.nn.Linear(256, 256)
    x = torch.randn(64, 256, requires_grad=True)
    measured = saved_activation_bytes(lambda: torch.tanh(layer(x)).sum())
    assert 64 * 256 * 4 <= measured <= 4 * 64 * 256 * 4 + layer.weight.nbytes


class Pair(NamedTuple):
    source: torch.Tensor
    labels: torch.Tensor


@dataclass
class Images:
    pixels: torch.Tensor
    name: str


@pytest.mark.parametrize(
    "batch",
    [
        torch.zeros(8, 3),
        Pair(torch.zeros(8, 3), torch.zeros(8)),
        {"x": torch.zeros(8, 2), "y": [torch.zeros(8)]},
        Images(torch.zeros(8, 1), "a"),
    ],
)
def test_batches_of_every_shape_are_cut_to_their_first_items(batch: object) -> None:
    assert leading_items(batch) == 8
    assert leading_items(first_items(batch, 1)) == 1


def test_the_advice_is_the_largest_batch_that_fits() -> None:
    assert step_fits(per_item=GIB, items=4, static=0, available=100 * GIB) is None
    line = step_fits(per_item=GIB, items=32, static=GIB, available=20 * GIB)
    assert line is not None and "use --batch-size 13 or less" in line and "32 items" in line
    line = step_fits(per_item=40 * GIB, items=2, static=0, available=20 * GIB)
    assert line is not None and "even one item does not fit" in line


def test_a_step_too_big_for_the_free_memory_is_refused_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("i2i_cli.training.loop.available_bytes", lambda device: 2048)
    with pytest.raises(UsageError, match=r"16 items needs about .* use --batch-size \d+ or less"):
        run_training(make_context(tmp_path / "out"), toy_recipe(steps=3))
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


def test_the_check_leaves_the_run_bitwise_as_it_was(tmp_path: Path, monkeypatch) -> None:
    run_training(make_context(tmp_path / "checked"), toy_recipe(mlp(dropout=0.3), steps=4))
    monkeypatch.setattr("i2i_cli.training.loop.available_bytes", lambda device: None)
    run_training(make_context(tmp_path / "unchecked"), toy_recipe(mlp(dropout=0.3), steps=4))
    checked, unchecked = (
        weights(tmp_path / "checked" / "model.pt"),
        weights(tmp_path / "unchecked" / "model.pt"),
    )
    assert all(torch.equal(checked[k], unchecked[k]) for k in checked)


def test_a_recipe_whose_loss_has_side_effects_opts_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("i2i_cli.training.loop.available_bytes", lambda device: 2048)
    run_training(make_context(tmp_path / "out"), toy_recipe(steps=2, check_memory=False))
    assert (tmp_path / "out" / "model.pt").is_file()
