"""Run EGSDE, SDEdit and ILVR over image folders: networks and schedule built once per run."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from i2i_cli.api.registry import Registry
from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.guidance import WeightedEnergy
from i2i_cli.io.resizer import LowPassFilter
from i2i_cli.run.energy_terms import build_energies, energy_checkpoints
from i2i_cli.run.model_choice import load_for_run, require_checkpoints, schedule_for
from i2i_cli.run.pipeline import translate_images, under_autocast
from i2i_egsde.energy_guided_sde import sample_egsde
from i2i_egsde.ilvr import sample_ilvr

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_egsde.settings import EGSDESettings, ILVRSettings, SDEditSettings


def translate_sdedit_family(
    settings: SDEditSettings, ctx: RunContext, energies: list[WeightedEnergy]
) -> None:
    """Translate every input with the EGSDE loop and ``energies`` (none: SDEdit)."""
    backbone = load_for_run(settings, ctx)
    schedule = schedule_for(backbone.spec)
    if settings.start_step > schedule.num_steps:
        raise UsageError(
            f"--start-step {settings.start_step} exceeds the {schedule.num_steps} diffusion steps"
        )
    denoiser = DiscreteDenoiser(backbone.module, backbone.spec)
    ctx.log(
        f"{ctx.plugin}: {settings.backbone} ({settings.preset or 'custom'}), M = "
        f"{settings.start_step}, energies: "
        + (", ".join(f"{e.name} x {e.weight:g}" for e in energies) or "none")
    )

    sampler = partial(
        sample_egsde, denoiser, schedule=schedule, start_step=settings.start_step, energies=energies
    )
    translate_images(ctx, under_autocast(ctx, sampler), image_size=backbone.spec.input_shape[-1])


def translate_egsde(settings: EGSDESettings, ctx: RunContext) -> None:
    """EGSDE over the inputs with the configured energies (every checkpoint checked first)."""
    registry = Registry.discover()
    require_checkpoints(
        ctx, [settings.checkpoint or "", *energy_checkpoints(settings.energy, registry)]
    )
    translate_sdedit_family(settings, ctx, build_energies(settings.energy, ctx, registry))


def translate_sdedit(settings: SDEditSettings, ctx: RunContext) -> None:
    """SDEdit over the inputs: the EGSDE loop with no energy and no energy evaluation."""
    translate_sdedit_family(settings, ctx, [])


def translate_ilvr(settings: ILVRSettings, ctx: RunContext) -> None:
    """ILVR with each input as the reference image."""
    backbone = load_for_run(settings, ctx)
    schedule = schedule_for(backbone.spec, respacing=settings.respacing)
    size = backbone.spec.input_shape[-1]
    try:
        low_pass = LowPassFilter(size, size, settings.down_n, settings.kernel)
    except ValueError as error:
        raise UsageError(f"--down-n: {error}") from None
    denoiser = DiscreteDenoiser(backbone.module, backbone.spec)

    sampler = partial(
        sample_ilvr,
        denoiser,
        schedule=schedule,
        low_pass=low_pass,
        range_t=settings.range_t,
        clip_denoised=settings.clip_denoised,
        fixed_variance=settings.fixed_variance,
    )
    translate_images(ctx, under_autocast(ctx, sampler), image_size=size, fit=settings.fit)
