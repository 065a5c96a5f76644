"""DDIB on images: encode with the source ODE, decode with the target's (ddib.md §1.5-1.7, §3).

Two ways to name the models:

- one class-conditional model (``--checkpoint``, the ImageNet experiment): ``--source`` and
  ``--target`` are class labels paired in order, an input's class is its file-name prefix, and
  the decoder may be guided toward the target class by a noisy classifier (§1.6);
- two unconditional models (``--source-checkpoint``, ``--target-checkpoint``): every input is
  translated, ``--source``/``--target`` only name the domains.

Inputs are read like guided-diffusion's ``center_crop_arr`` and written through the shared
pipeline (resumable, rank-sharded, ``<output>/<key>.png``). The decoder's guidance is the
run's energies (``--energy classifier:weight=1`` on ImageNet), given each item's target class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.guidance import WeightedEnergy, bind
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.io.data import ImageItem
from i2i_cli.io.outputs import output_path, write_image
from i2i_cli.networks.backbones import LoadedBackbone
from i2i_cli.run.energy_terms import build_energies, validate_energy_settings
from i2i_cli.run.model_choice import load_for_run, require_checkpoints, schedule_for, spec_for
from i2i_cli.run.pipeline import translate_image_items
from i2i_cli.run.progress import StepCallback
from i2i_ddib.bridges import ddib_translate
from i2i_ddib.image_labels import check_label_range, class_pairs, mapped_labels, skip_reason

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_ddib.settings import DDIBSettings

MODES_HINT = (
    "give --checkpoint (one class-conditional model; --source/--target are class labels such "
    "as 260,261) or both --source-checkpoint and --target-checkpoint (two unconditional models)"
)


@dataclass(frozen=True)
class ImagePlan:
    """Which weights encode and decode, and the class map (None: two unconditional models)."""

    source_checkpoint: str
    target_checkpoint: str
    pairs: dict[int, int] | None


def image_plan(settings: DDIBSettings) -> ImagePlan:
    """The run's mode from the checkpoints given (ddib.md §1.7); anything else is one line."""
    one = settings.checkpoint
    source, target = settings.source_checkpoint, settings.target_checkpoint
    if one and not source and not target:
        return ImagePlan(one, one, class_pairs(settings.source, settings.target))
    if not one and source and target:
        return ImagePlan(source, target, None)
    _bad_mode(settings)


def _bad_mode(settings: DDIBSettings) -> NoReturn:
    """The usage line for a combination of checkpoints that names no mode."""
    given = [
        flag
        for flag, value in (
            ("--checkpoint", settings.checkpoint),
            ("--source-checkpoint", settings.source_checkpoint),
            ("--target-checkpoint", settings.target_checkpoint),
        )
        if value
    ]
    listed = ", ".join(given) if given else "no checkpoint"
    raise UsageError(f"ddib on images: got {listed}; {MODES_HINT}")


def check_plan(settings: DDIBSettings, plan: ImagePlan, spec: ModelSpec) -> None:
    """The class labels fit the model, or the mode fits the model."""
    if plan.pairs is None:
        if spec.num_classes:
            raise UsageError(
                f"{settings.backbone} is class-conditional ({spec.num_classes} classes): "
                "give it as --checkpoint with class labels in --source/--target"
            )
        return
    if not spec.num_classes:
        raise UsageError(
            f"--checkpoint with class labels needs a class-conditional {settings.backbone} "
            f"(model.class_cond = true); {MODES_HINT}"
        )
    check_label_range(list(plan.pairs), spec.num_classes, "--source", "model")
    check_label_range(list(plan.pairs.values()), spec.num_classes, "--target", "model")


def checkpoint_references(settings: DDIBSettings, plan: ImagePlan) -> list[str]:
    """Every weights file the run reads, each once, in the order they are loaded."""
    references = [plan.source_checkpoint, plan.target_checkpoint]
    energy_settings = validate_energy_settings([t for t in settings.energy if t.weight])
    references += [
        s.checkpoint for s in energy_settings if isinstance(getattr(s, "checkpoint", None), str)
    ]
    return list(dict.fromkeys(references))


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class ImageNetworks:
    """The loaded networks of a run: encoder, decoder (may be the same) and the energies."""

    source: DiscreteDenoiser
    target: DiscreteDenoiser
    energies: list[WeightedEnergy]


