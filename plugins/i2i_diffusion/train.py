"""``i2i train diffusion``: guided-diffusion's ``image_train.py`` on the core training loop.

Per step, for a batch of images x_0 (and labels y when class-conditional): t from the schedule
sampler (uniform, or loss-aware), one ``eps ~ N(0, I)``, ``x_t = q_sample(x_0, t, eps)``, and the
loss is ``L_simple`` or, when the backbone learns its variance, ``L_hybrid`` (``losses``),
weighted by the sampler's importance weights and averaged over the batch. AdamW; EMA, AMP
(bf16, or fp16 with dynamic loss scaling), clipping, atomic checkpoints, bitwise resume and DDP
are the core loop's. The network is any registered discrete-time eps backbone (``adm-unet``,
``ddpm-unet``) built from its preset and ``--set model.*``, fresh (seeded by the run seed) or
from ``--checkpoint``; ``model.pt`` holds its state dict under the official key names, and
``backbone.toml`` beside it the backbone settings the methods need to load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.gaussian import q_sample
from i2i_cli.training import EpochSampler, TrainingRecipe, loop_options, run_training
from i2i_cli.training.backbone_record import write_backbone_record
from i2i_cli.training.initial_network import initial_network
from i2i_cli.training.prefetch import PrefetchedBatches, decoding_workers
from i2i_cli.training.state import save_atomic
from i2i_diffusion.losses import diffusion_loss_terms
from i2i_diffusion.timesteps import LossSecondMomentSampler, uniform_timesteps
from i2i_diffusion.training_images import (
    ImageReader,
    TrainingImages,
    find_training_images,
    to_model_space,
)

if TYPE_CHECKING:
    from i2i_cli.diffusion.schedule import ScheduleTables
    from i2i_cli.networks.backbones import LoadedBackbone
    from i2i_cli.run.context import RunContext
    from i2i_cli.run.runtime import Runtime
    from i2i_diffusion.settings import DiffusionTrainSettings

RESUMABLE_CHANGES = frozenset({"iterations", "checkpoint_every", "log_every", "workers"})
USE = "i2i translate <method> --config <this file>"
DDIB_NOTE = "(ddib: --source-checkpoint / --target-checkpoint instead of --checkpoint)"


class WithSamplerState(nn.Module):
    """The network and the loss-aware sampler's history, trained and checkpointed together."""

    def __init__(self, net: nn.Module, sampler: LossSecondMomentSampler) -> None:
        super().__init__()
        self.net, self.sampler = net, sampler

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The network's output."""
        return self.net(*args, **kwargs)


def build_network(settings: DiffusionTrainSettings, ctx: RunContext) -> LoadedBackbone:
    """The backbone to train: from ``checkpoint``, else fresh with weights seeded by the run."""
    return initial_network(settings, ctx, "diffusion-unet-init")


def check_backbone(spec: ModelSpec, name: str) -> int:
    """The square image side of an index-time eps backbone; anything else is one line."""
    if spec.time != "index" or spec.target != "eps":
        raise UsageError(
            f"i2i train diffusion trains discrete-time eps backbones (adm-unet, ddpm-unet); "
            f"{name} predicts {spec.target} on {spec.time} time"
        )
    if len(spec.input_shape) != 3 or spec.input_shape[1] != spec.input_shape[2]:
        raise UsageError(f"{name} takes inputs of shape {spec.input_shape}, not square images")
    return spec.input_shape[1]


def check_classes(
    images: TrainingImages,
    spec: ModelSpec,
    settings: DiffusionTrainSettings,
    conditionable: bool = True,
) -> None:
    """The labels and the network's classes agree: same count, or both absent.

    ``conditionable``: whether the backbone has a ``class_cond`` setting to suggest.
    """
    found, wanted = len(images.classes), spec.num_classes
    if images.labels is None and wanted:
        raise UsageError(
            f"the model is class-conditional ({wanted} classes) but --labels is none; "
            "pass --labels folder or --labels prefix, or --set model.class_cond=false"
        )
    if images.labels is not None and not wanted:
        fix = (
            f"pass --set model.class_cond=true --set model.num_classes={found}"
            if conditionable
            else f"backbone {settings.backbone} has no class input; use --labels none"
        )
        raise UsageError(
            f"--labels {settings.labels} found {found} classes but the model is unconditional; "
            + fix
        )
    if images.labels is not None and found != wanted:
        raise UsageError(
            f"--labels {settings.labels} found {found} classes ({', '.join(images.classes[:5])}"
            f"{', ...' if found > 5 else ''}) but the model has num_classes = {wanted}; "
            f"pass --set model.num_classes={found}"
        )


def gathered(runtime: Runtime, values: torch.Tensor) -> torch.Tensor:
    """Every rank's ``values`` (same shape on each), concatenated in rank order."""
    size = runtime.dist.world_size
    if size == 1:
        return values
    slots = torch.zeros((size, *values.shape), dtype=values.dtype, device=values.device)
    slots[runtime.dist.rank] = values
    return runtime.all_reduce_sum(slots).flatten(0, 1)


