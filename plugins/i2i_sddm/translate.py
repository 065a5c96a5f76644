"""Run SDDM over image folders: the score model, energies and schedule built once per run."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from i2i_cli.api.registry import Registry
from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.run.energy_terms import EnergyTerm, build_energies, energy_checkpoints
from i2i_cli.run.model_choice import load_for_run, require_checkpoints, schedule_for
from i2i_cli.run.pipeline import translate_images, under_autocast
from i2i_sddm.blocks import check_area
from i2i_sddm.score_decomposition import ManifoldGuidance, sample_sddm

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_sddm.settings import SDDMSettings

BLOCK_ENERGIES = ("vgg-adain",)
"""Energies whose blocks follow the method's ``--area`` unless their own ``area`` is set."""


def with_method_area(terms: list[EnergyTerm], area: int) -> list[EnergyTerm]:
    """The terms with SDDM's block count given to the block energies that do not set their own."""
    return [
        term.model_copy(update={"settings": {"area": area, **term.settings}})
        if term.name in BLOCK_ENERGIES
        else term
        for term in terms
    ]


def manifold_guidance(settings: SDDMSettings) -> ManifoldGuidance:
    """The sampler's manifold settings from the method's."""
    return ManifoldGuidance(
        area=settings.area,
        range_t=settings.range_t,
        detail_merge=settings.detail_merge,
        refine_iterations=settings.refine_iterations,
        batch_coupled_stop=settings.frank_wolfe_stop == "batch",
        combination_scale=settings.combination_scale,
    )


def translate_sddm(settings: SDDMSettings, ctx: RunContext) -> None:
    """SDDM with each input as the reference image (every checkpoint checked first)."""
    registry = Registry.discover()
    terms = with_method_area(settings.energy, settings.area)
    require_checkpoints(ctx, [settings.checkpoint or "", *energy_checkpoints(terms, registry)])
    backbone = load_for_run(settings, ctx)
    schedule = schedule_for(backbone.spec, respacing=settings.respacing)
    size = backbone.spec.input_shape[-1]
    try:
        check_area(size, size, settings.area)
    except ValueError as error:
        raise UsageError(f"--area: {error}") from None
    if settings.range_t >= schedule.num_steps:
        raise UsageError(
            f"--range-t {settings.range_t} leaves no conditioned step of the "
            f"{schedule.num_steps} respaced steps (give at most {schedule.num_steps - 1})"
        )
    energies = build_energies(terms, ctx, registry)
    ctx.log(
        f"sddm: {settings.backbone} ({settings.preset or 'custom'}), {schedule.num_steps} steps, "
        f"range_t {settings.range_t}, area {settings.area}, energies: "
        + (", ".join(f"{e.name} x {e.weight:g}" for e in energies) or "none")
    )
    sampler = partial(
        sample_sddm,
        DiscreteDenoiser(backbone.module, backbone.spec),
        schedule=schedule,
        guidance=manifold_guidance(settings),
        energies=energies,
        clip_denoised=settings.clip_denoised,
        fixed_variance=settings.fixed_variance,
    )
    translate_images(ctx, under_autocast(ctx, sampler), image_size=size, fit=settings.fit)
