"""Run EGSDE, SDEdit and ILVR over image folders: networks and schedule built once per run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from i2i_cli.backbones import (
    LoadedBackbone,
    checkpoint_path,
    load_backbone,
    require_checkpoints,
)
from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.energy_terms import build_energies, validate_energy_settings
from i2i_cli.errors import UsageError
from i2i_cli.guidance import WeightedEnergy
from i2i_cli.noise import NoiseSource
from i2i_cli.pipeline import translate_images
from i2i_cli.progress import StepCallback
from i2i_cli.registry import Registry
from i2i_cli.resizer import LowPassFilter
from i2i_egsde.ilvr import sample_ilvr
from i2i_egsde.sampler import sample_egsde

if TYPE_CHECKING:
    from i2i_cli.context import RunContext
    from i2i_egsde.settings import EGSDESettings, ILVRSettings, ScoreModelSettings, SDEditSettings


def score_model(settings: ScoreModelSettings, ctx: RunContext) -> LoadedBackbone:
    """The backbone with its weights, on the run's device."""
    return load_backbone(
        settings.backbone,
        preset=settings.preset,
        overrides=settings.model,
        checkpoint=checkpoint_path(ctx, settings.checkpoint),
        device=ctx.runtime.device,
    )


def schedule_of(settings: ScoreModelSettings, respacing: str = "") -> DiscreteSchedule:
    """The run's schedule; a bad respacing is one usage line."""
    try:
        return DiscreteSchedule.named(settings.noise_schedule, settings.diffusion_steps, respacing)
    except ValueError as error:
        raise UsageError(str(error)) from None


def translate_sdedit_family(
    settings: SDEditSettings, ctx: RunContext, energies: list[WeightedEnergy]
) -> None:
    """Translate every input with the EGSDE loop and ``energies`` (none: SDEdit)."""
    backbone = score_model(settings, ctx)
    schedule = schedule_of(settings)
    if settings.start_step > schedule.num_steps:
        raise UsageError(
            f"--start-step {settings.start_step} exceeds the {schedule.num_steps} diffusion steps"
        )
    denoiser = DiscreteDenoiser(backbone.module, backbone.prediction)
    ctx.log(
        f"{ctx.plugin}: {settings.backbone} ({settings.preset or 'custom'}), M = "
        f"{settings.start_step}, energies: "
        + (", ".join(f"{e.name} x {e.weight:g}" for e in energies) or "none")
    )

    def translate_batch(
        x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        with ctx.runtime.autocast():
            return sample_egsde(
                denoiser,
                x,
                schedule,
                start_step=settings.start_step,
                energies=energies,
                noise=noise,
                callback=callback,
            )

    translate_images(ctx, translate_batch, image_size=backbone.prediction.input_shape[-1])


def translate_egsde(settings: EGSDESettings, ctx: RunContext) -> None:
    """EGSDE over the inputs with the configured energies (every checkpoint checked first)."""
    registry = Registry.discover()
    energy_settings = validate_energy_settings(settings.energy, registry)
    references = [settings.checkpoint]
    references += [
        s.checkpoint for s in energy_settings if isinstance(getattr(s, "checkpoint", None), str)
    ]
    require_checkpoints(ctx, references)
    translate_sdedit_family(settings, ctx, build_energies(settings.energy, ctx, registry))


def translate_sdedit(settings: SDEditSettings, ctx: RunContext) -> None:
    """SDEdit over the inputs: the EGSDE loop with no energy and no energy evaluation."""
    translate_sdedit_family(settings, ctx, [])


def translate_ilvr(settings: ILVRSettings, ctx: RunContext) -> None:
    """ILVR with each input as the reference image."""
    backbone = score_model(settings, ctx)
    schedule = schedule_of(settings, settings.respacing)
    size = backbone.prediction.input_shape[-1]
    try:
        low_pass = LowPassFilter(size, size, settings.down_n, settings.kernel)
    except ValueError as error:
        raise UsageError(f"--down-n: {error}") from None
    denoiser = DiscreteDenoiser(backbone.module, backbone.prediction)

    def translate_batch(
        x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        with ctx.runtime.autocast():
            return sample_ilvr(
                denoiser,
                x,
                schedule,
                low_pass=low_pass,
                range_t=settings.range_t,
                noise=noise,
                clip_denoised=settings.clip_denoised,
                fixed_variance=settings.fixed_variance,
                callback=callback,
            )

    translate_images(ctx, translate_batch, image_size=size)
