"""The EDM grid and Karras samplers: EDM's golden run replayed, exact-Gaussian accuracy, draws.

Accuracy is measured on the analytic Gaussian (``tests.analytic_gaussian``), whose exact ODE
map is known. With churn off, every step of either sampler is affine in x with MU a fixed
point (D(MU; sigma) = MU), so a run maps x to ``MU + a_N (x - MU)`` with a factor a_N fixed by
the grid alone: the relative error ``|out - exact| / |exact - MU| = |a_N - a| / a`` is the same
for every item of every draw. The bounds below hold for any seed for that reason; several
seeds are run to show it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy
from i2i_cli.diffusion.karras import (
    MAX_GAMMA,
    append_zero,
    churn_gamma,
    guided_denoised,
    karras_sigmas,
    sample_euler,
    sample_heun,
    to_d,
)
from i2i_cli.diffusion.noise import GeneratorNoise, RecordedNoise
from tests.analytic_gaussian import MU, GaussianSigmaDenoiser, exact_denoised, ve_flow

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
"""EDM's default range (and the golden run's effective range)."""
SAMPLERS = {"heun": sample_heun, "euler": sample_euler}


def latents(seed: int, shape: tuple[int, ...] = (4, 3, 8, 8)) -> torch.Tensor:
    """Standard normal latents of one seed, float64."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def relative_error(steps: int, sampler: str = "heun", seed: int = 0) -> float:
    """max |out - exact| / |exact - MU| of a deterministic run from sigma_max to 0.

    The exact endpoint is the grid's own: the ODE solved exactly down to sigma_min, then the
    grid's final Euler step onto 0, which is D(x(sigma_min); sigma_min). (That step's own error
    relative to the flow's end, sigma_min^2 / 2 S^2 = 8e-6, is no discretisation error of the
    N - 1 steps before it; it is checked in ``test_heun_maps_noise_to_the_exact_ode_endpoint``.)
    """
    sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX)
    x = SIGMA_MAX * latents(seed)
    out = SAMPLERS[sampler](GaussianSigmaDenoiser(), x, sigmas, noise=GeneratorNoise(seed))
    at_min = ve_flow(x, SIGMA_MAX, SIGMA_MIN)
    exact = exact_denoised(at_min, torch.tensor(SIGMA_MIN))
    return ((out - exact).abs() / (exact - MU).abs()).max().item()


# ---- The grid


def test_karras_grid_is_eq5_in_float64_with_a_zero_appended() -> None:
    """sigma_i = (smax^(1/7) + i/(N-1)(smin^(1/7) - smax^(1/7)))^7 for i < N, then 0."""
    steps = 18
    sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX)
    assert sigmas.dtype == torch.float64 and sigmas.shape == (steps + 1,)
    for i in range(steps):
        expected = (
            SIGMA_MAX ** (1 / 7) + i / (steps - 1) * (SIGMA_MIN ** (1 / 7) - SIGMA_MAX ** (1 / 7))
        ) ** 7
        assert math.isclose(float(sigmas[i]), expected, rel_tol=1e-14)
    assert float(sigmas[0]) == pytest.approx(SIGMA_MAX, rel=1e-14)
    assert float(sigmas[-2]) == pytest.approx(SIGMA_MIN, rel=1e-12)
    assert float(sigmas[-1]) == 0.0
    assert (sigmas[1:] < sigmas[:-1]).all()


def round_to_tenths(sigma: torch.Tensor) -> torch.Tensor:
    """A stand-in network's ``round_sigma``."""
    return (sigma * 10).round() / 10


def test_grid_applies_round_sigma_before_the_zero_and_takes_one_step() -> None:
    """``round_sigma`` sees the N levels (not the appended 0); one step is [sigma_max, 0]."""
    seen: list[torch.Tensor] = []
    sigmas = karras_sigmas(5, 0.5, 10.0, round_sigma=lambda s: seen.append(s) or round_to_tenths(s))
    assert len(seen) == 1 and seen[0].shape == (5,)
    assert torch.equal(sigmas[:-1], (seen[0] * 10).round() / 10) and float(sigmas[-1]) == 0
    assert karras_sigmas(1, 0.5, 10.0).tolist() == pytest.approx([10.0, 0.0], rel=1e-14)
    assert append_zero(torch.tensor([2.0, 1.0])).tolist() == [2.0, 1.0, 0.0]


