"""EDM's preconditioners and networks reproduce the reference (golden edm_precond.pt, dg.md §10).

Each case is built through the ``edm`` backbone's settings from the golden constructor
arguments, loaded strictly with the golden state dict (EDM's ``model.`` keys), and compared at
the golden tolerance: first the network's input and noise labels, then F, then D.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.networks.backbones import load_state_dict_strictly
from i2i_edm.block import UNetBlock
from i2i_edm.build import build, sigma_range, spec
from i2i_edm.settings import settings_from_edm

PRECOND_CASES = ["vp_uncond", "vp_cond", "ve_uncond", "edm_adm_cond"]
COND_CASES = ["vp_cond", "edm_adm_cond"]
VP_CASES = ["vp_uncond", "vp_cond"]


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, Any]:
    """The golden file, loaded once."""
    return torch.load(golden_dir / "edm_precond.pt", weights_only=True)


def close(actual: torch.Tensor, expected: torch.Tensor, golden: dict[str, Any]) -> None:
    """``actual`` equals ``expected`` within the golden file's tolerance."""
    tol = golden["tolerance"]
    torch.testing.assert_close(actual, expected, atol=tol["atol"], rtol=tol["rtol"])


def case_kwargs(golden: dict[str, Any], case: str) -> tuple[str, dict[str, Any]]:
    """The case's class name and constructor arguments (without the recorded attributes)."""
    config = dict(golden["config"][case])
    config.pop("sigma_min_attr", None)
    config.pop("sigma_max_attr", None)
    return config.pop("class_name"), config


def loaded(golden: dict[str, Any], case: str) -> torch.nn.Module:
    """The case's preconditioner built from its settings, golden weights loaded strictly."""
    model = build(settings_from_edm(*case_kwargs(golden, case)))
    load_state_dict_strictly(model, golden["state_dict"][case], f"golden edm_precond.pt {case}")
    return model.eval()


def run(model: torch.nn.Module, *args: Any) -> tuple[torch.Tensor, tuple[Any, ...], torch.Tensor]:
    """D(x; sigma), and the inner network's positional inputs and output of that call."""
    seen: dict[str, Any] = {}
    hook = model.model.register_forward_hook(
        lambda _m, inputs, output: seen.update(inputs=inputs, output=output)
    )
    try:
        with torch.no_grad():
            denoised = model(*args)
    finally:
        hook.remove()
    return denoised, seen["inputs"], seen["output"]


@pytest.mark.parametrize("case", PRECOND_CASES)
def test_denoiser_matches_the_reference_term_by_term(golden: dict[str, Any], case: str) -> None:
    inputs, outputs = golden["inputs"][case], golden["outputs"][case]
    model = loaded(golden, case)
    denoised, (model_input, noise_labels, *_), raw = run(
        model, inputs["x"], inputs["sigma"], inputs["class_labels"]
    )
    close(model_input, outputs["model_input"], golden)
    close(noise_labels, outputs["noise_labels"], golden)
    close(raw, outputs["F_x"], golden)
    close(denoised, outputs["D_x"], golden)
    assert denoised.dtype == torch.float32


@pytest.mark.parametrize("case", PRECOND_CASES)
def test_sigma_range_is_the_reference_attributes(golden: dict[str, Any], case: str) -> None:
    config = golden["config"][case]
    settings = settings_from_edm(*case_kwargs(golden, case))
    expected = (config["sigma_min_attr"], config["sigma_max_attr"])
    model = build(settings)
    assert (model.sigma_min, model.sigma_max) == expected
    assert sigma_range(settings) == expected
    process = spec(settings).process
    assert (process.sigma_min, process.sigma_max) == expected


@pytest.mark.parametrize("case", COND_CASES)
def test_missing_labels_mean_one_all_zero_row(golden: dict[str, Any], case: str) -> None:
    inputs, outputs = golden["inputs"][case], golden["outputs"][case]
    denoised, *_ = run(loaded(golden, case), inputs["x"], inputs["sigma"])
    close(denoised, outputs["D_x_no_labels"], golden)


@pytest.mark.parametrize("case", COND_CASES)
def test_a_scalar_sigma_broadcasts(golden: dict[str, Any], case: str) -> None:
    inputs, outputs = golden["inputs"][case], golden["outputs"][case]
    sigma = torch.tensor(0.7)
    denoised, *_ = run(loaded(golden, case), inputs["x"][:1], sigma, inputs["class_labels"][:1])
    close(denoised, outputs["D_x_scalar_sigma"], golden)


@pytest.mark.parametrize("case", VP_CASES)
def test_vp_schedule_and_its_inverse(golden: dict[str, Any], case: str) -> None:
    outputs = golden["outputs"][case]
    model = loaded(golden, case)
    sigma_of_t = model.sigma(outputs["sigma_fn_of_t"]["t"])
    assert sigma_of_t.dtype == torch.float64
    close(sigma_of_t, outputs["sigma_fn_of_t"]["sigma"], golden)
    close(model.sigma_inv(golden["inputs"][case]["sigma"]), outputs["sigma_inv"], golden)


def test_unet_block_with_two_interleaved_heads(golden: dict[str, Any]) -> None:
    _, kwargs = case_kwargs(golden, "unet_block")
    block = UNetBlock(**kwargs)
    load_state_dict_strictly(block, golden["state_dict"]["unet_block"], "golden unet_block")
    inputs = golden["inputs"]["unet_block"]
    with torch.no_grad():
        out = block.eval()(inputs["x"], inputs["emb"])
    close(out, golden["outputs"]["unet_block"]["out"], golden)
