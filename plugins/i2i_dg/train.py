"""``i2i train discriminator``: DG's ``train.py`` on the core training loop (dg.md §6).

The frozen feature extractor is loaded through the core by name (``adm-classifier`` by
default); the head is a ``dg-discriminator`` backbone, fresh (seeded by the run seed) or from
``init_checkpoint``. Real (label 1) and fake (label 0) images are the first ``num_data`` of each
set; every epoch visits each once in a permutation seeded by (run seed, epoch), in steps of
``batch_size`` (the last incomplete batch dropped). The head's state dict is what the core
exports as ``model.pt`` (DG's keys: the ``discriminator`` energy's ``checkpoint``), and, with
``keep_epochs``, ``discriminator_<epoch>.pt`` after each epoch as ``train.py`` saves them.
Accuracy per VP-time bin goes to ``metrics.jsonl`` (lines with ``accuracy``) and the bar.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.noise import item_seed
from i2i_cli.networks.backbones import backbone_settings
from i2i_cli.run.model_choice import load_for_run
from i2i_cli.training import METRICS, EpochSampler, TrainingRecipe, run_training
from i2i_cli.training.backbone_record import write_backbone_record
from i2i_cli.training.class_balance import imbalance_warning
from i2i_cli.training.state import export_weights
from i2i_dg.build import head_config
from i2i_dg.discriminator_loss import Tally, discriminator_step, make_optimizer, time_bins
from i2i_dg.head import TIME_SCALE, DiscriminatorHead
from i2i_dg.image_sets import ImageSet, check_images, read_image_set, to_model_space
from i2i_dg.point_head import PointDiscriminator
from i2i_dg.point_sets import point_training_set
from i2i_dg.settings import PointDiscriminatorSettings

if TYPE_CHECKING:
    from pathlib import Path

    from i2i_cli.run.context import RunContext
    from i2i_dg.settings import DiscriminatorTrainSettings


@dataclass(frozen=True)
class Batch:
    """One step's images in [-1, 1], real/fake targets and (conditional head) classes."""

    step: int
    x: torch.Tensor
    targets: torch.Tensor
    classes: torch.Tensor | None