@pytest.mark.parametrize(
    "arguments", [(0, 0.002, 80.0), (8, 0.0, 80.0), (8, 90.0, 80.0), (8, 0.002, math.inf)]
)
def test_bad_grid_arguments_are_value_errors(arguments: tuple[int, float, float]) -> None:
    """No steps, a zero or inverted range, or an infinite sigma_max: one clear ValueError."""
    with pytest.raises(ValueError, match="Karras grid"):
        karras_sigmas(*arguments)


def test_churn_factor_is_capped_and_windowed() -> None:
    """gamma = min(S_churn/N, sqrt 2 - 1) inside [S_min, S_max], 0 outside (Algorithm 2)."""
    assert churn_gamma(1.0, 8, 1.0, 0.0, math.inf) == 1 / 8
    assert churn_gamma(1.0, 8, 40.0, 0.0, math.inf) == MAX_GAMMA == math.sqrt(2) - 1
    assert churn_gamma(60.0, 8, 40.0, 0.05, 50.0) == 0.0
    assert churn_gamma(0.01, 8, 40.0, 0.05, 50.0) == 0.0
    assert churn_gamma(0.05, 8, 1.0, 0.05, 50.0) == 1 / 8


def test_to_d_is_the_ode_derivative_per_item() -> None:
    """d = (x - D) / sigma, with a per-item sigma broadcast over the item's dimensions."""
    x, denoised = torch.ones(2, 3, 1, 1), torch.zeros(2, 3, 1, 1)
    d = to_d(x, torch.tensor([1.0, 4.0]), denoised)
    assert d[0].eq(1.0).all() and d[1].eq(0.25).all()
    assert to_d(x, 2.0, denoised).eq(0.5).all()


# ---- EDM's golden run


def edm_golden(golden_dir: Path) -> dict[str, Any]:
    """``edm_sampler.pt`` (dg.md §10)."""
    return torch.load(golden_dir / "edm_sampler.pt", weights_only=True)


class RecordedNet:
    """Returns the reference network's recorded D for each call, checking what it receives."""

    def __init__(self, outputs: dict[str, Any], tolerance: dict[str, float]) -> None:
        self.outputs, self.tolerance, self.calls = outputs, tolerance, 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        k, self.calls = self.calls, self.calls + 1
        assert x.dtype == torch.float64 and sigma.dtype == torch.float64
        torch.testing.assert_close(x, self.outputs["net_calls_x"][k], **self.tolerance)
        torch.testing.assert_close(sigma, self.outputs["net_calls_sigma"][k], rtol=1e-12, atol=0)
        return self.outputs["net_calls_D"][k]


@pytest.mark.parametrize("case", ["deterministic", "stochastic", "cond_deterministic"])
def test_heun_replays_edm_sampler_golden(golden_dir: Path, case: str) -> None:
    """EDM's ``edm_sampler`` (8 steps, 15 net calls) is reproduced call by call.

    The stand-in network returns the recorded D(x; sigma) of each call (float32, as EDM's net
    returns it) and checks that the sampler asks at the recorded x and sigma: the grid (eq. 5
    in float64), the churn (S_churn 40 in [0.05, 50], S_noise 1.003), the draw per step even
    without churn, and the Euler/correction arithmetic are EDM's. The class-conditional case
    only changes D (the labels live in the network), so it replays the same way.
    """
    golden = edm_golden(golden_dir)
    outputs, kw = golden["outputs"][case], golden["outputs"][case]["sampler_kwargs"]
    tolerance = {"rtol": golden["tolerance"]["rtol"], "atol": golden["tolerance"]["atol"]}
    span = (outputs["effective_sigma_min"], outputs["effective_sigma_max"])
    sigmas = karras_sigmas(kw["num_steps"], *span, kw["rho"])
    churn = {"s_churn": kw["S_churn"], "s_tmin": kw["S_min"], "s_tmax": kw["S_max"]}
    net, noise = RecordedNet(outputs, tolerance), RecordedNoise(golden["noise"][case])
    x = golden["inputs"]["latents"].to(torch.float64) * sigmas[0]
    out = sample_heun(net, x, sigmas, noise=noise, s_noise=kw["S_noise"], **churn)
    noise.assert_exhausted()
    assert net.calls == 2 * kw["num_steps"] - 1 == len(outputs["net_calls_D"])
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, outputs["output"], **tolerance)


