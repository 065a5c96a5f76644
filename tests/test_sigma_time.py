"""Index-time <-> sigma-time adapters, tested on the analytic Gaussian where both are exact.

An ADM-style eps model (the exact eps model of N(MU, S^2) data on the linear 1000-step
process, in a ``DiscreteDenoiser`` with its ``ModelSpec``) samples under ``sample_heun``
through ``IndexToSigma``; the exact sigma-time denoiser runs DDIB's ODE passes (DDIM and
DPM-Solver++(2M)) through ``SigmaToIndex``. Every map involved is affine in x with a slope
that does not depend on the item, so the ODE-pass errors are affine in x0: their maximum over
data within MU +- 4S is attained at the ends, which the fixed data points below include
(no draw is involved). The Heun runs are seed-free for the reason given in ``test_karras.py``.
"""

from __future__ import annotations

import math

import pytest
import torch

from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelOutput
from i2i_cli.diffusion.gaussian import eps_of
from i2i_cli.diffusion.karras import karras_sigmas, sample_heun
from i2i_cli.diffusion.noise import GeneratorNoise
from i2i_cli.diffusion.ode import decode_ode, encode_ode, solver_schedule
from i2i_cli.diffusion.samplers import sample_ddim
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.diffusion.sigma_time import (
    IndexToSigma,
    SigmaToIndex,
    process_sigmas,
    sigma_range,
    sigma_to_t,
    t_to_sigma,
)
from i2i_cli.networks.backbones import load_backbone
from tests.analytic_gaussian import (
    LINEAR,
    MU,
    GaussianSigmaDenoiser,
    GaussianVPModel,
    S,
    exact_denoised,
    ve_flow,
    vp_spec,
)
from tests.tiny_models import TINY_ADM_8PX

SCHEDULE = LINEAR.schedule()
SIGMAS = process_sigmas(SCHEDULE)
ALPHAS_CUMPROD = SCHEDULE.arrays()["alphas_cumprod"]


def adm_eps_model(**options: bool) -> tuple[GaussianVPModel, DiscreteDenoiser]:
    """The exact eps model as an ADM backbone would come: a ``DiscreteDenoiser`` with a spec."""
    variance = bool(options.get("learned_variance", False))
    target = "x0" if options.get("x0") else "eps"
    model = GaussianVPModel(target=target, variance_channels=variance)
    return model, DiscreteDenoiser(model, vp_spec(1, target=target, learned_variance=variance))


def fixed_data() -> torch.Tensor:
    """Data points MU + S [-4, ..., 4] in float64 (both ends of MU +- 4S included)."""
    return (MU + S * torch.linspace(-4, 4, 17, dtype=torch.float64)).reshape(17, 1)


