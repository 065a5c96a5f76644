"""LPIPS v0.1 (AlexNet) against lpips_alex.pt: the ``lpips`` package's own computation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.metrics.lpips import LPIPS, SCALE, SHIFT, lpips_from_states


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, Any]:
    return torch.load(golden_dir / "lpips_alex.pt", weights_only=True)


@pytest.fixture(scope="module")
def network(golden: dict[str, Any]) -> LPIPS:
    """Our network with the file's random trunk (lpips slice keys) and the real v0.1 heads."""
    return lpips_from_states(golden["trunk_state_dict"], golden["heads_state_dict"])


def close(actual: torch.Tensor, expected: torch.Tensor, golden: dict[str, Any]) -> None:
    tolerance = golden["tolerance"]
    torch.testing.assert_close(
        actual, expected.to(actual.dtype), atol=tolerance["atol"], rtol=tolerance["rtol"]
    )


def test_the_configuration_is_alexnet_v0_1(golden: dict[str, Any]) -> None:
    config = golden["config"]
    assert (config["net"], config["version"], config["lpips"]) == ("alex", "0.1", True)
    assert golden["scaling"]["shift"].flatten().tolist() == pytest.approx(SHIFT)
    assert golden["scaling"]["scale"].flatten().tolist() == pytest.approx(SCALE)


@torch.no_grad()
def test_distance_and_per_layer_values_match(network: LPIPS, golden: dict[str, Any]) -> None:
    x, y = golden["inputs"]["in0"], golden["inputs"]["in1"]
    close(network(x, y), golden["outputs"]["lpips"].flatten(), golden)
    layers = network.per_layer(x, y)
    assert len(layers) == len(golden["outputs"]["per_layer"]) == 5
    for ours, theirs in zip(layers, golden["outputs"]["per_layer"], strict=True):
        close(ours, theirs.flatten(), golden)


@torch.no_grad()
def test_non_square_inputs_match(network: LPIPS, golden: dict[str, Any]) -> None:
    x, y = golden["inputs"]["odd0"], golden["inputs"]["odd1"]
    close(network(x, y), golden["outputs"]["lpips_odd"].flatten(), golden)


@torch.no_grad()
def test_unit_range_inputs_mapped_by_2x_minus_1_match(
    network: LPIPS, golden: dict[str, Any]
) -> None:
    x, y = golden["inputs"]["unit0"], golden["inputs"]["unit1"]
    close(
        network(2 * x - 1, 2 * y - 1), golden["outputs"]["lpips_unit_normalize"].flatten(), golden
    )


@torch.no_grad()
def test_spatial_map_matches(network: LPIPS, golden: dict[str, Any]) -> None:
    x, y = golden["inputs"]["in0"], golden["inputs"]["in1"]
    close(network.spatial(x, y), golden["outputs"]["lpips_spatial"], golden)
