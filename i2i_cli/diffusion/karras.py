"""The EDM noise-level grid and Karras et al.'s Euler and Heun samplers, in sigma time.

Karras, Aittala, Aila & Laine 2022, "Elucidating the Design Space of Diffusion-Based Generative
Models" (EDM): the probability-flow ODE of x = x0 + sigma n is ``dx/dsigma = (x - D(x; sigma))
/ sigma`` with D the denoiser (eq. 3 with sigma(t) = t, s(t) = 1). The samplers here are plain
functions of a ``SigmaDenoiser`` ``denoiser(x, sigma) -> D(x; sigma)``, a start state ``x``
already at ``sigmas[0]`` and a grid ``sigmas`` ending in 0 (``karras_sigmas``), in the shape of
k-diffusion's ``sampling.py``; every step follows EDM's ``generate.py:edm_sampler`` operation by
operation (dg.md §3), so a replay of EDM's recorded ``randn_like`` stream reproduces its run:

- one Gaussian is drawn per step through ``noise``, also when the step adds no churn;
- the state keeps the dtype of ``x`` (EDM passes float64), denoiser outputs are cast to it;
- a grid entry and each churned level go through the network's ``round_sigma`` when given.

Guidance by energies (``i2i_cli.diffusion.guidance``) shifts the denoised estimate,
``D' = D - sigma^2 grad E(x)``, i.e. the score ``(D - x)/sigma^2`` by ``-grad E`` and the ODE
derivative ``d = (x - D')/sigma`` by ``+sigma grad E`` (DG's ``d += w g / t_hat`` with
``E = -log d/(1-d)``, dg.md §4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from i2i_cli.diffusion.denoiser import SigmaDenoiser
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradient
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.steps import StepCallback, no_step

RoundSigma = Callable[[torch.Tensor], torch.Tensor]
"""A network's ``round_sigma``: the noise level it can represent nearest to each sigma (EDM's
iDDPM wrapper snaps to its 1000 levels; every other EDM wrapper is the identity)."""

MAX_GAMMA = math.sqrt(2) - 1
"""The cap on the churn factor gamma_i (Algorithm 2, line 4): at most doubling the variance."""


def append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    """The grid ``sigmas`` followed by sigma_N = 0 (k-diffusion's ``append_zero``)."""
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def karras_sigmas(
    num_steps: int,
    sigma_min: float,
    sigma_max: float,
    rho: float = 7.0,
    *,
    round_sigma: RoundSigma | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """EDM's grid sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho, then 0.

    Karras et al. 2022, eq. 5, for i = 0 .. N-1, computed in float64 exactly as EDM's
    ``edm_sampler`` builds ``t_steps`` (``round_sigma`` applied before sigma_N = 0 is appended);
    the result has N + 1 entries. EDM first clamps the range to what the network supports,
    ``sigma_min = max(sigma_min, net.sigma_min)``, ``sigma_max = min(sigma_max, net.sigma_max)``:
    the caller passes the clamped values. ``num_steps = 1`` gives ``[sigma_max, 0]``.
    """
    if num_steps < 1:
        raise ValueError(f"a Karras grid needs at least 1 step, not {num_steps}")
    if not 0 < sigma_min <= sigma_max < math.inf:
        raise ValueError(
            f"a Karras grid needs 0 < sigma_min <= sigma_max < inf (got {sigma_min}, {sigma_max})"
        )
    if rho <= 0:
        raise ValueError(f"rho must be positive, not {rho}")
    step_indices = torch.arange(num_steps, dtype=torch.float64, device=device)
    max_inv_rho = sigma_max ** (1 / rho)
    min_inv_rho = sigma_min ** (1 / rho)
    ramp = step_indices / (num_steps - 1) if num_steps > 1 else step_indices
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    if round_sigma is not None:
        sigmas = round_sigma(sigmas).to(torch.float64)
    return append_zero(sigmas)


def to_d(x: torch.Tensor, sigma: torch.Tensor | float, denoised: torch.Tensor) -> torch.Tensor:
    """The ODE derivative dx/dsigma = (x - D(x; sigma)) / sigma (Karras et al. 2022, eq. 3)."""
    if isinstance(sigma, torch.Tensor) and sigma.ndim > 0:
        sigma = sigma.reshape(sigma.shape + (1,) * (x.ndim - sigma.ndim))
    return (x - denoised) / sigma


def churn_gamma(
    sigma: float, num_steps: int, s_churn: float, s_tmin: float, s_tmax: float
) -> float:
    """gamma_i = min(S_churn/N, sqrt(2) - 1) if S_min <= sigma_i <= S_max, else 0 (Algorithm 2)."""
    return min(s_churn / num_steps, MAX_GAMMA) if s_tmin <= sigma <= s_tmax else 0.0


def guided_denoised(
    denoiser: SigmaDenoiser,
    x: torch.Tensor,
    sigma: float,
    energies: Sequence[WeightedEnergy],
) -> torch.Tensor:
    """D'(x; sigma) = D(x; sigma) - sigma^2 grad_x sum_k w_k E_k(x), in the dtype of ``x``.

    The denoiser receives sigma once per item (shape [B], dtype of ``x``); energies see the
    same vector as ``state.sigma``. Without energies this is D cast to ``x.dtype``.
    """
    sigma_in = x.new_full((x.shape[0],), sigma)
    denoised = denoiser(x, sigma_in).to(x.dtype)
    if energies:
        gradient = energy_gradient(energies, x, GuidanceState(sigma=sigma_in))
        denoised = denoised - sigma**2 * gradient.to(x.dtype)
    return denoised


def _levels(sigmas: torch.Tensor) -> list[float]:
    """The grid as Python floats (one host read per run), checked: 1-D, positive but the last."""
    if sigmas.ndim != 1 or len(sigmas) < 2:
        raise ValueError("sigmas must be a 1-D grid of at least 2 levels (the last usually 0)")
    levels = [float(s) for s in sigmas.double().tolist()]
    if any(not s > 0 for s in levels[:-1]) or levels[-1] < 0:
        raise ValueError("every level of sigmas but the last must be positive, the last >= 0")
    return levels


def _churned(
    x: torch.Tensor,
    sigma: float,
    gamma: float,
    s_noise: float,
    noise: NoiseSource,
    round_sigma: RoundSigma | None,
) -> tuple[torch.Tensor, float]:
    """x_hat = x_i + sqrt(sigma_hat^2 - sigma_i^2) S_noise eps, sigma_hat = sigma_i (1 + gamma).

    Algorithm 2, lines 5-6, as EDM writes them: eps is drawn on every call (EDM's stream), and
    with gamma = 0 it is added times 0, so x_hat == x_i exactly.
    """
    sigma_hat = sigma + gamma * sigma
    if round_sigma is not None:
        sigma_hat = float(round_sigma(torch.tensor(sigma_hat, dtype=torch.float64)))
    eps = noise.randn_like(x)
    scale = math.sqrt(sigma_hat * sigma_hat - sigma * sigma) * s_noise
    return x + scale * eps, sigma_hat


if TYPE_CHECKING:
    from typing_extensions import NotRequired, Required, TypedDict, Unpack

    class KarrasOptions(TypedDict):
        """The keyword options ``sample_euler`` and ``sample_heun`` share."""

        energies: NotRequired[Sequence[WeightedEnergy]]
        noise: Required[NoiseSource]
        callback: NotRequired[StepCallback]
        s_churn: NotRequired[float]
        s_tmin: NotRequired[float]
        s_tmax: NotRequired[float]
        s_noise: NotRequired[float]
        round_sigma: NotRequired[RoundSigma | None]


@torch.no_grad()
def sample_euler(
    denoiser: SigmaDenoiser, x: torch.Tensor, sigmas: torch.Tensor, **options: Unpack[KarrasOptions]
) -> torch.Tensor:
    """Algorithm 2 of Karras et al. 2022 with Euler steps: x_{i+1} = x_hat + (s_{i+1} - s_hat) d.

    ``x`` is the start state at ``sigmas[0]`` (e.g. ``sigma_max * z``); one network evaluation
    and one Gaussian draw per step (NFE = N for N = len(sigmas) - 1 steps). Options (``noise``,
    ``energies``, ``callback``, churn, ``round_sigma``), dtype and callback as in ``sample_heun``.
    """
    return _sample_karras(denoiser, x, sigmas, second_order=False, **options)


@torch.no_grad()
def sample_heun(
    denoiser: SigmaDenoiser, x: torch.Tensor, sigmas: torch.Tensor, **options: Unpack[KarrasOptions]
) -> torch.Tensor:
    """Algorithm 2 of Karras et al. 2022 (stochastic Heun), step for step EDM's ``edm_sampler``.

    ``x`` is the start state at ``sigmas[0]`` (EDM: ``latents.to(float64) * sigmas[0]``), and
    the sampler works in its dtype. Per step i of N = len(sigmas) - 1:

    - gamma_i = min(S_churn/N, sqrt(2) - 1) if S_min <= sigma_i <= S_max else 0,
      sigma_hat = sigma_i (1 + gamma_i), x_hat = x_i + sqrt(sigma_hat^2 - sigma_i^2) S_noise eps,
      with eps drawn from ``noise`` on every step, also when gamma_i = 0 (EDM's stream);
    - Euler: d = (x_hat - D(x_hat; sigma_hat)) / sigma_hat, x_{i+1} = x_hat + (s_{i+1} - s_hat) d;
    - if sigma_{i+1} > 0, the second-order correction d' = (x_{i+1} - D(x_{i+1}; s_{i+1})) /
      s_{i+1}, x_{i+1} = x_hat + (s_{i+1} - s_hat) (d/2 + d'/2); none onto sigma = 0, so a grid
      ending in 0 costs NFE = 2N - 1.

    Energies shift the denoised estimate at BOTH evaluations, D' = D - sigma^2 grad E(x) at
    (x_hat, sigma_hat) and at (x_{i+1}, sigma_{i+1}) (the guided ODE is then integrated to
    second order; DG's reference applies its second-order weight separately, dg.md §4).
    ``round_sigma`` is the network's (EDM applies it to every sigma_hat; pass the same one
    used for the grid). The callback receives ``x`` (x_{i+1}, at ``sigmas[i + 1]``), ``i``,
    ``total`` (N), ``sigma`` (sigma_i), ``sigma_hat`` and ``denoised`` (D' at x_hat).
    """
    return _sample_karras(denoiser, x, sigmas, second_order=True, **options)


def _sample_karras(
    denoiser: SigmaDenoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    second_order: bool,
    **options: Unpack[KarrasOptions],
) -> torch.Tensor:
    """Algorithm 2's loop; ``second_order`` adds Heun's correction wherever sigma_{i+1} > 0.

    ``options`` are ``sample_heun``'s; left out, there are no energies and no churn
    (S_churn 0, S_min 0, S_max inf, S_noise 1) and sigma is not rounded.
    """
    noise, energies = options["noise"], options.get("energies", ())
    callback = options.get("callback", no_step)
    s_churn, s_noise = options.get("s_churn", 0.0), options.get("s_noise", 1.0)
    s_tmin, s_tmax = options.get("s_tmin", 0.0), options.get("s_tmax", math.inf)
    round_sigma = options.get("round_sigma")
    levels = _levels(sigmas)
    total = len(levels) - 1
    for i in range(total):
        sigma, sigma_next = levels[i], levels[i + 1]
        gamma = churn_gamma(sigma, total, s_churn, s_tmin, s_tmax)
        x_hat, sigma_hat = _churned(x, sigma, gamma, s_noise, noise, round_sigma)

        # Euler step.
        denoised = guided_denoised(denoiser, x_hat, sigma_hat, energies)
        d = to_d(x_hat, sigma_hat, denoised)
        x = x_hat + (sigma_next - sigma_hat) * d

        # Apply 2nd order correction.
        if second_order and sigma_next > 0:
            denoised_next = guided_denoised(denoiser, x, sigma_next, energies)
            d_prime = to_d(x, sigma_next, denoised_next)
            x = x_hat + (sigma_next - sigma_hat) * (0.5 * d + 0.5 * d_prime)
        info = {"x": x, "i": i, "total": total, "sigma": sigma, "sigma_hat": sigma_hat}
        callback({**info, "denoised": denoised})
    return x
