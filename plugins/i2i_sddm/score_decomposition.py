"""The SDDM sampler (Sun et al. 2023, Algorithm 1, as skipper17/sddm's HEAD runs it; sddm.md §3).

Ancestral DDPM sampling on the target-domain model from x_T ~ N(0, I). While the respaced step i
is above ``range_t`` the score is decomposed on the manifold M_i of the reference's diffused
block moments: its tangent part is replaced by the min-norm combination of itself and each
energy's tangent direction, and each new sample is projected onto M_{i-1}. Below ``range_t`` the
steps are plain ancestral steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from i2i_cli.diffusion.denoiser import Denoiser
from i2i_cli.diffusion.gaussian import FixedVariance, MeanVariance, p_mean_variance
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradients
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.schedule import DiscreteSchedule, ScheduleTables, at
from i2i_cli.run.progress import StepCallback, no_step
from i2i_sddm.blocks import block_adain, block_moments, check_area
from i2i_sddm.manifold import (
    Moments,
    combine_min_norm,
    diffused_moments,
    rescale_to,
    split_on_manifold,
    tangent_on_manifold,
)


@dataclass(frozen=True)
class ManifoldGuidance:
    """How SDDM conditions the steps above ``range_t`` (sddm.md §3 and §5)."""

    area: int = 16
    """Blocks per side of the manifold's block statistics."""
    range_t: int = 50
    """Respaced step at and below which the steps are unconditioned."""
    detail_merge: bool = False
    """One Frank-Wolfe combination per block instead of per (item, channel)."""
    refine_iterations: int = 4
    """Extra (model, manifold step) iterations at step ``range_t + 1``."""
    batch_coupled_stop: bool = False
    """Stop Frank-Wolfe on the whole batch's mean |gamma| (the reference) instead of per item."""
    combination_scale: float = 1.0
    """Factor on the min-norm direction (HEAD 1; the March-2023 'fullegsde' commits used 2)."""