def vp_flow(x0: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """The exact VP flow map from data to ``alpha_bar``: at 0 the latent (x0 - MU)/S."""
    return alpha_bar**0.5 * MU + (alpha_bar * S**2 + 1 - alpha_bar) ** 0.5 * (x0 - MU) / S


# ------------------------------------------------------------------------------------------
# sigma <-> t


def test_process_sigmas_and_natural_range_of_the_linear_process() -> None:
    """sigma_t = sqrt((1 - abar_t)/abar_t), ascending; (sigma_min, sigma_max) = ends."""
    assert SIGMAS.dtype == torch.float64 and SIGMAS.shape == (1000,)
    assert (SIGMAS[1:] > SIGMAS[:-1]).all()
    sigma_min, sigma_max = sigma_range(LINEAR)
    assert sigma_min == pytest.approx(math.sqrt(1e-4 / (1 - 1e-4)), rel=1e-12)
    assert sigma_max == pytest.approx(
        math.sqrt((1 - ALPHAS_CUMPROD[-1]) / ALPHAS_CUMPROD[-1]), rel=1e-12
    )
    assert sigma_range(SCHEDULE) == (sigma_min, sigma_max)
    assert 157 < sigma_max < 158


def test_sigma_to_t_and_t_to_sigma_round_trip() -> None:
    """t -> sigma -> t and sigma -> t -> sigma are the identity on [0, T-1] / the range."""
    t = torch.linspace(0, 999, 1999, dtype=torch.float64)
    torch.testing.assert_close(sigma_to_t(t_to_sigma(t, SIGMAS), SIGMAS), t, rtol=0, atol=1e-9)
    sigma = torch.logspace(math.log10(SIGMAS[0]), math.log10(SIGMAS[-1]), 999, dtype=torch.float64)
    torch.testing.assert_close(
        t_to_sigma(sigma_to_t(sigma, SIGMAS), SIGMAS), sigma, rtol=1e-12, atol=0
    )


def test_integer_steps_map_to_the_process_levels() -> None:
    """sigma_to_t(sigma_k) = k and t_to_sigma(k) = sigma_k at every step k."""
    steps = torch.arange(1000, dtype=torch.float64)
    torch.testing.assert_close(sigma_to_t(SIGMAS, SIGMAS), steps, rtol=0, atol=1e-9)
    torch.testing.assert_close(t_to_sigma(steps, SIGMAS), SIGMAS, rtol=1e-13, atol=0)


def test_sigma_to_t_interpolates_in_log_sigma_between_neighbouring_steps() -> None:
    """log sigma = (1 - w) log sigma_k + w log sigma_{k+1} gives t = k + w; ends are clamped."""
    for k, w in ((0, 0.25), (17, 0.5), (500, 0.9), (998, 0.75)):
        log_sigma = (1 - w) * SIGMAS[k].log() + w * SIGMAS[k + 1].log()
        t = sigma_to_t(log_sigma.exp().reshape(1), SIGMAS)
        assert t.item() == pytest.approx(k + w, abs=1e-9)
    outside = torch.tensor([1e-4, 1e4], dtype=torch.float64)
    assert sigma_to_t(outside, SIGMAS).tolist() == [0.0, 999.0]
    assert sigma_to_t(torch.tensor(SIGMAS[3].item()), SIGMAS).shape == ()


def cumulative_sum_low_steps(sigma: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """k-diffusion's ``low_idx``: the argmax of the cumulative count of steps at or below."""
    dists = sigma.double().log().reshape(-1) - sigmas.double().log()[:, None]
    return dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=len(sigmas) - 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigma_to_t_finds_k_diffusions_low_step(seed: int) -> None:
    """The binary search picks k-diffusion's step for levels inside, on and outside the table."""
    generator = torch.Generator().manual_seed(seed)
    inside = (torch.rand(2000, generator=generator, dtype=torch.float64) * 16 - 8).exp()
    levels = torch.cat([inside, SIGMAS, SIGMAS[:1] / 2, SIGMAS[-1:] * 2])
    t = sigma_to_t(levels, SIGMAS)
    assert torch.equal(
        t.floor().clamp(max=len(SIGMAS) - 2).long(), cumulative_sum_low_steps(levels, SIGMAS)
    )


# ------------------------------------------------------------------------------------------
# IndexToSigma: an index-time eps model as D(x; sigma)


def test_index_to_sigma_is_k_diffusions_eps_wrapper() -> None:
    """The network gets c_in x = x / sqrt(sigma^2 + 1) at t(sigma); D = x - sigma eps."""
    seen: dict[str, torch.Tensor] = {}

    def network(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen["x"], seen["t"] = x, t
        return torch.cat([torch.full_like(x, 0.5), torch.full_like(x, -1.0)], dim=1)

    spec = vp_spec(1, learned_variance=True)
    adapter = IndexToSigma.for_denoiser(DiscreteDenoiser(network, spec))
    x = torch.tensor([[[[2.0]]], [[[3.0]]]])
    sigma = torch.tensor([SIGMAS[10].item(), 7.0])
    denoised = adapter(x, sigma)
    c_in = 1 / (sigma.reshape(2, 1, 1, 1) ** 2 + 1).sqrt()
    torch.testing.assert_close(seen["x"], x * c_in)
    assert seen["t"].dtype == torch.float32
    torch.testing.assert_close(seen["t"], sigma_to_t(sigma, SIGMAS).float())
    assert seen["t"][0].item() == pytest.approx(10.0, abs=1e-5)
    torch.testing.assert_close(denoised, x - sigma.reshape(2, 1, 1, 1) * 0.5)
    assert adapter.sigma_min == SIGMAS[0].item() and adapter.sigma_max == SIGMAS[-1].item()


@pytest.mark.parametrize("options", [{}, {"learned_variance": True}, {"x0": True}])
def test_index_to_sigma_of_the_exact_eps_model_is_the_exact_denoiser(
    options: dict[str, bool],
) -> None:
    """D(x; sigma) of the adapter equals the analytic D at levels on and between steps.

    Learned-variance channels are dropped; an x0-target model is read as D directly.
    """
    _, denoiser = adm_eps_model(**options)
    adapter = IndexToSigma.for_denoiser(denoiser)
    sigma = torch.cat([SIGMAS[[0, 1, 400, 999]], torch.tensor([0.05, 1.0, 3.3, 80.0])])
    x = (sigma.reshape(-1, 1, 1, 1) * torch.linspace(-2, 2, 4).double().reshape(1, 1, 2, 2)).to(
        torch.float64
    )
    torch.testing.assert_close(adapter(x, sigma), exact_denoised(x, sigma), rtol=1e-10, atol=1e-10)


def test_an_adm_model_samples_through_heun_to_the_exact_ode_endpoint() -> None:
    """Heun on the Karras grid over the process's (sigma_min, sigma_max) reaches the flow's end.

    The adapter gives the exact denoiser at every level the sampler asks for, so its run
    equals the analytic sigma-time denoiser's to round-off; 64 steps from sigma_max = 157.4
    end within relative 3.9e-3 of the exact endpoint (bound 1e-2; 2e-4 of it is the last
    Euler step from sigma_min = 0.01 onto 0).
    """
    model, denoiser = adm_eps_model(learned_variance=True)
    adapter = IndexToSigma.for_denoiser(denoiser)
    sigma_min, sigma_max = sigma_range(LINEAR)
    steps = 64
    sigmas = karras_sigmas(steps, sigma_min, sigma_max)
    for seed in (0, 1):
        generator = torch.Generator().manual_seed(seed)
        x = sigma_max * torch.randn(4, 1, 4, 4, generator=generator, dtype=torch.float64)
        out = sample_heun(adapter, x, sigmas, noise=GeneratorNoise(seed))
        direct = sample_heun(GaussianSigmaDenoiser(), x, sigmas, noise=GeneratorNoise(seed))
        exact = ve_flow(x, sigma_max, 0.0)
        torch.testing.assert_close(out, direct, rtol=1e-9, atol=1e-9)
        assert ((out - exact).abs() / (exact - MU).abs()).max().item() < 1e-2
    assert model.calls == 2 * (2 * steps - 1)
    assert all(t.dtype == torch.float64 and t.shape == (4,) for t in model.times)
    assert min(t.min().item() for t in model.times) >= 0.0
    assert max(t.max().item() for t in model.times) == pytest.approx(999.0, abs=1e-6)


def test_an_adm_model_through_heun_reaches_the_data_distribution() -> None:
    """Started from the true marginal N(MU, S^2 + sigma_max^2), the samples are N(MU, S^2).

    The run is x -> MU + a (x - MU) (no churn), so the output law is N(MU, a^2 (S^2 +
    sigma_max^2)) exactly; a is read off two points. 64 steps: std within 1% of S.
    """
    _, denoiser = adm_eps_model()
    adapter = IndexToSigma.for_denoiser(denoiser)
    sigma_min, sigma_max = sigma_range(LINEAR)
    sigmas = karras_sigmas(64, sigma_min, sigma_max)
    x = torch.tensor([[MU], [MU + sigma_max]], dtype=torch.float64)
    out = sample_heun(adapter, x, sigmas, noise=GeneratorNoise(0))
    assert out[0].item() == pytest.approx(MU, abs=1e-12)
    slope = (out[1] - out[0]).item() / sigma_max
    std = abs(slope) * math.sqrt(S**2 + sigma_max**2)
    assert std == pytest.approx(S, rel=1e-2)


def test_a_tiny_adm_unet_samples_through_heun() -> None:
    """A real ADM UNet (8 px, learned sigma) through the adapter: shapes, dtype, NFE 2N - 1."""
    loaded = load_backbone(
        "adm-unet",
        overrides={**TINY_ADM_8PX, "learn_sigma": True},
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in loaded.module.parameters():
            parameter.copy_(0.05 * torch.randn(parameter.shape, generator=generator))
    calls: list[tuple[tuple[int, ...], torch.dtype, torch.dtype]] = []

    def network(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = loaded.module(x, t)
        calls.append((tuple(out.shape), x.dtype, t.dtype))
        return out

    assert loaded.spec.learned_variance and loaded.spec.time == "index"
    adapter = IndexToSigma.for_denoiser(DiscreteDenoiser(network, loaded.spec))
    steps = 5
    sigmas = karras_sigmas(steps, adapter.sigma_min, adapter.sigma_max)
    x = sigmas[0].float() * torch.randn(2, 3, 8, 8, generator=generator)
    out = sample_heun(adapter, x, sigmas, noise=GeneratorNoise(0))
    assert out.shape == (2, 3, 8, 8) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert len(calls) == 2 * steps - 1
    assert set(calls) == {((2, 6, 8, 8), torch.float32, torch.float32)}


def test_index_to_sigma_needs_the_original_process_and_a_readable_target() -> None:
    """A respaced schedule or a raw / denoised target is a ValueError saying why."""
    _, denoiser = adm_eps_model()
    with pytest.raises(ValueError, match="unrespaced"):
        IndexToSigma(denoiser, DiscreteSchedule.named("linear", 1000, "50"))

    def raw(x: torch.Tensor, t: torch.Tensor) -> ModelOutput:
        return ModelOutput(x, None, "raw")

    with pytest.raises(ValueError, match="raw"):
        IndexToSigma(raw, SCHEDULE)(torch.zeros(1, 1), torch.tensor([1.0]))


# ------------------------------------------------------------------------------------------
# SigmaToIndex: D(x; sigma) as an index-time x0 model


def test_sigma_to_index_of_the_exact_denoiser_is_the_exact_vp_model() -> None:
    """At original step t: x0 = D(x_t / sqrt(abar_t); sigma_t), and its eps is the exact eps."""
    adapter = SigmaToIndex(GaussianSigmaDenoiser(), SCHEDULE)
    t = torch.tensor([0, 1, 250, 999])
    x = torch.linspace(-2, 2, 8, dtype=torch.float64).reshape(4, 2)
    output = adapter(x, t)
    assert output.target == "x0" and output.variance_values is None
    abar = torch.from_numpy(ALPHAS_CUMPROD)[t].reshape(4, 1)
    sigma = ((1 - abar) / abar).sqrt()
    torch.testing.assert_close(output.prediction, exact_denoised(x / abar.sqrt(), sigma.flatten()))
    eps = (x / abar.sqrt() - output.prediction) / (1 / abar - 1).sqrt()
    torch.testing.assert_close(eps, GaussianVPModel()(x, t), rtol=1e-10, atol=1e-10)
    reading = eps_of(SCHEDULE.tables(), output, x.float(), t)  # the samplers' float32 tables
    torch.testing.assert_close(reading.double(), eps, rtol=0, atol=1e-4)


def test_the_adapters_invert_each_other() -> None:
    """SigmaToIndex(IndexToSigma(model)) is the model's x0 reading at every integer step."""
    _, denoiser = adm_eps_model()
    round_trip = SigmaToIndex(IndexToSigma.for_denoiser(denoiser), SCHEDULE)
    x0_model = DiscreteDenoiser(GaussianVPModel(target="x0"), vp_spec(1, target="x0"))
    t = torch.tensor([0, 7, 500, 999])
    x = torch.linspace(-3, 3, 4, dtype=torch.float64).reshape(4, 1, 1, 1)
    torch.testing.assert_close(
        round_trip(x, t).prediction, x0_model(x, t).prediction, rtol=1e-10, atol=1e-10
    )


def test_sigma_to_index_reads_fractional_steps_in_log_sigma() -> None:
    """A fractional t asks the denoiser at t_to_sigma(t)."""
    net = GaussianSigmaDenoiser()
    SigmaToIndex(net, SCHEDULE)(torch.zeros(2, 1), torch.tensor([3.5, 998.25]))
    torch.testing.assert_close(
        net.sigmas[0].double(), t_to_sigma(torch.tensor([3.5, 998.25]), SIGMAS)
    )


def ode_errors(solver: str, steps: int) -> tuple[float, float, float]:
    """Max errors of encode (vs the exact latent), decode (vs the data) and the round trip."""
    grid = solver_schedule(SCHEDULE, solver, steps)  # type: ignore[arg-type]
    alpha_bars = grid.arrays()["alphas_cumprod"]
    adapter = SigmaToIndex(GaussianSigmaDenoiser(), SCHEDULE)
    x0 = fixed_data()
    latent = encode_ode(adapter, vp_flow(x0, float(alpha_bars[0])), grid, solver=solver)  # type: ignore[arg-type]
    decoded = decode_ode(
        adapter,
        vp_flow(x0, float(alpha_bars[-1])),
        grid,
        solver=solver,  # type: ignore[arg-type]
        noise=GeneratorNoise(0),
    )
    round_trip = decode_ode(adapter, latent, grid, solver=solver, noise=GeneratorNoise(0))  # type: ignore[arg-type]
    return (
        (latent - vp_flow(x0, 0.0)).abs().max().item(),
        (decoded - x0).abs().max().item(),
        (round_trip - x0).abs().max().item(),
    )


@pytest.mark.parametrize(
    ("solver", "steps", "bounds"),
    [
        # measured at these steps: encode, decode, round trip
        ("ddim", 80, (0.25, 0.12, 0.25)),  # 0.14, 0.071, 0.14 (first order: halves per doubling)
        ("dpmpp2m", 80, (8e-3, 4e-3, 4e-3)),  # 3.8e-3, 1.4e-3, 1.4e-3
    ],
)
def test_ddib_ode_passes_run_on_a_sigma_time_denoiser(
    solver: str, steps: int, bounds: tuple[float, float, float]
) -> None:
    """encode_ode maps data to the exact latent, decode_ode maps latents back to data.

    Data MU + S [-4, 4] (max |x0 - MU| = 2); each bound is about twice the measured error.
    DPM-Solver++(2M)'s round trip levels off near 1.4e-3 from 40 steps up: its grid's first
    interval, discrete steps 0 -> 1 (log-SNR 4.6 -> 4.2), cannot be refined.
    """
    for error, bound in zip(ode_errors(solver, steps), bounds, strict=True):
        assert error < bound


def test_ode_pass_errors_fall_with_the_solvers_order() -> None:
    """Doubling the steps: DDIM's errors halve (first order), DPM-Solver++(2M)'s fall 4x."""
    ddim_40, ddim_80 = ode_errors("ddim", 40), ode_errors("ddim", 80)
    dpm_40, dpm_80 = ode_errors("dpmpp2m", 40), ode_errors("dpmpp2m", 80)
    for coarse, fine in zip(ddim_40[:2], ddim_80[:2], strict=True):
        assert 1.6 < coarse / fine < 2.4
    for coarse, fine in zip(dpm_40[:2], dpm_80[:2], strict=True):
        assert coarse / fine > 3.5


def test_the_passes_on_the_adapter_equal_those_on_the_exact_eps_model() -> None:
    """Same grid, same result as driving the passes with the index-time eps model itself.

    (They differ by the float32 tables' round-off in the eps <-> x0 conversions, ~1e-6.)
    """
    grid = solver_schedule(SCHEDULE, "dpmpp2m", 20)
    adapter = SigmaToIndex(GaussianSigmaDenoiser(), SCHEDULE)
    _, eps_model = adm_eps_model()
    x0 = fixed_data()
    for solver in ("ddim", "dpmpp2m"):
        torch.testing.assert_close(
            encode_ode(adapter, x0, grid, solver=solver),
            encode_ode(eps_model, x0, grid, solver=solver),
            rtol=0,
            atol=1e-4,
        )


def test_sample_ddim_runs_on_a_sigma_time_denoiser_with_one_call_per_step() -> None:
    """``sample_ddim`` over a respaced grid calls the network at the original steps' sigmas."""
    net = GaussianSigmaDenoiser()
    grid = SCHEDULE.respace("10")
    latent = vp_flow(fixed_data(), float(grid.arrays()["alphas_cumprod"][-1]))
    out = sample_ddim(
        SigmaToIndex(net, SCHEDULE), latent, grid, noise=GeneratorNoise(0), clip_denoised=False
    )
    assert net.calls == 10 and out.shape == latent.shape
    called = torch.stack([s[0] for s in net.sigmas]).double()
    expected = SIGMAS[torch.from_numpy(grid.timestep_map[::-1].copy())]
    torch.testing.assert_close(called, expected, rtol=1e-12, atol=0)
