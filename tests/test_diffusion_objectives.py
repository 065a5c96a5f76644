"""``i2i train diffusion``'s objectives (Improved DDPM's L_simple, VLB, L_hybrid) and its
timestep samplers."""

from __future__ import annotations

import math

import torch

from i2i_cli.diffusion.denoiser import ModelOutput
from i2i_cli.diffusion.gaussian import q_sample
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_diffusion.losses import (
    diffusion_loss_terms,
    discretized_gaussian_log_likelihood,
    normal_kl,
)
from i2i_diffusion.timesteps import HISTORY_PER_TERM, LossSecondMomentSampler

# ---------------------------------------------------------------- objectives (Improved DDPM)


def test_normal_kl_is_the_closed_form_kl_of_two_gaussians() -> None:
    generator = torch.Generator().manual_seed(0)
    m1, m2, v1, v2 = (torch.randn(50, generator=generator, dtype=torch.float64) for _ in range(4))
    ours = normal_kl(m1, v1, m2, v2)
    p = torch.distributions.Normal(m1, torch.exp(0.5 * v1))
    q = torch.distributions.Normal(m2, torch.exp(0.5 * v2))
    torch.testing.assert_close(ours, torch.distributions.kl_divergence(p, q))


def test_the_decoder_likelihood_is_the_mass_of_each_pixel_bin() -> None:
    values = torch.tensor([-1.0, -0.5, 0.0, 0.25, 1.0], dtype=torch.float64)
    mean = torch.tensor([-0.9, -0.45, 0.1, 0.2, 0.95], dtype=torch.float64)
    log_scale = torch.full_like(values, math.log(0.05))
    normal = torch.distributions.Normal(mean, torch.exp(log_scale))
    upper = torch.where(values > 0.999, torch.ones_like(values), normal.cdf(values + 1 / 255))
    lower = torch.where(values < -0.999, torch.zeros_like(values), normal.cdf(values - 1 / 255))
    exact = torch.log(upper - lower)
    ours = discretized_gaussian_log_likelihood(values, mean, log_scale)
    torch.testing.assert_close(ours, exact, atol=2e-3, rtol=2e-3)  # Φ by the tanh approximation


def _hybrid_terms(rescale: bool, steps: int = 1000) -> tuple[dict[str, torch.Tensor], ...]:
    generator = torch.Generator().manual_seed(1)
    tables = DiscreteSchedule.named("linear", steps).tables()
    x0 = torch.rand(4, 3, 4, 4, generator=generator) * 2 - 1
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.tensor([0, 1, steps // 2, steps - 1])
    x_t = q_sample(tables, x0, t, noise)
    eps = torch.randn(x0.shape, generator=generator).requires_grad_(True)
    values = (torch.rand(x0.shape, generator=generator) * 2 - 1).requires_grad_(True)
    output = ModelOutput(eps, values, "eps")
    terms = diffusion_loss_terms(tables, output, x0, x_t, t, noise, rescale=rescale)
    return terms, {"eps": eps, "values": values, "noise": noise}


def test_the_vlb_term_trains_only_the_variance() -> None:
    terms, inputs = _hybrid_terms(rescale=True)
    (eps_grad,) = torch.autograd.grad(terms["vb"].sum(), inputs["eps"], allow_unused=True)
    assert eps_grad is None  # the mean is stopped
    (values_grad,) = torch.autograd.grad(terms["vb"].sum(), inputs["values"])
    assert values_grad.abs().sum() > 0
    mse = ((inputs["noise"] - inputs["eps"]) ** 2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(terms["mse"], mse)
    torch.testing.assert_close(terms["loss"], terms["mse"] + terms["vb"])


def test_rescaling_weighs_the_vlb_term_by_t_over_1000() -> None:
    rescaled, _ = _hybrid_terms(rescale=True, steps=4000)
    plain, _ = _hybrid_terms(rescale=False, steps=4000)
    torch.testing.assert_close(rescaled["vb"], 4 * plain["vb"])
    torch.testing.assert_close(rescaled["mse"], plain["mse"])


def test_a_fixed_variance_model_trains_on_l_simple_alone() -> None:
    tables = DiscreteSchedule.named("linear", 1000).tables()
    x0, noise, eps = torch.zeros(2, 3, 2, 2), torch.ones(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)
    t = torch.tensor([0, 999])
    terms = diffusion_loss_terms(tables, ModelOutput(eps, None, "eps"), x0, x0, t, noise)
    assert "vb" not in terms
    torch.testing.assert_close(terms["loss"], torch.ones(2))


# ---------------------------------------------------------------- timestep samplers


def test_the_loss_aware_sampler_is_uniform_until_every_t_has_ten_losses() -> None:
    sampler = LossSecondMomentSampler(4, 8)
    for _ in range(HISTORY_PER_TERM - 1):
        sampler.update(torch.arange(4), torch.ones(4))
    torch.testing.assert_close(sampler.probabilities(), torch.full((4,), 0.25, dtype=torch.float64))
    t, w = sampler.sample(8, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert t.shape == (8,) and torch.equal(w, torch.ones(8))


def test_the_loss_aware_sampler_draws_by_the_rms_of_the_last_ten_losses() -> None:
    sampler = LossSecondMomentSampler(2, 10)
    sampler.update(torch.tensor([0] * 10 + [1] * 10), torch.tensor([9.0] * 10 + [1.0] * 10))
    sampler.update(torch.tensor([0] * 10), torch.tensor([3.0] * 10))  # the 9s are pushed out
    p = sampler.probabilities()
    expected = torch.tensor([0.75, 0.25], dtype=torch.float64) * 0.999 + 0.0005
    torch.testing.assert_close(p, expected)
    t, w = sampler.sample(100, torch.Generator().manual_seed(0), torch.device("cpu"))
    torch.testing.assert_close(w, (1 / (2 * p[t])).float())
