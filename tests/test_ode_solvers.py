"""The ODE passes on Gaussian data, whose exact denoiser and flow map are known in closed form.

For x0 ~ N(mu, s^2) the optimal eps prediction at abar is
``sqrt(1 - abar) (x - sqrt(abar) mu) / (abar s^2 + 1 - abar)`` and the probability-flow ODE maps
x0 to ``sqrt(abar) mu + sqrt(abar s^2 + 1 - abar) (x0 - mu) / s``: at abar = 0 the latent is
``(x0 - mu) / s``. So each solver's discretisation error can be measured exactly.
"""

from __future__ import annotations

import pytest
import torch

from i2i_cli.diffusion.denoiser import ModelOutput
from i2i_cli.diffusion.noise import GeneratorNoise, RecordedNoise
from i2i_cli.diffusion.ode import (
    decode_ode,
    encode_ode,
    exponential_step,
    multistep_data,
    solver_schedule,
)
from i2i_cli.diffusion.schedule import DiscreteSchedule

MU, S = 0.7, 0.3
MU2, S2 = -0.4, 0.8
"""A second data set, the target of a translation."""
T = 1000


class GaussianDenoiser:
    """The exact eps prediction of N(mu, s^2) data under the schedule's abar (original steps)."""

    def __init__(self, mu: float = MU, s: float = S, steps: int = T) -> None:
        self.mu, self.s = mu, s
        self.alpha_bars = torch.from_numpy(
            DiscreteSchedule.named("linear", steps).arrays()["alphas_cumprod"]
        )
        self.calls = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> ModelOutput:
        self.calls += 1
        abar = self.alpha_bars[t].reshape(-1, 1)
        mu, s = self.mu, self.s
        eps = (1 - abar).sqrt() * (x.double() - abar.sqrt() * mu) / (abar * s**2 + 1 - abar)
        return ModelOutput(eps.to(x.dtype), None, "eps")


def exact_latent(x0: torch.Tensor, alpha_bar: float, mu: float = MU, s: float = S) -> torch.Tensor:
    """The exact flow map from data to ``alpha_bar``."""
    return alpha_bar**0.5 * mu + (alpha_bar * s**2 + 1 - alpha_bar) ** 0.5 * (x0 - mu) / s


def exact_data(x: torch.Tensor, alpha_bar: float, mu: float = MU, s: float = S) -> torch.Tensor:
    """The exact flow map from ``alpha_bar`` back to data (the inverse of ``exact_latent``)."""
    return mu + s * (x - alpha_bar**0.5 * mu) / (alpha_bar * s**2 + 1 - alpha_bar) ** 0.5


def _data() -> torch.Tensor:
    """Points of the data set in float64 (so round-off stays far below the solver error)."""
    return (MU + S * torch.randn(64, 1, generator=torch.Generator().manual_seed(0))).double()


def grid(solver: str, steps: int, spacing: str = "auto") -> DiscreteSchedule:
    """The pass grid of ``solver``: ``steps`` of the 1000-step linear process."""
    return solver_schedule(DiscreteSchedule.named("linear", T), solver, steps, spacing)


def encode_error(solver: str, steps: int, spacing: str = "auto") -> float:
    """Max error of the encoded latent against the exact one (the data start at step 0)."""
    schedule = grid(solver, steps, spacing)
    x0 = _data()
    start = float(schedule.arrays()["alphas_cumprod"][0])
    x_start = exact_latent(x0, start)
    latent = encode_ode(GaussianDenoiser(), x_start, schedule, solver=solver)
    return (latent - exact_latent(x0, 0.0)).abs().max().item()


def decode_error(solver: str, steps: int, spacing: str = "auto") -> float:
    """Max error of decoding an exact latent at the last step down to abar = 1."""
    schedule = grid(solver, steps, spacing)
    x0 = _data()
    last = float(schedule.arrays()["alphas_cumprod"][-1])
    noise = GeneratorNoise(0)
    decoded = decode_ode(
        GaussianDenoiser(), exact_latent(x0, last), schedule, solver=solver, noise=noise
    )
    return (decoded - x0).abs().max().item()


@pytest.mark.parametrize("error", [encode_error, decode_error])
def test_dpm_solver_is_far_more_accurate_than_ddim_at_equal_steps(error) -> None:
    """At 20 steps (each on its default grid) DPM-Solver++(2M) beats DDIM tenfold."""
    assert error("dpmpp2m", 20) < 0.1 * error("ddim", 20)


def translate_error(solver: str) -> float:
    """DDIB's translation N(MU, S^2) -> N(MU2, S2^2) on its grid: 100 respaced steps of 4000.

    Encode under the source's exact denoiser, decode that latent under the target's. The exact
    answer composes the two exact flows the same way: source data to abar = 0 (where an encode
    ends), then the target's flow from the grid's last abar (where a decode starts) to its data.
    """
    schedule = DiscreteSchedule.named("linear", 4000, "100")
    alpha_bars = schedule.arrays()["alphas_cumprod"]
    x0 = _data()
    source, target = GaussianDenoiser(steps=4000), GaussianDenoiser(MU2, S2, steps=4000)
    x_start = exact_latent(x0, float(alpha_bars[0]))
    latent = encode_ode(source, x_start, schedule, solver=solver)
    translated = decode_ode(target, latent, schedule, solver=solver, noise=GeneratorNoise(0))
    exact = exact_data(exact_latent(x0, 0.0), float(alpha_bars[-1]), MU2, S2)
    return (translated - exact).abs().max().item()


