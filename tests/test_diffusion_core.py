"""The discrete diffusion core beyond the golden vectors: variances, targets, inversion, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelOutput, ModelSpec
from i2i_cli.diffusion.gaussian import eps_from_x0, p_mean_variance, q_sample, x0_from_eps
from i2i_cli.diffusion.noise import PerItemNoise
from i2i_cli.diffusion.samplers import encode_ddim, sample_ddim, sample_ddpm
from i2i_cli.diffusion.schedule import DiscreteSchedule, cosine_betas


def toy_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth stand-in for an eps network."""
    return 0.3 * torch.tanh(x) + 1e-4 * t.float().reshape(-1, 1, 1, 1)


def test_fixed_large_variance_is_posterior_variance_then_betas() -> None:
    arrays = DiscreteSchedule.named("linear", 1000).arrays()
    assert arrays["fixed_large_variance"][0] == arrays["posterior_variance"][1]
    np.testing.assert_array_equal(arrays["fixed_large_variance"][1:], arrays["betas"][1:])


def test_cosine_schedule_is_capped_and_increasing() -> None:
    betas = cosine_betas(1000)
    assert betas.max() <= 0.999
    assert (np.diff(betas) >= 0).all()
    assert betas[0] == pytest.approx(4.1e-5, rel=0.05)


def test_tables_are_built_once_per_device() -> None:
    schedule = DiscreteSchedule.named("linear", 1000, "ddim10")
    assert schedule.tables("cpu") is schedule.tables("cpu")
    assert schedule.tables("cpu").timestep_map.tolist() == list(range(0, 1000, 100))


def test_x0_and_eps_round_trip() -> None:
    tables = DiscreteSchedule.named("linear", 1000, "50").tables()
    x_t, eps = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    t = torch.tensor([3, 40])
    torch.testing.assert_close(eps_from_x0(tables, x_t, t, x0_from_eps(tables, x_t, t, eps)), eps)


def test_x0_prediction_gives_the_same_step_as_the_equivalent_eps() -> None:
    tables = DiscreteSchedule.named("linear", 1000, "20").tables()
    x_t, t = torch.randn(2, 3, 4, 4), torch.tensor([5, 19])

    def eps_denoiser(x: torch.Tensor, time: torch.Tensor) -> ModelOutput:
        return ModelOutput(toy_eps(x, time), None, "eps")

    def x0_denoiser(x: torch.Tensor, time: torch.Tensor) -> ModelOutput:
        return ModelOutput(x0_from_eps(tables, x, t, toy_eps(x, time)), None, "x0")

    from_eps = p_mean_variance(eps_denoiser, tables, x_t, t, fixed_variance="small")
    from_x0 = p_mean_variance(x0_denoiser, tables, x_t, t, fixed_variance="small")
    torch.testing.assert_close(from_eps.mean, from_x0.mean)
    torch.testing.assert_close(from_eps.variance, from_x0.variance)


def test_ddim_encoding_then_decoding_recovers_the_image() -> None:
    """Up to the last encoding step, whose abar_next = 0 makes the latent the bare eps (DDIB)."""
    schedule = DiscreteSchedule.named("linear", 1000)
    denoiser = DiscreteDenoiser(toy_eps, ModelSpec())
    x0 = torch.rand(2, 3, 8, 8) * 1.6 - 0.8
    latent = encode_ddim(denoiser, x0, schedule, steps=range(999))
    noise = PerItemNoise(0, ["a", "b"])
    decoded = sample_ddim(denoiser, latent, schedule, noise=noise, clip_denoised=False)
    torch.testing.assert_close(decoded, x0, atol=2e-2, rtol=0)


def test_samplers_start_at_an_intermediate_step() -> None:
    schedule = DiscreteSchedule.named("linear", 1000, "20")
    denoiser = DiscreteDenoiser(toy_eps, ModelSpec())
    tables = schedule.tables()
    x0 = torch.zeros(1, 3, 4, 4)
    x_t = q_sample(tables, x0, torch.tensor([9]), torch.randn(1, 3, 4, 4))
    seen: list[int] = []
    sample_ddpm(
        denoiser,
        x_t,
        schedule,
        noise=PerItemNoise(0, ["a"]),
        steps=range(9, -1, -1),
        callback=lambda info: seen.append(info["t"]),
    )
    assert seen == list(range(9, -1, -1))


def test_a_sample_does_not_depend_on_its_batch() -> None:
    schedule = DiscreteSchedule.named("linear", 1000, "10")
    denoiser = DiscreteDenoiser(toy_eps, ModelSpec())

    def draw(keys: list[str]) -> torch.Tensor:
        noise = PerItemNoise(7, keys)
        x = noise.randn((len(keys), 3, 4, 4))
        return sample_ddpm(denoiser, x, schedule, noise=noise)

    together = draw(["a", "b", "c"])
    torch.testing.assert_close(draw(["b"])[0], together[1])


def test_steps_outside_the_schedule_are_refused() -> None:
    schedule = DiscreteSchedule.named("linear", 1000, "10")
    denoiser = DiscreteDenoiser(toy_eps, ModelSpec())
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        sample_ddpm(
            denoiser, torch.zeros(1, 3, 2, 2), schedule, noise=PerItemNoise(0, ["a"]), steps=[10]
        )


def test_denoiser_checks_the_declared_channels() -> None:
    denoiser = DiscreteDenoiser(toy_eps, ModelSpec(learned_variance=True))
    with pytest.raises(ValueError, match="declares 6"):
        denoiser(torch.zeros(1, 3, 2, 2), torch.zeros(1))
