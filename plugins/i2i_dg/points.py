"""``i2i sample dg`` on a 2-D eps model: DG's guided Heun sampler over a batch of points.

The run is the core's point run (``i2i_cli.points.sampling``: latents from the run seed,
``points.npy``, a plot and, with ``data``, support scores); its sampler is the same
``sample_dg`` with the same ``discriminator`` energy, here over the 2-D ``dg-discriminator-2d``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.guidance import EnergyFunction
from i2i_cli.noise import GeneratorNoise
from i2i_cli.points.sampling import sample_point_run
from i2i_cli.progress import StepCallback
from i2i_cli.seed_sampling import SigmaNet
from i2i_dg.sampler import sample_dg

if TYPE_CHECKING:
    from i2i_cli.context import RunContext
    from i2i_dg.method_settings import DgSampleSettings


def sample_dg_points(
    settings: DgSampleSettings,
    ctx: RunContext,
    net: SigmaNet,
    discriminator: EnergyFunction | None,
) -> dict[str, Any]:
    """DG's samples of ``--num-samples`` points from the run seed; npy, plot and scores."""

    def sampler(
        x: torch.Tensor, sigmas: torch.Tensor, noise: GeneratorNoise, callback: StepCallback
    ) -> torch.Tensor:
        return sample_dg(
            net.denoiser(None, clip=settings.clip_denoised),
            x,
            sigmas,
            discriminator=discriminator,
            w1=settings.w1,
            boosting=settings.boosting,
            noise=noise,
            callback=callback,
            round_sigma=net.round_sigma,
            **settings.churn(),
        )

    title = f"dg w1 = {settings.w1:g}" if discriminator is not None else "dg w1 = 0"
    return sample_point_run(ctx, net, settings, settings, sampler, title=title, data=settings.data)
