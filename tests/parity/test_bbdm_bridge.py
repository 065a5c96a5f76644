"""The SDE-BBDM bridge against forward_diffusion (golden bbdm_forward.pt; bbdm.md §2, §11)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_bbdm.bridge import bridge_marginal, bridge_std, bridge_time

CASES = ("T1000_lambda2", "T20_lambda1.5")


def case(golden_dir: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One case of bbdm_forward.pt and the file's tolerance."""
    golden = torch.load(golden_dir / "bbdm_forward.pt", weights_only=True)
    return golden["cases"][name], golden["tolerance"]


@pytest.mark.parametrize("name", CASES)
def test_marginal_and_objective_match_forward_diffusion(golden_dir: Path, name: str) -> None:
    data, tol = case(golden_dir, name)
    config, inputs, outputs = data["config"], data["inputs"], data["outputs"]
    x_t, objective = bridge_marginal(
        inputs["x0"],
        inputs["y"],
        inputs["t"],
        data["noise"][0],
        steps=config["time_steps"],
        c_lambda=config["c_lambda"],
    )
    torch.testing.assert_close(x_t, outputs["x_t"], atol=tol["atol"], rtol=tol["rtol"])
    torch.testing.assert_close(objective, outputs["objective"], atol=tol["atol"], rtol=tol["rtol"])
    torch.testing.assert_close(x_t - inputs["x0"], objective, atol=tol["atol"], rtol=tol["rtol"])


@pytest.mark.parametrize("name", CASES)
def test_noise_level_is_zero_at_both_ends_and_scales_with_lambda(
    golden_dir: Path, name: str
) -> None:
    data, tol = case(golden_dir, name)
    config, t = data["config"], data["inputs"]["t"]
    std = bridge_std(bridge_time(t, config["time_steps"]), config["c_lambda"])
    torch.testing.assert_close(std, data["outputs"]["B_t"], atol=tol["atol"], rtol=tol["rtol"])
    assert std[t == config["time_steps"]].eq(0).all()  # 0 * inf there, forced to 0
    assert torch.isfinite(std).all()


def test_noise_level_peaks_at_one_minus_exp_minus_half() -> None:
    """max B = lambda e^(-1/2) / sqrt(2) at s = 1 - e^(-1/2) (bbdm.md §2)."""
    s = torch.linspace(0, 1, 100_001, dtype=torch.float64)
    std = bridge_std(s, 2.0)
    assert std[0] == 0 and std[-1] == 0
    assert float(s[std.argmax()]) == pytest.approx(1 - math.exp(-0.5), abs=1e-4)
    assert float(std.max()) == pytest.approx(2.0 * math.exp(-0.5) / math.sqrt(2), rel=1e-8)


def test_the_endpoint_is_the_source_itself() -> None:
    x0, y, eps = torch.randn(3, 2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([50, 50])
    x_t, _ = bridge_marginal(x0, y, t, eps, steps=50, c_lambda=2.0)
    assert torch.equal(x_t, y)
