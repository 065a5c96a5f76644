"""``i2i sample dg`` on a 2-D eps model: DG's guided Heun sampler over a batch of points.

On points, one run draws ``--num-samples`` latents from one generator seeded by ``--seed`` (as
``i2i sample ddib`` does), reads the eps network in sigma time (``SigmaNet.of_discrete``: the
core's index-to-sigma adapter), runs the same ``sample_dg`` with the same ``discriminator``
energy (here over the 2-D ``dg-discriminator-2d`` network) and writes ``latent.npy``,
``points.npy`` and a scatter plot. With ``data`` set, ``result.json`` holds the sliced
Wasserstein distance to the data set and the support precision and coverage
(``i2i_cli.points.support``), the scores DG is meant to raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.errors import RunError, UsageError
from i2i_cli.guidance import EnergyFunction
from i2i_cli.noise import GeneratorNoise
from i2i_cli.points.files import data_distance, save_points, support_fields, support_line
from i2i_cli.points.plots import scatter_figure
from i2i_cli.points.support import support_scores
from i2i_cli.points.synthetic_data import synthetic_task
from i2i_cli.seed_sampling import SigmaNet, sigma_grid
from i2i_cli.wording import counted
from i2i_dg.sampler import sample_dg

if TYPE_CHECKING:
    from i2i_cli.context import RunContext
    from i2i_dg.method_settings import DgSampleSettings


def is_point_net(net: SigmaNet) -> bool:
    """Whether the network denoises points (a 1-D item shape) rather than images."""
    return len(net.shape) == 1


def sample_dg_points(
    settings: DgSampleSettings,
    ctx: RunContext,
    net: SigmaNet,
    discriminator: EnergyFunction | None,
) -> dict[str, Any]:
    """DG's samples of ``--num-samples`` points from the run seed; npy, plot and scores."""
    if settings.seeds.strip() or settings.subdirs or settings.npz:
        raise UsageError(
            "--seeds, --subdirs and --npz name image files; on points one run draws "
            "--num-samples points from --seed"
        )
    task = synthetic_task(settings.data) if settings.data else None
    device = ctx.runtime.device
    sigmas = sigma_grid(net, settings, device)
    count = ctx.run.num_samples
    noise = GeneratorNoise(ctx.runtime.seed, device)
    latent = noise.randn((count, *net.shape))
    guided = f"w1 = {settings.w1:g}" if discriminator is not None else "unguided (w1 = 0)"
    ctx.log(f"dg: {counted(count, 'points')}, {len(sigmas) - 1} Heun steps, {guided}")
    x = sample_dg(
        net.denoiser(None, clip=settings.clip_denoised),
        latent.to(torch.float64) * sigmas[0],
        sigmas,
        discriminator=discriminator,
        w1=settings.w1,
        boosting=settings.boosting,
        noise=noise,
        callback=ctx.progress.step_callback("dg"),
        round_sigma=net.round_sigma,
        **settings.churn(),
    )
    points = x.float().cpu()
    bad = int((~torch.isfinite(points).all(dim=1)).sum())
    if bad:
        raise RunError(
            f"{counted(bad, 'points')} of {count} went non-finite; nothing was written "
            "(a smaller w1, or a discriminator trained longer)"
        )
    ctx.output.mkdir(parents=True, exist_ok=True)
    save_points(ctx.output, {"latent": latent.float().cpu(), "points": points})
    title = f"dg w1 = {settings.w1:g}" if discriminator is not None else "w1 = 0"
    plot = scatter_figure(
        [("latent", latent.cpu().numpy()), (title, points.numpy())],
        ctx.output / "samples.png",
    )
    result: dict[str, Any] = {"points": str(ctx.output / "points.npy"), "plot": str(plot)}
    if task is not None:
        result["data"] = task.name
        result["sliced_wasserstein"] = data_distance(points.numpy(), task, ctx.runtime.seed)
        ctx.log(f"sliced Wasserstein distance to {task.name}: {result['sliced_wasserstein']:.4f}")
        if count >= task.multiple_of:
            support = support_scores(points.numpy(), task, ctx.runtime.seed + 2)
            ctx.log(support_line(support, task))
            result.update(support_fields(support))
    return result