def export_network(path: Path) -> None:
    """Rewrite the exported state dict as the network's own (drop the sampler's history)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    prefix = "net."
    save_atomic({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, path)


@dataclass(frozen=True)
class ImageBatches:
    """The loop's ``Batches``: step k's images x_0 in [-1, 1] (flipped at random) and labels.

    The flips come from the step's generator; the loss-aware history first takes in the last
    step's losses (``LossSecondMomentSampler.apply_pending``).
    """

    stream: PrefetchedBatches
    random_flip: bool
    history: LossSecondMomentSampler | None

    def __call__(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s ``(x0, labels)`` on the run's device."""
        if self.history is not None:
            self.history.apply_pending()
        pixels, labels = self.stream(step, generator)
        x0 = to_model_space(pixels)
        if self.random_flip:
            flip = torch.rand(len(x0), generator=generator, device=x0.device) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        return x0, labels


@dataclass(frozen=True)
class DiffusionObjective:
    """The loop's ``Loss``: the batch mean of ``w_t L(x_0, t)``, L_simple or L_hybrid.

    ``t`` and its importance weight ``w_t`` come from the uniform or the loss-aware sampler
    (``timesteps``), the noise from the step's generator; ``x_t = q_sample(x_0, t, eps)``.
    """

    tables: ScheduleTables
    spec: ModelSpec
    runtime: Runtime
    conditional: bool
    rescale: bool
    history: LossSecondMomentSampler | None

    def __call__(
        self, net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        """The step's loss (a scalar); the loss-aware sampler remembers each item's."""
        x0, labels = batch
        device, steps = x0.device, self.tables.num_steps
        if self.history is None:
            t, importance = uniform_timesteps(len(x0), steps, generator, device)
        else:
            t, importance = self.history.sample(len(x0), generator, device)
        noise = torch.randn(x0.shape, generator=generator, device=device)
        x_t = q_sample(self.tables, x0, t, noise)
        denoiser = DiscreteDenoiser(net, self.spec, {"y": labels} if self.conditional else {})
        terms = diffusion_loss_terms(
            self.tables, denoiser(x_t, t), x0, x_t, t, noise, rescale=self.rescale
        )
        alone = self.runtime.dist.world_size == 1
        if self.history is not None and (alone or isinstance(net, DistributedDataParallel)):
            # Under torchrun the step itself runs through DDP, the memory check's probe does
            # not: only the step gathers every rank's losses (a collective all ranks reach).
            losses = terms["loss"].detach()
            self.history.remember(gathered(self.runtime, t), gathered(self.runtime, losses))
        return (terms["loss"] * importance).mean()


def train_diffusion(settings: DiffusionTrainSettings, ctx: RunContext) -> dict[str, Any]:
    """Train the backbone on the images of ``--data``; returns the weights' path and more."""
    runtime = ctx.runtime
    device = runtime.device
    images = find_training_images(settings.data, settings.labels)
    loaded = build_network(settings, ctx)
    spec = loaded.spec
    size = check_backbone(spec, settings.backbone)
    check_classes(images, spec, settings, "class_cond" in type(loaded.settings).model_fields)
    tables = spec.discrete_process().schedule().tables(device)
    steps = tables.num_steps
    history = (
        LossSecondMomentSampler(steps, settings.batch_size * runtime.dist.world_size)
        if settings.schedule_sampler == "loss-second-moment"
        else None
    )
    model: nn.Module = (
        loaded.module if history is None else WithSamplerState(loaded.module, history)
    )
    sampler = EpochSampler(
        len(images.items), settings.batch_size, runtime.seed, runtime.dist.rank,
        runtime.dist.world_size,
    )  # fmt: skip
    workers = decoding_workers(settings.workers, runtime.dist.world_size)
    loss_name = "L_hybrid" if spec.learned_variance else "L_simple"
    classes = f", {len(images.classes)} classes" if images.labels is not None else ""
    ctx.log(
        f"{len(images.items)} images{classes} at {size} px; {loss_name}, "
        f"{settings.schedule_sampler} t of {steps}; "
        f"{settings.iterations} steps of {settings.batch_size} "
        f"({settings.iterations / sampler.steps_per_epoch:.1f} epochs); "
        + (f"{workers} decoding processes" if workers else "decoding in the loop")
    )
    reader = ImageReader(images.items, images.labels, size, settings.fit)
    objective = DiffusionObjective(
        tables, spec, runtime, images.labels is not None, settings.rescale_learned_sigmas, history
    )
    with PrefetchedBatches(reader, sampler, settings.iterations, device, workers) as stream:
        batches = ImageBatches(stream, settings.random_flip, history)
        recipe = TrainingRecipe(
            model=model,
            optimizer=lambda module: torch.optim.AdamW(
                module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
            ),
            loss=objective,
            batches=batches,
            steps=settings.iterations,
            settings=settings.model_dump(),
            lr_multiplier=(lambda k: 1.0 - k / settings.iterations) if settings.lr_anneal else None,
            **loop_options(settings),
            resume_may_change=RESUMABLE_CHANGES,
        )
        weights: Path = run_training(ctx, recipe)
    if runtime.is_main and history is not None:
        export_network(weights)
    record = write_backbone_record(
        ctx,
        settings,
        loaded.settings,
        weights,
        trainer="i2i train diffusion",
        use=USE,
        notes=(DDIB_NOTE,),
    )
    return {
        "weights": str(weights),
        **record,
        "images": len(images.items),
        "classes": images.classes,
        "steps": settings.iterations,
    }