def test_dpm_solver_translates_closer_to_the_exact_map_than_ddim_on_one_grid() -> None:
    """On DDIB's own 100-step grid, DPM-Solver++(2M)'s translation beats DDIM's.

    The 2-D golden replay cannot make this claim (its models' exact flow is unknown, and the
    ratio there moves with the draw); here the exact map is known in closed form.
    """
    assert translate_error("dpmpp2m") < 0.5 * translate_error("ddim")


@pytest.mark.parametrize("error", [encode_error, decode_error])
def test_log_snr_grid_helps_both_solvers(error) -> None:
    """Even log-SNR steps beat even time steps of the linear schedule, for either solver."""
    for solver in ("ddim", "dpmpp2m"):
        assert error(solver, 20, "logsnr") < 0.7 * error(solver, 20, "time")


def test_convergence_orders() -> None:
    """Doubling the steps divides DPM-Solver++(2M)'s error by 4 or more, DDIM's by about 2."""
    for error in (encode_error, decode_error):
        assert error("dpmpp2m", 40) / error("dpmpp2m", 80) > 3.5
        assert 1.6 < error("ddim", 40) / error("ddim", 80) < 2.4


def test_one_model_evaluation_per_step() -> None:
    """Both solvers call the network exactly once per step of the grid."""
    for solver in ("ddim", "dpmpp2m"):
        model, schedule = GaussianDenoiser(), grid(solver, 30)
        latent = encode_ode(model, _data(), schedule, solver=solver)
        decode_ode(model, latent, schedule, solver=solver, noise=GeneratorNoise(0))
        assert model.calls == 60


def test_ddim_decode_draws_once_per_step_and_dpm_draws_nothing() -> None:
    """DDIM keeps guided-diffusion's zeroed draws (its noise stream); DPM-Solver++ draws none."""
    schedule = DiscreteSchedule.named("linear", T, "10")
    x = torch.zeros(4, 1, dtype=torch.float64)
    recorded = RecordedNoise([torch.zeros(4, 1, dtype=torch.float64)] * 10)
    decode_ode(GaussianDenoiser(), x, schedule, solver="ddim", noise=recorded)
    recorded.assert_exhausted()
    empty = RecordedNoise([])
    decode_ode(GaussianDenoiser(), x, schedule, solver="dpmpp2m", noise=empty)


def test_step_onto_the_ends_of_the_grid_is_exact() -> None:
    """abar -> 1 returns D itself; abar -> 0 returns the eps that D implies."""
    x, data = torch.tensor([[0.3]]), torch.tensor([[0.5]])
    assert torch.allclose(exponential_step(x, data, 0.25, 1.0), data)
    eps = (x - 0.5 * data) / (0.75**0.5)
    assert torch.allclose(exponential_step(x, data, 0.25, 0.0), eps)


def test_multistep_extrapolation_is_linear_in_log_snr() -> None:
    """Equal log-SNR steps (r = 1) give D = 1.5 x0_s - 0.5 x0_prev."""
    current, previous = torch.tensor([2.0]), torch.tensor([1.0])
    assert torch.allclose(multistep_data(current, previous, (0.0, 1.0, 2.0)), torch.tensor([2.5]))


def test_unknown_solver_is_rejected() -> None:
    """A misspelt solver is a ValueError naming the known ones."""
    schedule = DiscreteSchedule.named("linear", T, "10")
    with pytest.raises(ValueError, match="dpmpp2m"):
        encode_ode(GaussianDenoiser(), torch.zeros(2, 1), schedule, solver="heun")  # type: ignore[arg-type]


def test_log_snr_spacing_keeps_the_count_and_both_ends() -> None:
    """Every count from 2 to T gives that many distinct ascending steps from 0 to T - 1."""
    base = DiscreteSchedule.named("linear", 4000)
    for count in (2, 3, 10, 50, 999, 4000):
        kept = base.log_snr_spaced(count).timestep_map
        assert len(kept) == count and kept[0] == 0 and kept[-1] == 3999
        assert (kept[1:] > kept[:-1]).all()


def test_default_grids() -> None:
    """ddim: every step (the reference); dpmpp2m: 50 log-SNR steps; bad counts are refused."""
    base = DiscreteSchedule.named("linear", 4000)
    assert solver_schedule(base, "ddim", None) is base
    assert solver_schedule(base, "dpmpp2m", None).num_steps == 50
    respaced = solver_schedule(base, "ddim", 100).timestep_map
    assert list(respaced[:3]) == [0, 40, 81]
    with pytest.raises(ValueError, match="2 to 4000"):
        solver_schedule(base, "dpmpp2m", 5000)
