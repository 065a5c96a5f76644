"""The Resizer low-pass filters of EGSDE (linear) and ILVR (cubic) against the golden files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from i2i_cli.io.resizer import LowPassFilter, resize_matrix


def close(actual: torch.Tensor, expected: torch.Tensor, tol: dict[str, float]) -> None:
    torch.testing.assert_close(actual, expected, atol=tol["atol"], rtol=tol["rtol"])


def egsde_cases(golden_dir: Path) -> tuple[dict, dict[str, float]]:
    """The ``outputs.cases`` of egsde_lowpass.pt and its tolerance."""
    golden = torch.load(golden_dir / "egsde_lowpass.pt", weights_only=True)
    return golden["outputs"]["cases"], golden["tolerance"]


def as_matrix(state: dict[str, torch.Tensor], dim: int, in_length: int) -> torch.Tensor:
    """The (out x in) matrix of the Resizer's registered ``weights.k`` / ``field_of_view.k``."""
    weights = state[f"weights.{dim}"].reshape(state[f"weights.{dim}"].shape[:2]).double()
    index = state[f"field_of_view.{dim}"]
    matrix = torch.zeros(index.shape[1], in_length, dtype=torch.float64)
    return matrix.index_put_((torch.arange(index.shape[1]).expand_as(index), index), weights, True)


@pytest.mark.parametrize("case", ["256_N32", "32_N2", "32_N4", "32_N8"])
def test_egsde_linear_resizer_matches(golden_dir: Path, case: str) -> None:
    cases, tol = egsde_cases(golden_dir)
    x = cases["256_N32"]["x"] if case == "256_N32" else cases["32_N2"]["x"]
    size, factor = (int(part) for part in case.replace("N", "").split("_"))
    low_pass = LowPassFilter(size, size, factor, "linear")
    close(low_pass.down(x), cases[case]["down"], tol)
    close(low_pass(x), cases[case]["updown"], tol)


@pytest.mark.parametrize("dim", [0, 1])
def test_egsde_resize_matrices_equal_the_reference_module_weights(
    golden_dir: Path, dim: int
) -> None:
    cases, tol = egsde_cases(golden_dir)
    case = cases["256_N32"]
    down = torch.from_numpy(resize_matrix(256, 1 / 32, "linear"))
    up = torch.from_numpy(resize_matrix(8, 32.0, "linear"))
    close(down, as_matrix(case["down_module_state"], dim, 256), tol)
    close(up, as_matrix(case["up_module_state"], dim, 8), tol)


def test_egsde_faithfulness_energy_and_gradient_match(golden_dir: Path) -> None:
    cases, tol = egsde_cases(golden_dir)
    case = cases["li_energy_N4"]  # y is "same as 32_N2.x"
    low_pass = LowPassFilter(32, 32, 4, "linear")
    y = cases["32_N2"]["x"].clone().requires_grad_(True)
    energy = ((low_pass(case["xt"]) - low_pass(y)) ** 2).sum(dim=(1, 2, 3))
    (gradient,) = torch.autograd.grad(energy.sum(), y)
    close(energy.detach(), case["energy"], tol)
    close(gradient, case["grad"], tol)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_ilvr_cubic_resizer_matches_at_32px(golden_dir: Path, factor: int) -> None:
    golden = torch.load(golden_dir / "ilvr_lowpass.pt", weights_only=True)
    outputs, tol = golden["outputs"], golden["tolerance"]
    low_pass = LowPassFilter(32, 32, factor, "cubic")
    x = golden["inputs"]["x32"]
    close(low_pass.down(x), outputs[f"x32_N{factor}_down"], tol)
    close(low_pass(x), outputs[f"x32_N{factor}_updown"], tol)


def test_ilvr_cubic_resizer_matches_at_256px(golden_dir: Path) -> None:
    golden = torch.load(golden_dir / "ilvr_lowpass.pt", weights_only=True)
    outputs, tol = golden["outputs"], golden["tolerance"]
    low_pass = LowPassFilter(256, 256, 32, "cubic")
    x = golden["inputs"]["x256"]
    close(low_pass.down(x), outputs["x256_N32_down"], tol)
    close(low_pass(x), outputs["x256_N32_updown"], tol)