@dataclass(frozen=True)
class StepConstants:
    """SDDM's per-step float32 constants, from the respaced float64 betas (sddm.md §1)."""

    recip_sqrt_alpha: torch.Tensor
    """``sqrt(1 / alpha_i)``."""
    step_weight: torch.Tensor
    """``beta_i / sqrt(alpha_i)`` (``weight_energy``)."""

    @classmethod
    def of(cls, betas: np.ndarray, device: torch.device | str = "cpu") -> StepConstants:
        """The constants of a schedule's betas, on ``device``."""
        alphas = 1.0 - np.asarray(betas, dtype=np.float64)

        def table(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(values).to(torch.float32).to(device)

        return cls(table(np.sqrt(1.0 / alphas)), table((1.0 - alphas) / np.sqrt(alphas)))


def energy_state(tables: ScheduleTables, reference: torch.Tensor, t: torch.Tensor) -> GuidanceState:
    """What SDDM's energies see at step t: the clean reference, ``sqrt(abar_t) y0`` and t."""
    noiseless = at(tables.sqrt_alphas_cumprod, t, reference) * reference
    return GuidanceState(reference, noiseless, t=tables.timestep_map[t])


def energy_directions(
    energies: Sequence[WeightedEnergy], x: torch.Tensor, state: GuidanceState
) -> list[tuple[float, torch.Tensor]]:
    """Each energy's weight and descent direction ``-grad_x E(x)`` (float32)."""
    return [(e.weight, -e.gradient) for e in energy_gradients(energies, x, state)]


def manifold_mean(
    tables: ScheduleTables,
    constants: StepConstants,
    x: torch.Tensor,
    mean: torch.Tensor,
    t: torch.Tensor,
    *,
    reference: Moments,
    directions: Sequence[tuple[float, torch.Tensor]],
    guidance: ManifoldGuidance,
) -> torch.Tensor:
    """The step's mean with the score decomposed on M_t (``condition_mean``, sddm.md §3.1).

    ``mean = x + f + dg`` with drift ``f = x/sqrt(a_t) - x`` and score part ``dg``;
    ``dg = dg_m + dg_o`` (tangent to M_t, normal to it). Returns ``x/sqrt(a_t) + s d + dg_o``
    where d is the min-norm combination of ``dg_m`` and the energies' tangent directions,
    each rescaled to ``weight beta_t/sqrt(a_t) ||dg_m||``.
    """
    level = diffused_moments(tables, reference, t)
    recip_sqrt_alpha = at(constants.recip_sqrt_alpha, t, x)
    drift = recip_sqrt_alpha * x - x
    score = (mean - recip_sqrt_alpha * x).float()
    score_tangent, score_normal = split_on_manifold(x, score, level.mean, guidance.area)
    step_weight = at(constants.step_weight, t, x)
    rescaled = [
        rescale_to(
            tangent_on_manifold(x, direction, level.mean, guidance.area),
            score_tangent,
            step_weight,
            weight,
        )
        for weight, direction in directions
    ]
    combined = combine_min_norm(
        score_tangent,
        rescaled,
        guidance.area,
        per_block=guidance.detail_merge,
        batch_coupled=guidance.batch_coupled_stop,
    )
    return (x + guidance.combination_scale * combined + score_normal + drift).float()


def project_to_level(
    tables: ScheduleTables, x: torch.Tensor, reference: Moments, t: torch.Tensor, area: int
) -> torch.Tensor:
    """P_t(x) = BAdaIN(x; mu_t, std_t): the retraction of ``x`` onto M_t."""
    level = diffused_moments(tables, reference, t)
    return block_adain(x, level.mean, level.std, area)


def check_guidance(guidance: ManifoldGuidance, shape: torch.Size, num_steps: int) -> None:
    """Raise ValueError for a block count that does not tile the images or a bad range_t."""
    check_area(shape[-2], shape[-1], guidance.area)
    if not 0 <= guidance.range_t < num_steps:
        raise ValueError(f"range_t must lie in [0, {num_steps - 1}], got {guidance.range_t}")


@torch.no_grad()
def sample_sddm(
    denoiser: Denoiser,
    reference: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    guidance: ManifoldGuidance,
    energies: Sequence[WeightedEnergy],
    noise: NoiseSource,
    clip_denoised: bool = True,
    fixed_variance: FixedVariance = "small",
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """Translate references ``y0`` by SDDM: ancestral steps with manifold-decomposed scores.

    For i = S-1 ... 0: the model's step (its noise z drawn right after the first model call);
    above ``range_t`` the mean is ``manifold_mean`` (at i = range_t + 1 after
    ``refine_iterations`` updates of x by it), the sample ``mean + [i > 0] sigma_i z`` is then
    projected onto M_{i-1}. x_T itself is not projected (pitfall 4).
    """
    tables = schedule.tables(reference.device)
    constants = StepConstants.of(schedule.betas, reference.device)
    check_guidance(guidance, reference.shape, tables.num_steps)
    moments = Moments(*block_moments(reference, guidance.area))
    x = noise.randn(reference.shape, device=reference.device)

    def conditioned_mean(x: torch.Tensor, mean: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        directions = energy_directions(energies, x, energy_state(tables, reference, t))
        return manifold_mean(
            tables,
            constants,
            x,
            mean,
            t,
            reference=moments,
            directions=directions,
            guidance=guidance,
        )

    def model_step(x: torch.Tensor, t: torch.Tensor) -> MeanVariance:
        return p_mean_variance(
            denoiser, tables, x, t, clip_denoised=clip_denoised, fixed_variance=fixed_variance
        )

    for k, i in enumerate(range(tables.num_steps - 1, -1, -1)):
        t = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        out = model_step(x, t)
        z = noise.randn_like(x)
        mean = out.mean
        if i > guidance.range_t:
            if i == guidance.range_t + 1:
                for _ in range(guidance.refine_iterations):
                    out = model_step(x, t)
                    x = conditioned_mean(x, out.mean, t)
            mean = conditioned_mean(x, out.mean, t)
        x = mean + (i > 0) * torch.exp(0.5 * out.log_variance) * z
        if i > guidance.range_t:
            x = project_to_level(tables, x, moments, t - 1, guidance.area)
        callback({"i": k, "total": tables.num_steps, "t": i, "x": x, "denoised": out.pred_x0})
    return x
