"""Every trainer starts from weights fixed by the run seed: two runs give bitwise one model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from tests.conftest import run_i2i, run_i2i_process

DDIB_2D = ["train", "ddib-2d", "--task", "moons", "--quick", "--batch-size", "16", "--steps", "2"]
DDIB_2D += [
    "--num-points",
    "64",
    "--set",
    "model.num_channels=32",
    "--set",
    "model.num_res_blocks=1",
]
DDIB_2D += ["--device", "cpu"]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    """The exported weights of a training run."""
    return torch.load(folder / "model.pt", weights_only=True)


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_the_initial_model_does_not_depend_on_the_global_generator(tmp_path: Path) -> None:
    """In one process the global generator is wherever earlier work left it: it must not matter."""
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        out = tmp_path / f"g{global_seed}"
        result = run_i2i([*DDIB_2D, "--output", str(out)])
        assert result.returncode == 0, result.stderr
        runs.append(weights(out))
    assert_bitwise_equal(*runs)


def test_the_run_seed_chooses_the_initial_model(tmp_path: Path) -> None:
    for seed in ("0", "1"):
        result = run_i2i([*DDIB_2D, "--seed", seed, "--output", str(tmp_path / seed)])
        assert result.returncode == 0, result.stderr
    first, second = weights(tmp_path / "0"), weights(tmp_path / "1")
    assert any(not torch.equal(first[key], second[key]) for key in first)


def test_training_leaves_the_callers_global_generator_as_it_was(tmp_path: Path) -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert run_i2i([*DDIB_2D, "--output", str(tmp_path / "o")]).returncode == 0
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.slow
def test_two_processes_train_bitwise_the_same_model(tmp_path: Path) -> None:
    """The issue's case: each process seeds torch's global generator its own way."""
    outputs = [tmp_path / "p1", tmp_path / "p2"]
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(lambda out: run_i2i_process([*DDIB_2D, "--output", str(out)]), outputs)
        )
    for result in results:
        assert result.returncode == 0, result.stderr
    assert_bitwise_equal(weights(outputs[0]), weights(outputs[1]))