def training_set(
    settings: DiscriminatorTrainSettings, size: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(uint8 images, targets 1 real / 0 fake, classes or None): first num_data of each set."""
    sets: list[ImageSet] = []
    for role in ("real", "fake"):
        found = read_image_set(getattr(settings, role), role)
        check_images(found, role, size, channels, settings.cond)
        sets.append(found)
    real, fake = (s.pixels[: settings.num_data] for s in sets)
    targets = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    classes = None
    if settings.cond:
        classes = torch.cat([s.labels[: settings.num_data] for s in sets])  # type: ignore[index]
    return torch.cat([real, fake]), targets, classes


def build_head(settings: DiscriminatorTrainSettings, ctx: RunContext) -> tuple[nn.Module, Any]:
    """The head to train and its backbone settings: from ``init_checkpoint``, else fresh with
    weights seeded by the run."""
    choice = settings.head()
    if choice.checkpoint is not None:
        loaded = load_for_run(choice, ctx)
        return loaded.module.requires_grad_(True), loaded.settings
    _, head_settings = backbone_settings(choice.backbone, choice.preset, choice.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(item_seed(ctx.runtime.seed, "dg-discriminator-init"))
        return fresh_network(head_settings), head_settings


def fresh_network(settings: Any) -> nn.Module:
    """The untrained network of head or 2-D discriminator settings (the caller seeds it)."""
    if isinstance(settings, PointDiscriminatorSettings):
        return PointDiscriminator(settings.in_channels, settings.width, settings.depth)
    return DiscriminatorHead(head_config(settings))


def check_point_fit(head: nn.Module, dimension: int) -> None:
    """The 2-D discriminator reads points of this dimension, else one line."""
    device = next(head.parameters()).device
    probe = torch.zeros(1, dimension, device=device)
    with torch.no_grad():
        try:
            head(probe, torch.full((1,), 0.5, device=device))
        except RuntimeError:
            raise UsageError(
                f"the discriminator does not read {dimension}-D points: set model.in_channels "
                f"= {dimension}"
            ) from None


def identity(points: torch.Tensor) -> torch.Tensor:
    """Points are trained on as they are (float32, the samplers' space)."""
    return points


def check_fit(extractor: nn.Module, head: nn.Module, size: int, channels: int) -> None:
    """The head reads the extractor's feature map (channels and side), else one line."""
    device = next(extractor.parameters()).device
    probe = torch.zeros(1, channels, size, size, device=device)
    tau = torch.full((1,), 0.5, device=device)
    with torch.no_grad():
        features = extractor.features(probe, tau * TIME_SCALE)  # type: ignore[operator]
        try:
            head(features, tau)
        except RuntimeError:
            shape = "x".join(str(n) for n in features.shape[1:])
            raise UsageError(
                f"the head does not fit the extractor's {shape} features: set "
                "model.in_channels / model.image_size (the head's) to match"
            ) from None


def train_discriminator(settings: DiscriminatorTrainSettings, ctx: RunContext) -> dict[str, Any]:
    """Train DG's head on the core loop; returns where the weights went and the final accuracy."""
    runtime = ctx.runtime
    device = runtime.device
    choice = settings.extractor()
    head, head_settings = build_head(settings, ctx)
    if choice is None:
        extractor = None
        pixels, targets = point_training_set(settings, runtime.seed)
        classes = None
        check_point_fit(head.to(device), pixels.shape[1])
        prepare = identity
        what = f"{len(pixels[0])}-D points"
    else:
        loaded = load_for_run(choice, ctx)
        extractor = loaded.module.eval().requires_grad_(False)
        size = int(getattr(loaded.settings, "image_size", 32))
        channels = int(getattr(loaded.settings, "in_channels", 3))
        pixels, targets, classes = training_set(settings, size, channels)
        check_fit(extractor, head.to(device), size, channels)
        prepare = to_model_space
        what = f"images, {size} px"
    sampler = EpochSampler(
        len(pixels), settings.batch_size, runtime.seed, runtime.dist.rank, runtime.dist.world_size
    )
    per_epoch = sampler.steps_per_epoch
    steps = settings.epochs * per_epoch
    pixels, targets = pixels.to(device), targets.to(device)
    classes = classes.to(device) if classes is not None else None
    names = time_bins(settings.accuracy_bins)
    interval = Tally.empty(settings.accuracy_bins, device)
    epoch_tally = Tally.empty(settings.accuracy_bins, device)
    log_every = settings.log_every
    counts = {"real": int(targets.sum()), "fake": int((1 - targets).sum())}
    ctx.log(
        f"{counts['real']} real + {counts['fake']} fake {what}; "
        f"{settings.epochs} epochs of {per_epoch} steps"
    )
    if (unbalanced := imbalance_warning(counts)) is not None:
        ctx.log(f"[yellow]warning[/yellow]: {unbalanced}")

    def snapshot(epoch: int) -> None:
        if settings.keep_epochs and runtime.is_main and epoch > 0:
            export_weights(ctx.output / f"discriminator_{epoch}.pt", head)

    def batches(step: int, generator: torch.Generator) -> Batch:
        if step % per_epoch == 0:
            snapshot(step // per_epoch)
        index = sampler.indices(step).to(device)
        chosen = classes[index] if classes is not None else None
        return Batch(step, prepare(pixels[index]), targets[index], chosen)

    def loss(net: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        count = len(batch.x)
        u = torch.rand(count, generator=generator, device=device)
        z = torch.randn(batch.x.shape, generator=generator, device=device)
        out = discriminator_step(
            extractor,
            net,
            batch.x,
            batch.targets,
            u,
            z,
            classes=batch.classes,
            t_min=settings.t_min,
            importance_sampling=settings.importance_sampling,
        )
        interval.add(out, batch.targets)
        epoch_tally.add(out, batch.targets)
        done = batch.step + 1
        if done % log_every == 0 or done == steps:
            report(ctx, interval, names, done, steps, per_epoch)
        if done % per_epoch == 0:
            summary = epoch_tally.summary(names)
            ctx.log(
                f"epoch {done // per_epoch}/{settings.epochs}: BCE {summary['bce']:.4f}, "
                f"accuracy {summary['accuracy']:.3f} ({bins_text(summary)})"
            )
            epoch_tally.reset()
        return out.loss

    recipe = TrainingRecipe(
        model=head,
        optimizer=lambda net: make_optimizer(net, settings.lr, settings.weight_decay),
        loss=loss,
        batches=batches,
        steps=steps,
        settings=settings.model_dump(),
        checkpoint_every=settings.checkpoint_every or per_epoch,
        log_every=log_every,
        resume_may_change=frozenset({"epochs", "checkpoint_every", "log_every", "keep_epochs"}),
        check_memory=False,  # the loss tallies accuracy: a probe call would count twice
    )
    weights = run_training(ctx, recipe)
    snapshot(settings.epochs)
    record = write_backbone_record(
        ctx,
        settings.head(),
        head_settings,
        weights,
        trainer="i2i train discriminator",
        use="i2i sample dg --set discriminator.checkpoint=<model.pt>",
    )
    return {"weights": str(weights), **record, "epochs": settings.epochs, "steps": steps}


def bins_text(summary: dict[str, Any]) -> str:
    """``t 0.00-0.20: 0.91, ...`` of a tally summary (``-`` for an empty bin)."""
    by_bin = summary["accuracy_by_t"]
    return ", ".join(
        f"t {name}: {'-' if value is None else f'{value:.2f}'}" for name, value in by_bin.items()
    )


def report(
    ctx: RunContext, tally: Tally, names: list[str], step: int, steps: int, per_epoch: int
) -> None:
    """Append the interval's accuracy line to metrics.jsonl and show it on the bar; reset."""
    values = torch.stack([tally.correct, tally.items])
    ctx.runtime.all_reduce_sum(values)
    tally.correct, tally.items = values[0].clone(), values[1].clone()
    summary = tally.summary(names)
    tally.reset()
    if not ctx.runtime.is_main:
        return
    record = {"step": step, "accuracy": _finite(summary["accuracy"])}
    record["accuracy_by_t"] = summary["accuracy_by_t"]
    ctx.output.mkdir(parents=True, exist_ok=True)
    path: Path = ctx.output / METRICS
    with path.open("a") as log:
        log.write(json.dumps(record) + "\n")
    epoch, offset = divmod(step - 1, per_epoch)
    bar = ctx.progress.step_callback(f"epoch {epoch + 1}: accuracy {summary['accuracy']:.2f}")
    bar({"i": offset, "total": per_epoch})


def _finite(value: Any) -> Any:
    """``value`` with NaN as null (JSON has no NaN)."""
    return None if isinstance(value, float) and math.isnan(value) else value
