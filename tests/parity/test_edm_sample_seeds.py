"""Seed k of ``i2i sample edm`` is EDM's sampler output for seed k (golden ``edm_sampler.pt``).

The golden run (dg.md §10) draws its latents and class labels from
``StackedRandomGenerator(seeds [0, 1])``, which is our per-seed stream, and runs the tiny
VPPrecond nets whose configs and weights it stores. The deterministic cases ignore the step
noise (it is multiplied by 0), so seed k's whole image follows from seed k: our latents, labels,
grid, Heun steps and uint8 conversion must give the golden output. The stochastic case recorded
its step noise from a stream that is not the seeds' generators (checked below), so for it the
recorded draws are replayed through the same sampler call instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_cli.diffusion.noise import RecordedNoise, SeedNoise
from i2i_cli.networks.backbones import load_backbone
from i2i_cli.run.seed_sampling import SigmaNet, draw_start, edm_uint8, sigma_grid
from i2i_edm.sample import edm_sample
from i2i_edm.settings import EdmSampleSettings, settings_from_edm
from tests.conftest import run_i2i

DETERMINISTIC = ["deterministic", "cond_deterministic"]


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, Any]:
    """The golden file, loaded once."""
    return torch.load(golden_dir / "edm_sampler.pt", weights_only=True)


def model_table(golden: dict[str, Any], net: str) -> dict[str, Any]:
    """The ``edm`` backbone settings of golden net ``net`` (its recorded constructor kwargs)."""
    config = dict(golden["config"]["nets"][net])
    return settings_from_edm(config.pop("class_name"), config).model_dump(exclude_none=True)


def weights(golden: dict[str, Any], net: str, folder: Path) -> Path:
    """Golden net ``net``'s state dict as a file for ``--checkpoint``."""
    path = folder / f"{net}.pt"
    torch.save(golden["state_dict"][net], path)
    return path


def sampler_settings(golden: dict[str, Any], case: str) -> EdmSampleSettings:
    """Our settings of the case's ``edm_sampler`` keyword arguments."""
    kw = golden["outputs"][case]["sampler_kwargs"]
    return EdmSampleSettings(
        steps=kw["num_steps"],
        sigma_min=kw["sigma_min"],
        sigma_max=kw["sigma_max"],
        rho=kw["rho"],
        s_churn=kw["S_churn"],
        s_min=kw["S_min"],
        s_max=kw["S_max"],
        s_noise=kw["S_noise"],
    )


def golden_net(golden: dict[str, Any], case: str, folder: Path) -> SigmaNet:
    """The case's net through the real ``edm`` backbone loader."""
    net = golden["outputs"][case]["net"]
    loaded = load_backbone(
        "edm", overrides=model_table(golden, net), checkpoint=weights(golden, net, folder)
    )
    return SigmaNet.of(loaded, "i2i sample edm")


def close(actual: torch.Tensor, expected: torch.Tensor, golden: dict[str, Any]) -> None:
    tol = golden["tolerance"]
    torch.testing.assert_close(actual, expected, atol=tol["atol"], rtol=tol["rtol"])


def ours(golden: dict[str, Any], case: str, folder: Path) -> torch.Tensor:
    """Our float64 sampler output for the golden seeds, drawn from the seeds' generators."""
    net = golden_net(golden, case, folder)
    settings = sampler_settings(golden, case)
    seeds = golden["config"]["seeds"]
    noise = SeedNoise(0, [f"{seed:06d}" for seed in seeds])
    latents, labels = draw_start(noise, net.shape, net.label_dim, torch.device("cpu"))
    return edm_sample(
        net, latents, labels, sigma_grid(net, settings, torch.device("cpu")), settings, noise
    )


