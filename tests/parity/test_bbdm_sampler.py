"""SDE-BBDM's samplers against the reference managers (golden bbdm_sample.pt and
bbdm_fast_sample.pt; bbdm.md §4, §5, §11): recorded noise replayed in draw order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_bbdm.reverse_bridge import (
    evaluation_taus,
    full_step_coefficients,
    sample_bridge,
    sample_bridge_fast,
)
from i2i_cli.diffusion.noise import RecordedNoise
from tests.parity.test_bbdm_unet import close, golden_unet

FAST_CASES = ("T10_steps_10_5_1", "T10_steps_8_4_2", "T1000_eval_schedule")


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    """The golden file ``name``.pt."""
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


class Recorder:
    """A step callback keeping every state ``x`` by the time ``t`` of the step that made it."""

    def __init__(self) -> None:
        self.states: dict[int, torch.Tensor] = {}

    def __call__(self, info: Mapping[str, Any]) -> None:
        self.states[int(info["t"])] = info["x"]


def check_recorded(recorder: Recorder, recorded: dict[str, Any], tol: dict[str, Any]) -> None:
    """Each recorded step's state ``x_next`` (where the reference's path went)."""
    for key, expected in recorded.items():
        close(recorder.states[int(key[1:])], expected["x_next"], tol)


def test_full_sampler_matches_sampling_step(golden_dir: Path) -> None:
    golden = load(golden_dir, "bbdm_sample")
    config, tol = golden["config"], golden["tolerance"]
    noise, recorder = RecordedNoise(golden["noise"]), Recorder()
    x0 = sample_bridge(
        golden_unet(golden, config["unet"]),
        golden["inputs"]["y"],
        steps=config["time_steps"],
        c_lambda=config["c_lambda"],
        noise=noise,
        callback=recorder,
    )
    noise.assert_exhausted()  # T - 2 draws: none at t = 2 and t = 1
    close(x0, golden["outputs"]["x0"], tol)
    check_recorded(recorder, golden["recorded"], tol)
    assert sorted(recorder.states, reverse=True) == golden["schedule"][:, 2].tolist()


def test_full_sampler_subtracts_the_noise(golden_dir: Path) -> None:
    """A sampler adding ``c_zt z`` would leave the golden path (bbdm.md pitfall 1)."""
    golden = load(golden_dir, "bbdm_sample")
    config = golden["config"]
    x0 = sample_bridge(
        golden_unet(golden, config["unet"]),
        golden["inputs"]["y"],
        steps=config["time_steps"],
        c_lambda=config["c_lambda"],
        noise=RecordedNoise([-z for z in golden["noise"]]),
    )
    tol = golden["tolerance"]
    assert not torch.allclose(x0, golden["outputs"]["x0"], atol=tol["atol"], rtol=tol["rtol"])


def test_first_step_cancels_the_large_coefficients() -> None:
    """At t = T (x_T = y): c_xt - c_yt = 1 and c_epst = 1/T (bbdm.md §4)."""
    for steps in (10, 1000):
        c_xt, c_yt, c_epst, _ = full_step_coefficients(steps, steps, 2.0)
        assert c_xt - c_yt == pytest.approx(1.0, rel=1e-9)
        assert c_epst == pytest.approx(1 / steps, rel=1e-9)


@pytest.mark.parametrize("name", FAST_CASES)
def test_fast_sampler_matches_fast_sampling_step(golden_dir: Path, name: str) -> None:
    golden = load(golden_dir, "bbdm_fast_sample")
    data = golden["cases"][name]
    config, tol = data["config"], data["tolerance"]
    noise, recorder = RecordedNoise(data["noise"]), Recorder()
    x0 = sample_bridge_fast(
        golden_unet(golden, golden["config"]["unet"]),
        data["inputs"]["y"],
        taus=config["sampling_range"],
        steps=config["time_steps"],
        c_lambda=config["c_lambda"],
        noise=noise,
        callback=recorder,
    )
    noise.assert_exhausted()  # one draw per step but the last
    close(x0, data["outputs"]["x0"], tol)
    check_recorded(recorder, data["recorded"], tol)


def test_evaluation_schedule_is_eval_py_list(golden_dir: Path) -> None:
    golden = load(golden_dir, "bbdm_fast_sample")
    expected = golden["cases"]["T1000_eval_schedule"]["config"]["sampling_range"]
    taus = evaluation_taus()
    assert taus == list(expected)
    assert (len(taus), taus[0], taus[47], taus[48], taus[-1]) == (199, 1000, 906, 902, 2)
    with pytest.raises(ValueError, match="T = 1000"):
        evaluation_taus(500)


@pytest.mark.parametrize("taus", [[], [5, 10], [5, 5, 1], [11, 5], [5, 0]])
def test_fast_sampler_refuses_bad_steps(taus: list[int]) -> None:
    def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="step"):
        sample_bridge_fast(
            net, torch.zeros(1, 3, 4, 4), taus=taus, steps=10, c_lambda=2.0,
            noise=RecordedNoise([]),
        )  # fmt: skip
