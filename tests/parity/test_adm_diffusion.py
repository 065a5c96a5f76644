"""guided-diffusion's schedules, respacing, steps and loops reproduced (golden adm_diffusion.pt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.gaussian import p_mean_variance, q_sample
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.samplers import (
    ddim_reverse_step,
    ddim_step,
    ddpm_step,
    sample_ddim,
    sample_ddpm,
)
from i2i_cli.diffusion.schedule import DiscreteSchedule, space_timesteps

RESPACINGS = {"1000_full": "", "ddim25": "ddim25", "100": "100"}
SCHEDULE_ARRAYS = [
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "posterior_variance",
    "posterior_log_variance_clipped",
]


class ToyModel:
    """The golden file's analytic stand-in for the UNet; records the timesteps it receives."""

    def __init__(self) -> None:
        self.received: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.received.append(t.clone())
        tf = t.float().reshape(-1, 1, 1, 1)
        return torch.cat([0.8 * torch.tanh(x) + 5e-4 * tf, torch.tanh(x + 2e-3 * tf - 1)], dim=1)


class ToyEnergy:
    """An energy whose -gradient is the golden file's analytic cond_fn, 0.3 cos(x) + 1e-4 t.

    E(x) = -sum(0.3 sin(x) + 1e-4 t x) per item; records the timesteps it receives.
    """

    def __init__(self) -> None:
        self.received: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        assert state.t is not None
        self.received.append(state.t.clone())
        t = state.t.float().reshape(-1, 1, 1, 1)
        return -(0.3 * torch.sin(x) + 1e-4 * t * x).flatten(1).sum(1)


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, Any]:
    return torch.load(golden_dir / "adm_diffusion.pt", weights_only=True)


def toy_denoiser() -> tuple[DiscreteDenoiser, ToyModel]:
    model = ToyModel()
    return DiscreteDenoiser(model, ModelSpec(target="eps", learned_variance=True)), model


def close(actual: torch.Tensor, expected: torch.Tensor, golden: dict[str, Any]) -> None:
    tol = golden["tolerance"]
    torch.testing.assert_close(actual, expected, atol=tol["atol"], rtol=tol["rtol"])


def test_respacing_keeps_the_reference_timesteps(golden: dict[str, Any]) -> None:
    for spec, expected in golden["outputs"]["timestep_maps"].items():
        assert space_timesteps(1000, spec) == expected.tolist(), spec


@pytest.mark.parametrize("key", RESPACINGS)
def test_schedule_arrays_match_in_float64(golden: dict[str, Any], key: str) -> None:
    expected = golden["outputs"]["per_respacing"][key]
    schedule = DiscreteSchedule.named("linear", 1000, RESPACINGS[key])
    arrays = schedule.arrays()
    tol = golden["tolerance"]["schedule_arrays_float64"]
    assert schedule.num_steps == expected["num_timesteps"]
    np.testing.assert_array_equal(schedule.timestep_map, expected["timestep_map"].numpy())
    for name in SCHEDULE_ARRAYS:
        np.testing.assert_allclose(
            arrays[name], expected[name].numpy(), atol=tol["atol"], rtol=tol["rtol"], err_msg=name
        )


@pytest.mark.parametrize("call", ["t_main", "t_edge"])
@pytest.mark.parametrize("key", RESPACINGS)
def test_single_steps_match(golden: dict[str, Any], key: str, call: str) -> None:
    expected = golden["outputs"]["per_respacing"][key]["calls"][call]
    inputs = golden["inputs"]
    tables = DiscreteSchedule.named("linear", 1000, RESPACINGS[key]).tables("cpu")
    t = expected["t"]
    x_t = inputs["x_t"]
    denoiser, model = toy_denoiser()

    close(q_sample(tables, inputs["x0"], t, inputs["q_noise"]), expected["q_sample"], golden)

    clipped = p_mean_variance(denoiser, tables, x_t, t, clip_denoised=True)
    torch.testing.assert_close(model.received[-1], expected["model_received_t"])
    close(torch.cat(clipped.model_output[:2], dim=1), expected["model_output"], golden)
    close(clipped.mean, expected["pmv_clip_mean"], golden)
    close(clipped.variance, expected["pmv_clip_variance"], golden)
    close(clipped.log_variance, expected["pmv_clip_log_variance"], golden)
    close(clipped.pred_x0, expected["pmv_clip_pred_xstart"], golden)
    unclipped = p_mean_variance(denoiser, tables, x_t, t, clip_denoised=False)
    close(unclipped.mean, expected["pmv_noclip_mean"], golden)
    close(unclipped.pred_x0, expected["pmv_noclip_pred_xstart"], golden)

    noise = RecordedNoise(expected["noise"])
    toy = ToyEnergy()
    energies = [WeightedEnergy("toy", 1.0, toy)]
    results = {
        "p_sample": ddpm_step(denoiser, tables, x_t, t, noise=noise),
        "p_sample_cond": ddpm_step(denoiser, tables, x_t, t, noise=noise, energies=energies),
        "ddim_eta0": ddim_step(denoiser, tables, x_t, t, noise=noise, eta=0.0),
        "ddim_eta0_5": ddim_step(denoiser, tables, x_t, t, noise=noise, eta=0.5),
        "ddim_eta0_cond": ddim_step(denoiser, tables, x_t, t, noise=noise, energies=energies),
        "ddim_reverse_noclip": ddim_reverse_step(denoiser, tables, x_t, t, clip_denoised=False),
    }
    noise.assert_exhausted()
    for name, result in results.items():
        close(result.sample, expected[name], golden)
    assert len(toy.received) == 2
    for received in toy.received:
        torch.testing.assert_close(received, expected["cond_fn_received_t"])


@pytest.mark.parametrize("loop", ["ddim25_ddim_sample_loop_eta0", "ddim25_p_sample_loop"])
def test_full_loops_replay_the_recorded_noise(golden: dict[str, Any], loop: str) -> None:
    expected = golden["outputs"]["loops"][loop]
    schedule = DiscreteSchedule.named("linear", 1000, "ddim25")
    denoiser, model = toy_denoiser()
    noise = RecordedNoise(expected["noise"])
    x_T = noise.randn(tuple(golden["config"]["shape"]))
    sampler = sample_ddim if "ddim" in loop.split("_", 1)[1] else sample_ddpm
    steps_seen: list[int] = []
    sample = sampler(
        denoiser, x_T, schedule, noise=noise, callback=lambda info: steps_seen.append(info["t"])
    )
    noise.assert_exhausted()
    assert steps_seen == list(range(24, -1, -1))
    close(sample, expected["sample"], golden)
    received = torch.stack([t[0] for t in model.received])
    torch.testing.assert_close(received, expected["model_received_t"])


def test_respacing_rejects_impossible_specs() -> None:
    with pytest.raises(ValueError, match="600"):
        space_timesteps(1000, "ddim600")
    with pytest.raises(ValueError, match="bad timestep respacing"):
        space_timesteps(1000, "fast")
    with pytest.raises(ValueError, match="section"):
        space_timesteps(10, "20")
