"""``i2i sample dg``: DG's ``generate.py`` (EDM-G++) on an EDM backbone, one generator per seed.

Item k is seed k (``i2i_cli.run.seeds``: EDM's per-seed generator, ``--seeds``, ``--subdirs``,
``--npz``): its latents, then for a conditional network its label, then every step's Gaussian
come from that generator, so with ``w1 = 0`` seed k is ``i2i sample edm``'s image k (DG's own
script draws from the global RNG, unseeded; dg.md pitfall 4). The sampler is ``sample_dg``
in float64; images are EDM's uint8 (``i2i_cli.run.seeds.edm_image``, pitfall 18). On a 2-D eps
model the run is the core's point run (``i2i_cli.points.sampling``) with the same sampler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.guidance import EnergyFunction, WeightedEnergy, bind
from i2i_cli.diffusion.noise import GeneratorNoise, SeedNoise
from i2i_cli.points.sampling import is_point_net, sample_point_run
from i2i_cli.run.model_choice import load_for_run, require_checkpoints
from i2i_cli.run.progress import StepCallback
from i2i_cli.run.seed_sampling import SigmaNet, draw_start, edm_image, sample_seeds, sigma_grid
from i2i_dg.edm_gpp import sample_dg
from i2i_dg.energy import build_discriminator_energy
from i2i_dg.settings import DgSampleSettings

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext


class DgBatches:
    """``sample_batch(count, noise, callback)`` of ``sample_images``: DG's images of the seeds."""

    def __init__(
        self,
        net: SigmaNet,
        settings: DgSampleSettings,
        discriminator: EnergyFunction | None,
        device: torch.device,
    ) -> None:
        self.net, self.settings, self.device = net, settings, device
        self.discriminator = discriminator
        self.sigmas = sigma_grid(net, settings, device)

    def __call__(self, count: int, noise: SeedNoise, callback: StepCallback) -> torch.Tensor:
        """Latents, then one-hot labels (conditional nets), then DG's sampler, per seed."""
        net = self.net
        latents, labels = draw_start(noise, net.shape, net.label_dim, self.device)

        discriminator = self.discriminator
        if discriminator is not None and labels is not None:
            (bound,) = bind([WeightedEnergy("discriminator", 1.0, discriminator)], labels=labels)
            discriminator = bound.function
        s = self.settings
        x = sample_dg(
            net.denoiser(labels, clip=s.clip_denoised),
            latents.to(torch.float64) * self.sigmas[0],
            self.sigmas,
            discriminator=discriminator,
            w1=s.w1,
            boosting=s.boosting,
            noise=noise,
            callback=callback,
            round_sigma=net.round_sigma,
            **s.churn(),
        )
        return edm_image(x)


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


def sample(settings: DgSampleSettings, ctx: RunContext) -> dict[str, Any] | None:
    """Draw DG's image of every seed not yet written (resumable, seeds sharded over ranks),
    or on a 2-D eps model DG's points (``sample_dg_points``)."""
    disc = settings.discriminator
    references = [settings.checkpoint]
    if settings.w1:
        references.append(disc.checkpoint)
        if disc.extractor_backbone is not None:
            references.append(disc.extractor_checkpoint)
    require_checkpoints(ctx, [r for r in references if r is not None])
    net = SigmaNet.of(load_for_run(settings, ctx), "i2i sample dg")
    if settings.discriminator.cond and not net.label_dim:
        raise UsageError("discriminator.cond needs a class-conditional EDM network")
    discriminator = None
    if settings.w1:
        built = build_discriminator_energy(settings.discriminator, ctx)
        discriminator = ctx.finite.watch_energy("discriminator", built)
    if is_point_net(net):
        return sample_dg_points(settings, ctx, net, discriminator)
    batches = DgBatches(net, settings, discriminator, ctx.runtime.device)
    sample_seeds(ctx, settings, batches, shape=net.shape, label_dim=net.label_dim)
    return None
