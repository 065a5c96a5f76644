"""The ``diffusion`` method's batch sampler: backbone, schedule and labels built once per run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.noise import PerItemNoise
from i2i_cli.diffusion.samplers import sample_ddim, sample_ddpm
from i2i_cli.diffusion.schedule import space_timesteps
from i2i_cli.run.model_choice import load_for_run, schedule_for
from i2i_cli.run.pipeline import BatchSampler, sample_images
from i2i_cli.run.progress import StepCallback

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_diffusion.settings import DiffusionSettings


def respacing_of(settings: DiffusionSettings, total: int) -> str:
    """The respacing string: ``--respacing``, else ``ddimN`` (DDIM, when possible) or ``N``.

    ``total`` is T of the backbone's process.
    """
    if settings.respacing is not None:
        return settings.respacing
    if settings.steps > total:
        raise UsageError(f"--steps {settings.steps} exceeds the {total} diffusion steps")
    if settings.sampler == "ddim":
        try:
            space_timesteps(total, f"ddim{settings.steps}")
            return f"ddim{settings.steps}"
        except ValueError:
            pass
    return str(settings.steps)


def draw_labels(noise: PerItemNoise, batch_size: int, num_classes: int) -> torch.Tensor:
    """One uniformly drawn class per item, from each item's own generator."""
    uniform = noise.rand((batch_size,), dtype=torch.float64)
    return (uniform * num_classes).long().clamp_(max=num_classes - 1)


def diffusion_sampler(settings: DiffusionSettings, ctx: RunContext) -> BatchSampler:
    """A ``sample_batch(B, noise, callback)`` for the configured backbone and sampler."""
    device = ctx.runtime.device
    backbone = load_for_run(settings, ctx)
    spec = backbone.spec
    if settings.class_label is not None and settings.class_label >= max(spec.num_classes, 1):
        raise UsageError(
            f"--class-label {settings.class_label} is not a class of this backbone "
            f"({spec.num_classes} classes)"
        )
    total = schedule_for(spec).num_steps
    schedule = schedule_for(spec, respacing=respacing_of(settings, total))
    ctx.log(
        f"{settings.backbone} ({settings.preset or 'custom'}) from {settings.checkpoint}; "
        f"{settings.sampler} with {schedule.num_steps} steps"
    )

    def sample_batch(batch_size: int, noise: PerItemNoise, callback: StepCallback) -> torch.Tensor:
        x = noise.randn((batch_size, *spec.input_shape), device=device)
        denoiser = DiscreteDenoiser(backbone.module, spec)
        if spec.num_classes:
            if settings.class_label is None:
                labels = draw_labels(noise, batch_size, spec.num_classes)
            else:
                labels = torch.full((batch_size,), settings.class_label)
            denoiser = denoiser.with_labels(labels.to(device))
        options = {"noise": noise, "clip_denoised": settings.clip_denoised, "callback": callback}
        with ctx.runtime.autocast():
            if settings.sampler == "ddpm":
                variance = settings.fixed_variance
                return sample_ddpm(denoiser, x, schedule, fixed_variance=variance, **options)
            return sample_ddim(denoiser, x, schedule, eta=settings.eta, **options)

    return sample_batch


def sample_diffusion(settings: DiffusionSettings, ctx: RunContext) -> None:
    """``i2i sample diffusion``: draw images from the backbone into the output, resumably."""
    sample_images(ctx, diffusion_sampler(settings, ctx))
