"""``i2i sample dg``: DG's ``generate.py`` (EDM-G++) on an EDM backbone, one generator per seed.

Item k is seed k (``i2i_cli.seeds``: EDM's per-seed generator, ``--seeds``, ``--subdirs``,
``--npz``): its latents, then for a conditional network its label, then every step's Gaussian
come from that generator, so with ``w1 = 0`` seed k is ``i2i sample edm``'s image k (DG's own
script draws from the global RNG, unseeded; dg.md pitfall 4). The sampler is ``sample_dg``
in float64; images are EDM's uint8 (``i2i_cli.seeds.edm_image``, pitfall 18).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from i2i_cli.backbones import require_checkpoints
from i2i_cli.diffusion.denoiser import SigmaProcess
from i2i_cli.diffusion.karras import karras_sigmas
from i2i_cli.errors import UsageError
from i2i_cli.guidance import EnergyFunction, WeightedEnergy, bind
from i2i_cli.model_choice import load_for_run
from i2i_cli.noise import SeedNoise
from i2i_cli.progress import StepCallback
from i2i_cli.seeds import draw_start, edm_image, sample_seeds
from i2i_dg.energy import build_discriminator_energy
from i2i_dg.method_settings import DgSampleSettings
from i2i_dg.sampler import sample_dg

if TYPE_CHECKING:
    from i2i_cli.backbones import LoadedBackbone
    from i2i_cli.context import RunContext


def sigma_grid(loaded: LoadedBackbone, settings: DgSampleSettings) -> torch.Tensor:
    """EDM's t_steps: the range clamped to the network's, eq. 5 in float64, then 0 (dg.md §3)."""
    process = loaded.spec.process
    if loaded.spec.target != "denoised" or not isinstance(process, SigmaProcess):
        raise UsageError(
            f"backbone {loaded.name} is not a sigma-time denoiser D(x; sigma); "
            "i2i sample dg needs an EDM network"
        )
    module = loaded.module
    sigma_min = max(settings.sigma_min, float(getattr(module, "sigma_min", process.sigma_min)))
    sigma_max = min(settings.sigma_max, float(getattr(module, "sigma_max", process.sigma_max)))
    if not 0 < sigma_min <= sigma_max < math.inf:
        raise UsageError(f"sigma range [{sigma_min:g}, {sigma_max:g}] is empty for this network")
    round_sigma = getattr(module, "round_sigma", None)
    return karras_sigmas(
        settings.steps, sigma_min, sigma_max, settings.rho, round_sigma=round_sigma
    )


class DgBatches:
    """``sample_batch(count, noise, callback)`` of ``sample_images``: DG's images of the seeds."""

    def __init__(
        self,
        loaded: LoadedBackbone,
        settings: DgSampleSettings,
        discriminator: EnergyFunction | None,
        device: torch.device,
    ) -> None:
        self.module, self.settings, self.device = loaded.module, settings, device
        self.discriminator = discriminator
        self.shape = tuple(loaded.spec.input_shape)
        self.label_dim = int(loaded.spec.num_classes or 0)
        self.round_sigma = getattr(loaded.module, "round_sigma", None)
        self.sigmas = sigma_grid(loaded, settings).to(device)

    def __call__(self, count: int, noise: SeedNoise, callback: StepCallback) -> torch.Tensor:
        """Latents, then one-hot labels (conditional nets), then DG's sampler, per seed."""
        latents, labels = draw_start(noise, self.shape, self.label_dim, self.device)

        def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            return self.module(x, sigma, class_labels=labels)

        discriminator = self.discriminator
        if discriminator is not None and labels is not None:
            (bound,) = bind([WeightedEnergy("discriminator", 1.0, discriminator)], labels=labels)
            discriminator = bound.function
        s = self.settings
        x = sample_dg(
            denoiser,
            latents.to(torch.float64) * self.sigmas[0],
            self.sigmas,
            discriminator=discriminator,
            w1=s.w1,
            boosting=s.boosting,
            noise=noise,
            callback=callback,
            s_churn=s.s_churn,
            s_tmin=s.s_min,
            s_tmax=s.s_max,
            s_noise=s.s_noise,
            round_sigma=self.round_sigma,
        )
        return edm_image(x)


def sample(settings: DgSampleSettings, ctx: RunContext) -> None:
    """Draw DG's image of every seed not yet written (resumable, seeds sharded over ranks)."""
    disc = settings.discriminator
    references = [settings.checkpoint]
    if settings.w1:
        references += [disc.checkpoint, disc.extractor_checkpoint]
    require_checkpoints(ctx, [r for r in references if r is not None])
    loaded = load_for_run(settings, ctx)
    if settings.discriminator.cond and not loaded.spec.num_classes:
        raise UsageError("discriminator.cond needs a class-conditional EDM network")
    discriminator = None
    if settings.w1:
        discriminator = build_discriminator_energy(settings.discriminator, ctx)
    batches = DgBatches(loaded, settings, discriminator, ctx.runtime.device)
    sample_seeds(ctx, settings, batches, shape=batches.shape, label_dim=batches.label_dim)