def test_grid_matches_the_levels_edm_called_its_net_at(golden_dir: Path) -> None:
    """EDM's t_steps (the first call of each step, and the last correction at sigma_min)."""
    outputs = edm_golden(golden_dir)["outputs"]["deterministic"]
    sigmas = karras_sigmas(8, SIGMA_MIN, SIGMA_MAX)
    called = outputs["net_calls_sigma"][:, 0]
    torch.testing.assert_close(sigmas[:-1], called[0::2], rtol=1e-15, atol=0)


# ---- Accuracy on the analytic Gaussian


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heun_maps_noise_to_the_exact_ode_endpoint(seed: int) -> None:
    """x = sigma_max z -> MU + (x - MU) S / sqrt(S^2 + sigma_max^2) (the flow to sigma = 0).

    64 Heun steps: relative error 3.7e-3 (the Karras grid's, identical for every draw; see the
    module docstring), of which 8e-6 is the last Euler step onto 0. Bound 1e-2.
    """
    sigmas = karras_sigmas(64, SIGMA_MIN, SIGMA_MAX)
    x = SIGMA_MAX * latents(seed)
    out = sample_heun(GaussianSigmaDenoiser(), x, sigmas, noise=GeneratorNoise(seed))
    exact = ve_flow(x, SIGMA_MAX, 0.0)
    assert ((out - exact).abs() / (exact - MU).abs()).max().item() < 1e-2


@pytest.mark.parametrize("seed", [0, 1])
def test_heun_error_falls_fourfold_when_the_steps_double(seed: int) -> None:
    """Second order: error(64)/error(128) = 4.13 on the rho = 7 grid (4 asymptotically)."""
    ratio = relative_error(64, "heun", seed) / relative_error(128, "heun", seed)
    assert 3.5 < ratio < 4.8


@pytest.mark.parametrize("seed", [0, 1])
def test_euler_error_halves_when_the_steps_double(seed: int) -> None:
    """First order: error(64)/error(128) = 1.99. At equal cost (NFE 127 vs 128) Heun's error
    is a sixth of Euler's (3.7e-3 vs 2.2e-2)."""
    ratio = relative_error(64, "euler", seed) / relative_error(128, "euler", seed)
    assert 1.8 < ratio < 2.2
    assert relative_error(64, "heun", seed) < 0.3 * relative_error(128, "euler", seed)


def test_relative_error_is_the_same_for_every_draw() -> None:
    """The claim behind the seed-free bounds: each item's relative error is the grid's."""
    errors = [relative_error(16, "heun", seed) for seed in range(3)]
    assert max(errors) - min(errors) < 1e-9 * max(errors)


# ---- Network evaluations, draws, dtypes, callback


@pytest.mark.parametrize(("name", "nfe"), [("heun", lambda n: 2 * n - 1), ("euler", lambda n: n)])
def test_nfe_and_one_draw_per_step(name: str, nfe: Any) -> None:
    """Heun: 2N - 1 evaluations (no correction onto 0); Euler: N; both draw once per step."""
    steps = 6
    sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX)
    x = SIGMA_MAX * latents(0, (2, 1, 2, 2))
    net = GaussianSigmaDenoiser()
    noise = RecordedNoise([torch.zeros_like(x)] * steps)
    SAMPLERS[name](net, x, sigmas, noise=noise)
    noise.assert_exhausted()
    assert net.calls == nfe(steps)
    assert all(s.shape == (2,) and s.dtype == x.dtype for s in net.sigmas)


