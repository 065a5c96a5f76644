"""``i2i sample edm``: EDM's ``generate.py`` on a sigma-time backbone, one generator per seed.

Per batch of seeds (dg.md §3): latents then, for a conditional network, a label from each
seed's generator (``i2i_cli.run.seeds.draw_start``); the Heun sampler
(``i2i_cli.diffusion.karras.sample_heun``) runs in float64 from ``latents.to(float64) *
sigma_0`` and draws every step's Gaussian from those generators too, so seed ``k`` gives EDM's
image ``k`` whatever the batch size or rank. Images are EDM's uint8 (``i2i_cli.run.seeds``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.karras import sample_heun
from i2i_cli.diffusion.noise import GeneratorNoise, SeedNoise
from i2i_cli.points.sampling import is_point_net, sample_point_run
from i2i_cli.run.model_choice import load_for_run
from i2i_cli.run.progress import StepCallback, no_step
from i2i_cli.run.seed_sampling import (
    SeedBatch,
    SigmaNet,
    draw_start,
    edm_image,
    sample_seeds,
    sigma_grid,
)
from i2i_edm.settings import EdmSampleSettings

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext


def edm_sample(
    net: SigmaNet,
    latents: torch.Tensor,
    labels: torch.Tensor | None,
    sigmas: torch.Tensor,
    settings: EdmSampleSettings,
    noise: SeedNoise,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """EDM's ``edm_sampler`` (dg.md §3): Heun in float64 from ``latents * sigma_0`` to sigma 0."""

    x = latents.to(torch.float64) * sigmas[0]
    return sample_heun(
        net.denoiser(labels, clip=settings.clip_denoised),
        x,
        sigmas,
        noise=noise,
        callback=callback,
        round_sigma=net.round_sigma,
        **settings.churn(),
    )


def batch_sampler(
    net: SigmaNet,
    settings: EdmSampleSettings,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[None]],
) -> SeedBatch:
    """``sample(count, noise, callback)``: EDM's images of the batch's seeds, as written."""
    sigmas = sigma_grid(net, settings, device)

    def sample_batch(count: int, noise: SeedNoise, callback: StepCallback) -> torch.Tensor:
        latents, labels = draw_start(noise, net.shape, net.label_dim, device, settings.class_label)
        with autocast():
            x = edm_sample(net, latents, labels, sigmas, settings, noise, callback)
        return edm_image(x)

    return sample_batch


def check_label(net: SigmaNet, class_label: int | None) -> None:
    """A fixed class needs a conditional network and a class it knows (one usage line)."""
    if class_label is None:
        return
    if not net.label_dim:
        raise UsageError("--class-label needs a conditional network; this one has no labels")
    if class_label >= net.label_dim:
        raise UsageError(
            f"--class-label {class_label} is out of range: the network has classes "
            f"0 .. {net.label_dim - 1}"
        )


def sample(settings: EdmSampleSettings, ctx: RunContext) -> dict[str, Any] | None:
    """Draw EDM's image of every seed not yet written (resumable, seeds sharded over ranks), or
    on a 2-D eps model EDM's points (``i2i_cli.points.sampling``)."""
    net = SigmaNet.of(load_for_run(settings, ctx), "i2i sample edm")
    check_label(net, settings.class_label)
    if is_point_net(net):
        return sample_edm_points(settings, ctx, net)
    sampler = batch_sampler(net, settings, ctx.runtime.device, ctx.runtime.autocast)
    shape, label_dim, label = net.shape, net.label_dim, settings.class_label
    sample_seeds(ctx, settings, sampler, shape=shape, label_dim=label_dim, class_label=label)
    return None


def sample_edm_points(
    settings: EdmSampleSettings, ctx: RunContext, net: SigmaNet
) -> dict[str, Any]:
    """EDM's Heun samples of ``--num-samples`` points from the run seed; npy, plot, scores."""

    def sampler(
        x: torch.Tensor, sigmas: torch.Tensor, noise: GeneratorNoise, callback: StepCallback
    ) -> torch.Tensor:
        return sample_heun(
            net.denoiser(None, clip=settings.clip_denoised),
            x,
            sigmas,
            noise=noise,
            callback=callback,
            round_sigma=net.round_sigma,
            **settings.churn(),
        )

    return sample_point_run(ctx, net, settings, settings, sampler, title="edm", data=settings.data)
