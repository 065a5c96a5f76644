"""The Resizer low-pass filters of EGSDE (linear) and ILVR (cubic) against the golden files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from i2i_cli.resizer import LowPassFilter


def close(actual: torch.Tensor, expected: torch.Tensor, tol: dict[str, float]) -> None:
    torch.testing.assert_close(actual, expected, atol=tol["atol"], rtol=tol["rtol"])


@pytest.mark.parametrize("case", ["256_N32", "32_N2", "32_N4", "32_N8"])
def test_egsde_linear_resizer_matches(golden_dir: Path, case: str) -> None:
    golden = torch.load(golden_dir / "egsde_lowpass.pt", weights_only=True)
    cases, tol = golden["outputs"]["cases"], golden["tolerance"]
    x = cases[case]["x"] if torch.is_tensor(cases[case]["x"]) else cases["32_N2"]["x"]
    size, factor = (int(part) for part in case.replace("N", "").split("_"))
    low_pass = LowPassFilter(size, size, factor, "linear")
    close(low_pass.down(x), cases[case]["down"], tol)
    close(low_pass(x), cases[case]["updown"], tol)


def test_egsde_faithfulness_energy_and_gradient_match(golden_dir: Path) -> None:
    golden = torch.load(golden_dir / "egsde_lowpass.pt", weights_only=True)
    cases, tol = golden["outputs"]["cases"], golden["tolerance"]
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