@pytest.mark.parametrize("case", DETERMINISTIC)
def test_seed_k_is_the_golden_samplers_output_for_seed_k(
    golden: dict[str, Any], case: str, tmp_path: Path
) -> None:
    net = golden_net(golden, case, tmp_path)
    settings = sampler_settings(golden, case)
    seeds = golden["config"]["seeds"]
    noise = SeedNoise(0, [f"{seed:06d}" for seed in seeds])
    latents, labels = draw_start(noise, net.shape, net.label_dim, torch.device("cpu"))
    assert torch.equal(latents, golden["inputs"]["latents"])
    if net.label_dim:
        assert torch.equal(labels, golden["inputs"]["class_labels"])
    sigmas = sigma_grid(net, settings, torch.device("cpu"))
    expected_range = [golden["outputs"][case][f"effective_sigma_{e}"] for e in ("max", "min")]
    assert [float(sigmas[0]), float(sigmas[-2])] == pytest.approx(expected_range, rel=1e-12)
    x = edm_sample(net, latents, labels, sigmas, settings, noise)
    assert x.dtype == torch.float64
    close(x, golden["outputs"][case]["output"], golden)


def decided_pixels(golden_output: torch.Tensor, golden: dict[str, Any]) -> torch.Tensor:
    """Where the golden float image is far enough from a uint8 step for the tolerance to decide."""
    tol = golden["tolerance"]
    scaled = golden_output * 127.5 + 128
    slack = 127.5 * (tol["atol"] + tol["rtol"] * golden_output.abs())
    clipped = (scaled < -slack) | (scaled > 255 + slack)
    return clipped | ((scaled - scaled.floor() > slack) & (scaled.ceil() - scaled > slack))


@pytest.mark.parametrize("case", DETERMINISTIC)
def test_the_cli_writes_edms_uint8_image_of_each_seed(
    golden: dict[str, Any], case: str, tmp_path: Path
) -> None:
    """``i2i sample edm --seeds 0-1 --npz`` on the golden net: EDM's uint8 image per seed.

    Bit for bit our sampler's float image converted as EDM does; equal to the golden image's
    conversion wherever the golden tolerance cannot move a value across a uint8 step.
    """
    net = golden["outputs"][case]["net"]
    config = tmp_path / "edm.toml"
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in model_table(golden, net).items())
    config.write_text(f"[model]\n{table}\n")
    kw = golden["outputs"][case]["sampler_kwargs"]
    out = tmp_path / "out"
    seeds = golden["config"]["seeds"]
    result = run_i2i(
        [
            *("sample", "edm", "--device", "cpu", "--config", str(config)),
            *("--checkpoint", str(weights(golden, net, tmp_path))),
            *("--steps", str(kw["num_steps"]), "--seeds", f"{seeds[0]}-{seeds[-1]}"),
            *("--npz", "--output", str(out), "--batch-size", "2"),
        ]
    )
    assert result.returncode == 0, result.stderr
    with np.load(out / "samples.npz") as data:
        samples = torch.from_numpy(data["samples"]).permute(0, 3, 1, 2)
        if golden["inputs"]["class_labels"] is not None and case.startswith("cond"):
            assert np.array_equal(data["label"], golden["inputs"]["class_labels"].numpy())
    output = golden["outputs"][case]["output"]
    decided = decided_pixels(output, golden)
    assert decided.any()
    assert torch.equal(samples[decided], edm_uint8(output)[decided])
    assert torch.equal(samples, edm_uint8(ours(golden, case, tmp_path)))


def test_stochastic_settings_replay_the_golden_noise(
    golden: dict[str, Any], tmp_path: Path
) -> None:
    """S_churn/S_min/S_max/S_noise reach the sampler as EDM's; its draws replayed as recorded."""
    case = "stochastic"
    net = golden_net(golden, case, tmp_path)
    settings = sampler_settings(golden, case)
    seeds_stream = SeedNoise(0, ["000000", "000001"])
    seeds_stream.randn((2, 3, 8, 8))  # the latents; the next draw is EDM generate.py's eps_0
    first_eps = seeds_stream.randn((2, 3, 8, 8), dtype=torch.float64)
    assert not torch.allclose(first_eps, golden["noise"][case][0])  # not the seeds' stream
    noise = RecordedNoise(golden["noise"][case])
    sigmas = sigma_grid(net, settings, torch.device("cpu"))
    x = edm_sample(net, golden["inputs"]["latents"], None, sigmas, settings, noise)  # type: ignore[arg-type]
    noise.assert_exhausted()
    close(x, golden["outputs"][case]["output"], golden)
