"""DG's guided sampler vs ``DG/generate.py:edm_sampler`` (dg_sampler.pt, dg_sampler_cond.pt).

The denoiser is the golden VPPrecond + DDPM++ through the core's ``edm`` backbone, the
discriminator the golden extractor (``adm-classifier``) and head as in the discriminator
parity; the recorded ``randn_like`` draws are replayed. Every case is checked call by call:
the per-item t_hat of each net call (boosting's churn), each step's x_hat, the DG calls'
log-ratios and scores, and the output. The files record no D of the net, so the net runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.diffusion.guidance import WeightedEnergy, bind
from i2i_cli.diffusion.karras import karras_sigmas
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.networks.backbones import load_backbone, load_state_dict_strictly
from i2i_dg.edm_gpp import sample_dg
from i2i_dg.energy import discriminator_energy
from tests.parity.test_dg_discriminator import close, golden_discriminator, item_scale

CASES = [
    ("dg_sampler", "w1"),
    ("dg_sampler", "w1_churn_timemax"),
    ("dg_sampler", "w0"),
    ("dg_sampler_cond", "w1_boost"),
    ("dg_sampler_cond", "w1_noboost"),
]
PRECOND_OF_CLASS = {"VPPrecond": "vp", "VEPrecond": "ve", "EDMPrecond": "edm"}


def edm_net(config: dict[str, Any], state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The golden EDM denoiser, built through the core's ``edm`` backbone."""
    kwargs = dict(config)
    precond = PRECOND_OF_CLASS[kwargs.pop("class_name").rsplit(".", 1)[-1]]
    net = load_backbone("edm", overrides={"precond": precond, **kwargs}).module
    load_state_dict_strictly(net, state, "golden DG net")
    return net


class RecordingNet:
    """The net as a ``SigmaDenoiser`` (labels bound), recording each call's sigma."""

    def __init__(self, net: torch.nn.Module, labels: torch.Tensor | None) -> None:
        self.net, self.labels = net, labels
        self.sigmas: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """D(x; sigma) of the net."""
        self.sigmas.append(sigma.detach().clone())
        return self.net(x, sigma, self.labels)


@pytest.mark.parametrize(("name", "case"), CASES)
def test_dg_sampler_replays_the_reference(golden_dir: Path, name: str, case: str) -> None:
    """Net calls' sigma, x_hat per step, DG calls (log-ratio, score) and the output."""
    golden = torch.load(golden_dir / f"{name}.pt", weights_only=True)
    config, state, out = golden["config"], golden["state_dict"], golden["outputs"][case]
    tol, kw = golden["tolerance"], config["cases"][case]
    labels = golden["inputs"]["class_labels"]
    net = RecordingNet(edm_net(config["net"], state["net"]), labels)
    disc = golden_discriminator(config, state, "discriminator")
    energy = discriminator_energy(
        disc,
        time_min=kw["time_min"],
        time_max=kw["time_max"],
        cond=bool(config["discriminator"]["condition"]),
        img_resolution=config["net"]["img_resolution"],
    )
    (bound,) = bind([WeightedEnergy("discriminator", 1.0, energy)], labels=labels)
    steps: list[dict[str, Any]] = []
    sigmas = karras_sigmas(kw["num_steps"], kw["sigma_min"], kw["sigma_max"], kw["rho"])
    noise = RecordedNoise(golden["noise"][case])
    x = golden["inputs"]["latents"].to(torch.float64) * sigmas[0]
    output = sample_dg(
        net,
        x,
        sigmas,
        discriminator=bound.function,
        w1=kw["dg_weight_1st_order"],
        boosting=bool(kw["boosting"]),
        noise=noise,
        callback=steps.append,
        s_churn=kw["S_churn"],
        s_tmin=kw["S_min"],
        s_tmax=kw["S_max"],
        s_noise=kw["S_noise"],
    )
    noise.assert_exhausted()
    batch = x.shape[0]
    called = torch.stack([s.double().expand(batch) for s in net.sigmas])
    torch.testing.assert_close(called, out["net_calls_sigma"], rtol=1e-12, atol=0)
    expected_x_hat = out["x_hat_per_step"]
    x_hat = torch.stack([step["x_hat"] for step in steps])
    torch.testing.assert_close(x_hat, expected_x_hat, rtol=tol["rtol"], atol=tol["atol"])
    if out["dg_calls_log_ratio"] is not None:
        log_ratio = torch.stack([step["log_ratio"] for step in steps])
        torch.testing.assert_close(log_ratio, out["dg_calls_log_ratio"], **tol)
        guidance = torch.stack([step["guidance"] for step in steps])
        expected = out["dg_calls_score"].flatten(0, 1)
        close(guidance.flatten(0, 1), expected, tol, item_scale(expected))
    assert output.dtype == torch.float64
    torch.testing.assert_close(output, out["output"], rtol=tol["rtol"], atol=tol["atol"])


def test_second_order_dg_is_refused() -> None:
    """w2 != 0 crashes in the reference (dg.md pitfall 8): refused, not guessed."""
    with pytest.raises(ValueError, match="second-order"):
        sample_dg(
            lambda x, s: x,
            torch.zeros(1, 3, 2, 2),
            torch.tensor([1.0, 0.0]),
            w2=1.0,
            noise=RecordedNoise([]),
        )
