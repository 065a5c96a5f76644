"""A sigma-time sampler's run on a 2-D model: latents from the run seed, points, plot, scores.

On points, one run of ``i2i sample edm`` or ``i2i sample dg`` draws ``--num-samples`` latents
from one generator seeded by ``--seed`` (as ``i2i sample ddib`` does), runs the method's sampler
from ``latents * sigma_0`` in float64 on the network read in sigma time (``SigmaNet``: an eps
model through the core's index-to-sigma adapter) and writes ``latent.npy``, ``points.npy`` and
``samples.png``. With ``data`` set, ``result.json`` holds the sliced Wasserstein distance to the
data set and the support precision and coverage (``i2i_cli.points.support``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.base.errors import RunError, UsageError
from i2i_cli.base.wording import counted
from i2i_cli.diffusion.noise import GeneratorNoise
from i2i_cli.points.files import data_distance, save_points, support_fields, support_line
from i2i_cli.points.plots import scatter_figure
from i2i_cli.points.support import support_scores
from i2i_cli.points.synthetic_data import synthetic_task
from i2i_cli.run.progress import StepCallback
from i2i_cli.run.seed_sampling import SigmaNet, sigma_grid

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_cli.run.karras_choice import KarrasChoice
    from i2i_cli.run.seeds import SeedOutput

PointSampler = Callable[[torch.Tensor, torch.Tensor, GeneratorNoise, StepCallback], torch.Tensor]
"""``sampler(x, sigmas, noise, callback)``: a method's sampler from ``x`` at ``sigmas[0]``."""


def is_point_net(net: SigmaNet) -> bool:
    """Whether the network denoises points (a 1-D item shape) rather than images."""
    return len(net.shape) == 1


def sample_point_run(
    ctx: RunContext,
    net: SigmaNet,
    settings: KarrasChoice,
    seeds: SeedOutput,
    sampler: PointSampler,
    *,
    title: str,
    data: str | None,
) -> dict[str, Any]:
    """Points of ``sampler`` from ``--num-samples`` latents of the run seed; npy, plot, scores."""
    if seeds.seeds.strip() or seeds.subdirs or seeds.npz:
        raise UsageError(
            "--seeds, --subdirs and --npz name image files; on points one run draws "
            "--num-samples points from --seed"
        )
    task = synthetic_task(data) if data else None
    device = ctx.runtime.device
    sigmas = sigma_grid(net, settings, device)
    count = ctx.run.num_samples
    noise = GeneratorNoise(ctx.runtime.seed, device)
    latent = noise.randn((count, *net.shape))
    ctx.log(f"{title}: {counted(count, 'points')}, {len(sigmas) - 1} steps")
    x = sampler(latent.to(torch.float64) * sigmas[0], sigmas, noise, ctx.progress.step_callback())
    points = x.float().cpu()
    bad = int((~torch.isfinite(points).all(dim=1)).sum())
    if bad:
        raise RunError(f"{counted(bad, 'points')} of {count} went non-finite; nothing was written")
    ctx.output.mkdir(parents=True, exist_ok=True)
    save_points(ctx.output, {"latent": latent.float().cpu(), "points": points})
    plot = scatter_figure(
        [("latent", latent.cpu().numpy()), (title, points.numpy())], ctx.output / "samples.png"
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
