"""DDIB on images: encode with the source ODE, decode with the target's (ddib.md §1.5-1.7, §3).

Two ways to name the models:

- one class-conditional model (``--checkpoint``, the ImageNet experiment): ``--source`` and
  ``--target`` are class labels paired in order, an input's class is its file-name prefix, and
  the decoder may be guided toward the target class by a noisy classifier (§1.6);
- two unconditional models (``--source-checkpoint``, ``--target-checkpoint``): every input is
  translated, ``--source``/``--target`` only name the domains.

Inputs are read like guided-diffusion's ``center_crop_arr`` and written through the shared
pipeline (resumable, rank-sharded, ``<output>/<key>.png``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

import torch

from i2i_cli.backbones import (
    LoadedBackbone,
    backbone_prediction,
    backbone_settings,
    checkpoint_path,
    load_backbone,
    require_checkpoints,
)
from i2i_cli.data import ImageItem, output_path, write_image
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, Prediction
from i2i_cli.diffusion.ode import OdeSolver, decode_ode, encode_ode, solver_schedule
from i2i_cli.diffusion.samplers import CondFn
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.errors import UsageError
from i2i_cli.noise import NoiseSource
from i2i_cli.pipeline import translate_image_items
from i2i_cli.progress import StepCallback, no_step
from i2i_ddib.image_labels import check_label_range, class_pairs, mapped_labels, skip_reason

if TYPE_CHECKING:
    from torch import nn

    from i2i_cli.context import RunContext
    from i2i_ddib.settings import DDIBSettings

CLASSIFIER_BACKBONE = "adm-classifier"
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


def guidance_checkpoint(settings: DDIBSettings) -> str | None:
    """The classifier guiding the decoder: its checkpoint when given with a positive scale."""
    if settings.classifier_scale > 0:
        return settings.classifier_checkpoint
    return None


def guided(settings: DDIBSettings) -> bool:
    """Whether the decoder is guided by a classifier (a checkpoint and a positive scale)."""
    return guidance_checkpoint(settings) is not None


def check_plan(settings: DDIBSettings, plan: ImagePlan, prediction: Prediction) -> None:
    """The class labels fit the model (and the classifier), or the mode fits the model."""
    if plan.pairs is None:
        if prediction.num_classes:
            raise UsageError(
                f"{settings.backbone} is class-conditional ({prediction.num_classes} classes): "
                "give it as --checkpoint with class labels in --source/--target"
            )
        if guided(settings):
            raise UsageError(
                "classifier guidance needs class labels: use one class-conditional --checkpoint "
                "with --source/--target labels, or set --classifier-scale 0"
            )
        return
    if not prediction.num_classes:
        raise UsageError(
            f"--checkpoint with class labels needs a class-conditional {settings.backbone} "
            f"(model.class_cond = true); {MODES_HINT}"
        )
    check_label_range(list(plan.pairs), prediction.num_classes, "--source", "model")
    check_label_range(list(plan.pairs.values()), prediction.num_classes, "--target", "model")
    if guided(settings):
        _, classifier = backbone_settings(
            CLASSIFIER_BACKBONE, settings.classifier_preset, settings.classifier_model
        )
        classes = int(getattr(classifier, "out_channels", 0))
        check_label_range(list(plan.pairs.values()), classes, "--target", "classifier")


def checkpoint_references(settings: DDIBSettings, plan: ImagePlan) -> list[str]:
    """Every weights file the run reads, each once, in the order they are loaded."""
    references = [plan.source_checkpoint, plan.target_checkpoint]
    classifier = guidance_checkpoint(settings)
    if classifier is not None:
        references.append(classifier)
    return list(dict.fromkeys(references))


IMAGE_DIFFUSION_STEPS = 1000
"""T of image backbones when --diffusion-steps is not given (ADM's 1000-step process)."""


def pass_schedule(settings: DDIBSettings) -> DiscreteSchedule:
    """The shared grid of both passes: ``--steps`` of the process, ``--spacing`` (ddib.md §1.2)."""
    total = settings.diffusion_steps or IMAGE_DIFFUSION_STEPS
    base = DiscreteSchedule.named(settings.noise_schedule, total)
    try:
        return solver_schedule(base, settings.solver, settings.steps, settings.spacing)
    except ValueError as error:
        raise UsageError(str(error)) from None


# ---------------------------------------------------------------------------------------------
# The translation of one batch


def class_log_prob_gradient(
    classifier: nn.Module, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """grad_x sum_b log softmax(classifier(x, t))[b, y_b], in float32 with autocast off.

    Per item, since the batch sum decouples; the same precision rule as
    ``i2i_cli.guidance.energy_gradient``, so mixed precision never degrades guidance.
    """
    with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
        point = x.detach().float().requires_grad_(True)
        log_probs = torch.log_softmax(classifier(point, t).float(), dim=-1)
        chosen = log_probs[torch.arange(len(point), device=point.device), labels].sum()
        (gradient,) = torch.autograd.grad(chosen, point)
    return gradient


def classifier_guidance(classifier: nn.Module, labels: torch.Tensor, scale: float) -> CondFn:
    """DDIB's cond_fn: ``scale * grad_x log p(y_target | x_t, t)`` at the original t (§1.6)."""

    def cond_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return scale * class_log_prob_gradient(classifier, x, t, labels)

    return cond_fn


def pass_callback(callback: StepCallback, offset: int, total: int) -> StepCallback:
    """``callback`` counting one pass's steps as steps ``offset ...`` of ``total``."""

    def on_step(info: Mapping[str, Any]) -> None:
        callback({**info, "i": offset + int(info["i"]), "total": total})

    return on_step


def ddib_translate(
    source: DiscreteDenoiser,
    target: DiscreteDenoiser,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    *,
    solver: OdeSolver,
    noise: NoiseSource,
    clip_denoised: bool,
    cond_fn: CondFn | None = None,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """x_B = decode(target, encode(source, x_A)) (ddib.md §1.7).

    The encoder never clips and is never guided (pitfall 1); the decoder clips x0 iff
    ``clip_denoised`` and then applies ``cond_fn`` (pitfall 5). ``callback`` sees the encoder's
    steps as 0 ... K-1 and the decoder's as K ... 2K-1.
    """
    total = 2 * schedule.num_steps
    latent = encode_ode(
        source,
        x,
        schedule,
        solver=solver,
        clip_denoised=False,
        callback=pass_callback(callback, 0, total),
    )
    return decode_ode(
        target,
        latent,
        schedule,
        solver=solver,
        noise=noise,
        clip_denoised=clip_denoised,
        cond_fn=cond_fn,
        callback=pass_callback(callback, schedule.num_steps, total),
    )


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class ImageNetworks:
    """The loaded networks of a run: encoder, decoder (may be the same) and guidance."""

    source: DiscreteDenoiser
    target: DiscreteDenoiser
    classifier: nn.Module | None


def load_networks(settings: DDIBSettings, plan: ImagePlan, ctx: RunContext) -> ImageNetworks:
    """Every network of the run on its device, each file loaded once."""
    loaded: dict[str, LoadedBackbone] = {}
    for reference in dict.fromkeys([plan.source_checkpoint, plan.target_checkpoint]):
        loaded[reference] = load_backbone(
            settings.backbone,
            preset=settings.preset,
            overrides=settings.model,
            checkpoint=checkpoint_path(ctx, reference),
            device=ctx.runtime.device,
        )
    classifier = None
    classifier_reference = guidance_checkpoint(settings)
    if classifier_reference is not None:
        classifier = load_backbone(
            CLASSIFIER_BACKBONE,
            preset=settings.classifier_preset,
            overrides=settings.classifier_model,
            checkpoint=checkpoint_path(ctx, classifier_reference),
            device=ctx.runtime.device,
        ).module

    def denoiser(reference: str) -> DiscreteDenoiser:
        network = loaded[reference]
        return DiscreteDenoiser(network.module, network.prediction)

    return ImageNetworks(
        denoiser(plan.source_checkpoint), denoiser(plan.target_checkpoint), classifier
    )


def describe(settings: DDIBSettings, plan: ImagePlan, schedule: DiscreteSchedule) -> str:
    """The run's one-line summary: models, pairs, solver and guidance."""
    if plan.pairs is None:
        domains = f"{settings.source} -> {settings.target} (two models)"
    else:
        domains = "classes " + ", ".join(f"{a}->{b}" for a, b in plan.pairs.items())
    guidance = f"classifier x {settings.classifier_scale:g}" if guided(settings) else "none"
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
    prediction = backbone_prediction(settings.backbone, settings.preset, settings.model)
    check_plan(settings, plan, prediction)
    schedule = pass_schedule(settings)
    require_checkpoints(ctx, checkpoint_references(settings, plan))
    networks = load_networks(settings, plan, ctx)
    ctx.log(describe(settings, plan, schedule))

    def translate_batch(
        items: Sequence[ImageItem], x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        source, target = networks.source, networks.target
        to_target = to_source = None
        if plan.pairs is not None:
            y_source, y_target = (_labels(y, x.device) for y in mapped_labels(items, plan.pairs))
            source, target = source.with_labels(y_source), target.with_labels(y_target)
            if networks.classifier is not None:
                scale = settings.classifier_scale
                to_target = classifier_guidance(networks.classifier, y_target, scale)
                to_source = classifier_guidance(networks.classifier, y_source, scale)
        passes = {
            "solver": settings.solver,
            "noise": noise,
            "clip_denoised": settings.clip_denoised,
        }
        with ctx.runtime.autocast():
            y = ddib_translate(
                source, target, x, schedule, cond_fn=to_target, callback=callback, **passes
            )
            if settings.cycle:
                back = ddib_translate(target, source, y, schedule, cond_fn=to_source, **passes)
                for item, image in zip(items, back, strict=True):
                    write_image(image.float().cpu(), output_path(ctx.output / "cycle", item))
                errors.extend(image_cycle_errors(x, back))
        return y

    errors: list[float] = []
    accept = None if plan.pairs is None else partial(skip_reason, pairs=plan.pairs)
    translate_image_items(
        ctx,
        translate_batch,
        image_size=prediction.input_shape[-1],
        fit="adm-crop",
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
