"""EGSDE's sampler reads its backbone's declared target (eps or x0), never assuming eps."""

from __future__ import annotations

import torch

from i2i_cli.diffusion.denoiser import ModelOutput
from i2i_cli.diffusion.gaussian import x0_from_eps
from i2i_cli.diffusion.noise import PerItemNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_egsde.energy_guided_sde import sample_egsde


def toy_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth stand-in for an eps network."""
    return 0.3 * torch.tanh(x) + 1e-4 * t.float().reshape(-1, 1, 1, 1)


def test_an_x0_backbone_translates_like_the_equivalent_eps_backbone() -> None:
    schedule = DiscreteSchedule.named("linear", 1000)
    tables = schedule.tables()

    def eps_model(x: torch.Tensor, t: torch.Tensor) -> ModelOutput:
        return ModelOutput(toy_eps(x, t), None, "eps")

    def x0_model(x: torch.Tensor, t: torch.Tensor) -> ModelOutput:
        return ModelOutput(x0_from_eps(tables, x, t, toy_eps(x, t)), None, "x0")

    source = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1
    results = [
        sample_egsde(model, source, schedule, start_step=30, noise=PerItemNoise(0, ["a", "b"]))
        for model in (eps_model, x0_model)
    ]
    torch.testing.assert_close(results[1], results[0], atol=1e-4, rtol=1e-4)
    assert not torch.equal(results[0], source)