def test_heun_corrects_every_step_of_a_grid_that_stops_above_zero() -> None:
    """A grid ending at sigma > 0 (a partial trajectory) gets 2 evaluations on every step."""
    net = GaussianSigmaDenoiser()
    sigmas = torch.tensor([10.0, 5.0, 1.0], dtype=torch.float64)
    sample_heun(net, 10 * latents(0, (2, 1)), sigmas, noise=GeneratorNoise(0))
    assert net.calls == 4


def test_churn_consumes_one_draw_per_step_and_changes_the_result() -> None:
    """S_churn > 0 inside [S_min, S_max]: each step adds its draw; other noise, other result."""
    steps = 8
    sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX)
    x = SIGMA_MAX * latents(0)
    runs = []
    for seed in (1, 2):
        draws = [latents(100 * seed + i) for i in range(steps)]
        noise = RecordedNoise(draws)
        runs.append(
            sample_heun(GaussianSigmaDenoiser(), x, sigmas, noise=noise, s_churn=10.0, s_tmax=50.0)
        )
        noise.assert_exhausted()
    assert (runs[0] - runs[1]).abs().max() > 1e-3


def test_without_churn_the_draws_are_consumed_and_ignored() -> None:
    """S_churn = 0 still draws once per step (EDM's stream) and equals any other noise's run."""
    steps = 8
    sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX)
    x = SIGMA_MAX * latents(0)
    noise = RecordedNoise([latents(10 + i) for i in range(steps)])
    with_draws = sample_heun(GaussianSigmaDenoiser(), x, sigmas, noise=noise)
    noise.assert_exhausted()
    other = sample_heun(GaussianSigmaDenoiser(), x, sigmas, noise=GeneratorNoise(7))
    assert torch.equal(with_draws, other)


def test_churn_raises_sigma_hat_only_inside_the_window() -> None:
    """sigma_hat = sigma (1 + gamma) for S_min <= sigma <= S_max, sigma elsewhere."""
    steps = 8
    sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX)
    seen: list[tuple[float, float]] = []
    sample_heun(
        GaussianSigmaDenoiser(),
        SIGMA_MAX * latents(0, (2, 1)),
        sigmas,
        noise=GeneratorNoise(0),
        s_churn=40.0,
        s_tmin=0.05,
        s_tmax=50.0,
        callback=lambda info: seen.append((info["sigma"], info["sigma_hat"])),
    )
    for sigma, sigma_hat in seen:
        gamma = MAX_GAMMA if 0.05 <= sigma <= 50.0 else 0.0
        assert sigma_hat == pytest.approx(sigma * (1 + gamma), rel=1e-15)
    assert any(sigma_hat > sigma for sigma, sigma_hat in seen)


def test_round_sigma_is_applied_to_every_churned_level() -> None:
    """EDM's ``t_hat = net.round_sigma(t_cur + gamma t_cur)``: the network sees rounded levels."""
    sigmas = karras_sigmas(4, 0.5, 10.0, round_sigma=round_to_tenths)
    net = GaussianSigmaDenoiser()
    x, noise = 10 * latents(0, (2, 1)), GeneratorNoise(0)
    sample_heun(net, x, sigmas, noise=noise, s_churn=1.0, round_sigma=round_to_tenths)
    for sigma in net.sigmas:
        assert torch.allclose(sigma, round_to_tenths(sigma), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["heun", "euler"])
