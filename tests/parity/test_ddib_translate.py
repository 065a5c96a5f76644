"""DDIB's 2-D translation and cycle reproduce ``synthetic_cycle.py`` (ddib_translate_synthetic.pt).

The golden run: Moons -> Checkerboards -> Moons with two short-fit C = 96, R = 1 models, 100
respaced DDIM steps per pass, and the same cycle unrespaced (4000 steps) on 8 points (ddib.md §6.3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.ode import decode_ode, encode_ode
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.points.synthetic_data import seeded_rng, synthetic_array
from i2i_ddib.model2d import build_synthetic_model
from i2i_ddib.settings import settings_from_flags, synthetic_spec
from tests.conftest import run_i2i


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, Any]:
    """The golden record of the synthetic cycle."""
    return torch.load(golden_dir / "ddib_translate_synthetic.pt", weights_only=True)


def _denoiser(golden: dict[str, Any], side: str) -> DiscreteDenoiser:
    """The golden model of ``side`` (source or target), loaded strictly, in eval mode."""
    settings = settings_from_flags(golden["config"]["create_model_and_diffusion_2d"])
    model = build_synthetic_model(settings)
    model.load_state_dict(golden["state_dict"][side], strict=True)
    return DiscreteDenoiser(model.eval(), synthetic_spec(settings))


def _close(actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float) -> None:
    """Within the golden tolerance, with the worst difference in the message."""
    worst = (actual - expected).abs().max().item()
    assert torch.allclose(actual, expected, atol=atol, rtol=rtol), f"max |diff| {worst:.3g}"


def _cycle_slack(returned: torch.Tensor, tolerance: dict[str, float]) -> float:
    """How far the cycle error max_i ||source_i - returned_i|| may move when ``returned`` does.

    Each coordinate of the round trip may differ by ``atol + rtol |x|``; a point's distance then
    moves by at most the norm of that vector (triangle inequality), and so does the maximum.
    """
    per_coordinate = tolerance["atol"] + tolerance["rtol"] * returned.abs()
    return per_coordinate.norm(dim=1).max().item()


def test_source_points_are_the_reference_draw(golden: dict[str, Any]) -> None:
    """The golden input is Synthetic2DDataset(32, MOONS) after np.random.seed(4321)."""
    points = synthetic_array("moons", 32, seeded_rng(golden["config"]["data_seed"]))
    assert np.array_equal(points, golden["inputs"]["source"].numpy())


def test_respaced_cycle_matches_every_pass(golden: dict[str, Any]) -> None:
    """encode -> decode -> encode -> decode, 100 DDIM steps, recorded noise in decode order."""
    out, tolerance = golden["outputs"], golden["tolerance"]
    schedule = DiscreteSchedule.named("linear", 4000, "100")
    assert np.array_equal(schedule.timestep_map, out["timestep_map"].numpy())
    tables = schedule.tables("cpu")
    _close(tables.alphas_cumprod.double(), out["alphas_cumprod_respaced"].double(), 1e-7, 1e-6)
    source, target = _denoiser(golden, "source"), _denoiser(golden, "target")
    noise = RecordedNoise(golden["noise"])
    trajectory: list[torch.Tensor] = []
    latent = encode_ode(
        source,
        golden["inputs"]["source"],
        schedule,
        solver="ddim",
        callback=lambda s: trajectory.append(s["x"]),
    )
    _close(torch.stack(trajectory), out["trajectories"]["encode1_x"], **_tol(tolerance))
    translated = decode_ode(target, latent, schedule, solver="ddim", noise=noise)
    latent_2 = encode_ode(target, translated, schedule, solver="ddim")
    returned = decode_ode(source, latent_2, schedule, solver="ddim", noise=noise)
    noise.assert_exhausted()
    for name, value in [
        ("latent", latent),
        ("target", translated),
        ("latent_2", latent_2),
        ("source_2", returned),
    ]:
        _close(value, out[name], **_tol(tolerance))
    error = (golden["inputs"]["source"] - returned).norm(dim=1)
    slack = _cycle_slack(out["source_2"], tolerance)
    assert abs(error.max().item() - out["cycle_max_l2"]) <= slack


def _tol(tolerance: dict[str, float]) -> dict[str, float]:
    """The respaced passes' atol and rtol."""
    return {"atol": tolerance["atol"], "rtol": tolerance["rtol"]}


@pytest.mark.slow
def test_unrespaced_translation_matches_full_4000(golden: dict[str, Any]) -> None:
    """The README's setting, all 4000 steps per pass, on 8 points (zeros for the unstored draws).

    The first translation (8000 network calls) is checked; the respaced test covers the cycle.
    """
    full, tolerance = golden["outputs"]["full_4000"], golden["tolerance"]
    schedule = DiscreteSchedule.named("linear", 4000)
    source, target = _denoiser(golden, "source"), _denoiser(golden, "target")
    zeros = RecordedNoise([torch.zeros(8, 2)] * 4000)
    latent = encode_ode(source, full["source"], schedule, solver="ddim")
    translated = decode_ode(target, latent, schedule, solver="ddim", noise=zeros)
    zeros.assert_exhausted()
    atol, rtol = tolerance["full_4000_atol"], tolerance["full_4000_rtol"]
    _close(latent, full["latent"], atol, rtol)
    _close(translated, full["target"], atol, rtol)


def test_cli_cycle_reproduces_the_reference(golden: dict[str, Any], tmp_path: Path) -> None:
    """``i2i translate ddib --cycle`` on the golden checkpoints writes the reference's arrays."""
    out, tolerance = golden["outputs"], golden["tolerance"]
    for side in ("source", "target"):
        torch.save(golden["state_dict"][side], tmp_path / f"{side}.pt")
    np.save(tmp_path / "points.npy", golden["inputs"]["source"].numpy())
    result = run_i2i(
        [
            "translate",
            "ddib",
            "--source",
            "moons",
            "--target",
            "checkerboards",
            "--source-checkpoint",
            str(tmp_path / "source.pt"),
            "--target-checkpoint",
            str(tmp_path / "target.pt"),
            "--set",
            "model.num_channels=96",
            "--set",
            "model.num_res_blocks=1",
            "--solver",
            "ddim",
            "--steps",
            "100",
            "--cycle",
            "--input",
            str(tmp_path / "points.npy"),
            "--output",
            str(tmp_path / "run"),
        ]
    )
    assert result.returncode == 0, result.stderr
    for name in ("latent", "target", "latent_2", "source_2"):
        written = torch.from_numpy(np.load(tmp_path / "run" / f"{name}.npy"))
        _close(written, out[name], **_tol(tolerance))
    record = json.loads((tmp_path / "run" / "result.json").read_text())
    slack = _cycle_slack(out["source_2"], tolerance)
    assert abs(record["cycle_max_l2"] - out["cycle_max_l2"]) <= slack
    assert (tmp_path / "run" / "translation.png").stat().st_size > 1000