def load_networks(settings: DDIBSettings, plan: ImagePlan, ctx: RunContext) -> ImageNetworks:
    """Every network of the run on its device, each file loaded once."""
    loaded: dict[str, LoadedBackbone] = {}
    for reference in dict.fromkeys([plan.source_checkpoint, plan.target_checkpoint]):
        loaded[reference] = load_for_run(settings, ctx, checkpoint=reference)

    def denoiser(reference: str) -> DiscreteDenoiser:
        network = loaded[reference]
        return DiscreteDenoiser(network.module, network.spec)

    return ImageNetworks(
        denoiser(plan.source_checkpoint),
        denoiser(plan.target_checkpoint),
        build_energies(settings.energy, ctx),
    )


def describe(settings: DDIBSettings, plan: ImagePlan, schedule: DiscreteSchedule) -> str:
    """The run's one-line summary: models, pairs, solver and guidance."""
    if plan.pairs is None:
        domains = f"{settings.source} -> {settings.target} (two models)"
    else:
        domains = "classes " + ", ".join(f"{a}->{b}" for a, b in plan.pairs.items())
    guidance = ", ".join(f"{t.name} x {t.weight:g}" for t in settings.energy if t.weight)
    guidance = guidance or "none"
    return (
        f"ddib: {settings.backbone} ({settings.preset or 'custom'}), {domains}, "
        f"{settings.solver} x {schedule.num_steps} steps per pass, guidance: {guidance}"
    )


def _labels(values: list[int], device: torch.device) -> torch.Tensor:
    """Class labels as a long tensor on ``device``."""
    return torch.tensor(values, dtype=torch.long, device=device)


def image_cycle_errors(x: torch.Tensor, returned: torch.Tensor) -> list[float]:
    """Per-image RMS distance between the source and its round trip, in [-1, 1] units."""
    return (x.float() - returned.float()).pow(2).flatten(1).mean(1).sqrt().tolist()


def cycle_summary(errors: list[float]) -> dict[str, Any]:
    """``result.json`` of a ``--cycle`` run: max and mean per-image RMS error of this run."""
    if not errors:
        return {"cycle_images": 0}
    return {
        "cycle_images": len(errors),
        "cycle_max_rmse": max(errors),
        "cycle_mean_rmse": sum(errors) / len(errors),
    }


def translate_ddib_images(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any] | None:
    """Translate every input image with DDIB (ddib.md §1.7, §3); results to <output>/<key>.png.

    With ``--cycle`` each result is translated back (guided toward the source class when a
    classifier guides), written to ``<output>/cycle/<key>.png``, and the per-image RMS error of
    the round trip is summarised (images translated in this run).
    """
    plan = image_plan(settings)
    spec = spec_for(settings)
    check_plan(settings, plan, spec)
    schedule = schedule_for(
        spec, solver=settings.solver, steps=settings.steps, spacing=settings.spacing
    )
    require_checkpoints(ctx, checkpoint_references(settings, plan))
    networks = load_networks(settings, plan, ctx)
    ctx.log(describe(settings, plan, schedule))

    def translate_batch(
        items: Sequence[ImageItem], x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        source, target = networks.source, networks.target
        to_target = to_source = networks.energies
        if plan.pairs is not None:
            y_source, y_target = (_labels(y, x.device) for y in mapped_labels(items, plan.pairs))
            source, target = source.with_labels(y_source), target.with_labels(y_target)
            to_target = bind(networks.energies, labels=y_target)
            to_source = bind(networks.energies, labels=y_source)
        passes = {
            "solver": settings.solver,
            "noise": noise,
            "clip_denoised": settings.clip_denoised,
        }
        with ctx.runtime.autocast():
            y = ddib_translate(
                source, target, x, schedule, energies=to_target, callback=callback, **passes
            ).result
            if settings.cycle:
                back = ddib_translate(target, source, y, schedule, energies=to_source, **passes)
                for item, image in zip(items, back.result, strict=True):
                    path = output_path(ctx.output / "cycle", item)
                    write_image(image.float().cpu(), path, quantize="truncate")
                errors.extend(image_cycle_errors(x, back.result))
        return y

    errors: list[float] = []
    accept = None if plan.pairs is None else partial(skip_reason, pairs=plan.pairs)
    translate_image_items(
        ctx,
        translate_batch,
        image_size=spec.input_shape[-1],
        fit="adm-crop",
        quantize="truncate",  # imagenet_translation.py's uint8 conversion (ddib.md §3, pitfall 16)
        accept=accept,
    )
    if not settings.cycle:
        return None
    summary = cycle_summary(errors)
    if errors:
        ctx.log(
            f"cycle error (RMS per image): max {summary['cycle_max_rmse']:.4f}, "
            f"mean {summary['cycle_mean_rmse']:.4f} over {len(errors)} images"
        )
    return summary