def test_the_sampler_works_in_the_dtype_of_x(name: str) -> None:
    """float32 x stays float32 (a float64 denoiser output is cast to it); float64 stays."""
    sigmas = karras_sigmas(4, SIGMA_MIN, SIGMA_MAX)

    def float64_net(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return exact_denoised(x, sigma)

    for dtype in (torch.float32, torch.float64):
        x = (SIGMA_MAX * latents(0, (2, 1))).to(dtype)
        seen: list[torch.dtype] = []

        def record(info: Any, seen: list[torch.dtype] = seen) -> None:
            seen.extend([info["x"].dtype, info["denoised"].dtype])

        out = SAMPLERS[name](float64_net, x, sigmas, noise=GeneratorNoise(0), callback=record)
        assert out.dtype == dtype and set(seen) == {dtype}


def test_callback_gets_every_step_with_its_levels() -> None:
    """Keys x, i, total, sigma, sigma_hat, denoised; x is the state at sigmas[i + 1]."""
    steps = 5
    sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX)
    infos: list[dict[str, Any]] = []
    x, record = SIGMA_MAX * latents(0, (2, 1)), lambda info: infos.append(dict(info))
    out = sample_heun(GaussianSigmaDenoiser(), x, sigmas, noise=GeneratorNoise(0), callback=record)
    assert [info["i"] for info in infos] == list(range(steps))
    assert {frozenset(info) for info in infos} == {
        frozenset({"x", "i", "total", "sigma", "sigma_hat", "denoised"})
    }
    assert all(info["total"] == steps for info in infos)
    assert [info["sigma"] for info in infos] == sigmas[:-1].tolist()
    assert torch.equal(infos[-1]["x"], out)


@pytest.mark.parametrize(
    "sigmas", [torch.tensor([1.0]), torch.tensor([[1.0, 0.0]]), torch.tensor([1.0, 0.0, 0.0])]
)
def test_bad_sampler_grids_are_value_errors(sigmas: torch.Tensor) -> None:
    """A grid needs two levels, one dimension, and positive levels before the last."""
    with pytest.raises(ValueError, match="sigmas"):
        sample_heun(GaussianSigmaDenoiser(), torch.zeros(1, 1), sigmas, noise=GeneratorNoise(0))


# ---- Energies


def pull_toward(center: float, k: float, weight: float = 1.0) -> WeightedEnergy:
    """E(x) = k/2 ||x - center||^2 per item (lower near ``center``)."""

    def energy(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        assert state.sigma is not None and state.sigma.shape == (y.shape[0],)
        return 0.5 * k * (y - center).pow(2).flatten(1).sum(1)

    return WeightedEnergy("pull", weight, energy)


def test_guided_denoised_shifts_d_by_minus_sigma_squared_grad_e() -> None:
    """D' = D - sigma^2 k (x - c): the score moves by -grad E (dg.md §4 with E = -log-ratio)."""
    x = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    sigma, k, c = 3.0, 0.1, -1.0
    guided = guided_denoised(GaussianSigmaDenoiser(), x, sigma, [pull_toward(c, k)])
    plain = exact_denoised(x, torch.tensor(sigma))
    torch.testing.assert_close(guided, plain - sigma**2 * k * (x - c), rtol=1e-6, atol=1e-6)


def test_guided_heun_moves_the_endpoint_toward_the_low_energy_region() -> None:
    """With E = k/2 ||x - c||^2 every sample ends nearer c; with weight 0 it is unguided.

    Both Heun evaluations are guided, D' = D - sigma^2 grad E (2N - 1 energy gradients). The
    start points are fixed (no draw): x = sigma_max * [-2, ..., 2] with sigma_max = 2, where
    k = 1 keeps the stiff term sigma k dsigma inside Heun's stability region and still beats
    the data score 1/(S^2 + sigma^2) by enough to move every endpoint by more than 0.04.
    """
    sigma_max, center, k, steps = 2.0, -2.0, 1.0, 32
    sigmas = karras_sigmas(steps, SIGMA_MIN, sigma_max)
    x = sigma_max * torch.linspace(-2, 2, 9, dtype=torch.float64).reshape(9, 1)
    calls: list[int] = []
    pull = pull_toward(center, k)
    counted = WeightedEnergy(
        "pull", 1.0, lambda y, state: calls.append(1) or pull.function(y, state)
    )

    def run(*energies: WeightedEnergy) -> torch.Tensor:
        return sample_heun(
            GaussianSigmaDenoiser(), x, sigmas, energies=energies, noise=GeneratorNoise(0)
        )

    plain, guided = run(), run(counted)
    assert len(calls) == 2 * steps - 1
    assert torch.equal(run(pull_toward(center, k, weight=0.0)), plain)
    assert ((plain - center).abs() - (guided - center).abs()).min() > 0.04
    assert guided.mean() < plain.mean() - 0.5
