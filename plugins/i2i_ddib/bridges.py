"""DDIB (Su et al. 2023, Algorithm 1): encode with the source ODE, decode with the target ODE.

``x_B = ODESolve(v_target; ODESolve(v_source; x_A, 0 -> 1), 1 -> 0)`` (ddib.md §1.7): the latent
is the source model's probability-flow image of ``x_A``, decoded by the target model's flow. The
same function serves 2-D points and images; the run drivers (``points.py``, ``images.py``) only
prepare the models and write what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch

from i2i_cli.diffusion.denoiser import Denoiser
from i2i_cli.diffusion.guidance import WeightedEnergy
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.ode import OdeSolver, decode_ode, encode_ode
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.run.progress import StepCallback, no_step


class Translation(NamedTuple):
    """The latent both models share and the decoded result in the target domain."""

    latent: torch.Tensor
    result: torch.Tensor


def pass_callback(callback: StepCallback, offset: int, total: int) -> StepCallback:
    """``callback`` counting one pass's steps as steps ``offset ...`` of ``total``."""

    def on_step(info: Mapping[str, Any]) -> None:
        callback({**info, "i": offset + int(info["i"]), "total": total})

    return on_step


def ddib_translate(
    source: Denoiser,
    target: Denoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    energies: Sequence[WeightedEnergy] = (),
    solver: OdeSolver,
    noise: NoiseSource,
    clip_denoised: bool = False,
    callback: StepCallback = no_step,
) -> Translation:
    """x_B = decode(target, encode(source, x_A)) on one shared grid (ddib.md §1.7).

    The encoder never clips and is never guided (pitfall 1); the decoder clips x0 iff
    ``clip_denoised`` and then applies the ``energies`` (pitfall 5; ``guidance.bind`` gives them
    e.g. the target class labels). ``callback`` sees the encoder's steps as 0 ... K-1 and the
    decoder's as K ... 2K-1.
    """
    total = 2 * schedule.num_steps
    latent = encode_ode(
        source, x, schedule, solver=solver, callback=pass_callback(callback, 0, total)
    )
    result = decode_ode(
        target,
        latent,
        schedule,
        energies=energies,
        solver=solver,
        noise=noise,
        clip_denoised=clip_denoised,
        callback=pass_callback(callback, schedule.num_steps, total),
    )
    return Translation(latent, result)
